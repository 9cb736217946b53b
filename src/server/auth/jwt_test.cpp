// The JWT verifier against tokens minted in-test with keys generated in-test: every algorithm accepted when
// genuine, every forgery, tampering, malformation and claim problem refused with its code.
#include "auth/auth.hpp"
#include "base64url.hpp"
#include "jwt_test_support.hpp"
#include "rtcache/core/identifier.hpp"

#include <openssl/err.h>

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace rtcache::auth {
namespace {

using namespace std::chrono_literals;
using testing::header_for;
using testing::make_token;

constexpr std::int64_t k_now = 1'700'000'000;
const std::chrono::sys_seconds now{std::chrono::seconds{k_now}};

// A generated key pair. RSA generation is slow and ctest runs each TEST in its own process, so every pair is
// generated on first use only, once per process.
struct key_pair {
  std::string private_pem;
  std::string public_pem;
};

key_pair make_pair(std::string private_pem) {
  std::string public_pem = testing::public_pem_of(private_pem);
  return {std::move(private_pem), std::move(public_pem)};
}

struct key_material {
  std::string secret = "test-only-hs256-secret-0123456789-abcdef";
  std::string other_secret = "another-test-only-hs256-secret-0123456789";
  const key_pair& rsa() const {
    static const key_pair k = make_pair(testing::generate_rsa_private_pem(2048));
    return k;
  }
  const key_pair& rsa2() const {
    static const key_pair k = make_pair(testing::generate_rsa_private_pem(2048));
    return k;
  }
  const key_pair& ec() const {
    static const key_pair k = make_pair(testing::generate_ec_private_pem("P-256"));
    return k;
  }
  const key_pair& ec2() const {
    static const key_pair k = make_pair(testing::generate_ec_private_pem("P-256"));
    return k;
  }
};

const key_material& keys() {
  static const key_material k;
  return k;
}

// Claims as raw JSON values by name; a value of "" removes the claim.
using claim_map = std::map<std::string, std::string>;

std::string claims_json(const claim_map& overrides = {}) {
  claim_map c = {
      {"exp", std::to_string(k_now + 3600)},
      {"iat", std::to_string(k_now - 60)},
      {"role", R"("authenticated")"},
      {"sub", R"("user-1")"},
      {"app_metadata", R"({"provider":"email","factory_ids":["F2","F1"]})"},
  };
  for (const auto& [name, value] : overrides) {
    if (value.empty()) {
      c.erase(name);
    } else {
      c[name] = value;
    }
  }
  std::string out = "{";
  for (const auto& [name, value] : c) {
    if (out.size() > 1) out += ",";
    out += "\"" + name + "\":" + value;
  }
  return out + "}";
}

std::string hs_token(const claim_map& overrides = {}, std::string_view kid = {}) {
  return make_token(header_for(jwt_alg::hs256, kid), claims_json(overrides), jwt_alg::hs256, keys().secret);
}
std::string rs_token(const claim_map& overrides = {}, std::string_view kid = {}) {
  return make_token(header_for(jwt_alg::rs256, kid), claims_json(overrides), jwt_alg::rs256, keys().rsa().private_pem);
}
std::string es_token(const claim_map& overrides = {}, std::string_view kid = {}) {
  return make_token(header_for(jwt_alg::es256, kid), claims_json(overrides), jwt_alg::es256, keys().ec().private_pem);
}

verification_key hs_key(std::string kid = {}) {
  return verification_key::hs256(keys().secret, std::move(kid)).value();
}
verification_key rs_key(std::string kid = {}) {
  return verification_key::rs256_public_pem(keys().rsa().public_pem, std::move(kid)).value();
}
verification_key es_key(std::string kid = {}) {
  return verification_key::es256_public_pem(keys().ec().public_pem, std::move(kid)).value();
}

// A verifier trusting one default key of each algorithm.
jwt_verifier all_algs(verifier_config config = {}) {
  return jwt_verifier::create({hs_key(), rs_key(), es_key()}, std::move(config)).value();
}

auth_errc code_of(const auth_result<principal>& r) {
  EXPECT_FALSE(r.has_value()) << "expected a refusal";
  return r.has_value() ? auth_errc::bad_config : r.error().code;
}

std::vector<std::string> split(const std::string& token) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t dot = token.find('.'); dot != std::string::npos; dot = token.find('.', start)) {
    parts.push_back(token.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(token.substr(start));
  return parts;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "." : "") + parts[i];
  return out;
}

// ---- accepted ----

TEST(JwtVerifier, AcceptsHs256TokenAsScopedPrincipal) {
  const auto p = all_algs().verify(hs_token(), now);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->role, auth_role::authenticated);
  EXPECT_FALSE(p->scope.is_unscoped());
  EXPECT_EQ(p->scope.factory_ids(), (std::vector<std::string>{"F1", "F2"}));
  EXPECT_EQ(p->expires_at, now + 3600s);
  EXPECT_EQ(p->subject, "user-1");
}

TEST(JwtVerifier, AcceptsRs256Token) {
  const auto p = all_algs().verify(rs_token(), now);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->scope.factory_ids(), (std::vector<std::string>{"F1", "F2"}));
}

TEST(JwtVerifier, AcceptsEs256Token) {
  const auto p = all_algs().verify(es_token(), now);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->scope.factory_ids(), (std::vector<std::string>{"F1", "F2"}));
}

TEST(JwtVerifier, AcceptsHeaderWithoutTypAndLowercaseTyp) {
  const std::string payload = claims_json();
  for (const char* header : {R"({"alg":"HS256"})", R"({"typ":"jwt","alg":"HS256"})"}) {
    const auto p = all_algs().verify(make_token(header, payload, jwt_alg::hs256, keys().secret), now);
    EXPECT_TRUE(p.has_value()) << header << ": " << p.error().message;
  }
}

TEST(JwtVerifier, ServiceRoleIsUnscopedAndIgnoresTheScopeClaim) {
  for (const char* metadata : {"", R"({"factory_ids":42})"}) {
    const auto p = all_algs().verify(hs_token({{"role", R"("service_role")"}, {"app_metadata", metadata}}), now);
    ASSERT_TRUE(p.has_value()) << p.error().message;
    EXPECT_EQ(p->role, auth_role::service_role);
    EXPECT_TRUE(p->scope.is_unscoped());
    EXPECT_TRUE(p->scope.contains("any-factory"));
  }
}

TEST(JwtVerifier, AnonWithoutScopeClaimSeesNoFactory) {
  // The apikey a supabase-js client connects with is an anon JWT without app_metadata.
  const auto p = all_algs().verify(hs_token({{"role", R"("anon")"}, {"app_metadata", ""}, {"sub", ""}}), now);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->role, auth_role::anon);
  EXPECT_FALSE(p->scope.is_unscoped());
  EXPECT_TRUE(p->scope.factory_ids().empty());
  EXPECT_EQ(p->subject, "");
}

TEST(JwtVerifier, AnonWithScopeClaimIsScopedByIt) {
  const auto p = all_algs().verify(hs_token({{"role", R"("anon")"}}), now);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_TRUE(p->scope.contains("F1"));
  EXPECT_FALSE(p->scope.contains("F3"));
}

TEST(JwtVerifier, AcceptsScopeAsSingleStringAndEmptyArray) {
  auto p = all_algs().verify(hs_token({{"app_metadata", R"({"factory_ids":"F7"})"}}), now);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->scope.factory_ids(), (std::vector<std::string>{"F7"}));

  p = all_algs().verify(hs_token({{"app_metadata", R"({"factory_ids":[]})"}}), now);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_TRUE(p->scope.factory_ids().empty());
  EXPECT_FALSE(p->scope.is_unscoped());
}

TEST(JwtVerifier, ReadsScopeFromConfiguredClaimPath) {
  verifier_config top;
  top.scope_claim = "factories";
  auto p = all_algs(top).verify(hs_token({{"factories", R"(["a-1","b.2"])"}}), now);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->scope.factory_ids(), (std::vector<std::string>{"a-1", "b.2"}));

  verifier_config deep;
  deep.scope_claim = "app_metadata.rtcache.factories";
  p = all_algs(deep).verify(hs_token({{"app_metadata", R"({"rtcache":{"factories":["X"]}})"}}), now);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->scope.factory_ids(), (std::vector<std::string>{"X"}));
}

TEST(JwtVerifier, AcceptsFractionalNumericDatesFlooringThem) {
  const auto p = all_algs().verify(hs_token({{"exp", std::to_string(k_now + 100) + ".75"}}), now);
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->expires_at, now + 100s);
}

TEST(JwtVerifier, AcceptsTokenAtTheLengthBoundAndRefusesOneByteMore) {
  // Grow a padding claim until the token is exactly at the bound (base64 grows in steps, so search).
  std::string at_bound;
  for (std::size_t pad = (k_max_token_length - hs_token().size()) * 3 / 4 - 32; pad < k_max_token_length; ++pad) {
    const std::string token = hs_token({{"pad", "\"" + std::string(pad, 'x') + "\""}});
    if (token.size() > k_max_token_length) break;
    at_bound = token;
  }
  ASSERT_GE(at_bound.size(), k_max_token_length - 4);
  const auto p = all_algs().verify(at_bound, now);
  EXPECT_TRUE(p.has_value()) << p.error().message;

  const std::string over(k_max_token_length + 1, 'a');
  EXPECT_EQ(code_of(all_algs().verify(over, now)), auth_errc::too_long);
  const std::string huge = hs_token({{"pad", "\"" + std::string(k_max_token_length, 'x') + "\""}});
  EXPECT_EQ(code_of(all_algs().verify(huge, now)), auth_errc::too_long);
}

// ---- time ----

TEST(JwtVerifier, RefusesExpiredTokenSayingHowLongAgo) {
  const auto r = all_algs().verify(hs_token({{"exp", std::to_string(k_now - 100)}}), now);
  ASSERT_EQ(code_of(r), auth_errc::expired);
  EXPECT_EQ(r.error().seconds_past_exp, 100);
}

TEST(JwtVerifier, ExpiryHonoursTheLeewayExactly) {
  verifier_config config;
  config.leeway = 30s;
  const jwt_verifier v = all_algs(config);
  EXPECT_TRUE(v.verify(hs_token({{"exp", std::to_string(k_now - 29)}}), now).has_value());
  EXPECT_EQ(code_of(v.verify(hs_token({{"exp", std::to_string(k_now - 30)}}), now)), auth_errc::expired);

  config.leeway = 0s;
  const jwt_verifier strict = all_algs(config);
  EXPECT_TRUE(strict.verify(hs_token({{"exp", std::to_string(k_now + 1)}}), now).has_value());
  EXPECT_EQ(code_of(strict.verify(hs_token({{"exp", std::to_string(k_now)}}), now)), auth_errc::expired);
}

TEST(JwtVerifier, RefusesNbfInTheFutureBeyondLeeway) {
  verifier_config config;
  config.leeway = 30s;
  const jwt_verifier v = all_algs(config);
  EXPECT_EQ(code_of(v.verify(hs_token({{"nbf", std::to_string(k_now + 31)}}), now)), auth_errc::not_yet_valid);
  EXPECT_TRUE(v.verify(hs_token({{"nbf", std::to_string(k_now + 30)}}), now).has_value());
  EXPECT_TRUE(v.verify(hs_token({{"nbf", std::to_string(k_now - 5)}}), now).has_value());
}

TEST(JwtVerifier, RefusesIatInTheFutureBeyondLeeway) {
  EXPECT_EQ(code_of(all_algs().verify(hs_token({{"iat", std::to_string(k_now + 3000)}}), now)),
            auth_errc::not_yet_valid);
}

TEST(JwtVerifier, CheckExpiryAppliesTheSameRuleAsVerify) {
  const jwt_verifier v = all_algs();
  const principal p = v.verify(hs_token({{"exp", std::to_string(k_now + 10)}}), now).value();
  EXPECT_FALSE(v.check_expiry(p, now).has_value());
  EXPECT_FALSE(v.check_expiry(p, now + 39s).has_value());
  const auto e = v.check_expiry(p, now + 40s);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, auth_errc::expired);
  EXPECT_EQ(e->seconds_past_exp, 30);
}

// ---- algorithm and key confusion ----

TEST(JwtVerifier, RefusesAlgNoneWithOrWithoutSignature) {
  const std::string payload = detail::base64url_encode(claims_json());
  for (const char* header : {R"({"alg":"none","typ":"JWT"})", R"({"alg":"None"})", R"({"alg":"NONE"})"}) {
    const std::string unsigned_token = detail::base64url_encode(header) + "." + payload + ".";
    EXPECT_EQ(code_of(all_algs().verify(unsigned_token, now)), auth_errc::unsupported_alg) << header;
    const std::string with_sig = unsigned_token + split(hs_token())[2];
    EXPECT_EQ(code_of(all_algs().verify(with_sig, now)), auth_errc::unsupported_alg) << header;
  }
}

TEST(JwtVerifier, RefusesAlgorithmsOutsideTheAllowList) {
  const std::string payload = claims_json();
  for (const char* alg : {"HS384", "HS512", "RS384", "PS256", "ES384", "EdDSA", "hs256", "HS256 ", ""}) {
    const std::string header = std::string(R"({"alg":")") + alg + R"("})";
    const std::string token = make_token(header, payload, jwt_alg::hs256, keys().secret);
    EXPECT_EQ(code_of(all_algs().verify(token, now)), auth_errc::unsupported_alg) << alg;
  }
  for (const char* header : {R"({"typ":"JWT"})", R"({"alg":256})", R"({"alg":null})", R"({"alg":["HS256"]})"}) {
    const std::string token = make_token(header, payload, jwt_alg::hs256, keys().secret);
    EXPECT_EQ(code_of(all_algs().verify(token, now)), auth_errc::unsupported_alg) << header;
  }
}

TEST(JwtVerifier, RefusesHs256TokenSignedWithTheRsaPublicKeyPem) {
  // The classic confusion attack: the attacker knows the RSA public key and uses its PEM as an HMAC secret.
  const std::string forged = make_token(header_for(jwt_alg::hs256), claims_json({{"role", R"("service_role")"}}),
                                        jwt_alg::hs256, keys().rsa().public_pem);
  const auto rsa_only = jwt_verifier::create({rs_key()}).value();
  EXPECT_EQ(code_of(rsa_only.verify(forged, now)), auth_errc::unknown_key);

  const auto rsa_with_kid = jwt_verifier::create({rs_key("rsa-1")}).value();
  const std::string forged_kid =
      make_token(header_for(jwt_alg::hs256, "rsa-1"), claims_json(), jwt_alg::hs256, keys().rsa().public_pem);
  EXPECT_EQ(code_of(rsa_with_kid.verify(forged_kid, now)), auth_errc::key_mismatch);

  // Even where an HS256 secret is configured too, the PEM is not that secret.
  EXPECT_EQ(code_of(all_algs().verify(forged, now)), auth_errc::bad_signature);
}

TEST(JwtVerifier, RefusesEs256AndRs256ClaimsAgainstEachOthersKeys) {
  const auto rsa_only = jwt_verifier::create({rs_key()}).value();
  EXPECT_EQ(code_of(rsa_only.verify(es_token(), now)), auth_errc::unknown_key);
  const auto ec_only = jwt_verifier::create({es_key()}).value();
  EXPECT_EQ(code_of(ec_only.verify(rs_token(), now)), auth_errc::unknown_key);
  // An RS256 signature relabelled ES256 (and the reverse) cannot verify under the other key type.
  auto parts = split(rs_token());
  parts[0] = detail::base64url_encode(header_for(jwt_alg::es256));
  EXPECT_EQ(code_of(all_algs().verify(join(parts), now)), auth_errc::bad_signature);
}

TEST(JwtVerifier, RefusesTokensSignedWithTheWrongKey) {
  const std::string payload = claims_json();
  EXPECT_EQ(code_of(all_algs().verify(
                make_token(header_for(jwt_alg::hs256), payload, jwt_alg::hs256, keys().other_secret), now)),
            auth_errc::bad_signature);
  EXPECT_EQ(code_of(all_algs().verify(
                make_token(header_for(jwt_alg::rs256), payload, jwt_alg::rs256, keys().rsa2().private_pem), now)),
            auth_errc::bad_signature);
  EXPECT_EQ(code_of(all_algs().verify(
                make_token(header_for(jwt_alg::es256), payload, jwt_alg::es256, keys().ec2().private_pem), now)),
            auth_errc::bad_signature);
}

// ---- tampering ----

TEST(JwtVerifier, RefusesTamperedPayloadForEveryAlg) {
  const std::string escalated = detail::base64url_encode(claims_json({{"role", R"("service_role")"}}));
  const std::string widened =
      detail::base64url_encode(claims_json({{"app_metadata", R"({"factory_ids":["F1","F2","F3"]})"}}));
  for (const std::string& token : {hs_token(), rs_token(), es_token()}) {
    for (const std::string& payload : {escalated, widened}) {
      auto parts = split(token);
      parts[1] = payload;
      EXPECT_EQ(code_of(all_algs().verify(join(parts), now)), auth_errc::bad_signature);
    }
  }
}

TEST(JwtVerifier, RefusesTamperedHeaderForEveryAlg) {
  for (const std::string& token : {hs_token(), rs_token(), es_token()}) {
    auto parts = split(token);
    std::string header = detail::base64url_decode(parts[0]).value();
    header.insert(header.size() - 1, R"(,"x":1)");
    parts[0] = detail::base64url_encode(header);
    EXPECT_EQ(code_of(all_algs().verify(join(parts), now)), auth_errc::bad_signature);
  }
}

TEST(JwtVerifier, RefusesTamperedSignatureForEveryAlg) {
  for (const std::string& token : {hs_token(), rs_token(), es_token()}) {
    const auto parts = split(token);
    const std::string sig = detail::base64url_decode(parts[2]).value();
    for (std::size_t i : {std::size_t{0}, sig.size() / 2, sig.size() - 1}) {
      std::string flipped = sig;
      flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
      auto tampered = parts;
      tampered[2] = detail::base64url_encode(flipped);
      EXPECT_EQ(code_of(all_algs().verify(join(tampered), now)), auth_errc::bad_signature) << i;
    }
    auto truncated = parts;
    truncated[2] = detail::base64url_encode(sig.substr(0, sig.size() - 1));
    EXPECT_EQ(code_of(all_algs().verify(join(truncated), now)), auth_errc::bad_signature);
    auto extended = parts;
    extended[2] = detail::base64url_encode(sig + '\0');
    EXPECT_EQ(code_of(all_algs().verify(join(extended), now)), auth_errc::bad_signature);
    auto empty = parts;
    empty[2].clear();
    EXPECT_EQ(code_of(all_algs().verify(join(empty), now)), auth_errc::bad_signature);
  }
}

TEST(JwtVerifier, RefusesEs256SignatureInDerInsteadOfRawForm) {
  // Some libraries emit ASN.1 DER; JOSE requires r||s (RFC 7518 §3.4), so a DER signature is refused.
  const std::string raw = es_token();
  auto parts = split(raw);
  std::string der = "\x30\x44\x02\x20" + detail::base64url_decode(parts[2]).value().substr(0, 32) + "\x02\x20" +
                    detail::base64url_decode(parts[2]).value().substr(32);
  parts[2] = detail::base64url_encode(der);
  EXPECT_EQ(code_of(all_algs().verify(join(parts), now)), auth_errc::bad_signature);
}

// ---- shape ----

TEST(JwtVerifier, RefusesMissingToken) {
  EXPECT_EQ(code_of(all_algs().verify("", now)), auth_errc::missing_token);
}

TEST(JwtVerifier, RefusesWrongSegmentCount) {
  const auto parts = split(hs_token());
  for (const std::string& token : {parts[0], parts[0] + "." + parts[1], join(parts) + ".", join(parts) + ".x",
                                   std::string("."), std::string(".."), std::string("...")}) {
    EXPECT_EQ(code_of(all_algs().verify(token, now)), auth_errc::malformed) << token;
  }
}

TEST(JwtVerifier, RefusesBadBase64InAnySegment) {
  const auto parts = split(hs_token());
  for (std::size_t segment = 0; segment < 3; ++segment) {
    for (const std::string& suffix : {std::string("="), std::string("=="), std::string("+"), std::string("/"),
                                      std::string(" "), std::string("\n"), std::string("!")}) {
      auto bad = parts;
      bad[segment] += suffix;
      EXPECT_EQ(code_of(all_algs().verify(join(bad), now)), auth_errc::malformed)
          << "segment " << segment << " suffix '" << suffix << "'";
    }
  }
  // A standard-alphabet (padded) encoding of a valid token is not the same token.
  auto padded = parts;
  padded[0] += std::string((4 - padded[0].size() % 4) % 4, '=');
  if (padded[0] != parts[0]) {
    EXPECT_EQ(code_of(all_algs().verify(join(padded), now)), auth_errc::malformed);
  }
}

TEST(JwtVerifier, RefusesNonCanonicalBase64Signature) {
  // HS256 signatures are 32 bytes: 43 characters with 2 unused bits that must be zero.
  const auto parts = split(hs_token());
  auto bad = parts;
  char& last = bad[2].back();
  last = last == 'A' ? 'B' : static_cast<char>(last + 1);
  EXPECT_EQ(code_of(all_algs().verify(join(bad), now)), auth_errc::malformed);
}

TEST(JwtVerifier, RefusesHeaderThatIsNotAJsonObject) {
  const std::string payload = detail::base64url_encode(claims_json());
  for (const char* header : {"[]", "\"HS256\"", "{", R"({"alg":"HS256")", "", "null"}) {
    const std::string token = detail::base64url_encode(header) + "." + payload + ".c2ln";
    EXPECT_EQ(code_of(all_algs().verify(token, now)), auth_errc::malformed) << header;
  }
}

TEST(JwtVerifier, RefusesCritTypAndDuplicateHeaderKeys) {
  const std::string payload = claims_json();
  const auto verify = [&](const char* header) {
    return all_algs().verify(make_token(header, payload, jwt_alg::hs256, keys().secret), now);
  };
  EXPECT_EQ(code_of(verify(R"({"alg":"HS256","crit":["b64"],"b64":false})")), auth_errc::unsupported_alg);
  EXPECT_EQ(code_of(verify(R"({"alg":"HS256","typ":"JOSE+JSON"})")), auth_errc::malformed);
  EXPECT_EQ(code_of(verify(R"({"alg":"HS256","typ":1})")), auth_errc::malformed);
  EXPECT_EQ(code_of(verify(R"({"alg":"HS256","alg":"none"})")), auth_errc::malformed);
  EXPECT_EQ(code_of(verify(R"({"alg":"HS256","\u0061lg":"HS256"})")), auth_errc::malformed);
  EXPECT_EQ(code_of(verify(R"({"alg":"HS256","kid":7})")), auth_errc::malformed);
}

TEST(JwtVerifier, RefusesSignedPayloadThatIsNotAJsonObject) {
  for (const char* payload : {"[]", "42", "{\"exp\":", "not json"}) {
    const std::string token = make_token(header_for(jwt_alg::hs256), payload, jwt_alg::hs256, keys().secret);
    EXPECT_EQ(code_of(all_algs().verify(token, now)), auth_errc::malformed) << payload;
  }
}

TEST(JwtVerifier, RefusesDeeplyNestedJson) {
  const std::string deep = std::string(200, '[') + std::string(200, ']');
  const std::string token =
      make_token(header_for(jwt_alg::hs256), "{\"exp\":" + std::to_string(k_now + 60) + ",\"x\":" + deep + "}",
                 jwt_alg::hs256, keys().secret);
  EXPECT_EQ(code_of(all_algs().verify(token, now)), auth_errc::malformed);
}

// ---- claims ----

TEST(JwtVerifier, RefusesMissingOrNonNumericExp) {
  EXPECT_EQ(code_of(all_algs().verify(hs_token({{"exp", ""}}), now)), auth_errc::missing_claim);
  for (const char* exp : {R"("1700003600")", "null", "true", "[1700003600]", "1e300", "18446744073709551615"}) {
    EXPECT_EQ(code_of(all_algs().verify(hs_token({{"exp", exp}}), now)), auth_errc::bad_claim) << exp;
  }
  EXPECT_EQ(code_of(all_algs().verify(hs_token({{"nbf", R"("soon")"}}), now)), auth_errc::bad_claim);
  EXPECT_EQ(code_of(all_algs().verify(hs_token({{"iat", "{}"}}), now)), auth_errc::bad_claim);
}

TEST(JwtVerifier, RefusesMissingWrongTypeOrUnknownRole) {
  EXPECT_EQ(code_of(all_algs().verify(hs_token({{"role", ""}}), now)), auth_errc::missing_claim);
  EXPECT_EQ(code_of(all_algs().verify(hs_token({{"role", "1"}}), now)), auth_errc::bad_claim);
  for (const char* role : {R"("supabase_admin")", R"("postgres")", R"("Service_Role")", R"("")"}) {
    EXPECT_EQ(code_of(all_algs().verify(hs_token({{"role", role}}), now)), auth_errc::bad_role) << role;
  }
}

TEST(JwtVerifier, RefusesNonStringSubject) {
  EXPECT_EQ(code_of(all_algs().verify(hs_token({{"sub", "12"}}), now)), auth_errc::bad_claim);
}

TEST(JwtVerifier, RefusesDuplicateClaims) {
  const std::string payload = R"({"exp":)" + std::to_string(k_now + 60) + R"(,"role":"anon","role":"service_role"})";
  const std::string token = make_token(header_for(jwt_alg::hs256), payload, jwt_alg::hs256, keys().secret);
  EXPECT_EQ(code_of(all_algs().verify(token, now)), auth_errc::bad_claim);
}

TEST(JwtVerifier, RefusesMissingScopeClaimForAuthenticated) {
  EXPECT_EQ(code_of(all_algs().verify(hs_token({{"app_metadata", ""}}), now)), auth_errc::bad_scope);
  EXPECT_EQ(code_of(all_algs().verify(hs_token({{"app_metadata", R"({"provider":"email"})"}}), now)),
            auth_errc::bad_scope);
}

TEST(JwtVerifier, RefusesScopeClaimOfTheWrongType) {
  for (const char* metadata :
       {R"({"factory_ids":42})", R"({"factory_ids":null})", R"({"factory_ids":{"F1":true}})", R"({"factory_ids":true})",
        R"({"factory_ids":["F1",2]})", R"({"factory_ids":[["F1"]]})", R"("F1")", "[]", "null"}) {
    EXPECT_EQ(code_of(all_algs().verify(hs_token({{"app_metadata", metadata}}), now)), auth_errc::bad_scope)
        << metadata;
    // anon may lack the claim, but not carry a broken one.
    EXPECT_EQ(code_of(all_algs().verify(hs_token({{"role", R"("anon")"}, {"app_metadata", metadata}}), now)),
              auth_errc::bad_scope)
        << metadata;
  }
}

TEST(JwtVerifier, RefusesScopeClaimWithInvalidIds) {
  const std::string too_long(core::k_max_id_length + 1, 'f');
  for (const std::string& id : {std::string(""), std::string("F:1"), std::string("*"), std::string("F 1"),
                                std::string("f\\u0000"), std::string("\\u00e9"), too_long}) {
    const std::string as_array = R"({"factory_ids":["F1",")" + id + R"("]})";
    EXPECT_EQ(code_of(all_algs().verify(hs_token({{"app_metadata", as_array}}), now)), auth_errc::bad_scope) << id;
    const std::string as_string = R"({"factory_ids":")" + id + R"("})";
    EXPECT_EQ(code_of(all_algs().verify(hs_token({{"app_metadata", as_string}}), now)), auth_errc::bad_scope) << id;
  }
}

TEST(JwtVerifier, RefusesScopeClaimOverTheIdBound) {
  std::string ids = "[";
  // Two-character ids, so that k_max_scope_ids + 1 of them still fit in a token of k_max_token_length.
  constexpr std::string_view k_chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const auto id = [&](std::size_t i) { return std::string{k_chars[i / k_chars.size()], k_chars[i % k_chars.size()]}; };
  for (std::size_t i = 0; i < k_max_scope_ids; ++i) ids += (i ? ",\"" : "\"") + id(i) + "\"";
  const auto at_bound = all_algs().verify(hs_token({{"app_metadata", R"({"factory_ids":)" + ids + "]}"}}), now);
  ASSERT_TRUE(at_bound.has_value()) << at_bound.error().message;
  EXPECT_EQ(at_bound->scope.factory_ids().size(), k_max_scope_ids);

  ids += ",\"" + id(k_max_scope_ids) + "\"]";
  const std::string token = hs_token({{"app_metadata", R"({"factory_ids":)" + ids + "}"}});
  ASSERT_LE(token.size(), k_max_token_length);
  EXPECT_EQ(code_of(all_algs().verify(token, now)), auth_errc::bad_scope);
}

TEST(JwtVerifier, ChecksAudienceOnlyWhenConfigured) {
  EXPECT_TRUE(all_algs().verify(hs_token({{"aud", "17"}}), now).has_value());

  verifier_config config;
  config.audience = "authenticated";
  const jwt_verifier v = all_algs(config);
  EXPECT_TRUE(v.verify(hs_token({{"aud", R"("authenticated")"}}), now).has_value());
  EXPECT_TRUE(v.verify(hs_token({{"aud", R"(["other","authenticated"])"}}), now).has_value());
  EXPECT_EQ(code_of(v.verify(hs_token(), now)), auth_errc::bad_audience);
  EXPECT_EQ(code_of(v.verify(hs_token({{"aud", R"("authenticated ")"}}), now)), auth_errc::bad_audience);
  EXPECT_EQ(code_of(v.verify(hs_token({{"aud", R"(["other"])"}}), now)), auth_errc::bad_audience);
  EXPECT_EQ(code_of(v.verify(hs_token({{"aud", "7"}}), now)), auth_errc::bad_claim);
  EXPECT_EQ(code_of(v.verify(hs_token({{"aud", R"(["authenticated",7])"}}), now)), auth_errc::bad_claim);
}

// ---- key selection ----

TEST(JwtVerifier, KidSelectsTheNamedKey) {
  const auto v = jwt_verifier::create(
                     {rs_key("key-a"), verification_key::rs256_public_pem(keys().rsa2().public_pem, "key-b").value()})
                     .value();
  const std::string payload = claims_json();
  const std::string by_b =
      make_token(header_for(jwt_alg::rs256, "key-b"), payload, jwt_alg::rs256, keys().rsa2().private_pem);
  EXPECT_TRUE(v.verify(by_b, now).has_value());
  const std::string by_a =
      make_token(header_for(jwt_alg::rs256, "key-a"), payload, jwt_alg::rs256, keys().rsa().private_pem);
  EXPECT_TRUE(v.verify(by_a, now).has_value());
  // Signed by b but naming a: only a is tried.
  const std::string lying =
      make_token(header_for(jwt_alg::rs256, "key-a"), payload, jwt_alg::rs256, keys().rsa2().private_pem);
  EXPECT_EQ(code_of(v.verify(lying, now)), auth_errc::bad_signature);
  // No kid and no default key.
  EXPECT_EQ(code_of(v.verify(rs_token(), now)), auth_errc::unknown_key);
  EXPECT_EQ(code_of(v.verify(rs_token({}, "key-c"), now)), auth_errc::unknown_key);
}

TEST(JwtVerifier, UnknownKidFallsBackToTheDefaultKeyOfItsAlg) {
  // Supabase's HS256 tokens carry a kid that matches no JWK; the project secret (no kid) verifies them.
  const auto v = jwt_verifier::create({hs_key(), es_key("ec-1")}).value();
  EXPECT_TRUE(v.verify(hs_token({}, "Zx9yZ1ab"), now).has_value());
  EXPECT_TRUE(v.verify(es_token({}, "ec-1"), now).has_value());
  EXPECT_EQ(code_of(v.verify(es_token(), now)), auth_errc::unknown_key);
}

TEST(JwtVerifier, KidNamingAKeyOfAnotherAlgIsRefused) {
  const auto v = jwt_verifier::create({hs_key("shared"), es_key("ec-1")}).value();
  EXPECT_EQ(code_of(v.verify(es_token({}, "shared"), now)), auth_errc::key_mismatch);
  EXPECT_EQ(code_of(v.verify(hs_token({}, "ec-1"), now)), auth_errc::key_mismatch);
}

TEST(JwtVerifier, SeveralDefaultKeysOfOneAlgAreAllTried) {
  // Secret rotation: old and new secret both configured without kid.
  const auto v = jwt_verifier::create({verification_key::hs256(keys().other_secret).value(), hs_key()}).value();
  EXPECT_TRUE(v.verify(hs_token(), now).has_value());
}

// ---- key and verifier configuration ----

TEST(VerificationKey, RefusesShortOrPemHs256Secrets) {
  EXPECT_EQ(verification_key::hs256(std::string(31, 's')).error().code, auth_errc::bad_key);
  EXPECT_TRUE(verification_key::hs256(std::string(32, 's')).has_value());
  EXPECT_EQ(verification_key::hs256(keys().rsa().public_pem).error().code, auth_errc::bad_key);
}

TEST(VerificationKey, RefusesKeysOfTheWrongTypeSizeOrCurve) {
  EXPECT_EQ(verification_key::rs256_public_pem(keys().ec().public_pem).error().code, auth_errc::bad_key);
  EXPECT_EQ(verification_key::es256_public_pem(keys().rsa().public_pem).error().code, auth_errc::bad_key);
  const std::string p384 = testing::public_pem_of(testing::generate_ec_private_pem("P-384"));
  EXPECT_EQ(verification_key::es256_public_pem(p384).error().code, auth_errc::bad_key);
  const std::string rsa1024 = testing::public_pem_of(testing::generate_rsa_private_pem(1024));
  EXPECT_EQ(verification_key::rs256_public_pem(rsa1024).error().code, auth_errc::bad_key);
}

TEST(VerificationKey, RefusesPrivateKeysGarbageAndOversizePem) {
  EXPECT_EQ(verification_key::rs256_public_pem(keys().rsa().private_pem).error().code, auth_errc::bad_key);
  EXPECT_EQ(verification_key::es256_public_pem(keys().ec().private_pem).error().code, auth_errc::bad_key);
  EXPECT_EQ(verification_key::rs256_public_pem("").error().code, auth_errc::bad_key);
  EXPECT_EQ(
      verification_key::rs256_public_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").error().code,
      auth_errc::bad_key);
  EXPECT_EQ(verification_key::rs256_public_pem(std::string(k_max_key_pem_length + 1, 'A')).error().code,
            auth_errc::bad_key);
  EXPECT_EQ(verification_key::hs256(keys().secret, std::string(k_max_kid_length + 1, 'k')).error().code,
            auth_errc::bad_key);
}

TEST(VerificationKey, ReportsItsAlgAndKid) {
  EXPECT_EQ(hs_key("a").alg(), jwt_alg::hs256);
  EXPECT_EQ(rs_key("b").alg(), jwt_alg::rs256);
  EXPECT_EQ(es_key("c").alg(), jwt_alg::es256);
  EXPECT_EQ(es_key("c").kid(), "c");
}

TEST(JwtVerifierConfig, RefusesOutOfBoundsConfiguration) {
  EXPECT_EQ(jwt_verifier::create({}).error().code, auth_errc::bad_config);
  EXPECT_EQ(jwt_verifier::create({hs_key("x"), rs_key("x")}).error().code, auth_errc::bad_config);
  EXPECT_EQ(jwt_verifier::create(std::vector<verification_key>(k_max_keys + 1, hs_key())).error().code,
            auth_errc::bad_config);
  const auto with = [](auto change) {
    verifier_config c;
    change(c);
    return jwt_verifier::create({hs_key()}, c);
  };
  EXPECT_EQ(with([](verifier_config& c) { c.leeway = k_max_leeway + 1s; }).error().code, auth_errc::bad_config);
  EXPECT_EQ(with([](verifier_config& c) { c.leeway = -1s; }).error().code, auth_errc::bad_config);
  EXPECT_EQ(with([](verifier_config& c) { c.audience = ""; }).error().code, auth_errc::bad_config);
  for (const char* path : {"", ".", "a..b", "a.", ".a", "a.b.c.d.e.f.g.h.i"}) {
    EXPECT_EQ(with([&](verifier_config& c) { c.scope_claim = path; }).error().code, auth_errc::bad_config) << path;
  }
  EXPECT_TRUE(with([](verifier_config& c) { c.scope_claim = "a.b.c.d.e.f.g.h"; }).has_value());
}

TEST(JwtVerifier, RefusalsLeaveNoOpenSslErrorsBehind) {
  ERR_clear_error();
  auto parts = split(rs_token());
  parts[2] = detail::base64url_encode(std::string(256, '\x7f'));
  EXPECT_EQ(code_of(all_algs().verify(join(parts), now)), auth_errc::bad_signature);
  auto ec = split(es_token());
  ec[2] = detail::base64url_encode(std::string(64, '\0'));
  EXPECT_EQ(code_of(all_algs().verify(join(ec), now)), auth_errc::bad_signature);
  EXPECT_FALSE(verification_key::rs256_public_pem("garbage").has_value());
  EXPECT_EQ(ERR_peek_error(), 0UL);
}

TEST(JwtVerifier, ErrorCodesHaveStableNames) {
  EXPECT_EQ(to_string(auth_errc::bad_signature), "bad_signature");
  EXPECT_EQ(to_string(auth_errc::unsupported_alg), "unsupported_alg");
  EXPECT_EQ(to_string(auth_errc::expired), "expired");
  EXPECT_EQ(to_string(jwt_alg::es256), "ES256");
  EXPECT_EQ(to_string(auth_role::service_role), "service_role");
}

TEST(JwtVerifier, ValueOnRefusalThrowsTheAuthError) {
  const auto r = all_algs().verify("", now);
  EXPECT_THROW((void)r.value(), auth_exception);
}

}  // namespace
}  // namespace rtcache::auth
