// Where each message of the main stream came from, as ids and headers: the Nats-Msg-Id JetStream de-duplicates on
// (derived from the commit identity of a WAL transaction, or from the relay ingest message), and the writer's
// anchors that let a new writer continue exactly where the stream ends (docs/cluster.md, (b), (c) and (f)). Pure.
#pragma once

#include "rtcache/core/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>

namespace rtcache::cluster {

// One routed message of a WAL transaction: which PostgreSQL cluster and timeline, the transaction's commit LSN
// and the message's index in the transaction's routed output (net/routed_sink.hpp numbers them), and the writer's
// rewind generation (wal_anchor_state::rewinds): a server restored from a copy on the same timeline reuses LSNs,
// and its later commits are other messages than the ones the stream holds under the same LSNs. Ordered by
// (rewinds, commit_lsn, index) within one (system_identifier, timeline).
struct wal_message_id {
  std::uint64_t system_identifier = 0;
  std::uint32_t timeline = 0;
  std::uint64_t commit_lsn = 0;
  std::uint32_t index = 0;
  std::uint32_t rewinds = 0;

  friend bool operator==(const wal_message_id&, const wal_message_id&) = default;
};

// Whether `id` is `last` or comes before it: the same PostgreSQL cluster and timeline, and (rewinds, commit_lsn,
// index) not greater. Messages of another cluster or timeline are in an order of their own: never at or below.
inline bool at_or_below(const wal_message_id& id, const wal_message_id& last) {
  return id.system_identifier == last.system_identifier && id.timeline == last.timeline &&
         std::tie(id.rewinds, id.commit_lsn, id.index) <= std::tie(last.rewinds, last.commit_lsn, last.index);
}

// One message republished from the ingest stream: the ingest stream's incarnation (its created_ns), the ingest
// message's sequence and the item's index in it.
struct ingest_message_id {
  std::int64_t ingest_created_ns = 0;
  std::uint64_t ingest_seq = 0;
  std::uint32_t index = 0;

  friend bool operator==(const ingest_message_id&, const ingest_message_id&) = default;
};

using message_source = std::variant<std::monostate, wal_message_id, ingest_message_id>;

// PostgreSQL's text form of an LSN: upper and lower 32 bits in upper-case hex, "16/B374D848".
std::string format_lsn(std::uint64_t lsn);
std::optional<std::uint64_t> parse_lsn(std::string_view text);

// "<system_identifier>-<timeline>-<commit_lsn as %X/%X>-<index>", the id net/routed_sink.hpp specifies, followed by
// "-r<rewinds>" once the writer's rewind generation is not 0.
std::string wal_msg_id(const wal_message_id& id);
// "i-<ingest_created_ns>-<ingest_seq>-<index>".
std::string ingest_msg_id(const ingest_message_id& id);
// Either form; monostate for anything else (control messages carry ids of their own, or none).
message_source parse_msg_id(std::string_view msg_id);

// The writer's WAL state after a message, carried by every message a writer publishes once it has WAL state:
// the newest source call that is completely in the stream up to and including this message (its confirm_lsn: what
// the source may confirm once this message is stored), and the last WAL message published (what a new writer
// skips when its source replays from the slot's confirmed position).
inline constexpr std::string_view k_wal_header = "Rtcache-Wal";
struct wal_anchor_state {
  std::uint64_t system_identifier = 0;
  std::uint32_t timeline = 0;
  std::uint64_t confirm_lsn = 0;
  std::uint64_t last_commit_lsn = 0;  // of the last WAL message published (0: none yet on this timeline)
  std::uint32_t last_index = 0;
  // Times the source found this cluster and timeline restored from a copy (a wal_rewound gap): each starts the
  // positions over below the old ones, and the ids published after it carry it (wal_message_id::rewinds).
  std::uint32_t rewinds = 0;

  friend bool operator==(const wal_anchor_state&, const wal_anchor_state&) = default;
};
// The last WAL message the anchor names (meaningful when last_commit_lsn is not 0).
inline wal_message_id last_message_of(const wal_anchor_state& a) {
  return {a.system_identifier, a.timeline, a.last_commit_lsn, a.last_index, a.rewinds};
}
// "<system_identifier>/<timeline>/<confirm_lsn>/<last_commit_lsn>/<last_index>", LSNs as format_lsn, followed by
// "/<rewinds>" once rewinds is not 0 (a header without it: 0).
std::string encode_wal_anchor(const wal_anchor_state& a);
core::result<wal_anchor_state> decode_wal_anchor(std::string_view header);

// The writer's ingest state after a message: the ingest stream's incarnation and the last ingest item published
// into the main stream (item last_index of ingest message last_ingest_seq). A new writer reads the ingest stream
// from last_ingest_seq on and skips every item at or below it. All zero: no ingest item yet.
inline constexpr std::string_view k_ingest_header = "Rtcache-Ingest";
struct ingest_anchor_state {
  std::int64_t ingest_created_ns = 0;
  std::uint64_t last_ingest_seq = 0;
  std::uint32_t last_index = 0;

  friend bool operator==(const ingest_anchor_state&, const ingest_anchor_state&) = default;
};
// "<ingest_created_ns>/<last_ingest_seq>/<last_index>".
std::string encode_ingest_anchor(const ingest_anchor_state& a);
core::result<ingest_anchor_state> decode_ingest_anchor(std::string_view header);

}  // namespace rtcache::cluster
