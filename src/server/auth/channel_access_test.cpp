// Private-channel rules, the public-access switch and broadcast.from_clients (issue 11, findings 2 and 5): the
// pure decisions the gateway asks for at each join and each send.
#include "auth/channel_access.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace rtcache::auth {
namespace {

using namespace std::chrono_literals;

const std::chrono::sys_seconds now{std::chrono::seconds{1'700'000'000}};

principal with(auth_role role, std::string claims_json) {
  principal p{role, role == auth_role::service_role ? core::factory_scope::unscoped() : core::factory_scope::of({}),
              now + 3600s, "u1"};
  p.claims = std::make_shared<const std::string>(std::move(claims_json));
  return p;
}

private_channel_rule rule(std::string topic, std::vector<auth_role> roles,
                          std::vector<std::pair<std::string, std::string>> claims = {}, bool read = true,
                          bool write = false) {
  return private_channel_rule{std::move(topic), std::move(roles), std::move(claims), read, write, "test"};
}

channel_access make(channel_policy p) {
  return channel_access::create(std::move(p)).value();
}

TEST(ChannelPattern, LiteralSegmentsMatchThemselvesOnly) {
  EXPECT_TRUE(match_channel_pattern("room:lobby", "room:lobby"));
  EXPECT_FALSE(match_channel_pattern("room:lobby", "room:lobby2"));
  EXPECT_FALSE(match_channel_pattern("room:lobby", "room"));
  EXPECT_FALSE(match_channel_pattern("room:lobby", "room:lobby:x"));
}

TEST(ChannelPattern, StarTakesOneNonEmptySegmentPartAndIsACapture) {
  const auto m = match_channel_pattern("team:*:chat", "team:t42:chat");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, (std::vector<std::string_view>{"t42"}));
  EXPECT_FALSE(match_channel_pattern("team:*:chat", "team::chat"));
  EXPECT_FALSE(match_channel_pattern("team:*:chat", "team:a:b:chat"));  // '*' never crosses ':'
  const auto affix = match_channel_pattern("user-*-inbox", "user-7-inbox");
  ASSERT_TRUE(affix);
  EXPECT_EQ(*affix, (std::vector<std::string_view>{"7"}));
  EXPECT_FALSE(match_channel_pattern("user-*-inbox", "user--inbox"));
}

TEST(ChannelPattern, DoubleStarLastTakesTheRestIncludingColons) {
  const auto m = match_channel_pattern("org:*:**", "org:o1:a:b:c");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, (std::vector<std::string_view>{"o1", "a:b:c"}));
  EXPECT_FALSE(match_channel_pattern("org:*:**", "org:o1"));
}

TEST(ClaimHolds, StringsNumbersAndArraysAtADottedPath) {
  const std::string claims = R"({"sub":"u1","team":7,"app_metadata":{"rooms":["r1","r2"],"org":"o"}})";
  EXPECT_TRUE(claim_holds(claims, "sub", "u1"));
  EXPECT_FALSE(claim_holds(claims, "sub", "u2"));
  EXPECT_TRUE(claim_holds(claims, "team", "7"));
  EXPECT_TRUE(claim_holds(claims, "app_metadata.rooms", "r2"));
  EXPECT_FALSE(claim_holds(claims, "app_metadata.rooms", "r3"));
  EXPECT_TRUE(claim_holds(claims, "app_metadata.org", "o"));
  EXPECT_FALSE(claim_holds(claims, "app_metadata.missing", "o"));
  EXPECT_FALSE(claim_holds(claims, "sub.deeper", "u1"));
  EXPECT_FALSE(claim_holds("not json", "sub", "u1"));
}

TEST(ChannelAccess, PrivateJoinNeedsARuleOfTheRoleWithReadAndHoldingClaims) {
  const auto access = make(
      {false, client_broadcasts::all, {rule("team:*", {auth_role::authenticated}, {{"app_metadata.teams", "{1}"}})}});
  const principal member = with(auth_role::authenticated, R"({"app_metadata":{"teams":["t1"]}})");
  EXPECT_TRUE(access.may_join(member, "team:t1", true).allowed);
  const auto other = access.may_join(member, "team:t2", true);
  EXPECT_FALSE(other.allowed);
  EXPECT_EQ(other.reason, "Unauthorized: You do not have permissions to read from this Channel topic: team:t2");
  // The same claims under a role the rule does not name.
  EXPECT_FALSE(access.may_join(with(auth_role::anon, R"({"app_metadata":{"teams":["t1"]}})"), "team:t1", true).allowed);
  // A topic no rule matches.
  EXPECT_FALSE(access.may_join(member, "room:t1", true).allowed);
  // A principal without claims (not built from a token) holds no claim.
  principal bare = member;
  bare.claims.reset();
  EXPECT_FALSE(access.may_join(bare, "team:t1", true).allowed);
}

TEST(ChannelAccess, ServiceRoleJoinsAndSendsOnEveryPrivateChannel) {
  const auto access = make({true, client_broadcasts::off, {}});
  const principal service = with(auth_role::service_role, "{}");
  EXPECT_TRUE(access.may_join(service, "anything", true).allowed);
  EXPECT_TRUE(access.may_send(service, "anything", true).allowed);
}

TEST(ChannelAccess, PrivateOnlyRefusesPublicJoinsAndSendsEvenForServiceRole) {
  const auto access = make({true, client_broadcasts::all, {}});
  const principal service = with(auth_role::service_role, "{}");
  const auto join = access.may_join(with(auth_role::authenticated, "{}"), "room1", false);
  EXPECT_FALSE(join.allowed);
  EXPECT_EQ(join.reason, "PrivateOnly: This project only allows private channels");
  EXPECT_FALSE(access.may_join(service, "room1", false).allowed);
  EXPECT_FALSE(access.may_send(service, "room1", false).allowed);
  EXPECT_TRUE(make({}).may_join(with(auth_role::anon, "{}"), "room1", false).allowed);
}

TEST(ChannelAccess, FromClientsOffPublicAll) {
  const principal user = with(auth_role::authenticated, R"({"sub":"u1"})");
  const auto rules =
      std::vector<private_channel_rule>{rule("inbox:*", {auth_role::authenticated}, {{"sub", "{1}"}}, true, true),
                                        rule("feed:*", {auth_role::authenticated}, {}, true, false)};
  const auto off = make({false, client_broadcasts::off, rules});
  EXPECT_FALSE(off.may_send(user, "room", false).allowed);
  EXPECT_FALSE(off.may_send(user, "inbox:u1", true).allowed);
  const auto pub = make({false, client_broadcasts::public_only, rules});
  EXPECT_TRUE(pub.may_send(user, "room", false).allowed);
  EXPECT_FALSE(pub.may_send(user, "inbox:u1", true).allowed);
  const auto all = make({false, client_broadcasts::all, rules});
  EXPECT_TRUE(all.may_send(user, "room", false).allowed);
  EXPECT_TRUE(all.may_send(user, "inbox:u1", true).allowed);
  EXPECT_FALSE(all.may_send(user, "inbox:u2", true).allowed);  // the claim names another user
  EXPECT_FALSE(all.may_send(user, "feed:x", true).allowed);    // read only
  EXPECT_TRUE(all.may_join(user, "feed:x", true).allowed);
}

TEST(ChannelAccess, CreateRefusesMalformedRules) {
  const auto refused = [](private_channel_rule r) { return !channel_access::create({false, {}, {std::move(r)}}); };
  EXPECT_TRUE(refused(rule("", {auth_role::anon})));
  EXPECT_TRUE(refused(rule("a::b", {auth_role::anon})));
  EXPECT_TRUE(refused(rule("a:**:b", {auth_role::anon})));
  EXPECT_TRUE(refused(rule("a:*x*", {auth_role::anon})));
  EXPECT_TRUE(refused(rule("a:*", {})));
  EXPECT_TRUE(refused(rule("a:*", {auth_role::anon}, {{"sub", "{2}"}})));
  EXPECT_TRUE(refused(rule("a:*", {auth_role::anon}, {{"a..b", "x"}})));
  EXPECT_TRUE(refused(rule("a:*", {auth_role::anon}, {}, false, false)));
  EXPECT_TRUE(channel_access::create({false, {}, {rule("a:*", {auth_role::anon}, {{"sub", "{1}"}})}}));
}

TEST(ChannelAccess, FromClientsParsesItsThreeValues) {
  EXPECT_EQ(parse_client_broadcasts("off").value(), client_broadcasts::off);
  EXPECT_EQ(parse_client_broadcasts("public").value(), client_broadcasts::public_only);
  EXPECT_EQ(parse_client_broadcasts("all").value(), client_broadcasts::all);
  EXPECT_FALSE(parse_client_broadcasts("yes"));
  EXPECT_EQ(to_string(client_broadcasts::public_only), "public");
}

}  // namespace
}  // namespace rtcache::auth
