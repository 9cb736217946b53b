// Cluster nodes behind real gateways (issue 13, "serve runs a cluster node"), against a real nats-server: messages
// the stream holds in the writer's format reach WebSocket clients on every node at the same positions, a client's
// position from one node resumes on another with exactly what it missed, joins and /readyz wait for the node to
// catch up with the stream (after its start and after NATS came back), and relay ingest goes to the ingest stream
// (answered once acknowledged there, 503 when it cannot be). Waiting is on
// conditions (what a client reads, the applier's last applied sequence), never on time.
#include "gateway/cluster_node.hpp"

#include "auth/auth.hpp"
#include "cluster/publisher.hpp"
#include "cluster/range_fetch.hpp"
#include "cluster/relay_writer.hpp"
#include "cluster/stream.hpp"
#include "cluster/subject.hpp"
#include "cluster/test_nats_server.hpp"
#include "cluster/test_stream_writer.hpp"
#include "cluster/wire.hpp"
#include "gateway/gateway.hpp"
#include "gateway/log.hpp"
#include "gateway_client.hpp"
#include "gateway_fixture.hpp"
#include "hub/hub.hpp"
#include "ingest/hub_sink.hpp"
#include "ingest/relay.hpp"
#include "rtcache/core/event_codec.hpp"

#include <boost/beast/http/verb.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace rtcache::gateway {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
namespace http = boost::beast::http;
using core::factory_scope;
using testing::http_call;
using testing::ws_client;

// The gateway tests' wait, with room for a cluster node's catch-ups and reconnects.
bool wait_for(const std::function<bool()>& cond, std::chrono::steady_clock::duration bound = 20s) {
  return testing::gateway_fixture::wait_for(cond, bound);
}

// One node: a hub, the cluster node applying the stream to it, and a gateway serving it on an ephemeral port.
struct node {
  logger log{log_level::off};
  auth::jwt_verifier verifier =
      auth::jwt_verifier::create({auth::verification_key::hs256(testing::k_test_secret).value()}).value();
  hub::hub h{hub::hub_config{}, ingest::make_broadcast_encoder()};
  std::unique_ptr<cluster_node> cluster;
  boost::asio::io_context ioc;
  std::optional<gateway> gw;
  std::vector<std::thread> threads;
  std::uint16_t port = 0;

  node(const std::string& id, const std::string& url, const cluster::stream_settings& stream,
       const std::function<void(cluster_node_settings&)>& adjust = {}) {
    cluster_node_settings s;
    s.nats = cluster::test::test_settings(url);
    s.nats.name = id;
    s.stream = stream;
    s.node_id = id;
    s.secret = cluster::test::test_secret();
    s.idle_poll = 20ms;
    if (adjust) adjust(s);
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
  }
  ~node() {
    gw->stop();
    wait_for([&] { return gw->sessions() == 0; }, 10s);
    ioc.stop();
    for (auto& t : threads) t.join();
    gw.reset();
    cluster.reset();
  }

  testing::http_answer readyz() const { return http_call(port, http::verb::get, "/readyz"); }
  bool ready() const { return readyz().status == 200; }
  std::unique_ptr<ws_client> client(const std::vector<std::string>& factories) const {
    auto c = std::make_unique<ws_client>(port, ws_client::url(testing::token_for("authenticated", factories)));
    if (!c->connected) throw std::runtime_error("no WebSocket");
    return c;
  }
};

json::value join(ws_client& c, std::string_view topic, std::string_view ref = "1",
                 std::string_view payload = R"({"config":{}})") {
  SCOPED_TRACE("join " + std::string(topic) + " ref " + std::string(ref) + " " + std::string(payload));
  c.send(testing::v1_join(topic, ref, payload));
  return c.read_until([&](const json::value& v) { return testing::is_reply(v, ref); });
}

// The position a join reply names; a reply naming none fails the test.
json::value position_of(const json::value& reply) {
  json::value position = testing::position_of(reply);
  if (position.is_null()) ADD_FAILURE() << "no position in " << json::serialize(reply);
  return position;
}

using testing::resume_payload;

// "offset:version" of a delivered invalidate (a contract event of wo 1 whose version says which message it is).
std::string delivered(const json::value& m) {
  const auto* p = m.at("payload").as_object().if_contains("payload");
  if (p == nullptr || !p->is_object() || !p->as_object().contains("offset") || !p->as_object().contains("version")) {
    return "unexpected frame " + json::serialize(m);
  }
  return json::serialize(p->at("offset")) + ":" + json::serialize(p->at("version"));
}

// A contract event of wo 1 in `factory`, told apart by its version.
std::string wo1(std::string_view factory, int version) {
  return R"({"type":"wo","id":"1","factoryId":")" + std::string(factory) + R"(","action":"update","version":)" +
         std::to_string(version) + "}";
}

// One stream, its writer model, and a publisher, on the shared nats-server or a private one.
struct stream_fixture {
  explicit stream_fixture(std::string url_) : url(std::move(url_)) {}
  std::string url;
  std::unique_ptr<cluster::connection> conn = cluster::test::connect_or_die(url);
  cluster::stream_settings st = make_stream();
  cluster::test::stream_writer w{st.name};
  std::unique_ptr<cluster::publisher> pub = cluster::publisher::create(*conn).value();

  ~stream_fixture() {
    if (!conn) return;
    (void)cluster::delete_stream(*conn, st.name);
    (void)cluster::delete_stream(*conn, cluster::ingest_stream_name(st.name));  // the nodes ensured it
  }

  cluster::stream_settings make_stream() {
    cluster::stream_settings s = cluster::test::test_stream("node");
    if (auto r = cluster::ensure_stream(*conn, s); !r) throw std::runtime_error(r.error().message);
    return s;
  }
  std::string identity() const { return cluster::get_stream_state(*conn, st.name).value().identity.to_string(); }

  void publish(const std::vector<cluster::stream_message>& ms) {
    std::uint64_t last = 0;
    for (const auto& m : ms) {
      const auto id = m.header_value(cluster::msg_id_header);
      last = pub->publish({m.subject, id ? *id : std::string_view{}, m.headers, m.data}).value();
    }
    ASSERT_TRUE(pub->wait_acked(last, 10s));
  }
  cluster::stream_message f1(int n) { return w.channel("doc:wo:1", "F1", wo1("F1", n), true); }
  cluster::stream_message f2(int n) { return w.channel("doc:wo:1", "F2", wo1("F2", n), true); }
  std::uint64_t last() const { return w.next_seq() - 1; }
  static bool applied(const node& n, std::uint64_t through) {
    return wait_for([&] { return n.cluster->applier().last_applied() >= through; });
  }
};

TEST(ClusterNode, StreamMessagesReachAClientOnEachNodeAtTheSamePositions) {
  stream_fixture f(cluster::test::shared_server().url());
  node a("a", f.url, f.st);
  node b("b", f.url, f.st);
  ASSERT_TRUE(wait_for([&] { return a.ready() && b.ready(); }));
  auto on_a = a.client({"F1"});
  auto on_b = b.client({"F1"});
  const auto joined_a = position_of(join(*on_a, "realtime:doc:wo:1"));
  const auto joined_b = position_of(join(*on_b, "realtime:doc:wo:1"));
  EXPECT_EQ(joined_a, joined_b) << "an empty channel's position is the stream's, not the process's";
  f.publish({f.f1(1), f.f2(2), f.f1(3)});
  for (auto* c : {on_a.get(), on_b.get()}) {
    EXPECT_EQ(delivered(c->read_json()), "1:1");
    EXPECT_EQ(delivered(c->read_json()), "2:3") << "F2's message is not F1's view's";
  }
  // A later join on either node names the same position, the one the pure scheme gives.
  ASSERT_TRUE(stream_fixture::applied(a, f.last()) && stream_fixture::applied(b, f.last()));
  auto late_a = a.client({"F1"});
  auto late_b = b.client({"F1"});
  const auto pa = position_of(join(*late_a, "realtime:doc:wo:1", "2"));
  const auto pb = position_of(join(*late_b, "realtime:doc:wo:1", "2"));
  EXPECT_EQ(pa, pb);
  const auto expected = f.w.expected(f.identity(), "doc:wo:1", factory_scope::of({"F1"}));
  EXPECT_EQ(pa.at("epoch"), json::value(expected.epoch));
  EXPECT_EQ(pa.at("offset"), json::value(expected.offset));
  EXPECT_EQ(pa.at("offset"), 2);
}

TEST(ClusterNode, APositionFromOneNodeResumesOnTheOtherWithExactlyTheMissedMessages) {
  stream_fixture f(cluster::test::shared_server().url());
  node a("a", f.url, f.st);
  node b("b", f.url, f.st);
  ASSERT_TRUE(wait_for([&] { return a.ready() && b.ready(); }));
  auto keeper = b.client({"F1"});  // B holds the view (and its history) while the client is on A
  join(*keeper, "realtime:doc:wo:1");
  json::value position;
  {
    auto c = a.client({"F1"});
    join(*c, "realtime:doc:wo:1");
    f.publish({f.f1(1)});
    EXPECT_EQ(delivered(c->read_json()), "1:1");
    ASSERT_TRUE(stream_fixture::applied(a, f.last()));
    auto probe = a.client({"F1"});
    position = position_of(join(*probe, "realtime:doc:wo:1", "9"));  // what the client holds now
    c->close();
  }
  // Node A goes away for the client; it misses two of its messages (and one of F2's) and resumes on B.
  f.publish({f.f1(2), f.f2(3), f.f1(4)});
  ASSERT_TRUE(stream_fixture::applied(b, f.last()));
  auto c = b.client({"F1"});
  const auto reply = join(*c, "realtime:doc:wo:1", "5", resume_payload(position));
  ASSERT_EQ(reply.at("payload").at("status"), "ok") << json::serialize(reply);
  const auto resumed = position_of(reply);
  EXPECT_EQ(resumed.at("recovered"), true) << json::serialize(reply);
  EXPECT_EQ(resumed.at("epoch"), position.at("epoch"));
  EXPECT_EQ(resumed.at("offset"), 3);
  EXPECT_EQ(delivered(c->read_json()), "2:2");
  EXPECT_EQ(delivered(c->read_json()), "3:4");
  f.publish({f.f1(5)});
  EXPECT_EQ(delivered(c->read_json()), "4:5") << "exactly what it missed, then live";
}

// docs/cluster.md (h), exact resume by range fetch: node B never held the client's view (no client of it was ever on
// B), so its hub has no history of it; the join reads the view's partition from the stream and answers recovered:true
// with exactly the missed messages of the client's factory (none of F2's), then the live ones, and counts it.
TEST(ClusterNode, APositionFromANodeResumesOnANodeThatNeverHeldTheViewByRangeFetch) {
  stream_fixture f(cluster::test::shared_server().url());
  node a("a", f.url, f.st);
  node b("b", f.url, f.st);
  ASSERT_TRUE(wait_for([&] { return a.ready() && b.ready(); }));
  json::value position;
  {
    auto c = a.client({"F1"});
    join(*c, "realtime:doc:wo:1");
    f.publish({f.f1(1), f.f2(2)});
    EXPECT_EQ(delivered(c->read_json()), "1:1");
    ASSERT_TRUE(stream_fixture::applied(a, f.last()));
    auto probe = a.client({"F1"});
    position = position_of(join(*probe, "realtime:doc:wo:1", "9"));  // what the client holds now
    c->close();
  }
  f.publish({f.f1(3), f.f2(4), f.f1(5), f.f2(6)});
  ASSERT_TRUE(stream_fixture::applied(b, f.last()));
  ASSERT_FALSE(b.h.position("doc:wo:1", factory_scope::of({"F1"}))) << "B never held the view";
  auto c = b.client({"F1"});
  const auto reply = join(*c, "realtime:doc:wo:1", "5", resume_payload(position));
  ASSERT_EQ(reply.at("payload").at("status"), "ok") << json::serialize(reply);
  const auto resumed = position_of(reply);
  EXPECT_EQ(resumed.at("recovered"), true) << json::serialize(reply);
  EXPECT_EQ(resumed.at("epoch"), position.at("epoch"));
  EXPECT_EQ(resumed.at("offset"), 3);
  EXPECT_EQ(delivered(c->read_json()), "2:3");
  EXPECT_EQ(delivered(c->read_json()), "3:5");
  f.publish({f.f2(7), f.f1(8)});
  EXPECT_EQ(delivered(c->read_json()), "4:8") << "exactly what it missed, then live";
  const cluster_status s = b.cluster->status();
  EXPECT_EQ(s.resume_fetches, 1u);
  EXPECT_EQ(s.resume_recovered, 1u);
  EXPECT_EQ(s.resume_too_many + s.resume_failed, 0u);
}

TEST(ClusterNode, ANodeStartedLateAdmitsItsFirstJoinOnlyOnceCaughtUp) {
  stream_fixture f(cluster::test::shared_server().url());
  std::vector<cluster::stream_message> backlog;
  for (int i = 1; i <= 2000; ++i) backlog.push_back(f.f1(i));
  f.publish(backlog);
  const auto expected = f.w.expected(f.identity(), "doc:wo:1", factory_scope::of({"F1"}));
  node b("b", f.url, f.st);
  // Join until admitted: every refusal says why, and the admitted join is at the position of the whole stream.
  int refused = 0;
  json::value reply;
  ASSERT_TRUE(wait_for([&] {
    auto c = b.client({"F1"});
    reply = join(*c, "realtime:doc:wo:1");
    if (reply.at("payload").at("status") == "ok") return true;
    const std::string reason(reply.at("payload").at("response").at("reason").as_string());
    EXPECT_EQ(reason.rfind("NodeNotReady: catching up with stream " + f.st.name, 0), 0U) << reason;
    ++refused;
    return false;
  }));
  EXPECT_EQ(position_of(reply).at("offset"), json::value(expected.offset)) << "after " << refused << " refusals";
  EXPECT_EQ(position_of(reply).at("epoch"), json::value(expected.epoch));
  EXPECT_EQ(b.readyz().status, 200U);
  EXPECT_EQ(b.readyz().body, R"({"status":"ready"})");
}

TEST(ClusterNode, ANodeCutFromNatsIsNotReadyAndRefusesJoinsUntilItCaughtUpAgain) {
  cluster::test::nats_server server;
  std::optional<stream_fixture> f;
  f.emplace(server.url());
  node n("a", server.url(), f->st);
  ASSERT_TRUE(wait_for([&] { return n.ready(); }));
  f->publish({f->f1(1)});
  ASSERT_TRUE(stream_fixture::applied(n, f->last()));
  f->pub.reset();
  f->conn.reset();  // the fixture's own connection would not outlive the restart cleanly either
  server.kill9();
  ASSERT_TRUE(wait_for([&] { return n.readyz().status == 503; }));
  EXPECT_EQ(n.readyz().body, R"x({"status":"not_ready","reason":"cut from NATS (reconnecting)"})x");
  auto c = n.client({"F1"});
  const auto refused = join(*c, "realtime:doc:wo:1");
  EXPECT_EQ(refused.at("payload").at("status"), "error");
  EXPECT_EQ(refused.at("payload").at("response").at("reason"), "NodeNotReady: cut from NATS (reconnecting)");
  server.start();
  f->conn = cluster::test::connect_or_die(server.url());
  f->pub = cluster::publisher::create(*f->conn).value();
  ASSERT_TRUE(wait_for([&] { return n.ready(); }));
  f->publish({f->f1(2)});
  const auto admitted = join(*c, "realtime:doc:wo:1", "2");
  ASSERT_EQ(admitted.at("payload").at("status"), "ok") << json::serialize(admitted);
  ASSERT_TRUE(stream_fixture::applied(n, f->last()));
  const auto expected = f->w.expected(f->identity(), "doc:wo:1", factory_scope::of({"F1"}));
  auto probe = n.client({"F1"});
  EXPECT_EQ(position_of(join(*probe, "realtime:doc:wo:1")).at("offset"), json::value(expected.offset));
}

// The value of an unlabelled sample `name` in a /metrics body; nullopt when absent.
std::optional<double> metric(const std::string& body, const std::string& name) {
  const std::string prefix = "\n" + name + " ";
  const auto at = body.find(prefix);
  if (at == std::string::npos) return std::nullopt;
  return std::stod(body.substr(at + prefix.size()));
}

// issue 13, "Metrics": a cluster node's /metrics (the provider main() installs) shows it ready with no lag, and its
// applier's counters move as the stream's messages are applied.
// [cluster] max_channels bounds the node's position book: a node holding one channel forgets doc:wo:1 when doc:wo:2
// comes, looks it up at its next message, and gives a client the position a node that kept it gives.
TEST(ClusterNode, ItsPositionBookHoldsMaxChannelsAndLooksUpWhatItForgot) {
  stream_fixture f(cluster::test::shared_server().url());
  node small("small", f.url, f.st, [](cluster_node_settings& s) { s.max_channels = 1; });
  node big("big", f.url, f.st);
  ASSERT_TRUE(wait_for([&] { return small.ready() && big.ready(); }));
  f.publish({f.f1(1), f.w.channel("doc:wo:2", "F1", "{}"), f.f2(2)});
  ASSERT_TRUE(stream_fixture::applied(small, f.last()) && stream_fixture::applied(big, f.last()));
  EXPECT_EQ(small.cluster->applier().stats().forgotten_lookups, 1u) << "doc:wo:1 was forgotten, then looked up";
  EXPECT_EQ(big.cluster->applier().stats().forgotten_lookups, 0u);
  auto on_small = small.client({"F1", "F2"});
  auto on_big = big.client({"F1", "F2"});
  const auto p_small = position_of(join(*on_small, "realtime:doc:wo:1"));
  EXPECT_EQ(p_small, position_of(join(*on_big, "realtime:doc:wo:1")));
  EXPECT_EQ(p_small.at("offset"), 2) << "F1's message counts although the book forgot it";
}

TEST(ClusterNode, MetricsShowTheNodeCaughtUpAndCountWhatItApplied) {
  stream_fixture f(cluster::test::shared_server().url());
  node n("m", f.url, f.st);
  const auto scrape = [&] { return http_call(n.port, http::verb::get, "/metrics").body; };
  EXPECT_FALSE(metric(scrape(), "rtcache_cluster_ready")) << "no provider: a single node's exposition";
  n.gw->set_cluster_status_provider([c = n.cluster.get()] { return c->status(); });
  ASSERT_TRUE(wait_for([&] { return metric(scrape(), "rtcache_cluster_ready") == 1.0; }));
  std::string body = scrape();
  EXPECT_EQ(metric(body, "rtcache_cluster_connected"), 1.0);
  EXPECT_EQ(metric(body, "rtcache_cluster_applied_total"), 0.0);
  EXPECT_EQ(metric(body, "rtcache_cluster_lag_seconds"), 0.0);
  EXPECT_GE(metric(body, "rtcache_cluster_catch_ups_total").value_or(0), 1.0);
  EXPECT_GE(metric(body, "rtcache_cluster_catch_up_seconds").value_or(-1), 0.0);

  f.publish({f.f1(1), f.f2(2), f.f1(3)});
  ASSERT_TRUE(stream_fixture::applied(n, f.last()));
  body = scrape();
  EXPECT_EQ(metric(body, "rtcache_cluster_last_applied_sequence"), static_cast<double>(f.last()));
  EXPECT_EQ(metric(body, "rtcache_cluster_lag_messages"), 0.0);
  EXPECT_EQ(metric(body, "rtcache_cluster_applied_total"), static_cast<double>(f.last()));
  EXPECT_EQ(metric(body, "rtcache_cluster_published_total"), 3.0);
  EXPECT_EQ(metric(body, "rtcache_cluster_refused_total"), 0.0);
  EXPECT_EQ(metric(body, "rtcache_cluster_replays_dropped_total"), 0.0);
  EXPECT_EQ(metric(body, "rtcache_cluster_ready"), 1.0);
  // Each message's time from JetStream storing it to the node applying it: one observation per message taken.
  EXPECT_EQ(metric(body, "rtcache_cluster_stored_to_applied_seconds_count"), static_cast<double>(f.last()));
  EXPECT_GE(metric(body, "rtcache_cluster_stored_to_applied_seconds_sum").value_or(-1), 0.0);
  EXPECT_FALSE(metric(body, "rtcache_cluster_writer_messages_total"))
      << "the writer's counters are serve's to add (its reader_sink or relay_writer)";
}

// ---- relay ingest (issue 13: "Relay ingest on any node goes through the stream too") ----

// The ingest batches the stream's ingest stream holds, in order, decoded (a body that is not an ingest batch fails).
std::vector<cluster::ingest_batch> ingested(const stream_fixture& f) {
  cluster::range_request r;
  r.stream = cluster::ingest_stream_name(f.st.name);
  r.subject = cluster::subjects{f.st.name}.ingest_filter();
  auto messages = cluster::fetch_range(*f.conn, r, cluster::fetch_method::consumer);
  if (!messages) {
    ADD_FAILURE() << messages.error().message;
    return {};
  }
  std::vector<cluster::ingest_batch> out;
  for (const auto& m : *messages) {
    auto body = cluster::decode_body(m.data);
    if (!body || !std::holds_alternative<cluster::ingest_batch>(*body)) {
      ADD_FAILURE() << "not an ingest batch at " << m.seq;
      continue;
    }
    out.push_back(std::get<cluster::ingest_batch>(*body));
  }
  return out;
}

// Nothing was published into the node's hub (on a cluster node only its applier publishes there, from the stream).
::testing::AssertionResult hub_untouched(const node& n) {
  const auto m = n.h.metrics();
  if (m.messages_published + m.messages_dropped == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << m.messages_published << " messages reached the node's hub directly";
}

// What a single node answers the same request with (its relay publishing into a hub of its own).
std::string single_node_events_answer(std::string_view body) {
  hub::hub h{hub::hub_config{}, ingest::make_broadcast_encoder()};
  ingest::relay r(h, core::doc_type_registry::defaults());
  return r.publish_events(body).value().to_json();
}

cluster::channel_message item(std::string channel, std::string event, std::string payload, std::string factory,
                              bool contract = false) {
  cluster::channel_message m;
  m.channel = std::move(channel);
  m.event = std::move(event);
  m.payload = std::move(payload);
  m.factory = std::move(factory);
  m.contract = contract;
  return m;
}

// The canonical JSON of a contract event as core encodes it (without offset): what the writer publishes for a row.
std::string canonical(std::string_view event_json) {
  core::event_decoder decoder(core::doc_type_registry::defaults(), {});
  return core::encode(decoder.decode(event_json).value());
}

const std::vector<std::pair<std::string, std::string>> k_service_auth = {
    {"Authorization", "Bearer " + testing::service_token()}};

// The ingest stream's item of a relay message: a contract event's canonical JSON without offset (the writer's form
// of a row), the origin only for a client broadcast, everything else as the relay gave it.
TEST(ClusterNode, IngestItemsCarryWhatTheAppliersNeed) {
  core::event_decoder decoder(core::doc_type_registry::defaults(), {});
  const core::event e = decoder.decode(wo1("F1", 3)).value();
  EXPECT_EQ(ingest_item(ingest::relay_message{"doc:wo:1", "invalidate", {}, "F1", false, &e, 0}, "a"),
            item("doc:wo:1", "invalidate", core::encode(e), "F1", true));
  const std::string hub_channel = ingest::private_hub_channel("room");
  cluster::channel_message sent = item(hub_channel, "e", "\x01raw", "");
  sent.raw = true;
  sent.origin_node = "a";
  sent.origin_conn = 42;
  EXPECT_EQ(ingest_item(ingest::relay_message{hub_channel, "e", "\x01raw", "", true, nullptr, 42}, "a"), sent);
}

// One ingest message per request, unless its items pass what one ingest batch may hold (the writer's decoder refuses
// more than wire_limits::max_items) or the byte bound: then consecutive runs, in order, each within both.
TEST(ClusterNode, ARequestTooLargeForOneIngestMessageGoesAsSeveralInOrder) {
  const auto decoded = [](const std::vector<std::string>& bodies) {
    std::vector<std::vector<cluster::channel_message>> out;
    for (const auto& b : bodies) out.push_back(std::get<cluster::ingest_batch>(cluster::decode_body(b).value()).items);
    return out;
  };
  std::vector<cluster::channel_message> many;
  for (int i = 0; i < 2500; ++i) many.push_back(item("room", "e", std::to_string(i), ""));
  const auto runs = decoded(ingest_bodies(many, k_max_ingest_body_bytes));
  ASSERT_EQ(runs.size(), 3U);
  EXPECT_EQ(runs[0].size(), 1000U);
  EXPECT_EQ(runs[1].size(), 1000U);
  EXPECT_EQ(runs[2].size(), 500U);
  EXPECT_EQ(runs[1].front().payload, "1000");
  EXPECT_EQ(runs[2].back().payload, "2499");
  const std::vector<cluster::channel_message> big = {
      item("r", "e", std::string(400, 'a'), ""), item("r", "e", std::string(400, 'b'), ""),
      item("r", "e", std::string(1200, 'c'), ""), item("r", "e", std::string(10, 'd'), "")};
  const auto by_bytes = decoded(ingest_bodies(big, 1000));
  ASSERT_EQ(by_bytes.size(), 3U);
  EXPECT_EQ(by_bytes[0], (std::vector<cluster::channel_message>{big[0], big[1]}));
  EXPECT_EQ(by_bytes[1], (std::vector<cluster::channel_message>{big[2]})) << "an item over the bound goes alone";
  EXPECT_EQ(by_bytes[2], (std::vector<cluster::channel_message>{big[3]}));
  EXPECT_EQ(decoded(ingest_bodies({big[3]}, k_max_ingest_body_bytes)).size(), 1U);
}

// A POST /v1/events on a cluster node is one ingest batch in the ingest stream (each good event once per channel of
// its route, as the writer publishes a row), answered 202 with a single node's JSON only once it is there; nothing
// goes into the node's hub. Republished into the stream as the writer does, it reaches the node's client.
TEST(ClusterNode, RelayEventsGoToTheIngestStreamAndAreAnsweredOnceAcknowledged) {
  stream_fixture f(cluster::test::shared_server().url());
  node n("a", f.url, f.st);
  ASSERT_TRUE(wait_for([&] { return n.ready(); }));
  auto c = n.client({"F1"});
  join(*c, "realtime:doc:wo:1");
  const std::string body = "[" + wo1("F1", 3) + R"(,{"type":"wo","id":"2","factoryId":"F1","action":"nope"}])";
  const auto answer = http_call(n.port, http::verb::post, "/v1/events", body, k_service_auth);
  ASSERT_EQ(answer.status, 202U) << answer.body;
  EXPECT_EQ(answer.body, single_node_events_answer(body));
  const auto batches = ingested(f);  // right after the answer: acknowledged before it
  ASSERT_EQ(batches.size(), 1U);
  const std::string payload = canonical(wo1("F1", 3));
  EXPECT_EQ(batches[0].items,
            (std::vector<cluster::channel_message>{item("doc:wo:1", "invalidate", payload, "F1", true),
                                                   item("list:wo:F1", "invalidate", payload, "F1", true)}));
  EXPECT_TRUE(hub_untouched(n));
  EXPECT_EQ(n.cluster->status().ingest_published, 1U);
  EXPECT_EQ(n.cluster->status().ingest_failed, 0U);
  // The writer's part, emulated: each item republished into the stream reaches the client at its position.
  const auto& first = batches[0].items[0];
  f.publish({f.w.channel(first.channel, first.factory, first.payload, first.contract)});
  EXPECT_EQ(delivered(c->read_json()), "1:3");
}

// REST broadcasts on a cluster node: public, private (behind its control byte) and contract (with the channel's
// factory) messages are one ingest batch in order, refused ones are not in it, and the answer is a single node's.
TEST(ClusterNode, RestBroadcastsGoToTheIngestStreamWithTheirChannelAndFactory) {
  stream_fixture f(cluster::test::shared_server().url());
  node n("a", f.url, f.st);
  const std::string body = R"({"messages":[{"topic":"room","event":"e","payload":{"a":1}},)"
                           R"({"topic":"realtime:room","event":"p","payload":{"b":2},"private":true},)"
                           R"({"topic":"list:wo:F1","event":"note","payload":{"c":3}},)"
                           R"({"topic":"doc:wo:1","event":"note","payload":{}}]})";
  const auto answer = http_call(n.port, http::verb::post, "/api/broadcast", body, k_service_auth);
  ASSERT_EQ(answer.status, 202U) << answer.body;
  hub::hub single{hub::hub_config{}, ingest::make_broadcast_encoder()};
  ingest::relay r(single, core::doc_type_registry::defaults());
  const auto who =
      auth::jwt_verifier::create({auth::verification_key::hs256(testing::k_test_secret).value()})
          .value()
          .verify(testing::service_token(), std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()))
          .value();
  const auto access = auth::channel_access::create({}).value();
  EXPECT_EQ(answer.body, r.publish_broadcasts(body, who, access).value().to_json());
  EXPECT_NE(answer.body.find(R"("accepted":3)"), std::string::npos) << answer.body;
  const auto batches = ingested(f);
  ASSERT_EQ(batches.size(), 1U);
  EXPECT_EQ(batches[0].items, (std::vector<cluster::channel_message>{
                                  item("room", "e", R"({"a":1})", ""),
                                  item(ingest::private_hub_channel("room"), "p", R"({"b":2})", ""),
                                  item("list:wo:F1", "note", R"({"c":3})", "F1"),
                              }));
  EXPECT_TRUE(hub_untouched(n));
  // Bad input is answered as on a single node, with nothing published.
  const auto bad = http_call(n.port, http::verb::post, "/api/broadcast", R"({"messages":3})", k_service_auth);
  EXPECT_EQ(bad.status, 400U) << bad.body;
  const auto bad_events = http_call(n.port, http::verb::post, "/v1/events", "[", k_service_auth);
  EXPECT_EQ(bad_events.status, 400U) << bad_events.body;
  EXPECT_EQ(ingested(f).size(), 1U);
}

// A client broadcast on a cluster node is replied ok (ack) only once the ingest stream holds it, and carries its
// origin (this node, the sending connection) so that the applier on this node alone leaves the sender out.
TEST(ClusterNode, AClientBroadcastGoesToTheIngestStreamWithItsOrigin) {
  stream_fixture f(cluster::test::shared_server().url());
  node n("a", f.url, f.st);
  ASSERT_TRUE(wait_for([&] { return n.ready(); }));
  ws_client s(n.port, ws_client::url(testing::service_token()));
  const auto joined = join(s, "realtime:doc:wo:1", "1", R"({"config":{"broadcast":{"ack":true}}})");
  ASSERT_EQ(joined.at("payload").at("status"), "ok") << json::serialize(joined);
  s.send(testing::v1_broadcast("realtime:doc:wo:1", "note", R"({"factoryId":"F1"})", "2", "1"));
  const auto reply = s.read_until([](const json::value& v) { return testing::is_reply(v, "2"); });
  EXPECT_EQ(reply.at("payload").at("status"), "ok") << json::serialize(reply);
  const auto batches = ingested(f);
  ASSERT_EQ(batches.size(), 1U);
  ASSERT_EQ(batches[0].items.size(), 1U);
  const auto& sent = batches[0].items[0];
  EXPECT_EQ(sent.channel, "doc:wo:1");
  EXPECT_EQ(sent.event, "note");
  EXPECT_EQ(sent.payload, R"({"factoryId":"F1"})");
  EXPECT_EQ(sent.factory, "F1");
  EXPECT_EQ(sent.origin_node, "a");
  EXPECT_NE(sent.origin_conn, 0U);
  EXPECT_FALSE(sent.raw);
  EXPECT_FALSE(sent.contract);
  EXPECT_TRUE(hub_untouched(n));
}

// The whole path (issue 13: "Relay ingest on any node goes through the stream too, so every node sees every
// message"): relay ingest accepted by node B reaches the clients of both nodes once the stream's writer (here the
// relay-only cluster's lease holder, on node A's connection, as serve runs it without [postgres]) republished it,
// at the same positions; a client broadcast is not echoed to its sender (self:false), which the node that received
// it tells apart by the origin the ingest item carries. A private nats-server: the writer's buckets go with it.
TEST(ClusterNode, RelayIngestOnOneNodeReachesTheClientsOfEveryNodeThroughTheWriter) {
  cluster::test::nats_server server;
  stream_fixture f(server.url());
  node a("a", server.url(), f.st);
  node b("b", server.url(), f.st);
  cluster::relay_writer_settings rs;
  rs.writer.stream = f.st.name;
  rs.writer.publisher = cluster::test::publisher_of(256, 2s, 2s);
  rs.node_id = "a";
  rs.lease_ttl = 600ms;
  rs.idle_poll = 20ms;
  auto writer = cluster::relay_writer::start(a.cluster->connection(), rs);  // goes before the node it writes on
  ASSERT_TRUE(writer) << writer.error().message;
  ASSERT_TRUE(wait_for([&] { return a.ready() && b.ready(); }));
  auto on_a = a.client({"F1"});
  auto on_b = b.client({"F1"});
  join(*on_a, "realtime:doc:wo:1");
  join(*on_b, "realtime:doc:wo:1");
  const auto answer = http_call(b.port, http::verb::post, "/v1/events", wo1("F1", 3), k_service_auth);
  ASSERT_EQ(answer.status, 202U) << answer.body;
  EXPECT_EQ(delivered(on_a->read_json()), "1:3");
  EXPECT_EQ(delivered(on_b->read_json()), "1:3");

  ws_client sender(b.port, ws_client::url(testing::service_token()));
  ws_client receiver(a.port, ws_client::url(testing::service_token()));
  ASSERT_EQ(join(sender, "realtime:room").at("payload").at("status"), "ok");
  ASSERT_EQ(join(receiver, "realtime:room").at("payload").at("status"), "ok");
  sender.send(testing::v1_broadcast("realtime:room", "note", R"({"n":1})", "2", "1"));
  const auto got = receiver.read_until([](const json::value& v) { return v.at("event") == "broadcast"; });
  EXPECT_EQ(got.at("payload").at("payload"), json::parse(R"({"n":1})")) << json::serialize(got);
  // Then a REST broadcast on the same topic: the sender's next broadcast frame is that one, never its own.
  ASSERT_EQ(http_call(b.port, http::verb::post, "/api/broadcast",
                      R"({"messages":[{"topic":"room","event":"rest","payload":{"n":2}}]})", k_service_auth)
                .status,
            202U);
  const auto next = sender.read_until([](const json::value& v) { return v.at("event") == "broadcast"; });
  EXPECT_EQ(next.at("payload").at("event"), "rest") << json::serialize(next);
  EXPECT_EQ(
      receiver.read_until([](const json::value& v) { return v.at("event") == "broadcast"; }).at("payload").at("event"),
      "rest");
}

// Cut from NATS, a cluster node accepts no relay ingest: POSTs are answered 503 with the reason (bad input still
// 400), a client broadcast's reply is an error, nothing is counted accepted; once NATS is back, ingest is served again.
TEST(ClusterNode, RelayIngestCutFromNatsIsAnswered503AndServedAgainOnceBack) {
  cluster::test::nats_server server;
  std::optional<stream_fixture> f;
  f.emplace(server.url());
  node n("a", server.url(), f->st);
  ASSERT_TRUE(wait_for([&] { return n.ready(); }));
  ws_client s(n.port, ws_client::url(testing::service_token()));
  ASSERT_EQ(join(s, "realtime:doc:wo:1").at("payload").at("status"), "ok");
  f->pub.reset();
  f->conn.reset();
  server.kill9();
  ASSERT_TRUE(wait_for([&] { return n.readyz().status == 503; }));
  const auto events = http_call(n.port, http::verb::post, "/v1/events", wo1("F1", 1), k_service_auth);
  EXPECT_EQ(events.status, 503U);
  EXPECT_NE(events.body.find("relay ingest not accepted: cut from NATS (reconnecting)"), std::string::npos)
      << events.body;
  const auto rest = http_call(n.port, http::verb::post, "/api/broadcast",
                              R"({"messages":[{"topic":"room","event":"e","payload":{}}]})", k_service_auth);
  EXPECT_EQ(rest.status, 503U) << rest.body;
  EXPECT_EQ(http_call(n.port, http::verb::post, "/v1/events", "[", k_service_auth).status, 400U);
  s.send(testing::v1_broadcast("realtime:doc:wo:1", "note", R"({"factoryId":"F1"})", "2", "1"));
  const auto reply = s.read_until([](const json::value& v) { return testing::is_reply(v, "2"); });
  EXPECT_EQ(reply.at("payload").at("status"), "error");
  EXPECT_NE(json::serialize(reply).find("relay ingest not accepted"), std::string::npos) << json::serialize(reply);
  EXPECT_EQ(n.gw->metrics().events_accepted_total.Value(), 0.0);
  EXPECT_EQ(n.cluster->status().ingest_failed, 3U);
  EXPECT_EQ(n.cluster->status().ingest_published, 0U);
  EXPECT_TRUE(hub_untouched(n));

  server.start();
  f->conn = cluster::test::connect_or_die(server.url());
  f->pub = cluster::publisher::create(*f->conn).value();
  ASSERT_TRUE(wait_for([&] { return n.ready(); }));
  const auto again = http_call(n.port, http::verb::post, "/v1/events", wo1("F1", 2), k_service_auth);
  EXPECT_EQ(again.status, 202U) << again.body;
  const auto batches = ingested(*f);
  ASSERT_EQ(batches.size(), 1U) << "only what was acknowledged";
  EXPECT_EQ(batches[0].items.at(0).payload, canonical(wo1("F1", 2)));
}

// A nats-server that answers nothing (stopped): the publish is not acknowledged within the node's bound, the POST is
// answered 503 saying so, and once the server answers again a POST is served.
TEST(ClusterNode, RelayIngestNotAcknowledgedInTimeIsAnswered503) {
  cluster::test::nats_server server;
  stream_fixture f(server.url());
  node n("a", server.url(), f.st);
  ASSERT_TRUE(wait_for([&] { return n.ready(); }));
  server.pause();
  const auto events = http_call(n.port, http::verb::post, "/v1/events", wo1("F1", 1), k_service_auth);
  server.resume();
  EXPECT_EQ(events.status, 503U);
  EXPECT_NE(events.body.find("relay ingest not accepted"), std::string::npos) << events.body;
  EXPECT_EQ(n.cluster->status().ingest_failed, 1U);
  ASSERT_TRUE(wait_for(
      [&] { return http_call(n.port, http::verb::post, "/v1/events", wo1("F1", 2), k_service_auth).status == 202U; }));
  EXPECT_GE(n.cluster->status().ingest_published, 1U);
}

// The node's bound of calls that may wait on NATS ([cluster] max_blocking_calls): with room for one, a relay POST that
// waits for a frozen server's acknowledgement fills it, and a second POST meanwhile is answered 503 busy at once,
// with nothing published; both are counted (rtcache_cluster_blocking_calls, _refused_total). Once the first call
// ends the bound has room again.
TEST(ClusterNode, CallsBeyondMaxBlockingCallsAreRefusedBusyAndCounted) {
  cluster::test::nats_server server;
  stream_fixture f(server.url());
  node n("a", server.url(), f.st, [](cluster_node_settings& s) {
    s.blocking_threads = 1;
    s.max_blocking_calls = 1;
  });
  ASSERT_TRUE(wait_for([&] { return n.ready(); }));
  EXPECT_EQ(n.cluster->status().blocking_calls, 0U);
  server.pause();
  testing::http_answer first;
  std::thread waiting([&] { first = http_call(n.port, http::verb::post, "/v1/events", wo1("F1", 1), k_service_auth); });
  ASSERT_TRUE(wait_for([&] { return n.cluster->status().blocking_calls == 1U; }));
  const auto second = http_call(n.port, http::verb::post, "/v1/events", wo1("F1", 2), k_service_auth);
  EXPECT_EQ(second.status, 503U);
  EXPECT_NE(second.body.find("relay ingest not accepted: busy"), std::string::npos) << second.body;
  EXPECT_EQ(n.cluster->status().blocking_refused, 1U);
  waiting.join();  // the server stays frozen until the first call gave up
  server.resume();
  EXPECT_EQ(first.status, 503U) << "not acknowledged within the node's ingest_timeout: " << first.body;
  EXPECT_EQ(n.cluster->status().ingest_failed, 1U) << "only the first was published";
  ASSERT_TRUE(wait_for([&] { return n.cluster->status().blocking_calls == 0U; }));
  ASSERT_TRUE(wait_for(
      [&] { return http_call(n.port, http::verb::post, "/v1/events", wo1("F1", 3), k_service_auth).status == 202U; }));
  EXPECT_EQ(n.cluster->status().blocking_refused, 1U);
}

}  // namespace
}  // namespace rtcache::gateway
