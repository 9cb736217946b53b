// Which gap marker covers a channel: the stream sequence of the last gap (a WAL gap the source reported, or one the
// cluster declared) that may have touched it, which every epoch of the channel includes, so that no position from
// before a gap is ever recovered after it (issue 13, "A gap is never continuity"). Pure.
#pragma once

#include "cluster/wire.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace rtcache::cluster {

// What a gap covers: with no tables, every contract channel (doc:, list:, factory:); with tables, the doc: and
// list: channels of their doc types (a TRUNCATE: every document of the type may be gone, every list changed) and,
// when a table has a doc type, every factory: channel (a summary counts documents of all types). The same
// channels the single node starts over (ingest::gap_touches). Public and private broadcast channels are never fed
// by the WAL and no WAL gap covers them; per-table record channels are, but carry no positions. A marker of lost
// relay ingest (gap_message::ingest_lost()) covers every channel relay ingest feeds: every contract channel and
// every public and private broadcast channel (not the internal record channels).
bool gap_covers(const gap_message& gap, std::string_view channel);

// The markers a node has applied, reduced to what epochs need: the latest marker of lost relay ingest (every
// channel it feeds), the latest covering every contract channel, the latest touching any doc type (factory:
// channels) and the latest per doc type. Memory: one entry per doc type.
// Thread-safety: none; the owner locks.
class gap_index {
 public:
  // Adds the marker at stream sequence `seq`. Markers arrive in stream order; an older one than a marker already
  // held for the same coverage changes nothing (loading from the ledger and the stream may repeat them).
  void add(std::uint64_t seq, const gap_message& gap);
  // The sequence of the latest marker covering `channel`, 0 when none.
  std::uint64_t covering(std::string_view channel) const;
  // The latest marker of all (the newest add()), 0 when none.
  std::uint64_t latest() const noexcept { return latest_; }
  void clear();

 private:
  struct view_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::uint64_t relayed_ = 0;  // the latest ingest_lost marker: covers broadcast channels too
  std::uint64_t all_ = 0;
  std::uint64_t any_type_ = 0;  // the latest table-scoped marker with a doc type: covers every factory: channel
  std::uint64_t latest_ = 0;
  boost::unordered_flat_map<std::string, std::uint64_t, view_hash, std::equal_to<>> by_type_;
};

// The doc type of a doc:<type>:<id> or list:<type>:<factory> channel name; empty for any other.
std::string_view doc_type_of(std::string_view channel) noexcept;
bool is_contract_channel(std::string_view channel) noexcept;

}  // namespace rtcache::cluster
