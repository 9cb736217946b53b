// serve_config from TOML and the environment. Every problem is collected, never just the first, and each names
// its file position or variable, so `rtcache check-config` can print them all.
#include "gateway/config.hpp"

#include "auth/auth.hpp"
#include "auth/jwks.hpp"
#include "cluster/view_position.hpp"
#include "config_keys.hpp"
#include "gateway/config_key_list.hpp"
#include "rtcache/core/doc_types.hpp"
#include "tls_context.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <toml++/toml.h>
#include <type_traits>
#include <unistd.h>
#include <variant>

namespace rtcache::gateway {

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

using detail::config_key;
using detail::key_reader;
using detail::key_type;
using detail::key_value;

// Top-level keys that belong to the mapping (mapping_config.hpp), read by read_mapping_config.
bool is_mapping_key(std::string_view k) noexcept {
  return k == "doc_types" || k == "routing" || k == "tables";
}

const config_key* find_key(std::string_view section, std::string_view name) {
  for (const auto& k : detail::config_keys()) {
    if (k.section == section && k.name == name) return &k;
  }
  return nullptr;
}

std::string known_keys(std::string_view section) {
  std::string out;
  for (const auto& k : detail::config_keys()) {
    if (k.section == section) out += (out.empty() ? "" : ", ") + std::string(k.name);
  }
  return out;
}

std::string known_sections() {
  std::string out;
  for (const auto s : detail::config_sections()) out += std::string(s) + ", ";
  return out + "doc_types, routing, tables";
}

// Integer bounds print as integers, others as std::to_string does.
std::string bounds_problem(const config_key& key, const key_value& v) {
  if (key.type == key_type::integer) {
    return "must be between " + std::to_string(static_cast<std::int64_t>(key.min)) + " and " +
           std::to_string(static_cast<std::int64_t>(key.max)) + ", got " + std::to_string(std::get<std::int64_t>(v));
  }
  return "must be between " + std::to_string(key.min) + " and " + std::to_string(key.max);
}

bool within(const config_key& key, const key_value& v) {
  if (key.type == key_type::integer) {
    const auto n = std::get<std::int64_t>(v);
    return static_cast<double>(n) >= key.min && static_cast<double>(n) <= key.max;
  }
  if (key.type == key_type::number) {
    const double d = std::get<double>(v);
    return d >= key.min && d <= key.max;
  }
  return true;
}

// Stores a value of the key's type (bounds already checked); the problem's message, if any.
std::optional<std::string> store(const config_key& key, const key_value& v, serve_config& into) {
  if (key.set != nullptr) return key.set(into, v);
  std::visit(
      [&](auto field) {
        if constexpr (!std::is_same_v<decltype(field), std::monostate>) {
          auto& out = field(into);
          using T = std::decay_t<decltype(out)>;
          if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::optional<std::string>>) {
            out = std::get<std::string>(v);
          } else if constexpr (std::is_same_v<T, bool>) {
            out = std::get<bool>(v);
          } else if constexpr (std::is_same_v<T, double>) {
            out = std::get<double>(v);
          } else if constexpr (std::is_same_v<T, std::size_t>) {
            out = static_cast<std::size_t>(std::get<std::int64_t>(v));
          } else {
            out = T(std::get<std::int64_t>(v));
          }
        }
      },
      key.field);
  return std::nullopt;
}

// The TOML node as the key's type, or nullopt after reporting why not.
std::optional<key_value> value_of(const config_key& key, const toml::node& n, const std::string& path, key_reader& rd) {
  switch (key.type) {
    case key_type::text:
    case key_type::choice:
    case key_type::listen:
      if (auto s = rd.str(n, path)) return key_value{*s};
      return std::nullopt;
    case key_type::file:
      if (auto s = rd.str(n, path)) return key_value{rd.resolve(*s)};
      return std::nullopt;
    case key_type::integer:
      if (!n.is_integer()) {
        rd.problem(n, path, "must be an integer");
        return std::nullopt;
      }
      return key_value{n.as_integer()->get()};
    case key_type::number:
      if (n.is_integer()) return key_value{static_cast<double>(n.as_integer()->get())};
      if (n.is_floating_point()) return key_value{n.as_floating_point()->get()};
      rd.problem(n, path, "must be a number");
      return std::nullopt;
    case key_type::boolean:
      if (n.is_boolean()) return key_value{n.as_boolean()->get()};
      rd.problem(n, path, "must be a boolean");
      return std::nullopt;
    case key_type::list: break;
  }
  return std::nullopt;
}

// The variable's text as the key's type, or the problem's message.
std::variant<key_value, std::string> value_of(const config_key& key, const std::string& text) {
  switch (key.type) {
    case key_type::integer: {
      std::int64_t n = 0;
      const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc{} || p != text.data() + text.size() || text.empty()) {
        return "must be an integer, got '" + text + "'";
      }
      return key_value{n};
    }
    case key_type::number: {
      char* end = nullptr;
      const double d = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size()) return "must be a number, got '" + text + "'";
      return key_value{d};
    }
    case key_type::boolean:
      if (text == "true" || text == "1") return key_value{true};
      if (text == "false" || text == "0") return key_value{false};
      return "must be true or false, got '" + text + "'";
    default: return key_value{text};
  }
}

// One key's TOML value: read, checked against its bounds, stored; or reported at its position.
void read_key(const config_key& key, const toml::node& n, const std::string& path, key_reader& rd, serve_config& into) {
  if (key.type == key_type::list) return key.read_toml(rd, n, path, into);
  auto v = value_of(key, n, path, rd);
  if (!v) return;
  if (!within(key, *v)) return rd.problem(n, path, bounds_problem(key, *v));
  if (auto why = store(key, *v, into)) rd.problem(n, path, std::move(*why));
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
class no_keys_yet final : public auth::key_source {
 public:
  std::shared_ptr<const std::vector<auth::verification_key>> current() const override {
    return std::make_shared<const std::vector<auth::verification_key>>();
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

auth::jwks_cache_config jwks_cache_config_of(const auth_settings& settings) {
  return {settings.jwks_refresh, settings.jwks_min_refetch};
}

jwks_fetch_options jwks_fetch_options_of(const auth_settings& settings) {
  jwks_fetch_options o;
  o.timeout = settings.jwks_timeout;
  o.ca_file = settings.jwks_ca_file;
  return o;
}

auth::auth_result<auth::jwt_verifier> make_verifier(const auth_settings& settings,
                                                    std::shared_ptr<auth::key_source> dynamic_keys) {
  std::vector<auth::verification_key> keys;
  if (!settings.jwt_secret.empty()) {
    auto k = auth::verification_key::hs256(settings.jwt_secret);
    if (!k) return k.error();
    keys.push_back(std::move(*k));
  }
  for (const auto& pk : settings.public_keys) {
    auth::auth_result<auth::verification_key> k =
        auth::auth_error{auth::auth_errc::bad_key, "alg '" + pk.alg + "': must be RS256 or ES256"};
    if (pk.alg == "RS256")
      k = auth::verification_key::rs256_public_pem(pk.pem, pk.kid);
    else if (pk.alg == "ES256")
      k = auth::verification_key::es256_public_pem(pk.pem, pk.kid);
    if (!k) {
      auto e = k.error();
      if (!pk.where.empty()) e.message = pk.where + ": " + e.message;
      return e;
    }
    keys.push_back(std::move(*k));
  }
  auto api_keys = auth::api_key_set::create(keys_of(settings.publishable_keys), keys_of(settings.secret_keys));
  if (!api_keys) return api_keys.error();
  auth::verifier_config vc;
  vc.leeway = settings.leeway;
  vc.audience = settings.audience;
  vc.scope_claim = settings.scope_claim;
  vc.api_keys = std::move(*api_keys);
  vc.dynamic_keys = std::move(dynamic_keys);
  return auth::jwt_verifier::create(std::move(keys), vc);
}

void read_config_toml(std::string_view text, std::string_view source, serve_config& into,
                      std::vector<core::config_problem>& problems, const std::string& base_dir) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    problems.push_back({std::string(source) + ":" + std::to_string(b.line) + ":" + std::to_string(b.column),
                        std::string(e.description())});
    return;
  }
  bool has_mapping = false;
  {
    key_reader rd(source, base_dir, problems);
    for (const auto& [section_key, section] : root) {
      const std::string section_name(section_key.str());
      if (is_mapping_key(section_name)) {
        has_mapping = true;
        continue;
      }
      const auto sections = detail::config_sections();
      if (std::find(sections.begin(), sections.end(), section_name) == sections.end()) {
        rd.problem(section, section_name, "unknown section (known: " + known_sections() + ")");
        continue;
      }
      const auto* table = section.as_table();
      if (table == nullptr) {
        rd.problem(section, section_name, "must be a table ([" + section_name + "])");
        continue;
      }
      if (section_name == "postgres") into.postgres.enabled = true;  // an empty [postgres] turns it on too
      if (section_name == "cluster") into.cluster.enabled = true;    // so does an empty [cluster]
      for (const auto& [key, node] : *table) {
        const std::string k(key.str());
        const std::string path = section_name + "." + k;
        if (const config_key* entry = find_key(section_name, k)) {
          read_key(*entry, node, path, rd, into);
        } else {
          rd.problem(node, path, "unknown key (known: " + known_keys(section_name) + ")");
        }
      }
    }
  }  // rd reports its problems here, in file order
  // [contract] doc_types, when given, must agree with the mapping's list.
  std::optional<std::vector<std::string>> contract_types;
  if (root["contract"]["doc_types"].is_array()) contract_types = into.doc_types;

  if (has_mapping) {
    routing::mapping_load_options mo;
    mo.foreign_sections = {"server",   "auth",      "limits",  "hub", "contract", "postgres",
                           "channels", "broadcast", "metrics", "tls", "cluster"};
    const std::size_t before = problems.size();
    auto mapping = routing::read_mapping_config(text, source, mo, problems);
    if (problems.size() != before) return;
    auto shared = std::make_shared<const routing::mapping_config>(std::move(mapping));
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

void apply_env(const env_lookup& env, serve_config& into, std::vector<core::config_problem>& problems) {
  key_reader rd("", "", problems);
  for (const auto& key : detail::config_keys()) {
    if (key.env.empty()) continue;
    const auto text = env(key.env);
    if (!text) continue;
    const std::string where = "env " + std::string(key.env);
    if (key.type == key_type::list) {
      key.read_env(rd, *text, where, into);
      continue;
    }
    auto v = value_of(key, *text);
    if (auto* why = std::get_if<std::string>(&v)) {
      rd.problem(where, std::move(*why));
      continue;
    }
    const auto& value = std::get<key_value>(v);
    if (!within(key, value)) {
      rd.problem(where, bounds_problem(key, value));
    } else if (auto why = store(key, value, into)) {
      rd.problem(where, std::move(*why));
    }
  }
}

namespace {

// The API keys and the JWKS settings, each problem at the place the value was given.
bool validate_keys(const auth_settings& a, std::vector<core::config_problem>& problems) {
  const std::size_t before = problems.size();
  const auto check = [&](const std::vector<api_key_setting>& keys, auth::api_key_kind kind, std::string_view path) {
    if (keys.size() > auth::k_max_api_keys) {
      problems.push_back({std::string(path),
                          std::to_string(keys.size()) + " keys; the limit is " + std::to_string(auth::k_max_api_keys)});
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (auto ok = auth::check_api_key(keys[i].key, kind); !ok) {
        problems.push_back({keys[i].where, ok.error().message});
        continue;
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (keys[j].key == keys[i].key) problems.push_back({keys[i].where, "the same key as " + keys[j].where});
      }
    }
  };
  check(a.publishable_keys, auth::api_key_kind::publishable, "auth.publishable_keys");
  check(a.secret_keys, auth::api_key_kind::secret, "auth.secret_keys");

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
    if (auto text = detail::read_text_file(a.jwks_file); !text) {
      problems.push_back({"auth.jwks_file", "cannot read '" + a.jwks_file + "'"});
    } else if (auto doc = auth::parse_jwks(*text); !doc) {
      problems.push_back({"auth.jwks_file", a.jwks_file + ": " + doc.error().message});
    } else if (doc->keys.empty()) {
      std::string why = a.jwks_file + ": no usable key";
      for (const auto& skipped : doc->skipped) why += "; " + skipped;
      problems.push_back({"auth.jwks_file", why});
    }
  }
  if (!a.jwks_ca_file.empty() && !detail::read_text_file(a.jwks_ca_file)) {
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
void validate_tls(const gateway_config& g, std::vector<core::config_problem>& problems) {
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

// cluster::validate names the settings' fields ("nats_urls[1]: ...", "max_age_s: ..."); each is reported under
// the config key that sets it. Fields no key sets (reconnect and ping tuning) are reported under "cluster".
core::config_problem cluster_problem(const std::string& problem) {
  static constexpr std::pair<std::string_view, std::string_view> k_keys[] = {
      {"nats_urls", "nats_urls"},
      {"name", "node_id"},
      {"credentials", ""},
      {"nkey", "nkey"},
      {"user", "user"},
      {"password", "password"},
      {"tls", "tls_cert_file"},
      {"connect_timeout", "connect_timeout_ms"},
      {"stream", "stream"},
      {"subjects", "stream"},
      {"max_age_s", "max_age_s"},
      {"max_bytes", "max_bytes"},
      {"duplicate_window", "duplicate_window_s"},
      {"replicas", "replicas"},
  };
  const auto colon = problem.find(": ");
  if (colon == std::string::npos) return {"cluster", problem};
  const std::string field = problem.substr(0, colon);
  const auto bracket = field.find('[');
  const std::string_view base = std::string_view(field).substr(0, bracket);
  const std::string index = bracket == std::string::npos ? "" : field.substr(bracket);
  for (const auto& [from, to] : k_keys) {
    if (from != base) continue;
    if (to.empty()) return {"cluster", problem.substr(colon + 2)};
    // subjects derive from the stream's name: their index is not the operator's.
    return {"cluster." + std::string(to) + (from == "subjects" ? "" : index), problem.substr(colon + 2)};
  }
  return {"cluster", problem};
}

// [cluster]: the NATS layer's own checks under the keys, the files nats.c will read, the secret, the node id.
void validate_cluster(const serve_config& config, std::vector<core::config_problem>& problems) {
  const cluster_settings& c = config.cluster;
  for (const auto& p : cluster::validate(nats_settings_of(config))) problems.push_back(cluster_problem(p));
  for (const auto& p : cluster::validate(stream_settings_of(config))) problems.push_back(cluster_problem(p));
  const std::pair<std::string_view, const std::string*> files[] = {
      {"credentials_file", &c.nats.credentials_file}, {"nkey_seed_file", &c.nats.nkey_seed_file},
      {"tls_ca_file", &c.nats.tls.ca_file},           {"tls_cert_file", &c.nats.tls.cert_file},
      {"tls_key_file", &c.nats.tls.key_file},
  };
  for (const auto& [key, file] : files) {
    if (!file->empty() && !detail::read_text_file(*file)) {
      problems.push_back({"cluster." + std::string(key), "cannot read '" + *file + "'"});
    }
  }
  if (c.secret_where.empty()) {
    problems.push_back(
        {"cluster.secret_file", "required with [cluster]: the cluster secret (the same on every node, >= " +
                                    std::to_string(cluster::k_min_secret_bytes) +
                                    " bytes) in a file named by secret_file / RTCACHE_CLUSTER_SECRET_FILE, or in "
                                    "RTCACHE_CLUSTER_SECRET"});
  } else if (c.secret.size() < cluster::k_min_secret_bytes) {
    problems.push_back({c.secret_where, std::to_string(c.secret.size()) +
                                            " bytes; the cluster secret must be at least " +
                                            std::to_string(cluster::k_min_secret_bytes) +
                                            " bytes (epochs derived from a short key can be guessed)"});
  }
  if (c.node_id && c.node_id->empty()) {
    problems.push_back({"cluster.node_id", "must not be empty (leave it out for host name and port)"});
  } else if (!c.node_id) {
    const bool tls_only = !config.gateway.plain_listener && config.gateway.tls.listen;
    const std::uint16_t port = tls_only ? config.gateway.tls.listen->second : config.gateway.port;
    if (port == 0) {
      problems.push_back({"cluster.node_id",
                          "required when the listener's port is 0 (ephemeral): the default, host name and port, "
                          "would not tell nodes on one host apart"});
    }
  }
}

}  // namespace

std::string node_id_of(const serve_config& config) {
  if (config.cluster.node_id) return *config.cluster.node_id;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  const auto& g = config.gateway;
  const std::uint16_t port = !g.plain_listener && g.tls.listen ? g.tls.listen->second : g.port;
  return std::string(*host != '\0' ? host : "localhost") + ":" + std::to_string(port);
}

cluster::nats_settings nats_settings_of(const serve_config& config) {
  cluster::nats_settings s = config.cluster.nats;
  s.name = node_id_of(config);
  // Not send_asap: it took 1 ms off the commit -> client p50 at 500 changes/s, but at 5,000 changes/s (a flush per
  // message) the two nodes fell behind, 2,350 of 2,500 msg/s delivered each, p50 2.9 s (docs/cluster.md, "Figures").
  s.send_asap = false;
  return s;
}

cluster::stream_settings stream_settings_of(const serve_config& config) {
  cluster::stream_settings s = config.cluster.stream;
  s.subjects = {s.name + ".>"};
  return s;
}

cluster::writer_settings writer_settings_of(const serve_config& config) {
  // A publish may overshoot the source's backlog bound by one batch (up to [routing] flush_messages per-row
  // messages, with the transaction's records and summaries): a margin of twice flush_messages.
  const std::size_t flush =
      config.mapping ? config.mapping->limits.flush_messages : routing::routing_limits{}.flush_messages;
  cluster::writer_settings w;
  w.stream = config.cluster.stream.name;
  w.max_channels = config.cluster.max_channels;
  w.publisher.max_in_flight = config.postgres.max_unconfirmed_messages + 2 * flush;
  // Read the stream's first sequence at most every 100 ms, not once per transaction: that round trip on the
  // source's thread kept the reader below 5,000 changes/s here (docs/benchmarks.md, "Commit -> client latency").
  // The cost (docs/cluster.md (g)): a partition whose latest message left the stream within the interval is
  // counted on, so a node that saw it in limbo answers recovered:false once more; never a false recovery.
  w.first_seq_refresh = std::chrono::milliseconds(100);
  const auto wst = config.postgres.wal_sender_timeout;
  if (wst.count() > 0) w.lookup_timeout = std::clamp(wst * 2 / 3, std::chrono::milliseconds(1), w.lookup_timeout);
  return w;
}

void validate(const serve_config& config, std::vector<core::config_problem>& problems) {
  const auth_settings& a = config.auth;
  const bool has_jwks = !a.jwks_url.empty() || !a.jwks_file.empty();
  const bool keys_ok = validate_keys(a, problems);
  if (a.jwt_secret.empty() && a.public_keys.empty() && !has_jwks) {
    problems.push_back({"auth.jwt_secret", "required: set RTCACHE_JWT_SECRET or [auth] jwt_secret (HS256, >= " +
                                               std::to_string(auth::k_min_hs256_secret_length) +
                                               " bytes), give RS256/ES256 keys in [auth] jwt_public_keys, or a "
                                               "JWKS in [auth] jwks_url / jwks_file"});
  } else {
    bool secret_ok = true;
    if (!a.jwt_secret.empty()) {
      if (auto key = auth::verification_key::hs256(a.jwt_secret); !key) {
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
  if (auto access = auth::channel_access::create(config.gateway.channels); !access) {
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
  if (config.cluster.enabled) validate_cluster(config, problems);
}

namespace {

// Bounds as docs show them: whole numbers without a fraction.
std::string show_number(double v) {
  if (v == static_cast<double>(static_cast<std::int64_t>(v))) return std::to_string(static_cast<std::int64_t>(v));
  std::ostringstream s;
  s << v;
  return s.str();
}

std::string type_of(const config_key& key) {
  switch (key.type) {
    case key_type::text: return "string";
    case key_type::file: return "file (relative: to the config file)";
    case key_type::integer: return "integer " + show_number(key.min) + "..." + show_number(key.max);
    case key_type::number: return "number " + show_number(key.min) + "..." + show_number(key.max);
    case key_type::boolean: return "boolean";
    case key_type::choice:
    case key_type::listen:
    case key_type::list: return std::string(key.values);
  }
  return "";
}

}  // namespace

std::string config_keys_markdown() {
  std::string out = "| key | type | variable | default | meaning |\n| --- | --- | --- | --- | --- |\n";
  for (const auto& key : detail::config_keys()) {
    const std::string def = detail::default_of(key);
    const bool plain = def == "none" || def.starts_with("the ");
    out += "| `[" + std::string(key.section) + "] " + std::string(key.name) + "` | " + type_of(key) + " | " +
           (key.env.empty() ? std::string() : "`" + std::string(key.env) + "`") + " | " +
           (plain ? def : "`" + def + "`") + " | " + std::string(key.doc) + " |\n";
  }
  return out;
}

config_load load_config(const std::optional<std::string>& path, const env_lookup& env) {
  config_load out;
  if (path) {
    if (auto text = detail::read_text_file(*path)) {
      read_config_toml(*text, *path, out.config, out.problems, std::filesystem::path(*path).parent_path().string());
    } else {
      out.problems.push_back({*path, "cannot be read"});
    }
  }
  apply_env(env, out.config, out.problems);
  validate(out.config, out.problems);
  return out;
}

}  // namespace rtcache::gateway
