// The WAL reader writes the stream (issue 13, "One WAL reader at a time" and "Lossless hand-off through the
// stream"; docs/cluster.md, "serve with [cluster]"), against a real PostgreSQL (the ctest fixture
// pg_source_cluster) and a real nats-server (one per test process: shared_server() of test_nats_server.hpp). Each node
// is built as `serve` builds it with [postgres] and [cluster]: a hub, a cluster node applying the stream to it, a
// gateway serving it, and a PostgreSQL source whose sink is the node's reader_sink (a cluster::writer on the node's
// connection). Every node runs the source on one shared slot; only the holder streams. Clients of every node get
// messages from the stream. Waits are for an expected state with a generous deadline, never on time.
#include "auth/auth.hpp"
#include "cluster/reader_sink.hpp"
#include "cluster/stream.hpp"
#include "cluster/test_nats_server.hpp"
#include "cluster/test_stream_writer.hpp"
#include "gateway/cluster_node.hpp"
#include "gateway/gateway.hpp"
#include "gateway/log.hpp"
#include "gateway_client.hpp"
#include "hub/hub.hpp"
#include "ingest/relay.hpp"
#include "pg_source_fixture.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace rtcache::gateway {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
namespace http = boost::beast::http;
using pg::test::db;
using pg::test::eventually;
using pg::test::running_source;
using testing::ws_client;

// The shared slot and publication of the nodes of one test (dropped at its end).
pg::source_config shared_slot(const std::string& prefix) {
  pg::source_config c;
  c.slot = prefix + "_slot";
  c.publication = prefix + "_pub";
  c.durability.max_unconfirmed_messages = 2000;
  c.durability.stall_timeout = 2s;
  return c;
}

// One node as `serve` builds it with [postgres] and [cluster]; with_source = false: a node without [postgres].
struct node {
  logger log{log_level::off};
  auth::jwt_verifier verifier =
      auth::jwt_verifier::create({auth::verification_key::hs256(testing::k_test_secret).value()}).value();
  hub::hub h{hub::hub_config{}, ingest::make_broadcast_encoder()};
  std::unique_ptr<cluster_node> cluster;
  std::unique_ptr<cluster::reader_sink> sink;
  std::unique_ptr<running_source> source;
  boost::asio::io_context ioc;
  std::optional<gateway> gw;
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  std::vector<std::string> sink_log;
  std::mutex sink_log_mutex;

  node(const std::string& id, const std::string& url, const cluster::stream_settings& stream, const std::string& prefix,
       bool with_source = true, std::optional<pg::source_config> source_cfg = std::nullopt) {
    cluster_node_settings s;
    s.nats = cluster::test::test_settings(url);
    s.nats.name = id;
    s.stream = stream;
    s.node_id = id;
    s.secret = cluster::test::test_secret();
    s.idle_poll = 20ms;
    if (std::getenv("RTCACHE_TEST_DEBUG") != nullptr) {
      s.log = [id](std::string_view event, std::string_view detail) {
        std::fprintf(stderr, "[%s] %.*s %.*s\n", id.c_str(), static_cast<int>(event.size()), event.data(),
                     static_cast<int>(detail.size()), detail.data());
      };
    }
    auto started = cluster_node::start(h, std::move(s));
    if (!started) throw std::runtime_error("cluster node " + id + ": " + started.error().message);
    cluster = std::move(*started);
    gateway_config cfg;
    cfg.listen_address = "127.0.0.1";
    cfg.port = 0;
    gw.emplace(ioc, cfg, h, verifier, core::doc_type_registry::defaults(), log);
    gw->set_node(*cluster);
    port = gw->start();
    for (int i = 0; i < 2; ++i) threads.emplace_back([this] { ioc.run(); });
    if (!with_source) return;
    cluster::writer_settings ws;
    ws.stream = stream.name;
    ws.publisher.max_in_flight = 8192;  // above the source's backlog bound (2,000) and a batch
    sink = std::make_unique<cluster::reader_sink>(cluster->connection(), ws,
                                                  [this](std::string_view event, std::string_view detail) {
                                                    std::lock_guard lock(sink_log_mutex);
                                                    sink_log.push_back(std::string(event) + " " + std::string(detail));
                                                  });
    source = std::make_unique<running_source>(prefix, source_cfg.value_or(shared_slot(prefix)), sink.get());
  }
  ~node() {
    if (source && std::getenv("RTCACHE_TEST_DEBUG") != nullptr) {
      for (const auto& r : source->logs()) {
        std::string line = r.event;
        for (const auto& [k, v] : r.fields) line += " " + k + "=" + v;
        std::fprintf(stderr, "[source of %s] %s\n", cluster->stream().c_str(), line.c_str());
      }
    }
    source.reset();  // stops the source before its sink and the node's connection go
    gw->stop();
    pg::test::eventually([&] { return gw->sessions() == 0; }, 10s);
    ioc.stop();
    for (auto& t : threads) t.join();
    gw.reset();
    sink.reset();
    cluster.reset();
  }

  bool ready() const { return testing::http_call(port, http::verb::get, "/readyz").status == 200; }
  pg::source_role role() const { return source->role(); }
  std::unique_ptr<ws_client> client(const std::vector<std::string>& factories) const {
    auto c = std::make_unique<ws_client>(port, ws_client::url(testing::token_for("authenticated", factories)));
    if (!c->connected) throw std::runtime_error("no WebSocket");
    return c;
  }
};

// What a client received on one channel: the doc ids ("w17" -> 17) and offsets of its messages, in order.
struct received {
  std::vector<int> ids;
  std::vector<std::int64_t> offsets;
};

// Joins `topic` (resuming with `payload` when it names a position) and returns the reply.
json::value join_reply(ws_client& c, const std::string& topic, std::string_view ref = "1",
                       std::string_view payload = R"({"config":{}})") {
  c.send(testing::v1_join(topic, ref, payload));
  return c.read_until([&](const json::value& v) { return testing::is_reply(v, ref); });
}

void join(ws_client& c, const std::string& topic) {
  const auto reply = join_reply(c, topic);
  ASSERT_EQ(reply.at("payload").at("status"), "ok") << json::serialize(reply);
}

// Whether a client of `n` joining `topic` from `position` is answered recovered:true.
bool resumes(const node& n, const std::string& topic, const json::value& position) {
  auto c = n.client({"f1"});
  const auto reply = join_reply(*c, topic, "7", testing::resume_payload(position));
  EXPECT_EQ(reply.at("payload").at("status"), "ok") << json::serialize(reply);
  const auto p = testing::position_of(reply);
  EXPECT_TRUE(p.is_object()) << json::serialize(reply);
  return p.is_object() && p.as_object().contains("recovered") && p.at("recovered") == true;
}

// The position a new client of `n` is given on `topic` (what a client that received everything holds).
json::value position_now(const node& n, const std::string& topic) {
  auto c = n.client({"f1"});
  return testing::position_of(join_reply(*c, topic, "9"));
}

received read_until(ws_client& c, const std::string& topic, const std::function<bool(const received&)>& done) {
  received r;
  while (!done(r)) {
    auto text = c.read(20s);
    if (!text) break;
    const json::value v = json::parse(*text);
    const auto& o = v.as_object();
    if (!o.contains("topic") || o.at("topic") != topic.c_str()) {
      if (std::getenv("RTCACHE_TEST_DEBUG") != nullptr) std::fprintf(stderr, "frame %s\n", text->c_str());
      continue;
    }
    const auto* p = o.at("payload").as_object().if_contains("payload");
    if (p == nullptr || !p->is_object()) continue;
    const auto* id = p->as_object().if_contains("id");
    const auto* offset = p->as_object().if_contains("offset");
    if (std::getenv("RTCACHE_TEST_DEBUG") != nullptr) std::fprintf(stderr, "frame %s\n", text->c_str());
    if (id == nullptr || offset == nullptr || !id->is_string()) continue;
    const std::string s(id->as_string());
    if (s.rfind('w', 0) != 0) continue;
    r.ids.push_back(std::stoi(s.substr(1)));
    r.offsets.push_back(offset->to_number<std::int64_t>());
  }
  return r;
}

// What differs from 1..total: ids missing, ids seen more than once, the first id out of order.
std::string differences(const std::vector<int>& ids, int total) {
  std::map<int, int> seen;
  for (int id : ids) ++seen[id];
  std::string out;
  for (int i = 1; i <= total; ++i) {
    if (seen[i] == 0) out += " missing w" + std::to_string(i);
    if (seen[i] > 1) out += " w" + std::to_string(i) + " x" + std::to_string(seen[i]);
  }
  for (std::size_t i = 1; i < ids.size(); ++i) {
    if (ids[i] <= ids[i - 1]) {
      out += " out of order at " + std::to_string(i) + ": w" + std::to_string(ids[i]) + " after w" +
             std::to_string(ids[i - 1]);
      break;
    }
  }
  return out;
}

class ClusterReader : public pg::test::PgSource {
 protected:
  void TearDown() override {
    if (conn_ && !stream_.name.empty()) (void)cluster::delete_stream(*conn_, stream_.name);
  }
  const cluster::stream_settings& stream(const std::string& prefix) {
    conn_ = cluster::test::connect_or_die(url());
    stream_ = cluster::test::test_stream(prefix);
    if (auto r = cluster::ensure_stream(*conn_, stream_); !r) throw std::runtime_error(r.error().message);
    return stream_;
  }
  static std::string url() { return cluster::test::shared_server().url(); }
  // A writer of the test's own, on its own connection, appends a position message to `st` (as a frozen reader that
  // woke up after a standby took over would): the reading node's writer is fenced at its next message.
  static void append_as_another_writer(const cluster::stream_settings& st) {
    auto other_conn = cluster::test::connect_or_die(url());
    cluster::writer_settings ws;
    ws.stream = st.name;
    auto other = cluster::writer::create(*other_conn, ws);
    ASSERT_TRUE(other) << other.error().message;
    auto anchor = (*other)->durable_anchor();
    ASSERT_TRUE(anchor && anchor->has_value());
    (*other)->start_stream([] {});
    routing::routed_batch position_only;
    position_only.position = {1, (*anchor)->system_identifier, (*anchor)->timeline, 0, 0, (*anchor)->confirm_lsn + 1};
    position_only.last = true;
    (*other)->publish(std::move(position_only));
    ASSERT_TRUE(eventually([&] { return (*other)->durable_through() >= 1; }));
  }
  // Whether every node given applied everything the stream holds now.
  bool applied_everywhere(std::initializer_list<const node*> nodes) {
    auto state = cluster::get_stream_state(*conn_, stream_.name);
    if (!state) return false;
    for (const node* n : nodes) {
      if (n->cluster->applier().last_applied() < state->last_seq) return false;
    }
    return true;
  }
  // The reader dies: its walsender ends (as when its process is killed) and it never comes back.
  static void kill_reader(db& d, const std::string& prefix, node& reader) {
    d.exec("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '" + prefix +
           "_slot' AND active_pid IS NOT NULL");
    reader.source->stop();
  }
  static void drop_slot(const std::string& prefix) {
    db d;
    eventually([&] {
      return d.exec("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + prefix + "_slot' AND active") ==
             "0";
    });
    d.exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + prefix +
           "_slot'");
    d.exec("DROP PUBLICATION IF EXISTS " + prefix + "_pub");
  }

 private:
  std::unique_ptr<cluster::connection> conn_;
  cluster::stream_settings stream_;
};

// issue 13: "An event committed in PostgreSQL reaches a client on every node". Node A holds the slot, node B
// stands by: a client on B (which reads no WAL) and one on A receive the rows, at the same offsets, through the
// stream. Before the reader wrote the stream, a source's sink was its own node's hub: B's client got nothing.
TEST_F(ClusterReader, ARowCommittedInPostgresReachesAClientOnTheNodeThatDoesNotRead) {
  db d;
  drop_slot("crrow");  // a crashed earlier run's slot would replay that run's rows into this one
  pg::test::create_tables(d, "crrow");
  const auto& st = stream("crrow");
  {
    node a("a", url(), st, "crrow");
    ASSERT_TRUE(a.source->wait_streaming());
    node b("b", url(), st, "crrow");
    ASSERT_TRUE(eventually([&] { return b.role() == pg::source_role::standby; }));
    EXPECT_EQ(a.role(), pg::source_role::reader);
    ASSERT_TRUE(eventually([&] { return a.ready() && b.ready(); }));
    auto on_a = a.client({"f1"});
    auto on_b = b.client({"f1"});
    join(*on_a, "realtime:list:wo:f1");
    join(*on_b, "realtime:list:wo:f1");

    pg::test::insert_each(d, "crrow_wo", 1, 3);
    const auto got_b = read_until(*on_b, "realtime:list:wo:f1", [](const received& r) { return r.ids.size() >= 3; });
    const auto got_a = read_until(*on_a, "realtime:list:wo:f1", [](const received& r) { return r.ids.size() >= 3; });
    EXPECT_EQ(got_b.ids, (std::vector<int>{1, 2, 3})) << "the standby's client gets the rows from the stream";
    EXPECT_EQ(got_a.ids, got_b.ids);
    EXPECT_EQ(got_a.offsets, got_b.offsets) << "the same positions on every node";
    EXPECT_EQ(b.role(), pg::source_role::standby) << "B read no WAL";
    EXPECT_GE(a.sink->stats().messages, 3U);
    EXPECT_EQ(b.sink->stats().messages, 0U);
  }
  drop_slot("crrow");
}

// issue 13: "Reader kill under a steady write load: another node takes the slot; a client on a third node sees
// every committed change exactly once (count against the database), in commit order per channel". The reader's
// walsender is terminated and its source stopped while rows are being committed; B takes the slot from its
// confirmed position, which lags what A's writer had stored, so B replays part of it: its writer skips what the
// stream holds (the anchor), and C's client sees each row once. Without the writer's anchor, or with each node
// publishing into its own hub, C would see duplicates or nothing.
TEST_F(ClusterReader, AStandbyTakesOverFromTheConfirmedPositionAndAClientSeesEveryRowOnceInOrder) {
  db d;
  drop_slot("crhand");  // a crashed earlier run's slot would replay that run's rows into this one
  pg::test::create_tables(d, "crhand");
  const auto& st = stream("crhand");
  {
    auto a = std::make_unique<node>("a", url(), st, "crhand");
    ASSERT_TRUE(a->source->wait_streaming());
    node b("b", url(), st, "crhand");
    node c("c", url(), st, "crhand", /*with_source=*/false);
    ASSERT_TRUE(eventually([&] { return b.role() == pg::source_role::standby; }));
    ASSERT_TRUE(eventually([&] { return c.ready(); }));
    auto on_c = c.client({"f1"});
    join(*on_c, "realtime:list:wo:f1");

    pg::test::steady_writer writer("crhand_wo", 2ms);
    ASSERT_TRUE(eventually([&] { return a->sink->stats().messages >= 100; }));
    kill_reader(d, "crhand", *a);
    ASSERT_TRUE(eventually([&] { return b.role() == pg::source_role::reader; }));
    EXPECT_GE(b.source->count_logs("source_role", "reason", "took over: the slot was freed"), 1U);
    const int total = writer.finish(100);
    ASSERT_EQ(d.exec("SELECT count(*) FROM crhand_wo"), std::to_string(total));

    const auto got = read_until(*on_c, "realtime:list:wo:f1",
                                [&](const received& r) { return !r.ids.empty() && r.ids.back() == total; });
    std::vector<int> want(static_cast<std::size_t>(total));
    for (int i = 0; i < total; ++i) want[static_cast<std::size_t>(i)] = i + 1;
    EXPECT_EQ(got.ids, want) << "every committed row once, in commit order:" << differences(got.ids, total);
    for (std::size_t i = 1; i < got.offsets.size(); ++i) {
      EXPECT_EQ(got.offsets[i], got.offsets[i - 1] + 1) << "offsets are contiguous across the hand-off";
    }
    EXPECT_GE(b.sink->stats().messages, 1U);
    // What B's replay from the slot's confirmed position found already in the stream (A had stored it, not yet
    // confirmed it): skipped, not published again. Printed, not asserted: it depends on when A last confirmed.
    const auto skipped = b.sink->stats().skipped;
    RecordProperty("replayed_and_skipped", std::to_string(skipped));
    std::printf("rows %d, messages B's replay found in the stream and skipped: %llu\n", total,
                static_cast<unsigned long long>(skipped));
    a.reset();
  }
  drop_slot("crhand");
}

// issue 13, "The reader ... stops confirming": a reader whose writer another writer fenced (here a writer the test
// runs on its own connection appends a position message, as a frozen reader that woke up after a standby took
// over would) publishes and confirms nothing more; its source gives up the slot after its stall bound and the
// standby takes over. When the fenced node next takes the slot, its reader_sink starts a new writer from the
// stream's tail and goes on. The client sees every row once, in order. Without the renewal, the fenced writer
// answers every durable_anchor() with its fence: the node could never read again and rows 21..30 would be lost.
TEST_F(ClusterReader, AFencedReaderGivesUpTheSlotAndWritesAgainWithANewWriterWhenItRetakesIt) {
  db d;
  drop_slot("crfence");  // a crashed earlier run's slot would replay that run's rows into this one
  pg::test::create_tables(d, "crfence");
  const auto& st = stream("crfence");
  {
    node a("a", url(), st, "crfence");
    ASSERT_TRUE(a.source->wait_streaming());
    auto b = std::make_unique<node>("b", url(), st, "crfence");
    node c("c", url(), st, "crfence", /*with_source=*/false);
    ASSERT_TRUE(eventually([&] { return b->role() == pg::source_role::standby; }));
    ASSERT_TRUE(eventually([&] { return c.ready(); }));
    auto on_c = c.client({"f1"});
    join(*on_c, "realtime:list:wo:f1");
    const std::string topic = "realtime:list:wo:f1";
    auto upto = [](int n) { return [n](const received& r) { return !r.ids.empty() && r.ids.back() >= n; }; };

    pg::test::insert_each(d, "crfence_wo", 1, 10);
    received all = read_until(*on_c, topic, upto(10));
    const std::uint64_t first_writers = a.sink->stats().messages;  // rows 1..10, A's first writer
    ASSERT_GT(first_writers, 0U);

    // Another writer appends: A's writer is fenced at its next message.
    ASSERT_NO_FATAL_FAILURE(append_as_another_writer(st));
    pg::test::insert_each(d, "crfence_wo", 11, 20);
    ASSERT_TRUE(eventually([&] { return a.sink->fenced_writers() == 1; }));
    ASSERT_TRUE(eventually([&] { return a.source->has_log("sink_stalled"); })) << "A gives up the slot";
    ASSERT_TRUE(eventually([&] { return b->role() == pg::source_role::reader; })) << "B takes it";
    auto more = read_until(*on_c, topic, upto(20));
    all.ids.insert(all.ids.end(), more.ids.begin(), more.ids.end());

    // B goes; A takes the slot again, with a new writer.
    ASSERT_TRUE(eventually([&] { return a.role() == pg::source_role::standby; }));
    b.reset();
    ASSERT_TRUE(eventually([&] { return a.role() == pg::source_role::reader; }));
    pg::test::insert_each(d, "crfence_wo", 21, 30);
    more = read_until(*on_c, topic, upto(30));
    all.ids.insert(all.ids.end(), more.ids.begin(), more.ids.end());
    std::vector<int> want(30);
    for (int i = 0; i < 30; ++i) want[static_cast<std::size_t>(i)] = i + 1;
    EXPECT_EQ(all.ids, want) << "every row once, in commit order, across the fence and both hand-offs";
    EXPECT_EQ(d.exec("SELECT count(*) FROM crfence_wo"), "30");
    // issue 13, "Metrics": the sink's counters are totals over its writers (rows 1..10 and 21..30 are A's), and the
    // fenced writer is counted once, after its replacement too.
    EXPECT_GE(a.sink->stats().messages, 2 * first_writers);
    EXPECT_EQ(a.sink->fenced_writers(), 1U);
    std::lock_guard lock(a.sink_log_mutex);
    ASSERT_EQ(a.sink_log.size(), 1U);
    EXPECT_EQ(a.sink_log[0].rfind("cluster.writer_fenced ", 0), 0U) << a.sink_log[0];
  }
  drop_slot("crfence");
}

// A fenced reader gives up the slot at once, not after its stall bound: its sink says it can publish nothing more
// (routed_sink::can_publish), so a standby takes over while the rows are still being committed. The stall bound is
// ten minutes here: before, A held the slot for all of it (in production publish_stall_ms, 10 s) while nothing
// became durable.
TEST_F(ClusterReader, AFencedReaderGivesUpTheSlotAtOnceNotAfterItsStallBound) {
  db d;
  drop_slot("crfast");
  pg::test::create_tables(d, "crfast");
  const auto& st = stream("crfast");
  const std::string topic = "realtime:list:wo:f1";
  {
    pg::source_config cfg = shared_slot("crfast");
    cfg.durability.stall_timeout = 600s;
    node a("a", url(), st, "crfast", /*with_source=*/true, cfg);
    ASSERT_TRUE(a.source->wait_streaming());
    node b("b", url(), st, "crfast", /*with_source=*/true, cfg);
    node c("c", url(), st, "crfast", /*with_source=*/false);
    ASSERT_TRUE(eventually([&] { return b.role() == pg::source_role::standby && c.ready(); }));
    auto on_c = c.client({"f1"});
    join(*on_c, topic);
    pg::test::insert_each(d, "crfast_wo", 1, 5);
    received all = read_until(*on_c, topic, [](const received& r) { return r.ids.size() >= 5; });

    // Another writer appends: A's writer is fenced at its next message.
    ASSERT_NO_FATAL_FAILURE(append_as_another_writer(st));
    pg::test::insert_each(d, "crfast_wo", 6, 10);
    ASSERT_TRUE(eventually([&] { return a.sink->fenced_writers() == 1; }));
    ASSERT_TRUE(eventually([&] { return b.role() == pg::source_role::reader; }, 30s))
        << "B takes the slot long before A's ten-minute stall bound";
    EXPECT_EQ(a.source->count_logs("sink_stalled", "reason",
                                   "the sink publishes nothing more (in a cluster: another writer appended)"),
              1U);
    auto more = read_until(*on_c, topic, [](const received& r) { return !r.ids.empty() && r.ids.back() >= 10; });
    all.ids.insert(all.ids.end(), more.ids.begin(), more.ids.end());
    EXPECT_EQ(all.ids, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})) << "every row once, in order";
  }
  drop_slot("crfast");
}

// issue 13, "nats-server killed and restarted mid-load: no gap and no duplicate reaches a client". Rows are committed
// every 2 ms; the nats-server (a private one with its own store) is killed with SIGKILL and started again while
// they keep coming. The reader's writer stops confirming while NATS is gone (its source stalls and retakes the
// slot, replaying from the confirmed position into a new writer that skips what the stream already holds); node
// C, cut off, reconnects and continues from its last applied sequence. C's client sees every row once, in commit
// order, counted against the database.
TEST_F(ClusterReader, ANatsServerKilledAndRestartedMidLoadDeliversEveryRowOnceInOrder) {
  db d;
  drop_slot("crnats");
  pg::test::create_tables(d, "crnats");
  cluster::test::nats_server server;
  const cluster::stream_settings st = cluster::test::test_stream("crnats");
  {
    auto conn = cluster::test::connect_or_die(server.url());
    ASSERT_TRUE(cluster::ensure_stream(*conn, st));
  }
  const std::string topic = "realtime:list:wo:f1";
  {
    node a("a", server.url(), st, "crnats");
    ASSERT_TRUE(a.source->wait_streaming());
    node c("c", server.url(), st, "crnats", /*with_source=*/false);
    ASSERT_TRUE(eventually([&] { return c.ready(); }));
    auto on_c = c.client({"f1"});
    join(*on_c, topic);

    pg::test::steady_writer writer("crnats_wo", 2ms);
    ASSERT_TRUE(eventually([&] { return a.sink->stats().messages >= 100; }));
    server.kill9();
    ASSERT_TRUE(eventually([&] { return !c.ready(); })) << "C notices it is cut off";
    const int during = writer.written();
    ASSERT_TRUE(eventually([&] { return writer.written() >= during + 50; })) << "rows committed while NATS is down";
    server.start();
    ASSERT_TRUE(eventually([&] { return c.ready(); }));
    const int total = writer.finish(100);
    ASSERT_EQ(d.exec("SELECT count(*) FROM crnats_wo"), std::to_string(total));

    const auto got =
        read_until(*on_c, topic, [&](const received& r) { return !r.ids.empty() && r.ids.back() == total; });
    std::vector<int> want(static_cast<std::size_t>(total));
    for (int i = 0; i < total; ++i) want[static_cast<std::size_t>(i)] = i + 1;
    EXPECT_EQ(got.ids, want) << "every committed row once, in commit order:" << differences(got.ids, total);
    for (std::size_t i = 1; i < got.offsets.size(); ++i) {
      EXPECT_EQ(got.offsets[i], got.offsets[i - 1] + 1) << "offsets are contiguous across the restart";
    }
    std::printf("rows %d (%d committed while NATS was down), writer resyncs %llu, skipped %llu\n", total,
                writer.written() - during, static_cast<unsigned long long>(a.sink->stats().resyncs),
                static_cast<unsigned long long>(a.sink->stats().skipped));
  }
  drop_slot("crnats");
}

// issue 13, "A gap is never continuity ... With the cluster, the same rule holds": the issue's scenario on a cluster.
// A client on node C (which reads no WAL) holds a position on list:wo:f1; the slot is dropped while the reader
// (node A) is kept out; two f1 rows are committed and never streamed; A creates the slot again at the current
// position. The reader's writer publishes a gap marker, and every node starts the covered channels over: a resume
// from before the gap is recovered:false on C and on A, and C's live client is told at once (phx_error). Without the
// marker (or with a node ignoring it), C would answer the resume recovered:true and the two rows would be lost
// silently.
TEST_F(ClusterReader, ADroppedSlotIsAGapEveryNodeStartsTheChannelsOverAndAResumeFromBeforeItIsNotRecovered) {
  db d;
  drop_slot("crgap");
  pg::test::create_tables(d, "crgap");
  d.exec("DROP ROLE IF EXISTS crgap_role");
  d.exec("CREATE ROLE crgap_role LOGIN REPLICATION");  // the reader's own role: the test keeps it out for a while
  d.exec("DROP PUBLICATION IF EXISTS crgap_pub");
  d.exec("CREATE PUBLICATION crgap_pub FOR TABLE crgap_wo, crgap_pl");
  const auto& st = stream("crgap");
  const std::string topic = "realtime:list:wo:f1";
  {
    pg::source_config cfg = shared_slot("crgap");
    cfg.conninfo = pg::test::conninfo() + " user=crgap_role";
    cfg.create_publication = false;
    node a("a", url(), st, "crgap", /*with_source=*/true, cfg);
    ASSERT_TRUE(a.source->wait_streaming());
    node c("c", url(), st, "crgap", /*with_source=*/false);
    ASSERT_TRUE(eventually([&] { return c.ready(); }));
    auto live = c.client({"f1"});
    join(*live, topic);
    pg::test::insert_each(d, "crgap_wo", 1, 2);
    ASSERT_EQ(read_until(*live, topic, [](const received& r) { return r.ids.size() >= 2; }).ids,
              (std::vector<int>{1, 2}));
    const json::value before = position_now(c, topic);
    ASSERT_TRUE(before.is_object());
    EXPECT_TRUE(resumes(c, topic, before)) << "continuity, before the gap";

    d.exec("ALTER ROLE crgap_role NOLOGIN");
    ASSERT_TRUE(eventually([&] {
      d.exec(
          "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'crgap_slot' "
          "AND active_pid IS NOT NULL");
      return d.try_exec("SELECT pg_drop_replication_slot('crgap_slot')");
    }));
    pg::test::insert_each(d, "crgap_wo", 3, 4);  // committed while no slot exists: never streamed
    d.exec("ALTER ROLE crgap_role LOGIN");
    ASSERT_TRUE(eventually([&] { return a.source->count_logs("replication_started") == 2; }));
    ASSERT_TRUE(eventually([&] { return a.sink->stats().gaps == 1; })) << "the reader published the gap";
    EXPECT_EQ(a.source->count_logs("source_gap", "reason", "slot_created"), 1U);

    // C's live client is told at once that its channel started over; nothing of the gap reached it before.
    std::vector<std::string> ids_before_error;
    const auto error = live->read_until([&](const json::value& v) {
      if (v.at("topic") != topic.c_str()) return false;
      const auto* p = v.at("payload").as_object().if_contains("payload");
      if (p != nullptr && p->is_object() && p->as_object().contains("id")) {
        ids_before_error.emplace_back(p->at("id").as_string());
      }
      return v.at("event") == "phx_error";
    });
    EXPECT_EQ(error.at("event"), "phx_error") << "the live client on C learns of the gap";
    EXPECT_EQ(ids_before_error, (std::vector<std::string>{})) << "w3 and w4 were never streamed";

    auto rejoined = c.client({"f1"});  // what the refetching client does: join anew
    join(*rejoined, topic);
    pg::test::insert_each(d, "crgap_wo", 5, 5);  // after the new slot: delivered
    EXPECT_EQ(read_until(*rejoined, topic, [](const received& r) { return !r.ids.empty(); }).ids,
              (std::vector<int>{5}));
    ASSERT_TRUE(eventually([&] { return applied_everywhere({&a, &c}); }));
    EXPECT_FALSE(resumes(c, topic, before)) << "node C: a resume from before the gap is not continuity";
    EXPECT_FALSE(resumes(a, topic, before)) << "node A: the same";
    EXPECT_NE(position_now(c, topic).at("epoch"), before.at("epoch"));
    EXPECT_EQ(position_now(c, topic), position_now(a, topic)) << "both nodes name the same new position";
  }
  drop_slot("crgap");
  d.exec("DROP ROLE IF EXISTS crgap_role");
}

// A PostgreSQL restored from a copy on the same timeline (a disk snapshot started again): the stream holds messages
// of WAL positions the server's WAL has not reached (here a transaction far ahead of it, written by a writer of the
// test's own as the pre-restore reader's was). The reader reports the gap (wal_rewound) and the rows committed after
// it reach a client. Before the writer's rewind generation they were skipped as already in the stream.
TEST_F(ClusterReader, AServerRestoredFromACopyIsAGapAndTheRowsCommittedAfterItReachClients) {
  db d;
  drop_slot("crrew");
  pg::test::create_tables(d, "crrew");
  d.exec("CREATE PUBLICATION crrew_pub FOR TABLE crrew_wo, crrew_pl");
  d.exec("SELECT pg_create_logical_replication_slot('crrew_slot', 'pgoutput')");  // the copy's slot: it exists
  const auto& st = stream("crrew");
  const auto system = std::stoull(d.exec("SELECT system_identifier FROM pg_control_system()"));
  const auto timeline =
      static_cast<std::uint32_t>(std::stoul(d.exec("SELECT timeline_id FROM pg_control_checkpoint()")));
  {
    auto other_conn = cluster::test::connect_or_die(url());
    cluster::writer_settings ws;
    ws.stream = st.name;
    auto before_restore = cluster::writer::create(*other_conn, ws);
    ASSERT_TRUE(before_restore) << before_restore.error().message;
    (*before_restore)->start_stream([] {});
    auto e = std::make_shared<core::event>();
    e->type = "wo";
    e->id = "w99";
    e->factory_id = "f9";
    e->act = core::action::update;
    routing::routed_batch b;
    b.position = {1, system, timeline, 0xFF00000000, 0, 0xFF00000010};
    b.last = true;
    b.rows.messages.push_back({core::channel_key::doc("wo", "w99"), e, nullptr});
    (*before_restore)->publish(std::move(b));
    ASSERT_TRUE(eventually([&] { return (*before_restore)->durable_through() >= 1; }));
  }
  {
    pg::source_config cfg = shared_slot("crrew");
    cfg.create_publication = false;
    node a("a", url(), st, "crrew", /*with_source=*/true, cfg);
    ASSERT_TRUE(a.source->wait_streaming());
    ASSERT_TRUE(eventually([&] { return a.sink->stats().gaps == 1; })) << "the reader published the gap";
    EXPECT_EQ(a.source->count_logs("source_gap", "reason", "wal_rewound"), 1U);
    ASSERT_TRUE(eventually([&] { return a.ready(); }));
    auto client = a.client({"f1"});
    join(*client, "realtime:list:wo:f1");
    pg::test::insert_each(d, "crrew_wo", 1, 3);
    EXPECT_EQ(read_until(*client, "realtime:list:wo:f1", [](const received& r) { return r.ids.size() >= 3; }).ids,
              (std::vector<int>{1, 2, 3}))
        << "committed after the restore, at positions below what the stream held";
    EXPECT_EQ(a.sink->stats().skipped, 0U);
  }
  drop_slot("crrew");
}

// issue 13, "TRUNCATE of a mapped table makes that table's list channels refetch", on a cluster: the reader
// publishes the TRUNCATE as a gap marker covering that table's channels; node C (which reads no WAL) starts
// list:wo:f1 over (a resume from before is recovered:false) and leaves list:pl:f1, another table's, alone
// (recovered:true).
TEST_F(ClusterReader, ATruncateStartsThatTablesListChannelsOverOnEveryNodeAndLeavesOtherTablesAlone) {
  db d;
  drop_slot("crtrunc");
  pg::test::create_tables(d, "crtrunc");
  const auto& st = stream("crtrunc");
  {
    node a("a", url(), st, "crtrunc");
    ASSERT_TRUE(a.source->wait_streaming());
    node c("c", url(), st, "crtrunc", /*with_source=*/false);
    ASSERT_TRUE(eventually([&] { return c.ready(); }));
    auto keeper = c.client({"f1"});  // C holds both views while the rows arrive
    join(*keeper, "realtime:list:wo:f1");
    join(*keeper, "realtime:list:pl:f1");
    d.exec("INSERT INTO crtrunc_wo VALUES ('w1', 'f1', 1, 'open', 1, NULL)");
    d.exec("INSERT INTO crtrunc_pl VALUES ('p1', 'f1')");
    bool wo_seen = false;
    bool pl_seen = false;
    keeper->read_until([&](const json::value& v) {
      const auto* p = v.at("payload").as_object().if_contains("payload");
      if (v.at("event") == "broadcast" && p != nullptr && p->is_object() && p->as_object().contains("offset")) {
        if (v.at("topic") == "realtime:list:wo:f1") wo_seen = true;
        if (v.at("topic") == "realtime:list:pl:f1") pl_seen = true;
      }
      return wo_seen && pl_seen;
    });
    ASSERT_TRUE(eventually([&] { return applied_everywhere({&a, &c}); }));
    const json::value wo_before = position_now(c, "realtime:list:wo:f1");
    const json::value pl_before = position_now(c, "realtime:list:pl:f1");
    ASSERT_EQ(wo_before.at("offset"), 1);
    ASSERT_EQ(pl_before.at("offset"), 1);

    d.exec("TRUNCATE crtrunc_wo");
    // Published is not yet stored: wait until both nodes applied the marker itself.
    ASSERT_TRUE(eventually([&] {
      return a.sink->stats().gaps == 1 && a.cluster->applier().stats().apply.gaps == 1 &&
             c.cluster->applier().stats().apply.gaps == 1;
    }));
    EXPECT_FALSE(resumes(c, "realtime:list:wo:f1", wo_before)) << "the truncated table's list channel starts over";
    EXPECT_TRUE(resumes(c, "realtime:list:pl:f1", pl_before)) << "another table's keeps its position";
    EXPECT_FALSE(resumes(a, "realtime:list:wo:f1", wo_before));
  }
  drop_slot("crtrunc");
}

// POSTs one contract event per id (doc type wo, factory f1) to `n`'s /v1/events, as a backend would.
void post_events(const node& n, int from, int to) {
  std::string body = "[";
  for (int i = from; i <= to; ++i) {
    if (i != from) body += ",";
    body += R"({"type":"wo","id":"w)" + std::to_string(i) + R"(","factoryId":"f1","action":"update"})";
  }
  body += "]";
  const auto answer = testing::http_call(n.port, http::verb::post, "/v1/events", body,
                                         {{"Authorization", "Bearer " + testing::service_token()}});
  ASSERT_EQ(answer.status, 202U) << answer.body;
}

// issue 13: "a relay POST on node A reaches a client on node C". B holds the slot; a POST on A (which reads no WAL)
// goes to the ingest stream, B's writer republishes it between its transactions, and a client on C receives the
// events among the rows, every one once, at contiguous offsets of the one channel. Before relay ingest went
// through the stream, A answered 503.
TEST_F(ClusterReader, ARelayPostOnANodeReachesAClientOnAThirdNodeAmongTheRowsAtContiguousOffsets) {
  db d;
  drop_slot("crpost");
  pg::test::create_tables(d, "crpost");
  const auto& st = stream("crpost");
  {
    node b("b", url(), st, "crpost");
    ASSERT_TRUE(b.source->wait_streaming());
    node a("a", url(), st, "crpost");
    node c("c", url(), st, "crpost");
    ASSERT_TRUE(
        eventually([&] { return a.role() == pg::source_role::standby && c.role() == pg::source_role::standby; }));
    ASSERT_TRUE(eventually([&] { return a.ready() && b.ready() && c.ready(); }));
    auto on_c = c.client({"f1"});
    join(*on_c, "realtime:list:wo:f1");

    pg::test::insert_each(d, "crpost_wo", 1, 3);
    post_events(a, 4, 6);
    pg::test::insert_each(d, "crpost_wo", 7, 9);
    const auto got = read_until(*on_c, "realtime:list:wo:f1", [](const received& r) { return r.ids.size() >= 9; });
    auto ids = got.ids;
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9})) << differences(ids, 9);
    std::vector<int> posted;
    for (int id : got.ids) {
      if (id >= 4 && id <= 6) posted.push_back(id);
    }
    EXPECT_EQ(posted, (std::vector<int>{4, 5, 6})) << "a request's events in their order";
    for (std::size_t i = 1; i < got.offsets.size(); ++i) EXPECT_EQ(got.offsets[i], got.offsets[i - 1] + 1);
    // Each event went to its doc: and its list: channel; only the slot holder's writer republished them.
    EXPECT_EQ(b.sink->stats().ingest_items, 6U);
    EXPECT_EQ(a.sink->stats().ingest_items + c.sink->stats().ingest_items, 0U);
    // The same position on A, which applied them from the stream too (once it applied everything).
    ASSERT_TRUE(eventually([&] { return applied_everywhere({&a, &c}); }));
    EXPECT_EQ(position_now(a, "realtime:list:wo:f1"), position_now(c, "realtime:list:wo:f1"));
  }
  drop_slot("crpost");
}

// issue 13, relay ingest across a reader's death: POSTs go to node C one after another while the reader A dies; B
// takes the slot and its new writer reads the ingest stream again from the anchor A's writer left in the stream,
// skipping what A republished. C's client sees every posted event once, in posting order, at contiguous offsets;
// POSTs accepted while no node held the slot wait in the ingest stream and arrive after the take-over.
TEST_F(ClusterReader, RelayIngestCrossesAReadersDeathWithoutLossOrRepeat) {
  db d;
  drop_slot("crrelay");
  pg::test::create_tables(d, "crrelay");
  const auto& st = stream("crrelay");
  {
    auto a = std::make_unique<node>("a", url(), st, "crrelay");
    ASSERT_TRUE(a->source->wait_streaming());
    node b("b", url(), st, "crrelay");
    node c("c", url(), st, "crrelay", /*with_source=*/false);
    ASSERT_TRUE(eventually([&] { return b.role() == pg::source_role::standby; }));
    ASSERT_TRUE(eventually([&] { return c.ready(); }));
    auto on_c = c.client({"f1"});
    join(*on_c, "realtime:list:wo:f1");

    constexpr int k_total = 300;
    for (int i = 1; i <= 100; ++i) post_events(c, i, i);
    ASSERT_TRUE(eventually([&] { return a->sink->stats().ingest_items >= 20; }));
    kill_reader(d, "crrelay", *a);
    for (int i = 101; i <= k_total; ++i) post_events(c, i, i);
    ASSERT_TRUE(eventually([&] { return b.role() == pg::source_role::reader; }));

    const auto got = read_until(*on_c, "realtime:list:wo:f1",
                                [&](const received& r) { return !r.ids.empty() && r.ids.back() == k_total; });
    std::vector<int> want(static_cast<std::size_t>(k_total));
    for (int i = 0; i < k_total; ++i) want[static_cast<std::size_t>(i)] = i + 1;
    EXPECT_EQ(got.ids, want) << "every posted event once, in posting order:" << differences(got.ids, k_total);
    for (std::size_t i = 1; i < got.offsets.size(); ++i) EXPECT_EQ(got.offsets[i], got.offsets[i - 1] + 1);
    EXPECT_EQ(a->sink->stats().ingest_items + b.sink->stats().ingest_items, 2U * k_total)
        << "doc: and list: per event, republished once between the two writers";
    a.reset();
  }
  drop_slot("crrelay");
}

}  // namespace
}  // namespace rtcache::gateway
