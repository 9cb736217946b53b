// The narrow interface between a change source and what delivers its output (docs/design.md §1, §5; issue 13): the
// source hands over each transaction's routed output in numbered calls, reports the gaps it cannot bridge,
// and confirms a WAL position to PostgreSQL only once the sink says every call up to it is durable.
//
// The sequence of calls on one sink, all from the source's thread:
//   start_stream(wake)  once per (re)start of streaming: numbering restarts at 1, anything not yet durable
//                       from an earlier stream is abandoned (the source resends it from its confirmed position)
//   publish(batch)      part or all of one transaction's routed output, or a position alone (rows empty)
//   on_gap(gap)         continuity is lost: channels the gap may touch must start over (new epochs)
// publish() and on_gap() take the next sequence number each, in call order, without holes. The sink answers
// with durable_through(): the highest n such that calls 1..n of the current stream are durable (may be read
// from any thread). The source confirms to PostgreSQL the confirm_lsn of call durable_through(), never more.
//
// Single node (hub_sink): every call is durable when it returns. Cluster (a JetStream sink): durable once
// JetStream acknowledged every message of the call and of every earlier call; the sink calls `wake` when
// durable_through() moves so a source that paused reading (backlog bound) resumes at once.
#pragma once

#include "routing/router.hpp"
#include "rtcache/core/error.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::routing {

// Where one sink call stands: in the source's numbering and in the WAL. Together with the index of a message in
// the call, it identifies every routed message uniquely and deterministically (the same transaction routed again
// by any node with the same mapping gets the same ids):
//   message k of rows.messages:  index first_index + k
//   change j of rows.changes:    index first_index + rows.messages.size() + j
//   id:                          "<system_identifier>-<timeline>-<commit_lsn as %X/%X>-<index>"
struct stream_position {
  std::uint64_t sequence = 0;           // 1, 2, 3, ... since the last start_stream()
  std::uint64_t system_identifier = 0;  // IDENTIFY_SYSTEM's systemid: which PostgreSQL cluster
  std::uint32_t timeline = 0;           // the timeline streamed
  // The commit record's LSN of the transaction the call belongs to. 0 for a position-only batch; for a gap
  // found when streaming starts, the WAL position streaming resumes from.
  std::uint64_t commit_lsn = 0;
  // Index, within the transaction's routed output, of the first thing the call carries. A transaction's calls
  // continue one another's numbering (a TRUNCATE gap takes one index). 0 when commit_lsn is not a transaction.
  std::uint32_t first_index = 0;
  // Once this call and every earlier one are durable, the source confirms this WAL position (an LSN) to
  // PostgreSQL. It never decreases along a stream. A durable sink that outlives the process remembers the
  // newest durable call's (system_identifier, timeline, confirm_lsn) and reports it as durable_anchor().
  std::uint64_t confirm_lsn = 0;
};

// The id of item `k` of the call at `p` (k: 0-based over rows.messages, then rows.changes), as described above:
// "<system_identifier>-<timeline>-<commit_lsn high hex>/<commit_lsn low hex>-<first_index + k>", e.g.
// "7000000000000000001-1-0/16B3F48-4". A cluster sink uses it as the JetStream Nats-Msg-Id.
inline std::string message_id(const stream_position& p, std::size_t k) {
  char buf[96];
  const int n = std::snprintf(
      buf, sizeof buf, "%llu-%u-%X/%X-%llu", static_cast<unsigned long long>(p.system_identifier),
      static_cast<unsigned>(p.timeline), static_cast<unsigned>(p.commit_lsn >> 32),
      static_cast<unsigned>(p.commit_lsn & 0xffffffffU), static_cast<unsigned long long>(p.first_index + k));
  return std::string(buf, static_cast<std::size_t>(n));
}

// Part or all of one transaction's routed output. A transaction's batches are consecutive calls; the last one
// has `last` set (it may carry no rows, when everything went out in earlier batches). A batch with no rows and
// commit_lsn 0 is a position only: WAL the mapping ignores moved confirm_lsn forward.
struct routed_batch {
  stream_position position;
  bool last = false;
  routed_rows rows;
};

// Why the source cannot prove that what follows continues what it delivered before (docs/pg-source.md).
enum class gap_reason {
  slot_created,      // the slot did not exist (dropped, or a failover to a server without it) and was created
  slot_invalidated,  // the server removed WAL the slot needed (max_slot_wal_keep_size: wal_status 'lost')
  slot_advanced,     // the slot's confirmed position is past anything rtcache confirmed (re-created, advanced)
  system_changed,    // another PostgreSQL cluster answers the conninfo (system identifier differs)
  timeline_changed,  // the timeline changed (a standby was promoted, a point-in-time restore)
  wal_rewound,       // the server's WAL ends before the position rtcache confirmed (restored from a copy)
  truncate,          // TRUNCATE of mapped tables: no rows say which documents went
};
inline constexpr gap_reason k_gap_reasons[] = {
    gap_reason::slot_created,     gap_reason::slot_invalidated, gap_reason::slot_advanced, gap_reason::system_changed,
    gap_reason::timeline_changed, gap_reason::wal_rewound,      gap_reason::truncate};
// Counts per reason, indexed by static_cast<std::size_t>(gap_reason).
using gap_counts = std::array<std::uint64_t, std::size(k_gap_reasons)>;

constexpr std::string_view to_string(gap_reason reason) noexcept {
  switch (reason) {
    case gap_reason::slot_created: return "slot_created";
    case gap_reason::slot_invalidated: return "slot_invalidated";
    case gap_reason::slot_advanced: return "slot_advanced";
    case gap_reason::system_changed: return "system_changed";
    case gap_reason::timeline_changed: return "timeline_changed";
    case gap_reason::wal_rewound: return "wal_rewound";
    case gap_reason::truncate: return "truncate";
  }
  return "slot_created";
}

// A table a gap touches. `doc_type` is empty for a table mapped for postgres_changes only (no contract channels).
struct gap_table {
  std::string schema;
  std::string table;
  std::string doc_type;

  friend bool operator==(const gap_table&, const gap_table&) = default;
};

struct source_gap {
  stream_position position;  // first_index: the gap's own index in the transaction (truncate); else 0
  gap_reason reason = gap_reason::slot_created;
  // Empty: everything the source feeds may have changed unseen (every contract channel and every per-table
  // record channel). Otherwise only these tables' channels (a TRUNCATE).
  std::vector<gap_table> tables;
  std::string detail;  // what was found, for logs (never data from rows)

  bool all() const noexcept { return tables.empty(); }
};

// What a durable sink remembers of the last stream that fed it, from before this process: the newest durable
// call's identity and confirm_lsn.
struct wal_anchor {
  std::uint64_t system_identifier = 0;
  std::uint32_t timeline = 0;
  std::uint64_t confirm_lsn = 0;

  friend bool operator==(const wal_anchor&, const wal_anchor&) = default;
};

// Thread-safety: every member but durable_through() is called from the source's thread only.
class routed_sink {
 public:
  routed_sink() = default;
  routed_sink(const routed_sink&) = delete;
  routed_sink& operator=(const routed_sink&) = delete;
  virtual ~routed_sink() = default;

  // What the sink holds durably from an earlier process (or another node's reader), for the source's
  // continuity check (docs/pg-source.md, "Gaps"): nullopt when it holds nothing that outlives this process (the
  // hub: positions given to clients die with it, so the source's own memory is enough). Called before each
  // start of streaming, after the source read the slot's state; may block briefly. An error (cannot tell)
  // keeps the source from streaming; it retries.
  virtual core::result<std::optional<wal_anchor>> durable_anchor() = 0;

  // A new stream: the next call carries sequence 1; durable_through() is 0 until it is durable. Calls of
  // earlier streams that are not durable yet are abandoned and must never count towards the new stream (late
  // acknowledgements of them are ignored). `wake` (never empty) may be called from any thread, at any time
  // until the next start_stream() or the sink's destruction, whenever durable_through() moves; it only
  // signals (non-blocking, no calls back into the source).
  virtual void start_stream(std::function<void()> wake) = 0;

  // Publishes the batch's rows in order: contract messages to their channels, postgres_changes records to
  // the connections whose bindings and scope admit them. May return before they are durable, but should not
  // block long: the source answers PostgreSQL's keepalives on the same thread (a source that does not answer
  // within wal_sender_timeout loses the slot). The source never has more than its backlog bound (plus one
  // batch) of messages published and not yet durable.
  virtual void publish(routed_batch batch) = 0;

  // Continuity is lost (see gap_reason): every channel the gap may touch must start over, so that a client
  // holding a position from before it is answered recovered:false and refetches, and a client joined live
  // learns it at once. In order with publish(): what was published before the gap is before it.
  virtual void on_gap(const source_gap& gap) = 0;

  // The highest sequence n of the current stream such that calls 1..n are durable. Monotonic within a stream.
  // Any thread.
  virtual std::uint64_t durable_through() const noexcept = 0;

  // False when the sink will make nothing more durable before the next durable_anchor() (a cluster writer that
  // another writer fenced): the source then gives up the slot at once instead of after its stall bound, so
  // that a node that can publish takes it. The hub is never refused.
  virtual bool can_publish() const noexcept { return true; }

  // Called on the source's thread while it streams, between calls: at least every poll interval, and at once after
  // the sink's `wake` ran. A cluster sink republishes relay ingest here (it has input of its own, besides the
  // source's); it should not block long, for the reason publish() gives. The hub has nothing to do.
  virtual void poll() {}
};

}  // namespace rtcache::routing
