// A channel partition's counters as the writer assigns them and every node reads them back from the stream
// (docs/cluster.md, (c) and (f)). Pure: no I/O, no clock.
//
// A channel is split into partitions by factory (subject.hpp; untagged messages form one partition too). Each
// partition is a sequence of its own: the writer keeps one contiguous counter per partition and writes, into a
// header of each message, the message's partition, that partition's generation and its counter after the message.
// Nothing of another partition is in the header, and nothing another partition does (its messages, its
// generations, its leaving the stream, how many partitions the channel has) changes a partition's state: a
// subscriber's view (the hub's visibility class: a set of factories, or all) derives its position from the
// partitions it admits only (view_position.hpp), which is what issue 11 asks of a scoped view.
//
// Generations. A partition's counters are only meaningful within one incarnation of the partition:
//   0      the partition's first incarnation in this stream (the writer proved, by the ledger's key for the
//          partition, that none existed)
//   s > 0  an incarnation started by the message at stream sequence s (the partition was in limbo: its last
//          message had left the stream, so its counter was lost; or its counter reached k_max_counter):
//          sequences never repeat, so neither do generations, and an epoch derived from one never matches a
//          position of another.
// A partition is live while its last message is in the stream (sequence >= the stream's first sequence; JetStream
// removes a prefix by age, bytes or purge, and MaxMsgsPerSubject always keeps a subject's last message), in limbo
// otherwise. Whether the writer or a node still remembers it in memory plays no part: memory is a cache of the
// stream, and a cache kept warm by other partitions' traffic must not decide anything.
#pragma once

#include "rtcache/core/error.hpp"

#include <boost/container/small_vector.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtcache::cluster {

// Partitions a node keeps in memory per channel (channel_table). A doc: channel carries one factory (two after a
// move); only many service_role broadcasts naming different factories grow one further. Overflow rule: the
// partition whose last message is the oldest is forgotten from memory (position_book::apply), and looked up in the
// stream like any partition a node does not hold; no position changes, since positions never depend on what a
// node remembers.
inline constexpr std::size_t k_max_partitions = 64;

// Counters stay below 2^53, so that offsets (sums of them) survive JSON numbers in JavaScript clients. Reaching it
// takes 9e15 messages on one partition: the writer starts a new generation of that partition instead of passing
// it.
inline constexpr std::uint64_t k_max_counter = (std::uint64_t{1} << 53) - 1;

// The header that carries a channel message's position.
inline constexpr std::string_view k_positions_header = "Rtcache-Pos";

// One partition's state after one of its messages.
struct partition_state {
  std::uint64_t generation = 0;
  std::uint64_t counter = 0;  // messages of this partition in this generation, >= 1
  std::uint64_t last = 0;     // the stream sequence of the partition's latest message (the one that set this)

  friend bool operator==(const partition_state&, const partition_state&) = default;
};

// Whether a partition whose latest message is `p.last` is live when the stream's first sequence is `first_seq`.
inline bool is_live(const partition_state& p, std::uint64_t first_seq) noexcept {
  return p.last >= first_seq;
}

// How a partition that is not live starts: the ledger proves no earlier incarnation (first), or one existed.
enum class incarnation { first, later };

// The partition's state after the writer appends one of its messages at stream sequence `seq`. `live`: the
// partition's state when it is live (its latest message is in the stream), nullptr otherwise; then `start` says
// whether this is its first incarnation (generation 0) or a later one (generation `seq`). A live partition counts
// on, unless its counter would pass k_max_counter: then it starts generation `seq`. REQUIRES: seq > 0 and, when
// live, live->last < seq.
partition_state next_state(const partition_state* live, std::uint64_t seq, incarnation start);

// A channel as a node knows it: the partitions it remembers, by factory.
struct partition_entry {
  std::string factory;  // empty: untagged
  partition_state state;

  friend bool operator==(const partition_entry&, const partition_entry&) = default;
};

// Sorted by factory (the untagged partition, empty, first), unique, at most k_max_partitions.
using partition_list = boost::container::small_vector<partition_entry, 2>;

struct channel_state {
  partition_list partitions;

  // The partition of `factory`, nullptr when not held.
  const partition_state* find(std::string_view factory) const noexcept;
  // Sets `factory`'s partition (keeping the list sorted), then forgets the partition with the oldest last message
  // while more than k_max_partitions are held (never `factory`'s).
  void put(std::string_view factory, const partition_state& state);
  void erase(std::string_view factory);

  friend bool operator==(const channel_state&, const channel_state&) = default;
};

// A message's position as the header carries it.
struct message_position {
  std::string factory;  // the message's partition (empty: untagged)
  partition_state state;
};

// "<generation>/<factory token>/<counter>" in decimal, the token as subject.hpp's factory_token (untagged: "~").
// `p.state.last` is not written: it is the message's own stream sequence, which every reader of the message has.
std::string encode_position(const message_position& p);

// The position of the message at stream sequence `seq` (its state's `last`). Strict: every field in range
// (generation <= seq; counter in 1..k_max_counter and no more than the sequences its generation spans), nothing
// else. Errors: bad_value / too_long, each naming what is wrong. Headers come from the stream, which a
// misbehaving publisher with credentials could write to: a malformed one is refused, never trusted in part.
core::result<message_position> decode_position(std::string_view header, std::uint64_t seq);

}  // namespace rtcache::cluster
