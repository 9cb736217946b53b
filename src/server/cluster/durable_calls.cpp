#include "cluster/durable_calls.hpp"

namespace rtcache::cluster {

bool durable_calls::outcome(std::uint64_t ticket, bool good) {
  if (ticket <= good_through_) return false;  // already counted (or a late report of a ticket of no interest)
  if (!good) {
    if (!first_bad_ || ticket < *first_bad_) first_bad_ = ticket;
    ahead_.erase(ticket);
    return false;
  }
  if (first_bad_ && ticket >= *first_bad_) return false;  // beyond a failure nothing counts
  ahead_.insert(ticket);
  while (!ahead_.empty() && *ahead_.begin() == good_through_ + 1) {
    ahead_.erase(ahead_.begin());
    ++good_through_;
  }
  return settle();
}

bool durable_calls::call(std::uint64_t sequence, std::uint64_t last_ticket) {
  if (!calls_.empty() && calls_.back().last_ticket == last_ticket) {
    calls_.back().sequence = sequence;  // durable together with the call before it
  } else {
    calls_.push_back({sequence, last_ticket});
  }
  return settle();
}

bool durable_calls::settle() {
  const std::uint64_t before = durable_;
  while (!calls_.empty() && calls_.front().last_ticket <= good_through_) {
    durable_ = calls_.front().sequence;
    calls_.pop_front();
  }
  return durable_ != before;
}

void durable_calls::restart_calls() {
  calls_.clear();
  durable_ = 0;
}

void durable_calls::reset() {
  restart_calls();
  ahead_.clear();
  good_through_ = 0;
  first_bad_.reset();
}

}  // namespace rtcache::cluster
