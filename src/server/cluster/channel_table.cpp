// An LRU map of channel states.
#include "cluster/channel_table.hpp"

#include <cassert>

namespace rtcache::cluster {

channel_table::channel_table(std::size_t max_channels) : max_(max_channels) {
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
    map_.erase(std::string_view(lru_.back().channel));
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
}

}  // namespace rtcache::cluster
