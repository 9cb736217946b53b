// Decides when coarse deadlines are due: a hashed timing wheel that holds one intrusive hook per owner, so
// that thousands of idle WebSocket connections share one timer instead of each keeping timer waits pending
// (docs/benchmarks-gateway.md, idle memory). Pure: no clock is read, no I/O; the caller passes `now`.
//
// A deadline fires at the first advance() whose `now` is at or after it: never early, and late by at most
// the caller's advance period (the gateway advances every gateway_limits::deadline_tick). The tick width
// only spreads hooks over slots; it does not round deadlines.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rtcache::gateway {

class deadline_wheel;

// Embedded in the object whose deadline it carries (no allocation per deadline). Linked into at most one
// wheel at a time. The owner must cancel() it before it is destroyed; its fields are the wheel's, read and
// written only by the wheel (under whatever lock guards the wheel).
class deadline_hook {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  deadline_hook() = default;
  deadline_hook(const deadline_hook&) = delete;
  deadline_hook& operator=(const deadline_hook&) = delete;

  bool linked() const noexcept { return pprev_ != nullptr; }
  // The deadline it is linked with. Meaningful only while linked().
  time_point deadline() const noexcept { return deadline_; }

 protected:
  ~deadline_hook() = default;

 private:
  friend class deadline_wheel;
  deadline_hook** pprev_ = nullptr;  // the pointer that points at this hook (a slot head or a next_)
  deadline_hook* next_ = nullptr;
  time_point deadline_{};
};

// Thread-safety: none; the caller serialises every call (the gateway holds a mutex).
// Memory: one pointer per slot, fixed at construction; nothing per hook beyond the hook itself.
class deadline_wheel {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  // REQUIRES: tick > 0, slots > 0. `origin` is when the first tick starts; earlier deadlines are due at once.
  deadline_wheel(duration tick, std::size_t slots, time_point origin);
  // Unlinks every hook still linked (their owners then see linked() == false).
  ~deadline_wheel();
  deadline_wheel(const deadline_wheel&) = delete;
  deadline_wheel& operator=(const deadline_wheel&) = delete;

  // Links `h` to fire at `deadline`, replacing any deadline it had. A deadline already passed fires at the
  // next advance(). REQUIRES: `h` is not linked into another wheel.
  void schedule(deadline_hook& h, time_point deadline);

  // Unlinks `h`; a no-op when it is not linked. O(1).
  void cancel(deadline_hook& h) noexcept;

  // Unlinks every hook whose deadline is at or before `now` and calls `due(hook&)` for each (order
  // unspecified). `due` must not call into the wheel. Returns how many fired. `now` may stand still or go
  // back (nothing more fires); a jump of more than one turn of the wheel visits each slot once.
  template <class F>
  std::size_t advance(time_point now, F&& due);

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  duration tick() const noexcept { return tick_; }

 private:
  // The tick a time falls in, counted from origin_ (times before origin_ fall in tick 0).
  std::uint64_t tick_of(time_point t) const noexcept;
  static void unlink(deadline_hook& h) noexcept;
  void link(deadline_hook& h, std::uint64_t tick) noexcept;

  // Constant after construction.
  const duration tick_;
  const time_point origin_;
  std::vector<deadline_hook*> slots_;  // heads of singly-linked lists with back-pointers

  std::uint64_t current_ = 0;  // the first tick not yet visited; ticks before it are done
  std::size_t size_ = 0;
};

template <class F>
std::size_t deadline_wheel::advance(time_point now, F&& due) {
  // Visits the slots of the ticks from current_ up to now's (inclusive: now's tick may hold hooks already
  // due), each at most once. A hook fires when its deadline has passed; one of a later turn stays.
  const std::uint64_t end = tick_of(now);
  if (end < current_) return 0;
  const std::uint64_t visits = end - current_ < slots_.size() ? end - current_ + 1 : slots_.size();
  std::size_t fired = 0;
  for (std::uint64_t i = 0; i < visits; ++i) {
    deadline_hook** link = &slots_[static_cast<std::size_t>((current_ + i) % slots_.size())];
    while (*link != nullptr) {
      deadline_hook& h = **link;
      if (h.deadline_ <= now) {
        unlink(h);  // *link now points at the next hook
        --size_;
        ++fired;
        due(h);
      } else {
        link = &h.next_;
      }
    }
  }
  current_ = end;
  return fired;
}

}  // namespace rtcache::gateway
