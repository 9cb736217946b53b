// Contract topics (doc:, list:, factory:) as a hostile tenant probes them (issue 11, findings 1 and 3): every
// message there carries a factory, whatever path published it, and a scoped subscriber's positions (epoch,
// offset, recovered) count only what it may see.
#include "gateway_fixture.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <string>

namespace rtcache::gateway {
namespace {

namespace json = boost::json;
using namespace testing;

json::value position(const json::value& reply) {
  return reply.at("payload").at("response").at("rtcache");
}
std::string epoch_of(const json::value& reply) {
  return std::string(position(reply).at("epoch").as_string());
}

// The server's own epochs: random_epochs(), as `rtcache serve` runs.
class ContractTopics : public gateway_fixture {
 protected:
  explicit ContractTopics(hub::hub_config c = {}) : gateway_fixture(c, hub::hub_epoch_source{}) {}
};

// ---- finding 1: untagged publishes to contract topics ----

// issue 11, finding 1: a service_role REST broadcast to doc:wo:123 carried no factory and reached every factory.
TEST_F(ContractTopics, RestBroadcastToADocWithoutAFactoryIsRefusedWithItsIndexAndReachesNobody) {
  start();
  ws_client b(port_, ws_client::url(token_for("authenticated", {"B"})));
  ASSERT_EQ(join(b, "realtime:doc:wo:123").at("payload").at("status"), "ok");
  const auto res =
      post_broadcast(R"({"messages":[{"topic":"doc:wo:123","event":"invalidate","payload":{"id":"123"}}]})");
  ASSERT_EQ(res.status, 202U) << res.body;
  const auto body = json::parse(res.body);
  EXPECT_EQ(body.at("accepted"), 0);
  ASSERT_EQ(body.at("refused").as_array().size(), 1U);
  EXPECT_EQ(body.at("refused").at(0).at("index"), 0);
  EXPECT_EQ(body.at("refused").at(0).at("code"), "missing_field");
  EXPECT_NE(std::string_view(body.at("refused").at(0).at("reason").as_string()).find("must name its factory"),
            std::string_view::npos);
  // B's own factory's message is the marker: had the untagged one been delivered, it would come first.
  ASSERT_EQ(post_events(event_json("123", "B")).status, 202U);
  const auto m = b.read_json();
  EXPECT_EQ(m.at("payload").at("payload").at("factoryId"), "B") << json::serialize(m);
}

TEST_F(ContractTopics, ServiceRoleWebSocketBroadcastToADocWithoutAFactoryGetsAnErrorReply) {
  start();
  ws_client s(port_, ws_client::url(service_token()));
  ws_client b(port_, ws_client::url(token_for("authenticated", {"B"})));
  ASSERT_EQ(join(s, "realtime:doc:wo:5").at("payload").at("status"), "ok");
  ASSERT_EQ(join(b, "realtime:doc:wo:5").at("payload").at("status"), "ok");
  s.send(v1_broadcast("realtime:doc:wo:5", "invalidate", R"({"id":"5"})", "2", "1"));
  const auto reply = s.read_until([](const json::value& v) { return is_reply(v, "2"); });
  EXPECT_EQ(reply.at("payload").at("status"), "error");
  EXPECT_NE(std::string_view(reply.at("payload").at("response").at("reason").as_string()).find("factoryId"),
            std::string_view::npos)
      << json::serialize(reply);
  // Named, it is delivered to its factory only.
  s.send(v1_broadcast("realtime:doc:wo:5", "note", R"({"factoryId":"A"})", "3", "1"));
  s.send(v1_broadcast("realtime:doc:wo:5", "note", R"({"factoryId":"B","n":2})", "4", "1"));
  const auto m = b.read_json();
  EXPECT_EQ(m.at("payload").at("payload").at("n"), 2) << json::serialize(m);
}

TEST_F(ContractTopics, ListAndFactoryTopicsImplyTheirFactoryAndRefuseAnotherOne) {
  start();
  ws_client a(port_, ws_client::url(token_for("authenticated", {"A"})));
  ASSERT_EQ(join(a, "realtime:list:wo:A").at("payload").at("status"), "ok");
  const auto res = post_broadcast(R"({"messages":[{"topic":"list:wo:A","event":"e","payload":{"factoryId":"B"}},)"
                                  R"({"topic":"list:wo:A","event":"e","payload":{"n":1}}]})");
  ASSERT_EQ(res.status, 202U);
  const auto body = json::parse(res.body);
  EXPECT_EQ(body.at("accepted"), 1);
  EXPECT_EQ(body.at("refused").at(0).at("code"), "bad_value");
  EXPECT_EQ(a.read_json().at("payload").at("payload").at("n"), 1);
}

TEST_F(ContractTopics, ClientsCannotBroadcastOnContractTopicsEvenWithAFactory) {
  gateway_config cfg;
  cfg.channels.from_clients = auth::client_broadcasts::all;
  start(cfg);
  ws_client a(port_, ws_client::url(token_for("authenticated", {"A"})));
  ASSERT_EQ(join(a, "realtime:doc:wo:9").at("payload").at("status"), "ok");
  a.send(v1_broadcast("realtime:doc:wo:9", "invalidate", R"({"factoryId":"A"})", "2", "1"));
  const auto reply = a.read_until([](const json::value& v) { return is_reply(v, "2"); });
  EXPECT_EQ(reply.at("payload").at("status"), "error");
  const auto rest = post_broadcast(R"({"messages":[{"topic":"doc:wo:9","event":"e","payload":{"factoryId":"A"}}]})",
                                   token_for("authenticated", {"A"}));
  EXPECT_EQ(json::parse(rest.body).at("refused").at(0).at("code"), "not_allowed");
}

TEST_F(ContractTopics, ReplicatedRowsReachOnlyTheirFactoryLiveAndOnResume) {
  start();
  ws_client b(port_, ws_client::url(token_for("authenticated", {"f2"})));
  const auto reply = join(b, "realtime:doc:wo:77");
  const std::string epoch = epoch_of(reply);
  sink_.publish(routed(*mapping_, wo_change(routing::row_kind::update, "77", "f1", "done")));
  sink_.publish(routed(*mapping_, wo_change(routing::row_kind::update, "77", "f2", "done")));
  const auto m = b.read_json();
  EXPECT_EQ(m.at("payload").at("payload").at("factoryId"), "f2");
  EXPECT_EQ(m.at("payload").at("payload").at("offset"), 1);  // f1's row took no offset in f2's view
  b.close();
  // Resuming from the start of its view replays f2's row only.
  ws_client again(port_, ws_client::url(token_for("authenticated", {"f2"})));
  const auto r2 =
      join(again, "realtime:doc:wo:77", "1", R"({"config":{},"rtcache":{"epoch":")" + epoch + R"(","offset":0}})");
  EXPECT_EQ(position(r2).at("recovered"), true);
  const auto replayed = again.read_json();
  EXPECT_EQ(replayed.at("payload").at("payload").at("factoryId"), "f2");
  sink_.publish(routed(*mapping_, wo_change(routing::row_kind::update, "77", "f2", "open")));
  EXPECT_EQ(again.read_json().at("payload").at("payload").at("offset"), 2);
}

// ---- finding 3: positions reveal nothing ----

// issue 11, finding 3: the join reply carried the channel's real offset, so a foreign user saw activity.
TEST_F(ContractTopics, AJoinToADocWithOnlyForeignActivityLooksLikeAJoinToADocNobodyOpened) {
  start();
  ws_client victim(port_, ws_client::url(token_for("authenticated", {"A"})));
  ASSERT_EQ(join(victim, "realtime:doc:wo:42").at("payload").at("status"), "ok");
  for (int i = 0; i < 5; ++i) ASSERT_EQ(post_events(event_json("42", "A")).status, 202U);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(victim.read().has_value());

  ws_client attacker(port_, ws_client::url(token_for("authenticated", {"X"})));
  const auto busy = position(join(attacker, "realtime:doc:wo:42", "1"));
  const auto fresh = position(join(attacker, "realtime:doc:wo:424242", "2"));
  EXPECT_EQ(busy.at("offset"), 0) << json::serialize(busy);
  EXPECT_EQ(busy.at("offset"), fresh.at("offset"));
  EXPECT_EQ(busy.at("recovered"), fresh.at("recovered"));
  EXPECT_EQ(busy.at("epoch").as_string().size(), fresh.at("epoch").as_string().size());
}

// issue 11, finding 3: offsets inside payloads skipped the foreign messages, showing how many there were.
TEST_F(ContractTopics, PayloadOffsetsCountOnlyTheSubscribersOwnFactory) {
  start();
  ws_client a(port_, ws_client::url(token_for("authenticated", {"A"})));
  ASSERT_EQ(join(a, "realtime:doc:wo:8").at("payload").at("status"), "ok");
  ASSERT_EQ(post_events("[" + event_json("8", "B") + "," + event_json("8", "A") + "," + event_json("8", "B") + "," +
                        event_json("8", "B") + "," + event_json("8", "A") + "]")
                .status,
            202U);
  EXPECT_EQ(a.read_json().at("payload").at("payload").at("offset"), 1);
  EXPECT_EQ(a.read_json().at("payload").at("payload").at("offset"), 2);
}

// issue 11, finding 3: a resume answered recovered:true/false according to the channel's whole history.
TEST_F(ContractTopics, ResumeIsRecoveredByOwnHistoryOnlyAndAForeignEpochRecoversNothing) {
  start();
  ws_client victim(port_, ws_client::url(token_for("authenticated", {"A"})));
  const std::string victim_epoch = epoch_of(join(victim, "realtime:doc:wo:3"));
  ASSERT_EQ(post_events(event_json("3", "A")).status, 202U);
  ASSERT_TRUE(victim.read().has_value());

  ws_client attacker(port_, ws_client::url(token_for("authenticated", {"X"})));
  const auto probe = position(join(attacker, "realtime:doc:wo:3", "1",
                                   R"({"config":{},"rtcache":{"epoch":")" + victim_epoch + R"(","offset":0}})"));
  EXPECT_EQ(probe.at("recovered"), false);
  EXPECT_NE(probe.at("epoch").as_string(), victim_epoch);
  // Nothing is replayed: the next message the attacker reads is a heartbeat reply.
  attacker.send(R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":"h"})");
  EXPECT_TRUE(is_reply(attacker.read_json(), "h"));
}

hub::hub_config no_linger() {
  hub::hub_config c;
  c.linger = std::chrono::milliseconds(0);
  return c;
}

class ContractTopicsNoLinger : public ContractTopics {
 protected:
  ContractTopicsNoLinger() : ContractTopics(no_linger()) {}
};

// issue 11, finding 3: a foreign subscriber keeping the doc open kept the attacker's epoch alive, so its
// lifetime showed whether anyone else had the document open.
TEST_F(ContractTopicsNoLinger, AViewEndsWithItsOwnSubscribersWhoeverKeepsTheDocOpen) {
  start();
  ws_client victim(port_, ws_client::url(token_for("authenticated", {"A"})));
  ASSERT_EQ(join(victim, "realtime:doc:wo:6").at("payload").at("status"), "ok");
  std::string epoch;
  {
    ws_client attacker(port_, ws_client::url(token_for("authenticated", {"X"})));
    epoch = epoch_of(join(attacker, "realtime:doc:wo:6"));
    attacker.close();
  }
  ASSERT_TRUE(wait_for([&] { return hub_.metrics().subscribers == 1; }));
  ws_client attacker(port_, ws_client::url(token_for("authenticated", {"X"})));
  const auto again = position(
      join(attacker, "realtime:doc:wo:6", "1", R"({"config":{},"rtcache":{"epoch":")" + epoch + R"(","offset":0}})"));
  EXPECT_EQ(again.at("recovered"), false);  // as for a doc nobody else holds
  EXPECT_NE(again.at("epoch").as_string(), epoch);
}

// issue 11, finding 3: epochs came from a process-wide counter ("<boot id>-17"), counting others' channels.
TEST_F(ContractTopics, EpochsAre128BitRandomHexPerChannel) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A"})));
  std::vector<std::string> epochs;
  for (int i = 0; i < 4; ++i) {
    epochs.push_back(epoch_of(join(c, "realtime:doc:wo:e" + std::to_string(i), std::to_string(i + 1))));
  }
  for (const auto& e : epochs) {
    EXPECT_EQ(e.size(), 32U) << e;
    EXPECT_EQ(e.find_first_not_of("0123456789abcdef"), std::string::npos) << e;
  }
  for (std::size_t i = 1; i < epochs.size(); ++i) EXPECT_NE(epochs[i], epochs[i - 1]);
}

}  // namespace
}  // namespace rtcache::gateway
