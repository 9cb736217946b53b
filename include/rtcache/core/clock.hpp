// Time as the policy core sees it: injected, never read. The I/O layers pass a steady clock;
// tests pass manual_clock and move it explicitly, so no test sleeps to wait for a timer.
#pragma once

#include <chrono>

namespace rtcache::core {

using duration = std::chrono::steady_clock::duration;
using time_point = std::chrono::steady_clock::time_point;

// A source of "now". Implementations must be monotonic.
// Thread-safety: implementations document their own; manual_clock is not thread-safe.
class clock {
 public:
  virtual ~clock() = default;
  virtual time_point now() const = 0;
};

// A clock that moves only when told to. Starts at the steady clock's epoch.
class manual_clock final : public clock {
 public:
  time_point now() const override { return now_; }
  // REQUIRES: d >= 0 (time never goes backwards).
  void advance(duration d) { now_ += d; }

 private:
  time_point now_{};
};

}  // namespace rtcache::core
