// The gateway's metrics and their Prometheus text exposition (GET /metrics), on prometheus-cpp's core library:
// counters and histograms live in one prometheus::Registry; values that are state rather than events (open
// connections, the hub's and the source's snapshots) are read at scrape time. Each counter is exact on its own;
// a scrape is not one atomic snapshot.
#pragma once

#include "hub/hub.hpp"
#include "routing/routed_sink.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <string>

namespace rtcache::gateway {

// The latency histograms' upper bounds in seconds (the +Inf bucket follows): 0.5 ms to 10 s, about three per
// decade.
inline constexpr std::array<double, 14> k_latency_buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                          0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

// Observations of one latency histogram collected without a lock, then added to it at once: prometheus-cpp's
// Histogram::Observe takes a mutex per observation, and a gather write completes up to k_write_batch_frames
// deliveries. Pure; owns no heap memory.
class latency_tally {
 public:
  // A negative duration (clocks of two hosts, for the replication histogram) counts as 0.
  void add(std::chrono::nanoseconds d) noexcept;
  std::uint64_t count() const noexcept { return count_; }
  double sum_seconds() const noexcept { return sum_; }
  // Adds the observations to `h` (whose buckets are k_latency_buckets) under one lock and resets the tally.
  void flush(prometheus::Histogram& h);

 private:
  std::array<double, k_latency_buckets.size() + 1> buckets_{};  // per bucket, not cumulative; last is +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// Thread-safety: every member may be read, incremented and observed concurrently (prometheus-cpp's metrics are
// thread-safe; the two gauges are relaxed atomics).
class gateway_metrics {
 public:
  gateway_metrics();
  gateway_metrics(const gateway_metrics&) = delete;
  gateway_metrics& operator=(const gateway_metrics&) = delete;

  // Every counter and histogram below, and rtcache_build_info.
  const std::shared_ptr<prometheus::Registry> registry;

  // State the gateway admits connections by; exported as gauges at scrape time.
  std::atomic<std::int64_t> connections{0};           // open WebSocket connections
  std::atomic<std::int64_t> connection_addresses{0};  // client addresses (IPv6: /64s) with open WebSockets

  // References into `registry` (stable for its lifetime); a const gateway_metrics may still count.
  prometheus::Counter& connections_total;                // accepted WebSocket upgrades
  prometheus::Counter& connections_refused_total;        // upgrades refused (auth, limits, bad vsn)
  prometheus::Counter& messages_in_total;                // WebSocket messages received
  prometheus::Counter& messages_out_total;               // WebSocket messages written
  prometheus::Counter& bytes_out_total;                  // WebSocket payload bytes written
  prometheus::Counter& frames_refused_total;             // inbound messages that failed to decode
  prometheus::Counter& queue_overflow_closes_total;      // connections closed with 4008
  prometheus::Counter& idle_closes_total;                // connections dropped by the idle/handshake timeout
  prometheus::Counter& auth_refusals_total;              // refused tokens: upgrade, join, access_token, REST
  prometheus::Counter& joins_total;                      // successful phx_join
  prometheus::Counter& joins_refused_total;              // refused phx_join (auth, scope, limits, syntax)
  prometheus::Counter& joins_recovered_total;            // joins whose resume position was recovered
  prometheus::Counter& events_accepted_total;            // contract events accepted by POST /v1/events
  prometheus::Counter& events_refused_total;             // items refused by POST /v1/events
  prometheus::Counter& broadcasts_total;                 // broadcasts published (client and REST)
  prometheus::Counter& http_requests_total;              // HTTP requests answered (upgrades excluded)
  prometheus::Counter& address_refusals_total;           // upgrades refused by limits.max_connections_per_ip
  prometheus::Counter& client_broadcasts_refused_total;  // client broadcasts refused (not allowed, untagged)
  prometheus::Counter& client_broadcasts_limited_total;  // client broadcasts over the per-connection rate
  prometheus::Counter& metrics_refusals_total;           // /metrics requests refused (token, address)

  // Latencies in seconds (buckets k_latency_buckets).
  prometheus::Histogram& replication_commit_to_publish;  // PostgreSQL commit time -> the transaction in the hub
  prometheus::Histogram& fanout_publish_to_write;        // hub publish -> the frame's socket write completed
  prometheus::Histogram& join_reply;                     // phx_join read -> its reply written

  // Adds `n` to `c` (prometheus counters count in double).
  static void add(prometheus::Counter& c, std::uint64_t n) { c.Increment(static_cast<double>(n)); }
};

// The change source's replication state as /metrics exposes it (docs/design.md §5: what is confirmed to
// PostgreSQL and how far behind it is). Plain values, so the gateway does not depend on the pg layer: main()
// fills them from the source's status snapshot (include/rtcache/pg/source_status.hpp).
struct replication_status {
  bool connected = false;           // streaming
  std::uint64_t received_lsn = 0;   // start of the last XLogData received
  std::uint64_t confirmed_lsn = 0;  // flush position confirmed to the server
  std::uint64_t lag_bytes = 0;      // server WAL end - confirmed
  double lag_seconds = 0;           // now - commit time of the last commit received, while behind
  std::uint64_t reconnects = 0;     // connection attempts after the first
  routing::gap_counts gaps{};       // gaps the source reported, by reason (index: gap_reason)
  bool reader = false;              // this process holds the replication slot (issue 13: one reader at a time)
  std::uint64_t reader_starts = 0;  // times this process took the slot and started streaming
  std::uint64_t sink_stalls = 0;    // times it gave the slot up because the sink made nothing durable
};

// Called on every scrape (any io thread). REQUIRES: thread-safe and non-blocking (copy a snapshot).
using replication_status_provider = std::function<replication_status()>;

// A cluster node's state as /metrics exposes it (docs/cluster.md, "Metrics"): the applier's position, lag and
// counters, the node's readiness and catch-up time, and with [postgres] the node's stream writer's counters. Plain
// values: main() fills them from the cluster node (cluster_node::status()) and the node's reader_sink.
struct cluster_status {
  bool connected = false;          // the node's NATS connection is up
  bool ready = false;              // connected and caught up since the start or the last reconnect (/readyz)
  std::uint64_t last_applied = 0;  // stream sequence of the last message applied
  std::uint64_t lag_messages = 0;  // messages the server still had to deliver when the last one was applied
  double lag_seconds = 0;          // 0 while ready; else seconds since it stopped being ready (start, cut, reconnect)
  double catch_up_seconds = 0;     // from the last start/reconnect to caught up; 0 before the first catch-up
  std::uint64_t catch_ups = 0;     // times the node became ready (the start's included)
  std::uint64_t applied = 0;       // stream messages taken in order (refused ones included)
  std::uint64_t published = 0;     // channel messages published into the hub
  std::uint64_t gaps = 0;          // gap markers applied
  std::uint64_t refused = 0;       // messages that did not decode, skipped
  std::uint64_t replays = 0;       // messages repeating a source message applied before, dropped
  std::uint64_t losses = 0;        // the stream dropped messages before the node applied them (views started over)
  std::uint64_t streams_recreated = 0;  // the stream was deleted and created again (views started over)
  // Exact resume by range fetch (cluster::applier_stats::resume_*): joins whose resume needed the view's messages
  // from the stream, those answered recovered:true, those past the bound, those whose fetch failed or timed out.
  std::uint64_t resume_fetches = 0;
  std::uint64_t resume_recovered = 0;
  std::uint64_t resume_too_many = 0;
  std::uint64_t resume_failed = 0;
  // Channels the node's book forgot (its bound) looked up in the stream before their next message, and those lookups
  // that failed (cluster::applier_stats::forgotten_lookups*).
  std::uint64_t forgotten_lookups = 0;
  std::uint64_t forgotten_lookups_failed = 0;
  // Relay ingest (POST /v1/events, REST and client broadcasts) published to the ingest stream: ingest messages
  // JetStream acknowledged, and those not acknowledged (cut from NATS, timed out, refused: answered 503 / an error).
  std::uint64_t ingest_published = 0;
  std::uint64_t ingest_failed = 0;
  // The node's calls that may wait on NATS ([cluster] blocking_threads, max_blocking_calls): admitted and not
  // finished now, and refused at the bound since start (joins refused busy, relay ingest answered 503).
  std::uint64_t blocking_calls = 0;
  std::uint64_t blocking_refused = 0;
  // The node's stream writer: with [postgres] its reader_sink, without its relay_writer (writers' counters summed).
  bool writer = false;
  std::uint64_t writer_messages = 0;  // channel messages published to the stream
  std::uint64_t writer_records = 0;   // postgres_changes records published
  std::uint64_t writer_gaps = 0;      // gap markers published
  std::uint64_t writer_skipped = 0;   // replayed messages not published again: the stream already held them
  std::uint64_t writer_resyncs = 0;   // starts from the stream's tail (the first included)
  std::uint64_t writers_fenced = 0;   // writers found fenced (another writer appended) and replaced
  bool writer_active = false;         // this node's writer writes the stream now (the slot holder, or the lease holder)
  std::uint64_t writer_ingest_items = 0;  // relay ingest items republished from the ingest stream
  std::uint64_t writer_ingest_lost = 0;   // ingest messages lost before they were republished (gap markers)
  // Seconds from JetStream storing each stream message to this node applying it (its hub publish), buckets
  // k_latency_buckets: the stream's delivery hop as this node sees it (cluster::applier_settings::stored_to_applied).
  prometheus::ClientMetric::Histogram stored_to_applied;
};

// Called on every scrape (any io thread). REQUIRES: thread-safe and non-blocking (copy a snapshot).
using cluster_status_provider = std::function<cluster_status()>;

// Prometheus text exposition format 0.0.4 (prometheus::TextSerializer): every metric with # HELP and # TYPE,
// names prefixed `rtcache_`. With `source`, the rtcache_replication_* gauges and counters and
// rtcache_source_gaps_total{reason} (one series per gap_reason, 0 included) follow; without (relay mode) they are
// absent. With `cluster`, the rtcache_cluster_* metrics follow (the rtcache_cluster_writer_* ones only when
// cluster->writer); without (a single node) they are absent. The histograms are always present.
std::string prometheus_text(const gateway_metrics& g, const hub::hub_metrics& h,
                            const replication_status* source = nullptr, const cluster_status* cluster = nullptr);

// The hub_sink's latency observer (ingest::latency_observer): each observation goes into
// g.replication_commit_to_publish through a latency_tally. `g` must outlive the observer.
std::function<void(std::chrono::nanoseconds)> commit_to_publish_observer(const gateway_metrics& g);

}  // namespace rtcache::gateway
