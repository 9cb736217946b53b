// The figures of the WAL -> event benchmark and how they are printed: rates from counts and durations, and
// rtcache's rate as a fraction of PostgreSQL's own pgoutput decoding of the same changes and of what a
// replication consumer that does nothing receives. Pure; the driver
// (rtcache_wal_bench.cpp) measures, this decides what the numbers mean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace rtcache::bench {

// What one run measured. Durations are wall-clock; cpu_* are CPU time of one thread or process.
struct wal_figures {
  std::uint64_t row_changes = 0;   // INSERT/UPDATE/DELETE changes in the workload (both paths see all of them)
  std::uint64_t transactions = 0;  // committed transactions carrying them
  // (a) PostgreSQL: SELECT count(*) FROM pg_logical_slot_get_binary_changes(...)
  std::uint64_t pg_messages = 0;  // pgoutput messages the query returned (rows + Begin/Commit/Relation)
  std::chrono::nanoseconds pg_wall{0};
  // (b) rtcache: pg::source over a replication connection -> hub_sink -> hub
  std::chrono::nanoseconds rt_wall{0};        // from run() to the last commit consumed (connect included)
  std::chrono::nanoseconds rt_streaming{0};   // from START_REPLICATION accepted to the last commit consumed
  std::uint64_t rt_rows = 0;                  // row changes the source consumed
  std::uint64_t rt_events = 0;                // hub publishes accepted (each encoded once)
  std::uint64_t rt_deliveries = 0;            // subscriber deliveries
  std::uint64_t rt_dropped = 0;               // hub publishes without a subscriber (not encoded)
  std::chrono::nanoseconds rt_cpu{0};         // CPU time of the source's thread
  std::chrono::nanoseconds walsender_cpu{0};  // CPU time of the walsender serving it (0: unknown)
  // (d) the null consumer: the same replication connection and read loop as (b), doing nothing with the
  // messages: what PostgreSQL's streaming delivers to a consumer that does no work. Not a strict ceiling: a
  // consumer that always keeps up is woken by the walsender for every message, which costs the walsender
  // more than feeding a busier one (over loopback TCP, up to twice the CPU per change).
  std::chrono::nanoseconds null_wall{0};           // from connect to the last commit received
  std::uint64_t null_rows = 0;                     // Insert/Update/Delete messages received
  std::chrono::nanoseconds null_cpu{0};            // CPU time of its thread
  std::chrono::nanoseconds null_walsender_cpu{0};  // CPU time of the walsender serving it (0: unknown)
};

// count / seconds; 0 when the duration is not positive.
double per_second(std::uint64_t count, std::chrono::nanoseconds d) noexcept;

// rtcache's row-change rate over PostgreSQL's (both over rt_wall and pg_wall); 0 when either is unknown.
double rate_ratio(const wal_figures& f) noexcept;

// The null consumer's row-change rate over PostgreSQL's; 0 when either is unknown.
double null_ratio(const wal_figures& f) noexcept;

// The rate the walsender serving (b) could stream at on a core of its own with a consumer that cost nothing:
// rt_rows over its CPU time. PostgreSQL's streaming cannot go faster than this whoever consumes it; 0 when
// unknown.
double walsender_bound_rate(const wal_figures& f) noexcept;

// rtcache's row-change rate over the null consumer's; 0 when either is unknown.
double ceiling_ratio(const wal_figures& f) noexcept;

// The `name value unit` lines the driver prints, one figure a line, in a fixed order.
std::string format_figures(const wal_figures& f);

}  // namespace rtcache::bench
