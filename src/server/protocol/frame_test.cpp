// Tests for inbound frames: vsn negotiation, 1.0.0 objects, 2.0.0 arrays and binary kind 3, every refusal.
#include "protocol/frame.hpp"

#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace rtcache::protocol {
namespace {

using namespace std::string_literals;
constexpr auto v1 = protocol_version::v1_0_0;
constexpr auto v2 = protocol_version::v2_0_0;

::testing::AssertionResult refused(const core::result<inbound_message>& r, core::errc code,
                                   std::string_view needle = {}) {
  if (r.has_value()) return ::testing::AssertionFailure() << "accepted, topic " << r->topic;
  if (r.error().code != code) {
    return ::testing::AssertionFailure() << "refused with " << core::to_string(r.error().code) << " (\""
                                         << r.error().message << "\"), expected " << core::to_string(code);
  }
  if (!needle.empty() && r.error().message.find(needle) == std::string::npos) {
    return ::testing::AssertionFailure() << "message \"" << r.error().message << "\" lacks \"" << needle << "\"";
  }
  return ::testing::AssertionSuccess();
}

// A kind-3 frame as realtime-js's Serializer._encodeUserBroadcastPush builds it.
std::string kind3(std::string_view join_ref, std::string_view ref, std::string_view topic, std::string_view event,
                  std::string_view meta, unsigned enc, std::string_view payload) {
  std::string f;
  f.push_back('\x03');
  for (auto s : {join_ref, ref, topic, event, meta}) f.push_back(static_cast<char>(s.size()));
  f.push_back(static_cast<char>(enc));
  for (auto s : {join_ref, ref, topic, event, meta, payload}) f.append(s);
  return f;
}

// ---- vsn ---------------------------------------------------------------------------------------------------

TEST(ProtocolVsn, AbsentMeansOneZeroZero) {
  EXPECT_EQ(parse_vsn(std::nullopt).value(), v1);
  EXPECT_EQ(parse_vsn_from_query("apikey=abc&log_level=info").value(), v1);
  EXPECT_EQ(parse_vsn_from_query("").value(), v1);
}

TEST(ProtocolVsn, ReadsBothVersionsFromTheQuery) {
  EXPECT_EQ(parse_vsn_from_query("apikey=abc&vsn=2.0.0").value(), v2);
  EXPECT_EQ(parse_vsn_from_query("vsn=1.0.0&apikey=x").value(), v1);
  EXPECT_EQ(to_string(v2), "2.0.0");
  EXPECT_EQ(to_string(v1), "1.0.0");
}

TEST(ProtocolVsn, RefusesUnknownAndEmptyVersions) {
  for (auto q : {"vsn=3.0.0", "vsn=", "vsn", "apikey=a&vsn=2.0", "vsn=2.0.0x"}) {
    auto r = parse_vsn_from_query(q);
    ASSERT_FALSE(r.has_value()) << q;
    EXPECT_EQ(r.error().code, core::errc::bad_value) << q;
    EXPECT_NE(r.error().message.find("unsupported vsn"), std::string::npos);
  }
}

TEST(ProtocolVsn, DoesNotMistakeAnotherParameterEndingInVsn) {
  EXPECT_EQ(parse_vsn_from_query("xvsn=9&vsn=2.0.0").value(), v2);
}

// ---- 1.0.0 text -----------------------------------------------------------------------------------------------

TEST(ProtocolDecodeV1, ReadsAJoin) {
  auto m = decode_frame(
      v1, R"({"topic":"realtime:room1","event":"phx_join","payload":{"config":{}},"ref":"1","join_ref":"1"})", false);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->topic, "realtime:room1");
  EXPECT_EQ(m->event, "phx_join");
  EXPECT_EQ(m->ref, "1");
  EXPECT_EQ(m->join_ref, "1");
  EXPECT_TRUE(m->payload.contains("config"));
  EXPECT_EQ(classify(*m), client_event::join);
}

TEST(ProtocolDecodeV1, IsLenientAboutMissingOrNullJoinRef) {
  auto a = decode_frame(v1, R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":"5"})", false);
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(a->join_ref.has_value());
  EXPECT_EQ(classify(*a), client_event::heartbeat);
  auto b =
      decode_frame(v1, R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":null,"join_ref":null})", false);
  ASSERT_TRUE(b.has_value());
  EXPECT_FALSE(b->ref.has_value());
}

TEST(ProtocolDecodeV1, IgnoresUnknownEnvelopeKeys) {
  EXPECT_TRUE(decode_frame(v1, R"({"topic":"t","event":"e","payload":{},"ref":"1","extra":[1,2]})", false));
}

TEST(ProtocolDecodeV1, RefusesWrongShapes) {
  EXPECT_TRUE(refused(decode_frame(v1, R"(["1","1","t","e",{}])", false), core::errc::not_object, "1.0.0"));
  EXPECT_TRUE(refused(decode_frame(v1, R"({"event":"e","payload":{}})", false), core::errc::missing_field, "topic"));
  EXPECT_TRUE(refused(decode_frame(v1, R"({"topic":"t","payload":{}})", false), core::errc::missing_field, "event"));
  EXPECT_TRUE(refused(decode_frame(v1, R"({"topic":"t","event":"e"})", false), core::errc::missing_field, "payload"));
  EXPECT_TRUE(
      refused(decode_frame(v1, R"({"topic":1,"event":"e","payload":{}})", false), core::errc::wrong_type, "topic"));
  EXPECT_TRUE(refused(decode_frame(v1, R"({"topic":"t","event":"e","payload":[]})", false), core::errc::not_object));
  EXPECT_TRUE(refused(decode_frame(v1, R"({"topic":"t","event":"e","payload":{},"ref":7})", false),
                      core::errc::wrong_type, "ref"));
  EXPECT_TRUE(refused(decode_frame(v1, R"({"topic":"t","event":"e","payload":{},"join_ref":true})", false),
                      core::errc::wrong_type, "join_ref"));
  EXPECT_TRUE(refused(decode_frame(v1, R"({"topic":"","event":"e","payload":{}})", false), core::errc::empty, "topic"));
}

TEST(ProtocolDecodeV1, RefusesBinaryFrames) {
  EXPECT_TRUE(
      refused(decode_frame(v1, kind3("1", "2", "realtime:a", "e", "", 1, "{}"), true), core::errc::bad_value, "1.0.0"));
}

// ---- 2.0.0 text -----------------------------------------------------------------------------------------------

TEST(ProtocolDecodeV2, ReadsTheArrayEnvelope) {
  auto m = decode_frame(
      v2, R"(["3","4","realtime:room1","broadcast",{"type":"broadcast","event":"e","payload":{"a":1}}])", false);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->join_ref, "3");
  EXPECT_EQ(m->ref, "4");
  EXPECT_EQ(classify(*m), client_event::broadcast);
  auto b = read_client_broadcast(*m);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->event, "e");
  EXPECT_EQ(b->payload, R"({"a":1})");
  EXPECT_EQ(b->encoding, payload_encoding::json);
}

TEST(ProtocolDecodeV2, HeartbeatWithNullJoinRef) {
  auto m = decode_frame(v2, R"([null,"12","phoenix","heartbeat",{}])", false);
  ASSERT_TRUE(m.has_value());
  EXPECT_FALSE(m->join_ref.has_value());
  EXPECT_EQ(m->ref, "12");
  EXPECT_EQ(classify(*m), client_event::heartbeat);
}

TEST(ProtocolDecodeV2, ClassifiesEvents) {
  auto ev = [](std::string_view topic, std::string_view event) {
    return classify(
        decode_frame(v2, "[null,null,\"" + std::string(topic) + "\",\"" + std::string(event) + "\",{}]", false)
            .value());
  };
  EXPECT_EQ(ev("realtime:a", "phx_leave"), client_event::leave);
  EXPECT_EQ(ev("realtime:a", "access_token"), client_event::access_token);
  EXPECT_EQ(ev("realtime:a", "presence"), client_event::presence);
  EXPECT_EQ(ev("realtime:a", "whatever"), client_event::other);
  EXPECT_EQ(ev("phoenix", "phx_join"), client_event::other);
}

TEST(ProtocolDecodeV2, RefusesWrongShapes) {
  EXPECT_TRUE(
      refused(decode_frame(v2, R"({"topic":"t","event":"e","payload":{}})", false), core::errc::wrong_type, "array"));
  EXPECT_TRUE(refused(decode_frame(v2, R"(["1","1","t","e"])", false), core::errc::bad_segment_count, "got 4"));
  EXPECT_TRUE(refused(decode_frame(v2, R"(["1","1","t","e",{},1])", false), core::errc::bad_segment_count, "got 6"));
  EXPECT_TRUE(refused(decode_frame(v2, R"(["1","1",null,"e",{}])", false), core::errc::wrong_type, "topic"));
  EXPECT_TRUE(refused(decode_frame(v2, R"(["1","1","t",5,{}])", false), core::errc::wrong_type, "event"));
  EXPECT_TRUE(refused(decode_frame(v2, R"(["1","1","t","e","str"])", false), core::errc::not_object, "payload"));
  EXPECT_TRUE(refused(decode_frame(v2, R"([1,"1","t","e",{}])", false), core::errc::wrong_type, "join_ref"));
  EXPECT_TRUE(refused(decode_frame(v2, R"(["1","1","t","",{}])", false), core::errc::empty, "event"));
}

TEST(ProtocolDecode, RefusesMalformedJson) {
  EXPECT_TRUE(refused(decode_frame(v2, R"(["1","1","t","e",{}] x)", false), core::errc::bad_json));
  EXPECT_TRUE(refused(decode_frame(v2, R"(["1","1","t","e",{})", false), core::errc::bad_json));
  EXPECT_TRUE(refused(decode_frame(v2, "[\"1\",\"1\",\"t\xff\",\"e\",{}]", false), core::errc::bad_json));
  EXPECT_TRUE(refused(decode_frame(v2, R"(["1","1","t","e",{},])", false), core::errc::bad_json));
}

TEST(ProtocolDecode, RefusesNumbersOutsideADouble) {
  EXPECT_TRUE(
      refused(decode_frame(v2, R"(["1","1","t","e",{"n":1e400}])", false), core::errc::bad_value, "out of range"));
}

TEST(ProtocolDecode, RefusesNestingBeyondTheDepthBound) {
  decode_limits limits;
  limits.max_json_depth = 4;
  // The envelope array is level 1.
  EXPECT_TRUE(refused(decode_frame(v2, R"(["1","1","t","e",{"a":{"b":{"c":{"d":1}}}}])", false, limits),
                      core::errc::bad_json, "deeper than 4"));
  EXPECT_TRUE(decode_frame(v2, R"(["1","1","t","e",{"a":{"b":{"c":1}}}])", false, limits).has_value());
}

TEST(ProtocolDecode, RefusesFramesOverTheSizeBoundAndAcceptsOneAtIt) {
  decode_limits limits;
  const std::string frame = R"(["1","1","t","e",{"k":"vvvv"}])";
  limits.max_frame_bytes = frame.size();
  EXPECT_TRUE(decode_frame(v2, frame, false, limits).has_value());
  limits.max_frame_bytes = frame.size() - 1;
  EXPECT_TRUE(refused(decode_frame(v2, frame, false, limits), core::errc::too_long, "bound"));
}

TEST(ProtocolDecode, RefusesEmptyFrames) {
  EXPECT_TRUE(refused(decode_frame(v2, "", false), core::errc::empty));
  EXPECT_TRUE(refused(decode_frame(v2, "", true), core::errc::empty));
}

TEST(ProtocolDecode, RefusesFieldsOver255Bytes) {
  const std::string long_topic(256, 't');
  EXPECT_TRUE(
      refused(decode_frame(v2, R"(["1","1",")" + long_topic + R"(","e",{}])", false), core::errc::too_long, "topic"));
  EXPECT_TRUE(decode_frame(v2, R"(["1","1",")" + long_topic.substr(1) + R"(","e",{}])", false).has_value());
  EXPECT_TRUE(refused(
      decode_frame(v1, R"({"topic":"t","event":"e","payload":{},"ref":")" + std::string(256, '1') + "\"}", false),
      core::errc::too_long, "ref"));
}

// ---- 2.0.0 binary kind 3 ---------------------------------------------------------------------------------------

TEST(ProtocolDecodeKind3, ReadsAJsonBroadcastAsTheTextFormWouldCarryIt) {
  auto m = decode_frame(v2, kind3("1", "2", "realtime:room1", "cursor", "", 1, R"({"x":1,"y":2})"), true);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->join_ref, "1");
  EXPECT_EQ(m->ref, "2");
  EXPECT_EQ(m->topic, "realtime:room1");
  EXPECT_EQ(m->event, "broadcast");
  EXPECT_EQ(boost::json::serialize(m->payload), R"({"type":"broadcast","event":"cursor","payload":{"x":1,"y":2}})");
  auto b = read_client_broadcast(*m);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->event, "cursor");
  EXPECT_EQ(b->payload, R"({"x":1,"y":2})");  // exactly as sent, not re-serialized
  EXPECT_EQ(b->encoding, payload_encoding::json);
}

TEST(ProtocolDecodeKind3, EmptyRefsMeanNoRef) {
  auto m = decode_frame(v2, kind3("", "", "realtime:a", "e", "", 1, "{}"), true);
  ASSERT_TRUE(m.has_value());
  EXPECT_FALSE(m->join_ref.has_value());
  EXPECT_FALSE(m->ref.has_value());
}

TEST(ProtocolDecodeKind3, KeepsRawBinaryPayloadBytes) {
  const std::string bytes("\x00\xff\x01\x80", 4);
  auto m = decode_frame(v2, kind3("1", "2", "realtime:a", "blob", "", 0, bytes), true);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_FALSE(m->payload.contains("payload"));
  auto b = read_client_broadcast(*m);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->encoding, payload_encoding::binary);
  EXPECT_EQ(b->payload, bytes);
}

TEST(ProtocolDecodeKind3, MergesMetaKeysIntoThePayload) {
  auto m = decode_frame(v2, kind3("1", "2", "realtime:a", "e", R"({"private":true,"event":"spoof"})", 1, "[1]"), true);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  EXPECT_EQ(m->payload.at("private"), true);
  EXPECT_EQ(m->payload.at("event"), "e");  // the frame's own event wins over meta
}

TEST(ProtocolDecodeKind3, RefusesEveryMalformedFrame) {
  EXPECT_TRUE(refused(decode_frame(v2, std::string("\x04\x01\x01\x00\x01", 5) + "ae{}", true), core::errc::bad_value,
                      "kind 4"));
  EXPECT_TRUE(refused(decode_frame(v2, std::string("\x03\x01\x01", 3), true), core::errc::bad_value, "header"));
  EXPECT_TRUE(refused(decode_frame(v2, kind3("1", "2", "realtime:a", "e", "", 2, "{}"), true), core::errc::bad_value,
                      "encoding 2"));
  std::string truncated = kind3("1", "2", "realtime:a", "e", "", 1, "");
  truncated.pop_back();
  EXPECT_TRUE(refused(decode_frame(v2, truncated, true), core::errc::bad_value, "truncated"));
  EXPECT_TRUE(refused(decode_frame(v2, kind3("1", "2", "realtime:a", "e", "[1]", 1, "{}"), true), core::errc::bad_value,
                      "meta must be a JSON object"));
  EXPECT_TRUE(
      refused(decode_frame(v2, kind3("1", "2", "realtime:a", "e", "{", 1, "{}"), true), core::errc::bad_json, "meta"));
  EXPECT_TRUE(refused(decode_frame(v2, kind3("1", "2", "realtime:a", "e", "", 1, "{x"), true), core::errc::bad_json,
                      "payload"));
  EXPECT_TRUE(refused(decode_frame(v2, kind3("1", "2", "realtime:\xff", "e", "", 1, "{}"), true), core::errc::bad_char,
                      "topic"));
  EXPECT_TRUE(refused(decode_frame(v2, kind3("1", "2", "", "e", "", 1, "{}"), true), core::errc::empty, "topic"));
  EXPECT_TRUE(
      refused(decode_frame(v2, kind3("1", "2", "realtime:a", "", "", 1, "{}"), true), core::errc::empty, "event"));
}

TEST(ProtocolReadBroadcast, RefusesNonBroadcastsAndBadShapes) {
  auto m = decode_frame(v2, R"(["1","1","realtime:a","presence",{}])", false).value();
  EXPECT_EQ(read_client_broadcast(m).error().code, core::errc::bad_value);
  m = decode_frame(v2, R"(["1","1","realtime:a","broadcast",{"type":"broadcast"}])", false).value();
  EXPECT_EQ(read_client_broadcast(m).error().code, core::errc::missing_field);
  m = decode_frame(v2, R"(["1","1","realtime:a","broadcast",{"event":3}])", false).value();
  EXPECT_EQ(read_client_broadcast(m).error().code, core::errc::wrong_type);
  m = decode_frame(v2, R"(["1","1","realtime:a","broadcast",{"type":"presence","event":"e"}])", false).value();
  EXPECT_EQ(read_client_broadcast(m).error().code, core::errc::bad_value);
}

TEST(ProtocolReadBroadcast, MissingUserPayloadIsAnEmptyObject) {
  auto m = decode_frame(
               v1, R"({"topic":"realtime:a","event":"broadcast","payload":{"type":"broadcast","event":"e"},"ref":"1"})",
               false)
               .value();
  EXPECT_EQ(read_client_broadcast(m).value().payload, "{}");
}

TEST(ProtocolReplyTo, CopiesRefsAndTopicOfTheMessage) {
  auto m = decode_frame(v2, R"(["7","9","realtime:a","phx_leave",{}])", false).value();
  const reply_to to = reply_to::of(m);
  EXPECT_EQ(to.join_ref, "7");
  EXPECT_EQ(to.ref, "9");
  EXPECT_EQ(to.topic, "realtime:a");
}

}  // namespace
}  // namespace rtcache::protocol
