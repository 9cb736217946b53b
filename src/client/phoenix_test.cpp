// Client-side Phoenix frames: what the SDK sends is what the rtcache gateway parses, and what the gateway sends
// (text arrays, kind-4 binary broadcasts, join replies with rtcache positions) decodes to one shape.
#include "rtcache/client/phoenix.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace rtcache::client {
namespace {

namespace json = boost::json;

TEST(Phoenix, JoinCarriesTheTokenAndTheResumePositionAtTheTopLevel) {
  const std::string f = encode_join("3", "doc:wo:1", "tok", channel_position{"e1", 42});
  const json::value v = json::parse(f);
  EXPECT_EQ(v.at(0), "3");
  EXPECT_EQ(v.at(1), "3");
  EXPECT_EQ(v.at(2), "realtime:doc:wo:1");
  EXPECT_EQ(v.at(3), "phx_join");
  EXPECT_EQ(v.at(4).at("access_token"), "tok");
  EXPECT_EQ(v.at(4).at("rtcache"), json::parse(R"({"epoch":"e1","offset":42})"));
  EXPECT_EQ(v.at(4).at("config").at("postgres_changes"), json::array{});
}

TEST(Phoenix, JoinWithoutPositionOrTokenOmitsThem) {
  const json::value v = json::parse(encode_join("1", "factory:f1", "", std::nullopt));
  EXPECT_FALSE(v.at(4).as_object().contains("rtcache"));
  EXPECT_FALSE(v.at(4).as_object().contains("access_token"));
}

TEST(Phoenix, HeartbeatLeaveAndAccessTokenFrames) {
  EXPECT_EQ(encode_heartbeat("7"), R"([null,"7","phoenix","heartbeat",{}])");
  EXPECT_EQ(encode_leave("1", "9", "list:wo:f1"), R"(["1","9","realtime:list:wo:f1","phx_leave",{}])");
  EXPECT_EQ(encode_access_token("1", "4", "doc:wo:1", "t\"x"),
            R"(["1","4","realtime:doc:wo:1","access_token",{"access_token":"t\"x"}])");
}

TEST(Phoenix, TextBroadcastDecodesWithItsUserEventAndPayload) {
  auto f = decode_server_frame(
      R"([null,null,"realtime:doc:wo:1","broadcast",{"type":"broadcast","event":"invalidate","payload":{"type":"wo","id":"1","factoryId":"A","action":"update","offset":3}}])",
      false);
  ASSERT_TRUE(f.has_value()) << f.error().message;
  EXPECT_EQ(f->topic, "realtime:doc:wo:1");
  EXPECT_EQ(f->event, "broadcast");
  EXPECT_EQ(f->broadcast_event, "invalidate");
  EXPECT_EQ(json::parse(*f->broadcast_payload),
            json::parse(R"({"type":"wo","id":"1","factoryId":"A","action":"update","offset":3})"));
  EXPECT_FALSE(f->join_ref.has_value());
}

TEST(Phoenix, Kind4BinaryBroadcastKeepsThePayloadBytesAsSent) {
  const std::string topic = "realtime:doc:wo:1", event = "invalidate", meta = "{}", payload = R"({"a" : 1})";
  std::string frame;
  frame += '\x04';
  frame += static_cast<char>(topic.size());
  frame += static_cast<char>(event.size());
  frame += static_cast<char>(meta.size());
  frame += '\x01';
  frame += topic + event + meta + payload;
  auto f = decode_server_frame(frame, true);
  ASSERT_TRUE(f.has_value()) << f.error().message;
  EXPECT_EQ(f->topic, topic);
  EXPECT_EQ(f->broadcast_event, "invalidate");
  EXPECT_EQ(f->broadcast_payload, payload);
}

TEST(Phoenix, MalformedFramesAreRefusedWithACode) {
  EXPECT_EQ(decode_server_frame("{", false).error().code, core::errc::bad_json);
  EXPECT_EQ(decode_server_frame("{}", false).error().code, core::errc::wrong_type);
  EXPECT_EQ(decode_server_frame("[1,2]", false).error().code, core::errc::bad_segment_count);
  EXPECT_EQ(decode_server_frame(R"([null,null,"t","e",1])", false).error().code, core::errc::not_object);
  EXPECT_EQ(decode_server_frame(std::string("\x03\x01\x01\x01\x01xyz", 8), true).error().code, core::errc::bad_value);
  EXPECT_EQ(decode_server_frame(std::string("\x04\x09\x01\x01\x01xy", 7), true).error().code, core::errc::bad_value);
  EXPECT_EQ(decode_server_frame(std::string(100, ' '), false, 10).error().code, core::errc::too_long);
}

TEST(Phoenix, JoinReplyReadsStatusReasonAndRtcachePosition) {
  auto ok = decode_server_frame(
      R"(["1","1","realtime:doc:wo:1","phx_reply",{"status":"ok","response":{"postgres_changes":[],"rtcache":{"epoch":"t1","offset":5,"recovered":true}}}])",
      false);
  ASSERT_TRUE(ok.has_value());
  const reply_status r = read_reply(*ok);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.position, (channel_position{"t1", 5}));
  EXPECT_TRUE(r.recovered);
  auto err = decode_server_frame(
      R"(["1","1","realtime:list:wo:B","phx_reply",{"status":"error","response":{"reason":"Unauthorized"}}])", false);
  const reply_status e = read_reply(*err);
  EXPECT_FALSE(e.ok);
  EXPECT_EQ(e.reason, "Unauthorized");
  EXPECT_FALSE(e.position.has_value());
}

}  // namespace
}  // namespace rtcache::client
