// Which source calls are durable, given the outcomes of the messages the writer published for them: the pure
// bookkeeping behind the writer's durable_through() (routing/routed_sink.hpp, docs/cluster.md "The writer").
//
// Every message the writer publishes has a ticket (the publisher's: 1, 2, 3, ... in publish order). A call's
// messages are the tickets it took; a call is durable once every ticket up to its last one has a good outcome
// (acknowledged, at the stream sequence the writer predicted, not as a duplicate). A call that published nothing
// (a replay the stream already holds, a position the writer had no need to publish) is durable once every ticket
// issued before it is. Outcomes may arrive before the call that took the ticket is recorded (nats.c acknowledges
// on its own thread), and in any order. A bad outcome stops durable_through() below it for good. Pure.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <set>

namespace rtcache::cluster {

// Thread-safety: none; the writer locks.
class durable_calls {
 public:
  // Records the outcome of `ticket` (good or bad). Returns true when durable_through() moved.
  bool outcome(std::uint64_t ticket, bool good);
  // Records the source call `sequence`, whose last message has ticket `last_ticket` (0 when no ticket was ever
  // issued, or the last ticket issued before it when it published nothing). Calls come in sequence order.
  // Returns true when durable_through() moved.
  bool call(std::uint64_t sequence, std::uint64_t last_ticket);

  // The highest call such that it and every call before it are durable; 0 when none.
  std::uint64_t durable_through() const noexcept { return durable_; }
  // Every ticket <= good_through() had a good outcome.
  std::uint64_t good_through() const noexcept { return good_through_; }
  std::optional<std::uint64_t> first_bad() const noexcept { return first_bad_; }
  // Calls recorded and not yet durable. Bound: calls that share a last ticket are kept as one (they become durable
  // together), so this never exceeds the tickets in flight plus one, i.e. the publisher's window.
  std::size_t pending_calls() const noexcept { return calls_.size(); }
  // Outcomes held beyond good_through(): at most the tickets in flight.
  std::size_t outcomes_ahead() const noexcept { return ahead_.size(); }

  // A new source stream on the same tickets: call numbering restarts, outcomes are kept.
  void restart_calls();
  // A new publisher: tickets restart at 1 and every outcome is forgotten.
  void reset();

 private:
  bool settle();

  struct pending_call {
    std::uint64_t sequence;
    std::uint64_t last_ticket;
  };
  std::deque<pending_call> calls_;
  std::set<std::uint64_t> ahead_;  // good outcomes above good_through_ + 1
  std::uint64_t good_through_ = 0;
  std::optional<std::uint64_t> first_bad_;
  std::uint64_t durable_ = 0;
};

}  // namespace rtcache::cluster
