// Rates and volumes a hostile client can push (issue 11, findings 5 and 7): client broadcasts can be turned off
// (and are, by default) and are bounded per connection, answered as Supabase answers max_events_per_second; idle
// channels are bounded by count, not only by bytes.
#include "gateway_fixture.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <string>

namespace rtcache::gateway {
namespace {

namespace json = boost::json;
using namespace testing;

class Rates : public gateway_fixture {};

gateway_config broadcasts(auth::client_broadcasts mode, double per_second = 10, double burst = 20) {
  gateway_config cfg;
  cfg.channels.from_clients = mode;
  cfg.limits.client_broadcasts.messages_per_second = per_second;
  cfg.limits.client_broadcasts.message_burst = burst;
  return cfg;
}

// issue 11, finding 5: client broadcasts could not be turned off; an anon client's were relayed.
TEST_F(Rates, ClientBroadcastsAreOffByDefault) {
  start();
  ws_client sender(port_, ws_client::url(token_for("anon")));
  ws_client other(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(sender, "realtime:room", "1", R"({"config":{"broadcast":{"ack":true}}})").at("payload").at("status"),
            "ok");
  ASSERT_EQ(join(other, "realtime:room").at("payload").at("status"), "ok");
  sender.send(v1_broadcast("realtime:room", "hi", R"({"n":1})", "2", "1"));
  const auto reply = sender.read_until([](const json::value& v) { return is_reply(v, "2"); });
  EXPECT_EQ(reply.at("payload").at("status"), "error");
  EXPECT_NE(std::string_view(reply.at("payload").at("response").at("reason").as_string()).find("from_clients"),
            std::string_view::npos);
  // The REST path with a client's token follows the same switch.
  const auto rest = post_broadcast(R"({"messages":[{"topic":"room","event":"hi"}]})", token_for("anon"));
  EXPECT_EQ(json::parse(rest.body).at("refused").at(0).at("code"), "not_allowed");
  // The backend may.
  ASSERT_EQ(post_broadcast(R"({"messages":[{"topic":"room","event":"backend"}]})").status, 202U);
  EXPECT_EQ(other.read_json().at("payload").at("event"), "backend");
  EXPECT_GE(gw_->metrics().client_broadcasts_refused_total.Value(), 1);
}

TEST_F(Rates, FromClientsPublicRelaysOnPublicChannels) {
  start(broadcasts(auth::client_broadcasts::public_only));
  ws_client sender(port_, ws_client::url(token_for("anon")));
  ws_client other(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(sender, "realtime:room").at("payload").at("status"), "ok");
  ASSERT_EQ(join(other, "realtime:room").at("payload").at("status"), "ok");
  sender.send(v1_broadcast("realtime:room", "hi", R"({"n":1})", "2", "1"));
  EXPECT_EQ(other.read_json().at("payload").at("event"), "hi");
}

// issue 11, finding 5: an anon client sent 3,000 broadcasts in a burst; all were relayed, no error.
TEST_F(Rates, ABurstBeyondTheRateClosesTheSendersChannelWithTooManyMessagesPerSecond) {
  start(broadcasts(auth::client_broadcasts::public_only, 0.001, 5));
  ws_client sender(port_, ws_client::url(token_for("anon")));
  ws_client other(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(sender, "realtime:flood").at("payload").at("status"), "ok");
  ASSERT_EQ(join(other, "realtime:flood").at("payload").at("status"), "ok");
  for (int i = 0; i < 50; ++i) sender.send(v1_broadcast("realtime:flood", "spam", "{}", std::to_string(i + 2), "1"));
  // Supabase's answer: a system error on the channel, then phx_close.
  const auto sys = sender.read_until([](const json::value& v) { return v.at("event") == "system"; });
  EXPECT_EQ(sys.at("topic"), "realtime:flood");
  EXPECT_EQ(sys.at("payload"), json::parse(R"({"extension":"system","status":"error",)"
                                           R"("message":"Too many messages per second","channel":"flood"})"));
  EXPECT_EQ(sender.read_json().at("event"), "phx_close");
  // The burst's five were relayed, nothing beyond: the marker follows them.
  ASSERT_EQ(post_broadcast(R"({"messages":[{"topic":"flood","event":"marker"}]})").status, 202U);
  int relayed = 0;
  for (;;) {
    const auto m = other.read_json();
    if (m.at("payload").at("event") == "marker") break;
    ++relayed;
  }
  EXPECT_EQ(relayed, 5);
  EXPECT_EQ(gw_->metrics().client_broadcasts_limited_total.Value(), 1);
}

TEST_F(Rates, AClientBroadcastLargerThanTheByteBurstIsRefusedOnItsOwn) {
  gateway_config cfg = broadcasts(auth::client_broadcasts::public_only);
  cfg.limits.client_broadcasts.byte_burst = 2048;
  start(cfg);
  ws_client sender(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(sender, "realtime:big").at("payload").at("status"), "ok");
  sender.send(v1_broadcast("realtime:big", "e", "\"" + std::string(3000, 'x') + "\"", "2", "1"));
  const auto reply = sender.read_until([](const json::value& v) { return is_reply(v, "2"); });
  EXPECT_EQ(reply.at("payload").at("status"), "error");
  EXPECT_NE(std::string_view(reply.at("payload").at("response").at("reason").as_string()).find("Payload size exceeded"),
            std::string_view::npos);
  // The channel stays joined: a small one goes through (ack).
  sender.send(v1_broadcast("realtime:big", "e", "{}", "3", "1"));
  sender.send(R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":"h"})");
  EXPECT_TRUE(is_reply(sender.read_json(), "h"));
}

// The REST path is no way around the bound: a client's POST /api/broadcast counts against its address, and
// a batch over it is refused whole with Supabase's 429.
TEST_F(Rates, RestClientBroadcastsAreBoundPerAddressAndABatchOverItIsRefusedWhole) {
  start(broadcasts(auth::client_broadcasts::public_only, 0.001, 5));
  ws_client other(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(other, "realtime:rest").at("payload").at("status"), "ok");
  const std::string three = R"({"messages":[{"topic":"rest","event":"a"},{"topic":"rest","event":"b"},)"
                            R"({"topic":"rest","event":"c"}]})";
  EXPECT_EQ(post_broadcast(three, token_for("anon")).status, 202U);
  const auto over = post_broadcast(three, token_for("authenticated", {"A"}));  // another token, same address
  EXPECT_EQ(over.status, 429U);
  EXPECT_EQ(json::parse(over.body), json::parse(R"({"error":"You have exceeded your rate limit"})"));
  EXPECT_EQ(post_broadcast(three, service_token()).status, 202U);  // the backend is not bound
  for (const char* e : {"a", "b", "c", "a", "b", "c"}) EXPECT_EQ(other.read_json().at("payload").at("event"), e);
}

TEST_F(Rates, ServiceRoleBroadcastsAreNotBoundByTheClientRate) {
  start(broadcasts(auth::client_broadcasts::off, 0.001, 1));
  ws_client backend(port_, ws_client::url(service_token()));
  ws_client other(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(backend, "realtime:feed").at("payload").at("status"), "ok");
  ASSERT_EQ(join(other, "realtime:feed").at("payload").at("status"), "ok");
  for (int i = 0; i < 10; ++i) backend.send(v1_broadcast("realtime:feed", "n", "{}", std::to_string(i + 2), "1"));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(other.read_json().at("payload").at("event"), "n");
}

// issue 11, finding 7: 20,000 join/leave cycles left 20,000 empty channels (~895 B each).
class IdleChannels : public gateway_fixture {
 protected:
  static hub::hub_config config() {
    hub::hub_config c;
    c.max_idle_channels = 8;
    return c;
  }
  IdleChannels() : gateway_fixture(config()) {}
};

TEST_F(IdleChannels, JoinLeaveCyclesLeaveAtMostMaxIdleChannelsOldestIdleFreedFirst) {
  gateway_config cfg;
  cfg.limits.joins_per_second = 1e6;
  cfg.limits.join_burst = 1e6;
  start(cfg);
  ws_client c(port_, ws_client::url(token_for("anon")));
  for (int i = 0; i < 40; ++i) {
    const std::string topic = "realtime:cycle" + std::to_string(i);
    ASSERT_EQ(join(c, topic, std::to_string(2 * i + 1)).at("payload").at("status"), "ok");
    c.send(R"({"topic":")" + topic + R"(","event":"phx_leave","payload":{},"ref":")" + std::to_string(2 * i + 2) +
           R"("})");
    c.read_until([&](const json::value& v) { return v.at("event") == "phx_close"; });
  }
  ASSERT_TRUE(wait_for([&] { return hub_.metrics().idle_channels == 8; }));
  const auto m = hub_.metrics();
  EXPECT_EQ(m.channels, 8U);
  EXPECT_EQ(m.channels_evicted, 32U);
  EXPECT_FALSE(hub_.position("cycle0").has_value());
  EXPECT_TRUE(hub_.position("cycle39").has_value());
}

}  // namespace
}  // namespace rtcache::gateway
