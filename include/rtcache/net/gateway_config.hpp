// What `rtcache serve` is configured with: listen address, limits and timeouts of the gateway, the hub's
// history bounds, the JWT settings and the doc types. Read from an optional TOML file, then overridden by
// RTCACHE_* environment variables (docs/operations.md lists both). Config is the one place that may fail
// loudly: every problem is reported, with its file position when it has one.
#pragma once

#include "rtcache/net/gateway_log.hpp"
#include "rtcache/net/hub.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::net {

// Per-connection and per-server bounds. Each has a stated overflow behaviour (docs/operations.md).
struct gateway_limits {
  std::size_t max_connections = 10000;            // open WebSockets; beyond: upgrade refused 429
  std::size_t max_channels_per_connection = 100;  // joined topics; beyond: join refused
  double joins_per_second = 10;                   // token bucket per connection; beyond: join refused
  double join_burst = 20;                         // bucket capacity
  std::size_t max_frame_bytes = 1 << 20;          // inbound WebSocket message; beyond: close 1009
  std::size_t max_send_queue_bytes = 4 << 20;     // per connection; beyond: close 4008
  std::size_t max_http_body_bytes = 4 << 20;      // POST bodies; beyond: 413
  std::chrono::milliseconds handshake_timeout{10000};  // HTTP request / upgrade / close handshake
  std::chrono::milliseconds idle_timeout{60000};       // nothing received for this long: socket dropped
  std::chrono::milliseconds close_timeout{5000};       // a started close not finished by then: socket dropped
  std::chrono::milliseconds drain_timeout{10000};      // graceful shutdown bound
};

struct gateway_config {
  std::string listen_address = "127.0.0.1";
  std::uint16_t port = 4000;  // 0: an ephemeral port (tests)
  std::size_t threads = 0;    // io_context threads; 0: one per core
  gateway_limits limits;
};

struct auth_settings {
  std::string jwt_secret;                  // HS256 secret, >= 32 bytes; required
  std::optional<std::string> audience;     // required `aud` when set
  std::string scope_claim = "app_metadata.factory_ids";
  std::chrono::seconds leeway{30};
};

// Everything `rtcache serve` needs in relay mode.
struct serve_config {
  gateway_config gateway;
  hub_config hub;
  auth_settings auth;
  std::vector<std::string> doc_types;  // empty: the playbook's defaults
  log_level log = log_level::info;
};

// One problem: where ("config.toml:12:5 limits.max_frame_bytes" or "env RTCACHE_LISTEN") and what.
struct config_problem {
  std::string where;
  std::string message;
  friend bool operator==(const config_problem&, const config_problem&) = default;
};

struct config_load {
  serve_config config;
  std::vector<config_problem> problems;  // empty: usable
  bool ok() const noexcept { return problems.empty(); }
};

// Reads the environment: nullopt when a variable is unset. main() passes std::getenv; tests pass a map.
using env_lookup = std::function<std::optional<std::string>(std::string_view name)>;

// Parses TOML text (sections [server], [auth], [limits], [hub], [contract]; unknown keys are problems) into
// `into`, appending every problem found. `source` names the file in messages.
void read_config_toml(std::string_view text, std::string_view source, serve_config& into,
                      std::vector<config_problem>& problems);

// Applies RTCACHE_LISTEN, RTCACHE_THREADS, RTCACHE_LOG_LEVEL, RTCACHE_JWT_SECRET, RTCACHE_JWT_AUDIENCE,
// RTCACHE_SCOPE_CLAIM, RTCACHE_MAX_CONNECTIONS, RTCACHE_MAX_SEND_QUEUE_BYTES over `into`.
void apply_env(const env_lookup& env, serve_config& into, std::vector<config_problem>& problems);

// Cross-field checks of a complete config: a JWT secret of at least 32 bytes, doc types valid, non-zero bounds.
void validate(const serve_config& config, std::vector<config_problem>& problems);

// The whole pipeline: defaults, then the file (if `path` is set; unreadable is a problem), then the
// environment, then validate().
config_load load_config(const std::optional<std::string>& path, const env_lookup& env);

// Parses "host:port" ("127.0.0.1:4000", "[::1]:4000", "0.0.0.0:0"). Errors: bad_value.
core::result<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view text);

}  // namespace rtcache::net
