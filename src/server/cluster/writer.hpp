// The cluster's writer: the routed sink of the node that holds the replication slot. It turns each transaction's
// routed output into stream messages, one subject per channel partition, with the partition's position in a header
// (positions.hpp), and confirms a call to the source only once JetStream stored every message up to it
// (docs/cluster.md, (b), (c), (f) and "The writer").
//
// Per routed message the writer
//   - finds the message's partition (channel, factory) and its state: from memory (a bounded LRU, channel_table),
//     live when its latest message is still in the stream (sequence >= the stream's first sequence, read once per
//     call); a partition it does not hold is looked up in the stream (its latest message by subject, a direct get);
//     a partition the stream does not hold is decided by the ledger (a JetStream key-value bucket, one key per
//     partition: creating the key succeeds only for the partition's first incarnation, generation 0; otherwise the
//     partition starts generation <its message's sequence> and the key is set to it);
//   - publishes the message with Nats-Msg-Id = routing::message_id (replays are de-duplicated by JetStream),
//     Rtcache-Pos (the partition's state after it), Rtcache-Wal (the writer's WAL anchor: what a new writer and
//     the source's continuity check continue from) and Nats-Expected-Last-Sequence = the sequence it predicts
//     for the message minus one. The writer is the stream's only writer, so it predicts every sequence; a message
//     another writer appended makes JetStream refuse the next one (error 10071), or shows up at or past the
//     predicted sequence when the writer looks a partition up, and the writer is then fenced: it publishes and
//     confirms nothing more, for good.
// Gaps are published as gap markers (control subject "gap"), and a WAL position that moved with no message of its
// own as a position message (control subject "wal"), so that every node sees them and a new writer learns the
// anchor from the stream's last message.
//
// Relay ingest (docs/cluster.md, "Relay ingest"): every node publishes what its relay accepts to the ingest stream;
// the writer republishes each item (publish_ingest(), fed by an ingest_pump on the writer's thread) as a channel
// message at its partition's next position, with Nats-Msg-Id = ingest_msg_id and Rtcache-Ingest (the last ingest item
// in the main stream): a new writer reads the ingest stream again from that message and skips what the main stream
// holds. Ingest messages the ingest stream lost before they were republished (its retention passed them while no
// writer ran, or it was created again) are a gap marker (reason "ingest_lost") covering every contract channel and
// every broadcast topic (gap_index.hpp).
//
// A replay (the source restarted from its confirmed position, in this process or in a new writer) publishes
// nothing the stream already holds: every message at or below the anchor's last WAL message is skipped, and its
// call counts as durable with the messages before it. A failure (a publish refused, timed out, acknowledged as a
// duplicate or at another sequence than predicted) stops durable_through() below it; the next durable_anchor()
// or start_stream() starts over from the stream (a new publisher, the anchor and sequence read back, memory
// cleared). Fenced is final: a new writer object is the way back.
#pragma once

#include "cluster/channel_table.hpp"
#include "cluster/connection.hpp"
#include "cluster/durable_calls.hpp"
#include "cluster/error.hpp"
#include "cluster/publisher.hpp"
#include "cluster/source_ids.hpp"
#include "cluster/stream.hpp"
#include "cluster/subject.hpp"
#include "cluster/wire.hpp"
#include "routing/routed_sink.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace rtcache::cluster {

// The header JetStream checks a message's predecessor against.
inline constexpr std::string_view k_expected_last_sequence_header = "Nats-Expected-Last-Sequence";
// JetStream's "wrong last sequence" error (JSStreamWrongLastSequenceErr): another writer appended.
inline constexpr int k_wrong_last_sequence = 10071;

// The ledger bucket of the stream named `stream`.
std::string ledger_bucket(std::string_view stream);

struct writer_settings {
  std::string stream = "rtcache";  // the main stream (its name is the subjects' prefix)
  std::string ledger;              // the ledger bucket; empty: ledger_bucket(stream)
  // Channels whose partitions the writer remembers. Overflow: the least recently used channel is forgotten and
  // looked up in the stream the next time it is written (no position changes).
  std::size_t max_channels = k_default_max_channels;
  // expect_stream is set to `stream`. max_in_flight must exceed what the source leaves unconfirmed (its backlog
  // bound plus one batch): a publish that finds the window full for stall_timeout stops the writer like any failure.
  publisher_settings publisher;
  // How old the stream's first sequence may be when the writer judges whether a partition it holds is live. 0: read
  // it once per call that carries channel messages (one round trip per transaction), so liveness is judged as the
  // pure model says. Larger saves that round trip at a cost: a partition whose latest message left the stream
  // within the interval is counted on instead of starting a new generation (a node that saw it in limbo then
  // answers recovered:false to a client that refetched meanwhile; never a false recovery).
  std::chrono::milliseconds first_seq_refresh = 0ms;
  // The clock of first_seq_refresh (tests inject one).
  std::function<std::chrono::steady_clock::time_point()> clock = [] { return std::chrono::steady_clock::now(); };
  // Bound of each lookup (stream state, last message by subject, ledger) and of waiting for messages in flight
  // before one. Lookups run on the source's thread, which also answers PostgreSQL's keepalives: keep it below the
  // replication connection's wal_sender_timeout (docs/cluster.md (a): 3 s), so that a writer that cannot reach
  // NATS fails (and its source gives up the slot) rather than losing the slot to a missed keepalive.
  std::chrono::milliseconds lookup_timeout = 2s;
};

// One message of the ingest stream, as an ingest_pump read it.
struct ingest_delivery {
  std::int64_t ingest_created_ns = 0;  // the ingest stream's incarnation
  std::uint64_t seq = 0;               // its sequence in the ingest stream
  std::optional<ingest_batch> batch;   // nullopt: its body was refused (`refused` says why); skipped, counted
  std::string refused;
  std::size_t bytes = 0;  // the body's size (what a queue of deliveries is bounded by)
};

struct writer_stats {
  std::uint64_t messages = 0;        // channel messages published
  std::uint64_t records = 0;         // postgres_changes records published
  std::uint64_t gaps = 0;            // gap markers published
  std::uint64_t positions = 0;       // position messages published
  std::uint64_t skipped = 0;         // replayed messages the stream already held
  std::uint64_t lookups = 0;         // partitions looked up in the stream
  std::uint64_t ledger_creates = 0;  // first incarnations proved by creating their ledger key
  std::uint64_t generations = 0;     // later incarnations started
  std::uint64_t resyncs = 0;         // starts from the stream (the first included)
  std::uint64_t ingest_items = 0;    // relay ingest items republished into the main stream
  std::uint64_t ingest_skipped = 0;  // ingest items the main stream already held (a new writer reading again)
  std::uint64_t ingest_refused = 0;  // ingest messages whose body was malformed (skipped)
  std::uint64_t ingest_lost = 0;     // ingest messages lost before they were republished (each run: one gap marker)
};

// Thread-safety: the routed_sink members from the source's thread only (durable_through() and the observers from
// any thread). Publish outcomes arrive on nats.c's thread.
class writer final : public routing::routed_sink {
 public:
  // Opens (or creates) the ledger bucket and reads the stream's tail. The stream must exist (ensure_stream).
  // REQUIRES: `conn` outlives the writer.
  static result<std::unique_ptr<writer>> create(const connection& conn, writer_settings settings);
  ~writer() override;

  core::result<std::optional<routing::wal_anchor>> durable_anchor() override;
  void start_stream(std::function<void()> wake) override;
  void publish(routing::routed_batch batch) override;
  void on_gap(const routing::source_gap& gap) override;
  std::uint64_t durable_through() const noexcept override;

  // Republishes the items of `d` past ingest_anchor(), in order; a delivery beyond the next ingest message (the
  // ingest stream lost some) first publishes a gap marker. From the source's thread, as publish(); between calls
  // (the ingest items are in no call, but in the stream's order with them).
  void publish_ingest(const ingest_delivery& d);
  // The last ingest item in the main stream, as of the stream's tail at the last start over and what this writer
  // published since (all zero: none). Where the ingest pump starts reading again (its message, re-read).
  ingest_anchor_state ingest_anchor() const;
  // How many more messages may be sent now without waiting for window room: what an ingest pump takes at most.
  std::size_t room() const;

  // Another writer appended to the stream: this one publishes and confirms nothing more.
  bool fenced() const noexcept;
  // The failure that stopped the writer, if any (fenced included), until the next start over.
  std::optional<error> failure() const;
  writer_stats stats() const;

  struct impl;

 private:
  explicit writer(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace rtcache::cluster
