// The gateway: one port serving the Supabase Realtime WebSocket protocol (Phoenix vsn 1.0.0 and 2.0.0) and the
// HTTP endpoints of relay mode, on Boost.Beast. One io_context run by N threads; every connection has its own
// strand, one write in flight and a send queue bounded in bytes. With config.tls, a second listener serves the
// same endpoints over TLS (wss://, https://); config.plain_listener = false leaves only that one.
//
// Endpoints:
//   GET  /realtime/v1/websocket, /socket/websocket   WebSocket upgrade; query apikey, vsn; header x-api-key.
//                                                     Refusals: plain HTTP, body {"error":"..."}.
//   POST /v1/events                                   service_role; contract event(s) -> 202 relay_outcome
//   POST /api/broadcast, /realtime/v1/api/broadcast   Supabase REST broadcast -> 202 relay_outcome
//   GET  /healthz, /readyz, /metrics                  /metrics: loopback peers only, unless config.metrics sets
//                                                     a bearer token or a listen address of its own
//
// WebSocket close codes sent by rtcache:
//   1001 "server shutting down"   graceful shutdown
//   1009 (Beast)                  an inbound message over limits.max_frame_bytes
//   4008 "send queue overflow"    the connection's send queue exceeded limits.max_send_queue_bytes; the client
//                                 reconnects and resumes each channel by offset
//
// postgres_changes records arrive through hub_sink (hub_sink.hpp): on contract channels attached to the channel's
// own messages, on other channels through internal per-table channels; bindings are matched per record
// (postgres_delivery.hpp) after the factory scope check. A join naming a table the mapping does not serve
// (gateway_config::mapping) is refused. Each connection closes the channels of an expired token (system error,
// then phx_close) when exp + leeway passes, from a deadline re-armed on every join and access_token push.
// Connections keep no timers of their own: their idle, token-expiry and close deadlines are hooks in one
// deadline wheel per gateway (deadline_wheel.hpp), advanced by one timer every limits.deadline_tick while any
// is linked, so each fires up to one tick late, never early.
// Idle hub channels are swept every gateway_config::sweep_interval (hub_config::linger).
//
// The join reply's response carries, besides "postgres_changes", rtcache's position of the channel:
//   "rtcache":{"epoch":"<string>","offset":<int>,"recovered":<bool>}
// realtime-js ignores it; rtcache SDKs store it and send it back as the join's resume position.
#pragma once

#include "auth/auth.hpp"
#include "gateway/config.hpp"
#include "gateway/log.hpp"
#include "gateway/metrics.hpp"
#include "gateway/serving_node.hpp"
#include "hub/hub.hpp"
#include "ingest/relay.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/error.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace rtcache::gateway {

// The wall clock used for token expiry; tests inject a fixed one.
using wall_clock_fn = std::function<std::chrono::sys_seconds()>;

// Runs `publish` with the WebSocket writes of every connection that receives deliveries on this thread held
// back until it returns, then written at once: a transaction's frames reach each connection in one write. The
// hub_sink's publish scope (ingest::publish_scope); the REST endpoints hold the same scope around a batch.
void flush_scoped(const std::function<void()>& publish);

// Thread-safety: start() and stop() may be called from any thread; everything else runs on the io_context.
// REQUIRES: `hub`, `verifier`, `log` outlive the io_context's handlers (declare them before the io_context);
// the io_context outlives the gateway's sessions (they keep the gateway's state alive on their own).
class gateway {
 public:
  gateway(boost::asio::io_context& ioc, gateway_config config, hub::hub& h, const auth::jwt_verifier& verifier,
          core::doc_type_registry types, logger& log, wall_clock_fn now = {});
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  // Binds config.listen_address:config.port (unless config.plain_listener is false), config.tls.listen (when
  // TLS is on) and config.metrics.listen (when set), and starts accepting. Returns the plain listener's bound
  // port (0 without one). Throws boost::system::system_error when binding fails, std::runtime_error when the TLS
  // certificate or key does not load (start-up boundaries).
  std::uint16_t start();
  // The bound port of config.tls.listen after start(), 0 without TLS.
  std::uint16_t tls_port() const;
  // Re-reads config.tls's certificate and key (SIGHUP). On success new TLS connections get the new context;
  // connections already open keep theirs. On failure (the error says which file and why) the gateway keeps
  // serving the previous certificate. Both are logged (tls.reloaded, tls.reload_failed). Errors also when TLS
  // is off or start() has not run. Any thread.
  core::result<void> reload_tls();
  // The bound port of config.metrics.listen after start(), 0 without one.
  std::uint16_t metrics_port() const;

  // Graceful shutdown: stops accepting, answers /readyz 503, closes every WebSocket with 1001 and every idle
  // HTTP connection. `on_drained` runs (on the io_context) once every connection is gone. Idempotent.
  void stop(std::function<void()> on_drained = {});

  // Live connections (WebSocket and HTTP).
  std::size_t sessions() const noexcept;
  // Client addresses (IPv6: /64 prefixes) holding open WebSockets, as limits.max_connections_per_ip counts them.
  std::size_t client_addresses() const noexcept;

  const gateway_metrics& metrics() const noexcept;
  // Adds the replication gauges to /metrics: `provider` is called on each scrape. Any thread; replaces any
  // earlier provider; an empty one removes the gauges.
  void set_replication_status_provider(replication_status_provider provider);
  // Adds the rtcache_cluster_* metrics to /metrics (a cluster node's): `provider` is called on each scrape. Any
  // thread; replaces any earlier provider; an empty one removes them.
  void set_cluster_status_provider(cluster_status_provider provider);
  // The node this gateway serves: joins go through it, /readyz asks it, relay ingest is published through it
  // (serving_node.hpp).
  // Without a call: the hub alone (hub_node). REQUIRES: before start(); `node` outlives the io_context's handlers.
  void set_node(serving_node& node);
  // The relay publishing into this gateway's hub (what the HTTP endpoints call).
  ingest::relay& relay() noexcept;

  struct state;  // shared by the listener and every session

 private:
  std::shared_ptr<state> state_;
};

}  // namespace rtcache::gateway
