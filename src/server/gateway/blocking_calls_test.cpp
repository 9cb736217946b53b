// A serving node whose joins with a resume position and relay ingest may wait on the network (a cluster node's
// exact resume by range fetch, its wait for JetStream) is called off the gateway's io threads
// (serving_node::run_blocking, websocket_session.cpp): a connection waiting on the node stalls no other connection,
// what its client sent after the call is answered after the call's answer, a node with no room refuses as busy, and a
// connection that closes meanwhile leaves nothing behind. The node here waits at a gate the test opens; the gateway
// runs on one io thread, so a call made on it would stall every connection.
#include "gateway/blocking_pool.hpp"
#include "gateway/gateway.hpp"
#include "gateway/serving_node.hpp"
#include "gateway_fixture.hpp"

#include <boost/json.hpp>

#include <condition_variable>
#include <future>
#include <mutex>
#include <string>

namespace rtcache::gateway {
namespace {

namespace json = boost::json;
using testing::is_reply;
using testing::service_token;
using testing::token_for;
using testing::ws_client;

// The hub's node, but its blocking calls (joins with a resume position, relay ingest) wait at a gate.
class gated_node final : public serving_node {
 public:
  gated_node(hub::hub& h, std::size_t max_calls) : hub_(h), pool_(2, max_calls) {}

  std::optional<std::string> not_ready() const override { return std::nullopt; }
  core::result<hub::hub_join> join(std::string_view channel, const core::factory_scope& view,
                                   std::shared_ptr<hub::hub_subscriber> subscriber,
                                   const std::optional<hub::hub_position>& resume) override {
    if (resume) pass();
    return hub_.subscribe_view(channel, view, std::move(subscriber), resume);
  }
  core::result<void> ingest(const std::function<void(ingest::relay_target&)>& fill) override {
    pass();
    ingest::hub_target to(hub_);
    fill(to);
    return {};
  }
  bool join_may_block(const std::optional<hub::hub_position>& resume) const override { return resume.has_value(); }
  bool ingest_may_block() const override { return true; }
  bool run_blocking(std::function<void()> work) override { return pool_.try_run(std::move(work)); }

  // Lets every call at the gate, and every later one, through.
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Waits until `n` calls reached the gate (bounded by the fixture's wait).
  bool reached(int n) {
    return testing::gateway_fixture::wait_for([&] {
      std::lock_guard lock(mu_);
      return reached_ >= n;
    });
  }
  void stop() {
    open();
    pool_.stop();
  }

 private:
  void pass() {
    std::unique_lock lock(mu_);
    ++reached_;
    cv_.wait(lock, [&] { return open_; });
  }

  hub::hub& hub_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int reached_ = 0;
  blocking_pool pool_;
};

class BlockingCalls : public testing::gateway_fixture {
 protected:
  ~BlockingCalls() override {
    if (node_) gated().stop();  // its threads end before the io_context does (they post to it)
  }
  void start_gated(std::size_t max_calls = 16, gateway_config cfg = {}) {
    node_ = std::make_unique<gated_node>(hub_, max_calls);
    io_threads_ = 1;
    start(std::move(cfg));
  }
  gated_node& gated() { return static_cast<gated_node&>(*node_); }

  // A join of `topic` resuming from a position (any: the hub answers recovered:false for an unknown epoch).
  static std::string resuming_join(std::string_view topic, std::string_view ref) {
    return testing::v1_join(topic, ref, R"({"config":{},"rtcache":{"epoch":"e0","offset":0}})");
  }
  static std::string heartbeat(std::string_view ref) {
    return R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":")" + std::string(ref) + R"("})";
  }
  // A heartbeat's round trip on a connection of its own: the io thread is free.
  void another_connection_is_answered() {
    ws_client other(port_, ws_client::url(token_for("anon")));
    ASSERT_TRUE(other.connected);
    other.send(heartbeat("hb"));
    const auto reply = other.read();
    ASSERT_TRUE(reply.has_value()) << "another connection got no answer while a call waited on the node";
    EXPECT_TRUE(is_reply(json::parse(*reply), "hb"));
  }
};

TEST_F(BlockingCalls, AJoinWaitingOnTheNodeStallsNoOtherConnection) {
  start_gated();
  ws_client c(port_, ws_client::url(service_token()));
  ASSERT_TRUE(c.connected);
  c.send(resuming_join("realtime:doc:wo:7", "1"));
  ASSERT_TRUE(gated().reached(1));
  another_connection_is_answered();
  gated().open();
  const auto reply = c.read_json();
  EXPECT_TRUE(is_reply(reply, "1"));
  EXPECT_EQ(reply.at("payload").at("status"), "ok");
}

TEST_F(BlockingCalls, WhatTheClientSentAfterAWaitingJoinIsAnsweredAfterTheJoin) {
  start_gated();
  ws_client c(port_, ws_client::url(service_token()));
  ASSERT_TRUE(c.connected);
  c.send(resuming_join("realtime:doc:wo:7", "1"));
  c.send(heartbeat("2"));
  ASSERT_TRUE(gated().reached(1));
  another_connection_is_answered();  // the gateway went on meanwhile (and read what it could)
  gated().open();
  const auto first = c.read_json();
  EXPECT_TRUE(is_reply(first, "1")) << json::serialize(first);
  EXPECT_EQ(first.at("payload").at("status"), "ok");
  EXPECT_TRUE(is_reply(c.read_json(), "2"));
}

TEST_F(BlockingCalls, AJoinTheNodeHasNoRoomForIsRefusedAsBusyAndSucceedsWhenRetried) {
  start_gated(1);
  ws_client first(port_, ws_client::url(service_token()));
  first.send(resuming_join("realtime:doc:wo:7", "1"));
  ASSERT_TRUE(gated().reached(1));
  ws_client second(port_, ws_client::url(service_token()));
  second.send(resuming_join("realtime:doc:wo:8", "1"));
  const auto refused = second.read_json();
  ASSERT_TRUE(is_reply(refused, "1"));
  EXPECT_EQ(refused.at("payload").at("status"), "error");
  const std::string reason(refused.at("payload").at("response").at("reason").as_string());
  EXPECT_EQ(reason.rfind("NodeNotReady: busy", 0), 0U) << reason;
  gated().open();
  EXPECT_EQ(first.read_json().at("payload").at("status"), "ok");
  second.send(resuming_join("realtime:doc:wo:8", "3"));
  const auto retried = second.read_json();
  EXPECT_TRUE(is_reply(retried, "3"));
  EXPECT_EQ(retried.at("payload").at("status"), "ok");
}

TEST_F(BlockingCalls, AConnectionClosedWhileItsJoinWaitsLeavesNoSubscriberBehind) {
  start_gated();
  {
    ws_client c(port_, ws_client::url(service_token()));
    c.send(resuming_join("realtime:doc:wo:7", "1"));
    ASSERT_TRUE(gated().reached(1));
  }  // the socket closes without a close handshake (the session would answer one only after the join)
  gated().open();
  EXPECT_TRUE(wait_for([&] { return gw_->sessions() == 0; }));
  EXPECT_TRUE(wait_for([&] { return hub_.metrics().subscribers == 0; })) << hub_.metrics().subscribers;
}

TEST_F(BlockingCalls, AClientBroadcastWaitingOnTheNodeStallsNoOtherConnectionAndIsAckedOnceTaken) {
  gateway_config cfg;
  cfg.channels.from_clients = auth::client_broadcasts::public_only;
  start_gated(16, cfg);
  ws_client c(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(
      join(c, "realtime:room", "1", R"({"config":{"broadcast":{"self":true,"ack":true}}})").at("payload").at("status"),
      "ok");
  c.send(testing::v1_broadcast("realtime:room", "hi", R"({"n":1})", "2", "1"));
  c.send(heartbeat("3"));
  ASSERT_TRUE(gated().reached(1));
  another_connection_is_answered();
  gated().open();
  // The broadcast itself (self) and its ack, then the heartbeat's reply.
  const auto a = c.read_json();
  const auto b = c.read_json();
  const auto& echo = is_reply(a, "2") ? b : a;
  EXPECT_TRUE(is_reply(a, "2") || is_reply(b, "2")) << json::serialize(a) << json::serialize(b);
  EXPECT_EQ(echo.at("payload").at("payload"), json::parse(R"({"n":1})"));
  EXPECT_TRUE(is_reply(c.read_json(), "3"));
}

TEST_F(BlockingCalls, ARelayPostWaitingOnTheNodeStallsNoOtherConnectionAndIsAcceptedOnceTaken) {
  start_gated();
  ws_client subscriber(port_, ws_client::url(service_token()));
  ASSERT_EQ(join(subscriber, "realtime:doc:wo:7").at("payload").at("status"), "ok");  // no resume: not a blocking call
  auto posted = std::async(std::launch::async, [&] { return post_events(testing::event_json("7", "A")); });
  ASSERT_TRUE(gated().reached(1));
  another_connection_is_answered();
  gated().open();
  EXPECT_EQ(posted.get().status, 202U);
  EXPECT_TRUE(testing::is_invalidate(subscriber.read_json()));
}

TEST_F(BlockingCalls, ARelayPostTheNodeHasNoRoomForIsAnswered503AndDeliversNothing) {
  start_gated(1);
  ws_client waiting(port_, ws_client::url(service_token()));
  waiting.send(resuming_join("realtime:doc:wo:7", "1"));
  ASSERT_TRUE(gated().reached(1));
  ws_client subscriber(port_, ws_client::url(service_token()));
  ASSERT_EQ(join(subscriber, "realtime:doc:wo:8").at("payload").at("status"), "ok");
  const auto refused = post_events(testing::event_json("8", "A"));
  EXPECT_EQ(refused.status, 503U);
  EXPECT_NE(refused.body.find("relay ingest not accepted: busy"), std::string::npos) << refused.body;
  gated().open();
  EXPECT_EQ(waiting.read_json().at("payload").at("status"), "ok");
  ASSERT_EQ(post_events(testing::event_json("8", "A", "approve")).status, 202U);
  const auto got = subscriber.read_json();  // the retried one is the first the subscriber gets
  EXPECT_EQ(got.at("payload").at("payload").at("action"), "approve") << json::serialize(got);
}

}  // namespace
}  // namespace rtcache::gateway
