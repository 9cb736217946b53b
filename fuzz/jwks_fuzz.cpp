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

#include "rtcache/net/jwks.hpp"

#include <openssl/err.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace rtcache::net;

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "jwks_fuzz: property violated: %s\n", what);
  std::abort();
}

std::vector<std::pair<jwt_alg, std::string>> summary(const jwks_document& d) {
  std::vector<std::pair<jwt_alg, std::string>> out;
  for (const auto& k : d.keys) out.emplace_back(k.alg(), k.kid());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  const auto first = parse_jwks(json);
  if (ERR_peek_error() != 0) violated("OpenSSL error queue not empty after parse_jwks");
  const auto second = parse_jwks(json);
  if (first.has_value() != second.has_value()) violated("parse is not deterministic (accepted once)");
  if (!first) {
    if (first.error().code != auth_errc::malformed) violated("a refused document is not malformed");
    if (first.error().message.empty()) violated("a refusal without a message");
    if (first.error().message != second.error().message) violated("refusal message differs between parses");
    return 0;
  }
  if (summary(*first) != summary(*second) || first->skipped != second->skipped) {
    violated("parse is not deterministic (keys or skips differ)");
  }
  if (first->keys.size() > k_max_jwks_keys) violated("more than k_max_jwks_keys keys taken");
  std::set<std::string> kids;
  for (const auto& k : first->keys) {
    if (k.alg() != jwt_alg::es256 && k.alg() != jwt_alg::rs256) violated("a JWKS key that is not ES256/RS256");
    if (k.kid().size() > k_max_kid_length) violated("a kid longer than k_max_kid_length");
    if (!k.kid().empty() && !kids.insert(k.kid()).second) violated("two keys share a kid");
  }
  for (const auto& s : first->skipped) {
    if (s.rfind("keys[", 0) != 0) violated("a skip that does not name its key");
  }
  return 0;
}
