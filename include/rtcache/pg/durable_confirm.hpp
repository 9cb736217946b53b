// Which WAL position the source may confirm to PostgreSQL when its sink is durable later than publish() returns
// (issue 13): only the confirm_lsn of the newest sink call that is durable together with every call before it,
// never beyond. Also the two bounds that follow from an acknowledging sink: the backlog (published, not yet
// durable) at which the source stops reading, and how long the sink may go without acknowledging anything
// before the source gives up the slot. Pure bookkeeping on an injected clock; the I/O layer reports what it did.
#pragma once

#include "rtcache/pg/pgoutput.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>

namespace rtcache::pg {

struct durable_confirm_limits {
  // Backlog bound: while at least this many routed messages are published and not durable, the source reads
  // nothing more from PostgreSQL (it keeps sending status updates, so the server keeps it). A publish may
  // overshoot it by one batch (at most [routing] flush_messages plus a transaction's summaries).
  std::size_t max_unconfirmed_messages = 16384;
  // Stall bound: when something is outstanding and nothing became durable for this long, the sink cannot
  // publish (NATS unreachable); the source gives up the slot so that a node that can publish takes over.
  std::chrono::milliseconds stall_timeout{10'000};
};

// Thread-safety: none; owned by the replication session's thread.
class durable_confirm {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  explicit durable_confirm(durable_confirm_limits limits = {}, lsn confirmed = {})
      : limits_(limits), confirmed_(confirmed), recorded_(confirmed) {}

  // A new stream, resuming from `confirmed` (the position confirmed to the server): numbering restarts at 1 and
  // calls not yet durable are forgotten (the server resends what they carried).
  void restart(lsn confirmed);

  // The next sink call: `messages` routed messages (0 for a position or a gap) that make `confirm_to` confirmable
  // once durable. `confirm_to` below an earlier call's is raised to it (confirmed positions never go back).
  // Returns the call's sequence number.
  std::uint64_t record(std::size_t messages, lsn confirm_to);

  // The sink's durable_through(). Sequences beyond the last recorded, or below an earlier report, are ignored
  // (a sink never reports them; this keeps the bookkeeping sound if one did).
  void durable_through(std::uint64_t sequence);

  // Runs the stall clock at `now`: it starts when a call is outstanding and restarts whenever something became
  // durable since the last tick.
  void tick(time_point now);

  // The confirm_lsn of the newest durable call (the restart position before any): what may be confirmed.
  lsn confirmed() const noexcept { return confirmed_; }
  // The confirm_lsn of the newest call recorded: what will be confirmed once everything is durable.
  lsn recorded() const noexcept { return recorded_; }
  std::uint64_t last_sequence() const noexcept { return sequence_; }
  std::uint64_t durable_sequence() const noexcept { return durable_; }
  std::size_t unconfirmed_messages() const noexcept { return outstanding_messages_; }
  std::size_t unconfirmed_calls() const noexcept { return pending_.size(); }

  // At the backlog bound: the caller stops reading until durable_through() moves.
  bool backlog_full() const noexcept { return outstanding_messages_ >= limits_.max_unconfirmed_messages; }

  // Something is outstanding and nothing became durable for stall_timeout (as of the last tick()).
  bool stalled(time_point now) const noexcept;

  const durable_confirm_limits& limits() const noexcept { return limits_; }

 private:
  struct pending_call {
    std::uint64_t sequence;
    std::size_t messages;
    lsn confirm_to;
  };

  durable_confirm_limits limits_;
  lsn confirmed_;
  lsn recorded_;
  std::uint64_t sequence_ = 0;  // the last recorded
  std::uint64_t durable_ = 0;   // the last reported durable
  // Calls recorded and not durable, in order. Bounded by the backlog bound: every call but a position, a gap or
  // a transaction's empty last batch carries a message, and the caller records those at most once per status
  // update, per gap and per transaction.
  std::deque<pending_call> pending_;
  std::size_t outstanding_messages_ = 0;
  bool progress_ = false;  // something became durable since the last tick()
  bool clock_running_ = false;
  time_point since_{};  // when the stall clock last (re)started
};

}  // namespace rtcache::pg
