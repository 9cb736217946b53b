// The applier against a real nats-server: messages published into the stream in the writer's format reach the hub's
// views at the positions the pure scheme gives; two nodes applying one stream agree, so a client resumes on either;
// a node that starts late catches up; gaps and malformed messages behave as on every node. Waiting is on
// conditions (the applier's last applied sequence), never on time.
#include "cluster/applier.hpp"

#include "cluster/nats_handles.hpp"
#include "cluster/publisher.hpp"
#include "cluster/range_fetch.hpp"
#include "cluster/stream.hpp"
#include "cluster/test_nats_server.hpp"
#include "cluster/test_stream_writer.hpp"
#include "cluster/writer.hpp"
#include "hub/hub.hpp"
#include "hub/test_recorder.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rtcache::cluster {
namespace {

using namespace std::chrono_literals;
using core::factory_scope;

using hub::test::recorder;

hub::hub_config lingering() {
  hub::hub_config c;
  c.linger = std::chrono::minutes(1);
  return c;
}

hub::hub_encoder payload_encoder() {
  return [](const hub::hub_encode_request& r) {
    hub::hub_frames f;
    f.v1_text = std::string(r.payload_json);
    return f;
  };
}

std::vector<std::string> offsets_and_payloads(const std::vector<hub::hub_message_ptr>& replay) {
  std::vector<std::string> out;
  for (const auto& m : replay) out.push_back(std::to_string(m->offset) + ":" + m->frames.v1_text);
  return out;
}

// One stream, its writer model, and nodes (a hub and an applier each) applying it.
struct cluster_fixture {
  std::unique_ptr<connection> conn = test::connect_or_die(test::shared_server().url());
  stream_settings st = make_stream();
  test::stream_writer w{st.name};
  std::unique_ptr<publisher> pub = publisher::create(*conn).value();
  std::string identity = get_stream_state(*conn, st.name).value().identity.to_string();

  ~cluster_fixture() { (void)delete_stream(*conn, st.name); }

  struct node {
    std::unique_ptr<hub::hub> h = std::make_unique<hub::hub>(lingering(), payload_encoder());
    std::unique_ptr<applier> a;
    std::vector<std::string> log;
    std::vector<hub::hub_subscription> subs;
  };

  stream_settings make_stream() {
    stream_settings s = test::test_stream("apply");
    auto r = ensure_stream(*conn, s);
    if (!r) throw std::runtime_error(r.error().message);
    return s;
  }

  std::unique_ptr<node> start_node(const std::string& id, std::uint64_t start_seq = 0, const connection* via = nullptr,
                                   const std::function<void(applier_settings&)>& tweak = {}) {
    auto n = std::make_unique<node>();
    applier_settings s;
    s.stream = st.name;
    s.apply.node_id = id;
    s.start_seq = start_seq;
    s.idle_poll = 20ms;
    s.log = [raw = n.get()](std::string_view line) { raw->log.emplace_back(line); };
    if (tweak) tweak(s);
    auto a = applier::start(via ? *via : *conn, *n->h, epoch_deriver(test::test_secret()), s);
    if (!a) throw std::runtime_error(a.error().message);
    n->a = std::move(*a);
    return n;
  }

  // Publishes the messages in order and checks the stream gave them the sequences the writer predicted.
  void publish(const std::vector<stream_message>& ms) {
    std::uint64_t last = 0;
    for (const auto& m : ms) {
      const auto id = m.header_value(msg_id_header);
      last = pub->publish({m.subject, id ? *id : std::string_view{}, m.headers, m.data}).value();
    }
    ASSERT_TRUE(pub->wait_acked(last, 10s));
    ASSERT_EQ(get_stream_state(*conn, st.name).value().last_seq, w.next_seq() - 1);
  }

  // Messages from..to on doc:wo:1 in `factory`, in order, each carrying its number as payload.
  std::vector<stream_message> doc1(const std::string& factory, int from, int to) {
    std::vector<stream_message> out;
    for (int i = from; i <= to; ++i) out.push_back(w.channel("doc:wo:1", factory, std::to_string(i)));
    return out;
  }

  // Polls the node's applier until it applied everything published so far.
  static void catch_up(node& n, std::uint64_t through) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (n.a->last_applied() < through && std::chrono::steady_clock::now() < deadline) {
      ASSERT_TRUE(n.a->poll(200ms));
    }
    ASSERT_EQ(n.a->last_applied(), through);
  }
  void catch_up(node& n) { catch_up(n, w.next_seq() - 1); }

  // Polls the node's applier until `done` holds.
  static void poll_until(node& n, const std::function<bool()>& done, std::chrono::milliseconds each = 50ms) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done() && std::chrono::steady_clock::now() < deadline) ASSERT_TRUE(n.a->poll(each));
    ASSERT_TRUE(done());
  }

  std::shared_ptr<recorder> join(node& n, const std::string& channel, const factory_scope& view,
                                 const std::optional<hub::hub_position>& resume = std::nullopt,
                                 hub::hub_join* out = nullptr) {
    auto s = std::make_shared<recorder>(recorder::record::offsets_and_frames);
    auto j = n.a->join(channel, view, s, resume);
    EXPECT_TRUE(j);
    if (out) {
      out->position = j->position;
      out->recovered = j->recovered;
      out->replay = j->replay;
    }
    n.subs.push_back(std::move(j->subscription));
    return s;
  }
};

hub::hub_position as_hub(const view_position& p) {
  return {p.epoch, p.offset};
}

TEST(Applier, MessagesInTheStreamReachHubSubscribersAtTheSchemesPositions) {
  cluster_fixture f;
  auto n = f.start_node("a");
  const auto f1 = factory_scope::of({"F1"});
  auto scoped = f.join(*n, "doc:wo:1", f1);
  auto all = f.join(*n, "doc:wo:1", factory_scope::unscoped());
  f.publish({f.w.channel("doc:wo:1", "F1", "1"), f.w.channel("doc:wo:1", "F2", "2"), f.w.channel("doc:wo:1", "F1", "3"),
             f.w.channel("list:wo:F1", "F1", "4")});
  f.catch_up(*n);
  EXPECT_EQ(scoped->events(), (std::vector<std::string>{"1:1", "2:3"}));
  EXPECT_EQ(all->events(), (std::vector<std::string>{"1:1", "2:2", "3:3"}));
  EXPECT_EQ(n->h->position("doc:wo:1", f1), as_hub(f.w.expected(f.identity, "doc:wo:1", f1)));
  EXPECT_EQ(n->h->position("doc:wo:1"), as_hub(f.w.expected(f.identity, "doc:wo:1", factory_scope::unscoped())));
  EXPECT_EQ(n->a->position_of("list:wo:F1", f1), as_hub(f.w.expected(f.identity, "list:wo:F1", f1)));
  EXPECT_EQ(n->a->stats().apply.published, 4u);
  EXPECT_EQ(n->a->lag(), 0u);
  EXPECT_TRUE(n->a->caught_up());
}

TEST(Applier, TwoNodesGiveTheSamePositionsAndAPositionFromOneResumesOnTheOther) {
  cluster_fixture f;
  auto a = f.start_node("a");
  auto b = f.start_node("b");
  const auto f1 = factory_scope::of({"F1"});
  auto on_a = f.join(*a, "doc:wo:1", f1);
  auto keeper_b = f.join(*b, "doc:wo:1", f1);  // B's view exists, so it keeps history
  f.publish(
      {f.w.channel("doc:wo:1", "F1", "1"), f.w.channel("doc:wo:1", "F2", "x"), f.w.channel("doc:wo:1", "F1", "2")});
  f.catch_up(*a);
  f.catch_up(*b);
  const auto client = *a->h->position("doc:wo:1", f1);  // the client's position, from node A
  EXPECT_EQ(b->h->position("doc:wo:1", f1), client);
  EXPECT_EQ(a->a->position_of("doc:wo:1", factory_scope::unscoped()),
            b->a->position_of("doc:wo:1", factory_scope::unscoped()));
  // The client's node goes away; it misses two messages and resumes on B.
  f.publish(
      {f.w.channel("doc:wo:1", "F1", "3"), f.w.channel("doc:wo:1", "F3", "y"), f.w.channel("doc:wo:1", "F1", "4")});
  f.catch_up(*b);
  hub::hub_join j;
  f.join(*b, "doc:wo:1", f1, client, &j);
  EXPECT_TRUE(j.recovered);
  EXPECT_EQ(offsets_and_payloads(j.replay), (std::vector<std::string>{"3:3", "4:4"})) << "exactly what it missed";
  f.catch_up(*a);
  EXPECT_EQ(a->h->position("doc:wo:1", f1), j.position);
}

TEST(Applier, ALateNodeCatchesUpFromTheStartAndServesAResumeFromBeforeItStarted) {
  cluster_fixture f;
  auto a = f.start_node("a");
  const auto f1 = factory_scope::of({"F1"});
  auto on_a = f.join(*a, "doc:wo:1", f1);
  f.publish(f.doc1("F1", 1, 2));
  f.catch_up(*a);
  const auto client = *a->h->position("doc:wo:1", f1);
  f.publish({f.w.channel("doc:wo:1", "F2", "x"), f.w.channel("doc:wo:1", "F1", "3")});
  // B starts after all of it, from sequence 1. A view it holds from before it caught up keeps what it applies.
  auto b = f.start_node("b", 1);
  EXPECT_FALSE(b->a->caught_up());
  auto keeper_b = f.join(*b, "doc:wo:1", f1);
  f.catch_up(*b);
  EXPECT_TRUE(b->a->caught_up());
  EXPECT_EQ(b->a->lag(), 0u);
  hub::hub_join j;
  f.join(*b, "doc:wo:1", f1, client, &j);
  EXPECT_TRUE(j.recovered);
  EXPECT_EQ(offsets_and_payloads(j.replay), (std::vector<std::string>{"3:3"}));
  f.catch_up(*a);
  EXPECT_EQ(b->h->position("doc:wo:1", f1), a->h->position("doc:wo:1", f1));
}

TEST(Applier, AScopedViewNeverReceivesAForeignFactorysMessage) {
  cluster_fixture f;
  auto n = f.start_node("a");
  const auto f1 = factory_scope::of({"F1"});
  auto scoped = f.join(*n, "doc:wo:1", f1);
  const auto before = *n->h->position("doc:wo:1", f1);
  f.publish({f.w.channel("doc:wo:1", "F2", "secret"), f.w.channel("doc:wo:1", "", "untagged"),
             f.w.channel("doc:wo:2", "F1", "other doc")});
  f.catch_up(*n);
  EXPECT_TRUE(scoped->events().empty());
  EXPECT_EQ(n->h->position("doc:wo:1", f1), before);
}

TEST(Applier, AGapMarkerStartsOverTheCoveredChannelsAndLeavesOthersAlone) {
  cluster_fixture f;
  auto n = f.start_node("a");
  const auto f1 = factory_scope::of({"F1"});
  auto wo = f.join(*n, "doc:wo:1", f1);
  auto pl = f.join(*n, "doc:pl:1", f1);
  f.publish({f.w.channel("doc:wo:1", "F1", "1"), f.w.channel("doc:pl:1", "F1", "1")});
  f.catch_up(*n);
  const auto wo_before = *n->h->position("doc:wo:1", f1);
  const auto pl_before = *n->h->position("doc:pl:1", f1);
  f.publish({f.w.gap({gap_table_ref{"public", "work_orders", "wo"}}), f.w.channel("doc:wo:1", "F1", "2")});
  f.catch_up(*n);
  EXPECT_EQ(wo->events(), (std::vector<std::string>{"1:1", "reset", "2:2"}));
  EXPECT_EQ(pl->events(), (std::vector<std::string>{"1:1"}));
  EXPECT_EQ(n->h->position("doc:wo:1", f1), as_hub(f.w.expected(f.identity, "doc:wo:1", f1)));
  hub::hub_join j;
  f.join(*n, "doc:wo:1", f1, wo_before, &j);
  EXPECT_FALSE(j.recovered) << "a gap is never continuity";
  f.join(*n, "doc:pl:1", f1, pl_before, &j);
  EXPECT_TRUE(j.recovered);
}

TEST(Applier, AMalformedMessageIsSkippedCountedLoggedAndShownToNoClient) {
  cluster_fixture f;
  auto n = f.start_node("a");
  const auto f1 = factory_scope::of({"F1"});
  auto sub = f.join(*n, "doc:wo:1", f1);
  const auto subject = f.w.subject_of().partition("doc:wo:1", "F1");
  f.publish({f.w.channel("doc:wo:1", "F1", "1"), f.w.raw(subject, "garbage"),
             f.w.raw(subject, "R\x01\xff", {{std::string(k_positions_header), "0/F1/2"}}),
             f.w.channel("doc:wo:1", "F1", "2")});
  f.catch_up(*n);
  EXPECT_EQ(sub->events(), (std::vector<std::string>{"1:1", "2:2"}));
  EXPECT_EQ(n->a->stats().apply.refused, 2u);
  ASSERT_EQ(n->log.size(), 2u);
  EXPECT_NE(n->log[0].find("seq 2"), std::string::npos) << n->log[0];
  EXPECT_EQ(n->log[0].find("garbage"), std::string::npos) << "no payload in the log";
  EXPECT_EQ(n->a->last_applied(), 4u);
}

// A source message the stream holds twice (a replay past JetStream's duplicate window that the writer's fence did
// not keep out): every node drops it, a node that applies the stream later too, so no client sees it and every node
// keeps the same positions. The copy here is of a TRUNCATE's gap marker, which carries its transaction's WAL id:
// taken twice, it would start the channel's views over a second time (a needless refetch, and positions unlike
// those of a node that started after the original left the stream). A copy of an older channel message would set
// its partition back until the partition's next message (a join meanwhile given an older position), and a copied
// postgres_changes record would reach its subscribers twice.
TEST(Applier, ARepeatedSourceMessageInTheStreamIsDroppedByEveryNodeAndShownToNoClient) {
  cluster_fixture f;
  (void)delete_stream(*f.conn, f.st.name);
  f.st.duplicate_window = 100ms;  // (the least JetStream takes) so that the copy below is stored, as past the window
  auto ensured = ensure_stream(*f.conn, f.st);
  ASSERT_TRUE(ensured) << ensured.error().message;
  f.identity = get_stream_state(*f.conn, f.st.name).value().identity.to_string();
  auto a = f.start_node("a");
  const auto f1 = factory_scope::of({"F1"});
  auto on_a = f.join(*a, "doc:wo:1", f1);
  const stream_message one = f.w.channel("doc:wo:1", "F1", "1");
  stream_message truncate = f.w.gap({gap_table_ref{"public", "work_orders", "wo"}});
  truncate.headers.push_back({std::string(msg_id_header), wal_msg_id({7, 1, truncate.seq * 16, 0})});
  f.publish({one, truncate, f.w.channel("doc:wo:1", "F1", "2")});
  f.catch_up(*a);
  const auto client = *a->h->position("doc:wo:1", f1);  // a client there, after "2"
  std::this_thread::sleep_for(500ms);                   // past the window (JetStream forgets ids on a timer)
  f.publish({f.w.raw(truncate.subject, truncate.data, truncate.headers), f.w.channel("doc:wo:1", "F1", "3")});
  f.catch_up(*a);
  EXPECT_EQ(on_a->events(), (std::vector<std::string>{"1:1", "reset", "2:2", "3:3"}));
  EXPECT_EQ(a->a->stats().apply.replays, 1u);
  EXPECT_EQ(a->a->stats().apply.gaps, 1u);
  EXPECT_EQ(a->a->stats().apply.refused, 0u);
  ASSERT_EQ(a->log.size(), 1u);
  EXPECT_NE(a->log[0].find("dropped: seq 4: repeats source message"), std::string::npos) << a->log[0];
  EXPECT_EQ(a->h->position("doc:wo:1", f1), as_hub(f.w.expected(f.identity, "doc:wo:1", f1)));
  hub::hub_join j;
  f.join(*a, "doc:wo:1", f1, client, &j);
  EXPECT_TRUE(j.recovered) << "no second gap";
  EXPECT_EQ(offsets_and_payloads(j.replay), (std::vector<std::string>{"3:3"}));

  // A node that applies the stream from its start drops it too: the same positions, the same resume.
  auto late = f.start_node("late");
  f.catch_up(*late);
  EXPECT_EQ(late->a->stats().apply.replays, 1u);
  f.join(*late, "doc:wo:1", f1, client, &j);
  EXPECT_TRUE(j.recovered);
  EXPECT_EQ(offsets_and_payloads(j.replay), (std::vector<std::string>{"3:3"}));
  EXPECT_EQ(late->h->position("doc:wo:1", f1), a->h->position("doc:wo:1", f1));
}

TEST(Applier, APartitionWhoseLastMessageLeftTheStreamIsInLimboUntilItsNextGeneration) {
  cluster_fixture f;
  auto n = f.start_node("a");
  const auto f1 = factory_scope::of({"F1"});
  auto sub = f.join(*n, "doc:wo:1", f1);
  f.publish(f.doc1("F1", 1, 2));
  f.catch_up(*n);
  const auto live = n->a->position_of("doc:wo:1", f1);
  ASSERT_TRUE(purge_stream(*f.conn, f.st.name));  // first sequence 3: the partition's last message is gone
  ASSERT_TRUE(n->a->poll(50ms));                  // nothing arrives: the applier reads the stream's state again
  const auto limbo = n->a->position_of("doc:wo:1", f1);
  EXPECT_EQ(limbo, as_hub(f.w.expected(f.identity, "doc:wo:1", f1, 3)));
  EXPECT_EQ(limbo.offset, 0u);
  EXPECT_NE(limbo.epoch, live.epoch);
  // The writer finds the partition in limbo and starts generation 3; the view starts over there.
  f.publish({f.w.channel("doc:wo:1", "F1", "3", false, true)});
  f.catch_up(*n);
  EXPECT_EQ(sub->events(), (std::vector<std::string>{"1:1", "2:2", "reset", "1:3"}));
  EXPECT_EQ(n->h->position("doc:wo:1", f1), as_hub(f.w.expected(f.identity, "doc:wo:1", f1, 3)));
  hub::hub_join j;
  f.join(*n, "doc:wo:1", f1, live, &j);
  EXPECT_FALSE(j.recovered) << "a position of the partition's old incarnation";
}

// The writer's own output (cluster/writer.hpp: contract events, positions, WAL anchors, gap markers, position-only
// messages), not messages built by hand: two nodes apply it alike.
TEST(Applier, WhatTheWriterPublishesReachesEveryNodeAtTheSamePositions) {
  cluster_fixture f;
  auto a = f.start_node("a");
  auto b = f.start_node("b");
  const auto f1 = factory_scope::of({"F1"});
  auto on_a = f.join(*a, "doc:wo:1", f1);
  auto on_b = f.join(*b, "doc:wo:1", f1);
  auto all_b = f.join(*b, "doc:wo:1", factory_scope::unscoped());
  writer_settings ws;
  ws.stream = f.st.name;
  ws.publisher = test::publisher_of(256, 2s, 2s);
  auto w = writer::create(*f.conn, ws).value();
  w->start_stream([] {});
  const auto doc = [](const std::string& factory) {
    auto e = std::make_shared<core::event>();
    e->type = "wo";
    e->id = "1";
    e->factory_id = factory;
    return routing::routed_message{core::channel_key::doc("wo", "1"), e, nullptr};
  };
  std::uint64_t call = 0;
  std::uint64_t lsn = 0x1000;
  const auto txn = [&](std::vector<routing::routed_message> ms) {
    routing::routed_batch batch;
    batch.position.sequence = ++call;
    batch.position.system_identifier = 7;
    batch.position.timeline = 1;
    batch.position.commit_lsn = lsn += 0x100;
    batch.position.confirm_lsn = lsn + 0x10;
    batch.last = true;
    batch.rows.messages = std::move(ms);
    w->publish(std::move(batch));
  };
  txn({doc("F1"), doc("F2")});
  txn({doc("F1")});
  routing::source_gap gap;
  gap.position.sequence = ++call;
  gap.position.system_identifier = 7;
  gap.position.timeline = 1;
  gap.position.commit_lsn = lsn += 0x100;
  gap.position.confirm_lsn = lsn + 0x10;
  gap.reason = routing::gap_reason::truncate;
  gap.tables = {{"public", "work_orders", "wo"}};
  w->on_gap(gap);
  txn({doc("F1")});
  ASSERT_TRUE(test::eventually([&] { return w->durable_through() >= call; }, 10s));
  const std::uint64_t last = get_stream_state(*f.conn, f.st.name).value().last_seq;
  f.catch_up(*a, last);
  f.catch_up(*b, last);
  EXPECT_EQ(a->a->stats().apply.refused, 0u) << (a->log.empty() ? "" : a->log[0]);
  EXPECT_EQ(a->a->stats().apply.published, 4u);
  EXPECT_EQ(a->a->stats().apply.gaps, 1u);
  // Frames are the contract payloads; offsets: the gap starts a new epoch, the counters go on.
  const auto offsets = [](const std::vector<std::string>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.substr(0, e.find(':')));
    return out;
  };
  EXPECT_EQ(offsets(on_a->events()), (std::vector<std::string>{"1", "2", "reset", "3"}));
  EXPECT_EQ(on_a->events(), on_b->events());
  EXPECT_EQ(offsets(all_b->events()), (std::vector<std::string>{"1", "2", "3", "reset", "4"}));
  EXPECT_NE(on_a->events()[0].find(R"("factoryId":"F1")"), std::string::npos) << on_a->events()[0];
  EXPECT_EQ(a->h->position("doc:wo:1", f1), b->h->position("doc:wo:1", f1));
  EXPECT_EQ(a->a->position_of("doc:wo:1", factory_scope::unscoped()), b->h->position("doc:wo:1"));
  js_DeleteKeyValue(f.conn->handles().js, ledger_bucket(f.st.name).c_str());
}

// issue 13, "a gap is never continuity": node B reads nothing while messages arrive, so nats.c drops what is beyond
// its bound, and the stream drops the rest (a purge, as retention would) before B applied it. B can vouch for
// nothing it held: every view starts over, and no position from before the loss resumes on it; node A, which
// applied everything before the purge, keeps serving the same positions. `later`: a message follows the purge
// (B notices at the sequence it is given); else B notices when the stream, idle, starts past what it applied.
void a_node_that_missed_messages(bool later) {
  cluster_fixture f;
  auto a = f.start_node("a");
  auto small = test::test_settings(test::shared_server().url());
  small.subscription_pending_msgs = 2;
  auto bounded = connection::connect(small).value();
  auto b = f.start_node("b", 0, bounded.get());
  const auto f1 = factory_scope::of({"F1"});
  auto on_a = f.join(*a, "doc:wo:1", f1);
  auto on_b = f.join(*b, "doc:wo:1", f1);
  f.publish(f.doc1("F1", 1, 2));
  f.catch_up(*a);
  f.catch_up(*b);
  const auto client = *b->h->position("doc:wo:1", f1);
  std::vector<stream_message> more;
  for (int i = 3; i <= 12; ++i) more.push_back(f.w.channel("doc:wo:1", "F1", std::to_string(i)));
  f.publish(more);
  f.catch_up(*a);
  ASSERT_TRUE(test::eventually([&] { return bounded->stats().async_errors > 0; }, 5s)) << "B's bound was hit";
  ASSERT_TRUE(purge_stream(*f.conn, f.st.name));
  if (later) f.publish({f.w.channel("doc:pl:1", "F1", "after")});
  // With a message on its way, a poll waits for it (a poll that finds none would notice the loss by the idle path).
  f.poll_until(
      *b, [&] { return b->a->stats().losses > 0; }, later ? 10s : 50ms);
  if (later) f.catch_up(*b);
  f.catch_up(*a);
  EXPECT_EQ(b->a->stats().losses, 1u);
  EXPECT_EQ(a->a->stats().losses, 0u);
  EXPECT_EQ(on_b->events().back(), "reset");
  EXPECT_EQ(on_a->events().size(), 12u);
  EXPECT_EQ(on_a->events().back(), "12:12") << "A applied everything before the purge: nothing to start over";
  ASSERT_FALSE(b->log.empty());
  EXPECT_NE(b->log.back().find("error"), std::string::npos) << b->log.back();
  EXPECT_NE(b->log.back().find(later ? "were not delivered" : "left the stream"), std::string::npos) << b->log.back();
  const auto truth = *a->h->position("doc:wo:1", f1);
  hub::hub_join j;
  f.join(*b, "doc:wo:1", f1, client, &j);
  EXPECT_FALSE(j.recovered) << "a gap is never continuity";
  f.join(*b, "doc:wo:1", f1, truth, &j);
  EXPECT_FALSE(j.recovered) << "B never had what led there";
  f.join(*a, "doc:wo:1", f1, client, &j);
  EXPECT_TRUE(j.recovered);
  ASSERT_FALSE(j.replay.empty());
  EXPECT_EQ(offsets_and_payloads(j.replay).front(), "3:3");
  // The partition's next message: B names the position A names again, and counts no second loss.
  f.publish(f.doc1("F1", 13, 13));
  f.catch_up(*a);
  f.catch_up(*b);
  EXPECT_EQ(b->h->position("doc:wo:1", f1), a->h->position("doc:wo:1", f1));
  EXPECT_EQ(b->a->stats().losses, 1u);
}

TEST(Applier, ANodeThatMissedMessagesStartsEveryViewOverWhenTheNextMessageSkipsThem) {
  a_node_that_missed_messages(true);
}

TEST(Applier, ANodeThatMissedMessagesStartsEveryViewOverWhenTheIdleStreamStartsPastThem) {
  a_node_that_missed_messages(false);
}

// issue 13: the stream deleted and created again under a running applier (sequences start over, a new identity):
// every view starts over, the new stream is applied from its sequence 1 at positions of the new identity, and no
// position of the old stream resumes.
TEST(Applier, AStreamCreatedAgainStartsEveryViewOverAndIsAppliedFromItsFirstSequence) {
  cluster_fixture f;
  auto n = f.start_node("a");
  const auto f1 = factory_scope::of({"F1"});
  auto sub = f.join(*n, "doc:wo:1", f1);
  f.publish(f.doc1("F1", 1, 2));
  f.catch_up(*n);
  const auto old = *n->h->position("doc:wo:1", f1);
  n->a->run();
  ASSERT_TRUE(delete_stream(*f.conn, f.st.name));
  ASSERT_TRUE(ensure_stream(*f.conn, f.st));
  const std::string identity = get_stream_state(*f.conn, f.st.name).value().identity.to_string();
  ASSERT_NE(identity, f.identity);
  ASSERT_TRUE(test::eventually([&] { return n->a->stats().streams_recreated == 1; }, 20s));
  test::stream_writer w{f.st.name};
  auto pub = publisher::create(*f.conn).value();
  const auto m = w.channel("doc:wo:1", "F1", "new");
  const auto id = m.header_value(msg_id_header);
  const std::uint64_t seq = pub->publish({m.subject, id ? *id : std::string_view{}, m.headers, m.data}).value();
  ASSERT_EQ(seq, 1u);
  ASSERT_TRUE(pub->wait_acked(seq, 10s));
  ASSERT_TRUE(test::eventually([&] { return sub->events().size() == 4; }, 20s));
  n->a->stop();
  EXPECT_EQ(sub->events(), (std::vector<std::string>{"1:1", "2:2", "reset", "1:new"}));
  EXPECT_EQ(n->a->last_applied(), 1u);
  EXPECT_EQ(n->a->stats().streams_recreated, 1u);
  EXPECT_EQ(n->a->stats().losses, 0u);
  const auto now = *n->h->position("doc:wo:1", f1);
  EXPECT_EQ(now, as_hub(w.expected(identity, "doc:wo:1", f1)));
  EXPECT_NE(now.epoch, old.epoch);
  ASSERT_FALSE(n->log.empty());
  EXPECT_NE(n->log.back().find("created again"), std::string::npos) << n->log.back();
  hub::hub_join j;
  f.join(*n, "doc:wo:1", f1, old, &j);
  EXPECT_FALSE(j.recovered) << "a position of the old stream";
}

// Exact resume by range fetch (docs/cluster.md (h)): node B never held the view, so its hub has no history of it;
// a client that held a position on node A resumes on B and gets exactly what it missed, read from the stream at the
// positions A gave, then the live messages without a duplicate or a gap.
TEST(Applier, ANodeThatNeverHeldTheViewResumesAPositionFromAnotherNodeByRangeFetch) {
  cluster_fixture f;
  auto a = f.start_node("a");
  auto b = f.start_node("b");
  const auto all = factory_scope::unscoped();
  auto on_a = f.join(*a, "doc:wo:1", all);
  f.publish({f.w.channel("doc:wo:1", "F1", "1"), f.w.channel("doc:wo:1", "F2", "2"),
             f.w.channel("doc:wo:2", "F1", "other doc")});
  f.catch_up(*a);
  const auto client = *a->h->position("doc:wo:1", all);
  ASSERT_EQ(client.offset, 2u);
  f.publish({f.w.channel("doc:wo:1", "F1", "3"), f.w.channel("doc:pl:1", "F1", "other channel"),
             f.w.channel("doc:wo:1", "", "4"), f.w.channel("doc:wo:1", "F2", "5")});
  f.catch_up(*a);
  f.catch_up(*b);
  ASSERT_FALSE(b->h->position("doc:wo:1", all)) << "B holds no view of the channel";
  hub::hub_join j;
  auto on_b = f.join(*b, "doc:wo:1", all, client, &j);
  EXPECT_TRUE(j.recovered);
  EXPECT_EQ(offsets_and_payloads(j.replay), (std::vector<std::string>{"3:3", "4:4", "5:5"}))
      << "exactly what it missed";
  EXPECT_EQ(j.position, a->h->position("doc:wo:1", all));
  EXPECT_EQ(b->a->stats().resume_fetches, 1u);
  EXPECT_EQ(b->a->stats().resume_recovered, 1u);
  // Live from there on: no duplicate, no gap, the same offsets as A's.
  f.publish({f.w.channel("doc:wo:1", "F1", "6"), f.w.channel("doc:wo:1", "F2", "7")});
  f.catch_up(*a);
  f.catch_up(*b);
  EXPECT_EQ(on_b->events(), (std::vector<std::string>{"6:6", "7:7"}));
  EXPECT_EQ(on_a->events(), (std::vector<std::string>{"1:1", "2:2", "3:3", "4:4", "5:5", "6:6", "7:7"}));
  EXPECT_EQ(b->h->position("doc:wo:1", all), a->h->position("doc:wo:1", all));
}

// The same for a scoped view while another factory writes to the channel: the fetch reads the view's factory's
// partition only, so the replay never holds a foreign factory's message, and its offsets are A's.
TEST(Applier, AScopedViewResumedByRangeFetchGetsItsFactorysMessagesOnlyAtTheOtherNodesOffsets) {
  cluster_fixture f;
  auto a = f.start_node("a");
  auto b = f.start_node("b");
  const auto f1 = factory_scope::of({"F1"});
  auto on_a = f.join(*a, "doc:wo:1", f1);
  f.publish({f.w.channel("doc:wo:1", "F2", "secret 1"), f.w.channel("doc:wo:1", "F1", "1"),
             f.w.channel("doc:wo:1", "F1", "2")});
  f.catch_up(*a);
  const auto client = *a->h->position("doc:wo:1", f1);
  ASSERT_EQ(client.offset, 2u);
  f.publish({f.w.channel("doc:wo:1", "F2", "secret 2"), f.w.channel("doc:wo:1", "F1", "3"),
             f.w.channel("doc:wo:1", "F2", "secret 3"), f.w.channel("doc:wo:1", "F1", "4"),
             f.w.channel("doc:wo:1", "", "untagged")});
  f.catch_up(*a);
  f.catch_up(*b);
  hub::hub_join j;
  auto on_b = f.join(*b, "doc:wo:1", f1, client, &j);
  EXPECT_TRUE(j.recovered);
  EXPECT_EQ(offsets_and_payloads(j.replay), (std::vector<std::string>{"3:3", "4:4"}));
  for (const auto& m : j.replay) EXPECT_EQ(m->meta.factory_id, "F1");
  const auto a_events = on_a->events();
  ASSERT_EQ(a_events.size(), 4u);
  EXPECT_EQ(offsets_and_payloads(j.replay), (std::vector<std::string>{a_events[2], a_events[3]})) << "A's offsets";
  EXPECT_EQ(j.position, a->h->position("doc:wo:1", f1));
  EXPECT_FALSE(b->h->position("doc:wo:1", factory_scope::unscoped())) << "no other view was made or fed";
  f.publish({f.w.channel("doc:wo:1", "F2", "secret 4"), f.w.channel("doc:wo:1", "F1", "5")});
  f.catch_up(*b);
  EXPECT_EQ(on_b->events(), (std::vector<std::string>{"5:5"}));
}

// The view exists on B but its history is short of the client's position: another client joined it on B after the
// messages the first one missed (as after a fail-over, when the first client back creates the view). The missed
// messages the history lacks are read from the stream too.
TEST(Applier, AViewWhoseHistoryIsShortOfTheResumePositionIsAnsweredByRangeFetch) {
  cluster_fixture f;
  auto a = f.start_node("a");
  auto b = f.start_node("b");
  const auto f1 = factory_scope::of({"F1"});
  auto on_a = f.join(*a, "doc:wo:1", f1);
  f.publish(f.doc1("F1", 1, 1));
  f.catch_up(*a);
  const auto client = *a->h->position("doc:wo:1", f1);
  f.publish({f.w.channel("doc:wo:1", "F1", "2"), f.w.channel("doc:wo:1", "F2", "secret"),
             f.w.channel("doc:wo:1", "F1", "3")});
  f.catch_up(*b);
  auto keeper = f.join(*b, "doc:wo:1", f1);  // B's view starts here, with no history
  f.publish(f.doc1("F1", 4, 4));
  f.catch_up(*b);
  ASSERT_EQ(keeper->events(), (std::vector<std::string>{"4:4"}));
  ASSERT_FALSE(b->h->resumable("doc:wo:1", f1, client)) << "B's history does not reach back to the client";
  hub::hub_join j;
  auto on_b = f.join(*b, "doc:wo:1", f1, client, &j);
  EXPECT_TRUE(j.recovered);
  EXPECT_EQ(offsets_and_payloads(j.replay), (std::vector<std::string>{"2:2", "3:3", "4:4"}));
  EXPECT_EQ(b->a->stats().resume_recovered, 1u);
  f.publish(f.doc1("F1", 5, 5));
  f.catch_up(*b);
  EXPECT_EQ(on_b->events(), (std::vector<std::string>{"5:5"}));
  EXPECT_EQ(keeper->events(), (std::vector<std::string>{"4:4", "5:5"})) << "the view was not started over";
}

// A position whose messages after it left the stream, a position with an epoch the view never had, and more
// messages than the bound: recovered:false, as without range fetch (the client refetches).
TEST(Applier, AResumeByRangeFetchIsRefusedWhenTheStreamNoLongerHoldsWhatFollowsIt) {
  cluster_fixture f;
  auto a = f.start_node("a");
  const auto f1 = factory_scope::of({"F1"});
  auto on_a = f.join(*a, "doc:wo:1", f1);
  f.publish(f.doc1("F1", 1, 2));
  f.catch_up(*a);
  const auto client = *a->h->position("doc:wo:1", f1);
  f.publish(f.doc1("F1", 3, 5));
  f.catch_up(*a);
  auto b = f.start_node("b");
  f.catch_up(*b);
  // Retention drops sequences 1..3: the partition stays live (its last message is kept), its epoch unchanged, but
  // the message after the client's position is gone.
  jsOptions o;
  jsOptions_Init(&o);
  o.Stream.Purge.Sequence = 4;
  jsErrCode jerr{};
  ASSERT_EQ(js_PurgeStream(f.conn->handles().js, f.st.name.c_str(), &o, &jerr), NATS_OK);
  ASSERT_EQ(get_stream_state(*f.conn, f.st.name).value().first_seq, 4u);
  ASSERT_EQ(b->a->position_of("doc:wo:1", f1).epoch, client.epoch) << "the view's epoch did not change";
  hub::hub_join j;
  f.join(*b, "doc:wo:1", f1, client, &j);
  EXPECT_FALSE(j.recovered);
  EXPECT_TRUE(j.replay.empty());
  EXPECT_EQ(b->a->stats().resume_fetches, 1u);
  EXPECT_EQ(b->a->stats().resume_recovered, 0u);
}

TEST(Applier, AResumeByRangeFetchIsRefusedForAnEpochTheViewNeverHad) {
  cluster_fixture f;
  auto a = f.start_node("a");
  auto b = f.start_node("b");
  const auto f1 = factory_scope::of({"F1"});
  auto on_a = f.join(*a, "doc:wo:1", f1);
  f.publish(f.doc1("F1", 1, 3));
  f.catch_up(*a);
  f.catch_up(*b);
  auto wrong = *a->h->position("doc:wo:1", f1);
  wrong.epoch[0] = wrong.epoch[0] == '0' ? '1' : '0';
  wrong.offset = 1;
  hub::hub_join j;
  f.join(*b, "doc:wo:1", f1, wrong, &j);
  EXPECT_FALSE(j.recovered);
  EXPECT_TRUE(j.replay.empty());
  EXPECT_EQ(b->a->stats().resume_fetches, 0u) << "nothing to fetch for an epoch the view is not in";
}

TEST(Applier, AResumeByRangeFetchIsRefusedAndCountedPastItsBound) {
  cluster_fixture f;
  auto a = f.start_node("a");
  auto b = f.start_node("b", 0, nullptr, [](applier_settings& s) { s.resume_max_messages = 3; });
  const auto f1 = factory_scope::of({"F1"});
  auto on_a = f.join(*a, "doc:wo:1", f1);
  f.publish(f.doc1("F1", 1, 1));
  f.catch_up(*a);
  const auto client = *a->h->position("doc:wo:1", f1);
  f.publish(f.doc1("F1", 2, 5));
  f.catch_up(*b);
  hub::hub_join j;
  f.join(*b, "doc:wo:1", f1, client, &j);
  EXPECT_FALSE(j.recovered) << "the four messages the client missed are more than the bound of three";
  EXPECT_TRUE(j.replay.empty());
  EXPECT_EQ(b->a->stats().resume_fetches, 1u);
  EXPECT_EQ(b->a->stats().resume_too_many, 1u);
  EXPECT_EQ(b->a->stats().resume_recovered, 0u);
}

// The stream holds far more of each view's messages than a resume may fetch (resume_max_messages, 512): the fetch
// starts at the first message the client can lack, found by direct gets on each partition's subject, so a client a
// few messages behind resumes exactly, for a view of one factory, of two, and for the unscoped view of three.
TEST(Applier, AResumeIsFetchedFromNearItsPositionHoweverManyMessagesOfTheViewTheStreamHolds) {
  cluster_fixture f;
  auto a = f.start_node("a");
  auto b = f.start_node("b");
  const std::vector<factory_scope> views = {factory_scope::of({"F1"}), factory_scope::of({"F1", "F2"}),
                                            factory_scope::unscoped()};
  std::vector<std::shared_ptr<recorder>> on_a;
  for (const auto& v : views) on_a.push_back(f.join(*a, "doc:wo:1", v));
  const auto batch = [&](int from, int to) {
    std::vector<stream_message> ms;
    for (int i = from; i <= to; ++i) {
      ms.push_back(f.w.channel("doc:wo:1", i % 3 == 0 ? "F2" : i % 3 == 1 ? "F1" : "F3", std::to_string(i)));
      if (i % 10 == 0) ms.push_back(f.w.channel("doc:wo:2", "F1", "another doc"));
    }
    return ms;
  };
  f.publish(batch(1, 3000));
  f.catch_up(*a);
  std::vector<hub::hub_position> clients;
  for (const auto& v : views) clients.push_back(*a->h->position("doc:wo:1", v));
  ASSERT_EQ(clients[0].offset, 1000u) << "1,000 of F1's messages in the stream, twice the bound";
  f.publish(batch(3001, 3012));
  f.catch_up(*a);
  f.catch_up(*b);
  for (std::size_t i = 0; i < views.size(); ++i) {
    SCOPED_TRACE(view_class_text(views[i]));
    hub::hub_join j;
    f.join(*b, "doc:wo:1", views[i], clients[i], &j);
    EXPECT_TRUE(j.recovered);
    const auto a_events = on_a[i]->events();
    ASSERT_GT(a_events.size(), clients[i].offset);
    const std::vector<std::string> missed(a_events.begin() + static_cast<std::ptrdiff_t>(clients[i].offset),
                                          a_events.end());
    EXPECT_EQ(offsets_and_payloads(j.replay), missed) << "exactly what it missed, at A's offsets";
    EXPECT_EQ(j.position, a->h->position("doc:wo:1", views[i]));
  }
  EXPECT_EQ(b->a->stats().resume_recovered, 3u);
  EXPECT_EQ(b->a->stats().resume_too_many, 0u);
}

// The join runs while B's applier applies on its own thread and messages keep arriving: whatever B applied after
// the fetch began is fetched too, and the join is made under the applier's lock, so the replay and the live
// deliveries together are every message after the client's position once, in order.
// A client of node a on doc:wo:1 (F1) left at offset 1; messages 2..20 followed; node b, which never held the view,
// runs. The client resumes on b while `during` publishes (on a thread of its own, told by `joined` that the join
// returned), then `after` publishes. What the client got on b, the replay then the live messages, as
// "offset:payload"; `recovered` from the join's answer.
std::vector<std::string> resume_on_a_new_node_while(
    cluster_fixture& f, bool& recovered, const std::function<void(const std::atomic<bool>&)>& during,
    const std::function<void()>& after = [] {}) {
  auto a = f.start_node("a");
  auto b = f.start_node("b");
  const auto f1 = factory_scope::of({"F1"});
  auto on_a = f.join(*a, "doc:wo:1", f1);
  f.publish(f.doc1("F1", 1, 1));
  f.catch_up(*a);
  const auto client = *a->h->position("doc:wo:1", f1);
  std::vector<stream_message> missed;
  for (int i = 2; i <= 20; ++i) missed.push_back(f.w.channel("doc:wo:1", "F1", std::to_string(i)));
  f.publish(missed);
  b->a->run();
  std::atomic<bool> joined{false};
  std::thread writer([&] { during(joined); });
  EXPECT_TRUE(test::eventually([&] { return b->a->last_applied() >= 20; }, 20s));
  hub::hub_join j;
  auto on_b = f.join(*b, "doc:wo:1", f1, client, &j);
  joined = true;
  writer.join();
  after();
  EXPECT_TRUE(test::eventually([&] { return b->a->last_applied() == f.w.next_seq() - 1; }, 20s));
  b->a->stop();
  recovered = j.recovered;
  std::vector<std::string> seen = offsets_and_payloads(j.replay);
  for (const auto& e : on_b->events()) seen.push_back(e);
  return seen;
}

// "n:n" for n in from..to: what the client of resume_on_a_new_node_while must get.
std::vector<std::string> offsets_from(int from, int to) {
  std::vector<std::string> want;
  for (int i = from; i <= to; ++i) want.push_back(std::to_string(i) + ":" + std::to_string(i));
  return want;
}

TEST(Applier, AResumeByRangeFetchWhileTheNodeAppliesMissesAndRepeatsNothing) {
  cluster_fixture f;
  bool recovered = false;
  const auto seen = resume_on_a_new_node_while(f, recovered, [&](const std::atomic<bool>&) {
    for (int i = 21; i <= 60; ++i) f.publish({f.w.channel("doc:wo:1", "F1", std::to_string(i))});
  });
  EXPECT_TRUE(recovered);
  EXPECT_EQ(seen, offsets_from(2, 60));
}

// Other channels moving while a join fetches make no further fetch round (the fetch is complete for the channel), and
// the join is exact all the same; the channel's own message after the join is delivered live.
TEST(Applier, AResumeByRangeFetchWhileOtherChannelsMoveIsExact) {
  cluster_fixture f;
  bool recovered = false;
  const auto seen = resume_on_a_new_node_while(
      f, recovered,
      [&](const std::atomic<bool>& joined) {
        for (int i = 1; i <= 200 && !joined.load(); ++i) f.publish({f.w.channel("doc:wo:2", "F1", std::to_string(i))});
      },
      [&] { f.publish({f.w.channel("doc:wo:1", "F1", "21")}); });
  EXPECT_TRUE(recovered);
  EXPECT_EQ(seen, offsets_from(2, 21));
}

// The stream's delivery hop as the node sees it: for each message taken, its wall clock less JetStream's stored time
// (read back here from the stream), and 0 for a message stored "after" the node's clock (two hosts' clocks).
TEST(Applier, ReportsEachMessagesTimeFromStoredToAppliedByItsWallClock) {
  cluster_fixture f;
  const auto now = std::chrono::system_clock::now();
  std::chrono::system_clock::time_point clock = now + std::chrono::hours(1);
  std::vector<std::chrono::nanoseconds> seen;
  auto a = f.start_node("a", 0, nullptr, [&](applier_settings& s) {
    s.wall_clock = [&] { return clock; };
    s.stored_to_applied = [&](std::chrono::nanoseconds d) { seen.push_back(d); };
  });
  f.publish(f.doc1("F1", 1, 3));
  f.catch_up(*a);
  range_request r;
  r.stream = f.st.name;
  r.subject = f.st.name + ".>";
  const auto stored = fetch_range(*f.conn, r).value();
  ASSERT_EQ(stored.size(), 3u);
  ASSERT_EQ(seen.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(seen[i], (clock - std::chrono::system_clock::time_point(std::chrono::nanoseconds(stored[i].time_ns))))
        << i;
  }
  clock = now - std::chrono::hours(1);
  f.publish(f.doc1("F1", 4, 4));
  f.catch_up(*a);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[3], std::chrono::nanoseconds::zero()) << "a stored time past the node's clock counts as 0";
}

// A node whose book forgot a channel (its bound: 2 channels here) looks the channel's other partitions up in the
// stream before it applies the channel's next message, so every view of the channel is at the position a node that
// kept it names, also while the stream already holds later messages of those partitions (found by bisection).
TEST(Applier, AChannelTheBookForgotIsLookedUpSoItsPositionsMatchANodeThatKeptIt) {
  cluster_fixture f;
  auto small = f.start_node("small", 0, nullptr, [](applier_settings& s) { s.apply.max_channels = 2; });
  auto kept = f.start_node("kept");
  f.publish({f.w.channel("doc:wo:1", "F1", "1"), f.w.channel("doc:wo:1", "F2", "2"), f.w.channel("doc:wo:1", "F2", "3"),
             f.w.channel("doc:wo:2", "F1", "x"), f.w.channel("doc:wo:3", "F1", "y")});
  f.catch_up(*small);  // doc:wo:3 made it forget doc:wo:1
  f.publish({f.w.channel("doc:wo:1", "F1", "4"), f.w.channel("doc:wo:1", "F2", "5")});
  const std::vector<factory_scope> views = {factory_scope::unscoped(), factory_scope::of({"F1"}),
                                            factory_scope::of({"F2"}), factory_scope::of({"F1", "F2"})};
  for (std::uint64_t through : {6u, 7u}) {
    f.catch_up(*small, through);
    f.catch_up(*kept, through);
    for (const auto& v : views) {
      EXPECT_EQ(small->a->position_of("doc:wo:1", v), kept->a->position_of("doc:wo:1", v))
          << view_class_text(v) << " after seq " << through;
    }
  }
  EXPECT_EQ(kept->a->position_of("doc:wo:1", factory_scope::unscoped()).offset, 5u);
  EXPECT_EQ(small->a->stats().forgotten_lookups, 1u);
  EXPECT_EQ(small->a->stats().forgotten_lookups_failed, 0u);
  EXPECT_EQ(kept->a->stats().forgotten_lookups, 0u) << "a channel never forgotten is not looked up";
  // A client of the node that kept the channel resumes on the other exactly.
  const auto all = factory_scope::unscoped();
  const auto client = kept->a->position_of("doc:wo:1", all);
  f.publish({f.w.channel("doc:wo:1", "F2", "6")});
  f.catch_up(*small);
  hub::hub_join j;
  f.join(*small, "doc:wo:1", all, client, &j);
  EXPECT_TRUE(j.recovered);
  EXPECT_EQ(offsets_and_payloads(j.replay), (std::vector<std::string>{"6:6"}));
}

TEST(Applier, RunsOnItsOwnThreadUntilStopped) {
  cluster_fixture f;
  auto n = f.start_node("a");
  n->a->run();
  auto sub = f.join(*n, "doc:wo:1", factory_scope::of({"F1"}));
  f.publish(f.doc1("F1", 1, 2));
  EXPECT_TRUE(test::eventually([&] { return sub->events().size() == 2; }, 20s));
  n->a->stop();
  EXPECT_EQ(n->a->last_applied(), 2u);
}

}  // namespace
}  // namespace rtcache::cluster
