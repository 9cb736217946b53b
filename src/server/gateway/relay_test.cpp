// Relay routing and the broadcast encoder, without sockets.
#include "rtcache/net/gateway_relay.hpp"

#include <gtest/gtest.h>

#include <mutex>

namespace rtcache::net {
namespace {

core::event ev(std::string id, std::string factory, core::action a = core::action::update) {
  core::event e;
  e.type = "wo";
  e.id = std::move(id);
  e.factory_id = std::move(factory);
  e.act = a;
  return e;
}

TEST(GatewayRelay, RowEventsGoToDocAndListSummariesToFactory) {
  EXPECT_EQ(channels_for(ev("1", "A")), (std::vector<std::string>{"doc:wo:1", "list:wo:A"}));
  auto summary = ev("*", "A", core::action::create);
  summary.count = 3;
  EXPECT_EQ(channels_for(summary), (std::vector<std::string>{"factory:A"}));
}

TEST(GatewayRelay, EncoderPutsTheChannelOffsetIntoTheContractPayload) {
  const auto encode = make_broadcast_encoder();
  const auto e = ev("1", "A");
  const auto frames = encode(hub_encode_request{"doc:wo:1", 42, "invalidate", "", &e, false});
  EXPECT_EQ(frames.v1_text,
            R"({"topic":"realtime:doc:wo:1","event":"broadcast","payload":{"type":"broadcast","event":"invalidate",)"
            R"("payload":{"type":"wo","id":"1","factoryId":"A","action":"update","offset":42}},"ref":null})");
  EXPECT_FALSE(frames.v2_text.empty());
  EXPECT_EQ(frames.v2_binary[0], '\x04');
}

TEST(GatewayRelay, RawPayloadIsBinaryOnly) {
  const auto frames = make_broadcast_encoder()(hub_encode_request{"room", 1, "bin", "\x01\x02", nullptr, true});
  EXPECT_TRUE(frames.v1_text.empty());
  EXPECT_TRUE(frames.v2_text.empty());
  EXPECT_FALSE(frames.v2_binary.empty());
}

struct collector final : hub_subscriber {
  void deliver(const hub_message_ptr& m) noexcept override {
    std::lock_guard lock(mu);
    got.push_back(m);
  }
  std::mutex mu;
  std::vector<hub_message_ptr> got;
};

TEST(GatewayRelay, PublishedEventsCarryTheirFactoryAsMessageScope) {
  hub h({}, make_broadcast_encoder(), counter_epochs("e"));
  relay r(h, core::doc_type_registry::defaults());
  auto c = std::make_shared<collector>();
  auto j = h.subscribe("list:wo:A", c);
  const auto out = r.publish_events(R"([{"type":"wo","id":"1","factoryId":"A","action":"create"},{"type":"zz"}])");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->accepted, 1U);
  ASSERT_EQ(out->refused.size(), 1U);
  EXPECT_EQ(out->refused[0].index, 1U);
  ASSERT_EQ(c->got.size(), 1U);
  EXPECT_EQ(c->got[0]->meta.factory_id, "A");
  EXPECT_EQ(c->got[0]->meta.origin, 0U);
}

TEST(GatewayRelay, EventsMustNotCarryAnOffset) {
  hub h({}, make_broadcast_encoder(), counter_epochs("e"));
  relay r(h, core::doc_type_registry::defaults());
  const auto out = r.publish_events(R"({"type":"wo","id":"1","factoryId":"A","action":"create","offset":3})");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->accepted, 0U);
  ASSERT_EQ(out->refused.size(), 1U);
  EXPECT_EQ(out->to_json(),
            R"({"accepted":0,"refused":[{"index":0,"code":"bad_value","reason":"offset: assigned by the server, must not be sent"}]})");
}

TEST(GatewayRelay, RestBroadcastToContractChannelsNeedsServiceRole) {
  hub h({}, make_broadcast_encoder(), counter_epochs("e"));
  relay r(h, core::doc_type_registry::defaults());
  const auto body = R"({"messages":[{"topic":"doc:wo:1","event":"invalidate","payload":{}},{"topic":"room","event":"e"}]})";
  const auto anon = r.publish_broadcasts(body, false);
  ASSERT_TRUE(anon.has_value());
  EXPECT_EQ(anon->accepted, 1U);
  ASSERT_EQ(anon->refused.size(), 1U);
  EXPECT_EQ(anon->refused[0].code, "not_allowed");
  EXPECT_EQ(r.publish_broadcasts(body, true)->accepted, 2U);
  EXPECT_FALSE(r.publish_broadcasts(R"({"msgs":[]})", true).has_value());
}

}  // namespace
}  // namespace rtcache::net
