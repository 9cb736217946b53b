// Internal to rtcache::auth: what a verification_key holds, and the factories the PEM and JWK loaders share.
#pragma once

#include "auth/auth.hpp"

#include <openssl/evp.h>

#include <memory>
#include <string>

namespace rtcache::auth {

struct verification_key::impl {
  impl() = default;
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;
  ~impl() { EVP_PKEY_free(pkey); }

  jwt_alg alg = jwt_alg::hs256;
  std::string kid;
  std::string secret;        // hs256 only
  EVP_PKEY* pkey = nullptr;  // rs256 / es256 only; owned
};

namespace detail {

struct key_access {
  static verification_key make(std::shared_ptr<const verification_key::impl> p) {
    return verification_key(std::move(p));
  }
};

// An RS256 or ES256 key around `pkey`, which it owns from this call on (freed on error too). Errors (bad_key):
// rs256 with a key that is not RSA or outside 2048..8192 bits; es256 with a key that is not EC on P-256; a kid
// longer than k_max_kid_length.
auth_result<verification_key> adopt_public_key(jwt_alg alg, EVP_PKEY* pkey, std::string kid);

}  // namespace detail
}  // namespace rtcache::auth
