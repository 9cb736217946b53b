// Reconnect and rejoin delays: capped exponential back-off with jitter, so a fleet of clients that lost one
// server does not reconnect in lock-step. Pure: the random draw is a parameter.
#pragma once

#include <chrono>
#include <cstdint>

namespace rtcache::client {

struct backoff_config {
  std::chrono::milliseconds base{1000};  // first delay (before jitter)
  std::chrono::milliseconds cap{10000};  // no delay exceeds this
  double jitter = 0.5;                   // fraction of the delay that is randomised, in [0, 1]
};

// The delay before attempt `attempt` (0 for the first retry): min(cap, base * 2^attempt), of which the last
// `jitter` fraction is scaled by `random01` (in [0, 1)). The result is in [(1 - jitter) * d, d].
std::chrono::milliseconds backoff_delay(const backoff_config& config, std::uint32_t attempt, double random01) noexcept;

}  // namespace rtcache::client
