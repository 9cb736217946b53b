// The serve config's keys (config_keys.hpp): the table, and the readers of its structured keys.
#include "config_keys.hpp"

#include "auth/auth.hpp"
#include "rtcache/core/doc_types.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace rtcache::gateway::detail {

std::string key_reader::at(const toml::node& n, std::string_view path) const {
  const auto& r = n.source();
  return std::string(source_) + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column) + " " +
         std::string(path);
}

void key_reader::problem(const toml::node& n, std::string_view path, std::string message) {
  const auto& b = n.source().begin;
  found_.push_back({{b.line, b.column}, {at(n, path), std::move(message)}});
}

void key_reader::flush() {
  std::stable_sort(found_.begin(), found_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& f : found_) problems_.push_back(std::move(f.second));
  found_.clear();
}

std::optional<std::string> key_reader::str(const toml::node& n, std::string_view path) {
  if (auto v = n.value<std::string>(); v && n.is_string()) return *v;
  problem(n, path, "must be a string");
  return std::nullopt;
}

std::string key_reader::resolve(const std::string& path) const {
  if (base_dir_.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base_dir_) / path).string();
}

std::optional<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

namespace {

constexpr double k_max_bytes = static_cast<double>(std::int64_t{1} << 40);
constexpr double k_max_ms = 24.0 * 3600 * 1000;

// ---- the structured keys ----

// [auth] jwt_public_keys = [{alg, kid?, pem_file | pem}, ...]
void read_public_keys(key_reader& rd, const toml::node& node, const std::string& path, serve_config& into) {
  const auto* arr = node.as_array();
  if (arr == nullptr) {
    rd.problem(node, path, "must be an array of tables {alg, kid?, pem_file | pem}");
    return;
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
        const std::string file = rd.resolve(*v);
        if (auto pem = read_text_file(file)) {
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
}

// RTCACHE_JWT_PUBLIC_KEYS: "ALG[:KID]=PEM_FILE" items separated by commas, added to the file's keys.
void read_public_keys_env(key_reader& rd, std::string_view text, const std::string& where, serve_config& into) {
  // "ALG[:KID]=PEM_FILE" items separated by commas.
  std::string_view rest = text;
  std::size_t index = 0;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const std::string where_item = where + "[" + std::to_string(index++) + "]";
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size()) {
      rd.problem(where_item, "expected ALG[:KID]=PEM_FILE, got '" + std::string(item) + "'");
      continue;
    }
    public_key_setting pk;
    const std::string_view head = item.substr(0, eq);
    const auto colon = head.find(':');
    pk.alg = std::string(head.substr(0, colon));
    if (colon != std::string_view::npos) pk.kid = std::string(head.substr(colon + 1));
    pk.where = where_item;
    if (pk.alg != "RS256" && pk.alg != "ES256") {
      rd.problem(where_item, "alg must be RS256 or ES256, got '" + pk.alg + "'");
      continue;
    }
    const std::string file(item.substr(eq + 1));
    auto pem = read_text_file(file);
    if (!pem) {
      rd.problem(where_item, "cannot read '" + file + "'");
      continue;
    }
    pk.pem = std::move(*pem);
    into.auth.public_keys.push_back(std::move(pk));
  }
}

// [auth] publishable_keys / secret_keys: an array of strings, replacing what was there.
void read_api_keys(key_reader& rd, const toml::node& node, const std::string& path,
                   std::vector<api_key_setting>& into_keys) {
  const auto* arr = node.as_array();
  if (arr == nullptr) {
    rd.problem(node, path, "must be an array of strings");
    return;
  }
  into_keys.clear();
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const auto& item = *arr->get(i);
    const std::string ipath = path + "[" + std::to_string(i) + "]";
    if (auto v = rd.str(item, ipath)) into_keys.push_back({*v, rd.at(item, ipath)});
  }
}

// Comma-separated API keys; spaces around an item are dropped. The variable replaces the file's list, so that
// what the environment names is exactly what is accepted (a key left in a file cannot stay valid unseen).
void read_api_keys_env(key_reader& rd, std::string_view text, const std::string& where,
                       std::vector<api_key_setting>& out) {
  out.clear();
  std::string_view rest = text;
  std::size_t index = 0;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    const std::string where_item = where + "[" + std::to_string(index++) + "]";
    if (item.empty()) {
      rd.problem(where_item, "empty item (two commas, or a comma at an end)");
      continue;
    }
    out.push_back({std::string(item), where_item});
  }
}

// [contract] doc_types = ["wo", ...]
void read_doc_types(key_reader& rd, const toml::node& node, const std::string& path, serve_config& into) {
  const auto* arr = node.as_array();
  if (arr == nullptr) {
    rd.problem(node, path, "must be an array of strings");
    return;
  }
  into.doc_types.clear();
  for (std::size_t i = 0; i < arr->size(); ++i) {
    if (auto s = rd.str(*arr->get(i), path + "[" + std::to_string(i) + "]")) into.doc_types.push_back(*s);
  }
}

// [[channels.private]]: rules {topic, roles, claims?, actions?} (channel_access.hpp).
void read_private_rules(key_reader& rd, const toml::node& node, const std::string& path,
                        std::vector<auth::private_channel_rule>& into) {
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
    auth::private_channel_rule r;
    r.where = rd.at(item, ipath);
    bool ok = true;
    bool has_topic = false;
    // Named references rather than a structured binding: the lambda below uses `value`, and clang 14 (the tsa
    // preset) cannot capture a structured binding.
    for (const auto& entry : *t) {
      const auto& key = entry.first;
      const auto& value = entry.second;
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
            r.roles.push_back(auth::auth_role::anon);
          else if (n == "authenticated")
            r.roles.push_back(auth::auth_role::authenticated);
          else if (n == "service_role")
            r.roles.push_back(auth::auth_role::service_role);
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

// [cluster] nats_urls = ["nats://host:port", ...]: replaces the list; turns the cluster on. The URLs are judged by
// cluster::validate (validate() reports them under the key).
void read_nats_urls(key_reader& rd, const toml::node& node, const std::string& path, serve_config& into) {
  into.cluster.enabled = true;
  const auto* arr = node.as_array();
  if (arr == nullptr) {
    rd.problem(node, path, "must be an array of strings (\"nats://host:port\")");
    return;
  }
  into.cluster.nats.urls.clear();
  for (std::size_t i = 0; i < arr->size(); ++i) {
    if (auto v = rd.str(*arr->get(i), path + "[" + std::to_string(i) + "]")) into.cluster.nats.urls.push_back(*v);
  }
}

// RTCACHE_CLUSTER_NATS_URLS: comma-separated, spaces around an item dropped; replaces the file's list.
void read_nats_urls_env(key_reader& rd, std::string_view text, const std::string& where, serve_config& into) {
  into.cluster.enabled = true;
  into.cluster.nats.urls.clear();
  std::string_view rest = text;
  std::size_t index = 0;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) {
      rd.problem(where + "[" + std::to_string(index++) + "]", "empty item (two commas, or a comma at an end)");
      continue;
    }
    ++index;
    into.cluster.nats.urls.emplace_back(item);
  }
}

// A secret as read from a file: one trailing newline ("\n" or "\r\n", as `echo` and editors leave) is not part
// of it, so the file and RTCACHE_CLUSTER_SECRET give the same key for the same text.
std::string without_final_newline(std::string text) {
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  return text;
}

// ---- scalar keys that are more than a field ----

std::optional<std::string> set_listen(std::optional<std::pair<std::string, std::uint16_t>>& out, const key_value& v) {
  auto hp = parse_listen(std::get<std::string>(v));
  if (!hp) return hp.error().message;
  out = *hp;
  return std::nullopt;
}

std::string show_listen(const std::optional<std::pair<std::string, std::uint16_t>>& l) {
  return l ? "\"" + l->first + ":" + std::to_string(l->second) + "\"" : "none";
}

std::string none(const serve_config& /*c*/) {
  return "none";
}

const config_key k_keys[] = {
    // [server]
    {.section = "server",
     .name = "listen",
     .type = key_type::listen,
     .env = "RTCACHE_LISTEN",
     .doc = "the plain `ws://` listener (`[::1]:4000` for IPv6; port 0: ephemeral); `\"off\"`: none (TLS only, "
            "needs `[tls]`)",
     .values = "`\"host:port\"` or `\"off\"`",
     .set = [](serve_config& c, const key_value& v) -> std::optional<std::string> {
       const auto& s = std::get<std::string>(v);
       if (s == "off") {
         c.gateway.plain_listener = false;
         return std::nullopt;
       }
       auto hp = parse_listen(s);
       if (!hp) return hp.error().message;
       c.gateway.listen_address = hp->first;
       c.gateway.port = hp->second;
       c.gateway.plain_listener = true;
       return std::nullopt;
     },
     .show = [](const serve_config& c) -> std::string {
       return c.gateway.plain_listener ? "\"" + c.gateway.listen_address + ":" + std::to_string(c.gateway.port) + "\""
                                       : std::string("\"off\"");
     }},
    {.section = "server",
     .name = "threads",
     .type = key_type::integer,
     .min = 0,
     .max = 1024,
     .env = "RTCACHE_THREADS",
     .doc = "io threads; 0: one per core",
     .field = +[](serve_config& c) -> std::size_t& { return c.gateway.threads; }},
    {.section = "server",
     .name = "log_level",
     .type = key_type::choice,
     .env = "RTCACHE_LOG_LEVEL",
     .doc = "the least severe event logged (logfmt on stderr)",
     .values = "`debug`, `info`, `warn`, `error`, `off`",
     .set = [](serve_config& c, const key_value& v) -> std::optional<std::string> {
       auto lv = parse_log_level(std::get<std::string>(v));
       if (!lv) return lv.error().message;
       c.log = *lv;
       return std::nullopt;
     },
     .show = [](const serve_config& c) { return "\"" + std::string(to_string(c.log)) + "\""; }},
    // [auth]
    {.section = "auth",
     .name = "jwt_secret",
     .type = key_type::text,
     .env = "RTCACHE_JWT_SECRET",
     .doc = "HS256 secret (the project's JWT secret), at least 32 bytes; prefer the variable. One JWT key source "
            "(this, public keys or a JWKS) is required",
     .field = +[](serve_config& c) -> std::string& { return c.auth.jwt_secret; }},
    {.section = "auth",
     .name = "jwt_public_keys",
     .type = key_type::list,
     .env = "RTCACHE_JWT_PUBLIC_KEYS",
     .doc = "RS256/ES256 public keys (SubjectPublicKeyInfo PEM; `pem_file` relative to the file); the variable's "
            "`ALG[:KID]=PEM_FILE,...` items are added to the file's",
     .values = "array of `{alg, kid?, pem_file \\| pem}`",
     .show = none,
     .read_toml = read_public_keys,
     .read_env = read_public_keys_env},
    {.section = "auth",
     .name = "audience",
     .type = key_type::text,
     .env = "RTCACHE_JWT_AUDIENCE",
     .doc = "required `aud` claim; none: not checked",
     .field = +[](serve_config& c) -> std::optional<std::string>& { return c.auth.audience; }},
    {.section = "auth",
     .name = "scope_claim",
     .type = key_type::text,
     .env = "RTCACHE_SCOPE_CLAIM",
     .doc = "dotted path of the factory scope claim",
     .field = +[](serve_config& c) -> std::string& { return c.auth.scope_claim; }},
    {.section = "auth",
     .name = "leeway_seconds",
     .type = key_type::integer,
     .min = 0,
     .max = static_cast<double>(auth::k_max_leeway.count()),
     .doc = "clock skew tolerated on `exp`, `nbf` and `iat`",
     .field = +[](serve_config& c) -> std::chrono::seconds& { return c.auth.leeway; }},
    {.section = "auth",
     .name = "publishable_keys",
     .type = key_type::list,
     .env = "RTCACHE_PUBLISHABLE_KEYS",
     .doc = "Supabase publishable keys (`sb_publishable_...`, role anon); the variable (comma-separated) "
            "**replaces** the file's list",
     .values = "array of strings",
     .show = none,
     .read_toml = [](key_reader& rd, const toml::node& n, const std::string& path,
                     serve_config& c) { read_api_keys(rd, n, path, c.auth.publishable_keys); },
     .read_env = [](key_reader& rd, std::string_view text, const std::string& where,
                    serve_config& c) { read_api_keys_env(rd, text, where, c.auth.publishable_keys); }},
    {.section = "auth",
     .name = "secret_keys",
     .type = key_type::list,
     .env = "RTCACHE_SECRET_KEYS",
     .doc = "Supabase secret keys (`sb_secret_...`, role service_role); prefer the variable (comma-separated), "
            "which **replaces** the file's list",
     .values = "array of strings",
     .show = none,
     .read_toml = [](key_reader& rd, const toml::node& n, const std::string& path,
                     serve_config& c) { read_api_keys(rd, n, path, c.auth.secret_keys); },
     .read_env = [](key_reader& rd, std::string_view text, const std::string& where,
                    serve_config& c) { read_api_keys_env(rd, text, where, c.auth.secret_keys); }},
    {.section = "auth",
     .name = "jwks_url",
     .type = key_type::text,
     .env = "RTCACHE_JWKS_URL",
     .doc = "the project's JWKS (`https://...`; `http://` only to a loopback host); not with `jwks_file`",
     .field = +[](serve_config& c) -> std::string& { return c.auth.jwks_url; }},
    {.section = "auth",
     .name = "jwks_file",
     .type = key_type::file,
     .env = "RTCACHE_JWKS_FILE",
     .doc = "a JWKS file instead of a URL, re-read as a URL is refetched",
     .field = +[](serve_config& c) -> std::string& { return c.auth.jwks_file; }},
    {.section = "auth",
     .name = "jwks_refresh_s",
     .type = key_type::integer,
     .min = 10,
     .max = 86'400,
     .doc = "refetch the JWKS this long after a success, so a new standby key is seen well before it signs",
     .field = +[](serve_config& c) -> std::chrono::seconds& { return c.auth.jwks_refresh; }},
    {.section = "auth",
     .name = "jwks_min_refetch_s",
     .type = key_type::integer,
     .min = 1,
     .max = 3'600,
     .doc = "no two JWKS fetches closer than this (unknown kids, retries); at most `jwks_refresh_s`",
     .field = +[](serve_config& c) -> std::chrono::seconds& { return c.auth.jwks_min_refetch; }},
    {.section = "auth",
     .name = "jwks_timeout_ms",
     .type = key_type::integer,
     .min = 100,
     .max = 60'000,
     .doc = "one whole JWKS fetch (resolve, connect, TLS, request, response)",
     .field = +[](serve_config& c) -> std::chrono::milliseconds& { return c.auth.jwks_timeout; }},
    {.section = "auth",
     .name = "jwks_ca_file",
     .type = key_type::file,
     .doc = "PEM bundle to trust for `jwks_url`; none: the system trust store",
     .field = +[](serve_config& c) -> std::string& { return c.auth.jwks_ca_file; }},
    // [limits]
    {.section = "limits",
     .name = "max_connections",
     .type = key_type::integer,
     .min = 1,
     .max = 10'000'000,
     .env = "RTCACHE_MAX_CONNECTIONS",
     .doc = "open WebSockets; beyond: upgrade refused 429",
     .field = +[](serve_config& c) -> std::size_t& { return c.gateway.limits.max_connections; }},
    {.section = "limits",
     .name = "max_connections_per_ip",
     .type = key_type::integer,
     .min = 0,
     .max = 10'000'000,
     .env = "RTCACHE_MAX_CONNECTIONS_PER_IP",
     .doc = "open WebSockets per client address (IPv6: per /64); 0: no bound",
     .field = +[](serve_config& c) -> std::size_t& { return c.gateway.limits.max_connections_per_ip; }},
    {.section = "limits",
     .name = "max_channels_per_connection",
     .type = key_type::integer,
     .min = 1,
     .max = 100'000,
     .doc = "joined topics per connection; beyond: join refused",
     .field = +[](serve_config& c) -> std::size_t& { return c.gateway.limits.max_channels_per_connection; }},
    {.section = "limits",
     .name = "joins_per_second",
     .type = key_type::number,
     .min = 0.001,
     .max = 1e6,
     .doc = "token bucket of joins per connection ...",
     .field = +[](serve_config& c) -> double& { return c.gateway.limits.joins_per_second; }},
    {.section = "limits",
     .name = "join_burst",
     .type = key_type::number,
     .min = 1,
     .max = 1e6,
     .doc = "... with this capacity",
     .field = +[](serve_config& c) -> double& { return c.gateway.limits.join_burst; }},
    {.section = "limits",
     .name = "max_frame_bytes",
     .type = key_type::integer,
     .min = 1024,
     .max = k_max_bytes,
     .doc = "inbound WebSocket message; beyond: close 1009",
     .field = +[](serve_config& c) -> std::size_t& { return c.gateway.limits.max_frame_bytes; }},
    {.section = "limits",
     .name = "max_send_queue_bytes",
     .type = key_type::integer,
     .min = 1024,
     .max = k_max_bytes,
     .env = "RTCACHE_MAX_SEND_QUEUE_BYTES",
     .doc = "per-connection send queue; beyond: close 4008",
     .field = +[](serve_config& c) -> std::size_t& { return c.gateway.limits.max_send_queue_bytes; }},
    {.section = "limits",
     .name = "max_http_body_bytes",
     .type = key_type::integer,
     .min = 1024,
     .max = k_max_bytes,
     .doc = "POST bodies; beyond: 413",
     .field = +[](serve_config& c) -> std::size_t& { return c.gateway.limits.max_http_body_bytes; }},
    {.section = "limits",
     .name = "handshake_timeout_ms",
     .type = key_type::integer,
     .min = 1,
     .max = k_max_ms,
     .doc = "HTTP request, WebSocket upgrade, close handshake",
     .field = +[](serve_config& c) -> std::chrono::milliseconds& { return c.gateway.limits.handshake_timeout; }},
    {.section = "limits",
     .name = "idle_timeout_ms",
     .type = key_type::integer,
     .min = 1,
     .max = k_max_ms,
     .doc = "nothing received for this long: socket dropped (clients heartbeat every 25 s)",
     .field = +[](serve_config& c) -> std::chrono::milliseconds& { return c.gateway.limits.idle_timeout; }},
    {.section = "limits",
     .name = "close_timeout_ms",
     .type = key_type::integer,
     .min = 1,
     .max = k_max_ms,
     .doc = "a started close that does not finish: socket dropped",
     .field = +[](serve_config& c) -> std::chrono::milliseconds& { return c.gateway.limits.close_timeout; }},
    {.section = "limits",
     .name = "drain_timeout_ms",
     .type = key_type::integer,
     .min = 1,
     .max = k_max_ms,
     .doc = "graceful shutdown bound",
     .field = +[](serve_config& c) -> std::chrono::milliseconds& { return c.gateway.limits.drain_timeout; }},
    {.section = "limits",
     .name = "deadline_tick_ms",
     .type = key_type::integer,
     .min = 1,
     .max = 60'000,
     .doc = "how often idle, close and token-expiry deadlines are checked (each fires up to this late)",
     .field = +[](serve_config& c) -> std::chrono::milliseconds& { return c.gateway.limits.deadline_tick; }},
    {.section = "limits",
     .name = "client_broadcasts_per_second",
     .type = key_type::number,
     .min = 0.001,
     .max = 1e6,
     .doc = "client broadcasts per connection (and per address over REST), not service_role ...",
     .field = +[](serve_config& c) -> double& { return c.gateway.limits.client_broadcasts.messages_per_second; }},
    {.section = "limits",
     .name = "client_broadcast_burst",
     .type = key_type::number,
     .min = 1,
     .max = 1e6,
     .doc = "... token bucket capacity, in messages",
     .field = +[](serve_config& c) -> double& { return c.gateway.limits.client_broadcasts.message_burst; }},
    {.section = "limits",
     .name = "client_broadcast_bytes_per_second",
     .type = key_type::number,
     .min = 1,
     .max = k_max_bytes,
     .doc = "client broadcast payload bytes per second ...",
     .field = +[](serve_config& c) -> double& { return c.gateway.limits.client_broadcasts.bytes_per_second; }},
    {.section = "limits",
     .name = "client_broadcast_bytes_burst",
     .type = key_type::number,
     .min = 1024,
     .max = k_max_bytes,
     .doc = "... capacity; a larger single payload is refused on its own",
     .field = +[](serve_config& c) -> double& { return c.gateway.limits.client_broadcasts.byte_burst; }},
    // [hub]
    {.section = "hub",
     .name = "max_history_messages",
     .type = key_type::integer,
     .min = 0,
     .max = 10'000'000,
     .doc = "per channel, for resume",
     .field = +[](serve_config& c) -> std::size_t& { return c.hub.max_history_messages; }},
    {.section = "hub",
     .name = "max_history_bytes",
     .type = key_type::integer,
     .min = 0,
     .max = k_max_bytes,
     .doc = "per channel, for resume",
     .field = +[](serve_config& c) -> std::size_t& { return c.hub.max_history_bytes; }},
    {.section = "hub",
     .name = "max_total_history_bytes",
     .type = key_type::integer,
     .min = 0,
     .max = k_max_bytes,
     .doc = "all histories together (frames, attached records, 32 B bookkeeping each); beyond: oldest evicted",
     .field = +[](serve_config& c) -> std::size_t& { return c.hub.max_total_history_bytes; }},
    {.section = "hub",
     .name = "shards",
     .type = key_type::integer,
     .min = 1,
     .max = 65536,
     .doc = "shards of the channel registry (rounded up to a power of two)",
     .field = +[](serve_config& c) -> std::size_t& { return c.hub.shards; }},
    {.section = "hub",
     .name = "linger_ms",
     .type = key_type::integer,
     .min = 0,
     .max = k_max_ms,
     .doc = "an idle channel (no subscriber) keeps its epoch and history this long; 0: freed at once",
     .field = +[](serve_config& c) -> std::chrono::milliseconds& { return c.hub.linger; }},
    {.section = "hub",
     .name = "max_idle_bytes",
     .type = key_type::integer,
     .min = 0,
     .max = k_max_bytes,
     .doc = "all idle histories together; beyond: the channel idle the longest is freed first",
     .field = +[](serve_config& c) -> std::size_t& { return c.hub.max_idle_bytes; }},
    {.section = "hub",
     .name = "max_idle_channels",
     .type = key_type::integer,
     .min = 0,
     .max = 100'000'000,
     .doc = "idle channels (views) kept at once, whatever their history; beyond: oldest idle freed",
     .field = +[](serve_config& c) -> std::size_t& { return c.hub.max_idle_channels; }},
    {.section = "hub",
     .name = "max_views_per_channel",
     .type = key_type::integer,
     .min = 1,
     .max = 100'000,
     .doc = "factory scopes one doc: channel keeps a view for (\"Channel views\")",
     .field = +[](serve_config& c) -> std::size_t& { return c.hub.max_views_per_channel; }},
    {.section = "hub",
     .name = "sweep_interval_ms",
     .type = key_type::integer,
     .min = 1,
     .max = k_max_ms,
     .doc = "how often expired idle channels are freed",
     .field = +[](serve_config& c) -> std::chrono::milliseconds& { return c.gateway.sweep_interval; }},
    // [contract]
    {.section = "contract",
     .name = "doc_types",
     .type = key_type::list,
     .doc = "the doc types; with a table mapping, its top-level `doc_types` instead (both: the same list)",
     .values = "array of strings",
     .show =
         [](const serve_config& /*c*/) {
           const auto defaults = core::doc_type_registry::defaults();
           std::string out;
           for (const auto& t : defaults.names()) out += (out.empty() ? "" : ", ") + t;
           return "the playbook's (" + out + ")";
         },
     .read_toml = read_doc_types},
    // [broadcast]
    {.section = "broadcast",
     .name = "from_clients",
     .type = key_type::choice,
     .env = "RTCACHE_BROADCAST_FROM_CLIENTS",
     .doc = "may connections that are not service_role broadcast? (\"Isolation settings\")",
     .values = "`off`, `public`, `all`",
     .set = [](serve_config& c, const key_value& v) -> std::optional<std::string> {
       auto mode = auth::parse_client_broadcasts(std::get<std::string>(v));
       if (!mode) return mode.error().message;
       c.gateway.channels.from_clients = *mode;
       return std::nullopt;
     },
     .show = [](const serve_config& c) -> std::string {
       switch (c.gateway.channels.from_clients) {
         case auth::client_broadcasts::off: return "\"off\"";
         case auth::client_broadcasts::public_only: return "\"public\"";
         case auth::client_broadcasts::all: return "\"all\"";
       }
       return "";
     }},
    // [channels]
    {.section = "channels",
     .name = "private_only",
     .type = key_type::boolean,
     .env = "RTCACHE_PRIVATE_ONLY",
     .doc = "true: Supabase's \"Allow public access\" off (public non-contract channels refused)",
     .field = +[](serve_config& c) -> bool& { return c.gateway.channels.private_only; }},
    {.section = "channels",
     .name = "private",
     .type = key_type::list,
     .doc = "private channel rules `[[channels.private]]` (\"Private channels\"); none: only service_role",
     .values = "array of `{topic, roles, claims?, actions?}`",
     .show = none,
     .read_toml = [](key_reader& rd, const toml::node& n, const std::string& path,
                     serve_config& c) { read_private_rules(rd, n, path, c.gateway.channels.private_rules); }},
    // [metrics]
    {.section = "metrics",
     .name = "bearer_token",
     .type = key_type::text,
     .env = "RTCACHE_METRICS_TOKEN",
     .doc = "GET /metrics then needs `Authorization: Bearer <token>` (at least 16 bytes); prefer the variable",
     .field = +[](serve_config& c) -> std::string& { return c.gateway.metrics.bearer_token; }},
    {.section = "metrics",
     .name = "listen",
     .type = key_type::listen,
     .env = "RTCACHE_METRICS_LISTEN",
     .doc = "serve /metrics (and /healthz, /readyz) here and not on the main port",
     .values = "`\"host:port\"`",
     .set = [](serve_config& c, const key_value& v) { return set_listen(c.gateway.metrics.listen, v); },
     .show = [](const serve_config& c) { return show_listen(c.gateway.metrics.listen); }},
    // [tls]
    {.section = "tls",
     .name = "cert_file",
     .type = key_type::file,
     .env = "RTCACHE_TLS_CERT_FILE",
     .doc = "PEM certificate chain of the `wss://` listener, the server's certificate first",
     .field = +[](serve_config& c) -> std::string& { return c.gateway.tls.cert_file; }},
    {.section = "tls",
     .name = "key_file",
     .type = key_type::file,
     .env = "RTCACHE_TLS_KEY_FILE",
     .doc = "PEM private key, unencrypted",
     .field = +[](serve_config& c) -> std::string& { return c.gateway.tls.key_file; }},
    {.section = "tls",
     .name = "listen",
     .type = key_type::listen,
     .env = "RTCACHE_TLS_LISTEN",
     .doc = "the `wss://` listener: every endpoint of the main port, over TLS (with `cert_file` and `key_file`)",
     .values = "`\"host:port\"`",
     .set = [](serve_config& c, const key_value& v) { return set_listen(c.gateway.tls.listen, v); },
     .show = [](const serve_config& c) { return show_listen(c.gateway.tls.listen); }},
    // [postgres]
    {.section = "postgres",
     .name = "conninfo",
     .type = key_type::text,
     .env = "RTCACHE_PG_CONNINFO",
     .doc = "libpq conninfo of the PostgreSQL source (the section or the variable turns the source on); prefer "
            "the variable",
     .set = [](serve_config& c, const key_value& v) -> std::optional<std::string> {
       c.postgres.conninfo = std::get<std::string>(v);
       c.postgres.enabled = true;
       return std::nullopt;
     },
     .show = none},
    {.section = "postgres",
     .name = "slot",
     .type = key_type::text,
     .doc = "permanent logical replication slot",
     .field = +[](serve_config& c) -> std::string& { return c.postgres.slot; }},
    {.section = "postgres",
     .name = "publication",
     .type = key_type::text,
     .doc = "the publication the slot streams",
     .field = +[](serve_config& c) -> std::string& { return c.postgres.publication; }},
    {.section = "postgres",
     .name = "create_slot",
     .type = key_type::boolean,
     .doc = "create the slot when missing",
     .field = +[](serve_config& c) -> bool& { return c.postgres.create_slot; }},
    {.section = "postgres",
     .name = "create_publication",
     .type = key_type::boolean,
     .doc = "create the publication (`FOR TABLE` the configured tables) when missing",
     .field = +[](serve_config& c) -> bool& { return c.postgres.create_publication; }},
    {.section = "postgres",
     .name = "status_interval_ms",
     .type = key_type::integer,
     .min = 1,
     .max = k_max_ms,
     .doc = "standby status updates at least this often",
     .field = +[](serve_config& c) -> std::chrono::milliseconds& { return c.postgres.status_interval; }},
    {.section = "postgres",
     .name = "wal_sender_timeout_ms",
     .type = key_type::integer,
     .min = 0,
     .max = k_max_ms,
     .doc = "this connection's wal_sender_timeout: a frozen reader loses the slot after it; 0: the server's, "
            "else at least 1000 (status updates go every third of it)",
     // 0 leaves the server's setting; otherwise at least a second: the reader answers every third of it.
     .set = [](serve_config& c, const key_value& v) -> std::optional<std::string> {
       const auto ms = std::get<std::int64_t>(v);
       if (ms != 0 && ms < 1000) return "must be 0 (the server's setting) or at least 1000";
       c.postgres.wal_sender_timeout = std::chrono::milliseconds(ms);
       return std::nullopt;
     },
     .show = [](const serve_config& c) { return std::to_string(c.postgres.wal_sender_timeout.count()); }},
    {.section = "postgres",
     .name = "standby_retry_ms",
     .type = key_type::integer,
     .min = 1,
     .max = k_max_ms,
     .doc = "while another process holds the slot, look again this often (jittered x0.5-1.5)",
     .field = +[](serve_config& c) -> std::chrono::milliseconds& { return c.postgres.standby_retry; }},
    {.section = "postgres",
     .name = "max_unconfirmed_messages",
     .type = key_type::integer,
     .min = 1,
     .max = static_cast<double>(std::int64_t{1} << 30),
     .doc = "stop reading while this many routed messages are not durable in the sink",
     .field = +[](serve_config& c) -> std::size_t& { return c.postgres.max_unconfirmed_messages; }},
    {.section = "postgres",
     .name = "publish_stall_ms",
     .type = key_type::integer,
     .min = 1,
     .max = k_max_ms,
     .doc = "give up the slot when the sink made nothing durable for this long",
     .field = +[](serve_config& c) -> std::chrono::milliseconds& { return c.postgres.publish_stall; }},
    // [cluster]
    {.section = "cluster",
     .name = "nats_urls",
     .type = key_type::list,
     .env = "RTCACHE_CLUSTER_NATS_URLS",
     .doc = "the NATS servers (JetStream) of the cluster (docs/cluster.md); the section or the variable "
            "(comma-separated, **replaces** the file's list) turns clustering on",
     .values = "array of `\"nats://host:port\"` or `\"tls://host:port\"`",
     .show = none,
     .read_toml = read_nats_urls,
     .read_env = read_nats_urls_env},
    {.section = "cluster",
     .name = "stream",
     .type = key_type::text,
     .env = "RTCACHE_CLUSTER_STREAM",
     .doc = "the JetStream stream every node shares (1-64 of `A-Z a-z 0-9 _ -`); its subjects are `<stream>.>`",
     .field = +[](serve_config& c) -> std::string& { return c.cluster.stream.name; }},
    {.section = "cluster",
     .name = "node_id",
     .type = key_type::text,
     .env = "RTCACHE_CLUSTER_NODE_ID",
     .doc = "this node's name in the cluster and its NATS connection name; give it per node through the variable "
            "(the nodes share the file); required when the listener's port is 0",
     .field = +[](serve_config& c) -> std::optional<std::string>& { return c.cluster.node_id; },
     .show = [](const serve_config& /*c*/) -> std::string { return "the host name and listener port (`host:4000`)"; }},
    {.section = "cluster",
     .name = "secret_file",
     .type = key_type::file,
     .env = "RTCACHE_CLUSTER_SECRET_FILE",
     .doc = "file holding the cluster secret (the key epochs are derived from; the same on every node), at least "
            "32 bytes, one trailing newline dropped; or `RTCACHE_CLUSTER_SECRET`",
     .set = [](serve_config& c, const key_value& v) -> std::optional<std::string> {
       const auto& file = std::get<std::string>(v);
       auto text = read_text_file(file);
       if (!text) return "cannot read '" + file + "'";
       c.cluster.secret = without_final_newline(std::move(*text));
       c.cluster.secret_where = "cluster.secret_file";
       return std::nullopt;
     },
     .show = none},
    {.section = "cluster",
     .name = "secret",
     .type = key_type::list,
     .env = "RTCACHE_CLUSTER_SECRET",
     .doc = "the cluster secret itself, from the environment only (never in the file); wins over `secret_file`",
     .values = "string (variable only)",
     .show = none,
     .read_toml =
         [](key_reader& rd, const toml::node& n, const std::string& path, serve_config& /*c*/) {
           rd.problem(n, path,
                      "the cluster secret is not read from the file: give secret_file (a file holding it) or "
                      "RTCACHE_CLUSTER_SECRET");
         },
     .read_env =
         [](key_reader& /*rd*/, std::string_view text, const std::string& where, serve_config& c) {
           c.cluster.secret = std::string(text);
           c.cluster.secret_where = where;
         }},
    {.section = "cluster",
     .name = "max_age_s",
     .type = key_type::integer,
     .min = 0,
     .max = 10.0 * 365 * 86'400,
     .env = "RTCACHE_CLUSTER_MAX_AGE_S",
     .doc = "the stream keeps messages this long (resumes older than this refetch); 0: no age limit",
     .field = +[](serve_config& c) -> std::chrono::seconds& { return c.cluster.stream.max_age; }},
    {.section = "cluster",
     .name = "max_bytes",
     .type = key_type::integer,
     .min = -1,
     .max = static_cast<double>(std::int64_t{1} << 50),
     .env = "RTCACHE_CLUSTER_MAX_BYTES",
     .doc = "the stream's size bound (reserved against the server's `max_file_store`); -1: none",
     .set = [](serve_config& c, const key_value& v) -> std::optional<std::string> {
       c.cluster.stream.max_bytes = std::get<std::int64_t>(v);
       return std::nullopt;
     },
     .show = [](const serve_config& c) { return std::to_string(c.cluster.stream.max_bytes); }},
    {.section = "cluster",
     .name = "duplicate_window_s",
     .type = key_type::integer,
     .min = 1,
     .max = 7.0 * 86'400,
     .env = "RTCACHE_CLUSTER_DUPLICATE_WINDOW_S",
     .doc = "a republished message id within this window is stored once (docs/cluster.md, (b)); at most `max_age_s`",
     .set = [](serve_config& c, const key_value& v) -> std::optional<std::string> {
       c.cluster.stream.duplicate_window = std::chrono::seconds(std::get<std::int64_t>(v));
       return std::nullopt;
     },
     .show =
         [](const serve_config& c) {
           return std::to_string(
               std::chrono::duration_cast<std::chrono::seconds>(c.cluster.stream.duplicate_window).count());
         }},
    {.section = "cluster",
     .name = "replicas",
     .type = key_type::integer,
     .min = 1,
     .max = 5,
     .env = "RTCACHE_CLUSTER_REPLICAS",
     .doc = "copies of each message: 1 on one nats-server, 3 on a three-server NATS cluster",
     .set = [](serve_config& c, const key_value& v) -> std::optional<std::string> {
       c.cluster.stream.replicas = static_cast<int>(std::get<std::int64_t>(v));
       return std::nullopt;
     },
     .show = [](const serve_config& c) { return std::to_string(c.cluster.stream.replicas); }},
    {.section = "cluster",
     .name = "max_channels",
     .type = key_type::integer,
     .min = 1,
     .max = 100'000'000,
     .env = "RTCACHE_CLUSTER_MAX_CHANNELS",
     .doc = "channels a node keeps positions of in memory (and, as the writer, partition counters of); beyond, the "
            "least recently used is forgotten and looked up in the stream when next needed (docs/cluster.md, (h))",
     .field = +[](serve_config& c) -> std::size_t& { return c.cluster.max_channels; }},
    {.section = "cluster",
     .name = "blocking_threads",
     .type = key_type::integer,
     .min = 1,
     .max = 1024,
     .env = "RTCACHE_CLUSTER_BLOCKING_THREADS",
     .doc = "a node's threads for the calls that may wait on NATS (a join that resumes by a range fetch, relay "
            "ingest waiting for its acknowledgement), so that no io thread waits on NATS (docs/cluster.md)",
     .field = +[](serve_config& c) -> std::size_t& { return c.cluster.blocking_threads; }},
    {.section = "cluster",
     .name = "max_blocking_calls",
     .type = key_type::integer,
     .min = 1,
     .max = 1'000'000,
     .env = "RTCACHE_CLUSTER_MAX_BLOCKING_CALLS",
     .doc = "such calls admitted at once (running or waiting for a thread); beyond, a join is refused busy (the "
            "client retries) and relay ingest answered 503",
     .field = +[](serve_config& c) -> std::size_t& { return c.cluster.max_blocking_calls; }},
    {.section = "cluster",
     .name = "connect_timeout_ms",
     .type = key_type::integer,
     .min = 1,
     .max = 60'000,
     .env = "RTCACHE_CLUSTER_CONNECT_TIMEOUT_MS",
     .doc = "one connection attempt to one NATS server",
     .field = +[](serve_config& c) -> std::chrono::milliseconds& { return c.cluster.nats.connect_timeout; }},
    {.section = "cluster",
     .name = "credentials_file",
     .type = key_type::file,
     .env = "RTCACHE_CLUSTER_CREDENTIALS_FILE",
     .doc = "NATS `.creds` file (user JWT and nkey seed); one kind of credentials at most",
     .field = +[](serve_config& c) -> std::string& { return c.cluster.nats.credentials_file; }},
    {.section = "cluster",
     .name = "nkey",
     .type = key_type::text,
     .env = "RTCACHE_CLUSTER_NKEY",
     .doc = "the user's public nkey (`U...`), with `nkey_seed_file`",
     .field = +[](serve_config& c) -> std::string& { return c.cluster.nats.nkey; }},
    {.section = "cluster",
     .name = "nkey_seed_file",
     .type = key_type::file,
     .env = "RTCACHE_CLUSTER_NKEY_SEED_FILE",
     .doc = "file holding the nkey's seed, which signs the server's nonce",
     .field = +[](serve_config& c) -> std::string& { return c.cluster.nats.nkey_seed_file; }},
    {.section = "cluster",
     .name = "user",
     .type = key_type::text,
     .env = "RTCACHE_CLUSTER_USER",
     .doc = "NATS user, with `password`",
     .field = +[](serve_config& c) -> std::string& { return c.cluster.nats.user; }},
    {.section = "cluster",
     .name = "password",
     .type = key_type::text,
     .env = "RTCACHE_CLUSTER_PASSWORD",
     .doc = "NATS password; prefer the variable",
     .field = +[](serve_config& c) -> std::string& { return c.cluster.nats.password; }},
    {.section = "cluster",
     .name = "token",
     .type = key_type::text,
     .env = "RTCACHE_CLUSTER_TOKEN",
     .doc = "NATS token; prefer the variable",
     .field = +[](serve_config& c) -> std::string& { return c.cluster.nats.token; }},
    {.section = "cluster",
     .name = "tls_required",
     .type = key_type::boolean,
     .env = "RTCACHE_CLUSTER_TLS_REQUIRED",
     .doc = "refuse a NATS server that does not speak TLS (implied by `tls://` URLs and the TLS files)",
     .field = +[](serve_config& c) -> bool& { return c.cluster.nats.tls.required; }},
    {.section = "cluster",
     .name = "tls_ca_file",
     .type = key_type::file,
     .env = "RTCACHE_CLUSTER_TLS_CA_FILE",
     .doc = "PEM bundle that signs the NATS servers' certificates; none: the system trust store",
     .field = +[](serve_config& c) -> std::string& { return c.cluster.nats.tls.ca_file; }},
    {.section = "cluster",
     .name = "tls_cert_file",
     .type = key_type::file,
     .env = "RTCACHE_CLUSTER_TLS_CERT_FILE",
     .doc = "client certificate (PEM) for servers that verify clients, with `tls_key_file`",
     .field = +[](serve_config& c) -> std::string& { return c.cluster.nats.tls.cert_file; }},
    {.section = "cluster",
     .name = "tls_key_file",
     .type = key_type::file,
     .env = "RTCACHE_CLUSTER_TLS_KEY_FILE",
     .doc = "the client certificate's private key (PEM)",
     .field = +[](serve_config& c) -> std::string& { return c.cluster.nats.tls.key_file; }},
    {.section = "cluster",
     .name = "tls_expected_hostname",
     .type = key_type::text,
     .env = "RTCACHE_CLUSTER_TLS_EXPECTED_HOSTNAME",
     .doc = "the name to verify in the servers' certificates when it differs from the URLs' host",
     .field = +[](serve_config& c) -> std::string& { return c.cluster.nats.tls.expected_hostname; }},
};

}  // namespace

std::span<const config_key> config_keys() {
  return k_keys;
}

std::vector<std::string_view> config_sections() {
  std::vector<std::string_view> out;
  for (const auto& k : k_keys) {
    if (out.empty() || out.back() != k.section) out.push_back(k.section);
  }
  return out;
}

std::string default_of(const config_key& key) {
  serve_config defaults;
  if (key.show != nullptr) return key.show(defaults);
  return std::visit(
      [&](auto field) -> std::string {
        if constexpr (std::is_same_v<decltype(field), std::monostate>) {
          return "none";
        } else {
          const auto& v = field(defaults);
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            return v.empty() ? "none" : "\"" + v + "\"";
          } else if constexpr (std::is_same_v<T, std::optional<std::string>>) {
            return v ? "\"" + *v + "\"" : "none";
          } else if constexpr (std::is_same_v<T, bool>) {
            return v ? "true" : "false";
          } else if constexpr (std::is_same_v<T, double>) {
            std::ostringstream s;
            s << v;
            return s.str();
          } else if constexpr (std::is_same_v<T, std::size_t>) {
            return std::to_string(v);
          } else {
            return std::to_string(v.count());
          }
        }
      },
      key.field);
}

}  // namespace rtcache::gateway::detail
