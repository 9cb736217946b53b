// The channel states a node (or the writer) holds in memory: channel -> (the partitions it remembers, the stream
// sequence of the latest message applied), bounded by a count with the least recently used channel forgotten first.
// Forgetting is always safe: a node that does not hold a channel looks its state up in the stream (the applier, still
// to be built), and the writer does the same before it assigns the channel's next counter (docs/cluster.md, (f)). Pure.
#pragma once

#include "cluster/positions.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>

namespace rtcache::cluster {

struct channel_entry {
  channel_state state;
  std::uint64_t seq = 0;  // the stream sequence of the latest message applied to `state` (0: only learned)
};

// Thread-safety: none; the owner locks.
class channel_table {
 public:
  // REQUIRES: max_channels >= 1. Overflow rule: put() beyond it forgets the least recently used channel.
  explicit channel_table(std::size_t max_channels);
  channel_table(const channel_table&) = delete;
  channel_table& operator=(const channel_table&) = delete;

  // The channel's entry, nullptr when not held; marks it most recently used. The pointer is valid until the
  // next put(), erase() or clear().
  const channel_entry* find(std::string_view channel);
  // Sets (or replaces) the channel's entry and marks it most recently used.
  void put(std::string_view channel, channel_entry entry);
  void erase(std::string_view channel);
  void clear();

  std::size_t size() const noexcept { return map_.size(); }
  std::size_t capacity() const noexcept { return max_; }
  // Channels forgotten by the bound (and by clear()) since construction: a lookup that started before a change
  // of this count may have raced a forgotten update (the applier must re-check).
  std::uint64_t forgotten() const noexcept { return forgotten_; }

 private:
  struct node {
    std::string channel;
    channel_entry entry;
  };
  using list = std::list<node>;  // most recently used first; nodes never move, so map keys may view them
  struct view_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  std::size_t max_;
  list lru_;
  boost::unordered_flat_map<std::string_view, list::iterator, view_hash, std::equal_to<>> map_;
  std::uint64_t forgotten_ = 0;
};

}  // namespace rtcache::cluster
