// Test support: stream messages in the writer's format (docs/cluster.md (f)) built by hand, and the positions the
// pure scheme gives them, for the applier's tests. Every partition here is live and in its first incarnation (a
// fresh stream that retention never touched), so next_state counts on from the partition's last message.
#pragma once

#include "cluster/message.hpp"
#include "cluster/position_book.hpp"
#include "cluster/positions.hpp"
#include "cluster/source_ids.hpp"
#include "cluster/subject.hpp"
#include "cluster/wire.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace rtcache::cluster::test {

inline std::string test_secret() {
  return std::string(32, 'k');
}

class stream_writer {
 public:
  // `prefix`: the stream's subject prefix; `first_seq`: the sequence the stream gives the next message.
  explicit stream_writer(std::string prefix, std::uint64_t first_seq = 1)
      : subjects_{std::move(prefix)}, next_seq_(first_seq) {}

  // A channel message of partition (channel, factory) at the next sequence: subject, Nats-Msg-Id, Rtcache-Pos
  // from next_state, body from encode_body. `restart`: the writer found the partition in limbo (its last message
  // left the stream), so the message starts a later incarnation (generation = its sequence).
  stream_message channel(const std::string& channel, const std::string& factory, std::string payload = "{}",
                         bool contract = false, bool restart = false) {
    const std::uint64_t seq = next_seq_++;
    auto& held = states_[{channel, factory}];
    const partition_state* live = held.counter == 0 || restart ? nullptr : &held;
    held = next_state(live, seq, held.counter == 0 ? incarnation::first : incarnation::later);
    channel_message body;
    body.channel = channel;
    body.event = "invalidate";
    body.payload = std::move(payload);
    body.factory = factory;
    body.contract = contract;
    stream_message m;
    m.seq = seq;
    m.subject = subjects_.partition(channel, factory);
    m.headers.push_back({std::string(msg_id_header), wal_msg_id({7, 1, seq * 16, 0})});
    m.headers.push_back({std::string(k_positions_header), encode_position({factory, held})});
    m.data = encode_body(body);
    applied_.push_back({seq, channel, factory, held});
    return m;
  }

  // A gap marker (no tables: every contract channel; else the doc types of its tables) at the next sequence;
  // reason k_ingest_lost_reason: every channel relay ingest feeds.
  stream_message gap(std::vector<gap_table_ref> tables, std::string_view reason = "lost") {
    const std::uint64_t seq = next_seq_++;
    gap_message g;
    g.reason = std::string(reason);
    g.tables = std::move(tables);
    gaps_.push_back({seq, g});
    stream_message m;
    m.seq = seq;
    m.subject = subjects_.control("gap");
    m.data = encode_body(g);
    return m;
  }

  // Anything at the next sequence (malformed messages): it takes a sequence, nothing else.
  stream_message raw(std::string subject, std::string data, std::vector<header> headers = {}) {
    stream_message m;
    m.seq = next_seq_++;
    m.subject = std::move(subject);
    m.headers = std::move(headers);
    m.data = std::move(data);
    return m;
  }

  // The position the pure scheme gives `view` of `channel` after the messages built so far (a book that applied
  // them all, every partition live), independently of the applier.
  // `first_seq`: the stream's first sequence (which partitions are live).
  view_position expected(const std::string& identity, const std::string& channel, const core::factory_scope& view,
                         std::uint64_t first_seq = 1) const {
    position_book book(epoch_deriver(test_secret()), identity, 1000);
    for (const auto& a : applied_) book.apply(a.seq, a.channel, a.factory, a.state);
    for (const auto& [seq, g] : gaps_) book.apply_gap(seq, g);
    std::vector<partition_fact> facts;
    if (const channel_entry* e = book.find(channel)) facts = position_book::held_facts(e->state, view, first_seq);
    return book.position(channel, facts, view);
  }

  const subjects& subject_of() const { return subjects_; }
  std::uint64_t next_seq() const { return next_seq_; }

 private:
  struct applied {
    std::uint64_t seq;
    std::string channel;
    std::string factory;
    partition_state state;
  };
  subjects subjects_;
  std::uint64_t next_seq_;
  std::map<std::pair<std::string, std::string>, partition_state> states_;
  std::vector<applied> applied_;
  std::vector<std::pair<std::uint64_t, gap_message>> gaps_;
};

}  // namespace rtcache::cluster::test
