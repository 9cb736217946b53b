// Watermark bookkeeping of the asynchronous publisher (see ack_window.hpp).
#include "cluster/ack_window.hpp"

#include <cassert>

namespace rtcache::cluster {

ack_window::ack_window(std::size_t capacity) : state_(capacity == 0 ? 1 : capacity, slot::open) {}

bool ack_window::can_open() const noexcept {
  if (first_failure_) return in_flight_ < state_.size();
  return last_opened_ - acked_through_ < state_.size();
}

std::uint64_t ack_window::open() {
  assert(can_open());
  const std::uint64_t ticket = ++last_opened_;
  ++in_flight_;
  if (first_failure_) {
    open_after_failure_.insert(ticket);
  } else {
    state_[ticket % state_.size()] = slot::open;
    ring_end_ = ticket;
  }
  return ticket;
}

bool ack_window::complete(std::uint64_t ticket, bool acknowledged) {
  if (ticket > acked_through_ && ticket <= ring_end_) {
    slot& s = state_[ticket % state_.size()];
    if (s != slot::open) return false;
    s = acknowledged ? slot::acked : slot::failed;
  } else if (open_after_failure_.erase(ticket) == 0) {
    return false;
  }
  --in_flight_;
  if (!acknowledged && (!first_failure_ || ticket < *first_failure_)) first_failure_ = ticket;
  advance();
  return true;
}

void ack_window::advance() noexcept {
  while (acked_through_ < ring_end_ && state_[(acked_through_ + 1) % state_.size()] == slot::acked) {
    ++acked_through_;
  }
}

}  // namespace rtcache::cluster
