// Private channels (issue 11, finding 2): a join with config.private:true is authorised by the configured rules
// (channel_access.hpp), a private channel and the public channel of the same name are distinct, and public
// non-contract channels can be turned off.
#include "gateway_fixture.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <string>

namespace rtcache::gateway {
namespace {

namespace json = boost::json;
using namespace testing;

constexpr std::string_view k_private = R"({"config":{"private":true}})";

// team:<id> is readable by authenticated users whose app_metadata.teams holds <id>, writable too;
// inbox:<sub> is readable by its user only.
gateway_config with_rules(auth::client_broadcasts from_clients = auth::client_broadcasts::all,
                          bool private_only = false) {
  gateway_config cfg;
  cfg.channels.from_clients = from_clients;
  cfg.channels.private_only = private_only;
  cfg.channels.private_rules = {
      {"team:*", {auth::auth_role::authenticated}, {{"app_metadata.teams", "{1}"}}, true, true, "test rule 0"},
      {"inbox:*", {auth::auth_role::authenticated}, {{"sub", "{1}"}}, true, false, "test rule 1"}};
  return cfg;
}

std::string member_of(std::string_view team, std::string_view sub = "u1") {
  return hs256(R"({"alg":"HS256","typ":"JWT"})", R"({"role":"authenticated","sub":")" + std::string(sub) +
                                                     R"(","exp":)" + std::to_string(unix_now() + 3600) +
                                                     R"(,"app_metadata":{"factory_ids":[],"teams":[")" +
                                                     std::string(team) + R"("]}})");
}

class PrivateChannels : public gateway_fixture {};

json::value status_of(const json::value& reply) {
  return reply.at("payload").at("status");
}
std::string reason_of(const json::value& reply) {
  return std::string(reply.at("payload").at("response").at("reason").as_string());
}

// issue 11, finding 2: config.private was parsed but never enforced; any token, anon included, could join.
TEST_F(PrivateChannels, APrivateJoinWithoutAMatchingRuleIsRefused) {
  start(with_rules());
  ws_client anon(port_, ws_client::url(token_for("anon")));
  const auto refused = join(anon, "realtime:team:t1", "1", k_private);
  EXPECT_EQ(status_of(refused), "error");
  EXPECT_EQ(reason_of(refused), "Unauthorized: You do not have permissions to read from this Channel topic: team:t1");
  ws_client outsider(port_, ws_client::url(member_of("t2")));
  EXPECT_EQ(status_of(join(outsider, "realtime:team:t1", "1", k_private)), "error");
  EXPECT_EQ(status_of(join(outsider, "realtime:unruled", "2", k_private)), "error");
}

TEST_F(PrivateChannels, APrivateJoinIsAllowedByRoleAndAClaimNamedByTheTopic) {
  start(with_rules());
  ws_client member(port_, ws_client::url(member_of("t1")));
  EXPECT_EQ(status_of(join(member, "realtime:team:t1", "1", k_private)), "ok");
  ws_client user(port_, ws_client::url(token_for("authenticated", {}, 3600, {}, "alice")));
  EXPECT_EQ(status_of(join(user, "realtime:inbox:alice", "1", k_private)), "ok");
  EXPECT_EQ(status_of(join(user, "realtime:inbox:bob", "2", k_private)), "error");
  ws_client service(port_, ws_client::url(service_token()));
  EXPECT_EQ(status_of(join(service, "realtime:inbox:bob", "1", k_private)), "ok");  // service_role bypasses rules
}

// issue 11, finding 2: a message sent with private:true reached subscribers that joined without it.
TEST_F(PrivateChannels, PrivateAndPublicChannelsOfOneNameAreDistinct) {
  start(with_rules());
  ws_client priv(port_, ws_client::url(member_of("t1")));
  ws_client pub(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(status_of(join(priv, "realtime:team:t1", "1", k_private)), "ok");
  ASSERT_EQ(status_of(join(pub, "realtime:team:t1")), "ok");
  ASSERT_EQ(post_broadcast(R"({"messages":[{"topic":"team:t1","event":"secret","payload":{"n":1},"private":true},)"
                           R"({"topic":"team:t1","event":"open","payload":{"n":2},"private":false}]})")
                .status,
            202U);
  EXPECT_EQ(priv.read_json().at("payload").at("event"), "secret");
  const auto seen = pub.read_json();
  EXPECT_EQ(seen.at("payload").at("event"), "open") << "the private message reached a public subscriber";
  EXPECT_EQ(seen.at("topic"), "realtime:team:t1");
  // A WebSocket broadcast on the private channel (a member with the write grant) stays private too.
  priv.send(v1_broadcast("realtime:team:t1", "ws-secret", R"({"n":3})", "9", "1"));
  pub.send(R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":"h"})");
  EXPECT_TRUE(is_reply(pub.read_json(), "h")) << "the private broadcast reached the public subscriber";
}

TEST_F(PrivateChannels, SendsToAPrivateChannelNeedAWriteGrant) {
  start(with_rules());
  ws_client reader(port_, ws_client::url(token_for("authenticated", {}, 3600, {}, "alice")));
  ASSERT_EQ(
      status_of(join(reader, "realtime:inbox:alice", "1", R"({"config":{"private":true,"broadcast":{"ack":true}}})")),
      "ok");
  reader.send(v1_broadcast("realtime:inbox:alice", "e", "{}", "2", "1"));
  const auto reply = reader.read_until([](const json::value& v) { return is_reply(v, "2"); });
  EXPECT_EQ(status_of(reply), "error");
  EXPECT_EQ(reason_of(reply), "Unauthorized: You do not have permissions to write to this Channel topic: inbox:alice");
  const auto rest = post_broadcast(R"({"messages":[{"topic":"inbox:alice","event":"e","private":true}]})",
                                   token_for("authenticated", {}, 3600, {}, "alice"));
  EXPECT_EQ(json::parse(rest.body).at("refused").at(0).at("code"), "not_allowed");
}

TEST_F(PrivateChannels, PrivateOnlyTurnsPublicNonContractChannelsOff) {
  start(with_rules(auth::client_broadcasts::all, true));
  ws_client c(port_, ws_client::url(member_of("t1")));
  const auto refused = join(c, "realtime:room1");
  EXPECT_EQ(status_of(refused), "error");
  EXPECT_EQ(reason_of(refused), "PrivateOnly: This project only allows private channels");
  EXPECT_EQ(status_of(join(c, "realtime:team:t1", "2", k_private)), "ok");
  ws_client scoped(port_, ws_client::url(token_for("authenticated", {"A"})));
  EXPECT_EQ(status_of(join(scoped, "realtime:list:wo:A")), "ok");  // contract channels are unaffected
  EXPECT_EQ(status_of(join(scoped, "realtime:doc:wo:1", "2")), "ok");
  const auto rest = post_broadcast(R"({"messages":[{"topic":"room1","event":"e"}]})");
  EXPECT_EQ(json::parse(rest.body).at("refused").at(0).at("code"), "not_allowed");
}

TEST_F(PrivateChannels, ARefreshedTokenThatLosesTheRuleClosesThePrivateChannel) {
  start(with_rules());
  ws_client c(port_, ws_client::url(member_of("t1")));
  ASSERT_EQ(status_of(join(c, "realtime:team:t1", "1", k_private)), "ok");
  c.send(R"({"topic":"realtime:team:t1","event":"access_token","payload":{"access_token":")" + member_of("t2") +
         R"("},"ref":"2","join_ref":"1"})");
  const auto sys = c.read_json();
  EXPECT_EQ(sys.at("event"), "system");
  EXPECT_EQ(sys.at("payload").at("message"), "You no longer have permission to read from this Channel topic: team:t1");
  EXPECT_EQ(c.read_json().at("event"), "phx_close");
}

}  // namespace
}  // namespace rtcache::gateway
