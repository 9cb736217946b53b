// Open connections per client address (limits.max_connections_per_ip): one address reopening thousands of
// sockets must not take every slot of max_connections (issue 11, finding 6). IPv4 addresses count one by one;
// IPv6 addresses by their /64 (a host is usually given a whole /64, so counting single addresses would bound
// nothing); an IPv4-mapped IPv6 address counts as its IPv4 address.
#pragma once

#include "rtcache/sync/annotated_mutex.hpp"

#include <boost/asio/ip/address.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace rtcache::gateway {

class address_counter;

// One counted connection: releases its count when destroyed (every way a connection ends destroys its
// session, and with it this slot). Move-only; an empty slot releases nothing.
class address_slot {
 public:
  address_slot() = default;
  address_slot(address_slot&& other) noexcept;
  address_slot& operator=(address_slot&& other) noexcept;
  address_slot(const address_slot&) = delete;
  address_slot& operator=(const address_slot&) = delete;
  ~address_slot();

  explicit operator bool() const noexcept { return owner_ != nullptr; }
  void release() noexcept;

 private:
  friend class address_counter;
  address_slot(address_counter* owner, std::string key) noexcept : owner_(owner), key_(std::move(key)) {}
  address_counter* owner_ = nullptr;
  std::string key_;
};

// Thread-safety: every member may be called concurrently. REQUIRES: outlives every slot it handed out.
class address_counter {
 public:
  // `max_per_address` 0: no bound (every acquire succeeds; nothing is counted).
  explicit address_counter(std::size_t max_per_address) : max_(max_per_address) {}

  // A slot for one more connection from `a`, or an empty slot when `a` already holds max_per_address.
  // With no bound, a non-empty slot that counts nothing.
  address_slot acquire(const boost::asio::ip::address& a);

  // Connections counted for `a`'s key, and the keys with at least one (both 0 once every slot is released).
  std::size_t count(const boost::asio::ip::address& a) const;
  std::size_t addresses() const noexcept { return addresses_.load(std::memory_order_relaxed); }

  // The key `a` is counted under: the 4 bytes of an IPv4 (or IPv4-mapped) address, else the first 8 of IPv6.
  static std::string key_of(const boost::asio::ip::address& a);

 private:
  friend class address_slot;
  void release(const std::string& key) noexcept;

  const std::size_t max_;
  mutable sync::annotated_mutex mu_;
  // No zero entries.
  std::unordered_map<std::string, std::size_t> counts_ RTCACHE_GUARDED_BY(mu_);
  std::atomic<std::size_t> addresses_{0};  // counts_.size(), readable without mu_
};

}  // namespace rtcache::gateway
