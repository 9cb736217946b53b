// serve_config from TOML and the environment. Every problem is collected, never just the first, and each names
// its file position or variable, so `rtcache check-config` can print them all.
#include "rtcache/core/doc_types.hpp"
#include "rtcache/net/auth.hpp"
#include "rtcache/net/gateway_config.hpp"
#include "rtcache/net/jwks.hpp"
#include "tls_context.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <toml++/toml.h>

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
      problem(n, path,
              "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + std::to_string(v));
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

// Top-level keys that belong to the mapping (mapping_config.hpp), read by read_mapping_config.
bool is_mapping_key(std::string_view k) noexcept {
  return k == "doc_types" || k == "routing" || k == "tables";
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string resolve(const std::string& path, const std::string& base_dir) {
  if (base_dir.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base_dir) / path).string();
}

// [[channels.private]]: rules {topic, roles, claims?, actions?} (channel_access.hpp).
void read_private_rules(reader& rd, const toml::node& node, const std::string& path,
                        std::vector<private_channel_rule>& into) {
  const auto* arr = node.as_array();
  if (arr == nullptr) {
    rd.problem(node, path, "must be an array of tables [[channels.private]] {topic, roles, claims, actions}");
    return;
  }
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const auto& item = *arr->get(i);
    const std::string ipath = path + "[" + std::to_string(i) + "]";
    const auto* t = item.as_table();
    if (t == nullptr) {
      rd.problem(item, ipath, "must be a table {topic, roles, claims, actions}");
      continue;
    }
    private_channel_rule r;
    r.where = rd.at(item, ipath);
    bool ok = true;
    bool has_topic = false;
    for (const auto& [key, value] : *t) {
      const std::string k(key.str());
      const std::string kpath = ipath + "." + k;
      const auto strings = [&](std::string_view what) -> std::optional<std::vector<std::string>> {
        const auto* a = value.as_array();
        if (a == nullptr) {
          rd.problem(value, kpath, "must be an array of " + std::string(what));
          return std::nullopt;
        }
        std::vector<std::string> out;
        for (std::size_t j = 0; j < a->size(); ++j) {
          auto v = rd.str(*a->get(j), kpath + "[" + std::to_string(j) + "]");
          if (!v) return std::nullopt;
          out.push_back(std::move(*v));
        }
        return out;
      };
      if (k == "topic") {
        if (auto v = rd.str(value, kpath)) {
          r.topic = *v;
          has_topic = true;
        } else {
          ok = false;
        }
      } else if (k == "roles") {
        auto names = strings("roles");
        if (!names) {
          ok = false;
          continue;
        }
        for (const auto& n : *names) {
          if (n == "anon")
            r.roles.push_back(auth_role::anon);
          else if (n == "authenticated")
            r.roles.push_back(auth_role::authenticated);
          else if (n == "service_role")
            r.roles.push_back(auth_role::service_role);
          else {
            rd.problem(value, kpath, "unknown role '" + n + "' (known: anon, authenticated, service_role)");
            ok = false;
          }
        }
      } else if (k == "actions") {
        auto names = strings("actions");
        if (!names) {
          ok = false;
          continue;
        }
        r.read = false;
        r.write = false;
        for (const auto& n : *names) {
          if (n == "read")
            r.read = true;
          else if (n == "write")
            r.write = true;
          else {
            rd.problem(value, kpath, "unknown action '" + n + "' (known: read, write)");
            ok = false;
          }
        }
      } else if (k == "claims") {
        const auto* ct = value.as_table();
        if (ct == nullptr) {
          rd.problem(value, kpath, "must be a table of claim path = value strings");
          ok = false;
          continue;
        }
        for (const auto& [ck, cv] : *ct) {
          if (auto v = rd.str(cv, kpath + "." + std::string(ck.str()))) {
            r.claims.emplace_back(std::string(ck.str()), *v);
          } else {
            ok = false;
          }
        }
      } else {
        rd.problem(value, kpath, "unknown key (known: topic, roles, claims, actions)");
        ok = false;
      }
    }
    if (!has_topic && ok) {
      rd.problem(item, ipath, "topic is required");
      ok = false;
    }
    if (ok) into.push_back(std::move(r));
  }
}

}  // namespace

namespace {

std::vector<std::string> keys_of(const std::vector<api_key_setting>& settings) {
  std::vector<std::string> out;
  out.reserve(settings.size());
  for (const auto& s : settings) out.push_back(s.key);
  return out;
}

// Stands for the JWKS while a config is validated: nothing is fetched by check-config.
class no_keys_yet final : public key_source {
 public:
  std::shared_ptr<const std::vector<verification_key>> current() const override {
    return std::make_shared<const std::vector<verification_key>>();
  }
  void unknown_kid(std::string_view /*kid*/) noexcept override {}
};

}  // namespace

std::optional<jwks_source> jwks_source_of(const auth_settings& settings) {
  if (!settings.jwks_url.empty()) {
    jwks_source s;
    s.url = parse_jwks_url(settings.jwks_url).value();
    return s;
  }
  if (!settings.jwks_file.empty()) return jwks_source{std::nullopt, settings.jwks_file};
  return std::nullopt;
}

jwks_cache_config jwks_cache_config_of(const auth_settings& settings) {
  return {settings.jwks_refresh, settings.jwks_min_refetch};
}

jwks_fetch_options jwks_fetch_options_of(const auth_settings& settings) {
  jwks_fetch_options o;
  o.timeout = settings.jwks_timeout;
  o.ca_file = settings.jwks_ca_file;
  return o;
}

auth_result<jwt_verifier> make_verifier(const auth_settings& settings, std::shared_ptr<key_source> dynamic_keys) {
  std::vector<verification_key> keys;
  if (!settings.jwt_secret.empty()) {
    auto k = verification_key::hs256(settings.jwt_secret);
    if (!k) return k.error();
    keys.push_back(std::move(*k));
  }
  for (const auto& pk : settings.public_keys) {
    auth_result<verification_key> k = auth_error{auth_errc::bad_key, "alg '" + pk.alg + "': must be RS256 or ES256"};
    if (pk.alg == "RS256")
      k = verification_key::rs256_public_pem(pk.pem, pk.kid);
    else if (pk.alg == "ES256")
      k = verification_key::es256_public_pem(pk.pem, pk.kid);
    if (!k) {
      auto e = k.error();
      if (!pk.where.empty()) e.message = pk.where + ": " + e.message;
      return e;
    }
    keys.push_back(std::move(*k));
  }
  auto api_keys = api_key_set::create(keys_of(settings.publishable_keys), keys_of(settings.secret_keys));
  if (!api_keys) return api_keys.error();
  verifier_config vc;
  vc.leeway = settings.leeway;
  vc.audience = settings.audience;
  vc.scope_claim = settings.scope_claim;
  vc.api_keys = std::move(*api_keys);
  vc.dynamic_keys = std::move(dynamic_keys);
  return jwt_verifier::create(std::move(keys), vc);
}

void read_config_toml(std::string_view text, std::string_view source, serve_config& into,
                      std::vector<config_problem>& problems, const std::string& base_dir) {
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
  std::optional<std::vector<std::string>> contract_types;
  bool has_mapping = false;
  for (const auto& [section_key, section] : root) {
    const std::string section_name(section_key.str());
    if (is_mapping_key(section_name)) {
      has_mapping = true;
      continue;
    }
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
            if (*s == "off") {
              g.plain_listener = false;
            } else if (auto hp = parse_listen(*s)) {
              g.listen_address = hp->first;
              g.port = hp->second;
              g.plain_listener = true;
            } else {
              rd.problem(node, path, hp.error().message);
            }
          }
        } else if (k == "threads") {
          size(g.threads, 0, 1024);
        } else if (k == "log_level") {
          if (auto s = rd.str(node, path)) {
            if (auto lv = parse_log_level(*s))
              into.log = *lv;
            else
              rd.problem(node, path, lv.error().message);
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
        } else if (k == "jwt_public_keys") {
          const auto* arr = node.as_array();
          if (arr == nullptr) {
            rd.problem(node, path, "must be an array of tables {alg, kid?, pem_file | pem}");
            continue;
          }
          for (std::size_t i = 0; i < arr->size(); ++i) {
            const auto& item = *arr->get(i);
            const std::string ipath = path + "[" + std::to_string(i) + "]";
            const auto* kt = item.as_table();
            if (kt == nullptr) {
              rd.problem(item, ipath, "must be a table {alg, kid?, pem_file | pem}");
              continue;
            }
            public_key_setting pk;
            pk.where = rd.at(item, ipath);
            bool has_pem = false;
            bool ok = true;
            for (const auto& [kk, kn] : *kt) {
              const std::string kname(kk.str());
              const std::string kpath = ipath + "." + kname;
              auto v = rd.str(kn, kpath);
              if (!v) {
                ok = false;
                continue;
              }
              if (kname == "alg") {
                pk.alg = *v;
                if (pk.alg != "RS256" && pk.alg != "ES256") {
                  rd.problem(kn, kpath, "must be \"RS256\" or \"ES256\" (the HS256 secret is auth.jwt_secret)");
                  ok = false;
                }
              } else if (kname == "kid") {
                pk.kid = *v;
              } else if (kname == "pem") {
                if (has_pem) rd.problem(kn, kpath, "give either pem or pem_file, not both");
                pk.pem = *v;
                has_pem = true;
              } else if (kname == "pem_file") {
                if (has_pem) rd.problem(kn, kpath, "give either pem or pem_file, not both");
                has_pem = true;
                const std::string file = resolve(*v, base_dir);
                if (auto pem = read_file(file)) {
                  pk.pem = std::move(*pem);
                } else {
                  rd.problem(kn, kpath, "cannot read '" + file + "'");
                  ok = false;
                }
              } else {
                rd.problem(kn, kpath, "unknown key (known: alg, kid, pem_file, pem)");
                ok = false;
              }
            }
            if (pk.alg.empty() && ok) {
              rd.problem(item, ipath, "alg is required (\"RS256\" or \"ES256\")");
              ok = false;
            }
            if (!has_pem && ok) {
              rd.problem(item, ipath, "pem_file or pem is required");
              ok = false;
            }
            if (ok) into.auth.public_keys.push_back(std::move(pk));
          }
        } else if (k == "publishable_keys" || k == "secret_keys") {
          auto& into_keys = k == "publishable_keys" ? into.auth.publishable_keys : into.auth.secret_keys;
          const auto* arr = node.as_array();
          if (arr == nullptr) {
            rd.problem(node, path, "must be an array of strings");
            continue;
          }
          into_keys.clear();
          for (std::size_t i = 0; i < arr->size(); ++i) {
            const auto& item = *arr->get(i);
            const std::string ipath = path + "[" + std::to_string(i) + "]";
            if (auto v = rd.str(item, ipath)) into_keys.push_back({*v, rd.at(item, ipath)});
          }
        } else if (k == "jwks_url") {
          if (auto v = rd.str(node, path)) into.auth.jwks_url = *v;
        } else if (k == "jwks_file") {
          if (auto v = rd.str(node, path)) into.auth.jwks_file = resolve(*v, base_dir);
        } else if (k == "jwks_ca_file") {
          if (auto v = rd.str(node, path)) into.auth.jwks_ca_file = resolve(*v, base_dir);
        } else if (k == "jwks_refresh_s") {
          if (auto v = rd.integer<std::int64_t>(node, path, 10, 86'400)) {
            into.auth.jwks_refresh = std::chrono::seconds(*v);
          }
        } else if (k == "jwks_min_refetch_s") {
          if (auto v = rd.integer<std::int64_t>(node, path, 1, 3'600)) {
            into.auth.jwks_min_refetch = std::chrono::seconds(*v);
          }
        } else if (k == "jwks_timeout_ms") {
          if (auto v = rd.integer<std::int64_t>(node, path, 100, 60'000)) {
            into.auth.jwks_timeout = std::chrono::milliseconds(*v);
          }
        } else {
          rd.problem(node, path,
                     "unknown key (known: jwt_secret, jwt_public_keys, audience, scope_claim, leeway_seconds, "
                     "publishable_keys, secret_keys, jwks_url, jwks_file, jwks_refresh_s, jwks_min_refetch_s, "
                     "jwks_timeout_ms, jwks_ca_file)");
        }
      } else if (section_name == "limits") {
        if (k == "max_connections")
          size(l.max_connections, 1, 10'000'000);
        else if (k == "max_channels_per_connection")
          size(l.max_channels_per_connection, 1, 100'000);
        else if (k == "joins_per_second") {
          if (auto v = rd.number(node, path, 0.001, 1e6)) l.joins_per_second = *v;
        } else if (k == "join_burst") {
          if (auto v = rd.number(node, path, 1, 1e6)) l.join_burst = *v;
        } else if (k == "max_frame_bytes")
          size(l.max_frame_bytes, 1024, k_max_bytes);
        else if (k == "max_send_queue_bytes")
          size(l.max_send_queue_bytes, 1024, k_max_bytes);
        else if (k == "max_http_body_bytes")
          size(l.max_http_body_bytes, 1024, k_max_bytes);
        else if (k == "handshake_timeout_ms")
          ms(l.handshake_timeout);
        else if (k == "idle_timeout_ms")
          ms(l.idle_timeout);
        else if (k == "close_timeout_ms")
          ms(l.close_timeout);
        else if (k == "drain_timeout_ms")
          ms(l.drain_timeout);
        else if (k == "deadline_tick_ms") {
          if (auto v = rd.integer<std::int64_t>(node, path, 1, 60'000)) l.deadline_tick = std::chrono::milliseconds(*v);
        } else if (k == "max_connections_per_ip")
          size(l.max_connections_per_ip, 0, 10'000'000);
        else if (k == "client_broadcasts_per_second") {
          if (auto v = rd.number(node, path, 0.001, 1e6)) l.client_broadcasts.messages_per_second = *v;
        } else if (k == "client_broadcast_burst") {
          if (auto v = rd.number(node, path, 1, 1e6)) l.client_broadcasts.message_burst = *v;
        } else if (k == "client_broadcast_bytes_per_second") {
          if (auto v = rd.number(node, path, 1, static_cast<double>(k_max_bytes)))
            l.client_broadcasts.bytes_per_second = *v;
        } else if (k == "client_broadcast_bytes_burst") {
          if (auto v = rd.number(node, path, 1024, static_cast<double>(k_max_bytes)))
            l.client_broadcasts.byte_burst = *v;
        } else
          rd.problem(node, path, "unknown key");
      } else if (section_name == "hub") {
        if (k == "max_history_messages")
          size(into.hub.max_history_messages, 0, 10'000'000);
        else if (k == "max_history_bytes")
          size(into.hub.max_history_bytes, 0, k_max_bytes);
        else if (k == "shards")
          size(into.hub.shards, 1, 65536);
        else if (k == "linger_ms") {
          if (auto v = rd.integer<std::int64_t>(node, path, 0, k_max_ms))
            into.hub.linger = std::chrono::milliseconds(*v);
        } else if (k == "max_idle_bytes")
          size(into.hub.max_idle_bytes, 0, k_max_bytes);
        else if (k == "max_total_history_bytes")
          size(into.hub.max_total_history_bytes, 0, k_max_bytes);
        else if (k == "sweep_interval_ms")
          ms(into.gateway.sweep_interval);
        else if (k == "max_idle_channels")
          size(into.hub.max_idle_channels, 0, 100'000'000);
        else if (k == "max_views_per_channel")
          size(into.hub.max_views_per_channel, 1, 100'000);
        else
          rd.problem(node, path,
                     "unknown key (known: max_history_messages, max_history_bytes, "
                     "max_total_history_bytes, shards, linger_ms, max_idle_bytes, max_idle_channels, "
                     "max_views_per_channel, sweep_interval_ms)");
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
          contract_types = into.doc_types;
        } else {
          rd.problem(node, path, "unknown key (known: doc_types)");
        }
      } else if (section_name == "postgres") {
        auto& pg = into.postgres;
        pg.enabled = true;
        auto flag = [&](bool& out) {
          if (auto v = node.value<bool>(); v && node.is_boolean())
            out = *v;
          else
            rd.problem(node, path, "must be a boolean");
        };
        if (k == "conninfo") {
          if (auto v = rd.str(node, path)) pg.conninfo = *v;
        } else if (k == "slot") {
          if (auto v = rd.str(node, path)) pg.slot = *v;
        } else if (k == "publication") {
          if (auto v = rd.str(node, path)) pg.publication = *v;
        } else if (k == "create_slot")
          flag(pg.create_slot);
        else if (k == "create_publication")
          flag(pg.create_publication);
        else if (k == "status_interval_ms")
          ms(pg.status_interval);
        else if (k == "wal_sender_timeout_ms") {
          // 0 leaves the server's setting; otherwise at least a second: the reader answers every third of it.
          if (auto v = rd.integer<std::int64_t>(node, path, 0, k_max_ms)) {
            if (*v != 0 && *v < 1000)
              rd.problem(node, path, "must be 0 (the server's setting) or at least 1000");
            else
              pg.wal_sender_timeout = std::chrono::milliseconds(*v);
          }
        } else if (k == "standby_retry_ms")
          ms(pg.standby_retry);
        else if (k == "max_unconfirmed_messages")
          size(pg.max_unconfirmed_messages, 1, std::int64_t{1} << 30);
        else if (k == "publish_stall_ms")
          ms(pg.publish_stall);
        else
          rd.problem(node, path,
                     "unknown key (known: conninfo, slot, publication, create_slot, "
                     "create_publication, status_interval_ms, wal_sender_timeout_ms, "
                     "standby_retry_ms, max_unconfirmed_messages, publish_stall_ms)");
      } else if (section_name == "broadcast") {
        if (k == "from_clients") {
          if (auto v = rd.str(node, path)) {
            if (auto mode = parse_client_broadcasts(*v))
              into.gateway.channels.from_clients = *mode;
            else
              rd.problem(node, path, mode.error().message);
          }
        } else {
          rd.problem(node, path, "unknown key (known: from_clients)");
        }
      } else if (section_name == "channels") {
        if (k == "private_only") {
          if (auto v = node.value<bool>(); v && node.is_boolean())
            into.gateway.channels.private_only = *v;
          else
            rd.problem(node, path, "must be a boolean");
        } else if (k == "private") {
          read_private_rules(rd, node, path, into.gateway.channels.private_rules);
        } else {
          rd.problem(node, path, "unknown key (known: private_only, private)");
        }
      } else if (section_name == "metrics") {
        if (k == "bearer_token") {
          if (auto v = rd.str(node, path)) into.gateway.metrics.bearer_token = *v;
        } else if (k == "listen") {
          if (auto v = rd.str(node, path)) {
            if (auto hp = parse_listen(*v))
              into.gateway.metrics.listen = *hp;
            else
              rd.problem(node, path, hp.error().message);
          }
        } else {
          rd.problem(node, path, "unknown key (known: bearer_token, listen)");
        }
      } else if (section_name == "tls") {
        auto& t = into.gateway.tls;
        if (k == "cert_file") {
          if (auto v = rd.str(node, path)) t.cert_file = resolve(*v, base_dir);
        } else if (k == "key_file") {
          if (auto v = rd.str(node, path)) t.key_file = resolve(*v, base_dir);
        } else if (k == "listen") {
          if (auto v = rd.str(node, path)) {
            if (auto hp = parse_listen(*v))
              t.listen = *hp;
            else
              rd.problem(node, path, hp.error().message);
          }
        } else {
          rd.problem(node, path, "unknown key (known: cert_file, key_file, listen)");
        }
      } else {
        rd.problem(section, section_name,
                   "unknown section (known: server, auth, limits, hub, contract, postgres, channels, broadcast, "
                   "metrics, tls, doc_types, routing, tables)");
        break;
      }
    }
    if (section_name == "postgres") into.postgres.enabled = true;  // an empty [postgres] turns it on too
  }
  rd.flush();

  if (has_mapping) {
    mapping_load_options mo;
    mo.foreign_sections = {"server",   "auth",     "limits",    "hub",     "contract",
                           "postgres", "channels", "broadcast", "metrics", "tls"};
    const std::size_t before = problems.size();
    auto mapping = read_mapping_config(text, source, mo, problems);
    if (problems.size() != before) return;
    auto shared = std::make_shared<const mapping_config>(std::move(mapping));
    if (contract_types) {
      auto types = core::doc_type_registry::from(*contract_types);
      if (types && types->names() != shared->doc_types.names()) {
        problems.push_back({std::string(source) + " contract.doc_types",
                            "differs from the mapping's doc_types; give the list once (top-level doc_types)"});
      }
    }
    into.doc_types = shared->doc_types.names();
    into.mapping = shared;
    into.gateway.mapping = std::move(shared);
  }
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
    if (*v == "off") {
      into.gateway.plain_listener = false;
    } else if (auto hp = parse_listen(*v)) {
      into.gateway.plain_listener = true;
      into.gateway.listen_address = hp->first;
      into.gateway.port = hp->second;
    } else {
      problems.push_back({where("RTCACHE_LISTEN"), hp.error().message});
    }
  }
  size("RTCACHE_THREADS", into.gateway.threads);
  if (auto v = env("RTCACHE_LOG_LEVEL")) {
    if (auto lv = parse_log_level(*v))
      into.log = *lv;
    else
      problems.push_back({where("RTCACHE_LOG_LEVEL"), lv.error().message});
  }
  if (auto v = env("RTCACHE_JWT_SECRET")) into.auth.jwt_secret = *v;
  if (auto v = env("RTCACHE_JWT_AUDIENCE")) into.auth.audience = *v;
  if (auto v = env("RTCACHE_SCOPE_CLAIM")) into.auth.scope_claim = *v;
  size("RTCACHE_MAX_CONNECTIONS", into.gateway.limits.max_connections);
  size("RTCACHE_MAX_CONNECTIONS_PER_IP", into.gateway.limits.max_connections_per_ip);
  if (auto v = env("RTCACHE_BROADCAST_FROM_CLIENTS")) {
    if (auto mode = parse_client_broadcasts(*v))
      into.gateway.channels.from_clients = *mode;
    else
      problems.push_back({where("RTCACHE_BROADCAST_FROM_CLIENTS"), mode.error().message});
  }
  if (auto v = env("RTCACHE_PRIVATE_ONLY")) {
    if (*v == "true" || *v == "1")
      into.gateway.channels.private_only = true;
    else if (*v == "false" || *v == "0")
      into.gateway.channels.private_only = false;
    else
      problems.push_back({where("RTCACHE_PRIVATE_ONLY"), "must be true or false, got '" + *v + "'"});
  }
  if (auto v = env("RTCACHE_METRICS_TOKEN")) into.gateway.metrics.bearer_token = *v;
  if (auto v = env("RTCACHE_METRICS_LISTEN")) {
    if (auto hp = parse_listen(*v))
      into.gateway.metrics.listen = *hp;
    else
      problems.push_back({where("RTCACHE_METRICS_LISTEN"), hp.error().message});
  }
  if (auto v = env("RTCACHE_TLS_CERT_FILE")) into.gateway.tls.cert_file = *v;
  if (auto v = env("RTCACHE_TLS_KEY_FILE")) into.gateway.tls.key_file = *v;
  if (auto v = env("RTCACHE_TLS_LISTEN")) {
    if (auto hp = parse_listen(*v))
      into.gateway.tls.listen = *hp;
    else
      problems.push_back({where("RTCACHE_TLS_LISTEN"), hp.error().message});
  }
  size("RTCACHE_MAX_SEND_QUEUE_BYTES", into.gateway.limits.max_send_queue_bytes);
  if (auto v = env("RTCACHE_PG_CONNINFO")) {
    into.postgres.conninfo = *v;
    into.postgres.enabled = true;
  }
  // Comma-separated API keys; spaces around an item are dropped. The variable replaces the file's list, so that
  // what the environment names is exactly what is accepted (a key left in a file cannot stay valid unseen).
  const auto api_keys = [&](std::string_view name, std::vector<api_key_setting>& out) {
    const auto v = env(name);
    if (!v) return;
    out.clear();
    std::string_view rest = *v;
    std::size_t index = 0;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      const std::string where_item = where(name) + "[" + std::to_string(index++) + "]";
      if (item.empty()) {
        problems.push_back({where_item, "empty item (two commas, or a comma at an end)"});
        continue;
      }
      out.push_back({std::string(item), where_item});
    }
  };
  api_keys("RTCACHE_PUBLISHABLE_KEYS", into.auth.publishable_keys);
  api_keys("RTCACHE_SECRET_KEYS", into.auth.secret_keys);
  if (auto v = env("RTCACHE_JWKS_URL")) into.auth.jwks_url = *v;
  if (auto v = env("RTCACHE_JWKS_FILE")) into.auth.jwks_file = *v;
  if (auto v = env("RTCACHE_JWT_PUBLIC_KEYS")) {
    // "ALG[:KID]=PEM_FILE" items separated by commas.
    std::string_view rest = *v;
    std::size_t index = 0;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      const std::string where_item = where("RTCACHE_JWT_PUBLIC_KEYS") + "[" + std::to_string(index++) + "]";
      const auto eq = item.find('=');
      if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size()) {
        problems.push_back({where_item, "expected ALG[:KID]=PEM_FILE, got '" + std::string(item) + "'"});
        continue;
      }
      public_key_setting pk;
      const std::string_view head = item.substr(0, eq);
      const auto colon = head.find(':');
      pk.alg = std::string(head.substr(0, colon));
      if (colon != std::string_view::npos) pk.kid = std::string(head.substr(colon + 1));
      pk.where = where_item;
      if (pk.alg != "RS256" && pk.alg != "ES256") {
        problems.push_back({where_item, "alg must be RS256 or ES256, got '" + pk.alg + "'"});
        continue;
      }
      const std::string file(item.substr(eq + 1));
      auto pem = read_file(file);
      if (!pem) {
        problems.push_back({where_item, "cannot read '" + file + "'"});
        continue;
      }
      pk.pem = std::move(*pem);
      into.auth.public_keys.push_back(std::move(pk));
    }
  }
}

namespace {

// The API keys and the JWKS settings, each problem at the place the value was given.
bool validate_keys(const auth_settings& a, std::vector<config_problem>& problems) {
  const std::size_t before = problems.size();
  const auto check = [&](const std::vector<api_key_setting>& keys, api_key_kind kind, std::string_view path) {
    if (keys.size() > k_max_api_keys) {
      problems.push_back(
          {std::string(path), std::to_string(keys.size()) + " keys; the limit is " + std::to_string(k_max_api_keys)});
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (auto ok = check_api_key(keys[i].key, kind); !ok) {
        problems.push_back({keys[i].where, ok.error().message});
        continue;
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (keys[j].key == keys[i].key) problems.push_back({keys[i].where, "the same key as " + keys[j].where});
      }
    }
  };
  check(a.publishable_keys, api_key_kind::publishable, "auth.publishable_keys");
  check(a.secret_keys, api_key_kind::secret, "auth.secret_keys");

  if (!a.jwks_url.empty() && !a.jwks_file.empty()) {
    problems.push_back({"auth.jwks_url", "give jwks_url or jwks_file, not both"});
  }
  if (!a.jwks_url.empty()) {
    if (auto url = parse_jwks_url(a.jwks_url); !url) {
      problems.push_back({"auth.jwks_url", url.error().message});
    } else if (!url->tls && !a.jwks_ca_file.empty()) {
      problems.push_back({"auth.jwks_ca_file", "applies to https only; jwks_url is plain http"});
    }
  }
  if (!a.jwks_file.empty()) {
    if (auto text = read_file(a.jwks_file); !text) {
      problems.push_back({"auth.jwks_file", "cannot read '" + a.jwks_file + "'"});
    } else if (auto doc = parse_jwks(*text); !doc) {
      problems.push_back({"auth.jwks_file", a.jwks_file + ": " + doc.error().message});
    } else if (doc->keys.empty()) {
      std::string why = a.jwks_file + ": no usable key";
      for (const auto& skipped : doc->skipped) why += "; " + skipped;
      problems.push_back({"auth.jwks_file", why});
    }
  }
  if (!a.jwks_ca_file.empty() && !read_file(a.jwks_ca_file)) {
    problems.push_back({"auth.jwks_ca_file", "cannot read '" + a.jwks_ca_file + "'"});
  }
  if (a.jwks_min_refetch > a.jwks_refresh) {
    problems.push_back(
        {"auth.jwks_min_refetch_s", "must not exceed jwks_refresh_s (" + std::to_string(a.jwks_refresh.count()) + ")"});
  }
  return problems.size() == before;
}

// [tls]: all three keys or none; the files load and the key matches the certificate (the same loading the
// listener and a reload do); the listeners differ; at least one listener.
void validate_tls(const gateway_config& g, std::vector<config_problem>& problems) {
  const tls_settings& t = g.tls;
  const bool any = !t.cert_file.empty() || !t.key_file.empty() || t.listen.has_value();
  if (!any) {
    if (!g.plain_listener) {
      problems.push_back({"server.listen", "is off and [tls] is not configured: rtcache would not listen at all"});
    }
    return;
  }
  const std::size_t before = problems.size();
  const auto missing = [&](std::string_view key, std::string_view env) {
    problems.push_back({"tls." + std::string(key), "required with [tls] (or " + std::string(env) +
                                                       "): give cert_file, key_file and listen together"});
  };
  if (t.cert_file.empty()) missing("cert_file", "RTCACHE_TLS_CERT_FILE");
  if (t.key_file.empty()) missing("key_file", "RTCACHE_TLS_KEY_FILE");
  if (!t.listen) missing("listen", "RTCACHE_TLS_LISTEN");
  if (problems.size() != before) return;
  if (auto ctx = detail::make_server_tls_context(t); !ctx) {
    const std::string& m = ctx.error().message;
    const auto colon = m.find(": ");
    problems.push_back({m.substr(0, colon), colon == std::string::npos ? m : m.substr(colon + 2)});
  }
  if (g.plain_listener && t.listen->first == g.listen_address && t.listen->second == g.port && g.port != 0) {
    problems.push_back({"tls.listen", "must differ from server.listen (ws:// and wss:// need listeners of their own)"});
  }
  if (g.metrics.listen && *g.metrics.listen == *t.listen && t.listen->second != 0) {
    problems.push_back({"tls.listen", "must differ from metrics.listen"});
  }
}

}  // namespace

void validate(const serve_config& config, std::vector<config_problem>& problems) {
  const auth_settings& a = config.auth;
  const bool has_jwks = !a.jwks_url.empty() || !a.jwks_file.empty();
  const bool keys_ok = validate_keys(a, problems);
  if (a.jwt_secret.empty() && a.public_keys.empty() && !has_jwks) {
    problems.push_back({"auth.jwt_secret", "required: set RTCACHE_JWT_SECRET or [auth] jwt_secret (HS256, >= " +
                                               std::to_string(k_min_hs256_secret_length) +
                                               " bytes), give RS256/ES256 keys in [auth] jwt_public_keys, or a "
                                               "JWKS in [auth] jwks_url / jwks_file"});
  } else {
    bool secret_ok = true;
    if (!a.jwt_secret.empty()) {
      if (auto key = verification_key::hs256(a.jwt_secret); !key) {
        problems.push_back({"auth.jwt_secret", key.error().message});
        secret_ok = false;
      }
    }
    if (secret_ok && keys_ok) {
      auto v = make_verifier(a, has_jwks ? std::make_shared<no_keys_yet>() : nullptr);
      if (!v) problems.push_back({"auth", v.error().message});
    }
  }
  if (config.postgres.enabled && config.postgres.conninfo.empty()) {
    problems.push_back({"postgres.conninfo", "required with [postgres]: set it or RTCACHE_PG_CONNINFO"});
  }
  if (config.postgres.enabled && (!config.mapping || config.mapping->tables.empty())) {
    problems.push_back({"postgres",
                        "the source needs a table mapping: add [tables.\"schema.table\"] sections "
                        "(see examples/config/rtcache.example.toml)"});
  }
  if (!config.doc_types.empty()) {
    if (auto types = core::doc_type_registry::from(config.doc_types); !types) {
      problems.push_back({"contract.doc_types", types.error().message});
    }
  }
  const auto& l = config.gateway.limits;
  if (l.join_burst < 1) problems.push_back({"limits.join_burst", "must be at least 1"});
  if (auto access = channel_access::create(config.gateway.channels); !access) {
    problems.push_back({"channels.private", access.error().message});
  }
  const auto& m = config.gateway.metrics;
  if (!m.bearer_token.empty() && m.bearer_token.size() < k_min_metrics_token_length) {
    problems.push_back({"metrics.bearer_token", "must be at least " + std::to_string(k_min_metrics_token_length) +
                                                    " bytes (a short token can be guessed)"});
  }
  if (m.listen && m.listen->first == config.gateway.listen_address && m.listen->second == config.gateway.port &&
      m.listen->second != 0) {
    problems.push_back({"metrics.listen", "must differ from server.listen"});
  }
  if (config.gateway.listen_address.empty()) problems.push_back({"server.listen", "empty host"});
  validate_tls(config.gateway, problems);
}

config_load load_config(const std::optional<std::string>& path, const env_lookup& env) {
  config_load out;
  if (path) {
    if (auto text = read_file(*path)) {
      read_config_toml(*text, *path, out.config, out.problems, std::filesystem::path(*path).parent_path().string());
    } else {
      out.problems.push_back({*path, "cannot be read"});
    }
  }
  apply_env(env, out.config, out.problems);
  validate(out.config, out.problems);
  return out;
}

}  // namespace rtcache::net
