// The channel states a node (or the writer) holds in memory: channel -> (the partitions it remembers, the stream
// sequence of the latest message applied), bounded by a count with the least recently used channel forgotten first.
// Forgetting is always safe: a node that does not hold a channel the bound forgot looks its other partitions up in the
// stream before it applies the channel's next message (the applier), and the writer looks up every partition it
// does not hold before it assigns the partition's next counter (docs/cluster.md, (f)). Pure.
#pragma once

#include "cluster/positions.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
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
  // `remember_forgotten`: how many of the channels the bound forgot, the latest, it keeps a 64-bit hash of for
  // was_forgotten() (0: none; the writer looks up every channel it does not hold anyway).
  explicit channel_table(std::size_t max_channels, std::size_t remember_forgotten = 0);
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
  // Whether the bound forgot `channel` among the last `remember_forgotten` channels it forgot (a hash collision may
  // say yes for another channel: a needless lookup at worst). clear() empties this memory too.
  bool was_forgotten(std::string_view channel) const;
  // Whether was_forgotten() can say yes for any channel (a cheap test before naming one).
  bool remembers_forgotten() const noexcept { return !forgotten_hashes_.empty(); }

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
  std::size_t remember_ = 0;
  std::deque<std::uint64_t> forgotten_order_;  // hashes of forgotten channels, oldest first
  boost::unordered_flat_map<std::uint64_t, std::uint32_t> forgotten_hashes_;  // hash -> times in forgotten_order_
};

}  // namespace rtcache::cluster
