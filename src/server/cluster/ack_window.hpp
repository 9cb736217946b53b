// The "acked up to" watermark of an asynchronous publisher, as pure bookkeeping: tickets are opened in publish
// order and completed in whatever order JetStream's acknowledgements (or their timeouts) arrive; the watermark
// is the highest ticket t such that every ticket <= t was acknowledged. The WAL reader confirms a position to
// PostgreSQL only once the watermark has passed the ticket of the last message up to that position.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_set>
#include <vector>

namespace rtcache::cluster {

// Thread-safety: none; the publisher guards it with its mutex.
class ack_window {
 public:
  // REQUIRES: capacity >= 1. The bound on tickets opened beyond the watermark (see can_open()).
  explicit ack_window(std::size_t capacity);

  // Whether open() may be called. Before any failure: fewer than `capacity` tickets lie beyond the watermark
  // (completed out of order or not), so the bookkeeping is a fixed ring. After a failure the watermark stops
  // below the failed ticket for good; tickets opened later only count as in flight, and the bound becomes
  // fewer than `capacity` in flight.
  bool can_open() const noexcept;

  // The next ticket: 1, 2, 3, ... REQUIRES: can_open().
  std::uint64_t open();

  // Records the outcome of an open ticket. Returns false (and changes nothing) for a ticket that is not open:
  // never issued, or already completed.
  bool complete(std::uint64_t ticket, bool acknowledged);

  // Every ticket <= acked_through() was acknowledged. 0 before the first acknowledgement.
  std::uint64_t acked_through() const noexcept { return acked_through_; }
  // The lowest failed ticket, if any ticket failed.
  std::optional<std::uint64_t> first_failure() const noexcept { return first_failure_; }
  std::uint64_t last_opened() const noexcept { return last_opened_; }
  // Tickets opened and not yet completed.
  std::size_t in_flight() const noexcept { return in_flight_; }
  std::size_t capacity() const noexcept { return state_.size(); }

 private:
  enum class slot : std::uint8_t { open, acked, failed };

  // Tickets in (acked_through_, ring_end_] live in the ring at ticket % capacity.
  void advance() noexcept;

  std::vector<slot> state_;
  std::uint64_t acked_through_ = 0;
  std::uint64_t last_opened_ = 0;
  std::size_t in_flight_ = 0;
  std::uint64_t ring_end_ = 0;  // last_opened_ until the first failure, then frozen
  std::optional<std::uint64_t> first_failure_;
  // Tickets opened after the first failure and still in flight; at most capacity - 1 of them.
  std::unordered_set<std::uint64_t> open_after_failure_;
};

}  // namespace rtcache::cluster
