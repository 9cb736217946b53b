// Open connections per client address (address_limit.hpp).
#include "gateway/address_limit.hpp"

#include <utility>

namespace rtcache::gateway {

address_slot::address_slot(address_slot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), key_(std::move(other.key_)) {}

address_slot& address_slot::operator=(address_slot&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    key_ = std::move(other.key_);
  }
  return *this;
}

address_slot::~address_slot() {
  release();
}

void address_slot::release() noexcept {
  if (owner_ == nullptr) return;
  std::exchange(owner_, nullptr)->release(key_);
}

std::string address_counter::key_of(const boost::asio::ip::address& a) {
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
  const auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) {
    const auto b = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_bytes();
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
  const auto b = v6.to_bytes();
  return std::string(reinterpret_cast<const char*>(b.data()), 8);  // the /64
}

address_slot address_counter::acquire(const boost::asio::ip::address& a) {
  if (max_ == 0) return address_slot(this, {});
  std::string key = key_of(a);
  sync::mutex_lock lock(mu_);
  auto [it, inserted] = counts_.try_emplace(key, 0);
  if (it->second >= max_) return {};
  ++it->second;
  if (inserted) addresses_.store(counts_.size(), std::memory_order_relaxed);
  return address_slot(this, std::move(key));
}

void address_counter::release(const std::string& key) noexcept {
  if (max_ == 0) return;
  sync::mutex_lock lock(mu_);
  auto it = counts_.find(key);
  if (it == counts_.end()) return;
  if (--it->second == 0) {
    counts_.erase(it);
    addresses_.store(counts_.size(), std::memory_order_relaxed);
  }
}

std::size_t address_counter::count(const boost::asio::ip::address& a) const {
  sync::mutex_lock lock(mu_);
  const auto it = counts_.find(key_of(a));
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace rtcache::gateway
