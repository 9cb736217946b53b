// How far the source has handled the stream (docs/design.md §5): the end LSN of the last commit whose routed output
// went to the sink, or a keepalive's WAL end between transactions. That position is confirmed to PostgreSQL
// once the sink made it durable (durable_confirm), never before. Pure bookkeeping; the I/O layer reports what it
// saw. (`confirmed` below: confirmable once durable.)
#pragma once

#include "rtcache/pg/pgoutput.hpp"

namespace rtcache::pg {

// Thread-safety: none; owned by the replication session's thread.
class confirm_tracker {
 public:
  // `confirmed`: the slot's confirmed_flush_lsn (or 0/0), where a restarted source resumes.
  explicit confirm_tracker(lsn confirmed = {}) : confirmed_(confirmed), received_(confirmed) {}

  // Begin of a transaction whose commit record starts at `final_lsn`. Returns false when that commit lies
  // before the confirmed position: the server resent a transaction already delivered (the slot's position
  // on disk lags what was confirmed, e.g. after a PostgreSQL crash) and its rows must be skipped.
  bool begin(lsn final_lsn);

  // The sink accepted every routed message of the open transaction, which ended at `end_lsn`: confirm it.
  void committed(lsn end_lsn);

  // The connection dropped with a transaction open: its rows will be resent from the confirmed position.
  void abandon() noexcept { open_ = false; }

  // An XLogData arrived whose data starts at `wal_start`.
  void received(lsn wal_start);

  // A keepalive said the server has sent everything up to `wal_end`. With no transaction open every commit
  // received was confirmed, so the position may move to wal_end: transactions in between were empty or
  // filtered (other tables, other databases). Ignored while a transaction is open.
  void keepalive(lsn wal_end);

  lsn confirmed() const noexcept { return confirmed_; }
  lsn received() const noexcept { return received_; }
  bool in_transaction() const noexcept { return open_; }
  bool skipping() const noexcept { return open_ && skip_; }

 private:
  lsn confirmed_;
  lsn received_;
  bool open_ = false;
  bool skip_ = false;
};

}  // namespace rtcache::pg
