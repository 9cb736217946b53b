// What a node knows about positions, as a pure object: the channel states it applied (channel_table), the gap
// markers (gap_index), the stream's identity and the epoch key. Given a channel's state it answers any view's
// position; every node that applied the same stream answers the same (docs/cluster.md, (c) and (f)). Pure.
#pragma once

#include "cluster/channel_table.hpp"
#include "cluster/gap_index.hpp"
#include "cluster/view_position.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::cluster {

struct view_position {
  std::string epoch;
  std::uint64_t offset = 0;

  friend bool operator==(const view_position&, const view_position&) = default;
};

// How many forgotten channels the book remembers by name hash, per channel it holds at most: a channel forgotten
// longer ago than that is looked up no more (its positions then count only the partitions it has messages of since).
inline constexpr std::size_t k_remembered_forgotten_per_channel = 4;

// Thread-safety: none; the node locks.
class position_book {
 public:
  // `identity`: the main stream's (and the ledger's) identity text; it is part of every epoch, so a stream created
  // again gives every channel a new one.
  position_book(epoch_deriver deriver, std::string identity, std::size_t max_channels);

  // Forgets every channel and marker and takes a new identity: the stream was created again, or this node lost
  // messages (its next message is not the one after the last it applied) and can vouch for nothing it held.
  void reset(std::string identity);

  // The message at `seq` of `channel`'s partition `factory` set that partition to `state` (its position header).
  void apply(std::uint64_t seq, std::string_view channel, std::string_view factory, const partition_state& state);
  // A gap marker at `seq`.
  void apply_gap(std::uint64_t seq, const gap_message& gap);
  // A partition's state learned from the stream (its latest message, looked up by subject) rather than applied in
  // order (the applier's lookups).
  void learn(std::string_view channel, std::string_view factory, const partition_state& state);
  void forget(std::string_view channel) { table_.erase(channel); }

  // The channel's entry, nullptr when this node does not hold it.
  const channel_entry* find(std::string_view channel) { return table_.find(channel); }
  // Whether the bound forgot the channel (among the last k_remembered_forgotten_per_channel × max_channels it forgot):
  // its partitions' states are then looked up in the stream before its next message is applied (the applier).
  bool was_forgotten(std::string_view channel) const { return table_.was_forgotten(channel); }
  bool remembers_forgotten() const noexcept { return table_.remembers_forgotten(); }

  // The facts of the partitions of `state` that `view` admits, live or in limbo by `first_seq` (the stream's
  // first sequence). A partition the view admits and `state` lacks is for the caller to look up (its latest
  // message by subject; failing that, the ledger's key for it: limbo at the ledger's generation, or never started).
  static std::vector<partition_fact> held_facts(const channel_state& state, const core::factory_scope& view,
                                                std::uint64_t first_seq);

  // The position of `view` on `channel` given the facts of the partitions it admits (others are ignored): a
  // function of those facts, the stream identity and the gaps covering the channel only.
  view_position position(std::string_view channel, std::span<const partition_fact> facts,
                         const core::factory_scope& view) const;
  // The position of a view of a channel whose state cannot be known (`what` says why: "malformed:<seq>"):
  // offset 0 and an epoch no known state has, the same on every node.
  view_position unknown_position(std::string_view channel, const core::factory_scope& view,
                                 std::string_view what) const;

  const std::string& identity() const noexcept { return identity_; }
  std::uint64_t gap_latest() const noexcept { return gaps_.latest(); }
  std::uint64_t gap_covering(std::string_view channel) const { return gaps_.covering(channel); }
  const channel_table& table() const noexcept { return table_; }

 private:
  epoch_deriver deriver_;
  std::string identity_;
  channel_table table_;
  gap_index gaps_;
};

}  // namespace rtcache::cluster
