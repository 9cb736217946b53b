// End-to-end tests of the gateway: the server runs in-process on an ephemeral port with two io threads and a
// Beast client drives it over real sockets. Every wait is on a condition with a bounded timeout; the only sleeps
// outlast a configured server timeout (a client that resumes reading late) or pace heartbeats well inside one,
// never an assertion on time.
#include "gateway/gateway.hpp"

#include "gateway_fixture.hpp"
#include "ingest/hub_sink.hpp"
#include "protocol/join.hpp"
#include "test_rows.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace rtcache::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using namespace std::chrono_literals;
using testing::b64url;
using testing::event_json;
using testing::hs256;
using testing::http_call;
using testing::is_invalidate;
using testing::is_reply;
using testing::service_token;
using testing::token_for;
using testing::unix_now;
using testing::v1_join;
using testing::ws_client;

// The in-process server under test (tests/support/gateway_fixture.hpp).
class GatewayTest : public testing::gateway_fixture {};

TEST_F(GatewayTest, HeartbeatGetsAnOkReplyWithTheSameRef) {
  start();
  ws_client c(port_, ws_client::url(token_for("anon"), "2.0.0"));
  ASSERT_TRUE(c.connected);
  c.send(R"([null,"7","phoenix","heartbeat",{}])");
  EXPECT_EQ(c.read(), R"([null,"7","phoenix","phx_reply",{"status":"ok","response":{}}])");
}

TEST_F(GatewayTest, JoinWithBindingsRepliesWithTheBindingsAndIdsThenSubscribedToPostgres) {
  start();
  ws_client c(port_, ws_client::url(token_for("anon"), "2.0.0"));
  ASSERT_TRUE(c.connected);
  c.send(R"(["1","1","realtime:room1","phx_join",{"config":{"broadcast":{"ack":false,"self":false},)"
         R"("presence":{"key":"","enabled":false},"postgres_changes":[{"event":"*","schema":"public",)"
         R"("table":"work_orders","filter":"id=eq.1"},{"event":"INSERT","schema":"public"}],"private":false},)"
         R"("version":"realtime-js/2.112.0"}])");
  const auto id0 = protocol::binding_id("*", "public", "work_orders", "id=eq.1");
  const auto id1 = protocol::binding_id("INSERT", "public", std::nullopt, std::nullopt);
  EXPECT_EQ(c.read(), R"(["1","1","realtime:room1","phx_reply",{"status":"ok","response":{"postgres_changes":[)"
                      R"({"event":"*","schema":"public","table":"work_orders","filter":"id=eq.1","id":)" +
                          std::to_string(id0) + R"(},{"event":"INSERT","schema":"public","id":)" + std::to_string(id1) +
                          R"(}],"rtcache":{"epoch":"t1","offset":0,"recovered":false}}}])");
  EXPECT_EQ(c.read(), R"(["1",null,"realtime:room1","system",{"extension":"postgres_changes","status":"ok",)"
                      R"("message":"Subscribed to PostgreSQL","channel":"room1"}])");
}

TEST_F(GatewayTest, PostedEventReachesTheDocSubscriberAsAnInvalidateBroadcastWithItsOffset) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A"})));
  ASSERT_TRUE(c.connected);
  ASSERT_EQ(join(c, "realtime:doc:wo:1").at("payload").at("status"), "ok");
  const auto res = post_events(event_json("1", "A"));
  EXPECT_EQ(res.status, 202U);
  EXPECT_EQ(json::parse(res.body), json::parse(R"({"accepted":1,"refused":[]})"));
  const auto m = c.read_json();
  EXPECT_EQ(m, json::parse(R"({"topic":"realtime:doc:wo:1","event":"broadcast","payload":{"type":"broadcast",)"
                           R"("event":"invalidate","payload":{"type":"wo","id":"1","factoryId":"A",)"
                           R"("action":"update","offset":1}},"ref":null})"));
}

TEST_F(GatewayTest, ResumeAfterDisconnectGetsExactlyTheMissedMessagesThenLiveOnes) {
  start();
  // A second subscriber keeps the channel (and its history) alive while the first is away.
  ws_client keeper(port_, ws_client::url(service_token()));
  ASSERT_EQ(join(keeper, "realtime:doc:wo:7").at("payload").at("status"), "ok");

  std::string epoch;
  {
    ws_client c(port_, ws_client::url(service_token()));
    const auto reply = join(c, "realtime:doc:wo:7");
    epoch = std::string(reply.at("payload").at("response").at("rtcache").at("epoch").as_string());
    ASSERT_EQ(post_events(event_json("7", "A")).status, 202U);
    EXPECT_EQ(c.read_json().at("payload").at("payload").at("offset"), 1);
    c.close();
  }
  ASSERT_EQ(post_events(event_json("7", "A", "approve")).status, 202U);
  ASSERT_EQ(post_events(event_json("7", "A", "reject")).status, 202U);

  ws_client c(port_, ws_client::url(service_token()));
  const auto reply =
      join(c, "realtime:doc:wo:7", "5", R"({"config":{},"rtcache":{"epoch":")" + epoch + R"(","offset":1}})");
  EXPECT_EQ(reply.at("payload").at("response").at("rtcache"),
            json::parse(R"({"epoch":")" + epoch + R"(","offset":3,"recovered":true})"));
  const auto first = c.read_json();
  const auto second = c.read_json();
  EXPECT_EQ(first.at("payload").at("payload").at("offset"), 2);
  EXPECT_EQ(first.at("payload").at("payload").at("action"), "approve");
  EXPECT_EQ(second.at("payload").at("payload").at("offset"), 3);
  EXPECT_EQ(second.at("payload").at("payload").at("action"), "reject");
  ASSERT_EQ(post_events(event_json("7", "A", "delete")).status, 202U);
  EXPECT_EQ(c.read_json().at("payload").at("payload").at("offset"), 4);
}

TEST_F(GatewayTest, ResumeWithAWrongEpochIsNotRecoveredAndReplaysNothing) {
  start();
  ws_client keeper(port_, ws_client::url(service_token()));
  ASSERT_EQ(join(keeper, "realtime:doc:wo:8").at("payload").at("status"), "ok");
  ASSERT_EQ(post_events(event_json("8", "A")).status, 202U);
  ASSERT_TRUE(keeper.read().has_value());

  ws_client c(port_, ws_client::url(service_token()));
  const auto reply = join(c, "realtime:doc:wo:8", "1", R"({"config":{},"rtcache":{"epoch":"other","offset":0}})");
  EXPECT_EQ(reply.at("payload").at("response").at("rtcache").at("recovered"), false);
  EXPECT_EQ(reply.at("payload").at("response").at("rtcache").at("offset"), 1);
  // The next message is live (offset 2), not a replay of offset 1.
  ASSERT_EQ(post_events(event_json("8", "A", "approve")).status, 202U);
  EXPECT_EQ(c.read_json().at("payload").at("payload").at("offset"), 2);
}

TEST_F(GatewayTest, ConnectionScopedToFactoryANeverReceivesFactoryBEventsOnADocChannel) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A"})));
  ASSERT_EQ(join(c, "realtime:doc:wo:9").at("payload").at("status"), "ok");
  // One batch: B's event first, then A's. Deliveries follow offset order, so if B's were sent it would come first.
  const auto res = post_events("[" + event_json("9", "B") + "," + event_json("9", "A", "approve") + "]");
  ASSERT_EQ(res.status, 202U);
  const auto m = c.read_json();
  EXPECT_EQ(m.at("payload").at("payload").at("factoryId"), "A");
  // Its view of the channel counts A's events only: B's took no offset there (issue 11, finding 3).
  EXPECT_EQ(m.at("payload").at("payload").at("offset"), 1);
}

TEST_F(GatewayTest, JoinReplyPrecedesLiveDeliveriesAndNothingAfterItIsMissedUnderConcurrentPublishes) {
  gateway_config cfg;
  cfg.limits.max_send_queue_bytes = 256 << 20;  // this test is about ordering, not the queue bound
  start(cfg);
  ws_client keeper(port_, ws_client::url(service_token()));
  ASSERT_EQ(join(keeper, "realtime:doc:wo:race").at("payload").at("status"), "ok");
  std::atomic<bool> stop{false};
  std::atomic<bool> join_sent{false};
  std::thread publisher([&] {
    core::event e;
    e.type = "wo";
    e.id = "race";
    e.factory_id = "A";
    // Publishes across the join, then a bounded number after it (enough for the reads below). The yield
    // keeps the channel lock from being re-taken back to back, which could starve the join on a loaded
    // machine (std::mutex is not fair).
    for (int after = 0; !stop.load() && after < 1000;) {
      gw_->relay().publish_event(e);
      if (join_sent.load()) ++after;
      std::this_thread::yield();
    }
  });
  // A failed ASSERT returns early: stop and join the publisher on every path (a joinable thread's
  // destructor would terminate the whole test binary).
  struct joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~joiner() {
      stop.store(true);
      if (t.joinable()) t.join();
    }
  } join_publisher{stop, publisher};
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A"})));
  c.send(v1_join("realtime:doc:wo:race", "9"));
  join_sent.store(true);
  const auto reply = c.read_json();  // the very first message must be the reply
  ASSERT_TRUE(is_reply(reply, "9")) << json::serialize(reply);
  auto expected = reply.at("payload").at("response").at("rtcache").at("offset").as_int64() + 1;
  for (int i = 0; i < 200; ++i, ++expected) {
    const auto m = c.read_json();
    ASSERT_TRUE(is_invalidate(m));
    ASSERT_EQ(m.at("payload").at("payload").at("offset").as_int64(), expected);
  }
}

TEST_F(GatewayTest, ListAndFactoryJoinsOutsideTheScopeAreRefused) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A"})));
  const auto list = join(c, "realtime:list:wo:B", "1");
  EXPECT_EQ(list.at("payload").at("status"), "error");
  EXPECT_EQ(list.at("payload").at("response").at("reason"),
            "Unauthorized: You do not have permissions to read from this Channel topic: list:wo:B");
  const auto factory = join(c, "realtime:factory:B", "2");
  EXPECT_EQ(factory.at("payload").at("status"), "error");
  EXPECT_EQ(join(c, "realtime:list:wo:A", "3").at("payload").at("status"), "ok");
  EXPECT_EQ(join(c, "realtime:factory:A", "4").at("payload").at("status"), "ok");
  EXPECT_EQ(join(c, "realtime:doc:nope:1", "5").at("payload").at("status"), "error");
}

TEST_F(GatewayTest, InvalidExpiredAndAlgNoneTokensAreRefusedAtUpgradeWith401Json) {
  start();
  const std::string expired = token_for("anon", {}, -3600);
  const std::string wrong_key =
      hs256(R"({"alg":"HS256","typ":"JWT"})", R"({"role":"anon","exp":)" + std::to_string(unix_now() + 60) + "}",
            "another-secret-another-secret-0123456789");
  const std::string alg_none = b64url(R"({"alg":"none","typ":"JWT"})") + "." +
                               b64url(R"({"role":"service_role","exp":)" + std::to_string(unix_now() + 60) + "}") + ".";
  struct refused_case {
    std::string token;
    std::string error;
  };
  for (const auto& [token, error] : std::vector<refused_case>{
           {"not-a-jwt", "The token provided is not a valid JWT"},
           {expired, "Token has expired"},
           {wrong_key, "Failed to validate JWT signature"},
           {alg_none, "Failed to generate JWT signer, check your JWT secret or JWKS configuration"}}) {
    ws_client c(port_, ws_client::url(token));
    EXPECT_FALSE(c.connected) << token;
    ASSERT_TRUE(c.refusal.has_value()) << token;
    EXPECT_EQ(c.refusal->status, 401U) << token;
    EXPECT_EQ(json::parse(c.refusal->body), json::parse(R"({"error":")" + error + R"("})")) << token;
  }
  ws_client missing(port_, "/socket/websocket?vsn=1.0.0");
  ASSERT_TRUE(missing.refusal.has_value());
  EXPECT_EQ(missing.refusal->status, 401U);
  EXPECT_EQ(missing.refusal->body, R"({"error":"API key is missing"})");
  EXPECT_GE(gw_->metrics().auth_refusals_total.Value(), 5);
}

TEST_F(GatewayTest, BatchWithABadItemReportsIndexAndReasonAndDeliversTheGoodItems) {
  start();
  ws_client c(port_, ws_client::url(service_token()));
  ASSERT_EQ(join(c, "realtime:list:wo:A").at("payload").at("status"), "ok");
  const auto res = post_events("[" + event_json("1", "A", "create") + "," + event_json("2", "A", "explode") + "," +
                               event_json("3", "A", "delete") + "]");
  ASSERT_EQ(res.status, 202U);
  const auto body = json::parse(res.body);
  EXPECT_EQ(body.at("accepted"), 2);
  ASSERT_EQ(body.at("refused").as_array().size(), 1U);
  EXPECT_EQ(body.at("refused").at(0).at("index"), 1);
  EXPECT_EQ(body.at("refused").at(0).at("code"), "unknown_action");
  EXPECT_FALSE(body.at("refused").at(0).at("reason").as_string().empty());
  EXPECT_EQ(c.read_json().at("payload").at("payload").at("id"), "1");
  EXPECT_EQ(c.read_json().at("payload").at("payload").at("id"), "3");
}

TEST_F(GatewayTest, EventsNeedAServiceRoleTokenAndAWellFormedBody) {
  start();
  EXPECT_EQ(post_events(event_json("1", "A"), token_for("authenticated", {"A"})).status, 403U);
  EXPECT_EQ(post_events(event_json("1", "A"), "garbage").status, 401U);
  const auto bad = post_events("{not json");
  EXPECT_EQ(bad.status, 400U);
  EXPECT_TRUE(json::parse(bad.body).as_object().contains("error"));
}

TEST_F(GatewayTest, SummaryGoesToTheFactoryChannel) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A"})));
  ASSERT_EQ(join(c, "realtime:factory:A").at("payload").at("status"), "ok");
  ASSERT_EQ(post_events(R"({"type":"wo","id":"*","factoryId":"A","action":"create","count":10000})").status, 202U);
  const auto m = c.read_json();
  EXPECT_TRUE(is_invalidate(m));
  EXPECT_EQ(m.at("payload").at("payload").at("count"), 10000);
}

TEST_F(GatewayTest, SendQueueOverflowClosesWith4008) {
  gateway_config cfg;
  cfg.limits.max_send_queue_bytes = 64 * 1024;
  start(cfg);
  ws_client c(port_, ws_client::url(service_token()));
  ASSERT_EQ(join(c, "realtime:flood").at("payload").at("status"), "ok");
  // The client stops reading; the server keeps publishing until the queue bound trips.
  ASSERT_TRUE(flood_until_overflow());
  // Reading again drains what the kernel buffered, then the close frame arrives.
  for (int i = 0; i < 100000 && c.read().has_value(); ++i) {
  }
  EXPECT_EQ(c.last_error, websocket::error::closed) << c.last_error.message();
  EXPECT_EQ(c.close_code(), 4008);
}

TEST_F(GatewayTest, OverflowCloseReachesAClientThatResumesReadingAfterTheCloseTimeout) {
  gateway_config cfg;
  cfg.limits.max_send_queue_bytes = 64 * 1024;
  cfg.limits.close_timeout = 50ms;  // the client resumes reading well after this
  start(cfg);
  ws_client c(port_, ws_client::url(service_token()), 4096);
  ASSERT_TRUE(c.connected);
  ASSERT_EQ(join(c, "realtime:flood").at("payload").at("status"), "ok");
  // Published 5 ms apart, so the server is writing to this client's full socket when the queue overflows (in a
  // tight loop the queue could overflow before the first write began: no frame before the close, CI saw it).
  ASSERT_TRUE(flood_until_overflow(std::chrono::milliseconds(5)));
  // Stay away for ten close timeouts: the write the server had in flight is stuck on this client's full
  // socket, and the close frame must wait for it rather than the socket being dropped.
  std::this_thread::sleep_for(10 * cfg.limits.close_timeout);
  std::size_t frames = 0;
  while (c.read().has_value()) ++frames;
  EXPECT_GT(frames, 0U);
  // The close frame arrived (the code is only set from a received close frame). Whether the close handshake
  // then completes depends on the client answering within the 50 ms close timeout, so the error is not checked.
  EXPECT_EQ(c.close_code(), 4008) << c.last_error.message();
}

TEST_F(GatewayTest, OverflowedClientThatNeverReadsAgainIsDroppedByTheIdleTimeout) {
  gateway_config cfg;
  cfg.limits.max_send_queue_bytes = 64 * 1024;
  cfg.limits.close_timeout = 50ms;
  // Long enough for the flood to overflow the queue before the silent client's idle timeout drops it, also
  // under a sanitizer on a loaded machine (at 400 ms the idle drop came first about half the time under TSan).
  cfg.limits.idle_timeout = 2s;
  start(cfg);
  ws_client c(port_, ws_client::url(service_token()), 4096);
  ASSERT_TRUE(c.connected);
  ASSERT_EQ(join(c, "realtime:flood").at("payload").at("status"), "ok");
  ASSERT_TRUE(flood_until_overflow());
  // The client never reads again: the stuck write and the close frame behind it cannot finish, so the
  // socket is dropped once the idle timeout bounds the close.
  EXPECT_TRUE(wait_for([&] { return gw_->metrics().connections.load() == 0; }));
}

TEST_F(GatewayTest, PostedBatchArrivesCompleteAndInOffsetOrder) {
  start();
  ws_client c(port_, ws_client::url(service_token()));
  ASSERT_EQ(join(c, "realtime:doc:wo:7").at("payload").at("status"), "ok");
  constexpr int k_events = 300;
  std::string body = "[";
  for (int i = 0; i < k_events; ++i) body += (i ? "," : "") + event_json("7", "A");
  body += "]";
  const auto res = post_events(body);
  ASSERT_EQ(res.status, 202U);
  EXPECT_EQ(json::parse(res.body).at("accepted"), k_events);
  for (int i = 1; i <= k_events; ++i) {
    const auto m = c.read_json();
    ASSERT_TRUE(is_invalidate(m)) << i;
    ASSERT_EQ(m.at("payload").at("payload").at("offset"), i);
  }
}

TEST_F(GatewayTest, FramesOf64KiBAndMoreArriveWholeAndInOrderInBothVersions) {
  start();
  ws_client v1(port_, ws_client::url(service_token()));
  ws_client v2(port_, ws_client::url(service_token(), "2.0.0"));
  ASSERT_EQ(join(v1, "realtime:big").at("payload").at("status"), "ok");
  v2.send(R"(["1","1","realtime:big","phx_join",{"config":{}}])");
  ASSERT_EQ(v2.read_json().at(4).at("status"), "ok");
  // Payload sizes around the 16-bit and 64-bit length encodings, then a small one that must come last.
  const std::vector<std::size_t> sizes = {65000, 65535, 65536, 300000, 10};
  for (const std::size_t n : sizes) hub_.publish("big", "e", "\"" + std::string(n, 'y') + "\"");
  for (const std::size_t n : sizes) {
    const auto a = v1.read_json();
    ASSERT_EQ(a.at("payload").at("payload").as_string().size(), n);
    const auto b = v2.read_json();
    ASSERT_EQ(b.at(4).at("payload").as_string().size(), n);
  }
}

TEST_F(GatewayTest, ClientBroadcastReachesOtherSubscribersAndTheSenderOnlyWithSelf) {
  gateway_config cfg;
  cfg.channels.from_clients = auth::client_broadcasts::public_only;  // off by default
  start(cfg);
  ws_client sender(port_, ws_client::url(token_for("anon")));
  ws_client other(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(sender, "realtime:room", "1", R"({"config":{"broadcast":{"self":false,"ack":true}}})")
                .at("payload")
                .at("status"),
            "ok");
  ASSERT_EQ(join(other, "realtime:room").at("payload").at("status"), "ok");
  sender.send(R"({"topic":"realtime:room","event":"broadcast","payload":{"type":"broadcast","event":"hi",)"
              R"("payload":{"n":1}},"ref":"2","join_ref":"1"})");
  EXPECT_TRUE(is_reply(sender.read_json(), "2"));  // ack
  const auto got = other.read_json();
  EXPECT_EQ(got.at("payload"), json::parse(R"({"type":"broadcast","event":"hi","payload":{"n":1}})"));
  // The sender gets nothing (self:false): its next message is the heartbeat reply.
  sender.send(R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3"})");
  EXPECT_TRUE(is_reply(sender.read_json(), "3"));
}

TEST_F(GatewayTest, LeaveRepliesOkThenCloses) {
  start();
  ws_client c(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(c, "realtime:room", "4").at("payload").at("status"), "ok");
  c.send(R"({"topic":"realtime:room","event":"phx_leave","payload":{},"ref":"5","join_ref":"4"})");
  EXPECT_TRUE(is_reply(c.read_json(), "5"));
  const auto close = c.read_json();
  EXPECT_EQ(close.at("event"), "phx_close");
  EXPECT_EQ(close.at("ref"), "4");
}

TEST_F(GatewayTest, AccessTokenThatFailsClosesTheChannelWithASystemError) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A"})));
  ASSERT_EQ(join(c, "realtime:list:wo:A", "1").at("payload").at("status"), "ok");
  // A valid token that no longer covers factory A.
  c.send(R"({"topic":"realtime:list:wo:A","event":"access_token","payload":{"access_token":")" +
         token_for("authenticated", {"B"}) + R"("},"ref":"2","join_ref":"1"})");
  const auto sys = c.read_json();
  EXPECT_EQ(sys.at("event"), "system");
  EXPECT_EQ(sys.at("payload").at("status"), "error");
  EXPECT_EQ(c.read_json().at("event"), "phx_close");
}

TEST_F(GatewayTest, SilentSocketIsDroppedAfterTheIdleTimeout) {
  gateway_config cfg;
  cfg.limits.idle_timeout = 200ms;
  start(cfg);
  ws_client c(port_, ws_client::url(token_for("anon")));
  ASSERT_TRUE(c.connected);
  EXPECT_FALSE(c.read().has_value());
  EXPECT_NE(c.last_error, asio::error::timed_out) << "the server should have dropped the socket";
  EXPECT_TRUE(wait_for([&] { return gw_->metrics().idle_closes_total.Value() == 1; }));
}

TEST_F(GatewayTest, HeartbeatsKeepASocketAliveBeyondTheIdleTimeoutAndSilenceThenDropsIt) {
  gateway_config cfg;
  cfg.limits.idle_timeout = 500ms;
  start(cfg);
  ws_client c(port_, ws_client::url(token_for("anon")));
  ASSERT_TRUE(c.connected);
  // Four idle timeouts of heartbeats paced ten times inside one: each resets the connection's idle clock.
  for (int i = 0; i < 40; ++i) {
    c.send(R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":")" + std::to_string(i) + R"("})");
    ASSERT_TRUE(is_reply(c.read_json(), std::to_string(i)));
    std::this_thread::sleep_for(cfg.limits.idle_timeout / 10);
  }
  EXPECT_EQ(gw_->metrics().idle_closes_total.Value(), 0);
  EXPECT_EQ(gw_->metrics().connections.load(), 1);
  EXPECT_FALSE(c.read().has_value());  // silent from here on
  EXPECT_NE(c.last_error, asio::error::timed_out) << "the server should have dropped the socket";
  EXPECT_TRUE(wait_for([&] { return gw_->metrics().idle_closes_total.Value() == 1; }));
}

TEST_F(GatewayTest, FragmentedInboundMessageLongerThanTheFirstReadArrivesWhole) {
  start();
  ws_client c(port_, ws_client::url(service_token()));
  ASSERT_TRUE(c.connected);
  // The server reads the first 128 bytes of a message on their own (an idle connection keeps a small read
  // buffer) and the rest after them: a join of several hundred bytes in 16-byte continuation frames.
  c.fragment_writes(16);
  const auto reply = join(c, "realtime:doc:wo:7", "1",
                          R"({"config":{"broadcast":{"self":true}},"access_token":")" + service_token() + R"("})");
  EXPECT_EQ(reply.at("payload").at("status"), "ok") << json::serialize(reply);
  c.send(R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":"2"})");
  EXPECT_TRUE(is_reply(c.read_json(), "2"));
}

TEST_F(GatewayTest, OversizeInboundMessageClosesWith1009) {
  gateway_config cfg;
  cfg.limits.max_frame_bytes = 1024;
  start(cfg);
  ws_client c(port_, ws_client::url(token_for("anon")));
  ASSERT_TRUE(c.connected);
  c.send(R"({"topic":"phoenix","event":"heartbeat","payload":{"pad":")" + std::string(2000, 'x') + R"("},"ref":"1"})");
  EXPECT_FALSE(c.read().has_value());
  EXPECT_NE(c.last_error, asio::error::timed_out) << "the server should have ended the connection";
  // Beast refuses on the frame header and tears down with the payload unread, so the peer's kernel may reset
  // the connection before the close frame is read: 1009 is best effort.
  if (c.last_error == websocket::error::closed) {
    EXPECT_EQ(c.close_code(), 1009);
  }
}

TEST_F(GatewayTest, ShutdownClosesWebSocketsWith1001) {
  start();
  ws_client c(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(c, "realtime:room").at("payload").at("status"), "ok");
  gw_->stop();
  EXPECT_FALSE(c.read().has_value());
  EXPECT_EQ(c.last_error, websocket::error::closed);
  EXPECT_EQ(c.close_code(), 1001);
}

TEST_F(GatewayTest, HealthzReadyzAndMetricsAnswer) {
  start();
  EXPECT_EQ(http_call(port_, http::verb::get, "/healthz").status, 200U);
  EXPECT_EQ(http_call(port_, http::verb::get, "/readyz").status, 200U);
  ws_client c(port_, ws_client::url(token_for("anon")));
  ASSERT_TRUE(c.connected);
  const auto m = http_call(port_, http::verb::get, "/metrics");
  EXPECT_EQ(m.status, 200U);
  EXPECT_NE(m.body.find("\nrtcache_connections 1\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("# TYPE rtcache_queue_overflow_closes_total counter"), std::string::npos);
  EXPECT_NE(m.body.find("rtcache_auth_refusals_total"), std::string::npos);
  EXPECT_EQ(http_call(port_, http::verb::get, "/nope").status, 404U);
}

TEST_F(GatewayTest, RestBroadcastReachesSubscribers) {
  gateway_config cfg;
  cfg.channels.from_clients = auth::client_broadcasts::public_only;  // an anon token's REST broadcast is a client's
  start(cfg);
  ws_client c(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(c, "realtime:room1").at("payload").at("status"), "ok");
  const auto res = http_call(port_, http::verb::post, "/realtime/v1/api/broadcast",
                             R"({"messages":[{"topic":"room1","event":"e","payload":{"a":1},"private":false}]})",
                             {{"apikey", token_for("anon")}});
  EXPECT_EQ(res.status, 202U);
  EXPECT_EQ(c.read_json().at("payload"), json::parse(R"({"type":"broadcast","event":"e","payload":{"a":1}})"));
}

}  // namespace
}  // namespace rtcache::gateway

namespace rtcache::gateway {
namespace {

// issue 13: a gap in the source (hub_sink::on_gap) errors a live subscriber's channel at once, before anything
// of the new epoch reaches it; the client rejoins from its old position and is answered recovered:false.
TEST_F(GatewayTest, AGapErrorsALiveChannelAndItsRejoinFromTheOldPositionIsNotRecovered) {
  start();
  ws_client c(port_, ws_client::url(service_token()));
  const auto reply = join(c, "realtime:doc:wo:9", "1");
  const std::string epoch(reply.at("payload").at("response").at("rtcache").at("epoch").as_string());
  ASSERT_EQ(post_events(event_json("9", "A")).status, 202U);
  EXPECT_EQ(c.read_json().at("payload").at("payload").at("offset"), 1);

  routing::source_gap gap;
  gap.position.sequence = 1;
  gap.reason = routing::gap_reason::slot_created;
  sink_.on_gap(gap);
  ASSERT_EQ(post_events(event_json("9", "A", "approve")).status, 202U);  // new epoch: must not reach the old join
  const auto error = c.read_json();
  EXPECT_EQ(error.at("event"), "phx_error");
  EXPECT_EQ(error.at("topic"), "realtime:doc:wo:9");

  const auto rejoin =
      join(c, "realtime:doc:wo:9", "3", R"({"config":{},"rtcache":{"epoch":")" + epoch + R"(","offset":1}})");
  const auto& position = rejoin.at("payload").at("response").at("rtcache");
  EXPECT_EQ(position.at("recovered"), false);
  EXPECT_NE(position.at("epoch"), json::value(epoch));
  ASSERT_EQ(post_events(event_json("9", "A", "reject")).status, 202U);
  const auto live = c.read_json();
  EXPECT_EQ(live.at("payload").at("payload").at("action"), "reject");
}

// ---- postgres_changes delivery (the PostgreSQL source publishes through hub_sink) ----

bool is_postgres_change(const json::value& v) {
  if (v.is_object()) return v.at("event") == "postgres_changes";
  return v.is_array() && v.as_array().size() == 5 && v.as_array()[3] == "postgres_changes";
}

TEST_F(GatewayTest, DocChannelBindingGetsOnlyThatRowsRecordsInSupabasesShape) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"f1"})));
  const auto reply =
      join(c, "realtime:doc:wo:123", "1", R"({"config":{"postgres_changes":[{"event":"*","schema":"public"}]}})");
  ASSERT_EQ(reply.at("payload").at("status"), "ok");
  const auto id = protocol::binding_id("*", "public", std::nullopt, std::nullopt);
  c.read_until([](const json::value& v) { return v.at("event") == "system"; });

  sink_.publish(testing::routed(*mapping_, testing::wo_change(routing::row_kind::update, "124", "f1", "done")));
  sink_.publish(testing::routed(*mapping_, testing::wo_change(routing::row_kind::update, "123", "f1", "done")));
  // The contract message first (invalidate), then the record for the binding, both of row 123 only.
  const auto inv = c.read_json();
  ASSERT_TRUE(is_invalidate(inv)) << json::serialize(inv);
  EXPECT_EQ(inv.at("payload").at("payload").at("id"), "123");
  const auto pc = c.read_json();
  ASSERT_TRUE(is_postgres_change(pc)) << json::serialize(pc);
  EXPECT_EQ(pc.at("topic"), "realtime:doc:wo:123");
  EXPECT_TRUE(pc.at("ref").is_null());
  EXPECT_EQ(pc.at("payload").at("ids"), json::array({json::value(id)}));
  const auto& data = pc.at("payload").at("data");
  EXPECT_EQ(data.at("schema"), "public");
  EXPECT_EQ(data.at("table"), "work_orders");
  EXPECT_EQ(data.at("type"), "UPDATE");
  EXPECT_EQ(data.at("commit_timestamp"), "2025-11-19T00:22:40.877Z");
  EXPECT_EQ(data.at("record").at("id"), 123);
  EXPECT_EQ(data.at("record").at("status"), "done");
  EXPECT_EQ(data.at("old_record").at("status"), "open");
  EXPECT_FALSE(data.at("record").as_object().contains("internal_notes"));
  EXPECT_TRUE(data.at("errors").is_null());
  EXPECT_TRUE(data.at("columns").is_array());
}

TEST_F(GatewayTest, AnyChannelBindingFollowsEventFilterAndFactoryScopeInVsn2) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"f1"}), "2.0.0"));
  ASSERT_TRUE(c.connected);
  c.send(R"(["1","1","realtime:room1","phx_join",{"config":{"postgres_changes":[{"event":"UPDATE",)"
         R"("schema":"public","table":"work_orders","filter":"status=eq.open"}]}}])");
  const auto reply = c.read_json();
  ASSERT_EQ(reply.at(4).at("status"), "ok") << json::serialize(reply);
  c.read_json();  // Subscribed to PostgreSQL
  const auto id = protocol::binding_id("UPDATE", "public", "work_orders", "status=eq.open");

  using testing::wo_change;
  sink_.publish(testing::routed(*mapping_, wo_change(routing::row_kind::update, "1", "f2", "open")));  // other factory
  sink_.publish(testing::routed(*mapping_, wo_change(routing::row_kind::update, "2", "f1", "done")));  // filter
  sink_.publish(testing::routed(*mapping_, wo_change(routing::row_kind::insert, "3", "f1", "open")));  // event
  sink_.publish(testing::routed(*mapping_, wo_change(routing::row_kind::update, "4", "f1", "open")));  // delivered
  const auto pc = c.read_json();
  ASSERT_TRUE(is_postgres_change(pc)) << json::serialize(pc);
  EXPECT_TRUE(pc.at(0).is_null());
  EXPECT_TRUE(pc.at(1).is_null());
  EXPECT_EQ(pc.at(2), "realtime:room1");
  EXPECT_EQ(pc.at(4).at("ids"), json::array({json::value(id)}));
  EXPECT_EQ(pc.at(4).at("data").at("record").at("id"), 4);
}

TEST_F(GatewayTest, PublicTableRecordsReachUnscopedConnectionsAndMappedOnesDoNot) {
  start();
  ws_client c(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(c, "realtime:room2", "1", R"({"config":{"postgres_changes":[{"event":"*","schema":"public"}]}})")
                .at("payload")
                .at("status"),
            "ok");
  c.read_until([](const json::value& v) { return v.at("event") == "system"; });
  sink_.publish(testing::routed(*mapping_, testing::wo_change(routing::row_kind::insert, "9", "f1", "open")));
  sink_.publish(testing::routed(*mapping_, testing::announcement("1", "hello")));
  const auto pc = c.read_json();
  ASSERT_TRUE(is_postgres_change(pc)) << json::serialize(pc);
  EXPECT_EQ(pc.at("payload").at("data").at("table"), "announcements");
  EXPECT_EQ(pc.at("payload").at("data").at("record").at("text"), "hello");
}

TEST_F(GatewayTest, BindingOnATableThatIsNeitherMappedNorPublicIsRefusedAtJoin) {
  start();
  ws_client c(port_, ws_client::url(service_token()));
  const auto reply = join(c, "realtime:room3", "1",
                          R"({"config":{"postgres_changes":[{"event":"*","schema":"public","table":"users"}]}})");
  EXPECT_EQ(reply.at("payload").at("status"), "error");
  EXPECT_EQ(reply.at("payload").at("response").at("reason"),
            "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given "
            "connect parameters: [event: *, schema: public, table: users, filters: []]");
}

TEST_F(GatewayTest, FilterCannotWidenScopeOnAnyChannel) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"f1"})));
  ASSERT_EQ(join(c, "realtime:room4", "1",
                 R"({"config":{"postgres_changes":[{"event":"*","schema":"public","table":"work_orders",)"
                 R"("filter":"factory_id=eq.f2"},{"event":"*","schema":"public","table":"announcements"}]}})")
                .at("payload")
                .at("status"),
            "ok");
  c.read_until([](const json::value& v) { return v.at("event") == "system"; });
  sink_.publish(testing::routed(*mapping_, testing::wo_change(routing::row_kind::insert, "5", "f2", "open")));
  // Published after it from the same thread: had the f2 record been written, it would come first.
  sink_.publish(testing::routed(*mapping_, testing::announcement("2", "marker")));
  const auto pc = c.read_json();
  ASSERT_TRUE(is_postgres_change(pc)) << json::serialize(pc);
  EXPECT_EQ(pc.at("payload").at("data").at("table"), "announcements");
}

// issue 11, finding 9: a row moved from f1 to f2 shows f2 the row as an INSERT (no old_record: those are f1's
// values) and f1 a DELETE of its old row, on a contract channel and on a per-table binding, live and on replay.
TEST_F(GatewayTest, AMovedRowReachesTheNewFactoryAsAnInsertAndTheOldOneAsADeleteLiveAndOnReplay) {
  start();
  const std::string bindings = R"({"config":{"postgres_changes":[{"event":"*","schema":"public"}]}})";
  const std::string table_binding =
      R"({"config":{"postgres_changes":[{"event":"*","schema":"public","table":"work_orders"}]}})";
  ws_client keeper(port_, ws_client::url(service_token()));  // keeps doc:wo:7's history while f2 is away
  ASSERT_EQ(join(keeper, "realtime:doc:wo:7").at("payload").at("status"), "ok");
  ws_client old_owner(port_, ws_client::url(token_for("authenticated", {"f1"})));
  ws_client new_owner(port_, ws_client::url(token_for("authenticated", {"f2"})));
  ws_client away(port_, ws_client::url(token_for("authenticated", {"f2"})));
  for (ws_client* c : {&old_owner, &new_owner}) {
    ASSERT_EQ(join(*c, "realtime:doc:wo:7", "1", bindings).at("payload").at("status"), "ok");
    c->read_until([](const json::value& v) { return v.at("event") == "system"; });
    ASSERT_EQ(join(*c, "realtime:room-move", "2", table_binding).at("payload").at("status"), "ok");
    c->read_until([](const json::value& v) { return v.at("event") == "system"; });
  }
  const auto before = join(away, "realtime:doc:wo:7", "1", bindings);
  const auto position = before.at("payload").at("response").at("rtcache");
  away.close();

  sink_.publish(
      testing::routed(*mapping_, testing::wo_change(routing::row_kind::update, "7", "f2", "open", "open", "f1")));

  // The records a client gets for the move, by topic, in arrival order (the invalidates are skipped).
  const auto records = [](ws_client& c, std::size_t n) {
    std::vector<json::value> out;
    while (out.size() < n) {
      const auto v = c.read_json();
      if (v.is_null()) break;
      if (is_postgres_change(v)) out.push_back(v);
    }
    return out;
  };
  const auto check_insert = [](const json::value& pc) {
    const auto& data = pc.at("payload").at("data");
    EXPECT_EQ(data.at("type"), "INSERT") << json::serialize(pc);
    EXPECT_FALSE(data.as_object().contains("old_record")) << json::serialize(pc);
    EXPECT_EQ(data.at("record").at("factory_id"), "f2");
    EXPECT_EQ(json::serialize(pc).find("f1"), std::string::npos) << json::serialize(pc);
  };
  for (const auto& pc : records(new_owner, 2)) check_insert(pc);  // doc:wo:7, then the per-table binding
  for (const auto& pc : records(old_owner, 2)) {
    const auto& data = pc.at("payload").at("data");
    EXPECT_EQ(data.at("type"), "DELETE") << json::serialize(pc);
    EXPECT_EQ(data.at("old_record").at("factory_id"), "f1");
    EXPECT_EQ(json::serialize(pc).find("f2"), std::string::npos) << json::serialize(pc);
  }

  // Replayed: an f2 subscriber resuming doc:wo:7 from before the move gets the same INSERT.
  ws_client back(port_, ws_client::url(token_for("authenticated", {"f2"})));
  const std::string resume = R"({"config":{"postgres_changes":[{"event":"*","schema":"public"}]},"rtcache":{"epoch":)" +
                             json::serialize(position.at("epoch")) + R"(,"offset":)" +
                             json::serialize(position.at("offset")) + "}}";
  const auto reply = join(back, "realtime:doc:wo:7", "1", resume);
  ASSERT_EQ(reply.at("payload").at("response").at("rtcache").at("recovered"), true) << json::serialize(reply);
  const auto replayed = records(back, 1);
  ASSERT_EQ(replayed.size(), 1U);
  check_insert(replayed[0]);
}

// ---- linger: a lone subscriber resumes ----

TEST_F(GatewayTest, LoneSubscriberThatReconnectsWithinTheLingerGetsExactlyWhatItMissed) {
  start();
  std::string epoch;
  {
    ws_client c(port_, ws_client::url(service_token()));
    const auto reply = join(c, "realtime:doc:wo:77");
    epoch = std::string(reply.at("payload").at("response").at("rtcache").at("epoch").as_string());
    ASSERT_EQ(post_events(event_json("77", "A")).status, 202U);
    EXPECT_EQ(c.read_json().at("payload").at("payload").at("offset"), 1);
    c.close();
  }
  // Nobody is subscribed now; the channel lingers and keeps appending.
  ASSERT_TRUE(wait_for([&] { return hub_.metrics().idle_channels == 1; }));
  ASSERT_EQ(post_events(event_json("77", "A", "approve")).status, 202U);

  ws_client c(port_, ws_client::url(service_token()));
  const auto reply =
      join(c, "realtime:doc:wo:77", "2", R"({"config":{},"rtcache":{"epoch":")" + epoch + R"(","offset":1}})");
  EXPECT_EQ(reply.at("payload").at("response").at("rtcache"),
            json::parse(R"({"epoch":")" + epoch + R"(","offset":2,"recovered":true})"));
  const auto missed = c.read_json();
  EXPECT_EQ(missed.at("payload").at("payload").at("offset"), 2);
  EXPECT_EQ(missed.at("payload").at("payload").at("action"), "approve");
}

// ---- token expiry ----

TEST_F(GatewayTest, ExpiredTokenClosesItsChannelsWithoutWaitingForAHeartbeat) {
  start();
  // Past exp but inside the 30 s leeway: valid for one to two more seconds (with one, a token minted late in a
  // second was refused at the upgrade about one run in fifty under ASan on a loaded machine).
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A"}, -28)));
  ASSERT_TRUE(c.connected);
  ASSERT_EQ(join(c, "realtime:doc:wo:1").at("payload").at("status"), "ok");
  const auto sys = c.read_json();  // no heartbeat is ever sent
  EXPECT_EQ(sys.at("event"), "system");
  EXPECT_EQ(sys.at("topic"), "realtime:doc:wo:1");
  EXPECT_EQ(sys.at("payload").at("status"), "error");
  EXPECT_EQ(sys.at("payload").at("extension"), "system");
  EXPECT_TRUE(std::string_view(sys.at("payload").at("message").as_string()).starts_with("Token has expired"))
      << json::serialize(sys);
  EXPECT_EQ(c.read_json().at("event"), "phx_close");
}

// A token whose exp is centuries away (and an API key, which never expires) must not overflow the expiry
// timer's steady_clock arithmetic (undefined behaviour: the asan preset's UBSan run stops on it).
TEST_F(GatewayTest, ATokenExpiringInCenturiesJoinsAndItsChannelStaysOpen) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A"}, 3600LL * 24 * 365 * 500)));
  ASSERT_TRUE(c.connected);
  ASSERT_EQ(join(c, "realtime:list:wo:A").at("payload").at("status"), "ok");
  ASSERT_EQ(post_events(event_json("1", "A")).status, 202U);
  const auto m = c.read_json();
  ASSERT_TRUE(is_invalidate(m)) << json::serialize(m);
}

TEST_F(GatewayTest, AccessTokenPushRearmsTheExpiryTimerForTheNewToken) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A"})));  // valid for an hour
  ASSERT_EQ(join(c, "realtime:doc:wo:2").at("payload").at("status"), "ok");
  // The pushed token is valid (inside the leeway) but ends in about a second: its expiry closes the channel.
  c.send(R"({"topic":"realtime:doc:wo:2","event":"access_token","payload":{"access_token":")" +
         token_for("authenticated", {"A"}, -29) + R"("},"ref":"2","join_ref":"1"})");
  const auto sys = c.read_json();
  EXPECT_EQ(sys.at("event"), "system");
  EXPECT_TRUE(std::string_view(sys.at("payload").at("message").as_string()).starts_with("Token has expired"))
      << json::serialize(sys);
  EXPECT_EQ(c.read_json().at("event"), "phx_close");
}

// ---- metrics ----

TEST_F(GatewayTest, MetricsCarryTheReplicationProvidersStatus) {
  start();
  EXPECT_EQ(http_call(port_, http::verb::get, "/metrics").body.find("rtcache_replication_connected"),
            std::string::npos);
  gw_->set_replication_status_provider([] {
    replication_status s;
    s.connected = true;
    s.lag_bytes = 42;
    return s;
  });
  const auto body = http_call(port_, http::verb::get, "/metrics").body;
  EXPECT_NE(body.find("rtcache_replication_connected 1\n"), std::string::npos);
  EXPECT_NE(body.find("rtcache_replication_lag_bytes 42\n"), std::string::npos);
}

// A text exposition (format 0.0.4) as Prometheus reads it: `# TYPE` per family, then samples
// `name{label="value",...} number`. Every line must parse; returns each family's type and each series' value.
struct scraped {
  std::map<std::string, std::string> types;
  std::map<std::string, double> values;  // "name{labels}" -> value
  std::vector<std::string> unparsed;
};

scraped parse_exposition(const std::string& body) {
  static const std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([-+0-9.eE]+|NaN|[+-]Inf)$)");
  static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
  scraped out;
  std::istringstream in(body);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (line.empty() || line.starts_with("# HELP ")) continue;
    if (std::regex_match(line, m, type)) {
      out.types[m[1]] = m[2];
    } else if (std::regex_match(line, m, sample)) {
      out.values[m[1].str() + m[2].str()] = std::stod(m[3]);
    } else {
      out.unparsed.push_back(line);
    }
  }
  return out;
}

// issue 15: a running gateway's /metrics parses as Prometheus text, and the latency histograms count a join's
// reply and a broadcast's delivery.
TEST_F(GatewayTest, MetricsScrapeParsesWithEveryLatencyHistogramCounting) {
  gateway_config cfg;
  cfg.channels.from_clients = auth::client_broadcasts::public_only;
  start(cfg);
  ws_client c(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(c, "realtime:room1").at("payload").at("status"), "ok");
  ASSERT_EQ(http_call(port_, http::verb::post, "/realtime/v1/api/broadcast",
                      R"({"messages":[{"topic":"room1","event":"e","payload":{"a":1},"private":false}]})",
                      {{"apikey", token_for("anon")}})
                .status,
            202U);
  ASSERT_TRUE(c.read_json().is_object());  // delivered; the histogram is observed when the write completes
  scraped s;
  ASSERT_TRUE(wait_for([&] {
    s = parse_exposition(http_call(port_, http::verb::get, "/metrics").body);
    return s.values["rtcache_fanout_publish_to_write_seconds_count"] >= 1 &&
           s.values["rtcache_join_reply_seconds_count"] >= 1;
  }));
  EXPECT_TRUE(s.unparsed.empty()) << s.unparsed.front();
  for (const std::string name : {"rtcache_replication_commit_to_publish_seconds",
                                 "rtcache_fanout_publish_to_write_seconds", "rtcache_join_reply_seconds"}) {
    EXPECT_EQ(s.types[name], "histogram") << name;
    EXPECT_TRUE(s.values.contains(name + "_bucket{le=\"0.0005\"}")) << name;
    EXPECT_TRUE(s.values.contains(name + "_bucket{le=\"10\"}")) << name;
    EXPECT_TRUE(s.values.contains(name + "_bucket{le=\"+Inf\"}")) << name;
    EXPECT_TRUE(s.values.contains(name + "_sum")) << name;
    EXPECT_TRUE(s.values.contains(name + "_count")) << name;
  }
  EXPECT_EQ(s.values["rtcache_join_reply_seconds_count"], 1);
  EXPECT_EQ(s.values["rtcache_join_reply_seconds_bucket{le=\"+Inf\"}"], 1);
  EXPECT_GT(s.values["rtcache_join_reply_seconds_sum"], 0);
  EXPECT_EQ(s.values["rtcache_fanout_publish_to_write_seconds_count"], 1);
  EXPECT_EQ(s.values["rtcache_replication_commit_to_publish_seconds_count"], 0);  // relay mode: no source
  EXPECT_EQ(s.types["rtcache_connections"], "gauge");
  EXPECT_EQ(s.values["rtcache_connections"], 1);
}

}  // namespace
}  // namespace rtcache::gateway
