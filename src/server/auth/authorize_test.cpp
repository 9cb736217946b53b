// Join and delivery decisions against the factory scope (docs/design.md §4), including a client trying to reach
// other factories' list: and factory: channels.
#include "auth/auth.hpp"
#include "jwt_test_support.hpp"

#include <gtest/gtest.h>

namespace rtcache::auth {
namespace {

using core::channel_key;
using namespace std::chrono_literals;

const std::chrono::sys_seconds now{std::chrono::seconds{1'700'000'000}};

principal scoped(std::initializer_list<std::string_view> ids) {
  return principal{auth_role::authenticated, core::factory_scope::of(ids), now + 3600s, "user-1"};
}

principal service() {
  return principal{auth_role::service_role, core::factory_scope::unscoped(), now + 3600s, ""};
}

TEST(AuthorizeJoin, ScopedPrincipalJoinsListAndFactoryOfItsFactories) {
  const principal p = scoped({"F1", "F2"});
  EXPECT_EQ(authorize_join(p, channel_key::list("wo", "F1")).verdict, join_verdict::allowed);
  EXPECT_EQ(authorize_join(p, channel_key::factory("F2")).verdict, join_verdict::allowed);
  EXPECT_TRUE(authorize_join(p, channel_key::factory("F2")).reason.empty());
}

TEST(AuthorizeJoin, RefusesOtherFactoriesListAndFactoryChannels) {
  const principal p = scoped({"F1", "F2"});
  // Neighbours, prefixes, case variants and extensions of an allowed id are other factories.
  for (const char* other : {"F3", "F", "F10", "f1", "F1.", "F1-a", "F2 ", "*", ""}) {
    const join_decision list = authorize_join(p, channel_key::list("wo", other));
    EXPECT_EQ(list.verdict, join_verdict::refused) << other;
    EXPECT_FALSE(list.allowed());
    const join_decision factory = authorize_join(p, channel_key::factory(other));
    EXPECT_EQ(factory.verdict, join_verdict::refused) << other;
  }
  EXPECT_EQ(authorize_join(p, channel_key::list("invoice", "F3")).reason,
            "Unauthorized: You do not have permissions to read from this Channel topic: list:invoice:F3");
}

TEST(AuthorizeJoin, DocJoinIsAllowedButFilteredForScopedPrincipals) {
  const principal p = scoped({"F1"});
  const join_decision d = authorize_join(p, channel_key::doc("wo", "123"));
  EXPECT_EQ(d.verdict, join_verdict::allowed_filtered);
  EXPECT_TRUE(d.allowed());
}

TEST(AuthorizeJoin, ServiceRoleJoinsEveryChannelUnfiltered) {
  const principal p = service();
  EXPECT_EQ(authorize_join(p, channel_key::list("wo", "F9")).verdict, join_verdict::allowed);
  EXPECT_EQ(authorize_join(p, channel_key::factory("F9")).verdict, join_verdict::allowed);
  EXPECT_EQ(authorize_join(p, channel_key::doc("wo", "1")).verdict, join_verdict::allowed);
  EXPECT_TRUE(may_deliver(p, "F9"));
}

TEST(AuthorizeJoin, EmptyScopeJoinsOnlyDocChannelsAndReceivesNothing) {
  const principal p{auth_role::anon, core::factory_scope::of(std::vector<std::string>{}), now + 60s, ""};
  EXPECT_EQ(authorize_join(p, channel_key::list("wo", "F1")).verdict, join_verdict::refused);
  EXPECT_EQ(authorize_join(p, channel_key::factory("F1")).verdict, join_verdict::refused);
  EXPECT_EQ(authorize_join(p, channel_key::doc("wo", "1")).verdict, join_verdict::allowed_filtered);
  EXPECT_FALSE(may_deliver(p, "F1"));
}

TEST(MayDeliver, OnlyEventsOfFactoriesInScope) {
  const principal p = scoped({"F1", "F2"});
  EXPECT_TRUE(may_deliver(p, "F1"));
  EXPECT_TRUE(may_deliver(p, "F2"));
  EXPECT_FALSE(may_deliver(p, "F3"));
  EXPECT_FALSE(may_deliver(p, "f1"));
  EXPECT_FALSE(may_deliver(p, ""));
  EXPECT_FALSE(may_deliver(p, std::string_view("F1\0", 3)));
}

TEST(AuthorizeJoin, RevokedMessageNamesTheChannel) {
  EXPECT_EQ(revoked_message(channel_key::factory("F1")),
            "You no longer have permission to read from this Channel topic: factory:F1");
}

TEST(AuthorizeJoin, VerifiedTokenCannotReachAnotherFactory) {
  // End to end: a genuine token scoped to F1 asks for F2's list; the refresh to a token without F1 revokes it.
  const std::string secret = "test-only-hs256-secret-0123456789-abcdef";
  const auto v = jwt_verifier::create({verification_key::hs256(secret).value()}).value();
  const auto token = [&](const char* ids) {
    return testing::make_token(
        testing::header_for(jwt_alg::hs256),
        std::string(R"({"exp":1700003600,"role":"authenticated","app_metadata":{"factory_ids":)") + ids + "}}",
        jwt_alg::hs256, secret);
  };
  const principal first = v.verify(token(R"(["F1"])"), now).value();
  EXPECT_EQ(authorize_join(first, channel_key::list("wo", "F1")).verdict, join_verdict::allowed);
  EXPECT_EQ(authorize_join(first, channel_key::list("wo", "F2")).verdict, join_verdict::refused);
  EXPECT_EQ(authorize_join(first, channel_key::factory("F2")).verdict, join_verdict::refused);

  const principal refreshed = v.verify(token(R"(["F2"])"), now).value();
  EXPECT_EQ(authorize_join(refreshed, channel_key::factory("F1")).verdict, join_verdict::refused);
  EXPECT_FALSE(may_deliver(refreshed, "F1"));
}

}  // namespace
}  // namespace rtcache::auth
