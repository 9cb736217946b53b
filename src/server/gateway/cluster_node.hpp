// A cluster node (docs/cluster.md, "serve with [cluster]"): the gateway's serving_node when the config has a
// [cluster] section. It connects to NATS, ensures the stream, and applies it to the node's hub on a thread of its
// own (cluster::applier), so every node holds the same positions. Joins go through the applier (a view at the
// position the node's book names, positions derived from the stream), and only while the node is ready: connected
// to NATS and caught up with the stream since it started or last reconnected. Relay ingest is refused here: what a
// node published into its own hub alone would reach no other node and count offsets no other node counts.
#pragma once

#include "cluster/applier.hpp"
#include "cluster/connection.hpp"
#include "cluster/settings.hpp"
#include "gateway/metrics.hpp"
#include "gateway/serving_node.hpp"
#include "rtcache/core/doc_types.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace rtcache::gateway {

struct cluster_node_settings {
  cluster::nats_settings nats;      // nats_settings_of(config)
  cluster::stream_settings stream;  // stream_settings_of(config): ensured at start
  std::string node_id;              // node_id_of(config)
  std::string secret;               // [cluster] secret: the key epochs are derived from
  core::doc_type_registry types = core::doc_type_registry::defaults();
  // How long the applying thread waits for a message before it looks at the stream, at a reconnect and at stop().
  std::chrono::milliseconds idle_poll{200};
  // Where the node reports (one line each): connection events, the applier's refusals and losses. Empty: nowhere.
  std::function<void(std::string_view event, std::string_view detail)> log;
};

// Thread-safety: serving_node's members and the observers may be called from any thread; start() and stop() from
// the thread that owns the node.
class cluster_node final : public serving_node {
 public:
  // Connects (nats.c reconnects by itself afterwards), ensures the stream and starts applying it from its first
  // message. Errors: cluster::errc::connect_failed, stream_conflict, ... (the message says what). Throws
  // std::invalid_argument for a secret the epoch deriver refuses (a start-up error; validate() refuses it first).
  // REQUIRES: `target` outlives the node.
  static cluster::result<std::unique_ptr<cluster_node>> start(hub::hub& target, cluster_node_settings settings);
  ~cluster_node() override;  // stop()
  cluster_node(const cluster_node&) = delete;
  cluster_node& operator=(const cluster_node&) = delete;

  // Stops applying (the thread ends within idle_poll) and closes the connection's use by the applier. Idempotent.
  void stop();

  // "cut from NATS (reconnecting)", or "catching up with stream S: applied through N of M"; nullopt once the
  // applier caught up after the start or the last reconnect while connected.
  std::optional<std::string> not_ready() const override;
  // applier::join (the gateway asked not_ready() first).
  core::result<hub::hub_join> join(std::string_view channel, const core::factory_scope& view,
                                   std::shared_ptr<hub::hub_subscriber> subscriber,
                                   const std::optional<hub::hub_position>& resume) override;
  // Always a reason: relay ingest through the stream is still to be built (docs/cluster.md).
  std::optional<std::string> ingest_refused() const override;

  // The node's metrics (/metrics, docs/cluster.md "Metrics"): readiness, the applier's position, lag and counters,
  // the last catch-up time. The writer fields are left for the caller (main: the node's reader_sink). Any thread;
  // reads atomics and the applier's stats (its lock, held only while one message is applied).
  cluster_status status() const;

  const cluster::applier& applier() const noexcept { return *applier_; }
  // The node's NATS connection, shared with the node's writer when its PostgreSQL source reads (reader_sink).
  const cluster::connection& connection() const noexcept { return *conn_; }
  const std::string& stream() const noexcept { return settings_.stream.name; }

 private:
  struct link;  // what the connection's event handler shares with the node (it is called on nats.c's thread)
  cluster_node(cluster_node_settings settings, std::shared_ptr<link> l);
  void run();   // the applying thread
  void sync();  // the applying thread: after the start or a reconnect, the stream's last sequence to catch up to

  cluster_node_settings settings_;
  std::shared_ptr<link> link_;
  std::unique_ptr<cluster::connection> conn_;
  std::unique_ptr<cluster::applier> applier_;
  // The applying thread's: the stream's last sequence when it (re)connected; caught up once applied through it,
  // or once a poll finds nothing more to deliver.
  std::uint64_t target_ = 0;
  std::atomic<std::uint64_t> target_seen_{0};  // target_, for not_ready()'s reason
  std::atomic<std::int64_t> catch_up_ns_{0};   // the last catch-up's duration (from link::since)
  std::atomic<std::uint64_t> catch_ups_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace rtcache::gateway
