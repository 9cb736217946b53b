// How long to wait before retrying after a failure: exponential, capped, jittered so that many peers that
// failed together (sources restarted with their database, clients that lost one server) do not retry in
// step. Used by the PostgreSQL source's reconnects and the C++ SDK's reconnects and rejoins. Pure: the caller
// injects the random draw.
#pragma once

#include <chrono>
#include <cstdint>

namespace rtcache::core {

// Out-of-range fields are clamped where they are used, never trusted: negative waits count as 0, a
// multiplier below 1 as 1, jitter outside [0, 1] as the nearest bound (NaN as 0).
struct backoff_policy {
  std::chrono::milliseconds initial{200};  // the first wait before jitter
  std::chrono::milliseconds max{30'000};   // no wait exceeds this
  double multiplier = 2.0;                 // growth per failed attempt
  double jitter = 0.5;                     // fraction of the wait removed at random
};

// The wait before retry number `attempt` (0 for the first): base = min(max, initial * multiplier^attempt),
// then base * (1 - jitter * unit_random), truncated to whole milliseconds. `unit_random` is a uniform draw
// in [0, 1) (clamped to [0, 1]); the result lies in [(1 - jitter) * base, base]. O(1) for any attempt.
std::chrono::milliseconds backoff_delay(const backoff_policy& policy, std::uint32_t attempt,
                                        double unit_random) noexcept;

// backoff_delay with the failure count kept: next() counts a failure, reset() forgets them all.
// Thread-safety: none; owned by the loop that retries.
class backoff {
 public:
  explicit backoff(backoff_policy policy = {}) noexcept : policy_(policy) {}

  // The wait before the next attempt (backoff_delay at the number of failures so far). Counts a failure.
  std::chrono::milliseconds next(double unit_random) noexcept;

  // An attempt succeeded: the next failure waits `initial` again.
  void reset() noexcept { failures_ = 0; }

  std::uint32_t failures() const noexcept { return failures_; }

 private:
  backoff_policy policy_;
  std::uint32_t failures_ = 0;
};

}  // namespace rtcache::core
