// A stream as a partition search sees it (partition_search.hpp, resume_start.hpp), for tests without a server: each
// sequence holds a message of one partition of one channel, or a message of another channel.
#pragma once

#include "cluster/partition_search.hpp"
#include "cluster/positions.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace rtcache::cluster::test {

class model_stream {
 public:
  // Appends a message of `factory` in `generation` (0, or its start sequence) at the next sequence; its counter
  // follows the partition's last one in that generation.
  std::uint64_t add(const std::string& factory, std::uint64_t generation = 0) {
    const std::uint64_t seq = ++last_;
    partition_state& s = state_[factory];
    s.counter = s.generation == generation && s.last != 0 ? s.counter + 1 : 1;
    s.generation = generation;
    s.last = seq;
    messages_[seq] = {factory, probed_message{seq, generation, s.counter}};
    return seq;
  }
  void other() { ++last_; }
  const partition_state& state(const std::string& factory) { return state_[factory]; }
  std::uint64_t seq_of(const std::string& factory, std::uint64_t generation, std::uint64_t counter) const {
    for (const auto& [seq, m] : messages_) {
      if (m.first == factory && m.second.generation == generation && m.second.counter == counter) return seq;
    }
    return 0;
  }
  partition_probe probe(const std::string& factory, std::size_t& probes) const {
    return [this, factory, &probes](std::uint64_t seq) -> result<std::optional<probed_message>> {
      ++probes;
      for (auto it = messages_.lower_bound(seq); it != messages_.end(); ++it) {
        if (it->second.first == factory) return std::optional<probed_message>(it->second.second);
      }
      return std::optional<probed_message>();
    };
  }

 private:
  std::uint64_t last_ = 0;
  std::map<std::string, partition_state> state_;
  std::map<std::uint64_t, std::pair<std::string, probed_message>> messages_;
};

}  // namespace rtcache::cluster::test
