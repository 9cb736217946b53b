// The replication state the source reports (issue 3 §5): positions, lag, counters and the last error, as a
// value the gateway's /metrics and logs read. source::status() returns a copy taken under a lock.
#pragma once

#include "routing/routed_sink.hpp"
#include "rtcache/pg/pgoutput.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace rtcache::pg {

// What the source is to the slot (issue 13: one reader at a time).
enum class source_role {
  none,     // not connected (starting, backing off after an error, stopped)
  reader,   // streams from the slot
  standby,  // connected; another process holds the slot, or this one gave it up for a while (sink stalled)
};
std::string_view to_string(source_role role) noexcept;

struct source_status {
  bool connected = false;  // streaming (START_REPLICATION accepted)
  source_role role = source_role::none;
  std::int64_t slot_holder_pid = 0;  // standby: the walsender pid holding the slot (0: unknown or none)
  lsn received;                      // start of the last XLogData received
  lsn handled;                       // how far the stream was handled (commits and keepalives)
  lsn confirmed;                // the flush position confirmed (or to be confirmed) to the server: durable in the sink
  lsn server_wal_end;           // the server's WAL end from the last XLogData or keepalive
  std::uint64_t lag_bytes = 0;  // server_wal_end - confirmed, 0 when not behind
  double lag_seconds = 0;       // now - commit time of the last commit received, while behind; else 0
  std::uint64_t unconfirmed_messages = 0;  // routed messages published to the sink and not durable yet
  std::uint64_t transactions = 0;          // commits routed to the sink
  std::uint64_t rows = 0;                  // row changes received (mapped or not)
  std::uint64_t rows_mapped = 0;           // rows that produced routed output
  std::uint64_t rows_failed = 0;           // rows the mapper refused (logged with the reason, then skipped)
  std::uint64_t truncates = 0;             // Truncate messages
  routing::gap_counts gaps{};              // gaps reported to the sink, by reason (index: routing::gap_reason)
  std::uint64_t reconnects = 0;            // connection attempts after the first
  std::uint64_t reader_starts = 0;         // times this source started streaming (became the reader)
  std::uint64_t standby_checks = 0;        // times it found the slot held by another process
  std::uint64_t sink_stalls = 0;           // times it gave up the slot because the sink acknowledged nothing
  std::string last_error;                  // the last error's text, empty if none since start
};

// Lag in bytes: how far `confirmed` is behind `wal_end`, 0 when it is not.
inline std::uint64_t lag_bytes(lsn wal_end, lsn confirmed) noexcept {
  return wal_end.value > confirmed.value ? wal_end.value - confirmed.value : 0;
}

}  // namespace rtcache::pg
