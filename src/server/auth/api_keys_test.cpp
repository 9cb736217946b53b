// Supabase API keys (issue 11): the format a configured key must have, the lookup of a presented key (publishable
// -> anon, secret -> service_role), and what a refusal may say (never the key).
#include "auth/auth.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rtcache::auth {
namespace {

using namespace std::chrono_literals;

// The shapes Supabase issues: prefix, 22 random base64url characters, '_', 8 more (31 after the prefix).
const std::string k_publishable = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
const std::string k_publishable2 = "sb_publishable_Zz9-8yXwVu7tSrQpOnMlKj_iHgFeDcB";
const std::string k_secret = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
const std::string k_secret2 = "sb_secret_aB3dE5fG7hI9jK1lM3nO5p_Q7rS9tU1v";

const std::chrono::sys_seconds now{std::chrono::seconds{1'700'000'000}};

jwt_verifier verifier_with(api_key_set keys) {
  verifier_config config;
  config.api_keys = std::move(keys);
  return jwt_verifier::create({verification_key::hs256("test-only-hs256-secret-0123456789-abcdef").value()}, config)
      .value();
}

TEST(ApiKeyFormat, SupabasesKeysPassAndTheirKindIsTheirPrefix) {
  EXPECT_TRUE(check_api_key(k_publishable, api_key_kind::publishable));
  EXPECT_TRUE(check_api_key(k_secret, api_key_kind::secret));
  EXPECT_EQ(api_key_kind_of(k_publishable), api_key_kind::publishable);
  EXPECT_EQ(api_key_kind_of(k_secret), api_key_kind::secret);
  EXPECT_EQ(api_key_kind_of("eyJhbGciOiJIUzI1NiJ9.e30.x"), std::nullopt);
  EXPECT_EQ(api_key_kind_of("sb_publishable"), std::nullopt);  // the prefix ends with '_'
}

TEST(ApiKeyFormat, WrongPrefixShortLongAndBadCharactersAreNamedWithoutQuotingTheKey) {
  const auto problem = [](std::string_view key, api_key_kind kind) {
    auto r = check_api_key(key, kind);
    EXPECT_FALSE(r);
    if (r) return std::string();
    EXPECT_EQ(r.error().code, auth_errc::bad_key);
    // The body of the key never appears in the message.
    const std::string_view body = key.substr(std::min(key.size(), key.find('_', 3) + 1));
    if (body.size() >= 8) {
      EXPECT_EQ(r.error().message.find(body.substr(0, 8)), std::string::npos) << r.error().message;
    }
    return r.error().message;
  };
  EXPECT_NE(problem(k_secret, api_key_kind::publishable).find("is a secret key"), std::string::npos);
  EXPECT_NE(problem(k_publishable, api_key_kind::secret).find("is a publishable key"), std::string::npos);
  EXPECT_NE(problem("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYW5vbiJ9.sig", api_key_kind::publishable)
                .find("looks like a JWT"),
            std::string::npos);
  EXPECT_NE(
      problem("pk_live_0123456789abcdefghijkl", api_key_kind::publishable).find("must start with sb_publishable_"),
      std::string::npos);
  EXPECT_NE(problem("sb_secret_short", api_key_kind::secret).find("5 characters after sb_secret_; 16 to 256"),
            std::string::npos);
  EXPECT_NE(problem("sb_secret_" + std::string(257, 'a'), api_key_kind::secret).find("257 characters"),
            std::string::npos);
  EXPECT_NE(problem(k_secret + "\n", api_key_kind::secret).find("at position 42"), std::string::npos);
  EXPECT_NE(problem("sb_secret_N7UND0UgjKTVK+Uodkm0Hg_xSvEMPvz", api_key_kind::secret).find("position 24"),
            std::string::npos);
}

TEST(ApiKeySet, RefusesTooManyKeysAKeyListedTwiceAndAKeyOfTheOtherKind) {
  EXPECT_EQ(api_key_set::create({k_publishable, k_publishable}, {}).error().code, auth_errc::bad_config);
  EXPECT_NE(
      api_key_set::create({k_publishable, k_publishable}, {}).error().message.find("publishable key 2 is listed twice"),
      std::string::npos);
  EXPECT_EQ(api_key_set::create({k_secret}, {}).error().code, auth_errc::bad_key);
  std::vector<std::string> many;
  for (std::size_t i = 0; i <= k_max_api_keys; ++i)
    many.push_back("sb_secret_" + std::string(20, 'a') + std::to_string(i));
  EXPECT_EQ(api_key_set::create({}, many).error().code, auth_errc::bad_config);
  many.pop_back();
  EXPECT_TRUE(api_key_set::create({}, many));
}

TEST(ApiKeySet, MatchesEveryConfiguredKeyOfItsKindAndNothingElse) {
  const auto set = api_key_set::create({k_publishable, k_publishable2}, {k_secret, k_secret2}).value();
  EXPECT_EQ(set.match(k_publishable), api_key_kind::publishable);
  EXPECT_EQ(set.match(k_publishable2), api_key_kind::publishable);
  EXPECT_EQ(set.match(k_secret), api_key_kind::secret);
  EXPECT_EQ(set.match(k_secret2), api_key_kind::secret);
  EXPECT_EQ(set.match(k_publishable.substr(0, k_publishable.size() - 1)), std::nullopt);  // a prefix of a key
  EXPECT_EQ(set.match(k_publishable + "A"), std::nullopt);                                // a key and more
  std::string flipped = k_secret;
  flipped.back() = 'y';
  EXPECT_EQ(set.match(flipped), std::nullopt);
  // A secret key's random part behind the publishable prefix is still not a key.
  EXPECT_EQ(set.match("sb_publishable_" + k_secret.substr(10)), std::nullopt);
  EXPECT_EQ(set.match("not a key"), std::nullopt);
  EXPECT_EQ(api_key_set().match(k_publishable), std::nullopt);
}

TEST(VerifyApiKey, APublishableKeyIsAnonWithNoScopeAndASecretKeyIsServiceRole) {
  const auto v = verifier_with(api_key_set::create({k_publishable}, {k_secret}).value());
  const auto anon = v.verify(k_publishable, now);
  ASSERT_TRUE(anon) << anon.error().message;
  EXPECT_EQ(anon->role, auth_role::anon);
  EXPECT_FALSE(anon->scope.is_unscoped());
  EXPECT_TRUE(anon->scope.factory_ids().empty());
  EXPECT_TRUE(anon->subject.empty());
  EXPECT_EQ(anon->expires_at, k_api_key_expires_at);
  EXPECT_FALSE(v.check_expiry(*anon, now + std::chrono::hours(24 * 365 * 100)));

  const auto service = v.verify(k_secret, now);
  ASSERT_TRUE(service) << service.error().message;
  EXPECT_EQ(service->role, auth_role::service_role);
  EXPECT_TRUE(service->scope.is_unscoped());
}

TEST(VerifyApiKey, AnUnlistedKeyIsRefusedAsAnInvalidApiKeyWithoutQuotingIt) {
  const auto v = verifier_with(api_key_set::create({k_publishable}, {}).value());
  for (const std::string& key : {k_publishable2, k_secret}) {
    const auto r = v.verify(key, now);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, auth_errc::unknown_api_key);
    EXPECT_EQ(r.error().message.find(key.substr(15, 12)), std::string::npos) << r.error().message;
    const http_refusal http = to_http_refusal(r.error());
    EXPECT_EQ(http.status, 401);
    EXPECT_EQ(http.body, R"({"error":"Invalid API key: not a publishable or secret key of this server"})");
    EXPECT_EQ(join_refusal_reason(r.error()),
              "InvalidAPIKey: Invalid API key: not a publishable or secret key of this server");
  }
  // Without any configured key, Supabase's keys are refused the same way (no longer "not a valid JWT").
  EXPECT_EQ(verifier_with(api_key_set()).verify(k_publishable, now).error().code, auth_errc::unknown_api_key);
}

}  // namespace
}  // namespace rtcache::auth
