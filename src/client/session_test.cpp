// The realtime session reducer on a manual clock: connect, heartbeat and its timeout, capped jittered
// reconnect, joins with token and resume position, recovered:false, leave, access_token push, refusals.
#include "rtcache/client/session.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

namespace rtcache::client {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class Session : public ::testing::Test {
 protected:
  Session() : s_(core::doc_type_registry::defaults(), config(), [] { return 0.5; }) {}

  static session_config config() {
    session_config c;
    c.heartbeat_interval = 25s;
    c.join_timeout = 10s;
    c.reconnect = {.initial = 1000ms, .max = 10000ms, .jitter = 0.5};
    c.rejoin = {.initial = 1000ms, .max = 10000ms, .jitter = 0.5};
    c.max_channels = 3;
    return c;
  }

  core::time_point now() const { return clock_.now(); }

  // Opens the connection and answers every join sent with an ok reply at `offset` (recovered as given).
  session_output open_and_join(std::uint64_t offset = 0, bool recovered = false, std::string epoch = "e1") {
    session_output out;
    s_.start(out);
    s_.on_open(now(), out);
    session_output replies;
    for (const std::string& f : out.send) {
      const json::value v = json::parse(f);
      if (v.at(3) != "phx_join") continue;
      reply_ok(std::string(v.at(0).as_string()), std::string(v.at(2).as_string()), offset, recovered, epoch, replies);
    }
    return replies;
  }

  void reply_ok(const std::string& ref, const std::string& topic, std::uint64_t offset, bool recovered,
                const std::string& epoch, session_output& out) {
    s_.on_frame(R"([")" + ref + R"(",")" + ref + R"(",")" + topic +
                    R"(","phx_reply",{"status":"ok","response":{"postgres_changes":[],"rtcache":{"epoch":")" + epoch +
                    R"(","offset":)" + std::to_string(offset) + R"(,"recovered":)" + (recovered ? "true" : "false") +
                    "}}}]",
                false, now(), out);
  }

  void invalidate(const std::string& channel, std::uint64_t offset, session_output& out,
                  const std::string& action = "update") {
    s_.on_frame(R"([null,null,"realtime:)" + channel +
                    R"(","broadcast",{"type":"broadcast","event":"invalidate","payload":{"type":"wo","id":"1","factoryId":"A","action":")" +
                    action + R"(","offset":)" + std::to_string(offset) + "}}]",
                false, now(), out);
  }

  static std::vector<json::value> frames(const session_output& out, std::string_view event) {
    std::vector<json::value> v;
    for (const auto& f : out.send) {
      json::value j = json::parse(f);
      if (j.at(3).is_string() && j.at(3).as_string() == event) v.push_back(std::move(j));
    }
    return v;
  }

  core::manual_clock clock_;
  session s_;
};

TEST_F(Session, StartRequestsAConnectionAndOpenJoinsEveryWatchedChannelWithTheToken) {
  session_output out;
  s_.set_access_token("tok", out);
  ASSERT_TRUE(s_.watch("doc:wo:1", now(), out).has_value());
  ASSERT_TRUE(s_.watch("factory:A", now(), out).has_value());
  EXPECT_TRUE(out.send.empty()) << "nothing is sent before the socket is open";
  s_.start(out);
  EXPECT_TRUE(out.connect);
  s_.on_open(now(), out);
  const auto joins = frames(out, "phx_join");
  ASSERT_EQ(joins.size(), 2U);
  EXPECT_EQ(joins[0].at(2), "realtime:doc:wo:1");
  EXPECT_EQ(joins[0].at(4).at("access_token"), "tok");
  EXPECT_EQ(s_.channel_status("doc:wo:1"), channel_state::joining);
}

TEST_F(Session, HeartbeatEveryIntervalAndAnUnansweredOneDropsTheSocketAndSchedulesAReconnect) {
  open_and_join();
  session_output out;
  clock_.advance(25s);
  s_.tick(now(), out);
  const auto hb = frames(out, "heartbeat");
  ASSERT_EQ(hb.size(), 1U);
  EXPECT_EQ(hb[0].at(2), "phoenix");
  // Answered: the next tick sends another.
  s_.on_frame(R"([null,")" + std::string(hb[0].at(1).as_string()) + R"(","phoenix","phx_reply",{"status":"ok","response":{}}])",
              false, now(), out);
  clock_.advance(25s);
  session_output out2;
  s_.tick(now(), out2);
  ASSERT_EQ(frames(out2, "heartbeat").size(), 1U);
  EXPECT_FALSE(out2.disconnect);
  // Unanswered: the next due tick drops the socket and waits before reconnecting.
  clock_.advance(25s);
  session_output out3;
  s_.tick(now(), out3);
  EXPECT_TRUE(out3.disconnect);
  EXPECT_EQ(s_.state(), connection_state::waiting);
  EXPECT_EQ(s_.next_wake(), now() + 750ms);  // base 1000 ms, jitter 0.5 at draw 0.5
}

TEST_F(Session, ReconnectDelaysGrowCappedAndResetAfterASuccessfulOpen) {
  session_output out;
  s_.start(out);
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 6; ++i) {
    s_.on_closed(now(), out);
    const auto wake = s_.next_wake();
    ASSERT_TRUE(wake.has_value());
    delays.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(*wake - now()));
    clock_.advance(*wake - now());
    session_output o;
    s_.tick(now(), o);
    EXPECT_TRUE(o.connect) << "attempt " << i;
  }
  EXPECT_EQ(delays, (std::vector<std::chrono::milliseconds>{750ms, 1500ms, 3000ms, 6000ms, 7500ms, 7500ms}));
  EXPECT_EQ(s_.connects(), 7U);
  s_.on_open(now(), out);
  s_.on_closed(now(), out);
  EXPECT_EQ(s_.next_wake(), now() + 750ms);
}

TEST_F(Session, JoinReplyPositionAdvancesWithInvalidatesAndDuplicatesAreDropped) {
  session_output out;
  ASSERT_TRUE(s_.watch("doc:wo:1", now(), out).has_value());
  open_and_join(4);
  EXPECT_EQ(s_.channel_status("doc:wo:1"), channel_state::joined);
  EXPECT_EQ(s_.position("doc:wo:1"), (channel_position{"e1", 4}));
  session_output ev;
  invalidate("doc:wo:1", 5, ev);
  invalidate("doc:wo:1", 5, ev);
  invalidate("doc:wo:1", 4, ev);
  ASSERT_EQ(ev.events.size(), 1U);
  EXPECT_EQ(ev.events[0].channel, "doc:wo:1");
  EXPECT_EQ(ev.events[0].event.offset, 5U);
  EXPECT_EQ(s_.position("doc:wo:1"), (channel_position{"e1", 5}));
}

TEST_F(Session, RejoinAfterReconnectResumesFromTheLastOffsetAndReportsNotRecovered) {
  session_output out;
  ASSERT_TRUE(s_.watch("doc:wo:1", now(), out).has_value());
  open_and_join(2);
  session_output ev;
  invalidate("doc:wo:1", 3, ev);
  s_.on_closed(now(), out);
  clock_.advance(1s);
  session_output re;
  s_.tick(now(), re);
  ASSERT_TRUE(re.connect);
  s_.on_open(now(), re);
  const auto joins = frames(re, "phx_join");
  ASSERT_EQ(joins.size(), 1U);
  EXPECT_EQ(joins[0].at(4).at("rtcache"), json::parse(R"({"epoch":"e1","offset":3})"));
  session_output reply;
  reply_ok(std::string(joins[0].at(0).as_string()), "realtime:doc:wo:1", 0, false, "e2", reply);
  EXPECT_EQ(reply.not_recovered, std::vector<std::string>{"doc:wo:1"});
  EXPECT_EQ(s_.position("doc:wo:1"), (channel_position{"e2", 0}));
}

TEST_F(Session, RecoveredRejoinKeepsTheOffsetAndTheReplayAdvancesIt) {
  session_output out;
  ASSERT_TRUE(s_.watch("doc:wo:1", now(), out).has_value());
  open_and_join(2);
  s_.on_closed(now(), out);
  clock_.advance(1s);
  session_output re;
  s_.tick(now(), re);
  s_.on_open(now(), re);
  const auto joins = frames(re, "phx_join");
  ASSERT_EQ(joins.size(), 1U);
  session_output reply;
  reply_ok(std::string(joins[0].at(0).as_string()), "realtime:doc:wo:1", 4, true, "e1", reply);
  EXPECT_TRUE(reply.not_recovered.empty());
  EXPECT_EQ(s_.position("doc:wo:1"), (channel_position{"e1", 2}));
  invalidate("doc:wo:1", 3, reply, "approve");
  invalidate("doc:wo:1", 4, reply, "reject");
  ASSERT_EQ(reply.events.size(), 2U);
  EXPECT_EQ(s_.position("doc:wo:1"), (channel_position{"e1", 4}));
}

TEST_F(Session, WatchIsReferenceCountedAndTheLastUnwatchLeaves) {
  session_output out;
  ASSERT_TRUE(s_.watch("factory:A", now(), out).has_value());
  ASSERT_TRUE(s_.watch("factory:A", now(), out).has_value());
  open_and_join();
  session_output o;
  s_.unwatch("factory:A", o);
  EXPECT_TRUE(o.send.empty());
  s_.unwatch("factory:A", o);
  const auto leaves = frames(o, "phx_leave");
  ASSERT_EQ(leaves.size(), 1U);
  EXPECT_EQ(leaves[0].at(2), "realtime:factory:A");
  EXPECT_FALSE(s_.channel_status("factory:A").has_value());
  // A late broadcast for the channel left is ignored.
  session_output late;
  invalidate("factory:A", 9, late);
  EXPECT_TRUE(late.events.empty());
}

TEST_F(Session, WatchRefusesBadChannelsAndMoreThanMaxChannels) {
  session_output out;
  EXPECT_EQ(s_.watch("doc:nope:1", now(), out).error().code, core::errc::unknown_doc_type);
  EXPECT_EQ(s_.watch("room1", now(), out).error().code, core::errc::bad_prefix);
  ASSERT_TRUE(s_.watch("factory:A", now(), out).has_value());
  ASSERT_TRUE(s_.watch("factory:B", now(), out).has_value());
  ASSERT_TRUE(s_.watch("factory:C", now(), out).has_value());
  EXPECT_EQ(s_.watch("factory:D", now(), out).error().code, core::errc::too_many);
}

TEST_F(Session, NewAccessTokenIsPushedToEveryJoinedChannelAndUsedInLaterJoins) {
  session_output out;
  ASSERT_TRUE(s_.watch("doc:wo:1", now(), out).has_value());
  open_and_join();
  session_output o;
  s_.set_access_token("new", o);
  const auto pushes = frames(o, "access_token");
  ASSERT_EQ(pushes.size(), 1U);
  EXPECT_EQ(pushes[0].at(4).at("access_token"), "new");
  ASSERT_TRUE(s_.watch("factory:A", now(), o).has_value());
  const auto joins = frames(o, "phx_join");
  ASSERT_EQ(joins.size(), 1U);
  EXPECT_EQ(joins[0].at(4).at("access_token"), "new");
}

TEST_F(Session, RefusedJoinIsReportedAndRetriedWithBackoff) {
  session_output out;
  ASSERT_TRUE(s_.watch("list:wo:B", now(), out).has_value());
  s_.start(out);
  s_.on_open(now(), out);
  const auto joins = frames(out, "phx_join");
  ASSERT_EQ(joins.size(), 1U);
  session_output reply;
  const std::string ref(joins[0].at(0).as_string());
  s_.on_frame(R"([")" + ref + R"(",")" + ref +
                  R"(","realtime:list:wo:B","phx_reply",{"status":"error","response":{"reason":"Unauthorized"}}])",
              false, now(), reply);
  ASSERT_EQ(reply.problems.size(), 1U);
  EXPECT_EQ(reply.problems[0].what, "join_refused");
  EXPECT_EQ(reply.problems[0].message, "Unauthorized");
  EXPECT_EQ(s_.channel_status("list:wo:B"), channel_state::closed);
  clock_.advance(749ms);
  session_output early;
  s_.tick(now(), early);
  EXPECT_TRUE(frames(early, "phx_join").empty());
  clock_.advance(1ms);
  session_output retry;
  s_.tick(now(), retry);
  EXPECT_EQ(frames(retry, "phx_join").size(), 1U);
}

TEST_F(Session, ServerCloseOfAChannelRejoinsIt) {
  session_output out;
  ASSERT_TRUE(s_.watch("doc:wo:1", now(), out).has_value());
  open_and_join();
  session_output c;
  s_.on_frame(R"(["1","1","realtime:doc:wo:1","phx_close",{}])", false, now(), c);
  // ref "1" is the first ref the session handed out: the join's.
  ASSERT_EQ(c.problems.size(), 1U);
  EXPECT_EQ(c.problems[0].what, "channel_closed");
  clock_.advance(1s);
  session_output r;
  s_.tick(now(), r);
  EXPECT_EQ(frames(r, "phx_join").size(), 1U);
}

TEST_F(Session, UndecodableEventsAreReportedWithTheCoreCodeAndNotDelivered) {
  session_output out;
  ASSERT_TRUE(s_.watch("doc:wo:1", now(), out).has_value());
  open_and_join();
  session_output o;
  s_.on_frame(R"([null,null,"realtime:doc:wo:1","broadcast",{"type":"broadcast","event":"invalidate","payload":{"type":"wo","id":"1","factoryId":"A","action":"explode"}}])",
              false, now(), o);
  EXPECT_TRUE(o.events.empty());
  ASSERT_EQ(o.problems.size(), 1U);
  EXPECT_EQ(o.problems[0].what, "bad_event");
  EXPECT_EQ(o.problems[0].code, core::errc::unknown_action);
}

TEST_F(Session, StopLeavesEveryChannelDisconnectsAndNeverReconnects) {
  session_output out;
  ASSERT_TRUE(s_.watch("doc:wo:1", now(), out).has_value());
  open_and_join();
  session_output o;
  s_.stop(o);
  EXPECT_EQ(frames(o, "phx_leave").size(), 1U);
  EXPECT_TRUE(o.disconnect);
  s_.on_closed(now(), o);
  EXPECT_FALSE(s_.next_wake().has_value());
}

}  // namespace
}  // namespace rtcache::client
