// The routed sink of a cluster node's PostgreSQL source (docs/cluster.md, (a) and "serve with [cluster]"): a
// cluster::writer on the node's connection, and a new one when it was fenced.
//
// Every node runs the source; only the one holding the replication slot streams, so only its sink writes. A writer
// that another writer fenced (it appended to the stream: a reader that was frozen past wal_sender_timeout while a
// standby took over, or any other writer) publishes and confirms nothing more, for good. Its source then confirms
// nothing, stalls after its stall bound and gives up the slot (pg::source: "sink_stalled"), so a node that can
// write takes over. The next time this node's source takes the slot it asks durable_anchor() first: that is where
// this sink replaces a fenced writer by a new one, which reads the stream's tail (anchor and sequence) and so
// continues what the other writer left, exactly like a standby's writer.
//
// Relay ingest: while its source streams, the sink's ingest_pump reads the ingest stream from the writer's ingest
// anchor (restarted at every start_stream()), and poll() republishes what it read through the writer, on the source's
// thread, as much as the writer's window has room for.
#pragma once

#include "cluster/connection.hpp"
#include "cluster/ingest_pump.hpp"
#include "cluster/writer.hpp"
#include "routing/routed_sink.hpp"
#include "rtcache/sync/annotated_mutex.hpp"

#include <atomic>
#include <chrono>
#include <optional>
#include <functional>
#include <memory>
#include <string_view>

namespace rtcache::cluster {

// Thread-safety: the routed_sink members from the source's thread (durable_through(), fenced_writers() and
// writer_stats() from any thread).
// Adds b's counters to a's (reader_sink sums its writers').
writer_stats& operator+=(writer_stats& a, const writer_stats& b) noexcept;

class reader_sink final : public routing::routed_sink {
 public:
  // `log` gets one line per new writer ("cluster.writer_fenced" when it replaces a fenced one). The writer is
  // created when the source first asks durable_anchor(), i.e. when it found the slot free.
  // REQUIRES: `conn` outlives the sink.
  reader_sink(const connection& conn, writer_settings settings,
              std::function<void(std::string_view event, std::string_view detail)> log = {});
  ~reader_sink() override;

  // Creates the writer, or a new one when the current one is fenced; then the writer's durable_anchor(). A writer
  // that cannot be created is an error (the source backs off and retries without streaming).
  core::result<std::optional<routing::wal_anchor>> durable_anchor() override;
  void start_stream(std::function<void()> wake) override;
  void publish(routing::routed_batch batch) override;
  void on_gap(const routing::source_gap& gap) override;
  std::uint64_t durable_through() const noexcept override;
  // False while the current writer is fenced (replaced at the next durable_anchor()).
  bool can_publish() const noexcept override;
  // Republishes relay ingest the pump read (a pump whose restart failed is restarted, at most once per second).
  void poll() override;
  ingest_pump_stats ingest_stats() const;

  // Writers found fenced and replaced (or still to be replaced at the next durable_anchor()).
  std::uint64_t fenced_writers() const noexcept;
  // The counters of every writer this sink created, summed (zero before the first): totals across replacements.
  writer_stats stats() const;

 private:
  const connection* conn_;
  writer_settings settings_;
  std::function<void(std::string_view, std::string_view)> log_;
  mutable sync::annotated_mutex mu_;
  // Replaced on the source's thread only (durable_anchor()); the lock keeps the observers off a writer being
  // replaced. A writer's members are called under it: each returns within the writer's own bounds, on the
  // source's thread anyway.
  std::unique_ptr<writer> writer_ RTCACHE_GUARDED_BY(mu_);
  writer_stats retired_ RTCACHE_GUARDED_BY(mu_);  // the replaced writers' counters, summed
  std::atomic<std::uint64_t> fenced_{0};
  // Restarts the pump at `from`; on failure sets pump_retry_ a second ahead (the source's thread).
  void restart_pump(const ingest_anchor_state& from);
  // The source's thread only; destroyed before the writer it feeds.
  std::function<void()> wake_;
  std::optional<std::chrono::steady_clock::time_point> pump_retry_;  // set: the pump must be restarted then
  std::unique_ptr<ingest_pump> pump_;
};

}  // namespace rtcache::cluster
