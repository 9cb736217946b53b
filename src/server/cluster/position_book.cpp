// A node's positions.
#include "cluster/position_book.hpp"

namespace rtcache::cluster {

position_book::position_book(epoch_deriver deriver, std::string identity, std::size_t max_channels)
    : deriver_(std::move(deriver)),
      identity_(std::move(identity)),
      table_(max_channels, k_remembered_forgotten_per_channel * max_channels) {}

void position_book::reset(std::string identity) {
  identity_ = std::move(identity);
  table_.clear();
  gaps_.clear();
}

void position_book::apply(std::uint64_t seq, std::string_view channel, std::string_view factory,
                          const partition_state& state) {
  channel_entry entry;
  if (const channel_entry* held = table_.find(channel)) entry = *held;
  entry.state.put(factory, state);
  entry.seq = seq;
  table_.put(channel, std::move(entry));
}

void position_book::learn(std::string_view channel, std::string_view factory, const partition_state& state) {
  channel_entry entry;
  if (const channel_entry* held = table_.find(channel)) entry = *held;
  if (const partition_state* known = entry.state.find(factory); known != nullptr && known->last >= state.last) {
    return;  // a lookup that raced a newer message changes nothing
  }
  entry.state.put(factory, state);
  table_.put(channel, std::move(entry));
}

void position_book::apply_gap(std::uint64_t seq, const gap_message& gap) {
  gaps_.add(seq, gap);
}

std::vector<partition_fact> position_book::held_facts(const channel_state& state, const core::factory_scope& view,
                                                      std::uint64_t first_seq) {
  std::vector<partition_fact> out;
  for (const auto& p : state.partitions) {
    if (view_admits(view, p.factory)) out.push_back(fact_of(p.factory, p.state, first_seq));
  }
  return out;
}

view_position position_book::position(std::string_view channel, std::span<const partition_fact> facts,
                                      const core::factory_scope& view) const {
  const epoch_basis basis{identity_, channel, gaps_.covering(channel)};
  return view_position{deriver_.epoch(basis, facts, view), view_offset(facts, view)};
}

view_position position_book::unknown_position(std::string_view channel, const core::factory_scope& view,
                                              std::string_view what) const {
  const epoch_basis basis{identity_, channel, gaps_.covering(channel)};
  return view_position{deriver_.unknown_epoch(basis, view, what), 0};
}

}  // namespace rtcache::cluster
