// The SDK's transport: runs a sync_engine over one WebSocket (Boost.Beast; ws://, or wss:// over OpenSSL) on an
// io_context. It owns the socket, the single timer (armed at the engine's next wake-up) and a bounded write queue
// with one write in flight; every decision (when to connect, heartbeat, join, refetch) is the engine's.
#pragma once

#include "rtcache/client/query_cache.hpp"
#include "rtcache/client/sync_engine.hpp"
#include "rtcache/core/clock.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/factory_scope.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace rtcache::client {

// The steady clock as a core::clock, for production use of query_cache and sync_engine.
class steady_clock final : public core::clock {
 public:
  core::time_point now() const override { return std::chrono::steady_clock::now(); }
};

// Where the server is: ws://host[:port][/path][?query] or wss://... The port defaults to 80 (ws) or 443 (wss),
// the path to /realtime/v1/websocket. The query's parameters are sent as given, except `vsn` (always 2.0.0);
// an `apikey` in it is used instead of realtime_options' (a Supabase URL carries the project's anon key).
struct server_url {
  bool tls = false;  // wss://
  std::string host;
  std::string port = "80";
  std::string path = "/realtime/v1/websocket";
  std::string query;  // without the '?'
};
// Errors: bad_prefix (neither ws:// nor wss://), empty_segment (no host), bad_value (bad port).
core::result<server_url> parse_server_url(std::string_view url);

// Certificate verification of wss:// connections. It is always on: the server's chain must lead to a trusted
// CA and its certificate must name the URL's host (DNS name, or IP address for an IP literal); the host is also
// sent as SNI. Trusted CAs: the system store (OpenSSL's default paths, which honour SSL_CERT_FILE and
// SSL_CERT_DIR) unless ca_file or ca_pem is given; then only those.
struct tls_options {
  std::string ca_file;  // PEM file of trusted CA certificates
  std::string ca_pem;   // PEM text of trusted CA certificates (beside or instead of ca_file)
};

// Why the last connection attempt failed, or the last connection ended.
struct transport_error {
  std::string stage;    // "tls_setup", "resolve", "connect", "tls_handshake", "ws_handshake", "read", "write"
  std::string message;  // e.g. "certificate verify failed (SSL routines): unable to get local issuer certificate"
};

struct realtime_options {
  server_url server;
  std::string access_token;  // sent as the URL's apikey (unless api_key is set) and in every join
  std::string api_key;       // the URL's apikey when it differs from the user token (e.g. an anon key)
  core::doc_type_registry types = core::doc_type_registry::defaults();
  core::factory_scope scope = core::factory_scope::unscoped();
  engine_config engine{};
  std::size_t max_send_queue_bytes = 1 << 20;        // beyond: the connection is dropped and re-established
  std::chrono::milliseconds connect_timeout{10000};  // resolve + connect + TLS handshake + upgrade
  tls_options tls{};                                 // wss:// only
};

// Thread-safety: not thread-safe. Construct it, call it and destroy it (and its live_views) on the thread that
// runs `ioc`, or before that thread starts; the io_context must be run by exactly one thread. The cache and
// `clock` are used from that thread only and must outlive the client.
class realtime_client {
 public:
  realtime_client(boost::asio::io_context& ioc, const core::clock& clock, query_cache& cache, realtime_options options);
  ~realtime_client();  // closes the socket; pending handlers become no-ops
  realtime_client(const realtime_client&) = delete;
  realtime_client& operator=(const realtime_client&) = delete;

  // Connects (and keeps reconnecting with back-off) until stop().
  void start();
  // Leaves every channel, closes the socket, stops reconnecting.
  void stop();

  core::result<live_view> watch_doc(std::string type, std::string id, std::string factory_id, query_listener listener = {});
  core::result<live_view> watch_list(std::string type, std::string factory_id, std::uint32_t page = 1,
                                     query_listener listener = {});
  void set_access_token(std::string token);
  void set_scope(core::factory_scope scope);
  void flush();  // plan pending events now (the app became visible, or before a route change)

  // Connected and upgraded right now.
  bool connected() const noexcept;
  // The last transport failure (the session reconnects by itself; this says why it had to), and a listener
  // called with each one. A CA that cannot be loaded fails every wss:// attempt with stage "tls_setup".
  std::optional<transport_error> last_error() const;
  void set_error_listener(std::function<void(const transport_error&)> listener);
  sync_engine& engine() noexcept;
  const sync_engine& engine() const noexcept;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace rtcache::client
