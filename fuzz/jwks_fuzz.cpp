// Fuzz target for the JWKS parser (rtcache::auth): the document rtcache fetches from jwks_url is bytes from the
// network, parsed into keys that will decide who gets in.
//
// Input: the document, as fetched.
// Properties (a violation traps, and libFuzzer records the input):
//   1. nothing crashes, leaks or trips a sanitizer, whatever the bytes;
//   2. parsing is a function of the bytes: a second parse gives the same keys (alg, kid) and the same skips;
//   3. every key taken is ES256 or RS256 with a kid of at most k_max_kid_length bytes, no two keys share a
//      non-empty kid, and at most k_max_jwks_keys are taken;
//   4. a refused document is `malformed` with a message; an accepted one's skips each name their key;
//   5. the OpenSSL error queue is empty after every call.

#include "auth/jwks.hpp"
#include "fuzz_check.hpp"

#include <openssl/err.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace auth = rtcache::auth;

std::vector<std::pair<auth::jwt_alg, std::string>> summary(const auth::jwks_document& d) {
  std::vector<std::pair<auth::jwt_alg, std::string>> out;
  for (const auto& k : d.keys) out.emplace_back(k.alg(), k.kid());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json = rtcache::fuzz::fuzz_input(data, size);
  const auto first = auth::parse_jwks(json);
  FUZZ_CHECK(ERR_peek_error() == 0, "OpenSSL error queue not empty after parse_jwks");
  const auto second = auth::parse_jwks(json);
  FUZZ_CHECK(first.has_value() == second.has_value(), "parse is not deterministic (accepted once)");
  if (!first) {
    FUZZ_CHECK(first.error().code == auth::auth_errc::malformed, "a refused document is not malformed");
    FUZZ_CHECK(!first.error().message.empty(), "a refusal without a message");
    FUZZ_CHECK(first.error().message == second.error().message, "refusal message differs between parses");
    return 0;
  }
  FUZZ_CHECK(summary(*first) == summary(*second) && first->skipped == second->skipped,
             "parse is not deterministic (keys or skips differ)");
  FUZZ_CHECK(first->keys.size() <= auth::k_max_jwks_keys, "more than k_max_jwks_keys keys taken");
  std::set<std::string> kids;
  for (const auto& k : first->keys) {
    FUZZ_CHECK(k.alg() == auth::jwt_alg::es256 || k.alg() == auth::jwt_alg::rs256,
               "a JWKS key that is not ES256/RS256");
    FUZZ_CHECK(k.kid().size() <= auth::k_max_kid_length, "a kid longer than k_max_kid_length");
    FUZZ_CHECK(k.kid().empty() || kids.insert(k.kid()).second, "two keys share a kid");
  }
  for (const auto& s : first->skipped) {
    FUZZ_CHECK(s.rfind("keys[", 0) == 0, "a skip that does not name its key");
  }
  return 0;
}
