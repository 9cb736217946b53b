// What clients are told for each refusal: the HTTP answer before the upgrade, the phx_join reason and the
// system message, worded as supabase/realtime words them.
#include "auth/auth.hpp"

#include <gtest/gtest.h>

namespace rtcache::auth {
namespace {

auth_error err(auth_errc code, std::int64_t seconds_past_exp = 0) {
  return auth_error{code, "detail that must not reach the client: kid 'secret-kid'", seconds_past_exp};
}

TEST(AuthRefusal, ExpiredIs401TokenHasExpired) {
  const http_refusal r = to_http_refusal(err(auth_errc::expired, 12));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, R"({"error":"Token has expired"})");
}

TEST(AuthRefusal, MissingTokenIs401ApiKeyIsMissing) {
  const http_refusal r = to_http_refusal(err(auth_errc::missing_token));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, R"({"error":"API key is missing"})");
}

TEST(AuthRefusal, InvalidTokensAre401WithSupabaseWording) {
  EXPECT_EQ(to_http_refusal(err(auth_errc::malformed)).body, R"({"error":"The token provided is not a valid JWT"})");
  EXPECT_EQ(to_http_refusal(err(auth_errc::too_long)).body, R"({"error":"The token provided is not a valid JWT"})");
  EXPECT_EQ(to_http_refusal(err(auth_errc::bad_signature)).body, R"({"error":"Failed to validate JWT signature"})");
  EXPECT_EQ(to_http_refusal(err(auth_errc::missing_claim)).body,
            R"({"error":"Fields `role` and `exp` are required in JWT"})");
  EXPECT_EQ(to_http_refusal(err(auth_errc::unsupported_alg)).body,
            R"({"error":"Failed to generate JWT signer, check your JWT secret or JWKS configuration"})");
  for (auth_errc code :
       {auth_errc::missing_token, auth_errc::too_long, auth_errc::malformed, auth_errc::unsupported_alg,
        auth_errc::unknown_key, auth_errc::key_mismatch, auth_errc::bad_signature, auth_errc::missing_claim,
        auth_errc::bad_claim, auth_errc::expired, auth_errc::not_yet_valid, auth_errc::bad_audience}) {
    EXPECT_EQ(to_http_refusal(err(code)).status, 401) << to_string(code);
  }
}

TEST(AuthRefusal, RoleAndScopeProblemsAre403) {
  EXPECT_EQ(to_http_refusal(err(auth_errc::bad_role)).status, 403);
  EXPECT_EQ(to_http_refusal(err(auth_errc::bad_scope)).status, 403);
  EXPECT_EQ(to_http_refusal(err(auth_errc::bad_scope)).body, R"({"error":"Token factory scope is not valid"})");
}

TEST(AuthRefusal, ConfigurationErrorsAre500) {
  EXPECT_EQ(to_http_refusal(err(auth_errc::bad_key)).status, 500);
  EXPECT_EQ(to_http_refusal(err(auth_errc::bad_config)).body, R"({"error":"Error connecting to Realtime"})");
}

TEST(AuthRefusal, NoWordingEchoesTheDetailedMessage) {
  for (int c = 0; c <= static_cast<int>(auth_errc::bad_config); ++c) {
    const auth_error e = err(static_cast<auth_errc>(c), 3);
    EXPECT_EQ(to_http_refusal(e).body.find("secret-kid"), std::string::npos);
    EXPECT_EQ(join_refusal_reason(e).find("secret-kid"), std::string::npos);
    EXPECT_EQ(system_refusal_message(e).find("secret-kid"), std::string::npos);
    EXPECT_FALSE(system_refusal_message(e).empty());
    EXPECT_EQ(to_http_refusal(e).body.rfind(R"({"error":")", 0), 0U);
  }
}

TEST(AuthRefusal, JoinReasonCarriesSupabaseLogCode) {
  EXPECT_EQ(join_refusal_reason(err(auth_errc::expired, 12)), "InvalidJWTToken: Token has expired 12 seconds ago");
  EXPECT_EQ(join_refusal_reason(err(auth_errc::bad_signature)), "JwtSignatureError: Failed to validate JWT signature");
  EXPECT_EQ(join_refusal_reason(err(auth_errc::malformed)), "MalformedJWT: The token provided is not a valid JWT");
  EXPECT_EQ(join_refusal_reason(err(auth_errc::bad_scope)), "Unauthorized: Token factory scope is not valid");
}

TEST(AuthRefusal, SystemMessageOnRefreshFailure) {
  EXPECT_EQ(system_refusal_message(err(auth_errc::expired, 0)), "Token has expired 0 seconds ago");
  EXPECT_EQ(system_refusal_message(err(auth_errc::missing_claim)), "Fields `role` and `exp` are required in JWT");
  EXPECT_EQ(system_refusal_message(err(auth_errc::malformed)), "The token provided is not a valid JWT");
  EXPECT_EQ(system_refusal_message(err(auth_errc::bad_signature)), "Failed to validate JWT signature");
}

}  // namespace
}  // namespace rtcache::auth
