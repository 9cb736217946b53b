// An LRU map of channel states.
#include "cluster/channel_table.hpp"

#include <cassert>

namespace rtcache::cluster {

channel_table::channel_table(std::size_t max_channels, std::size_t remember_forgotten)
    : max_(max_channels), remember_(remember_forgotten) {
  assert(max_ >= 1 && "a channel table holds at least one channel");
}

const channel_entry* channel_table::find(std::string_view channel) {
  auto it = map_.find(channel);
  if (it == map_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return &it->second->entry;
}

void channel_table::put(std::string_view channel, channel_entry entry) {
  if (auto it = map_.find(channel); it != map_.end()) {
    it->second->entry = std::move(entry);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  while (map_.size() >= max_) {
    const std::string_view oldest(lru_.back().channel);
    if (remember_ != 0) {
      const std::uint64_t h = std::hash<std::string_view>{}(oldest);
      forgotten_order_.push_back(h);
      ++forgotten_hashes_[h];
      if (forgotten_order_.size() > remember_) {
        const auto dropped = forgotten_hashes_.find(forgotten_order_.front());
        if (--dropped->second == 0) forgotten_hashes_.erase(dropped);
        forgotten_order_.pop_front();
      }
    }
    map_.erase(oldest);
    lru_.pop_back();
    ++forgotten_;
  }
  lru_.push_front(node{std::string(channel), std::move(entry)});
  map_.emplace(std::string_view(lru_.front().channel), lru_.begin());
}

void channel_table::erase(std::string_view channel) {
  auto it = map_.find(channel);
  if (it == map_.end()) return;
  const auto at = it->second;
  map_.erase(it);
  lru_.erase(at);
}

void channel_table::clear() {
  forgotten_ += map_.size();
  map_.clear();
  lru_.clear();
  forgotten_order_.clear();
  forgotten_hashes_.clear();
}

bool channel_table::was_forgotten(std::string_view channel) const {
  return remembers_forgotten() && forgotten_hashes_.contains(std::hash<std::string_view>{}(channel));
}

}  // namespace rtcache::cluster
