// Reconnect back-off (see backoff.hpp).
#include "rtcache/pg/backoff.hpp"

#include <algorithm>
#include <cassert>

namespace rtcache::pg {

backoff::backoff(backoff_policy policy) : policy_(policy) {
  assert(policy_.multiplier >= 1.0 && policy_.jitter >= 0.0 && policy_.jitter <= 1.0);
  assert(policy_.initial.count() >= 0 && policy_.max >= policy_.initial);
}

std::chrono::milliseconds backoff::next(double unit_random) {
  assert(unit_random >= 0.0 && unit_random < 1.0);
  const double cap = static_cast<double>(policy_.max.count());
  double base = static_cast<double>(policy_.initial.count());
  for (std::uint32_t i = 0; i < failures_ && base < cap; ++i) base *= policy_.multiplier;
  base = std::min(base, cap);
  if (failures_ < UINT32_MAX) ++failures_;
  const double wait = base * (1.0 - policy_.jitter * unit_random);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(0.0, wait)));
}

}  // namespace rtcache::pg
