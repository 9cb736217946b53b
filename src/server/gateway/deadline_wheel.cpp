// The deadline wheel's linking (deadline_wheel.hpp); advance() is a template in the header.
#include "gateway/deadline_wheel.hpp"

#include <cassert>

namespace rtcache::gateway {

deadline_wheel::deadline_wheel(duration tick, std::size_t slots, time_point origin)
    : tick_(tick), origin_(origin), slots_(slots, nullptr) {
  assert(tick > duration::zero() && slots > 0);
}

deadline_wheel::~deadline_wheel() {
  for (deadline_hook*& head : slots_) {
    while (head != nullptr) unlink(*head);
  }
}

std::uint64_t deadline_wheel::tick_of(time_point t) const noexcept {
  if (t <= origin_) return 0;
  return static_cast<std::uint64_t>((t - origin_) / tick_);
}

void deadline_wheel::unlink(deadline_hook& h) noexcept {
  *h.pprev_ = h.next_;
  if (h.next_ != nullptr) h.next_->pprev_ = h.pprev_;
  h.pprev_ = nullptr;
  h.next_ = nullptr;
}

void deadline_wheel::link(deadline_hook& h, std::uint64_t tick) noexcept {
  deadline_hook*& head = slots_[static_cast<std::size_t>(tick % slots_.size())];
  h.next_ = head;
  if (head != nullptr) head->pprev_ = &h.next_;
  h.pprev_ = &head;
  head = &h;
}

void deadline_wheel::schedule(deadline_hook& h, time_point deadline) {
  if (h.linked()) {
    unlink(h);
    --size_;
  }
  h.deadline_ = deadline;
  const std::uint64_t t = tick_of(deadline);
  link(h, t < current_ ? current_ : t);
  ++size_;
}

void deadline_wheel::cancel(deadline_hook& h) noexcept {
  if (!h.linked()) return;
  unlink(h);
  --size_;
}

}  // namespace rtcache::gateway
