// Tests for phx_join: payload parsing, the resume position, binding ids, and the join reply that
// realtime-js's _updatePostgresBindings must accept binding for binding.
#include "protocol/join.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace rtcache::protocol {
namespace {

constexpr auto v2 = protocol_version::v2_0_0;

boost::json::object obj(std::string_view json) {
  return boost::json::parse(json).as_object();
}

core::result<join_request> join(std::string_view payload_json, std::string_view topic = "realtime:room1") {
  return parse_join(topic, obj(payload_json));
}

::testing::AssertionResult refused(const core::result<join_request>& r, core::errc code, std::string_view needle = {}) {
  if (r.has_value()) return ::testing::AssertionFailure() << "accepted";
  if (r.error().code != code) {
    return ::testing::AssertionFailure() << "refused with " << core::to_string(r.error().code) << " (\""
                                         << r.error().message << "\"), expected " << core::to_string(code);
  }
  if (!needle.empty() && r.error().message.find(needle) == std::string::npos) {
    return ::testing::AssertionFailure() << "message \"" << r.error().message << "\" lacks \"" << needle << "\"";
  }
  return ::testing::AssertionSuccess();
}

// What realtime-js 2.x sends for supabase.channel('room1').on('postgres_changes', ...).subscribe().
constexpr std::string_view k_realtime_js_join = R"({"config":{"broadcast":{"ack":false,"self":false},
  "presence":{"key":"","enabled":false},
  "postgres_changes":[{"event":"*","schema":"public","table":"work_orders","filter":"id=eq.1"},
                      {"event":"INSERT","schema":"public"}],
  "private":false},"access_token":"jwt.token.sig","version":"realtime-js/2.109.0"})";

TEST(ProtocolTopic, NamesTheChannel) {
  EXPECT_EQ(channel_name_of("realtime:room1").value(), "room1");
  EXPECT_EQ(channel_name_of("realtime:doc:wo:123").value(), "doc:wo:123");
}

TEST(ProtocolTopic, RefusesBareAndForeignTopics) {
  EXPECT_EQ(channel_name_of("realtime:").error().code, core::errc::empty_segment);
  EXPECT_EQ(channel_name_of("room1").error().code, core::errc::bad_prefix);
  EXPECT_EQ(channel_name_of("phoenix").error().code, core::errc::bad_prefix);
  EXPECT_EQ(channel_name_of("realtime:" + std::string(247, 'x')).error().code, core::errc::too_long);
  EXPECT_TRUE(channel_name_of("realtime:" + std::string(246, 'x')).has_value());
  EXPECT_EQ(channel_name_of("realtime:a\nb").error().code, core::errc::bad_char);
}

TEST(ProtocolJoin, ParsesWhatRealtimeJsSends) {
  auto j = join(k_realtime_js_join);
  ASSERT_TRUE(j.has_value()) << j.error().message;
  EXPECT_EQ(j->channel, "room1");
  EXPECT_FALSE(j->broadcast.ack);
  EXPECT_FALSE(j->broadcast.self);
  EXPECT_FALSE(j->is_private);
  EXPECT_EQ(j->access_token, "jwt.token.sig");
  ASSERT_EQ(j->postgres_changes.size(), 2u);
  const postgres_binding& a = j->postgres_changes[0];
  EXPECT_EQ(a.event, change_event::all);
  EXPECT_EQ(a.event_text, "*");
  EXPECT_EQ(a.schema, "public");
  EXPECT_EQ(a.table, "work_orders");
  EXPECT_EQ(a.filter, "id=eq.1");
  ASSERT_EQ(a.parsed_filter.conditions.size(), 1u);
  EXPECT_EQ(a.parsed_filter.conditions[0].column, "id");
  const postgres_binding& b = j->postgres_changes[1];
  EXPECT_EQ(b.event, change_event::insert);
  EXPECT_FALSE(b.table.has_value());
  EXPECT_FALSE(b.filter.has_value());
  EXPECT_FALSE(j->resume.has_value());
}

TEST(ProtocolJoin, ReadsBroadcastPresenceAndPrivateFlags) {
  auto j = join(R"({"config":{"broadcast":{"ack":true,"self":true,"replay":{"since":1700000000000,"limit":25}},
                   "presence":{"key":"user-1","enabled":true},"private":true}})");
  ASSERT_TRUE(j.has_value()) << j.error().message;
  EXPECT_TRUE(j->broadcast.ack);
  EXPECT_TRUE(j->broadcast.self);
  ASSERT_TRUE(j->broadcast.replay.has_value());
  EXPECT_EQ(j->broadcast.replay->since, 1700000000000);
  EXPECT_EQ(j->broadcast.replay->limit, 25);
  EXPECT_EQ(j->presence.key, "user-1");
  EXPECT_TRUE(j->presence.enabled);
  EXPECT_TRUE(j->is_private);
}

TEST(ProtocolJoin, AbsentConfigAndNullsMeanDefaults) {
  auto j = join(R"({})");
  ASSERT_TRUE(j.has_value());
  EXPECT_TRUE(j->postgres_changes.empty());
  auto n = join(
      R"({"config":{"broadcast":null,"presence":null,"postgres_changes":null,"private":null},"access_token":null})");
  ASSERT_TRUE(n.has_value()) << n.error().message;
  EXPECT_FALSE(n->access_token.has_value());
}

TEST(ProtocolJoin, ReadsTheResumePositionAtTheTopLevel) {
  auto j = join(R"({"config":{},"rtcache":{"epoch":"e-42","offset":9007199254740991}})");
  ASSERT_TRUE(j.has_value()) << j.error().message;
  ASSERT_TRUE(j->resume.has_value());
  EXPECT_EQ(j->resume->epoch, "e-42");
  EXPECT_EQ(j->resume->offset, 9007199254740991u);
}

TEST(ProtocolJoin, RefusesMalformedResumePositions) {
  EXPECT_TRUE(refused(join(R"({"rtcache":5})"), core::errc::wrong_type, "rtcache"));
  EXPECT_TRUE(refused(join(R"({"rtcache":{"offset":1}})"), core::errc::missing_field, "rtcache.epoch"));
  EXPECT_TRUE(refused(join(R"({"rtcache":{"epoch":"e"}})"), core::errc::missing_field, "rtcache.offset"));
  EXPECT_TRUE(refused(join(R"({"rtcache":{"epoch":7,"offset":1}})"), core::errc::wrong_type, "rtcache.epoch"));
  EXPECT_TRUE(refused(join(R"({"rtcache":{"epoch":"","offset":1}})"), core::errc::empty_segment, "rtcache.epoch"));
  EXPECT_TRUE(refused(join(R"({"rtcache":{"epoch":"a b","offset":1}})"), core::errc::bad_char, "rtcache.epoch"));
  EXPECT_TRUE(
      refused(join(R"({"rtcache":{"epoch":")" + std::string(65, 'e') + R"(","offset":1}})"), core::errc::too_long));
  EXPECT_TRUE(refused(join(R"({"rtcache":{"epoch":"e","offset":-1}})"), core::errc::bad_value, "negative"));
  EXPECT_TRUE(refused(join(R"({"rtcache":{"epoch":"e","offset":1.5}})"), core::errc::bad_value, "integer"));
  EXPECT_TRUE(refused(join(R"({"rtcache":{"epoch":"e","offset":"1"}})"), core::errc::wrong_type, "rtcache.offset"));
  EXPECT_TRUE(refused(join(R"({"rtcache":{"epoch":"e","offset":9007199254740992}})"), core::errc::bad_value, "2^53"));
}

TEST(ProtocolJoin, RefusesWrongTypesWithThePath) {
  EXPECT_TRUE(refused(join(R"({"config":[]})"), core::errc::wrong_type, "config"));
  EXPECT_TRUE(
      refused(join(R"({"config":{"broadcast":{"ack":"yes"}}})"), core::errc::wrong_type, "config.broadcast.ack"));
  EXPECT_TRUE(refused(join(R"({"config":{"broadcast":{"replay":{"since":-1}}}})"), core::errc::bad_value,
                      "config.broadcast.replay.since"));
  EXPECT_TRUE(refused(join(R"({"config":{"presence":{"key":5}}})"), core::errc::wrong_type, "config.presence.key"));
  EXPECT_TRUE(refused(join(R"({"config":{"private":"no"}})"), core::errc::wrong_type, "config.private"));
  EXPECT_TRUE(
      refused(join(R"({"config":{"postgres_changes":{}}})"), core::errc::wrong_type, "config.postgres_changes"));
  EXPECT_TRUE(refused(join(R"({"access_token":5})"), core::errc::wrong_type, "access_token"));
  EXPECT_TRUE(refused(join(R"({})", "realtime:"), core::errc::empty_segment));
  EXPECT_TRUE(refused(join(R"({})", "room"), core::errc::bad_prefix));
}

TEST(ProtocolJoin, RefusesMalformedBindings) {
  auto pc = [](std::string_view bindings) {
    return join(R"({"config":{"postgres_changes":)" + std::string(bindings) + "}}");
  };
  EXPECT_TRUE(refused(pc(R"([1])"), core::errc::not_object, "config.postgres_changes[0]"));
  EXPECT_TRUE(refused(pc(R"([{"schema":"public"}])"), core::errc::missing_field, "[0].event"));
  EXPECT_TRUE(refused(pc(R"([{"event":"*"}])"), core::errc::missing_field, "[0].schema"));
  EXPECT_TRUE(refused(pc(R"([{"event":"*","schema":"public"},{"event":"TRUNCATE","schema":"public"}])"),
                      core::errc::bad_value, "[1].event"));
  EXPECT_TRUE(refused(pc(R"([{"event":1,"schema":"public"}])"), core::errc::wrong_type, "[0].event"));
  EXPECT_TRUE(refused(pc(R"([{"event":"*","schema":""}])"), core::errc::empty_segment, "[0].schema"));
  EXPECT_TRUE(refused(pc(R"([{"event":"*","schema":"public","table":3}])"), core::errc::wrong_type, "[0].table"));
  EXPECT_TRUE(refused(pc(R"([{"event":"*","schema":"public","filter":"id=like.1"}])"), core::errc::bad_value,
                      "config.postgres_changes[0].filter: filter condition 1"));
  EXPECT_TRUE(refused(pc(R"([{"event":"*","schema":")" + std::string(64, 's') + R"("}])"), core::errc::too_long));
}

TEST(ProtocolJoin, RefusesMoreBindingsThanTheBound) {
  std::string list = "[";
  for (int i = 0; i < 33; ++i) list += std::string(i ? "," : "") + R"({"event":"*","schema":"public"})";
  list += "]";
  EXPECT_TRUE(refused(join(R"({"config":{"postgres_changes":)" + list + "}}"), core::errc::too_many, "33 bindings"));
}

TEST(ProtocolJoin, EventIsMatchedCaseInsensitivelyButKeptVerbatim) {
  auto j = join(R"({"config":{"postgres_changes":[{"event":"update","schema":"public"}]}})");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ(j->postgres_changes[0].event, change_event::update);
  EXPECT_EQ(j->postgres_changes[0].event_text, "update");
}

// ---- ids and the reply --------------------------------------------------------------------------------------

TEST(ProtocolBindingId, IsStableNonZeroAndDistinguishesFields) {
  const auto a = binding_id("*", "public", "t", "id=eq.1");
  EXPECT_EQ(a, binding_id("*", "public", "t", "id=eq.1"));
  EXPECT_GE(a, 1);
  EXPECT_LE(a, 2147483647);
  EXPECT_NE(a, binding_id("INSERT", "public", "t", "id=eq.1"));
  EXPECT_NE(binding_id("*", "public", std::nullopt, std::nullopt), binding_id("*", "public", "", std::nullopt));
  EXPECT_NE(binding_id("*", "ab", "c", std::nullopt), binding_id("*", "a", "bc", std::nullopt));
}

TEST(ProtocolJoinReply, IdenticalBindingsShareAnIdAndDifferentOnesDoNot) {
  auto j = join(R"({"config":{"postgres_changes":[
      {"event":"*","schema":"public","table":"t"},
      {"event":"INSERT","schema":"public","table":"t"},
      {"event":"*","schema":"public","table":"t"},
      {"event":"*","schema":"public","table":"t","filter":null}]}})");
  ASSERT_TRUE(j.has_value()) << j.error().message;
  const auto& b = j->postgres_changes;
  EXPECT_EQ(b[0].id, b[2].id);
  EXPECT_EQ(b[0].id, b[3].id);  // null filter == absent filter, as realtime-js compares them
  EXPECT_NE(b[0].id, b[1].id);
}

// The position every test below joins at, and its encoding.
constexpr join_position k_position{"e7", 41, true};
constexpr std::string_view k_position_json = R"("rtcache":{"epoch":"e7","offset":41,"recovered":true})";

TEST(ProtocolJoinReply, EchoesBindingsVerbatimAndInOrder) {
  auto j = join(k_realtime_js_join);
  ASSERT_TRUE(j.has_value());
  const auto id0 = binding_id("*", "public", "work_orders", "id=eq.1");
  const auto id1 = binding_id("INSERT", "public", std::nullopt, std::nullopt);
  EXPECT_EQ(join_response_json(j->postgres_changes, k_position),
            R"({"postgres_changes":[{"event":"*","schema":"public","table":"work_orders","filter":"id=eq.1","id":)" +
                std::to_string(id0) + R"(},{"event":"INSERT","schema":"public","id":)" + std::to_string(id1) + "}]," +
                std::string(k_position_json) + "}");
}

TEST(ProtocolJoinReply, KeepsNullsAndUnknownKeysButReplacesAClientId) {
  auto j = join(R"({"config":{"postgres_changes":[{"id":99,"event":"delete","schema":"s","table":null,"x":[1]}]}})");
  ASSERT_TRUE(j.has_value()) << j.error().message;
  EXPECT_EQ(join_response_json(j->postgres_changes, k_position),
            R"({"postgres_changes":[{"event":"delete","schema":"s","table":null,"x":[1],"id":)" +
                std::to_string(j->postgres_changes[0].id) + "}]," + std::string(k_position_json) + "}");
}

TEST(ProtocolJoinReply, NoBindingsIsAnEmptyList) {
  auto j = join(R"({"config":{"broadcast":{"self":true}}})");
  ASSERT_TRUE(j.has_value());
  EXPECT_EQ(encode_join_reply(v2, {"1", "1", "realtime:room1"}, j->postgres_changes, k_position),
            R"(["1","1","realtime:room1","phx_reply",{"status":"ok","response":{"postgres_changes":[],)" +
                std::string(k_position_json) + "}}]");
}

// The rtcache field, exactly as the SDKs read it (and as the gateway sent it before the encoder existed: the
// bindings' object with this field spliced in before its closing brace). Issue 14, item 1.
TEST(ProtocolJoinReply, CarriesThePositionAsTheLastField) {
  EXPECT_EQ(join_response_json({}, {"", 0, false}),
            R"({"postgres_changes":[],"rtcache":{"epoch":"","offset":0,"recovered":false}})");
  EXPECT_EQ(join_response_json({}, {"0123456789abcdef0123456789abcdef", 18446744073709551615ULL, true}),
            R"({"postgres_changes":[],"rtcache":{"epoch":"0123456789abcdef0123456789abcdef",)"
            R"("offset":18446744073709551615,"recovered":true}})");
}

TEST(ProtocolJoinReply, EscapesTheEpochAsAJsonString) {
  const auto reply = boost::json::parse(join_response_json({}, {"a\"b\\c\n\xff", 3, false}));
  EXPECT_EQ(reply.at("rtcache").at("epoch").as_string(), "a\"b\\c\n\xEF\xBF\xBD");  // invalid UTF-8: U+FFFD
  EXPECT_EQ(reply.at("rtcache").at("offset").as_int64(), 3);
  EXPECT_EQ(reply.at("rtcache").at("recovered").as_bool(), false);
}

TEST(ProtocolJoinReply, V1ReplyCarriesTheSameResponse) {
  auto j = join(k_realtime_js_join);
  ASSERT_TRUE(j.has_value());
  const auto frame = boost::json::parse(
      encode_join_reply(protocol_version::v1_0_0, {"1", "2", "realtime:room1"}, j->postgres_changes, k_position));
  EXPECT_EQ(frame.at("ref"), "2");
  EXPECT_EQ(frame.at("event"), "phx_reply");
  EXPECT_EQ(boost::json::serialize(frame.at("payload").at("response")),
            join_response_json(j->postgres_changes, k_position));
}

// realtime-js's _updatePostgresBindings, transcribed: for each client binding i, the server's element i must
// have event === client event, and schema/table/filter equal after mapping null to undefined; then its id is
// used, and `bindId && payload.ids.includes(bindId)` gates delivery (so id 0 would never deliver).
TEST(ProtocolJoinReply, SatisfiesRealtimeJsBindingCheck) {
  const boost::json::object payload = obj(k_realtime_js_join);
  auto j = parse_join("realtime:room1", payload).value();
  const boost::json::value reply = boost::json::parse(join_response_json(j.postgres_changes, k_position));
  const auto& server = reply.at("postgres_changes").as_array();
  const auto& client = payload.at("config").at("postgres_changes").as_array();
  ASSERT_EQ(server.size(), client.size());
  auto norm = [](const boost::json::object& o, std::string_view k) -> boost::json::value {
    const auto* v = o.if_contains(k);
    return v == nullptr ? boost::json::value() : *v;
  };
  for (std::size_t i = 0; i < client.size(); ++i) {
    const auto& c = client[i].as_object();
    const auto& s = server[i].as_object();
    EXPECT_EQ(s.at("event"), c.at("event")) << i;
    for (auto k : {"schema", "table", "filter"}) EXPECT_EQ(norm(s, k), norm(c, k)) << i << " " << k;
    ASSERT_TRUE(s.at("id").is_int64());
    EXPECT_NE(s.at("id").as_int64(), 0);
    EXPECT_EQ(s.at("id").as_int64(), j.postgres_changes[i].id);
  }
}

}  // namespace
}  // namespace rtcache::protocol
