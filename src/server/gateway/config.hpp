// What `rtcache serve` is configured with: listen address, limits and timeouts of the gateway, the hub's
// history bounds and linger, the auth settings (HS256 secret, RS256/ES256 public keys, a JWKS, Supabase API
// keys), the doc types, the table mapping (the same file may hold mapping_config.hpp's `doc_types`, [routing]
// and [tables."s.t"]) and the PostgreSQL source settings. Read from an optional TOML file, then overridden by RTCACHE_*
// environment variables (docs/operations.md lists both). Config is the one place that may fail loudly: every
// problem is reported, with its file position when it has one.
#pragma once

#include "auth/auth.hpp"
#include "auth/channel_access.hpp"
#include "cluster/settings.hpp"
#include "cluster/writer.hpp"
#include "gateway/jwks_fetcher.hpp"
#include "gateway/log.hpp"
#include "hub/hub.hpp"
#include "ingest/rate_limit.hpp"
#include "routing/mapping_config.hpp"
#include "rtcache/core/config_problem.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::gateway {

// Per-connection and per-server bounds. Each has a stated overflow behaviour (docs/operations.md).
struct gateway_limits {
  std::size_t max_connections = 10000;                 // open WebSockets; beyond: upgrade refused 429
  std::size_t max_channels_per_connection = 100;       // joined topics; beyond: join refused
  double joins_per_second = 10;                        // token bucket per connection; beyond: join refused
  double join_burst = 20;                              // bucket capacity
  std::size_t max_frame_bytes = 1 << 20;               // inbound WebSocket message; beyond: close 1009
  std::size_t max_send_queue_bytes = 4 << 20;          // per connection; beyond: close 4008
  std::size_t max_http_body_bytes = 4 << 20;           // POST bodies; beyond: 413
  std::chrono::milliseconds handshake_timeout{10000};  // HTTP request / upgrade / close handshake
  std::chrono::milliseconds idle_timeout{60000};       // nothing received for this long: socket dropped
  std::chrono::milliseconds close_timeout{5000};       // a started close not finished by then: socket dropped
  std::chrono::milliseconds drain_timeout{10000};      // graceful shutdown bound
  // Open WebSockets per client address (IPv4: the address; IPv6: its /64); beyond: upgrade refused 429.
  // 0: no bound (behind a proxy that terminates TCP every client shares its address: bound at the proxy).
  std::size_t max_connections_per_ip = 256;
  // How often the idle, token-expiry and close deadlines are checked: each fires up to this late, never early.
  std::chrono::milliseconds deadline_tick{50};
  // Client broadcasts per connection (not service_role): messages/s and bytes/s token buckets. Beyond: the
  // broadcast is dropped and its channel closed with a system error "Too many messages per second" then
  // phx_close, as Supabase does; a payload over client_broadcasts.byte_burst is refused on its own.
  ingest::broadcast_rate client_broadcasts;
};

inline constexpr std::size_t k_min_metrics_token_length = 16;

// /metrics ([metrics]): who may scrape it, and where.
struct metrics_settings {
  // Non-empty: GET /metrics needs "Authorization: Bearer <token>" (compared in constant time); 401 otherwise.
  std::string bearer_token;
  // Set: /metrics (with /healthz and /readyz) is served on this address instead of the main port, which then
  // answers /metrics with 404.
  std::optional<std::pair<std::string, std::uint16_t>> listen;
};

// wss:// ([tls]): the certificate and key the TLS listener serves, and where it listens. cert_file, key_file and
// listen are given together or not at all. SIGHUP re-reads both files for new connections (gateway::reload_tls).
struct tls_settings {
  std::string cert_file;                                        // PEM certificate chain, the server's certificate first
  std::string key_file;                                         // PEM private key (unencrypted)
  std::optional<std::pair<std::string, std::uint16_t>> listen;  // the wss:// listener; set: TLS on
  bool enabled() const noexcept { return listen.has_value(); }
};

struct gateway_config {
  std::string listen_address = "127.0.0.1";
  std::uint16_t port = 4000;  // 0: an ephemeral port (tests)
  // false ([server] listen = "off", RTCACHE_LISTEN=off): no plain ws:// listener; requires tls.
  bool plain_listener = true;
  std::size_t threads = 0;  // io_context threads; 0: one per core
  gateway_limits limits;
  // The configured tables, for postgres_changes joins: which tables a binding may name (unconfigured
  // concrete tables are refused) and which per-table channels a wildcard binding expands to. Null: none.
  std::shared_ptr<const routing::mapping_config> mapping;
  // How often the gateway calls hub::sweep() to free idle channels past their linger.
  std::chrono::milliseconds sweep_interval{1000};
  // Private channels, public access and client broadcasts ([channels], [broadcast]; channel_access.hpp).
  // REQUIRES: channel_access::create accepts it (validate() reports it otherwise).
  auth::channel_policy channels;
  metrics_settings metrics;
  tls_settings tls;
};

// One RS256 / ES256 public key: [auth] jwt_public_keys = [{alg = "RS256", kid = "k1", pem_file = "k1.pem"}].
// pem_file is read when the config is loaded (relative to the config file's directory) into `pem`.
struct public_key_setting {
  std::string alg;    // "RS256" or "ES256"
  std::string kid;    // empty: the default key of its alg (auth.hpp: verification_key)
  std::string pem;    // SubjectPublicKeyInfo PEM text
  std::string where;  // where it was configured, for problems ("rtcache.toml:7:3 auth.jwt_public_keys[0]")
};

// One Supabase API key: [auth] publishable_keys = ["sb_publishable_..."] or RTCACHE_SECRET_KEYS=sb_secret_...
struct api_key_setting {
  std::string key;
  std::string where;  // "rtcache.toml:9:20 auth.publishable_keys[0]" or "env RTCACHE_SECRET_KEYS[1]"; never the key
};

struct auth_settings {
  std::string jwt_secret;  // HS256 secret, >= 32 bytes; one JWT key source (this, public keys or a JWKS) is required
  std::vector<public_key_setting> public_keys;
  std::optional<std::string> audience;  // required `aud` when set
  std::string scope_claim = "app_metadata.factory_ids";
  std::chrono::seconds leeway{30};
  // Supabase API keys (auth.hpp: api_key_set). The environment's list replaces the file's.
  std::vector<api_key_setting> publishable_keys;  // role anon
  std::vector<api_key_setting> secret_keys;       // role service_role
  // A JWKS of RS256/ES256 keys (jwks.hpp), from a URL or a file (resolved against the config file's directory);
  // at most one of them.
  std::string jwks_url;
  std::string jwks_file;
  std::chrono::seconds jwks_refresh{600};     // jwks_cache_config::refresh
  std::chrono::seconds jwks_min_refetch{30};  // jwks_cache_config::min_refetch
  std::chrono::milliseconds jwks_timeout{5000};
  std::string jwks_ca_file;  // empty: the system trust store
};

// The verifier the settings describe: the HS256 secret (if set), every public key, the API keys, and
// `dynamic_keys` (the JWKS cache; required when the settings name a JWKS). Errors: a key that does not load
// (bad_key: wrong alg name, bad PEM, short secret, a malformed API key), or the keyset as a whole (bad_config).
auth::auth_result<auth::jwt_verifier> make_verifier(const auth_settings& settings,
                                                    std::shared_ptr<auth::key_source> dynamic_keys = nullptr);

// Where the settings' JWKS comes from, or nullopt when they name none. REQUIRES: validate() found no problem.
std::optional<jwks_source> jwks_source_of(const auth_settings& settings);
auth::jwks_cache_config jwks_cache_config_of(const auth_settings& settings);
jwks_fetch_options jwks_fetch_options_of(const auth_settings& settings);

// The PostgreSQL change source ([postgres]); stored as plain values for the source (include/rtcache/pg).
// RTCACHE_PG_CONNINFO overrides conninfo. `enabled` is true when the file has a [postgres] section or the
// variable is set: serve then runs the source instead of relay mode alone.
struct postgres_settings {
  bool enabled = false;
  std::string conninfo;
  std::string slot = "rtcache";
  std::string publication = "rtcache";
  bool create_slot = true;
  bool create_publication = true;
  std::chrono::milliseconds status_interval{1000};
  // One reader per slot and durable confirm (issue 13; docs/pg-source.md): the reader's own wal_sender_timeout
  // (0: the server's), how often a standby looks at the slot, the backlog bound and the stall bound.
  std::chrono::milliseconds wal_sender_timeout{3000};
  std::chrono::milliseconds standby_retry{250};
  std::size_t max_unconfirmed_messages = 16384;
  std::chrono::milliseconds publish_stall{10000};
};

// The cluster on NATS JetStream ([cluster]; docs/cluster.md). `enabled` is true when the file has a [cluster]
// section or RTCACHE_CLUSTER_NATS_URLS is set. Every node of a cluster reads the same file; what differs per
// node (node_id, the listener) comes from the environment or the default. The NATS layer's own checks
// (cluster::validate) judge `nats` and `stream`; validate() reports them under the config keys.
struct cluster_settings {
  bool enabled = false;
  // urls, credentials, TLS and connect_timeout from the keys; `name` is filled from the node id (nats_settings_of).
  cluster::nats_settings nats;
  // name from `stream`; subjects "<stream>.>" (stream_settings_of).
  cluster::stream_settings stream;
  // This node's name in the cluster (and its NATS connection name). Unset: host name + ":" + the listener's
  // port (node_id_of).
  std::optional<std::string> node_id;
  // The HMAC key epochs are derived from (cluster::epoch_deriver), >= cluster::k_min_secret_bytes. Read from
  // secret_file (one trailing newline dropped) or RTCACHE_CLUSTER_SECRET; never in a message or a log.
  std::string secret;
  std::string secret_where;  // where it came from, for problems: "cluster.secret_file" or "env RTCACHE_CLUSTER_SECRET"
  // Channels this node keeps in memory, as applier (its position book) and as writer (cluster::k_default_max_channels).
  std::size_t max_channels = cluster::k_default_max_channels;
  // The node's threads for calls that may wait on NATS, and the calls admitted at once
  // (gateway::cluster_node_settings).
  std::size_t blocking_threads = cluster::k_default_blocking_threads;
  std::size_t max_blocking_calls = cluster::k_default_max_blocking_calls;
};

// Everything `rtcache serve` needs in relay mode.
struct serve_config {
  gateway_config gateway;
  hub::hub_config hub;
  auth_settings auth;
  std::vector<std::string> doc_types;  // empty: the playbook's defaults
  log_level log = log_level::info;
  // The table mapping, when the file has top-level `doc_types`, [routing] or [tables.*]. Its doc types then
  // are the server's doc types too ([contract] doc_types, if also given, must list the same ones).
  std::shared_ptr<const routing::mapping_config> mapping;
  postgres_settings postgres;
  cluster_settings cluster;
};

// This node's id: [cluster] node_id, else "<host name>:<port>" with the plain listener's port (the TLS
// listener's when the plain one is off).
std::string node_id_of(const serve_config& config);
// What the NATS layer is given: the configured settings with the node id as the connection name, and the
// stream's subjects under its name.
cluster::nats_settings nats_settings_of(const serve_config& config);
cluster::stream_settings stream_settings_of(const serve_config& config);

// The writer of a node whose PostgreSQL source reads ([postgres] with [cluster]; docs/cluster.md, "serve with
// [cluster]"): the stream's name; a publisher window above what the source leaves unconfirmed (its backlog bound
// plus a batch's overshoot), so the window never fills before the source's own bound; lookups bounded below the
// reader's wal_sender_timeout (2 s, or two thirds of a shorter timeout), so a writer that cannot reach NATS fails
// rather than costing the slot to a missed keepalive.
cluster::writer_settings writer_settings_of(const serve_config& config);

struct config_load {
  serve_config config;
  std::vector<core::config_problem> problems;  // empty: usable
  bool ok() const noexcept { return problems.empty(); }
};

// Reads the environment: nullopt when a variable is unset. main() passes std::getenv; tests pass a map.
using env_lookup = std::function<std::optional<std::string>(std::string_view name)>;

// Parses TOML text into `into`, appending every problem found (in file order, each at file:line:col): the keys
// of src/server/gateway/config_keys.cpp's table (`rtcache config-keys` lists them; unknown sections and keys are
// problems), and the mapping's doc_types / [routing] / [tables] (read_mapping_config).
// `source` names the file in messages; relative file paths (pem_file, jwks_file, the TLS files) are resolved
// against `base_dir`.
void read_config_toml(std::string_view text, std::string_view source, serve_config& into,
                      std::vector<core::config_problem>& problems, const std::string& base_dir = {});

// Applies the RTCACHE_* variable of every key that has one (the same table; `rtcache config-keys` lists them)
// over `into`, with the key's type and bounds: a refused variable is a problem ("env RTCACHE_...") and leaves
// the value as it was. RTCACHE_LISTEN=off turns the plain listener off; RTCACHE_JWT_PUBLIC_KEYS
// ("ALG[:KID]=PEM_FILE,...") adds to the file's keys; RTCACHE_PUBLISHABLE_KEYS and RTCACHE_SECRET_KEYS
// (comma-separated) each replace the file's list.
void apply_env(const env_lookup& env, serve_config& into, std::vector<core::config_problem>& problems);

// Cross-field checks of a complete config: a JWT key source (a secret of at least 32 bytes, a public key, a JWKS
// URL or file), every key loadable, every API key well-formed (each problem names where the key was given,
// never the key), a JWKS URL that parse_jwks_url accepts or a JWKS file with at least one usable key (not
// both), jwks_min_refetch <= jwks_refresh, a readable jwks_ca_file, doc types valid (and equal to the
// mapping's), non-zero bounds, a conninfo when [postgres] is on, [tls] complete with files that load and a key
// that matches the certificate, and at least one listener. With [cluster]: cluster::validate's problems of the
// NATS and stream settings, each under its key ("cluster.nats_urls[1]"), readable credential and TLS files, a
// secret of at least 32 bytes, and a node id (required when the listener's port is ephemeral).
void validate(const serve_config& config, std::vector<core::config_problem>& problems);

// The whole pipeline: defaults, then the file (if `path` is set; unreadable is a problem), then the
// environment, then validate().
config_load load_config(const std::optional<std::string>& path, const env_lookup& env);

// Parses "host:port" ("127.0.0.1:4000", "[::1]:4000", "0.0.0.0:0"). Errors: bad_value.
// ([server] listen and RTCACHE_LISTEN also take "off": no plain listener.)
core::result<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view text);

}  // namespace rtcache::gateway
