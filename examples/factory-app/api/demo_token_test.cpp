// Demo tokens are accepted by rtcache's own verifier, with the scope they were minted for.
#include "demo_token.hpp"

#include "auth/auth.hpp"

#include <gtest/gtest.h>

namespace rtcache::demo {
namespace {

constexpr std::string_view k_secret = "0123456789abcdef0123456789abcdef-demo";
const std::chrono::sys_seconds k_now{std::chrono::seconds(1'800'000'000)};

auth::jwt_verifier verifier(std::string_view secret) {
  return auth::jwt_verifier::create({auth::verification_key::hs256(secret).value()}).value();
}

TEST(DemoToken, VerifiesWithTheFactoryScopeItWasMintedFor) {
  token_request req;
  req.factory_ids = {"f1", "f3"};
  req.expires_at = k_now + std::chrono::hours(1);
  auto who = verifier(k_secret).verify(mint_demo_token(k_secret, req), k_now);
  ASSERT_TRUE(who.has_value()) << who.error().message;
  EXPECT_EQ(who->role, auth::auth_role::authenticated);
  EXPECT_TRUE(who->scope.contains("f1"));
  EXPECT_TRUE(who->scope.contains("f3"));
  EXPECT_FALSE(who->scope.contains("f2"));
  EXPECT_EQ(who->subject, "demo-user");
}

TEST(DemoToken, ServiceRoleIsUnscoped) {
  token_request req;
  req.role = "service_role";
  req.expires_at = k_now + std::chrono::hours(1);
  auto who = verifier(k_secret).verify(mint_demo_token(k_secret, req), k_now);
  ASSERT_TRUE(who.has_value()) << who.error().message;
  EXPECT_TRUE(who->scope.is_unscoped());
}

TEST(DemoToken, AnotherSecretDoesNotVerify) {
  token_request req;
  req.factory_ids = {"f1"};
  req.expires_at = k_now + std::chrono::hours(1);
  auto who = verifier("another-secret-another-secret-another").verify(mint_demo_token(k_secret, req), k_now);
  ASSERT_FALSE(who.has_value());
  EXPECT_EQ(who.error().code, auth::auth_errc::bad_signature);
}

TEST(DemoToken, ExpiresAtItsExp) {
  token_request req;
  req.factory_ids = {"f1"};
  req.expires_at = k_now;
  auto who = verifier(k_secret).verify(mint_demo_token(k_secret, req), k_now + std::chrono::seconds(31));
  ASSERT_FALSE(who.has_value());
  EXPECT_EQ(who.error().code, auth::auth_errc::expired);
}

}  // namespace
}  // namespace rtcache::demo
