// Token buckets and the client broadcast bound (rate_limit.hpp).
#include "ingest/rate_limit.hpp"

#include <algorithm>

namespace rtcache::ingest {

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

broadcast_limiter::verdict broadcast_limiter::admit(std::size_t messages, std::size_t payload_bytes,
                                                    token_bucket::time_point now) noexcept {
  const auto count = static_cast<double>(messages);
  const auto bytes = static_cast<double>(payload_bytes);
  if (bytes > bytes_.capacity()) return verdict::too_large;
  if (messages_.available(now) < count || bytes_.available(now) < bytes) return verdict::rate_limited;
  messages_.take(count, now);
  bytes_.take(bytes, now);
  return verdict::ok;
}

broadcast_limiter::verdict address_rate_limits::admit(const std::string& key, std::size_t messages,
                                                      std::size_t payload_bytes, token_bucket::time_point now) {
  sync::mutex_lock lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    if (max_ == 0) return broadcast_limiter(rate_, now).admit(messages, payload_bytes, now);
    if (index_.size() >= max_) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
    lru_.push_front(entry{key, broadcast_limiter(rate_, now)});
    it = index_.emplace(key, lru_.begin()).first;
  } else if (it->second != lru_.begin()) {
    lru_.splice(lru_.begin(), lru_, it->second);
  }
  return it->second->limiter.admit(messages, payload_bytes, now);
}

std::size_t address_rate_limits::size() const {
  sync::mutex_lock lock(mu_);
  return index_.size();
}

}  // namespace rtcache::ingest
