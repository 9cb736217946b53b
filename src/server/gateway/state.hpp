// Internal to the gateway: the state every session shares (config, hub, verifier, metrics, registry) and the
// session interface the registry uses for graceful shutdown.
#pragma once

#include "gateway/address_limit.hpp"
#include "gateway/gateway.hpp"
#include "protocol/frame.hpp"
#include "rtcache/sync/annotated_mutex.hpp"
#include "session_deadlines.hpp"
#include "session_logic.hpp"
#include "tls_context.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

namespace rtcache::gateway {

namespace detail {

// What the registry needs of a live connection.
class session {
 public:
  virtual ~session() = default;
  // Starts closing: WebSockets with 1001, HTTP connections at once. Any thread; work runs on the session strand.
  virtual void shutdown() = 0;
};

// While a flush_scope is alive on a thread, a WebSocket session that receives deliveries on that thread holds
// its writes back (unless a full write batch is queued) until the outermost scope ends, then writes. Publishing
// a POSTed batch inside one scope hands every connection all of the batch's frames before its next write
// starts, so they go out as one gather write (and one syscall) instead of one write per event or two. Scopes
// nest; not movable.
// Defined in websocket_session.cpp.
class flush_scope {
 public:
  flush_scope() noexcept;
  ~flush_scope();
  flush_scope(const flush_scope&) = delete;
  flush_scope& operator=(const flush_scope&) = delete;
};

}  // namespace detail

// How many client addresses' REST broadcast buckets are kept (address_rate_limits' bound).
inline constexpr std::size_t k_max_rest_broadcast_addresses = 65536;

struct gateway::state : std::enable_shared_from_this<gateway::state> {
  state(boost::asio::io_context& io, gateway_config cfg, hub::hub& h, const auth::jwt_verifier& v,
        core::doc_type_registry t, logger& l, wall_clock_fn clock);

  std::chrono::sys_seconds now() const { return wall_now(); }

  // Registry of live sessions, for shutdown and the drained callback. Any thread.
  std::uint64_t add(std::weak_ptr<detail::session> s);
  void remove(std::uint64_t id);
  std::size_t size() const;
  void stop(std::function<void()> on_drained);

  // The replication gauges' source for /metrics (gateway::set_replication_status_provider). Any thread.
  void set_replication_provider(replication_status_provider p);
  std::optional<replication_status> replication() const;
  // The cluster metrics' source for /metrics (gateway::set_cluster_status_provider). Any thread.
  void set_cluster_provider(cluster_status_provider p);
  std::optional<cluster_status> cluster() const;

  // Constant after construction.
  boost::asio::io_context& ioc;
  const gateway_config config;
  hub::hub& the_hub;
  // Joins, readiness and where relay ingest goes (gateway::set_node; before start(), constant after).
  hub_node hub_only{the_hub};
  serving_node* node = &hub_only;
  const auth::jwt_verifier& verifier;
  const core::doc_type_registry types;
  logger& log;
  const wall_clock_fn wall_now;
  const auth::channel_access access;  // config.channels, compiled
  ingest::relay relay;
  // Every WebSocket session's idle, expiry and close deadlines, on one timer (session_deadlines.hpp).
  const std::shared_ptr<detail::session_deadlines> deadlines;

  gateway_metrics metrics;
  // What every WebSocket session decides with (session_logic.hpp): references into the fields above.
  const session_env env;
  address_counter addresses;  // open WebSockets per client address (limits.max_connections_per_ip)
  // Client broadcasts that come over REST, per client address (limits.client_broadcasts, as per connection).
  ingest::address_rate_limits rest_broadcasts;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> next_connection_id{1};
  // With config.tls: the context new wss:// connections get (set by gateway::start(), swapped by reload_tls()).
  std::unique_ptr<detail::tls_context_holder> tls;

  // Used on acceptor_strand only.
  boost::asio::strand<boost::asio::io_context::executor_type> acceptor_strand;
  boost::asio::ip::tcp::acceptor acceptor;
  boost::asio::ip::tcp::acceptor metrics_acceptor;  // open only with config.metrics.listen
  boost::asio::ip::tcp::acceptor tls_acceptor;      // open only with config.tls
  boost::asio::steady_timer sweep_timer;            // drives hub::sweep() every config.sweep_interval

 private:
  mutable sync::annotated_mutex mu_;
  std::uint64_t next_session_id_ RTCACHE_GUARDED_BY(mu_) = 1;
  std::unordered_map<std::uint64_t, std::weak_ptr<detail::session>> sessions_ RTCACHE_GUARDED_BY(mu_);
  std::function<void()> on_drained_ RTCACHE_GUARDED_BY(mu_);
  replication_status_provider replication_ RTCACHE_GUARDED_BY(mu_);
  cluster_status_provider cluster_ RTCACHE_GUARDED_BY(mu_);
};

// Hands an authorised upgrade request and its TCP stream to a new WebSocket session, which accepts the upgrade.
// The caller has reserved a slot in metrics.connections and `address` (its client address's count); the
// session releases both when it ends, whichever way it ends.
// Defined in websocket_session.cpp.
void start_websocket_session(std::shared_ptr<gateway::state> gw, boost::beast::tcp_stream stream,
                             boost::beast::http::request<boost::beast::http::string_body> request,
                             protocol::protocol_version version, auth::principal who, std::string peer,
                             address_slot address);
// The same over TLS: the stream has completed its TLS handshake.
void start_websocket_session(std::shared_ptr<gateway::state> gw,
                             boost::beast::ssl_stream<boost::beast::tcp_stream> stream,
                             boost::beast::http::request<boost::beast::http::string_body> request,
                             protocol::protocol_version version, auth::principal who, std::string peer,
                             address_slot address);

}  // namespace rtcache::gateway
