// Confirm only what the sink made durable (see durable_confirm.hpp).
#include "rtcache/pg/durable_confirm.hpp"

namespace rtcache::pg {

void durable_confirm::restart(lsn confirmed) {
  confirmed_ = confirmed;
  recorded_ = confirmed;
  sequence_ = 0;
  durable_ = 0;
  pending_.clear();
  outstanding_messages_ = 0;
  progress_ = false;
  clock_running_ = false;
}

std::uint64_t durable_confirm::record(std::size_t messages, lsn confirm_to) {
  if (confirm_to > recorded_) recorded_ = confirm_to;
  pending_.push_back({++sequence_, messages, recorded_});
  outstanding_messages_ += messages;
  return sequence_;
}

void durable_confirm::durable_through(std::uint64_t sequence) {
  if (sequence <= durable_ || sequence > sequence_) return;
  durable_ = sequence;
  while (!pending_.empty() && pending_.front().sequence <= sequence) {
    const pending_call& done = pending_.front();
    outstanding_messages_ -= done.messages;
    if (done.confirm_to > confirmed_) confirmed_ = done.confirm_to;
    pending_.pop_front();
  }
  progress_ = true;
}

void durable_confirm::tick(time_point now) {
  if (pending_.empty()) {
    clock_running_ = false;
  } else if (progress_ || !clock_running_) {
    clock_running_ = true;
    since_ = now;
  }
  progress_ = false;
}

bool durable_confirm::stalled(time_point now) const noexcept {
  return clock_running_ && !pending_.empty() && now - since_ >= limits_.stall_timeout;
}

}  // namespace rtcache::pg
