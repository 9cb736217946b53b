// A cluster node (docs/cluster.md, "serve with [cluster]"): the gateway's serving_node when the config has a
// [cluster] section. It connects to NATS, ensures the stream, and applies it to the node's hub on a thread of its
// own (cluster::applier), so every node holds the same positions. Joins go through the applier (a view at the
// position the node's book names, positions derived from the stream), and only while the node is ready: connected
// to NATS and caught up with the stream since it started or last reconnected. Relay ingest (POST /v1/events, REST
// and client broadcasts) never goes into the node's hub directly (it would reach no other node and count offsets no
// other node counts): the node publishes it to the ingest stream (<stream>_ingest, subject
// <stream>_ingest.<node id>), one cluster::ingest_batch per request, and answers once JetStream acknowledged it; the
// stream's writer republishes it into the stream, from where every node's applier delivers it (docs/cluster.md).
#pragma once

#include "cluster/applier.hpp"
#include "cluster/connection.hpp"
#include "cluster/publisher.hpp"
#include "cluster/settings.hpp"
#include "cluster/wire.hpp"
#include "gateway/blocking_pool.hpp"
#include "gateway/config.hpp"
#include "gateway/metrics.hpp"
#include "gateway/serving_node.hpp"
#include "ingest/relay.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/sync/annotated_mutex.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace rtcache::gateway {

// The ingest stream's item for one relay message sent by node `node_id`: the channel, event, factory and raw flag as
// they are; a contract event's payload is its canonical JSON without offset (as the writer publishes WAL rows); a
// client broadcast (origin != 0) names this node and its connection as its origin.
cluster::channel_message ingest_item(const ingest::relay_message& m, std::string_view node_id);

// The ingest message bodies (cluster::encode_body of an ingest_batch) for one request's items, in order: one body,
// unless the items are more than an ingest batch may hold (cluster::wire_limits::max_items) or their bytes pass
// `max_bytes` (NATS refuses a message over its max_payload, 1 MiB by default); then consecutive runs of them, each
// within both bounds (an item alone over max_bytes goes alone). REQUIRES: !items.empty().
std::vector<std::string> ingest_bodies(std::vector<cluster::channel_message> items, std::size_t max_bytes);
inline constexpr std::size_t k_max_ingest_body_bytes = 512 * 1024;

struct cluster_node_settings {
  cluster::nats_settings nats;      // nats_settings_of(config)
  cluster::stream_settings stream;  // stream_settings_of(config): ensured at start
  std::string node_id;              // node_id_of(config)
  std::string secret;               // [cluster] secret: the key epochs are derived from
  core::doc_type_registry types = core::doc_type_registry::defaults();
  std::size_t max_channels = cluster::k_default_max_channels;  // [cluster] max_channels: the position book's bound
  // How long the applying thread waits for a message before it looks at the stream, at a reconnect and at stop().
  std::chrono::milliseconds idle_poll{200};
  // How long relay ingest waits for JetStream to acknowledge a request's ingest messages (on one of the node's
  // blocking threads, below); past it the request is answered 503.
  std::chrono::milliseconds ingest_timeout{2000};
  // The node's threads for the calls that may wait on NATS (run_blocking: joins with a resume position, which may
  // fetch from the stream, and relay ingest), and how many such calls it admits at once (waiting or running); a join
  // beyond that is refused as busy ("NodeNotReady: busy: ...", the client retries), relay ingest answered 503.
  // Each call is bounded (the applier's resume_timeout, ingest_timeout), and the threads mostly wait on NATS.
  // [cluster] blocking_threads, max_blocking_calls.
  std::size_t blocking_threads = cluster::k_default_blocking_threads;
  std::size_t max_blocking_calls = cluster::k_default_max_blocking_calls;
  // Where the node reports (one line each): connection events, the applier's refusals and losses. Empty: nowhere.
  std::function<void(std::string_view event, std::string_view detail)> log;
};

// What `rtcache serve` gives the node from its configuration ([cluster]): everything but `types` and `log`, which
// the caller sets (the server's doc types, its logger).
cluster_node_settings cluster_node_settings_of(const serve_config& config);

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

  // Stops the calls on its blocking threads (those running finish, those waiting are dropped), then applying (the
  // thread ends within idle_poll), and closes the connection's use by the applier. Idempotent.
  void stop();

  // "cut from NATS (reconnecting)", or "catching up with stream S: applied through N of M"; nullopt once the
  // applier caught up after the start or the last reconnect while connected.
  std::optional<std::string> not_ready() const override;
  // applier::join (the gateway asked not_ready() first).
  core::result<hub::hub_join> join(std::string_view channel, const core::factory_scope& view,
                                   std::shared_ptr<hub::hub_subscriber> subscriber,
                                   const std::optional<hub::hub_position>& resume) override;
  // Relay ingest: what `fill` puts is published to the ingest stream (ingest_bodies: one message per request, unless
  // too large for one) with a unique Nats-Msg-Id each, and the call returns once JetStream acknowledged the last of
  // them (the ingest stream's de-duplication keeps a retry by nats.c from storing one twice). Nothing is put into
  // the hub. Errors: cut from NATS, not acknowledged within ingest_timeout, or refused by JetStream; an earlier
  // message of the same request may have been stored all the same (the writer then republishes it).
  core::result<void> ingest(const std::function<void(ingest::relay_target&)>& fill) override;
  // A join with a resume position may fetch the view's messages from the stream (applier::join); relay ingest waits
  // for JetStream. Both run on the node's blocking threads.
  bool join_may_block(const std::optional<hub::hub_position>& resume) const override { return resume.has_value(); }
  bool ingest_may_block() const override { return true; }
  bool run_blocking(std::function<void()> work) override { return blocking_.try_run(std::move(work)); }

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
  // The ingest publisher, created when there is none. A publisher's watermark stops at its first failure for good,
  // so a failed one is dropped (drop_ingest_publisher) and the next request gets a new one.
  cluster::result<std::shared_ptr<cluster::publisher>> ingest_publisher();
  void drop_ingest_publisher(const std::shared_ptr<cluster::publisher>& failed);

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
  blocking_pool blocking_;
  // The applier's stored-to-applied times (cluster_status::stored_to_applied), observed on the applying thread.
  std::shared_ptr<prometheus::Histogram> stored_to_applied_;
  // Relay ingest: the subject, the msg id prefix "<node id>.<start ns>." (unique across restarts of the node), the
  // count that completes each msg id, and the counters of cluster_status.
  std::string ingest_subject_;
  std::string ingest_id_prefix_;
  std::atomic<std::uint64_t> ingest_next_{0};
  std::atomic<std::uint64_t> ingest_published_{0};
  std::atomic<std::uint64_t> ingest_failed_{0};
  mutable sync::annotated_mutex ingest_mu_;
  std::shared_ptr<cluster::publisher> ingest_pub_ RTCACHE_GUARDED_BY(ingest_mu_);
};

}  // namespace rtcache::gateway
