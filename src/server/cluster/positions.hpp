// A channel's counters as the writer assigns them and every node reads them back from the stream (docs/cluster.md,
// (c) and (f)). Pure: no I/O, no clock.
//
// A channel is split into partitions by factory (subject.hpp). The writer keeps one contiguous counter per
// partition and writes, into a header of each message of the channel, the counters of *every* partition of the
// channel as they stand after the message, with the channel's generation. A subscriber's view (the hub's
// visibility class: a set of factories, or all) then has offset = the sum of its partitions' counters: it grows
// by exactly one for each message the view may see and by nothing for the others, and any node that applied the
// message computes it from the header alone.
//
// Generations. A channel's counters are only meaningful within one incarnation of the channel:
//   0      the channel's first incarnation in this stream (the writer proved, by the ledger, that none existed)
//   s > 0  an incarnation started by the message at stream sequence s (the writer forgot the channel, its last
//          message left the stream, or it outgrew k_max_partitions): sequences never repeat, so neither do
//          generations, and an epoch derived from one never matches a position of another.
#pragma once

#include "rtcache/core/error.hpp"

#include <boost/container/small_vector.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace rtcache::cluster {

// Partitions one channel may have at once. A doc: channel carries one factory (two after a move); only a
// service_role broadcast naming many factories could grow one further. Overflow rule: the message that would add
// a partition beyond it starts a new generation holding that partition alone (every view of the channel starts
// over: recovered:false, never a false recovery). Also bounds the position header (~90 bytes per partition).
inline constexpr std::size_t k_max_partitions = 64;

// Counters stay below 2^53, so that offsets (sums of them) survive JSON numbers in JavaScript clients. Reaching it
// takes 9e15 messages on one partition: the writer starts a new generation instead of passing it.
inline constexpr std::uint64_t k_max_counter = (std::uint64_t{1} << 53) - 1;

// The header that carries a channel message's positions.
inline constexpr std::string_view k_positions_header = "Rtcache-Pos";

struct partition_counter {
  std::string factory;        // empty: untagged
  std::uint64_t counter = 0;  // messages of this partition in this generation, >= 1

  friend bool operator==(const partition_counter&, const partition_counter&) = default;
};

// Sorted by factory (the untagged partition, empty, first), unique.
using partition_list = boost::container::small_vector<partition_counter, 2>;

struct channel_state {
  std::uint64_t generation = 0;
  partition_list partitions;

  // The counter of `factory`'s partition, 0 when it has none.
  std::uint64_t counter(std::string_view factory) const noexcept;

  friend bool operator==(const channel_state&, const channel_state&) = default;
};

// The state after the writer appends one message of partition `factory` at stream sequence `seq`: that
// partition's counter + 1 (a new partition starts at 1). Starts a new generation (`seq`, that partition alone at
// 1) when the partition would be the (k_max_partitions + 1)-th or its counter would pass k_max_counter.
// REQUIRES: seq > 0.
channel_state next_state(const channel_state& before, std::string_view factory, std::uint64_t seq);

// A new incarnation started by the message at `seq` (0: the first incarnation), before that message.
channel_state fresh_state(std::uint64_t generation);

// A message's positions as the header carries them.
struct message_positions {
  channel_state state;  // after the message
  std::string factory;  // the message's own partition (empty: untagged); present in state.partitions
};

// "<generation>/<own factory token>/<token>=<counter>,<token>=<counter>..." in decimal, partitions sorted,
// tokens as subject.hpp's factory_token (untagged: "~").
std::string encode_positions(const message_positions& p);

// Strict: every field in range, partitions sorted and unique, at most k_max_partitions, every counter in
// 1..k_max_counter, the own partition listed, nothing else. Errors: bad_value / too_many / too_long (the header
// is bounded by k_max_partitions), each naming what is wrong. Headers come from the stream, which a misbehaving
// publisher with credentials could write to: a malformed one is refused, never trusted in part.
core::result<message_positions> decode_positions(std::string_view header);

}  // namespace rtcache::cluster
