// Tests for outbound frames: exact bytes of every reply, push and broadcast form, in both versions.
#include "protocol/frame.hpp"
#include "protocol/text.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

namespace rtcache::protocol {
namespace {

constexpr auto v1 = protocol_version::v1_0_0;
constexpr auto v2 = protocol_version::v2_0_0;

TEST(ProtocolEncode, ReplyOkEchoesRefAndJoinRefInV2) {
  const reply_to to{"1", "1", "realtime:room1"};
  EXPECT_EQ(encode_reply_ok(v2, to), R"(["1","1","realtime:room1","phx_reply",{"status":"ok","response":{}}])");
}

TEST(ProtocolEncode, V1EnvelopeCarriesNoJoinRef) {
  const reply_to to{"1", "2", "realtime:room1"};
  EXPECT_EQ(encode_reply_ok(v1, to),
            R"({"topic":"realtime:room1","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"2"})");
}

TEST(ProtocolEncode, ReplyErrorCarriesTheReason) {
  const reply_to to{"3", "4", "realtime:x"};
  EXPECT_EQ(
      encode_reply_error(v2, to, "Unauthorized: \"bad\" token"),
      R"(["3","4","realtime:x","phx_reply",{"status":"error","response":{"reason":"Unauthorized: \"bad\" token"}}])");
}

TEST(ProtocolEncode, ReplyOfAMessageWithoutJoinRefUsesNull) {
  const reply_to to{std::nullopt, "4", "realtime:x"};
  EXPECT_EQ(encode_reply_ok(v2, to, R"({"a":1})"),
            R"([null,"4","realtime:x","phx_reply",{"status":"ok","response":{"a":1}}])");
}

TEST(ProtocolEncode, HeartbeatReplyAnswersOnThePhoenixTopic) {
  EXPECT_EQ(encode_heartbeat_reply(v2, "12"), R"([null,"12","phoenix","phx_reply",{"status":"ok","response":{}}])");
  EXPECT_EQ(encode_heartbeat_reply(v1, "12"),
            R"({"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"12"})");
}

TEST(ProtocolEncode, SystemSubscribedMessageMatchesSupabase) {
  EXPECT_EQ(
      encode_postgres_subscribed(v2, "1", "realtime:room1", "room1"),
      R"(["1",null,"realtime:room1","system",{"extension":"postgres_changes","status":"ok","message":"Subscribed to PostgreSQL","channel":"room1"}])");
}

TEST(ProtocolEncode, SystemErrorMessage) {
  EXPECT_EQ(
      encode_system(v1, "1", "realtime:room1", "system", false, "Token has expired", "room1"),
      R"({"topic":"realtime:room1","event":"system","payload":{"extension":"system","status":"error","message":"Token has expired","channel":"room1"},"ref":null})");
}

TEST(ProtocolEncode, CloseAndErrorUseTheJoinRefAsRef) {
  EXPECT_EQ(encode_close(v2, "5", "realtime:a"), R"(["5","5","realtime:a","phx_close",{}])");
  EXPECT_EQ(encode_channel_error(v2, "5", "realtime:a"), R"(["5","5","realtime:a","phx_error",{}])");
  EXPECT_EQ(encode_close(v1, "5", "realtime:a"),
            R"({"topic":"realtime:a","event":"phx_close","payload":{},"ref":"5"})");
}

TEST(ProtocolEncode, PostgresChangesPushIsAFanOutWithIdsAndSharedData) {
  const std::array<std::int64_t, 2> ids{17, 2147483647};
  const std::string data = R"({"schema":"public","table":"t","type":"INSERT","record":{"id":1},"errors":null})";
  EXPECT_EQ(encode_postgres_changes(v2, "realtime:a", ids, data),
            R"([null,null,"realtime:a","postgres_changes",{"ids":[17,2147483647],"data":)" + data + "}]");
  EXPECT_EQ(encode_postgres_changes(v1, "realtime:a", {}, "{}"),
            R"({"topic":"realtime:a","event":"postgres_changes","payload":{"ids":[],"data":{}},"ref":null})");
}

TEST(ProtocolEncode, EscapesStringsAndReplacesInvalidUtf8) {
  const reply_to to{"1", "1", "realtime:a"};
  const std::string frame = encode_reply_error(v2, to, std::string("a\nb\x01\"\\\xff\xc3\xa9", 9));
  EXPECT_EQ(frame,
            "[\"1\",\"1\",\"realtime:a\",\"phx_reply\",{\"status\":\"error\",\"response\":{\"reason\":"
            "\"a\\nb\\u0001\\\"\\\\\xEF\xBF\xBD\xc3\xa9\"}}]");
  boost::system::error_code ec;
  boost::json::parse(frame, ec);
  EXPECT_FALSE(ec) << ec.message();
}

TEST(ProtocolText, ValidatesUtf8) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));          // truncated
}

// ---- broadcast ---------------------------------------------------------------------------------------------------

TEST(ProtocolBroadcast, Kind4FrameHasExactBytes) {
  auto f = encode_broadcast({.topic = "realtime:room1", .event = "cursor", .payload = R"({"x":1})"});
  ASSERT_TRUE(f.has_value()) << f.error().message;
  const std::string expected = std::string("\x04\x0e\x06\x00\x01", 5) + "realtime:room1" + "cursor" + R"({"x":1})";
  EXPECT_EQ(f->v2_binary, expected);
}

TEST(ProtocolBroadcast, Kind4FrameCarriesMeta) {
  auto f = encode_broadcast(
      {.topic = "realtime:r", .event = "e", .payload = "[]", .meta_json = R"({"id":"m1","replayed":true})"});
  ASSERT_TRUE(f.has_value());
  const std::string expected =
      std::string("\x04\x0a\x01\x1b\x01", 5) + "realtime:r" + "e" + R"({"id":"m1","replayed":true})" + "[]";
  EXPECT_EQ(f->v2_binary, expected);
  EXPECT_EQ(
      f->v2_text,
      R"([null,null,"realtime:r","broadcast",{"type":"broadcast","event":"e","payload":[],"meta":{"id":"m1","replayed":true}}])");
}

TEST(ProtocolBroadcast, TextFormsForBothVersions) {
  auto f = encode_broadcast({.topic = "realtime:room1", .event = "invalidate", .payload = R"({"type":"wo","id":"1"})"});
  ASSERT_TRUE(f.has_value());
  EXPECT_TRUE(f->has_text());
  EXPECT_EQ(
      f->v2_text,
      R"([null,null,"realtime:room1","broadcast",{"type":"broadcast","event":"invalidate","payload":{"type":"wo","id":"1"}}])");
  EXPECT_EQ(
      f->v1_text,
      R"({"topic":"realtime:room1","event":"broadcast","payload":{"type":"broadcast","event":"invalidate","payload":{"type":"wo","id":"1"}},"ref":null})");
}

TEST(ProtocolBroadcast, RawBinaryPayloadHasOnlyTheBinaryForm) {
  const std::string bytes("\x00\x01\xff", 3);
  auto f =
      encode_broadcast({.topic = "realtime:a", .event = "b", .payload = bytes, .encoding = payload_encoding::binary});
  ASSERT_TRUE(f.has_value());
  EXPECT_FALSE(f->has_text());
  EXPECT_TRUE(f->v2_text.empty());
  EXPECT_EQ(f->v2_binary, std::string("\x04\x0a\x01\x00\x00", 5) + "realtime:a" + "b" + bytes);
}

TEST(ProtocolBroadcast, RefusesFieldsOver255BytesAndAcceptsExactly255) {
  const std::string topic255 = "realtime:" + std::string(246, 'x');
  ASSERT_EQ(topic255.size(), 255u);
  EXPECT_TRUE(encode_broadcast({.topic = topic255, .event = "e", .payload = "{}"}).has_value());
  const std::string topic256 = topic255 + "x";
  auto t = encode_broadcast({.topic = topic256, .event = "e", .payload = "{}"});
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().code, core::errc::too_long);
  EXPECT_NE(t.error().message.find("topic"), std::string::npos);
  const std::string long_event(256, 'e');
  auto e = encode_broadcast({.topic = "realtime:a", .event = long_event, .payload = "{}"});
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("event"), std::string::npos);
  const std::string long_meta = R"({"k":")" + std::string(250, 'm') + "\"}";
  auto m = encode_broadcast({.topic = "realtime:a", .event = "e", .payload = "{}", .meta_json = long_meta});
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.error().message.find("meta"), std::string::npos);
}

TEST(ProtocolBroadcast, ClientKind3RoundTripsIntoKind4) {
  // What a realtime-js sender's frame becomes for every 2.0.0 receiver.
  std::string k3("\x03\x01\x01\x0a\x01\x00\x01", 7);
  k3 += std::string("1") + "2" + "realtime:a" + "e" + R"({"n":1.5})";
  auto m = decode_frame(v2, k3, true).value();
  auto b = read_client_broadcast(m).value();
  auto f = encode_broadcast({.topic = m.topic, .event = b.event, .payload = b.payload, .encoding = b.encoding}).value();
  EXPECT_EQ(f.v2_binary, std::string("\x04\x0a\x01\x00\x01", 5) + "realtime:a" + "e" + R"({"n":1.5})");
}

TEST(ProtocolRoundTrip, EveryV2TextFrameDecodesBack) {
  const reply_to to{"1", "2", "realtime:a"};
  for (const std::string& frame :
       {encode_reply_ok(v2, to), encode_reply_error(v2, to, "no"), encode_close(v2, "1", "realtime:a"),
        encode_postgres_subscribed(v2, "1", "realtime:a", "a"),
        encode_broadcast({.topic = "realtime:a", .event = "e", .payload = "{}"})->v2_text}) {
    auto m = decode_frame(v2, frame, false);
    ASSERT_TRUE(m.has_value()) << frame << ": " << m.error().message;
    EXPECT_EQ(m->topic, "realtime:a");
  }
}

TEST(ProtocolRoundTrip, EveryV1TextFrameDecodesBack) {
  const reply_to to{"1", "2", "realtime:a"};
  for (const std::string& frame : {encode_reply_ok(v1, to), encode_heartbeat_reply(v1, "3"),
                                   encode_broadcast({.topic = "realtime:a", .event = "e", .payload = "{}"})->v1_text}) {
    auto m = decode_frame(v1, frame, false);
    ASSERT_TRUE(m.has_value()) << frame << ": " << m.error().message;
    EXPECT_FALSE(m->join_ref.has_value());
  }
}

}  // namespace
}  // namespace rtcache::protocol
