// JWK Set parsing (issue 11, Supabase's asymmetric signing keys): keys published the way Supabase publishes
// them verify that key's tokens; every key rtcache cannot or must not use is skipped with its reason.
#include "auth/jwks.hpp"
#include "base64url.hpp"
#include "jwt_test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rtcache::auth {
namespace {

using testing::header_for;
using testing::jwks_of;
using testing::make_token;
using testing::public_jwk_of;

constexpr std::int64_t k_now = 1'700'000'000;
const std::chrono::sys_seconds now{std::chrono::seconds{k_now}};

const std::string& ec_key() {
  static const std::string k = testing::generate_ec_private_pem("P-256");
  return k;
}
const std::string& rsa_key() {
  static const std::string k = testing::generate_rsa_private_pem(2048);
  return k;
}

std::string token(jwt_alg alg, const std::string& private_pem, std::string_view kid) {
  return make_token(
      header_for(alg, kid),
      R"({"role":"authenticated","exp":)" + std::to_string(k_now + 600) + R"(,"app_metadata":{"factory_ids":["f1"]}})",
      alg, private_pem);
}

jwks_document parse(const std::string& json) {
  auto r = parse_jwks(json);
  EXPECT_TRUE(r) << r.error().message;
  return r ? std::move(*r) : jwks_document{};
}

// A verifier holding only these keys (as the JWKS cache would hand them over), with the HS256 secret absent.
class static_keys final : public key_source {
 public:
  explicit static_keys(std::vector<verification_key> k)
      : keys_(std::make_shared<const std::vector<verification_key>>(std::move(k))) {}
  std::shared_ptr<const std::vector<verification_key>> current() const override { return keys_; }
  void unknown_kid(std::string_view kid) noexcept override { unknown.emplace_back(kid); }
  std::vector<std::string> unknown;

 private:
  std::shared_ptr<const std::vector<verification_key>> keys_;
};

TEST(Jwks, SupabaseStyleEcAndRsaKeysVerifyTheirOwnTokensOnly) {
  const auto doc = parse(jwks_of({public_jwk_of(ec_key(), "ec-1"), public_jwk_of(rsa_key(), "rsa-1")}));
  ASSERT_EQ(doc.keys.size(), 2U);
  EXPECT_TRUE(doc.skipped.empty());
  EXPECT_EQ(doc.keys[0].alg(), jwt_alg::es256);
  EXPECT_EQ(doc.keys[0].kid(), "ec-1");
  EXPECT_EQ(doc.keys[1].alg(), jwt_alg::rs256);

  verifier_config config;
  auto source = std::make_shared<static_keys>(doc.keys);
  config.dynamic_keys = source;
  const auto v = jwt_verifier::create({}, config).value();
  const auto es = v.verify(token(jwt_alg::es256, ec_key(), "ec-1"), now);
  ASSERT_TRUE(es) << es.error().message;
  EXPECT_EQ(es->scope.factory_ids(), std::vector<std::string>{"f1"});
  EXPECT_TRUE(v.verify(token(jwt_alg::rs256, rsa_key(), "rsa-1"), now));
  // Another key's token under a published kid: the signature fails.
  const std::string other = testing::generate_ec_private_pem("P-256");
  EXPECT_EQ(v.verify(token(jwt_alg::es256, other, "ec-1"), now).error().code, auth_errc::bad_signature);
  // A kid the set does not hold: refused, and reported so the cache may refetch.
  EXPECT_EQ(v.verify(token(jwt_alg::es256, ec_key(), "ec-2"), now).error().code, auth_errc::unknown_key);
  EXPECT_EQ(source->unknown, std::vector<std::string>{"ec-2"});
  // An RS256 token naming the EC key's kid: alg confusion is refused.
  EXPECT_EQ(v.verify(token(jwt_alg::rs256, rsa_key(), "ec-1"), now).error().code, auth_errc::key_mismatch);
}

TEST(Jwks, AFixedKeyWinsAKidTheJwksAlsoHoldsAndHs256KidsAreNotReportedAsUnknown) {
  const std::string secret = "test-only-hs256-secret-0123456789-abcdef";
  verifier_config config;
  auto source = std::make_shared<static_keys>(parse(jwks_of({public_jwk_of(ec_key(), "shared")})).keys);
  config.dynamic_keys = source;
  const auto v =
      jwt_verifier::create({verification_key::hs256(secret, "shared").value(), verification_key::hs256(secret).value()},
                           config)
          .value();
  EXPECT_EQ(v.verify(token(jwt_alg::es256, ec_key(), "shared"), now).error().code, auth_errc::key_mismatch);
  // Supabase's legacy HS256 tokens carry a kid no JWK has: checked with the secret, never a JWKS refetch.
  EXPECT_TRUE(v.verify(token(jwt_alg::hs256, secret, "legacy-kid"), now));
  EXPECT_TRUE(source->unknown.empty());
}

TEST(Jwks, KeysRtcacheMustNotOrCannotUseAreSkippedWithTheirReason) {
  const std::string ec = public_jwk_of(ec_key(), "ok");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"ed"})",
       "kty 'OKP' is not supported"},
      {R"({"kty":"oct","k":"c2VjcmV0","kid":"hs"})", "private key material ('k')"},
      {public_jwk_of(ec_key(), "enc", R"(,"key_ops":["encrypt"])"), "key_ops does not include 'verify'"},
      {R"({"kty":"EC","crv":"P-384","x":"AA","y":"AA","kid":"p384"})", "crv 'P-384' is not supported"},
      {R"({"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA","kid":"short"})", "32 bytes each"},
      // A point that is not on P-256 (x = y = 1): OpenSSL's public key check refuses it.
      {R"({"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE","kid":"off"})",
       "OpenSSL"},
      {public_jwk_of(testing::generate_rsa_private_pem(1024), "weak"), "RS256 key has 1024 bits; 2048 to 8192"},
      {R"({"kty":"RSA","n":"AQ+B","e":"AQAB","kid":"b64"})", "n is not unpadded base64url"},
      {"[1]", "must be an object"},
      {R"({"kty":"EC","kty":"RSA"})", "twice"},
      {ec, "an earlier key has the same kid"},
  };
  std::vector<std::string> jwks = {ec};
  for (const auto& c : cases) jwks.push_back(c.first);
  // A published private key: not trusted, even though its public half would verify.
  std::string with_d = public_jwk_of(ec_key(), "leaked");
  with_d.insert(with_d.size() - 1, R"(,"d":"AAAA")");
  jwks.push_back(with_d);
  std::string rs384 = public_jwk_of(rsa_key(), "rs384");
  rs384.replace(rs384.find("RS256"), 5, "RS384");
  jwks.push_back(rs384);
  std::string enc = public_jwk_of(ec_key(), "enc-use");
  enc.replace(enc.find(R"("sig")"), 5, R"("enc")");
  jwks.push_back(enc);

  const auto doc = parse(jwks_of(jwks));
  ASSERT_EQ(doc.keys.size(), 1U);
  EXPECT_EQ(doc.keys[0].kid(), "ok");
  ASSERT_EQ(doc.skipped.size(), cases.size() + 3);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_NE(doc.skipped[i].find(cases[i].second), std::string::npos) << doc.skipped[i];
    EXPECT_EQ(doc.skipped[i].rfind("keys[" + std::to_string(i + 1) + "]", 0), 0U) << doc.skipped[i];
  }
  EXPECT_NE(doc.skipped[cases.size()].find("private key material ('d')"), std::string::npos);
  EXPECT_NE(doc.skipped[cases.size() + 1].find("alg 'RS384' is not supported"), std::string::npos);
  EXPECT_NE(doc.skipped[cases.size() + 2].find("use is 'enc'"), std::string::npos);
}

// Found by the jwks fuzz target: a 2048-bit modulus (a mutated real one) that OpenSSL 3's RSA public check,
// which runs Miller-Rabin with random bases, accepted on one parse and refused on the next. A key set parses
// the same way every time: rtcache checks RSA keys deterministically (odd n, odd e with 3 <= e < n, 2048 to 8192
// bits) and leaves a bad modulus to fail verification.
TEST(Jwks, AnRsaKeyParsesTheSameWayEveryTime) {
  const std::string mutated =
      R"({"kty":"RSA","n":"0XQ0OnXQIfO8CBSt6vcuQ_wMnx3myMEcFoJZdXjvtE82zNtRhs--eBlbQEPvgdtY-g5lMf5NfSp15p0hyBpogJk0dFGW9DBS3ycMaiKMvTyQ-661NadGyoeXcBw5QPe3Oxhb3HHU-hTT-i1vHYAFW9pEzaGIHV4RPxeyFxvUZff57Q-5aAiFvPeBbFRS1vhiAwUol6QnFIy88TECPfWojXmqz7NHXbBmXzRKsICQYZtIC_7G_jKcvKRY2FS_nGVu-0ZbmMBlHoJY1AJ_qeOz2FiW3qn3gwDxnpVrOHJNnT2LPT4ZSHtPYfvNFpfGDbom9sXRddJeb-dfLuFOjaA2DQ","e":"AQAB","kid":"b","alg":"RS256","use":"sig"})";
  const auto first = parse(jwks_of({mutated}));
  for (int i = 0; i < 200; ++i) {
    const auto again = parse(jwks_of({mutated}));
    ASSERT_EQ(again.keys.size(), first.keys.size()) << "parse " << i;
    ASSERT_EQ(again.skipped, first.skipped) << "parse " << i;
  }
}

TEST(Jwks, AnRsaKeyWithAnEvenModulusOrAnUnusableExponentIsSkipped) {
  std::string modulus(256, '\xff');  // 2048 bits, even
  modulus.back() = '\xfe';
  const std::string even =
      R"({"kty":"RSA","n":")" + detail::base64url_encode(modulus) + R"(","e":"AQAB","kid":"even"})";
  std::string e_one = public_jwk_of(rsa_key(), "e-one");
  e_one.replace(e_one.find(R"("e":"AQAB")"), 10, R"("e":"AQ")");
  std::string e_even = public_jwk_of(rsa_key(), "e-even");
  e_even.replace(e_even.find(R"("e":"AQAB")"), 10, R"("e":"AQAA")");
  const auto doc = parse(jwks_of({even, e_one, e_even}));
  EXPECT_TRUE(doc.keys.empty());
  ASSERT_EQ(doc.skipped.size(), 3U);
  EXPECT_NE(doc.skipped[0].find("the modulus n is even"), std::string::npos) << doc.skipped[0];
  EXPECT_NE(doc.skipped[1].find("the exponent e must be odd"), std::string::npos) << doc.skipped[1];
  EXPECT_NE(doc.skipped[2].find("the exponent e must be odd"), std::string::npos) << doc.skipped[2];
}

TEST(Jwks, MalformedDocumentsAreRefusedWhole) {
  for (const std::string bad :
       {"", "not json", "[]", "{}", R"({"keys":{}})", R"({"keys":[],"keys":[]})", R"({"keys":[)"}) {
    const auto r = parse_jwks(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, auth_errc::malformed) << bad;
  }
  EXPECT_FALSE(parse_jwks(R"({"keys":[],"pad":")" + std::string(k_max_jwks_bytes, 'x') + "\"}"));
  // An empty set is a valid document: it removes every key.
  EXPECT_TRUE(parse(R"({"keys":[]})").keys.empty());
}

TEST(Jwks, AtMostMaxKeysAreTakenFromOneDocument) {
  std::vector<std::string> jwks;
  for (std::size_t i = 0; i <= k_max_jwks_keys; ++i) jwks.push_back(public_jwk_of(ec_key(), "k" + std::to_string(i)));
  const auto doc = parse(jwks_of(jwks));
  EXPECT_EQ(doc.keys.size(), k_max_jwks_keys);
  ASSERT_EQ(doc.skipped.size(), 1U);
  EXPECT_NE(doc.skipped[0].find("beyond the first 64 usable keys"), std::string::npos) << doc.skipped[0];
}

}  // namespace
}  // namespace rtcache::auth
