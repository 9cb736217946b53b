// One message of the main stream applied to a node: its subject, body and position header decoded strictly, the
// node's position_book updated, and the hub given the message at the position the book names for each view it
// reaches (docs/cluster.md, "The applier"). No I/O: the applier (applier.hpp) feeds it the stream in order; tests
// feed it messages built by hand.
//
// What each kind of message does:
//   channel message (<prefix>.c.<channel>.<factory>, Rtcache-Pos): the book applies the partition's new state,
//     then hub::publish with positions: each view that admits the message is asked its position, which the book
//     derives from the partitions the view admits (view_position.hpp), the same on every node;
//   record (<prefix>.p.<channel>): published live to the per-table channel, not retained, no positions;
//   gap marker (<prefix>.x.<kind>): the book applies it, then hub::reset_at starts over every view of the
//     channels it covers at the position the book now names (a new epoch);
//   writer and position-only messages (<prefix>.x.<kind>): nothing for the hub.
// Anything that does not decode (subject, body, header, the contract event or record it carries, or parts that
// disagree with each other) is refused with a reason and changes nothing: not the book, not the hub. Every node
// refuses the same message, so positions stay the same everywhere.
#pragma once

#include "cluster/message.hpp"
#include "cluster/position_book.hpp"
#include "cluster/replay_filter.hpp"
#include "cluster/settings.hpp"
#include "cluster/wire.hpp"
#include "hub/hub.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/event_codec.hpp"
#include "rtcache/core/factory_scope.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rtcache::cluster {

// A subject of the main stream, split: section 'c' (channel and factory), 'p' (channel) or 'x' (control kind).
struct parsed_subject {
  char section = 0;
  std::string channel;  // 'c', 'p'; for 'x' the control kind
  std::string factory;  // 'c' only; empty: untagged
};

// The inverse of subjects::partition / records / control for the stream prefix `prefix`. Errors: bad_value.
core::result<parsed_subject> parse_subject(std::string_view prefix, std::string_view subject);

// The hub positions the book names: for a view of a channel, the position the partitions it admits give (those the
// book holds; a channel it does not hold has none yet, so its views are at offset 0 of the channel's empty state).
// REQUIRES: the book outlives it and is not changed concurrently (the hub calls it under its view locks, on the
// caller's thread).
class book_positions final : public hub::hub_view_positions {
 public:
  book_positions(position_book& book, std::uint64_t first_seq) : book_(book), first_seq_(first_seq) {}
  std::optional<hub::hub_position> position_of(std::string_view channel,
                                               const core::factory_scope& view) const override;

 private:
  position_book& book_;
  std::uint64_t first_seq_;
};

struct stream_apply_stats {
  std::uint64_t applied = 0;    // messages taken in order (refused ones included)
  std::uint64_t published = 0;  // channel messages published into the hub
  std::uint64_t records = 0;    // postgres_changes records published
  std::uint64_t gaps = 0;       // gap markers applied
  std::uint64_t control = 0;    // writer and position-only messages (nothing for the hub)
  std::uint64_t refused = 0;    // messages that did not decode, skipped
  std::uint64_t replays = 0;    // source messages the stream held again (replay_filter), dropped
};

struct stream_apply_settings {
  std::string prefix;   // the stream's subject prefix (subjects::prefix)
  std::string node_id;  // this node: a client broadcast from one of its connections keeps its origin (self:false)
  // Channels the book holds (channel_table's bound; the least recently used is forgotten beyond it).
  std::size_t max_channels = k_default_max_channels;
  wire_limits limits;
};

// A channel message as apply() takes it: every part decoded and checked against the others, nothing applied yet.
struct decoded_channel {
  parsed_subject subject;
  channel_message body;
  message_position position;
  std::optional<core::event> contract;
  hub::postgres_change_ptr change;
};

// Why a resume was (or was not) answered from messages fetched from the stream (stream_applier::join_replayed).
enum class replay_outcome {
  recovered,     // the view passed through the resume position: joined recovered:true with what came after it
  not_kept,      // it passed through, but the hub's history bounds did not keep it all: joined recovered:false
  not_passed,    // the positions the fetched messages give never reach the resume position continuously
  not_joinable,  // the view came to exist meanwhile, or the hub refused it: the caller joins as join() does
};

// Thread-safety: none. One thread (or one lock) owns it, its book and the order of its hub calls: the hub trusts the
// positions it is given, so book updates and hub calls must happen in stream order.
class stream_applier {
 public:
  // `identity`: the stream's (stream_identity::to_string()), part of every epoch. REQUIRES: `target` outlives it.
  stream_applier(stream_apply_settings settings, epoch_deriver deriver, std::string identity,
                 core::doc_type_registry types, hub::hub& target);

  // Applies the next message of the stream (m.seq greater than the last one applied). `first_seq`: the stream's
  // first sequence as the node knows it (which partitions are live). The error says why a message was refused; it
  // was skipped (and counted). A message repeating a source message taken before (replay_filter.hpp) is dropped
  // before anything is decoded: the error (duplicate_key) says so, counted as a replay, not as refused.
  core::result<void> apply(const stream_message& m, std::uint64_t first_seq);

  // This node can vouch for nothing it applied: it lost messages (the stream dropped some before it applied them)
  // or the stream was created again (`identity` is then the new one). The book forgets every channel and marker
  // and takes `identity`; every view of every channel in the hub starts over at the position the empty book names
  // (hub::reset_at: its subscribers are told, its history goes), so no resume is judged continuous across the
  // loss. Returns how many views started over.
  std::size_t reset(std::string identity, std::uint64_t first_seq);

  // A client's join of `view` on `channel` at the position the book names now (hub::subscribe_view_at), with its
  // resume judged by the hub.
  core::result<hub::hub_join> join(std::string_view channel, const core::factory_scope& view,
                                   std::shared_ptr<hub::hub_subscriber> subscriber,
                                   const std::optional<hub::hub_position>& resume, std::uint64_t first_seq);

  // The position the book names for `view` of `channel`.
  hub::hub_position position_of(std::string_view channel, const core::factory_scope& view, std::uint64_t first_seq);

  // Whether a join with `resume` needs the view's messages from the stream to be answered recovered:true (exact
  // resume by range fetch, docs/cluster.md (h)): the hub cannot answer it (it holds no view of `view` on
  // `channel`, or the view's history does not reach back to it: hub::resumable), and `resume` is in the view's
  // current epoch, behind its current offset.
  bool resume_needs_fetch(std::string_view channel, const core::factory_scope& view, const hub::hub_position& resume,
                          std::uint64_t first_seq);

  // The subjects holding every message `view` admits on `channel`: one per factory of a scoped view (never another
  // factory's), the channel's wildcard for the unscoped view.
  std::vector<std::string> view_subjects(std::string_view channel, const core::factory_scope& view) const;

  // Exact resume by range fetch. `fetched`: every message of view_subjects() from stream sequence `from_seq`
  // (the stream's first sequence, or a later one where the client's missed messages can begin: resume_start.hpp)
  // through the last message applied, in any order. Taken by sequence, each is decoded as apply() decodes it (refused
  // ones and repeated source messages are skipped, as apply() skips them) and the book's positions for the view are
  // derived after each, from the partitions' states before the first (those the book holds of partitions without a
  // fetched message, which must be older than `from_seq`; for the others, what their first fetched message implies: its
  // predecessor in the same generation, older than `from_seq`, live when `from_seq` - 1 is still in the stream and in
  // limbo otherwise; unknown when it started a generation). When those positions pass through `resume` and from there
  // reach the view's current position one offset at a time in one epoch, the walk ends at the book's state of every
  // partition the view admits, and every message after `resume` is newer than the last gap marker covering the channel:
  // a view the hub does not hold is created at `resume`, given those messages as history at those positions
  // (hub::publish) and joined at its current position, recovered:true with exactly them as replay (unless the hub's
  // history bounds drop some: then recovered:false, never a partial replay); a view the hub holds, its history short of
  // `resume`, is joined at its current position with those messages encoded as the hub would (hub::encode) as the
  // replay. `outcome` says what happened; a result whenever the hub was asked to join (recovered, refused, or not
  // recovered past its history bounds), nullopt otherwise: the caller then joins as join() does.
  std::optional<core::result<hub::hub_join>> join_replayed(std::string_view channel, const core::factory_scope& view,
                                                           std::shared_ptr<hub::hub_subscriber> subscriber,
                                                           const hub::hub_position& resume, std::uint64_t first_seq,
                                                           std::span<const stream_message> fetched,
                                                           std::uint64_t from_seq, replay_outcome& outcome);

  // The subject of `m` when it is a channel message of a channel the book forgot by its bound and does not hold
  // (position_book::was_forgotten): the channel's other partitions must then be looked up in the stream and learned
  // (learn()) before `m` is applied, or this node's positions of the views admitting them would count only what
  // follows, unlike every node that kept the channel. nullopt otherwise.
  std::optional<parsed_subject> forgotten_partition(const stream_message& m);
  // A partition's state found in the stream: its last message before the one applied next.
  void learn(std::string_view channel, std::string_view factory, const partition_state& state) {
    book_.learn(channel, factory, state);
  }

  const stream_apply_stats& stats() const noexcept { return stats_; }
  position_book& book() noexcept { return book_; }

 private:
  // The message decoded as apply() takes it (errors: why it is refused); a subject of another section: bad_value.
  core::result<decoded_channel> decode_channel(const stream_message& m, parsed_subject s, channel_message body);
  core::result<decoded_channel> decode_channel(const stream_message& m);
  // What hub::publish is given for a decoded channel message (positions aside).
  hub::hub_publish_options options_of(const decoded_channel& c) const;
  // hub::publish of a decoded channel message at `positions`.
  core::result<void> publish_channel(const decoded_channel& c, const hub::hub_view_positions& positions);
  core::result<void> apply_channel(const stream_message& m, decoded_channel c, std::uint64_t first_seq);
  core::result<void> apply_record(const parsed_subject& s, record_message body);
  void apply_gap(std::uint64_t seq, const gap_message& gap, std::uint64_t first_seq);

  stream_apply_settings settings_;
  position_book book_;
  core::event_decoder events_;
  hub::hub& hub_;
  stream_apply_stats stats_;
  replay_filter replays_;  // of the messages apply() took
};

}  // namespace rtcache::cluster
