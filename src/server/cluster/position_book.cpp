// A node's positions.
#include "cluster/position_book.hpp"

namespace rtcache::cluster {

position_book::position_book(epoch_deriver deriver, std::string identity, std::size_t max_channels)
    : deriver_(std::move(deriver)), identity_(std::move(identity)), table_(max_channels) {}

void position_book::reset(std::string identity) {
  identity_ = std::move(identity);
  table_.clear();
  gaps_.clear();
}

void position_book::apply(std::uint64_t seq, std::string_view channel, const channel_state& state) {
  table_.put(channel, channel_entry{state, seq});
}

void position_book::apply_gap(std::uint64_t seq, const gap_message& gap) {
  gaps_.add(seq, gap);
}

view_position position_book::position(std::string_view channel, const channel_state& state,
                                      const core::factory_scope& view) const {
  const epoch_basis basis{identity_, channel, state.generation, gaps_.covering(channel)};
  return view_position{deriver_.epoch(basis, view), view_offset(state, view)};
}

view_position position_book::unknown_position(std::string_view channel, const core::factory_scope& view,
                                              std::string_view what) const {
  const epoch_basis basis{identity_, channel, 0, gaps_.covering(channel)};
  return view_position{deriver_.unknown_epoch(basis, view, what), 0};
}

}  // namespace rtcache::cluster
