// Relay routing and the broadcast encoder, without sockets.
#include "ingest/relay.hpp"

#include "protocol/frame.hpp"
#include "protocol/join.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace rtcache::ingest {
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
  const auto frames = encode(hub::hub_encode_request{"doc:wo:1", 42, "invalidate", "", &e, false});
  EXPECT_EQ(frames.v1_text,
            R"({"topic":"realtime:doc:wo:1","event":"broadcast","payload":{"type":"broadcast","event":"invalidate",)"
            R"("payload":{"type":"wo","id":"1","factoryId":"A","action":"update","offset":42}},"ref":null})");
  EXPECT_EQ(frames.v2_text, R"([null,null,"realtime:doc:wo:1","broadcast",{"type":"broadcast","event":"invalidate",)"
                            R"("payload":{"type":"wo","id":"1","factoryId":"A","action":"update","offset":42}}])");
}

// The frames protocol's encode_broadcast builds for the same message: what the encoder must reproduce byte
// for byte, whichever path it takes.
protocol::broadcast_frames reference_frames(std::string_view channel, std::uint64_t offset, std::string_view event,
                                            std::string_view payload_json, const core::event* contract) {
  const std::string topic = std::string(protocol::k_topic_prefix) + std::string(channel);
  std::string payload(payload_json);
  if (contract != nullptr) {
    core::event e = *contract;
    e.offset = offset;
    payload = core::encode(e);
  }
  return protocol::encode_broadcast({.topic = topic, .event = event, .payload = payload}).value();
}

core::event rich_event() {
  core::event e = ev("wo-7", "f1", core::action::approve);
  e.changed_keys = std::vector<std::string>{"qty", "status"};
  e.version = 12;
  e.ts = "2026-11-25T10:00:00Z";
  // A patch value that is an object with a count member must not fool the offset splice.
  e.patch =
      std::vector<core::patch_entry>{{"meta", R"({"a":1,"count":2})"}, {"note", R"("x,\"count\":9")"}, {"qty", "5"}};
  return e;
}

TEST(GatewayRelay, EncoderFramesEqualTheProtocolEncodingOfTheEventWithItsOffset) {
  const auto encode = make_broadcast_encoder();
  auto summary = ev("*", "f1", core::action::create);
  summary.count = 1000;
  auto counted_patch = rich_event();
  counted_patch.id = "*";
  counted_patch.count = 3;  // count after a patch whose value mentions count
  for (const core::event& e : {ev("1", "A"), rich_event(), summary, counted_patch}) {
    for (const std::uint64_t offset : {std::uint64_t{1}, std::uint64_t{987654321}, UINT64_MAX}) {
      const auto want = reference_frames("list:wo:f1", offset, "invalidate", "", &e);
      const auto got = encode(hub::hub_encode_request{"list:wo:f1", offset, "invalidate", "", &e, false});
      EXPECT_EQ(got.v1_text, want.v1_text) << core::encode(e);
      EXPECT_EQ(got.v2_text, want.v2_text) << core::encode(e);
      // The publisher's own encoding of the event (hub_sink encodes once for all of a row's channels).
      const std::string encoded = core::encode(e);
      const auto spliced = encode(hub::hub_encode_request{"list:wo:f1", offset, "invalidate", encoded, &e, false});
      EXPECT_EQ(spliced.v1_text, want.v1_text) << encoded;
      EXPECT_EQ(spliced.v2_text, want.v2_text) << encoded;
    }
  }
}

TEST(GatewayRelay, EncoderFramesEqualTheProtocolEncodingOfJsonBroadcasts) {
  const auto encode = make_broadcast_encoder();
  struct sample {
    std::string channel, event, payload;
  };
  const std::vector<sample> samples{
      {"room1", "cursor", R"({"x":1,"y":[1,2]})"},
      {"room \"quoted\"", "ev\\ent", "{}"},     // needs escaping: the general path
      {"caf\xC3\xA9", "\x01ctl", R"("text")"},  // non-ASCII and a control byte
      {"bad\xFFutf8", "e", "[]"},               // invalid UTF-8 becomes U+FFFD, as the protocol does
  };
  for (const auto& s : samples) {
    const auto got = encode(hub::hub_encode_request{s.channel, 5, s.event, s.payload, nullptr, false});
    const auto want = reference_frames(s.channel, 5, s.event, s.payload, nullptr);
    EXPECT_EQ(got.v1_text, want.v1_text) << s.channel;
    EXPECT_EQ(got.v2_text, want.v2_text) << s.channel;
  }
}

TEST(GatewayRelay, JsonBroadcastsHaveNoBinaryFrameSinceSessionsSendThemAsText) {
  const auto e = ev("1", "A");
  const auto contract = make_broadcast_encoder()(hub::hub_encode_request{"doc:wo:1", 1, "invalidate", "", &e, false});
  EXPECT_TRUE(contract.v2_binary.empty());
  const auto plain = make_broadcast_encoder()(hub::hub_encode_request{"room", 1, "ev", "{}", nullptr, false});
  EXPECT_TRUE(plain.v2_binary.empty());
  EXPECT_EQ(plain.size_bytes(), plain.v1_text.size() + plain.v2_text.size());
}

TEST(GatewayRelay, EncoderSetsTheChannelOffsetEvenWhenTheEventCarriesOne) {
  auto e = ev("1", "A");
  e.offset = 3;
  const auto got = make_broadcast_encoder()(hub::hub_encode_request{"doc:wo:1", 8, "invalidate", "", &e, false});
  EXPECT_EQ(got.v2_text, reference_frames("doc:wo:1", 8, "invalidate", "", &e).v2_text);
  EXPECT_NE(got.v2_text.find(R"("offset":8})"), std::string::npos);
}

TEST(GatewayRelay, EncoderRefusesTopicsAndEventsAKindFourFrameCannotHold) {
  const auto encode = make_broadcast_encoder();
  const std::string name_fits(255 - protocol::k_topic_prefix.size(), 'a');
  EXPECT_NO_THROW(encode(hub::hub_encode_request{name_fits, 1, "e", "{}", nullptr, false}));
  const std::string name_too_long(256 - protocol::k_topic_prefix.size(), 'a');
  try {
    encode(hub::hub_encode_request{name_too_long, 1, "e", "{}", nullptr, false});
    ADD_FAILURE() << "a 256-byte topic was framed";
  } catch (const core::error_exception& x) {
    EXPECT_EQ(x.err().code, core::errc::too_long);
  }
  EXPECT_THROW(encode(hub::hub_encode_request{"room", 1, std::string(256, 'e'), "{}", nullptr, false}),
               core::error_exception);
}

TEST(GatewayRelay, RawPayloadIsBinaryOnly) {
  const auto frames = make_broadcast_encoder()(hub::hub_encode_request{"room", 1, "bin", "\x01\x02", nullptr, true});
  EXPECT_TRUE(frames.v1_text.empty());
  EXPECT_TRUE(frames.v2_text.empty());
  EXPECT_FALSE(frames.v2_binary.empty());
}

struct collector final : hub::hub_subscriber {
  void deliver(const hub::hub_message_ptr& m) noexcept override {
    std::lock_guard lock(mu);
    got.push_back(m);
  }
  std::mutex mu;
  std::vector<hub::hub_message_ptr> got;
};

TEST(GatewayRelay, PublishedEventsCarryTheirFactoryAsMessageScope) {
  hub::hub h({}, make_broadcast_encoder(), hub::counter_epochs("e"));
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
  hub::hub h({}, make_broadcast_encoder(), hub::counter_epochs("e"));
  relay r(h, core::doc_type_registry::defaults());
  const auto out = r.publish_events(R"({"type":"wo","id":"1","factoryId":"A","action":"create","offset":3})");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->accepted, 0U);
  ASSERT_EQ(out->refused.size(), 1U);
  EXPECT_EQ(
      out->to_json(),
      R"({"accepted":0,"refused":[{"index":0,"code":"bad_value","reason":"offset: assigned by the server, must not be sent"}]})");
}

auth::principal as(auth::auth_role role) {
  return auth::principal{
      role, role == auth::auth_role::service_role ? core::factory_scope::unscoped() : core::factory_scope::of({"A"}),
      std::chrono::sys_seconds{}, "u1"};
}

// issue 11, finding 1: a service_role broadcast on doc:wo:1 carried no factory and reached every factory.
TEST(GatewayRelay, RestBroadcastToContractChannelsNeedsServiceRoleAndAFactory) {
  hub::hub h({}, make_broadcast_encoder(), hub::counter_epochs("e"));
  relay r(h, core::doc_type_registry::defaults());
  const auth::channel_access access =
      auth::channel_access::create({false, auth::client_broadcasts::public_only, {}}).value();
  const auto body = R"({"messages":[{"topic":"doc:wo:1","event":"invalidate","payload":{}},)"
                    R"({"topic":"doc:wo:1","event":"invalidate","payload":{"factoryId":"A"}},)"
                    R"({"topic":"list:wo:A","event":"invalidate","payload":{"factoryId":"B"}},)"
                    R"({"topic":"list:wo:A","event":"invalidate"},{"topic":"room","event":"e"}]})";
  const auto anon = r.publish_broadcasts(body, as(auth::auth_role::anon), access);
  ASSERT_TRUE(anon.has_value());
  EXPECT_EQ(anon->accepted, 1U);  // the room
  ASSERT_EQ(anon->refused.size(), 4U);
  for (const auto& refusal : anon->refused) EXPECT_EQ(refusal.code, "not_allowed");
  const auto service = r.publish_broadcasts(body, as(auth::auth_role::service_role), access);
  ASSERT_TRUE(service.has_value());
  EXPECT_EQ(service->accepted, 3U);
  ASSERT_EQ(service->refused.size(), 2U);
  EXPECT_EQ(service->refused[0].index, 0U);
  EXPECT_EQ(service->refused[0].code, "missing_field");
  EXPECT_NE(service->refused[0].reason.find("must name its factory"), std::string::npos) << service->refused[0].reason;
  EXPECT_EQ(service->refused[1].index, 2U);
  EXPECT_EQ(service->refused[1].code, "bad_value");
  EXPECT_FALSE(r.publish_broadcasts(R"({"msgs":[]})", as(auth::auth_role::service_role), access).has_value());
}

// What a relay put into a target, copied (a relay_message's views end with put()).
struct put_copy {
  std::string channel, event, payload, factory;
  bool raw = false;
  std::optional<core::event> contract;
  std::uint64_t origin = 0;
  friend bool operator==(const put_copy&, const put_copy&) = default;
};

struct recording_target final : relay_target {
  std::uint64_t put(const relay_message& m) override {
    seen.push_back({std::string(m.channel), std::string(m.event), std::string(m.payload), std::string(m.factory), m.raw,
                    m.contract ? std::optional<core::event>(*m.contract) : std::nullopt, m.origin});
    return 0;
  }
  std::vector<put_copy> seen;
};

// A cluster node's target gets exactly what the hub would have been given, in order, and nothing the relay refused:
// a topic too long to frame is refused before any target sees it.
TEST(GatewayRelay, BroadcastsGoIntoTheTargetInOrderAndRefusedOnesNever) {
  hub::hub h({}, make_broadcast_encoder(), hub::counter_epochs("e"));
  relay r(h, core::doc_type_registry::defaults());
  const auth::channel_access access =
      auth::channel_access::create({false, auth::client_broadcasts::public_only, {}}).value();
  const std::string long_topic(250, 'r');  // within the topic field's 255 bytes, "realtime:" + it is not
  const std::string body = R"({"messages":[{"topic":"room","event":"e","payload":{"a":1}},)"
                           R"({"topic":")" +
                           long_topic +
                           R"(","event":"e","payload":{}},)"
                           R"({"topic":"list:wo:A","event":"n","payload":{}},)"
                           R"({"topic":"doc:wo:1","event":"n","payload":{}}]})";
  recording_target to;
  const auto out = r.publish_broadcasts(to, body, as(auth::auth_role::service_role), access);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->accepted, 2U);
  ASSERT_EQ(out->refused.size(), 2U);
  EXPECT_EQ(out->refused[0].index, 1U);
  EXPECT_EQ(out->refused[0].code, "too_long");
  EXPECT_NE(out->refused[0].reason.find("259 bytes"), std::string::npos) << out->refused[0].reason;
  EXPECT_EQ(out->refused[1].index, 3U);
  EXPECT_EQ(to.seen, (std::vector<put_copy>{{"room", "e", R"({"a":1})", "", false, std::nullopt, 0},
                                            {"list:wo:A", "n", "{}", "A", false, std::nullopt, 0}}));
  EXPECT_EQ(h.metrics().messages_published, 0U) << "the target is the only place it went";
  // The same body into the hub answers the same.
  EXPECT_EQ(r.publish_broadcasts(body, as(auth::auth_role::service_role), access)->to_json(), out->to_json());
}

// What the encoder refuses is refused before a message is put anywhere, with the encoder's error.
TEST(GatewayRelay, AMessageThatCannotBeFramedIsRefusedBeforeTheTargetSeesIt) {
  EXPECT_TRUE(check_frameable(std::string(246, 'r'), std::string(255, 'e')));
  EXPECT_EQ(check_frameable(private_hub_channel(std::string(247, 'r')), "e").error(),
            (core::error{core::errc::too_long, "broadcast topic is 256 bytes; a kind-4 frame holds at most 255"}));
  EXPECT_EQ(check_frameable("room", std::string(256, 'e')).error().code, core::errc::too_long);
  recording_target to;
  const std::string event(256, 'e');
  const auto put = put_message(to, relay_message{"room", event, "{}", "", false, nullptr, 7});
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().message, "broadcast event is 256 bytes; a kind-4 frame holds at most 255");
  EXPECT_TRUE(to.seen.empty());
  const auto encode = make_broadcast_encoder();
  try {
    (void)encode(hub::hub_encode_request{"room", 1, event, "{}", nullptr, false});
    ADD_FAILURE() << "the encoder framed an event of 256 bytes";
  } catch (const core::error_exception& e) {
    EXPECT_EQ(e.err(), put.error());
  }
}

TEST(GatewayRelay, EventsGoIntoTheTargetOncePerChannelWithTheEvent) {
  hub::hub h({}, make_broadcast_encoder(), hub::counter_epochs("e"));
  relay r(h, core::doc_type_registry::defaults());
  recording_target to;
  const auto out = r.publish_events(to, R"([{"type":"wo","id":"1","factoryId":"A","action":"create"},{"type":"zz"}])");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->accepted, 1U);
  EXPECT_EQ(out->deliveries, 0U);
  const core::event e = ev("1", "A", core::action::create);
  EXPECT_EQ(to.seen, (std::vector<put_copy>{{"doc:wo:1", "invalidate", "", "A", false, e, 0},
                                            {"list:wo:A", "invalidate", "", "A", false, e, 0}}));
  EXPECT_FALSE(r.publish_events(to, "[").has_value());
  EXPECT_EQ(to.seen.size(), 2U) << "a malformed document puts nothing";
}

TEST(GatewayRelay, ContractBroadcastFactoryIsImpliedByListAndFactoryTopicsAndNamedOnDocTopics) {
  using core::channel_key;
  EXPECT_EQ(contract_broadcast_factory(channel_key::list("wo", "A"), "{}", false).value(), "A");
  EXPECT_EQ(contract_broadcast_factory(channel_key::factory("A"), R"({"factoryId":"A"})", false).value(), "A");
  EXPECT_EQ(contract_broadcast_factory(channel_key::factory("A"), "raw bytes", true).value(), "A");
  EXPECT_EQ(contract_broadcast_factory(channel_key::doc("wo", "1"), R"({"factoryId":"B","x":1})", false).value(), "B");
  EXPECT_EQ(contract_broadcast_factory(channel_key::doc("wo", "1"), "{}", false).error().code,
            core::errc::missing_field);
  EXPECT_EQ(contract_broadcast_factory(channel_key::doc("wo", "1"), R"({"factoryId":"B"})", true).error().code,
            core::errc::missing_field);
  EXPECT_EQ(contract_broadcast_factory(channel_key::doc("wo", "1"), "[1]", false).error().code,
            core::errc::missing_field);
  EXPECT_EQ(contract_broadcast_factory(channel_key::doc("wo", "1"), R"({"factoryId":7})", false).error().code,
            core::errc::wrong_type);
  EXPECT_FALSE(contract_broadcast_factory(channel_key::doc("wo", "1"), R"({"factoryId":"a b"})", false));
  EXPECT_EQ(contract_broadcast_factory(channel_key::list("wo", "A"), R"({"factoryId":"B"})", false).error().code,
            core::errc::bad_value);
}

TEST(GatewayRelay, PrivateChannelsAreDistinctHubChannelsFramedUnderTheirPlainTopic) {
  EXPECT_NE(private_hub_channel("room1"), "room1");
  EXPECT_EQ(client_channel_name(private_hub_channel("room1")), "room1");
  EXPECT_FALSE(
      protocol::channel_name_of("realtime:" + private_hub_channel("room1")).has_value());  // no client can name it
  const auto encode = make_broadcast_encoder();
  const auto frames =
      encode(hub::hub_encode_request{private_hub_channel("room1"), 1, "e", R"({"a":1})", nullptr, false});
  EXPECT_EQ(frames.v1_text,
            R"({"topic":"realtime:room1","event":"broadcast","payload":{"type":"broadcast","event":"e",)"
            R"("payload":{"a":1}},"ref":null})");
}

}  // namespace
}  // namespace rtcache::ingest
