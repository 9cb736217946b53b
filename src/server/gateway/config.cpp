// serve_config from TOML and the environment. Every problem is collected, never just the first, and each names
// its file position or variable, so `rtcache check-config` can print them all.
#include "rtcache/net/gateway_config.hpp"

#include "rtcache/core/doc_types.hpp"
#include "rtcache/net/auth.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>

namespace rtcache::net {

core::result<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return core::error{core::errc::bad_value, "listen '" + std::string(text) + "': " + std::string(why)};
  };
  std::string host;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad("expected [ipv6]:port");
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("expected host:port");
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (host.empty()) return bad("empty host");
  unsigned port = 0;
  const auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || p != port_text.data() + port_text.size() || port_text.empty() || port > 65535) {
    return bad("port must be an integer 0..65535");
  }
  return std::pair{host, static_cast<std::uint16_t>(port)};
}

namespace {

class reader {
 public:
  reader(std::string_view source, std::vector<config_problem>& problems) : source_(source), problems_(problems) {}

  std::string at(const toml::node& n, std::string_view path) const {
    const auto& r = n.source();
    return std::string(source_) + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column) + " " +
           std::string(path);
  }
  void problem(const toml::node& n, std::string_view path, std::string message) {
    const auto& b = n.source().begin;
    found_.push_back({{b.line, b.column}, {at(n, path), std::move(message)}});
  }

  // toml++ iterates keys in sorted order; report problems in file order instead.
  void flush() {
    std::stable_sort(found_.begin(), found_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& f : found_) problems_.push_back(std::move(f.second));
    found_.clear();
  }

  std::optional<std::string> str(const toml::node& n, std::string_view path) {
    if (auto v = n.value<std::string>(); v && n.is_string()) return *v;
    problem(n, path, "must be a string");
    return std::nullopt;
  }
  template <class T>
  std::optional<T> integer(const toml::node& n, std::string_view path, std::int64_t min, std::int64_t max) {
    if (!n.is_integer()) {
      problem(n, path, "must be an integer");
      return std::nullopt;
    }
    const std::int64_t v = n.as_integer()->get();
    if (v < min || v > max) {
      problem(n, path, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                           std::to_string(v));
      return std::nullopt;
    }
    return static_cast<T>(v);
  }
  std::optional<double> number(const toml::node& n, std::string_view path, double min, double max) {
    double v = 0;
    if (n.is_integer()) {
      v = static_cast<double>(n.as_integer()->get());
    } else if (n.is_floating_point()) {
      v = n.as_floating_point()->get();
    } else {
      problem(n, path, "must be a number");
      return std::nullopt;
    }
    if (!(v >= min && v <= max)) {
      problem(n, path, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
    return v;
  }

 private:
  std::string_view source_;
  std::vector<config_problem>& problems_;
  std::vector<std::pair<std::pair<toml::source_index, toml::source_index>, config_problem>> found_;
};

constexpr std::int64_t k_max_bytes = std::int64_t{1} << 40;
constexpr std::int64_t k_max_ms = 24LL * 3600 * 1000;

}  // namespace

void read_config_toml(std::string_view text, std::string_view source, serve_config& into,
                      std::vector<config_problem>& problems) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    problems.push_back({std::string(source) + ":" + std::to_string(b.line) + ":" + std::to_string(b.column),
                        std::string(e.description())});
    return;
  }
  reader rd(source, problems);
  for (const auto& [section_key, section] : root) {
    const std::string section_name(section_key.str());
    const auto* table = section.as_table();
    if (table == nullptr) {
      rd.problem(section, section_name, "must be a table ([" + section_name + "])");
      continue;
    }
    for (const auto& [key, node] : *table) {
      const std::string k(key.str());
      const std::string path = section_name + "." + k;
      auto& g = into.gateway;
      auto& l = into.gateway.limits;
      auto ms = [&](std::chrono::milliseconds& out) {
        if (auto v = rd.integer<std::int64_t>(node, path, 1, k_max_ms)) out = std::chrono::milliseconds(*v);
      };
      auto size = [&](std::size_t& out, std::int64_t min, std::int64_t max) {
        if (auto v = rd.integer<std::size_t>(node, path, min, max)) out = *v;
      };
      if (section_name == "server") {
        if (k == "listen") {
          if (auto s = rd.str(node, path)) {
            if (auto hp = parse_listen(*s)) {
              g.listen_address = hp->first;
              g.port = hp->second;
            } else {
              rd.problem(node, path, hp.error().message);
            }
          }
        } else if (k == "threads") {
          size(g.threads, 0, 1024);
        } else if (k == "log_level") {
          if (auto s = rd.str(node, path)) {
            if (auto lv = parse_log_level(*s)) into.log = *lv; else rd.problem(node, path, lv.error().message);
          }
        } else {
          rd.problem(node, path, "unknown key (known: listen, threads, log_level)");
        }
      } else if (section_name == "auth") {
        if (k == "jwt_secret") {
          if (auto s = rd.str(node, path)) into.auth.jwt_secret = *s;
        } else if (k == "audience") {
          if (auto s = rd.str(node, path)) into.auth.audience = *s;
        } else if (k == "scope_claim") {
          if (auto s = rd.str(node, path)) into.auth.scope_claim = *s;
        } else if (k == "leeway_seconds") {
          if (auto v = rd.integer<std::int64_t>(node, path, 0, k_max_leeway.count())) {
            into.auth.leeway = std::chrono::seconds(*v);
          }
        } else {
          rd.problem(node, path, "unknown key (known: jwt_secret, audience, scope_claim, leeway_seconds)");
        }
      } else if (section_name == "limits") {
        if (k == "max_connections") size(l.max_connections, 1, 10'000'000);
        else if (k == "max_channels_per_connection") size(l.max_channels_per_connection, 1, 100'000);
        else if (k == "joins_per_second") { if (auto v = rd.number(node, path, 0.001, 1e6)) l.joins_per_second = *v; }
        else if (k == "join_burst") { if (auto v = rd.number(node, path, 1, 1e6)) l.join_burst = *v; }
        else if (k == "max_frame_bytes") size(l.max_frame_bytes, 1024, k_max_bytes);
        else if (k == "max_send_queue_bytes") size(l.max_send_queue_bytes, 1024, k_max_bytes);
        else if (k == "max_http_body_bytes") size(l.max_http_body_bytes, 1024, k_max_bytes);
        else if (k == "handshake_timeout_ms") ms(l.handshake_timeout);
        else if (k == "idle_timeout_ms") ms(l.idle_timeout);
        else if (k == "close_timeout_ms") ms(l.close_timeout);
        else if (k == "drain_timeout_ms") ms(l.drain_timeout);
        else rd.problem(node, path, "unknown key");
      } else if (section_name == "hub") {
        if (k == "max_history_messages") size(into.hub.max_history_messages, 0, 10'000'000);
        else if (k == "max_history_bytes") size(into.hub.max_history_bytes, 0, k_max_bytes);
        else if (k == "shards") size(into.hub.shards, 1, 65536);
        else rd.problem(node, path, "unknown key (known: max_history_messages, max_history_bytes, shards)");
      } else if (section_name == "contract") {
        if (k == "doc_types") {
          const auto* arr = node.as_array();
          if (arr == nullptr) {
            rd.problem(node, path, "must be an array of strings");
            continue;
          }
          into.doc_types.clear();
          for (std::size_t i = 0; i < arr->size(); ++i) {
            if (auto s = rd.str(*arr->get(i), path + "[" + std::to_string(i) + "]")) into.doc_types.push_back(*s);
          }
        } else {
          rd.problem(node, path, "unknown key (known: doc_types)");
        }
      } else {
        rd.problem(section, section_name, "unknown section (known: server, auth, limits, hub, contract)");
        break;
      }
    }
  }
  rd.flush();
}

void apply_env(const env_lookup& env, serve_config& into, std::vector<config_problem>& problems) {
  auto where = [](std::string_view name) { return "env " + std::string(name); };
  auto size = [&](std::string_view name, std::size_t& out) {
    if (auto v = env(name)) {
      std::size_t n = 0;
      const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
      if (ec != std::errc{} || p != v->data() + v->size() || v->empty()) {
        problems.push_back({where(name), "must be a non-negative integer, got '" + *v + "'"});
      } else {
        out = n;
      }
    }
  };
  if (auto v = env("RTCACHE_LISTEN")) {
    if (auto hp = parse_listen(*v)) {
      into.gateway.listen_address = hp->first;
      into.gateway.port = hp->second;
    } else {
      problems.push_back({where("RTCACHE_LISTEN"), hp.error().message});
    }
  }
  size("RTCACHE_THREADS", into.gateway.threads);
  if (auto v = env("RTCACHE_LOG_LEVEL")) {
    if (auto lv = parse_log_level(*v)) into.log = *lv;
    else problems.push_back({where("RTCACHE_LOG_LEVEL"), lv.error().message});
  }
  if (auto v = env("RTCACHE_JWT_SECRET")) into.auth.jwt_secret = *v;
  if (auto v = env("RTCACHE_JWT_AUDIENCE")) into.auth.audience = *v;
  if (auto v = env("RTCACHE_SCOPE_CLAIM")) into.auth.scope_claim = *v;
  size("RTCACHE_MAX_CONNECTIONS", into.gateway.limits.max_connections);
  size("RTCACHE_MAX_SEND_QUEUE_BYTES", into.gateway.limits.max_send_queue_bytes);
}

void validate(const serve_config& config, std::vector<config_problem>& problems) {
  if (config.auth.jwt_secret.empty()) {
    problems.push_back({"auth.jwt_secret", "required: set RTCACHE_JWT_SECRET or [auth] jwt_secret (HS256, >= " +
                                               std::to_string(k_min_hs256_secret_length) + " bytes)"});
  } else if (auto key = verification_key::hs256(config.auth.jwt_secret); !key) {
    problems.push_back({"auth.jwt_secret", key.error().message});
  } else {
    verifier_config vc;
    vc.leeway = config.auth.leeway;
    vc.audience = config.auth.audience;
    vc.scope_claim = config.auth.scope_claim;
    if (auto v = jwt_verifier::create({*key}, vc); !v) problems.push_back({"auth", v.error().message});
  }
  if (!config.doc_types.empty()) {
    if (auto types = core::doc_type_registry::from(config.doc_types); !types) {
      problems.push_back({"contract.doc_types", types.error().message});
    }
  }
  const auto& l = config.gateway.limits;
  if (l.join_burst < 1) problems.push_back({"limits.join_burst", "must be at least 1"});
  if (config.gateway.listen_address.empty()) problems.push_back({"server.listen", "empty host"});
}

config_load load_config(const std::optional<std::string>& path, const env_lookup& env) {
  config_load out;
  if (path) {
    std::ifstream in(*path, std::ios::binary);
    if (!in) {
      out.problems.push_back({*path, "cannot be read"});
    } else {
      std::ostringstream text;
      text << in.rdbuf();
      read_config_toml(text.str(), *path, out.config, out.problems);
    }
  }
  apply_env(env, out.config, out.problems);
  validate(out.config, out.problems);
  return out;
}

}  // namespace rtcache::net
