// The single node's routed_sink: a transaction's routed rows into the hub (docs/design.md §1, §3). Contract messages
// go to their channels as broadcast `invalidate` carrying the postgres_changes record as an attachment; records
// for bindings on other channels go to internal per-table topics that no client can join by name. A gap starts
// the channels it touches over. Everything is durable when the call returns.
#pragma once

#include "hub/hub.hpp"
#include "routing/routed_sink.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace rtcache::ingest {

// The prefix of internal hub channels. It starts with a control byte, which channel_name_of refuses in a
// client's topic, so no client can join, resume or broadcast to an internal channel.
inline constexpr std::string_view k_internal_channel_prefix = "\x01";

// The internal channel carrying every postgres_changes record of one table: "\x01pg:<schema>.<table>".
// Its messages have no frames (each subscriber frames the record with its own binding ids), are not kept in
// history (hub_publish_options::retain = false) and carry the row's factory as meta (empty: public table).
std::string postgres_table_channel(std::string_view schema, std::string_view table);

bool is_internal_channel(std::string_view name) noexcept;

// What one hub_sink has published (relaxed counters; each exact on its own).
struct hub_sink_metrics {
  std::uint64_t messages = 0;     // contract messages published to their channels
  std::uint64_t changes = 0;      // records published to per-table channels
  std::uint64_t deliveries = 0;   // subscriber deliveries caused
  std::uint64_t gaps = 0;         // gaps turned into new epochs (on_gap)
  std::uint64_t views_reset = 0;  // hub views those gaps started over
};

// The wall clock rows' commit times are compared with; empty: std::chrono::system_clock::now.
using wall_clock = std::function<std::chrono::system_clock::time_point()>;

// Takes one observation of the time from a transaction's commit to its rows being in the hub. The gateway's
// metrics provide one (gateway::commit_to_publish_observer) that adds it to the
// rtcache_replication_commit_to_publish_seconds histogram; the sink does not depend on the gateway.
using latency_observer = std::function<void(std::chrono::nanoseconds)>;

// Runs `publish` (one transaction's publishes into the hub) inside whatever the consumers of the hub need around
// it. The gateway's (gateway::flush_scoped) holds WebSocket writes back until the transaction is in the hub, so
// each connection gets it in one write. Empty: `publish` runs as is.
using publish_scope = std::function<void(const std::function<void()>& publish)>;

// Whether a gap touches the hub channel `name` (a contract channel, or a per-table record channel; relay-only
// topics never are: no WAL feeds them):
//   every table (gap.all()): every doc:, list:, factory: channel and every per-table record channel;
//   tables (a TRUNCATE): for each table with a doc type D, doc:D:* and list:D:*, and every factory: channel
//   (its summaries count changes of all types, and nothing says which factories had rows in the table); for
//   every table, its record channel.
bool gap_touches(const routing::source_gap& gap, std::string_view name) noexcept;

// Thread-safety: every routed_sink call but durable_through() from the source's thread only (routed_sink's
// contract); metrics() and durable_through() from any thread. The hub, and what `latencies` refers to, must
// outlive the sink.
class hub_sink final : public routing::routed_sink {
 public:
  // `latencies`: publish() gives it, per call with a commit time, clock() - commit time.
  // `scope`: what each transaction's publishes run inside (publish_scope).
  explicit hub_sink(hub::hub& h, latency_observer latencies = {}, wall_clock clock = {}, publish_scope scope = {})
      : hub_(h), latencies_(std::move(latencies)), clock_(std::move(clock)), scope_(std::move(scope)) {}

  // Nothing: the hub forgets everything with the process, and so positions given to clients do; the source's
  // memory across reconnects is all the continuity check needs (docs/pg-source.md, "Gaps").
  core::result<std::optional<routing::wal_anchor>> durable_anchor() override {
    return std::optional<routing::wal_anchor>{};
  }

  void start_stream(std::function<void()> wake) override;

  // In order: each routed_message to "<channel key>" as event `invalidate` with the contract event's canonical
  // JSON (the encoder sets each channel's offset), meta factory = the event's factory, and the record (if any)
  // attached; then each scoped_change to postgres_table_channel(schema, table), meta factory = its scope.
  // Then, with `latencies` and rows.commit_time, observes the time since the commit.
  // Returns when every message is in the hub (or was dropped for want of a subscriber): the batch is durable
  // then (durable_through() moves to it). An encoder failure (a channel name too long to frame) skips that
  // message only.
  void publish(routing::routed_batch batch) override;
  // The same for rows outside any source's stream (tools and tests feeding the hub directly): durable_through()
  // does not move.
  void publish(const routing::routed_rows& rows);

  // Starts over (hub::reset) every channel gap_touches(): new epochs, histories dropped, live subscribers told.
  void on_gap(const routing::source_gap& gap) override;

  std::uint64_t durable_through() const noexcept override { return durable_.load(std::memory_order_acquire); }

  hub_sink_metrics metrics() const noexcept;

 private:
  void publish_rows(const routing::routed_rows& rows);
  void publish_in_scope(const routing::routed_rows& rows);

  hub::hub& hub_;
  latency_observer latencies_;
  wall_clock clock_;
  publish_scope scope_;
  std::atomic<std::uint64_t> durable_{0};
  std::atomic<std::uint64_t> messages_{0};
  std::atomic<std::uint64_t> changes_{0};
  std::atomic<std::uint64_t> deliveries_{0};
  std::atomic<std::uint64_t> gaps_{0};
  std::atomic<std::uint64_t> views_reset_{0};
};

}  // namespace rtcache::ingest
