// Test-only JWT minting for the auth tests and the jwt fuzz target: keys generated with OpenSSL, tokens signed
// with EVP. Never linked into rtcache::auth; production code verifies, it never signs.
#pragma once

#include "auth/auth.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace rtcache::testing {

// A fresh private key as PKCS#8 PEM. RSA of `bits`; EC on `curve` ("P-256", "P-384", ...).
std::string generate_rsa_private_pem(int bits);
std::string generate_ec_private_pem(std::string_view curve);

// The SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----") of a private key PEM.
std::string public_pem_of(std::string_view private_pem);

// The JWS signature bytes of `signing_input`: HMAC-SHA256 with `key` as the secret (hs256), RSASSA-PKCS1-v1_5
// SHA-256 (rs256) or ECDSA P-256 SHA-256 as raw r||s (es256) with `key` a private key PEM.
std::string sign(auth::jwt_alg alg, std::string_view key, std::string_view signing_input);

// base64url(header) "." base64url(payload) "." base64url(sign(alg, key, ...)).
std::string make_token(std::string_view header_json, std::string_view payload_json, auth::jwt_alg alg,
                       std::string_view key);

// {"alg":"<alg>","typ":"JWT"} plus ,"kid":"<kid>" when kid is not empty.
std::string header_for(auth::jwt_alg alg, std::string_view kid = {});

// The public JWK (RFC 7517) of an RSA or EC P-256 private key PEM, as Supabase's JWKS endpoint publishes it:
// {"kty":"RSA","n","e"} or {"kty":"EC","crv":"P-256","x","y"}, plus "kid" (when not empty), "alg" (RS256 /
// ES256) and "use":"sig". `extra` (e.g. ,"key_ops":["verify"]) is spliced in before the closing brace.
std::string public_jwk_of(std::string_view private_pem, std::string_view kid, std::string_view extra = {});

// {"keys":[<jwk>,...]}.
std::string jwks_of(const std::vector<std::string>& jwks);

}  // namespace rtcache::testing
