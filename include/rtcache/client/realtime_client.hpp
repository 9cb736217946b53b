// The SDK's transport: runs a sync_engine over one WebSocket (Boost.Beast, ws://) on an io_context. It owns the
// socket, the single timer (armed at the engine's next wake-up) and a bounded write queue with one write in
// flight; every decision (when to connect, heartbeat, join, refetch) is the engine's.
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
#include <memory>
#include <string>
#include <string_view>

namespace rtcache::client {

// The steady clock as a core::clock, for production use of query_cache and sync_engine.
class steady_clock final : public core::clock {
 public:
  core::time_point now() const override { return std::chrono::steady_clock::now(); }
};

// Where the server is: ws://host[:port][/path]. The path defaults to /realtime/v1/websocket.
struct server_url {
  std::string host;
  std::string port = "80";
  std::string path = "/realtime/v1/websocket";
};
// Errors: bad_prefix (not ws://; wss:// is not supported yet), empty_segment (no host), bad_value (bad port).
core::result<server_url> parse_server_url(std::string_view url);

struct realtime_options {
  server_url server;
  std::string access_token;  // sent as the URL's apikey (unless api_key is set) and in every join
  std::string api_key;       // the URL's apikey when it differs from the user token (e.g. an anon key)
  core::doc_type_registry types = core::doc_type_registry::defaults();
  core::factory_scope scope = core::factory_scope::unscoped();
  engine_config engine{};
  std::size_t max_send_queue_bytes = 1 << 20;        // beyond: the connection is dropped and re-established
  std::chrono::milliseconds connect_timeout{10000};  // resolve + connect + upgrade
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
  sync_engine& engine() noexcept;
  const sync_engine& engine() const noexcept;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace rtcache::client
