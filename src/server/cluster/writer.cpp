// The writer's I/O around the pure pieces: positions (next_state), subjects, ids and bodies, the channel table
// and durable_calls. See writer.hpp for what it guarantees.
#include "cluster/writer.hpp"

#include "cluster/nats_handles.hpp"
#include "cluster/positions.hpp"
#include "cluster/wire.hpp"
#include "ingest/hub_sink.hpp"
#include "ingest/relay.hpp"
#include "rtcache/core/event_codec.hpp"

#include <condition_variable>
#include <deque>
#include <tuple>
#include <vector>

namespace rtcache::cluster {

std::string ledger_bucket(std::string_view stream) {
  return std::string(stream) + "_ledger";
}

namespace {

using detail::kv_entry_ptr;
using detail::kv_ptr;

error writer_error(errc code, std::string message) {
  return error{code, 0, 0, "writer: " + std::move(message)};
}

}  // namespace

struct writer::impl {
  const connection& conn;
  writer_settings settings;
  subjects subj;
  detail::js_ctx_ptr js;  // the ledger's requests wait at most lookup_timeout (nats.c's default is 5 s)
  kv_ptr ledger;          // destroyed before `js`, which it uses

  // Source thread only:
  std::unique_ptr<publisher> pub;
  channel_table table;
  stream_identity identity;
  std::uint64_t first_seq = 1;
  std::optional<std::chrono::steady_clock::time_point> first_seq_read;  // when first_seq was read
  std::uint64_t next_seq = 1;                                           // the sequence the next message will get
  std::uint64_t last_ticket = 0;                                        // of the current publisher
  wal_anchor_state anchor;     // as of the last message published (acknowledged or in flight)
  ingest_anchor_state ingest;  // likewise: the last ingest item published
  // The last ingest message handed to publish_ingest() (republished, skipped or refused) since the last start over,
  // of the incarnation ingest_seen_created: where the next one must follow on.
  std::int64_t ingest_seen_created = 0;
  std::uint64_t ingest_seen = 0;
  std::string scratch_body;
  std::string scratch_event;

  // Shared with the publisher's outcome handler:
  mutable std::mutex mu;
  std::condition_variable cv;
  durable_calls calls;
  std::uint64_t ticket_base = 0;  // ticket t is predicted at stream sequence ticket_base + t
  // The anchor each message in flight carries, from ticket first_anchor_ticket on (at most the publisher's window
  // plus the rest of one call: nothing is sent after a failure but the rest of the call it struck).
  std::deque<wal_anchor_state> sent_anchors;
  std::uint64_t first_anchor_ticket = 1;
  // The furthest anchor JetStream confirmed by an acknowledgement, duplicates included: a duplicate proves its
  // original, and with it every message its writer published before it (expected sequences admit no hole), is
  // or was in the stream. Survives starting over, so that a replay into a stream purged to nothing, answered
  // from JetStream's duplicate window, is skipped the second time instead of failing again until the window ends.
  std::optional<wal_anchor_state> proven;
  stream_identity proven_in;  // the stream incarnation `proven` speaks of: another one holds none of it
  std::optional<error> failed;
  std::function<void()> wake;
  writer_stats counters;
  std::atomic<std::uint64_t> durable{0};
  std::atomic<bool> fenced{false};

  impl(const connection& c, writer_settings s)
      : conn(c), settings(std::move(s)), subj{settings.stream}, table(settings.max_channels) {}

  ~impl() { pub.reset(); }  // its destructor waits for the outcomes, which reach this object

  bool stopped() const {
    std::lock_guard lock(mu);
    return failed.has_value();
  }

  // `another_writer`: the failure proves another writer appended (as JetStream's refusal of the expected last
  // sequence does), so the writer is fenced.
  void fail(error e, bool another_writer = false) {
    std::lock_guard lock(mu);
    if (!failed) {
      if (another_writer || e.js_code == k_wrong_last_sequence) fenced.store(true);
      failed = std::move(e);
    }
    cv.notify_all();
  }

  void on_outcome(const publish_outcome& o) {
    std::function<void()> w;
    {
      std::lock_guard lock(mu);
      const std::uint64_t predicted = ticket_base + o.ticket;
      const bool good = o.acknowledged && !o.duplicate && o.stream_seq == predicted;
      if (!good) {
        error e;
        if (o.failure) {
          e = *o.failure;
        } else if (o.duplicate) {
          e = writer_error(errc::publish_rejected, "message predicted at " + std::to_string(predicted) +
                                                       " was acknowledged as a duplicate of " +
                                                       std::to_string(o.stream_seq) +
                                                       ": the stream holds what the writer did not know of");
        } else {
          e = writer_error(errc::publish_rejected, "message predicted at " + std::to_string(predicted) +
                                                       " was stored at " + std::to_string(o.stream_seq));
        }
        // Only a refusal that is the first failure proves another writer: after a bad outcome of its own (a
        // duplicate takes no sequence, a lost message leaves a hole) the writer's later predictions are off, and
        // their refusals say nothing about anyone else.
        if (!failed) {
          if (e.js_code == k_wrong_last_sequence) fenced.store(true);
          failed = std::move(e);
        }
      }
      if (o.acknowledged && o.ticket >= first_anchor_ticket && o.ticket - first_anchor_ticket < sent_anchors.size()) {
        const auto& a = sent_anchors[o.ticket - first_anchor_ticket];
        if (!proven || ahead(a, *proven)) proven = a;
      }
      if (calls.outcome(o.ticket, good)) {
        durable.store(calls.durable_through(), std::memory_order_release);
        w = wake;
      }
      while (!sent_anchors.empty() && first_anchor_ticket <= calls.good_through()) {
        sent_anchors.pop_front();
        ++first_anchor_ticket;
      }
      cv.notify_all();
    }
    if (w) w();
  }

  // Waits until every message published has its outcome, at most `bound`. False when one failed or the wait
  // timed out.
  bool drain(std::chrono::milliseconds bound) {
    if (last_ticket == 0) return !stopped();
    std::unique_lock lock(mu);
    cv.wait_for(lock, bound, [&] { return failed.has_value() || calls.good_through() >= last_ticket; });
    return !failed && calls.good_through() >= last_ticket;
  }

  // Starts over from the stream: a new publisher, the stream's tail read back, memory cleared.
  result<void> start_over() {
    pub.reset();  // waits for the outcomes still due
    {
      std::lock_guard lock(mu);
      if (fenced.load()) return *failed;
      calls.reset();
      sent_anchors.clear();
      first_anchor_ticket = 1;
      failed.reset();
      durable.store(0);
      ++counters.resyncs;
    }
    last_ticket = 0;
    table.clear();
    auto st = get_stream_state(conn, settings.stream, settings.lookup_timeout);
    if (!st) return fail_with(st.error());
    const stream_identity before = identity;
    identity = st->identity;
    first_seq = st->first_seq;
    first_seq_read = settings.clock();
    next_seq = st->last_seq + 1;
    anchor = {};
    // The ingest anchor: the tail's when the stream holds a last message; kept from memory when it holds none of
    // the same incarnation (purged: what this writer republished stays republished).
    if (st->identity != before) ingest = {};
    if (st->last_seq >= st->first_seq && st->last_seq > 0) {
      auto last = get_by_sequence(st->last_seq);
      if (!last) return fail_with(last.error());
      if (*last) {
        if (auto h = (*last)->header_value(k_wal_header)) {
          if (auto a = decode_wal_anchor(*h)) anchor = *a;
        }
        ingest = {};
        if (auto h = (*last)->header_value(k_ingest_header)) {
          if (auto a = decode_ingest_anchor(*h)) ingest = *a;
        }
      }
    }
    ingest_seen_created = ingest.ingest_created_ns;
    ingest_seen = ingest.last_ingest_seq;
    {
      std::lock_guard lock(mu);
      if (proven_in != identity) proven.reset();  // the stream was created again
      proven_in = identity;
      if (proven && ahead(*proven, anchor)) anchor = *proven;
    }
    publisher_settings ps = settings.publisher;
    ps.expect_stream = settings.stream;
    auto p = publisher::create(conn, ps, [this](const publish_outcome& o) { on_outcome(o); });
    if (!p) return fail_with(p.error());
    {
      std::lock_guard lock(mu);
      ticket_base = next_seq - 1;
    }
    pub = std::move(*p);
    return {};
  }

  result<void> fail_with(error e) {
    fail(e);
    return e;
  }

  // Drains, and starts over when something failed (not when fenced), when the stream was created again, or when
  // it holds messages this writer did not write. Called before the source streams (durable_anchor, start_stream),
  // that is once its node holds the slot: what others appended meanwhile was a previous reader's, and this writer
  // continues after it (a standby keeps its writer across lost races for the slot, while the reader of the day
  // writes on).
  result<void> settle() {
    if (fenced.load()) {
      std::lock_guard lock(mu);
      return *failed;
    }
    if (pub && drain(settings.publisher.ack_timeout + 2s)) {
      auto st = get_stream_state(conn, settings.stream, settings.lookup_timeout);
      if (!st) return fail_with(st.error());
      if (st->identity == identity && st->last_seq + 1 == next_seq) return {};
    }
    return start_over();
  }

  jsOptions lookup_options() const {
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = settings.lookup_timeout.count();
    return jo;
  }

  // The message at `seq`, nullopt when it is not in the stream.
  result<std::optional<stream_message>> get_by_sequence(std::uint64_t seq) {
    jsOptions jo = lookup_options();
    jsDirectGetMsgOptions dg;
    jsDirectGetMsgOptions_Init(&dg);
    dg.Sequence = seq;
    natsMsg* raw = nullptr;
    natsStatus s = js_DirectGetMsg(&raw, conn.handles().js, settings.stream.c_str(), &jo, &dg);
    detail::msg_ptr msg(raw);
    if (s == NATS_NOT_FOUND) return std::optional<stream_message>();
    if (s != NATS_OK) return detail::make_error(s, "writer: direct get of sequence " + std::to_string(seq));
    return std::optional<stream_message>(
        detail::to_stream_message(msg.get(), natsMsg_GetSequence(msg.get()), natsMsg_GetTime(msg.get()), true));
  }

  // The latest message on `subject`, nullopt when the stream holds none.
  result<std::optional<stream_message>> get_last(const std::string& subject) {
    jsOptions jo = lookup_options();
    jsDirectGetMsgOptions dg;
    jsDirectGetMsgOptions_Init(&dg);
    dg.LastBySubject = subject.c_str();
    natsMsg* raw = nullptr;
    natsStatus s = js_DirectGetMsg(&raw, conn.handles().js, settings.stream.c_str(), &jo, &dg);
    detail::msg_ptr msg(raw);
    if (s == NATS_NOT_FOUND) return std::optional<stream_message>();
    if (s != NATS_OK) return detail::make_error(s, "writer: last message of '" + subject + "'");
    return std::optional<stream_message>(
        detail::to_stream_message(msg.get(), natsMsg_GetSequence(msg.get()), natsMsg_GetTime(msg.get()), true));
  }

  // Whether this is the partition's first incarnation: creating its ledger key succeeds only if it never had one.
  result<incarnation> ledger_start(const std::string& key) {
    std::uint64_t rev = 0;
    natsStatus s = kvStore_CreateString(&rev, ledger.get(), key.c_str(), "0");
    if (s == NATS_OK) {
      std::lock_guard lock(mu);
      ++counters.ledger_creates;
      return incarnation::first;
    }
    kvEntry* raw = nullptr;
    s = kvStore_Get(&raw, ledger.get(), key.c_str());
    kv_entry_ptr entry(raw);
    if (s == NATS_OK) return incarnation::later;
    return detail::make_error(s, "writer: ledger key '" + key + "'");
  }

  result<void> ledger_set(const std::string& key, std::uint64_t generation) {
    std::uint64_t rev = 0;
    natsStatus s = kvStore_PutString(&rev, ledger.get(), key.c_str(), std::to_string(generation).c_str());
    if (s != NATS_OK) return detail::make_error(s, "writer: setting ledger key '" + key + "'");
    return {};
  }

  // Refreshes the stream's first sequence (liveness of the partitions held in memory is judged by it), and checks
  // that the stream is still the incarnation the writer knows.
  result<void> refresh_first_seq() {
    const auto now = settings.clock();
    if (settings.first_seq_refresh > 0ms && first_seq_read && now - *first_seq_read < settings.first_seq_refresh) {
      return {};
    }
    auto st = get_stream_state(conn, settings.stream, settings.lookup_timeout);
    if (!st) return st.error();
    if (st->identity != identity) {
      return writer_error(errc::stream_conflict,
                          "the stream " + identity.to_string() + " was replaced by " + st->identity.to_string());
    }
    first_seq = st->first_seq;
    first_seq_read = now;
    return {};
  }

  // The state of partition (channel, factory) after its message at `seq`; updates memory and the ledger.
  result<partition_state> next_for(const std::string& channel, const std::string& factory, std::uint64_t seq) {
    const channel_entry* held_entry = table.find(channel);
    channel_entry entry = held_entry != nullptr ? *held_entry : channel_entry{};
    const partition_state* held = entry.state.find(factory);
    std::optional<partition_state> looked;
    const partition_state* live = nullptr;
    incarnation start = incarnation::later;  // a partition held or found existed before
    const std::string key = ledger_key(channel, factory);
    if (held != nullptr) {
      if (is_live(*held, first_seq)) live = held;
    } else {
      // The stream answers only for what it stored: wait for every message in flight first.
      if (!drain(settings.lookup_timeout)) return failed_error();
      {
        std::lock_guard lock(mu);
        ++counters.lookups;
      }
      const std::string subject = subj.partition(channel, factory);
      auto last = get_last(subject);
      if (!last) return last.error();
      if (*last && (*last)->seq >= seq) {
        // Every message of this writer is stored where it predicted (drained above), yet the stream holds one at or
        // past its next sequence: another writer appended since this one read the tail (an old reader's last
        // messages landing after a standby took over, or a frozen reader that woke up). JetStream would refuse the
        // next message for its expected last sequence; it is the same proof, found before a state is derived
        // from a message this writer's prediction does not follow.
        error e = writer_error(errc::publish_rejected, "writer: the stream holds a message at " +
                                                           std::to_string((*last)->seq) + " on '" + subject +
                                                           "', at or past this writer's next sequence " +
                                                           std::to_string(seq) + ": another writer appended");
        fail(e, /*another_writer=*/true);
        return e;
      }
      if (*last) {
        // A malformed header (someone else wrote there) proves only that the partition existed: a new generation.
        if (auto h = (*last)->header_value(k_positions_header)) {
          auto pos = decode_position(*h, (*last)->seq);
          if (pos && pos->factory == factory) {
            looked = pos->state;
            if (is_live(*looked, first_seq)) live = &*looked;
          }
        }
      } else {
        auto s = ledger_start(key);
        if (!s) return s.error();
        start = *s;
      }
    }
    const partition_state next = next_state(live, seq, start);
    if (next.generation != 0 && (live == nullptr || live->generation != next.generation)) {
      if (auto r = ledger_set(key, next.generation); !r) return r.error();
      std::lock_guard lock(mu);
      ++counters.generations;
    }
    entry.state.put(factory, next);
    entry.seq = seq;
    table.put(channel, std::move(entry));
    return next;
  }

  error failed_error() const {
    std::lock_guard lock(mu);
    return failed.value_or(writer_error(errc::timeout, "messages in flight not acknowledged in time"));
  }

  // Whether `a` is past `b`: the same PostgreSQL timeline and a later last WAL message, or `b` knows none.
  static bool ahead(const wal_anchor_state& a, const wal_anchor_state& b) {
    if (b.system_identifier == 0 && b.last_commit_lsn == 0) return a.last_commit_lsn != 0;
    const wal_message_id a_last = last_message_of(a);
    const wal_message_id b_last = last_message_of(b);
    return at_or_below(b_last, a_last) && !(a_last == b_last);
  }

  bool replayed(const wal_message_id& id) const {
    return anchor.last_commit_lsn != 0 && at_or_below(id, last_message_of(anchor));
  }

  // Publishes one message at next_seq with the anchor and the expected last sequence. False once stopped.
  bool send(const std::string& subject, const std::string& msg_id, const std::string& body,
            const std::optional<std::string>& position) {
    std::vector<header> headers;
    headers.reserve(4);
    if (position) headers.push_back({std::string(k_positions_header), *position});
    headers.push_back({std::string(k_wal_header), encode_wal_anchor(anchor)});
    if (ingest.ingest_created_ns != 0) headers.push_back({std::string(k_ingest_header), encode_ingest_anchor(ingest)});
    headers.push_back({std::string(k_expected_last_sequence_header), std::to_string(next_seq - 1)});
    outgoing_message m;
    m.subject = subject;
    m.msg_id = msg_id;
    m.headers = headers;
    m.data = body;
    {
      std::lock_guard lock(mu);
      sent_anchors.push_back(anchor);  // for ticket last_ticket + 1: tickets are taken in this thread's order
    }
    auto t = pub->publish(m);
    if (!t) {
      fail(t.error());
      return false;
    }
    last_ticket = *t;
    ++next_seq;
    return true;
  }

  void sent(std::uint64_t writer_stats::*counter) {
    std::lock_guard lock(mu);
    ++(counters.*counter);
  }

  // Records the source call and moves durable_through() if it can.
  void record_call(std::uint64_t sequence) {
    std::function<void()> w;
    {
      std::lock_guard lock(mu);
      if (calls.call(sequence, last_ticket)) {
        durable.store(calls.durable_through(), std::memory_order_release);
        w = wake;
      }
    }
    if (w) w();
  }

  void anchor_to(const routing::stream_position& p) {
    if (anchor.system_identifier != p.system_identifier || anchor.timeline != p.timeline) {
      anchor = {};
      anchor.system_identifier = p.system_identifier;
      anchor.timeline = p.timeline;
    }
  }

  void publish(const routing::routed_batch& batch) {
    const auto& p = batch.position;
    const auto& rows = batch.rows;
    if (stopped()) return;  // confirms nothing more: the call is never recorded
    // Also for calls without channel messages: it is where a stream created again is noticed before anything is
    // skipped as already stored or refused as if another writer had appended.
    if (auto r = refresh_first_seq(); !r) return fail(r.error());
    const std::size_t n = rows.messages.size() + rows.changes.size();
    anchor_to(p);
    for (std::size_t k = 0; k < n; ++k) {
      const wal_message_id id{p.system_identifier, p.timeline, p.commit_lsn,
                              static_cast<std::uint32_t>(p.first_index + k), anchor.rewinds};
      if (replayed(id)) {
        sent(&writer_stats::skipped);
        continue;
      }
      if (k >= rows.messages.size() && !rows.changes[k - rows.messages.size()].change) continue;  // as the hub sink
      anchor.last_commit_lsn = id.commit_lsn;
      anchor.last_index = id.index;
      if (k + 1 == n) anchor.confirm_lsn = p.confirm_lsn;
      const std::string msg_id = wal_msg_id(id);  // routing::message_id(p, k), of the rewind generation
      if (k < rows.messages.size()) {
        const auto& m = rows.messages[k];
        channel_message cm;
        cm.channel = m.channel.format();
        cm.event = std::string(ingest::k_invalidate_event);
        scratch_event.clear();
        core::encode_to(scratch_event, *m.event);
        cm.payload = scratch_event;
        cm.factory = m.event->factory_id;
        cm.contract = true;
        if (m.change) cm.record = m.change->json;
        if (!send_channel(cm, msg_id)) return;
        sent(&writer_stats::messages);
      } else {
        const auto& c = rows.changes[k - rows.messages.size()];
        record_message rm;
        rm.channel = ingest::postgres_table_channel(c.change->schema, c.change->table);
        rm.factory = c.factory_id;
        rm.record = c.change->json;
        if (!send(subj.records(rm.channel), msg_id, encode_body(rm), std::nullopt)) return;
        sent(&writer_stats::records);
      }
    }
    if (p.confirm_lsn > anchor.confirm_lsn) {
      // The WAL position moved with nothing of its own in the stream (a position-only call, or its last item had
      // nothing to publish): say so, so that durable_anchor() (here or
      // in the next writer) is never behind what the source confirmed.
      anchor.confirm_lsn = p.confirm_lsn;
      if (!send(subj.control("wal"), {}, encode_body(position_message{}), std::nullopt)) return;
      sent(&writer_stats::positions);
    }
    record_call(p.sequence);
  }

  // Publishes one channel message at its partition's next position. False once stopped.
  bool send_channel(const channel_message& cm, const std::string& msg_id) {
    auto state = next_for(cm.channel, cm.factory, next_seq);
    if (!state) {
      fail(state.error());
      return false;
    }
    return send(subj.partition(cm.channel, cm.factory), msg_id, encode_body(cm), encode_position({cm.factory, *state}));
  }

  void publish_ingest(const ingest_delivery& d) {
    if (stopped()) return;
    if (auto r = refresh_first_seq(); !r) return fail(r.error());
    const bool same = ingest_seen_created == d.ingest_created_ns;
    if (same && d.seq < ingest.last_ingest_seq) {
      // Read again below the anchor's message: everything in it is in the main stream.
      if (d.batch) counted(&writer_stats::ingest_skipped, d.batch->items.size());
      return;
    }
    // Messages lost between the last one handed over and this one: the ingest stream's retention passed them while
    // no writer ran, or the ingest stream was created again. What they carried is unknown: every contract channel
    // starts over (as a WAL gap does), so no client takes the missing invalidations for continuity.
    const bool other_incarnation = ingest_seen_created != 0 && !same;
    const bool skipped_ahead = same && ingest_seen != 0 && d.seq > ingest_seen + 1;
    if (other_incarnation || skipped_ahead) {
      gap_message g;
      g.reason = std::string(k_ingest_lost_reason);
      g.detail = other_incarnation
                     ? "the ingest stream was created again (" + std::to_string(ingest_seen_created) + " -> " +
                           std::to_string(d.ingest_created_ns) + ") before everything in it was republished"
                     : "ingest messages " + std::to_string(ingest_seen + 1) + ".." + std::to_string(d.seq - 1) +
                           " left the ingest stream before they were republished";
      const std::string msg_id = "ig-" + std::to_string(d.ingest_created_ns) + "-" + std::to_string(d.seq);
      if (!send(subj.control("gap"), msg_id, encode_body(g), std::nullopt)) return;
      sent(&writer_stats::gaps);
      counted(&writer_stats::ingest_lost, other_incarnation ? 1 : d.seq - ingest_seen - 1);
    }
    ingest_seen_created = d.ingest_created_ns;
    ingest_seen = d.seq;
    if (!d.batch) {
      sent(&writer_stats::ingest_refused);
      return;
    }
    const bool resumed = same && d.seq == ingest.last_ingest_seq && ingest.ingest_created_ns == d.ingest_created_ns;
    const auto& items = d.batch->items;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (resumed && i <= ingest.last_index) {
        sent(&writer_stats::ingest_skipped);
        continue;
      }
      const ingest_message_id id{d.ingest_created_ns, d.seq, static_cast<std::uint32_t>(i)};
      ingest = {d.ingest_created_ns, d.seq, id.index};
      if (!send_channel(items[i], ingest_msg_id(id))) return;
      sent(&writer_stats::ingest_items);
    }
  }

  void counted(std::uint64_t writer_stats::*counter, std::uint64_t n) {
    std::lock_guard lock(mu);
    counters.*counter += n;
  }

  void on_gap(const routing::source_gap& gap) {
    const auto& p = gap.position;
    if (stopped()) return;
    if (auto r = refresh_first_seq(); !r) return fail(r.error());
    anchor_to(p);
    if (gap.reason == routing::gap_reason::wal_rewound) {
      // The server was restored from a copy: its WAL, and the commits that follow, reuse positions the stream holds
      // messages of. A new generation keeps their ids apart and nothing of them is skipped as published; the gap's
      // anchor carries it, so a writer taking over continues it.
      ++anchor.rewinds;
      anchor.last_commit_lsn = 0;
      anchor.last_index = 0;
      anchor.confirm_lsn = p.confirm_lsn;
    }
    const wal_message_id id{p.system_identifier, p.timeline, p.commit_lsn, p.first_index, anchor.rewinds};
    const bool in_transaction = gap.reason == routing::gap_reason::truncate && p.commit_lsn != 0;
    if (in_transaction && replayed(id)) {
      sent(&writer_stats::skipped);
      record_call(p.sequence);
      return;
    }
    if (in_transaction) {
      anchor.last_commit_lsn = id.commit_lsn;
      anchor.last_index = id.index;
    }
    if (p.confirm_lsn > anchor.confirm_lsn) anchor.confirm_lsn = p.confirm_lsn;
    gap_message g;
    g.reason = std::string(routing::to_string(gap.reason));
    for (const auto& t : gap.tables) g.tables.push_back({t.schema, t.table, t.doc_type});
    g.detail = gap.detail;
    // A gap found when streaming starts is no transaction's: its id says so, so it never collides with one.
    const std::string msg_id = in_transaction ? wal_msg_id(id) : "g-" + wal_msg_id(id);
    if (!send(subj.control("gap"), msg_id, encode_body(g), std::nullopt)) return;
    sent(&writer_stats::gaps);
    record_call(p.sequence);
  }
};

writer::writer(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
writer::~writer() = default;

result<std::unique_ptr<writer>> writer::create(const connection& conn, writer_settings settings) {
  if (settings.ledger.empty()) settings.ledger = ledger_bucket(settings.stream);
  if (settings.max_channels == 0 || settings.lookup_timeout <= 0ms || settings.first_seq_refresh < 0ms ||
      !settings.clock) {
    return writer_error(errc::invalid_settings,
                        "max_channels must be >= 1, lookup_timeout > 0, first_seq_refresh >= 0 and clock set");
  }
  auto p = std::make_unique<impl>(conn, std::move(settings));
  auto js = detail::jetstream_context(conn, p->settings.lookup_timeout, "writer");
  if (!js) return js.error();
  p->js = std::move(*js);
  // The stream first: a writer for a stream that does not exist leaves no ledger bucket behind.
  if (auto r = p->start_over(); !r) return r.error();
  auto ledger = detail::open_bucket(p->js.get(), p->settings.ledger, 0ms, "writer's ledger");
  if (!ledger) return ledger.error();
  p->ledger = std::move(*ledger);
  return std::unique_ptr<writer>(new writer(std::move(p)));
}

core::result<std::optional<routing::wal_anchor>> writer::durable_anchor() {
  if (auto r = impl_->settle(); !r) return core::error{core::errc::bad_value, r.error().message};
  const auto& a = impl_->anchor;
  if (a.system_identifier == 0 && a.confirm_lsn == 0) return std::optional<routing::wal_anchor>();
  return std::optional<routing::wal_anchor>(routing::wal_anchor{a.system_identifier, a.timeline, a.confirm_lsn});
}

void writer::start_stream(std::function<void()> wake) {
  (void)impl_->settle();  // a failure stays in failure(); fenced stays fenced
  std::lock_guard lock(impl_->mu);
  impl_->calls.restart_calls();
  impl_->durable.store(0, std::memory_order_release);
  impl_->wake = std::move(wake);
}

void writer::publish(routing::routed_batch batch) {
  impl_->publish(batch);
}

void writer::on_gap(const routing::source_gap& gap) {
  impl_->on_gap(gap);
}

std::uint64_t writer::durable_through() const noexcept {
  return impl_->durable.load(std::memory_order_acquire);
}

void writer::publish_ingest(const ingest_delivery& d) {
  impl_->publish_ingest(d);
}

ingest_anchor_state writer::ingest_anchor() const {
  return impl_->ingest;
}

std::size_t writer::room() const {
  if (!impl_->pub || impl_->stopped()) return 0;
  const std::size_t in_flight = impl_->pub->stats().in_flight;
  const std::size_t window = impl_->settings.publisher.max_in_flight;
  return in_flight >= window ? 0 : window - in_flight;
}

bool writer::fenced() const noexcept {
  return impl_->fenced.load();
}

std::optional<error> writer::failure() const {
  std::lock_guard lock(impl_->mu);
  return impl_->failed;
}

writer_stats writer::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->counters;
}

}  // namespace rtcache::cluster
