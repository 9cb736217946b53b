// Who is on a connection and what they may see: verifies the credential a client presents (on connect, on join
// and on every access_token push): a JWT, or one of Supabase's API keys (sb_publishable_..., sb_secret_...),
// and turns it into a principal with a factory scope; decides joins against that scope.
// Pure: no network, no clock reads (`now` is a parameter), no key fetching (keys that change at run time come
// through a key_source, see jwks.hpp). Crypto is OpenSSL EVP only.
#pragma once

#include "rtcache/core/channel_key.hpp"
#include "rtcache/core/factory_scope.hpp"

#include <boost/system/result.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcache::auth {

// ---- errors ------------------------------------------------------------------------------------------------

// Why a token (or a key configuration) was refused. Stable: metrics, logs and tests use these names.
enum class auth_errc {
  missing_token,    // no token, or an empty one
  too_long,         // token longer than k_max_token_length
  malformed,        // not three base64url segments of JSON objects (strict base64url, no padding, no whitespace)
  unsupported_alg,  // header alg is not HS256, RS256 or ES256 (`none` included), or crit is present
  unknown_key,      // no configured key for this kid / alg
  key_mismatch,     // the kid names a key of another algorithm (e.g. HS256 with an RSA key's kid)
  bad_signature,    // the signature does not verify, or has the wrong length for the alg
  missing_claim,    // exp or role absent
  bad_claim,        // a claim has the wrong JSON type or an out-of-range value, or a duplicate key
  expired,          // now >= exp + leeway
  not_yet_valid,    // nbf or iat later than now + leeway
  bad_audience,     // an audience is configured and aud does not contain it
  bad_role,         // role is not anon, authenticated or service_role
  bad_scope,        // the factory scope claim is missing (authenticated), of the wrong type, or holds bad ids
  bad_key,          // configuration: a key is unusable (short secret, wrong key type or curve, bad PEM)
  bad_config,       // configuration: leeway, claim path, audience or keyset out of bounds
  unknown_api_key,  // an API key (sb_publishable_... / sb_secret_...) that is not one of the configured keys
};

// Stable lower_snake name of a code ("bad_signature").
std::string_view to_string(auth_errc code) noexcept;

// A refusal: the code, a precise message for logs (never sent to clients verbatim; see the mappings below),
// and for `expired` how long ago the token expired (Supabase puts that number in its refresh error).
struct auth_error {
  auth_errc code{};
  std::string message;
  std::int64_t seconds_past_exp = 0;  // only for auth_errc::expired; >= 0

  friend bool operator==(const auth_error&, const auth_error&) = default;
};

// Thrown only by auth_result<T>::value() on an error.
class auth_exception : public std::exception {
 public:
  explicit auth_exception(auth_error e) : error_(std::move(e)) {}
  const char* what() const noexcept override { return error_.message.c_str(); }
  const auth_error& err() const noexcept { return error_; }

 private:
  auth_error error_;
};

// Found by boost::system::result through ADL when value() is called on an error.
[[noreturn]] void throw_exception_from_error(const auth_error& e, const boost::source_location& loc);

template <class T>
using auth_result = boost::system::result<T, auth_error>;

// ---- what the gateway sends for a refusal ------------------------------------------------------------------
// Worded as supabase/realtime words them (lib/realtime_web/channels/user_socket.ex error_response/1,
// realtime_channel.ex, channels_authorization.ex), so realtime-js users see familiar errors. The precise
// auth_error::message is for rtcache's logs only: no mapping echoes it (it can name kids and claim values).
//
//   code                                 HTTP  text                                                join prefix
//   missing_token                        401   API key is missing                                  MissingAPIKey
//   too_long, malformed                  401   The token provided is not a valid JWT               MalformedJWT
//   unsupported_alg, unknown_key,
//   key_mismatch                         401   Failed to generate JWT signer, check your JWT
//                                              secret or JWKS configuration                        JwtSignerError
//   bad_signature                        401   Failed to validate JWT signature                    JwtSignatureError
//   missing_claim                        401   Fields `role` and `exp` are required in JWT         InvalidJWTToken
//   bad_claim                            401   The token provided is not a valid JWT               InvalidJWTToken
//   expired                              401   Token has expired (join/system: "Token has expired
//                                              <n> seconds ago")                                   InvalidJWTToken
//   not_yet_valid  (rtcache's own)       401   Token is not valid yet                              InvalidJWTToken
//   bad_audience   (rtcache's own)       401   Token audience is not accepted                      InvalidJWTToken
//   bad_role       (rtcache's own)       403   Token role is not allowed                           Unauthorized
//   bad_scope      (rtcache's own)       403   Token factory scope is not valid                    Unauthorized
//   bad_key, bad_config (config only)    500   Error connecting to Realtime UnknownErrorOnChannel
// And for an API key that is not configured (rtcache's own; Supabase's gateway answers "Invalid API key"):
//   unknown_api_key  401  Invalid API key: not a publishable or secret key of this server  InvalidAPIKey
// Where Supabase differs: it ignores nbf and has no scope; on a bad signature in an access_token push it sends
// the Elixir term (":signature_error") where rtcache sends the readable text above.

// The HTTP answer before the WebSocket upgrade: status and the JSON body {"error":"<text>"}.
struct http_refusal {
  int status = 401;
  std::string body;  // a complete JSON object: {"error":"..."}
};
http_refusal to_http_refusal(const auth_error& e);

// The `reason` of a refused phx_join whose access_token failed: "<join prefix>: <text>", e.g.
// "InvalidJWTToken: Token has expired 12 seconds ago", "JwtSignatureError: Failed to validate JWT signature".
std::string join_refusal_reason(const auth_error& e);

// The `message` of the `system` push {"extension":"system","status":"error",...} sent, then phx_close, when an
// access_token push (or the token's own expiry, see jwt_verifier::check_expiry) fails: the text of the table,
// e.g. "Token has expired 12 seconds ago", "Fields `role` and `exp` are required in JWT".
std::string system_refusal_message(const auth_error& e);

// ---- keys --------------------------------------------------------------------------------------------------

enum class jwt_alg { hs256, rs256, es256 };

// "HS256", "RS256", "ES256".
std::string_view to_string(jwt_alg alg) noexcept;

namespace detail {
struct key_access;  // the auth library's own factories (JWK parsing): src/server/auth/key_impl.hpp
}

inline constexpr std::size_t k_min_hs256_secret_length = 32;  // RFC 7518 §3.2: at least the hash size
inline constexpr std::size_t k_max_key_pem_length = 16 * 1024;
inline constexpr std::size_t k_max_kid_length = 256;

// One key the verifier trusts, bound to exactly one algorithm: a token is checked only with keys of its
// header's alg, so an RSA public key can never serve as an HMAC secret.
// A key with a kid is used only for tokens naming that kid. A key without a kid is the default for its alg:
// used for tokens without a kid, and for tokens whose kid names no configured key (Supabase does this for
// its HS256 secret, whose tokens carry a kid that matches no JWK).
// Thread-safety: immutable after construction; copies share the parsed key and may be used concurrently.
class verification_key {
 public:
  // The secret's bytes as given (Supabase uses the JWT secret text as is). Errors (bad_key): shorter than
  // k_min_hs256_secret_length, or PEM text (a public key is not a secret).
  static auth_result<verification_key> hs256(std::string_view secret, std::string kid = {});
  // A SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----"). Errors (bad_key): not a public key PEM,
  // not RSA, or shorter than 2048 bits (RFC 7518 §3.3).
  static auth_result<verification_key> rs256_public_pem(std::string_view pem, std::string kid = {});
  // A SubjectPublicKeyInfo PEM of an EC key on P-256 (prime256v1). Errors (bad_key): otherwise.
  static auth_result<verification_key> es256_public_pem(std::string_view pem, std::string kid = {});

  jwt_alg alg() const noexcept;
  const std::string& kid() const noexcept;

  struct impl;  // defined in the implementation; holds the secret or the EVP_PKEY

 private:
  explicit verification_key(std::shared_ptr<const impl> p);
  std::shared_ptr<const impl> impl_;
  friend class jwt_verifier;
  friend struct detail::key_access;
};

// Keys that change while the server runs: a JWKS document kept fresh by jwks_cache (jwks.hpp). The verifier
// reads current() for every token that names a kid or needs a default key, and reports kids it found nowhere,
// so that a rotated key set can be fetched without waiting for the next periodic refresh.
// Thread-safety: implementations allow concurrent calls of both members from any thread.
class key_source {
 public:
  virtual ~key_source() = default;
  // The keys as last loaded (empty before the first load). Never null.
  virtual std::shared_ptr<const std::vector<verification_key>> current() const = 0;
  // An RS256/ES256 token named `kid` and neither the fixed keys nor current() hold it. Must not block.
  virtual void unknown_kid(std::string_view kid) noexcept = 0;
};

// ---- Supabase API keys -------------------------------------------------------------------------------------
// A project's publishable key (sb_publishable_..., shipped in apps: role anon) and secret keys (sb_secret_...,
// backends only: role service_role) are opaque strings, not JWTs. A client created with a publishable key sends
// it as the connect apikey and, until a user signs in, as every join's access_token; after setAuth(userJwt) the
// joins carry the user's JWT.

enum class api_key_kind { publishable, secret };

inline constexpr std::string_view k_publishable_key_prefix = "sb_publishable_";
inline constexpr std::string_view k_secret_key_prefix = "sb_secret_";
// After the prefix: base64url characters (A-Z a-z 0-9 - _), this many. Supabase's keys have 31 today.
inline constexpr std::size_t k_min_api_key_body = 16;
inline constexpr std::size_t k_max_api_key_body = 256;
inline constexpr std::size_t k_max_api_keys = 16;  // of each kind

// The kind a presented credential claims by its prefix, or nullopt (then it is treated as a JWT).
std::optional<api_key_kind> api_key_kind_of(std::string_view credential) noexcept;

// "publishable", "secret".
std::string_view to_string(api_key_kind kind) noexcept;

// Checks a configured key's format: the prefix of `kind`, then k_min_api_key_body..k_max_api_key_body base64url
// characters. Errors (bad_key) describe the problem without quoting the key (a secret key must never reach a
// log or a terminal through a config problem).
auth_result<void> check_api_key(std::string_view key, api_key_kind kind);

// The configured API keys. Holds only their SHA-256 digests: the keys themselves are not kept, so nothing can
// log them. Thread-safety: immutable after create(); match() may be called concurrently.
class api_key_set {
 public:
  api_key_set() = default;  // no keys: every API key is refused (unknown_api_key)

  // Errors: bad_key (check_api_key), bad_config (more than k_max_api_keys of a kind, a key listed twice).
  static auth_result<api_key_set> create(const std::vector<std::string>& publishable,
                                         const std::vector<std::string>& secret);

  // The kind of the configured key `presented` is, or nullopt. Compares the SHA-256 of `presented` with every
  // configured key of the kind its prefix claims, each with CRYPTO_memcmp and without stopping at a match, so
  // the time taken does not depend on which key (if any) matched or on how many leading bytes agree.
  std::optional<api_key_kind> match(std::string_view presented) const noexcept;

  std::size_t size(api_key_kind kind) const noexcept;

 private:
  using digest = std::array<unsigned char, 32>;
  std::vector<digest> publishable_;
  std::vector<digest> secret_;
};

// The expiry of a principal that an API key authenticated: API keys do not expire (they are revoked by removing
// them from the configuration). 9999-12-31T23:59:59Z: far enough, and exp + leeway stays exact.
inline constexpr std::chrono::sys_seconds k_api_key_expires_at{std::chrono::seconds{253402300799}};

// ---- the verifier ------------------------------------------------------------------------------------------

inline constexpr std::size_t k_max_token_length = 8 * 1024;
inline constexpr std::size_t k_max_keys = 16;
inline constexpr std::chrono::seconds k_max_leeway{300};
inline constexpr std::size_t k_max_scope_ids = 1024;
inline constexpr std::size_t k_max_claim_path_segments = 8;

struct verifier_config {
  // Clock skew tolerated on exp, nbf and iat. REQUIRES (else bad_config): 0 <= leeway <= k_max_leeway.
  std::chrono::seconds leeway{30};
  // When set, the token's aud (a string, or an array of strings) must contain it.
  std::optional<std::string> audience;
  // Dotted path of the claim holding the factory scope: an array of ids, or a single id (core::validate_id).
  // REQUIRES (else bad_config): 1..k_max_claim_path_segments non-empty segments.
  std::string scope_claim = "app_metadata.factory_ids";
  // Supabase API keys accepted wherever a token is: a publishable key is anon (no scope), a secret key
  // service_role. Empty: every sb_publishable_/sb_secret_ credential is refused (unknown_api_key).
  api_key_set api_keys;
  // Keys loaded at run time (a JWKS), used beside the fixed keys; null: none. Fixed keys win a kid both hold.
  std::shared_ptr<key_source> dynamic_keys;
};

enum class auth_role { anon, authenticated, service_role };

// "anon", "authenticated", "service_role".
std::string_view to_string(auth_role role) noexcept;

// Who holds a verified token. service_role is unscoped; anon and authenticated see their scope claim only.
struct principal {
  auth_role role;
  core::factory_scope scope;
  std::chrono::sys_seconds expires_at;  // the exp claim (floored); expiry itself is exp + leeway
  std::string subject;                  // the sub claim, empty when absent
  // The verified payload (JSON text), for the claim conditions of private-channel rules (channel_access.hpp).
  // Null when the principal was not built from a token.
  std::shared_ptr<const std::string> claims{};
};

// Verifies compact JWS tokens (RFC 7515/7519) against a fixed keyset and, when configured, the keys of a
// key_source (JWKS); accepts the configured Supabase API keys too.
// Thread-safety: immutable after create() (a key_source changes behind its own synchronisation); verify() may
// be called concurrently.
class jwt_verifier {
 public:
  // Errors: bad_config (no fixed keys and no key_source, more than k_max_keys, two keys with the same non-empty
  // kid, leeway or scope_claim out of bounds, empty audience).
  static auth_result<jwt_verifier> create(std::vector<verification_key> keys, verifier_config config = {});

  // Checks, in order: length and shape (three strict base64url segments, header a JSON object); alg in
  // {HS256, RS256, ES256}, typ absent or "JWT", no crit; key selection by kid; the signature; only then the
  // claims: exp (required, a number), nbf and iat (numbers if present), aud, role, sub (string if present) and
  // the scope claim. For `anon` a missing scope claim is an empty scope (the apikey a client connects with has
  // none); for `authenticated` it is refused; service_role ignores it.
  // The token is taken verbatim: the gateway URL-decodes the apikey query parameter first; whitespace is
  // refused, not stripped. Errors: every auth_errc except bad_key and bad_config.
  // A credential with an API key prefix (api_key_kind_of) is not a JWT: it is looked up in config.api_keys,
  // giving an anon principal with an empty scope (publishable) or service_role (secret), subject empty, expiring
  // at k_api_key_expires_at; unknown_api_key otherwise. Neither the key nor any part of it is put in an error.
  // An RS256/ES256 token whose kid no key holds is reported to the key_source (key_source::unknown_kid).
  auth_result<principal> verify(std::string_view token, std::chrono::sys_seconds now) const;

  // Whether a principal verified earlier has expired by `now` (the same rule as verify: now >= exp + leeway),
  // as the error the gateway should report (code expired), or an empty optional while it is still valid.
  std::optional<auth_error> check_expiry(const principal& p, std::chrono::sys_seconds now) const;

  const verifier_config& config() const noexcept { return config_; }

 private:
  jwt_verifier(std::vector<verification_key> keys, verifier_config config, std::vector<std::string> path);

  // Constant after construction.
  std::vector<verification_key> keys_;
  verifier_config config_;
  std::vector<std::string> scope_path_;
};

// ---- authorisation (docs/design.md §4): decided per subscription, never per change ------------------------------

enum class join_verdict {
  allowed,           // every event of the channel may be delivered (unscoped, or list:/factory: in scope)
  allowed_filtered,  // doc: channel for a scoped principal: deliver only events whose factory passes may_deliver
  refused,           // list:/factory: outside the scope
};

struct join_decision {
  join_verdict verdict;
  // For refused: the phx_reply reason, "Unauthorized: You do not have permissions to read from this Channel
  // topic: <key>". Empty otherwise.
  std::string reason;

  bool allowed() const noexcept { return verdict != join_verdict::refused; }
};

join_decision authorize_join(const principal& who, const core::channel_key& key);

// Whether an event of `factory_id` may be written to this principal's connection (any channel kind).
bool may_deliver(const principal& who, std::string_view factory_id) noexcept;

// The `system` message when a refreshed token no longer covers a joined channel (then phx_close):
// "You no longer have permission to read from this Channel topic: <key>".
std::string revoked_message(const core::channel_key& key);

}  // namespace rtcache::auth
