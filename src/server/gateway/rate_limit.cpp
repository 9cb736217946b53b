// Token buckets and the client broadcast bound (rate_limit.hpp).
#include "rtcache/net/rate_limit.hpp"

#include <algorithm>

namespace rtcache::net {

double token_bucket::available(time_point now) noexcept {
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(capacity_, tokens_ + elapsed * rate_);
    last_ = now;
  }
  return tokens_;
}

bool token_bucket::take(double n, time_point now) noexcept {
  if (available(now) < n) return false;
  tokens_ -= n;
  return true;
}

broadcast_limiter::verdict broadcast_limiter::admit(std::size_t payload_bytes, token_bucket::time_point now) noexcept {
  const auto bytes = static_cast<double>(payload_bytes);
  if (bytes > bytes_.capacity()) return verdict::too_large;
  if (messages_.available(now) < 1 || bytes_.available(now) < bytes) return verdict::rate_limited;
  messages_.take(1, now);
  bytes_.take(bytes, now);
  return verdict::ok;
}

}  // namespace rtcache::net
