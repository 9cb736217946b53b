// Capped, jittered exponential back-off (backoff.hpp).
#include "rtcache/client/backoff.hpp"

#include <algorithm>

namespace rtcache::client {

std::chrono::milliseconds backoff_delay(const backoff_config& config, std::uint32_t attempt, double random01) noexcept {
  const auto cap = std::max<std::int64_t>(0, config.cap.count());
  std::int64_t d = std::max<std::int64_t>(0, config.base.count());
  for (std::uint32_t i = 0; i < attempt && d < cap; ++i) d *= 2;
  d = std::min(d, cap);
  const double jitter = std::clamp(config.jitter, 0.0, 1.0);
  const double r = std::clamp(random01, 0.0, 1.0);
  const double fixed = static_cast<double>(d) * (1.0 - jitter);
  const double varying = static_cast<double>(d) * jitter * r;
  return std::chrono::milliseconds(std::min(d, static_cast<std::int64_t>(fixed + varying)));
}

}  // namespace rtcache::client
