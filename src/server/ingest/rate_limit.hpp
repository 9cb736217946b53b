// Token buckets on an injected clock, and the per-connection bound on client broadcasts built from two of them
// (messages per second and bytes per second). Pure: the caller passes `now`; tests move a time value.
#pragma once

#include "rtcache/sync/annotated_mutex.hpp"

#include <chrono>
#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rtcache::ingest {

// `rate` tokens per second accrue up to `capacity`; the bucket starts full.
// Thread-safety: none (one connection's strand owns it).
class token_bucket {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  // REQUIRES: rate > 0, capacity >= 1.
  token_bucket(double rate, double capacity, time_point now) noexcept
      : rate_(rate), capacity_(capacity), tokens_(capacity), last_(now) {}

  // The tokens held at `now` (a `now` before the last one counts as no time passing).
  double available(time_point now) noexcept;
  // Takes `n` tokens if the bucket holds them at `now`; otherwise takes none and returns false.
  bool take(double n, time_point now) noexcept;

  double capacity() const noexcept { return capacity_; }

 private:
  double rate_;
  double capacity_;
  double tokens_;
  time_point last_;
};

// The bounds of one connection's client broadcasts (gateway_limits: client_broadcasts_per_second, ...).
struct broadcast_rate {
  double messages_per_second = 10;
  double message_burst = 20;
  double bytes_per_second = 64 * 1024;
  double byte_burst = 256 * 1024;
};

// Both buckets of one connection: a broadcast passes when each holds enough (one message, its payload bytes),
// and then takes from both; a refused broadcast takes nothing.
class broadcast_limiter {
 public:
  enum class verdict {
    ok,
    rate_limited,  // over messages/s or bytes/s right now
    too_large,     // more bytes than the byte bucket can ever hold (byte_burst): refused whatever the rate
  };

  broadcast_limiter(const broadcast_rate& r, token_bucket::time_point now) noexcept
      : messages_(r.messages_per_second, r.message_burst, now), bytes_(r.bytes_per_second, r.byte_burst, now) {}

  verdict admit(std::size_t payload_bytes, token_bucket::time_point now) noexcept {
    return admit(1, payload_bytes, now);
  }
  // `messages` at once, `payload_bytes` in all: all of them or none.
  verdict admit(std::size_t messages, std::size_t payload_bytes, token_bucket::time_point now) noexcept;

 private:
  token_bucket messages_;
  token_bucket bytes_;
};

// One broadcast_limiter per client address, for client broadcasts that come without a connection to hold one
// (POST /api/broadcast with a client's token). Bounded: at most `max_addresses` limiters; overflow rule: the one
// used least recently is dropped (its address starts again with full buckets: to gain one burst that way, an
// address must make max_addresses others send first).
// Thread-safety: admit() may be called concurrently.
class address_rate_limits {
 public:
  address_rate_limits(const broadcast_rate& r, std::size_t max_addresses) : rate_(r), max_(max_addresses) {}

  // `key`: the address's key (address_counter::key_of).
  broadcast_limiter::verdict admit(const std::string& key, std::size_t messages, std::size_t payload_bytes,
                                   token_bucket::time_point now);
  std::size_t size() const;

 private:
  struct entry {
    std::string key;
    broadcast_limiter limiter;
  };
  const broadcast_rate rate_;
  const std::size_t max_;
  mutable sync::annotated_mutex mu_;
  std::list<entry> lru_ RTCACHE_GUARDED_BY(mu_);  // most recently used first
  std::unordered_map<std::string, std::list<entry>::iterator> index_ RTCACHE_GUARDED_BY(mu_);
};

}  // namespace rtcache::ingest
