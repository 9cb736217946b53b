// Frames and bodies a hostile client sends (issue 11, finding 4): every ingest path applies the WebSocket's JSON
// rules (protocol/frame.hpp: parse_client_json), so numbers JSON cannot carry never reach a subscriber.
#include "gateway_fixture.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <string>

namespace rtcache::gateway {
namespace {

namespace json = boost::json;
using namespace testing;
using namespace std::chrono_literals;

class Frames : public gateway_fixture {};

// issue 11, finding 4: {"n":1e400} posted to /api/broadcast reached subscribers as {"n":Infinity}.
TEST_F(Frames, RestBroadcastOfANumberJsonCannotCarryIsRefusedAndNothingReachesSubscribers) {
  start();
  ws_client c(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(c, "realtime:room1").at("payload").at("status"), "ok");
  for (const std::string bad : {"1e400", "-1e400", "[1,2e999]"}) {
    const auto res =
        post_broadcast(R"({"messages":[{"topic":"room1","event":"e","payload":{"n":)" + bad + "}}]}", service_token());
    EXPECT_EQ(res.status, 400U) << bad << " " << res.body;
    EXPECT_NE(res.body.find("out of range"), std::string::npos) << res.body;
  }
  // The marker arrives first: nothing was delivered before it.
  ASSERT_EQ(post_broadcast(R"({"messages":[{"topic":"room1","event":"marker","payload":{"n":1}}]})").status, 202U);
  const auto m = c.read_json();
  EXPECT_EQ(m.at("payload").at("event"), "marker") << json::serialize(m);
}

TEST_F(Frames, WebSocketBroadcastOfANumberJsonCannotCarryIsRefusedToo) {
  start();
  ws_client a(port_, ws_client::url(service_token()));
  ws_client b(port_, ws_client::url(service_token()));
  ASSERT_EQ(join(a, "realtime:room2").at("payload").at("status"), "ok");
  ASSERT_EQ(join(b, "realtime:room2").at("payload").at("status"), "ok");
  a.send(v1_broadcast("realtime:room2", "e", R"({"n":1e400})", "2", "1"));
  a.send(v1_broadcast("realtime:room2", "marker", R"({"n":1})", "3", "1"));
  const auto m = b.read_json();
  EXPECT_EQ(m.at("payload").at("event"), "marker") << json::serialize(m);
}

TEST_F(Frames, RestBroadcastOfAnEmptyOrOverlongEventIsRefusedPerMessageWithItsIndex) {
  start();
  const auto res = post_broadcast(R"({"messages":[{"topic":"room3","event":""},{"topic":"room3","event":")" +
                                  std::string(300, 'e') + R"("},{"topic":"room3","event":"ok"}]})");
  ASSERT_EQ(res.status, 202U) << res.body;
  const auto body = json::parse(res.body);
  EXPECT_EQ(body.at("accepted"), 1);
  ASSERT_EQ(body.at("refused").as_array().size(), 2U);
  EXPECT_EQ(body.at("refused").at(0).at("index"), 0);
  EXPECT_EQ(body.at("refused").at(0).at("code"), "empty");
  EXPECT_EQ(body.at("refused").at(1).at("index"), 1);
  EXPECT_EQ(body.at("refused").at(1).at("code"), "too_long");
}

TEST_F(Frames, RestBroadcastNestedDeeperThanTheFrameBoundIsRefused) {
  start();
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "[";
  for (int i = 0; i < 40; ++i) deep += "]";
  const auto res = post_broadcast(R"({"messages":[{"topic":"room4","event":"e","payload":)" + deep + "}]}");
  EXPECT_EQ(res.status, 400U);
  EXPECT_NE(res.body.find("nested deeper"), std::string::npos) << res.body;
}

TEST_F(Frames, PostedEventWithAPatchNumberJsonCannotCarryIsRefused) {
  start();
  const auto res = post_events(R"({"type":"wo","id":"1","factoryId":"A","action":"update","changedKeys":["n"],)"
                               R"("patch":{"n":1e400}})");
  // The event codec is strict on its own: the event is refused, the others (none) are published.
  if (res.status == 202U) {
    EXPECT_EQ(json::parse(res.body).at("accepted"), 0) << res.body;
  } else {
    EXPECT_EQ(res.status, 400U) << res.body;
  }
}

}  // namespace
}  // namespace rtcache::gateway
