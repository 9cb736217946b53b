// The replication state the source reports (issue 3 §5): positions, lag, counters and the last error, as a
// value the gateway's /metrics and logs read. source::status() returns a copy taken under a lock.
#pragma once

#include "rtcache/pg/pgoutput.hpp"

#include <cstdint>
#include <string>

namespace rtcache::pg {

struct source_status {
  bool connected = false;   // streaming (START_REPLICATION accepted)
  lsn received;             // start of the last XLogData received
  lsn confirmed;            // the flush position confirmed (or to be confirmed) to the server
  lsn server_wal_end;       // the server's WAL end from the last XLogData or keepalive
  std::uint64_t lag_bytes = 0;  // server_wal_end - confirmed, 0 when not behind
  double lag_seconds = 0;       // now - commit time of the last commit received, while behind; else 0
  std::uint64_t transactions = 0;  // commits routed to the sink
  std::uint64_t rows = 0;          // row changes received (mapped or not)
  std::uint64_t rows_mapped = 0;   // rows that produced routed output
  std::uint64_t rows_failed = 0;   // rows the mapper refused (logged with the reason, then skipped)
  std::uint64_t truncates = 0;     // Truncate messages (no contract event, see row_adapter.hpp)
  std::uint64_t reconnects = 0;    // connection attempts after the first
  std::string last_error;          // the last error's text, empty if none since start
};

// Lag in bytes: how far `confirmed` is behind `wal_end`, 0 when it is not.
inline std::uint64_t lag_bytes(lsn wal_end, lsn confirmed) noexcept {
  return wal_end.value > confirmed.value ? wal_end.value - confirmed.value : 0;
}

}  // namespace rtcache::pg
