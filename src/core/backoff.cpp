// Retry back-off (see backoff.hpp).
#include "rtcache/core/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace rtcache::core {

namespace {

// `v` clamped to [0, 1]; NaN is 0.
double unit(double v) noexcept {
  return v >= 0.0 ? std::min(v, 1.0) : 0.0;
}

}  // namespace

std::chrono::milliseconds backoff_delay(const backoff_policy& policy, std::uint32_t attempt,
                                        double unit_random) noexcept {
  const double cap = static_cast<double>(std::max<std::int64_t>(0, policy.max.count()));
  const double initial = static_cast<double>(std::max<std::int64_t>(0, policy.initial.count()));
  const double multiplier = policy.multiplier >= 1.0 ? policy.multiplier : 1.0;  // NaN counts as 1
  // pow overflows to +inf for large attempts, which the cap absorbs (0 * inf is NaN: no growth from 0).
  const double grown = initial == 0.0 ? 0.0 : initial * std::pow(multiplier, static_cast<double>(attempt));
  const double base = std::min(grown, cap);
  const double wait = base * (1.0 - unit(policy.jitter) * unit(unit_random));
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::clamp(wait, 0.0, cap)));
}

std::chrono::milliseconds backoff::next(double unit_random) noexcept {
  const auto wait = backoff_delay(policy_, failures_, unit_random);
  if (failures_ < std::numeric_limits<std::uint32_t>::max()) ++failures_;
  return wait;
}

}  // namespace rtcache::core
