// Searching one partition's messages in the stream by bisection over stream sequences, through a probe the caller
// gives (a direct get: the partition's first message at or after a sequence). Pure. Used where a node needs a
// message of a partition it did not keep: where an exact resume's fetch starts (resume_start.hpp), and the state of
// a forgotten channel's partitions before the message it applies next (the applier).
#pragma once

#include "cluster/error.hpp"

#include <cstdint>
#include <functional>
#include <optional>

namespace rtcache::cluster {

// A partition's message as a probe finds it: its stream sequence and position.
struct probed_message {
  std::uint64_t seq = 0;
  std::uint64_t generation = 0;
  std::uint64_t counter = 0;
};

// The partition's first message at stream sequence >= `seq` (nullopt: none), or why it could not be read.
using partition_probe = std::function<result<std::optional<probed_message>>(std::uint64_t seq)>;

// The partition's last message with lo <= seq <= hi (nullopt: none there), by bisection: at most about
// log2(hi - lo + 1) + 1 probes. Errors: the probe's.
result<std::optional<probed_message>> find_last_in(std::uint64_t lo, std::uint64_t hi, const partition_probe& probe);

}  // namespace rtcache::cluster
