// How long the source waits before reconnecting: exponential, capped, jittered so that many sources
// restarted together do not reconnect in step. Pure: the caller injects the random draw.
#pragma once

#include <chrono>
#include <cstdint>

namespace rtcache::pg {

struct backoff_policy {
  std::chrono::milliseconds initial{200};  // the first wait before jitter
  std::chrono::milliseconds max{30'000};   // no wait exceeds this
  double multiplier = 2.0;                 // growth per failed attempt; >= 1
  double jitter = 0.5;                     // fraction of the wait removed at random, in [0, 1]
};

// Thread-safety: none.
class backoff {
 public:
  explicit backoff(backoff_policy policy = {});

  // The wait before the next attempt: base = min(max, initial * multiplier^failures), then
  // base * (1 - jitter * unit_random). REQUIRES 0 <= unit_random < 1 (a uniform draw). Counts a failure.
  std::chrono::milliseconds next(double unit_random);

  // A connection succeeded (streaming started): the next failure starts again from `initial`.
  void reset() noexcept { failures_ = 0; }

  std::uint32_t failures() const noexcept { return failures_; }

 private:
  backoff_policy policy_;
  std::uint32_t failures_ = 0;
};

}  // namespace rtcache::pg
