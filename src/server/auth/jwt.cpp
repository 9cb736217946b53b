// JWT verification: compact JWS in, principal out. The token is untrusted bytes until its signature verifies;
// the payload is not even decoded before that. Signatures are checked by OpenSSL EVP, claims read with simdjson.
#include "auth/auth.hpp"
#include "base64url.hpp"
#include "key_impl.hpp"
#include "rtcache/core/identifier.hpp"
#include "rtcache/core/json_text.hpp"
#include "rtcache/core/json_type_name.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstring>

namespace rtcache::auth {

namespace dom = simdjson::dom;

namespace {

constexpr std::size_t k_max_json_depth = 32;
constexpr std::int64_t k_max_numeric_date = 1'000'000'000'000'000;  // ~31 million years; keeps arithmetic exact

auth_error fail(auth_errc code, std::string message) {
  return auth_error{code, std::move(message), 0};
}

// Untrusted text in messages (at most 40 bytes, non-printable bytes as \xNN) and JSON type names, as the event
// codec writes them.
using core::json_type_name;
using core::printable;

// Two parsers reading one object differently is how JSON smuggling works; one reading of each key only.
std::optional<std::string_view> duplicate_key(dom::object obj) {
  std::vector<std::string_view> keys;
  for (const dom::key_value_pair field : obj) keys.push_back(field.key);
  std::sort(keys.begin(), keys.end());
  const auto dup = std::adjacent_find(keys.begin(), keys.end());
  if (dup == keys.end()) return std::nullopt;
  return *dup;
}

// ---- OpenSSL ownership ----

struct evp_md_ctx_free {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct ecdsa_sig_free {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
struct bn_free {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};

// OpenSSL's error queue is per thread; a refused token must not leave entries behind for unrelated code.
struct clear_openssl_errors {
  clear_openssl_errors() = default;
  clear_openssl_errors(const clear_openssl_errors&) = delete;
  clear_openssl_errors& operator=(const clear_openssl_errors&) = delete;
  ~clear_openssl_errors() { ERR_clear_error(); }
};

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

bool digest_verify(EVP_PKEY* pkey, bool rsa_pkcs1, std::string_view signing_input, const unsigned char* sig,
                   std::size_t sig_len) {
  const std::unique_ptr<EVP_MD_CTX, evp_md_ctx_free> ctx(EVP_MD_CTX_new());
  if (!ctx) return false;
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, pkey) != 1) return false;
  if (rsa_pkcs1 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) return false;
  return EVP_DigestVerify(ctx.get(), sig, sig_len, bytes(signing_input), signing_input.size()) == 1;
}

// nullopt when `sig` is a valid signature of `signing_input` under `key`, else why not.
std::optional<std::string> check_signature(const verification_key::impl& key, std::string_view signing_input,
                                           std::string_view sig) {
  const clear_openssl_errors clear;
  switch (key.alg) {
    case jwt_alg::hs256: {
      if (sig.size() != 32) return "HS256 signature is " + std::to_string(sig.size()) + " bytes, not 32";
      std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
      unsigned int mac_len = 0;
      if (HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()), bytes(signing_input),
               signing_input.size(), mac.data(), &mac_len) == nullptr ||
          mac_len != 32) {
        return std::string("HMAC-SHA256 failed");
      }
      if (CRYPTO_memcmp(mac.data(), sig.data(), 32) != 0) return std::string("HS256 signature does not match");
      return std::nullopt;
    }
    case jwt_alg::rs256: {
      const int expected = EVP_PKEY_get_size(key.pkey);
      if (expected <= 0 || sig.size() != static_cast<std::size_t>(expected)) {
        return "RS256 signature is " + std::to_string(sig.size()) + " bytes, not the key's " + std::to_string(expected);
      }
      if (!digest_verify(key.pkey, true, signing_input, bytes(sig), sig.size())) {
        return std::string("RS256 signature does not verify");
      }
      return std::nullopt;
    }
    case jwt_alg::es256: {
      // JOSE sends ECDSA as raw r||s, 32 bytes each (RFC 7518 §3.4); EVP wants DER.
      if (sig.size() != 64) return "ES256 signature is " + std::to_string(sig.size()) + " bytes, not 64";
      std::unique_ptr<BIGNUM, bn_free> r(BN_bin2bn(bytes(sig), 32, nullptr));
      std::unique_ptr<BIGNUM, bn_free> s(BN_bin2bn(bytes(sig) + 32, 32, nullptr));
      const std::unique_ptr<ECDSA_SIG, ecdsa_sig_free> ecdsa(ECDSA_SIG_new());
      if (!r || !s || !ecdsa || ECDSA_SIG_set0(ecdsa.get(), r.get(), s.get()) != 1) {
        return std::string("ES256 signature could not be converted");
      }
      (void)r.release();  // owned by ecdsa now
      (void)s.release();
      const int der_len = i2d_ECDSA_SIG(ecdsa.get(), nullptr);
      if (der_len <= 0) return std::string("ES256 signature could not be converted");
      std::vector<unsigned char> der(static_cast<std::size_t>(der_len));
      unsigned char* out = der.data();
      if (i2d_ECDSA_SIG(ecdsa.get(), &out) != der_len) return std::string("ES256 signature could not be converted");
      if (!digest_verify(key.pkey, false, signing_input, der.data(), der.size())) {
        return std::string("ES256 signature does not verify");
      }
      return std::nullopt;
    }
  }
  return std::string("unknown algorithm");
}

auth_result<EVP_PKEY*> load_public_pem(std::string_view pem, std::string_view what) {
  const clear_openssl_errors clear;
  if (pem.empty()) return fail(auth_errc::bad_key, std::string(what) + " public key PEM is empty");
  if (pem.size() > k_max_key_pem_length) {
    return fail(auth_errc::bad_key, std::string(what) + " public key PEM is " + std::to_string(pem.size()) +
                                        " bytes; the limit is " + std::to_string(k_max_key_pem_length));
  }
  const std::unique_ptr<BIO, bio_free> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return fail(auth_errc::bad_key, "out of memory reading a PEM");
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (pkey == nullptr) {
    return fail(auth_errc::bad_key, std::string(what) +
                                        " key is not a public key PEM (expected -----BEGIN PUBLIC KEY-----; "
                                        "private keys and certificates are refused)");
  }
  return pkey;
}

auth_result<void> check_kid(std::string_view kid) {
  if (kid.size() > k_max_kid_length) {
    return fail(auth_errc::bad_key,
                "kid is " + std::to_string(kid.size()) + " bytes; the limit is " + std::to_string(k_max_kid_length));
  }
  return {};
}

std::optional<jwt_alg> parse_alg(std::string_view name) {
  if (name == "HS256") return jwt_alg::hs256;
  if (name == "RS256") return jwt_alg::rs256;
  if (name == "ES256") return jwt_alg::es256;
  return std::nullopt;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

struct jws_header {
  jwt_alg alg;
  std::optional<std::string> kid;
};

auth_result<dom::element> parse_json(dom::parser& parser, std::string_view json, std::string_view what) {
  dom::element root;
  if (const auto err = parser.parse(json.data(), json.size(), true).get(root); err != simdjson::SUCCESS) {
    return fail(auth_errc::malformed, std::string(what) + " is not JSON: " + simdjson::error_message(err));
  }
  if (root.type() != dom::element_type::OBJECT) {
    return fail(auth_errc::malformed,
                std::string(what) + " must be a JSON object, not " + std::string(json_type_name(root.type())));
  }
  return root;
}

auth_result<jws_header> read_header(dom::parser& parser, std::string_view json) {
  auto root = parse_json(parser, json, "header");
  if (!root) return root.error();
  const dom::object obj = root->get_object().value_unsafe();
  if (const auto dup = duplicate_key(obj)) {
    return fail(auth_errc::malformed, "header has the key '" + printable(*dup) + "' twice");
  }

  dom::element value;
  if (obj.at_key("alg").get(value) != simdjson::SUCCESS) {
    return fail(auth_errc::unsupported_alg, "header has no alg");
  }
  std::string_view alg_name;
  if (value.get_string().get(alg_name) != simdjson::SUCCESS) {
    return fail(auth_errc::unsupported_alg,
                "header alg must be a string, not " + std::string(json_type_name(value.type())));
  }
  const std::optional<jwt_alg> alg = parse_alg(alg_name);
  if (!alg) {
    return fail(auth_errc::unsupported_alg,
                "alg '" + printable(alg_name) + "' is not accepted; only HS256, RS256 and ES256 are");
  }

  if (obj.at_key("crit").get(value) == simdjson::SUCCESS) {
    // RFC 7515 §4.1.11: extensions named in crit must be understood; rtcache understands none.
    return fail(auth_errc::unsupported_alg, "header crit is present; no JWS extension is supported");
  }
  if (obj.at_key("typ").get(value) == simdjson::SUCCESS) {
    std::string_view typ;
    if (value.get_string().get(typ) != simdjson::SUCCESS || !iequals(typ, "JWT")) {
      return fail(auth_errc::malformed, "header typ must be \"JWT\" when present");
    }
  }

  jws_header header{*alg, std::nullopt};
  if (obj.at_key("kid").get(value) == simdjson::SUCCESS) {
    std::string_view kid;
    if (value.get_string().get(kid) != simdjson::SUCCESS) {
      return fail(auth_errc::malformed,
                  "header kid must be a string, not " + std::string(json_type_name(value.type())));
    }
    if (kid.size() > k_max_kid_length) {
      return fail(auth_errc::malformed, "header kid is " + std::to_string(kid.size()) + " bytes; the limit is " +
                                            std::to_string(k_max_kid_length));
    }
    header.kid = std::string(kid);
  }
  return header;
}

// A NumericDate (RFC 7519 §2): integer or fractional seconds; fractions are floored.
auth_result<std::int64_t> numeric_date(std::string_view claim, dom::element value) {
  const auto out_of_range = [&] {
    return fail(auth_errc::bad_claim, "claim " + std::string(claim) + " is out of range");
  };
  switch (value.type()) {
    case dom::element_type::INT64: {
      const std::int64_t v = value.get_int64().value_unsafe();
      if (v > k_max_numeric_date || v < -k_max_numeric_date) return out_of_range();
      return v;
    }
    case dom::element_type::UINT64: return out_of_range();
    case dom::element_type::DOUBLE: {
      const double v = value.get_double().value_unsafe();
      if (!std::isfinite(v) || v > static_cast<double>(k_max_numeric_date) ||
          v < -static_cast<double>(k_max_numeric_date)) {
        return out_of_range();
      }
      return static_cast<std::int64_t>(std::floor(v));
    }
    default:
      return fail(auth_errc::bad_claim, "claim " + std::string(claim) + " must be a number, not " +
                                            std::string(json_type_name(value.type())));
  }
}

auth_result<std::optional<std::int64_t>> optional_date(dom::object claims, std::string_view name) {
  dom::element value;
  if (claims.at_key(name).get(value) != simdjson::SUCCESS) return std::optional<std::int64_t>{};
  auto v = numeric_date(name, value);
  if (!v) return v.error();
  return std::optional<std::int64_t>{*v};
}

}  // namespace

// ---- errors ----

std::string_view to_string(auth_errc code) noexcept {
  switch (code) {
    case auth_errc::missing_token: return "missing_token";
    case auth_errc::too_long: return "too_long";
    case auth_errc::malformed: return "malformed";
    case auth_errc::unsupported_alg: return "unsupported_alg";
    case auth_errc::unknown_key: return "unknown_key";
    case auth_errc::key_mismatch: return "key_mismatch";
    case auth_errc::bad_signature: return "bad_signature";
    case auth_errc::missing_claim: return "missing_claim";
    case auth_errc::bad_claim: return "bad_claim";
    case auth_errc::expired: return "expired";
    case auth_errc::not_yet_valid: return "not_yet_valid";
    case auth_errc::bad_audience: return "bad_audience";
    case auth_errc::bad_role: return "bad_role";
    case auth_errc::bad_scope: return "bad_scope";
    case auth_errc::bad_key: return "bad_key";
    case auth_errc::bad_config: return "bad_config";
    case auth_errc::unknown_api_key: return "unknown_api_key";
  }
  return "unknown";
}

void throw_exception_from_error(const auth_error& e, const boost::source_location& /*loc*/) {
  throw auth_exception(e);
}

std::string_view to_string(jwt_alg alg) noexcept {
  switch (alg) {
    case jwt_alg::hs256: return "HS256";
    case jwt_alg::rs256: return "RS256";
    case jwt_alg::es256: return "ES256";
  }
  return "unknown";
}

std::string_view to_string(auth_role role) noexcept {
  switch (role) {
    case auth_role::anon: return "anon";
    case auth_role::authenticated: return "authenticated";
    case auth_role::service_role: return "service_role";
  }
  return "unknown";
}

// ---- keys ----

verification_key::verification_key(std::shared_ptr<const impl> p) : impl_(std::move(p)) {}

jwt_alg verification_key::alg() const noexcept {
  return impl_->alg;
}
const std::string& verification_key::kid() const noexcept {
  return impl_->kid;
}

auth_result<verification_key> verification_key::hs256(std::string_view secret, std::string kid) {
  if (auto ok = check_kid(kid); !ok) return ok.error();
  if (secret.size() < k_min_hs256_secret_length) {
    return fail(auth_errc::bad_key, "HS256 secret is " + std::to_string(secret.size()) + " bytes; at least " +
                                        std::to_string(k_min_hs256_secret_length) + " are required");
  }
  if (secret.find("-----BEGIN") != std::string_view::npos) {
    // The classic confusion: a public key configured as an HMAC secret lets anyone who has it sign tokens.
    return fail(auth_errc::bad_key, "HS256 secret looks like a PEM key; configure public keys as RS256/ES256");
  }
  auto p = std::make_shared<impl>();
  p->alg = jwt_alg::hs256;
  p->kid = std::move(kid);
  p->secret = std::string(secret);
  return verification_key(std::move(p));
}

namespace detail {

auth_result<verification_key> adopt_public_key(jwt_alg alg, EVP_PKEY* pkey, std::string kid) {
  auto p = std::make_shared<verification_key::impl>();
  p->pkey = pkey;  // owned from here: freed with p on every path
  if (auto ok = check_kid(kid); !ok) return ok.error();
  const clear_openssl_errors clear;
  switch (alg) {
    case jwt_alg::rs256: {
      if (EVP_PKEY_is_a(p->pkey, "RSA") != 1) return fail(auth_errc::bad_key, "RS256 key is not an RSA key");
      const int bits = EVP_PKEY_get_bits(p->pkey);
      if (bits < 2048 || bits > 8192) {
        return fail(auth_errc::bad_key, "RS256 key has " + std::to_string(bits) + " bits; 2048 to 8192 are accepted");
      }
      break;
    }
    case jwt_alg::es256: {
      if (EVP_PKEY_is_a(p->pkey, "EC") != 1) return fail(auth_errc::bad_key, "ES256 key is not an EC key");
      std::array<char, 80> group{};
      std::size_t group_len = 0;
      if (EVP_PKEY_get_group_name(p->pkey, group.data(), group.size(), &group_len) != 1 ||
          (std::string_view(group.data(), group_len) != "prime256v1" &&
           std::string_view(group.data(), group_len) != "P-256")) {
        return fail(auth_errc::bad_key, "ES256 key is not on the P-256 curve");
      }
      break;
    }
    case jwt_alg::hs256: return fail(auth_errc::bad_key, "HS256 takes a secret, not a public key");
  }
  p->alg = alg;
  p->kid = std::move(kid);
  return key_access::make(std::move(p));
}

}  // namespace detail

auth_result<verification_key> verification_key::rs256_public_pem(std::string_view pem, std::string kid) {
  if (auto ok = check_kid(kid); !ok) return ok.error();
  auto loaded = load_public_pem(pem, "RS256");
  if (!loaded) return loaded.error();
  return detail::adopt_public_key(jwt_alg::rs256, *loaded, std::move(kid));
}

auth_result<verification_key> verification_key::es256_public_pem(std::string_view pem, std::string kid) {
  if (auto ok = check_kid(kid); !ok) return ok.error();
  auto loaded = load_public_pem(pem, "ES256");
  if (!loaded) return loaded.error();
  return detail::adopt_public_key(jwt_alg::es256, *loaded, std::move(kid));
}

// ---- verifier ----

jwt_verifier::jwt_verifier(std::vector<verification_key> keys, verifier_config config, std::vector<std::string> path)
    : keys_(std::move(keys)), config_(std::move(config)), scope_path_(std::move(path)) {}

auth_result<jwt_verifier> jwt_verifier::create(std::vector<verification_key> keys, verifier_config config) {
  if (keys.empty() && !config.dynamic_keys) return fail(auth_errc::bad_config, "no verification key configured");
  if (keys.size() > k_max_keys) {
    return fail(auth_errc::bad_config,
                std::to_string(keys.size()) + " keys configured; the limit is " + std::to_string(k_max_keys));
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    for (std::size_t j = i + 1; j < keys.size(); ++j) {
      if (!keys[i].kid().empty() && keys[i].kid() == keys[j].kid()) {
        return fail(auth_errc::bad_config, "two keys have the kid '" + printable(keys[i].kid()) + "'");
      }
    }
  }
  if (config.leeway < std::chrono::seconds{0} || config.leeway > k_max_leeway) {
    return fail(auth_errc::bad_config, "leeway is " + std::to_string(config.leeway.count()) + " s; 0 to " +
                                           std::to_string(k_max_leeway.count()) + " are accepted");
  }
  if (config.audience && config.audience->empty()) {
    return fail(auth_errc::bad_config, "audience is set but empty");
  }
  std::vector<std::string> path;
  std::string_view rest = config.scope_claim;
  for (;;) {
    const std::size_t dot = rest.find('.');
    const std::string_view segment = rest.substr(0, dot);
    if (segment.empty()) {
      return fail(auth_errc::bad_config,
                  "scope claim path '" + printable(config.scope_claim) + "' has an empty segment");
    }
    path.emplace_back(segment);
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  if (path.size() > k_max_claim_path_segments) {
    return fail(auth_errc::bad_config, "scope claim path has " + std::to_string(path.size()) +
                                           " segments; the limit is " + std::to_string(k_max_claim_path_segments));
  }
  return jwt_verifier(std::move(keys), std::move(config), std::move(path));
}

std::optional<auth_error> jwt_verifier::check_expiry(const principal& p, std::chrono::sys_seconds now) const {
  const std::int64_t exp = p.expires_at.time_since_epoch().count();
  const std::int64_t at = now.time_since_epoch().count();
  if (at < exp + config_.leeway.count()) return std::nullopt;
  auth_error e =
      fail(auth_errc::expired, "token expired " + std::to_string(at - exp) + " s ago (exp " + std::to_string(exp) +
                                   ", leeway " + std::to_string(config_.leeway.count()) + " s)");
  e.seconds_past_exp = at - exp;
  return e;
}

auth_result<principal> jwt_verifier::verify(std::string_view token, std::chrono::sys_seconds now) const {
  // ---- shape ----
  if (token.empty()) return fail(auth_errc::missing_token, "no token");
  if (token.size() > k_max_token_length) {
    return fail(auth_errc::too_long, "token is " + std::to_string(token.size()) + " bytes; the limit is " +
                                         std::to_string(k_max_token_length));
  }

  // ---- Supabase API key (not a JWT): looked up, never parsed; the message names only its kind and length ----
  if (const auto claimed = api_key_kind_of(token)) {
    const auto kind = config_.api_keys.match(token);
    if (!kind) {
      return fail(auth_errc::unknown_api_key,
                  std::string(to_string(*claimed)) + " API key of " + std::to_string(token.size()) +
                      " bytes is not one of the configured " + std::string(to_string(*claimed)) + " keys (" +
                      std::to_string(config_.api_keys.size(*claimed)) + " configured)");
    }
    if (*kind == api_key_kind::secret) {
      return principal{auth_role::service_role, core::factory_scope::unscoped(), k_api_key_expires_at, {}};
    }
    return principal{auth_role::anon, core::factory_scope::of(std::vector<std::string>{}), k_api_key_expires_at, {}};
  }
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    const auto segments = std::count(token.begin(), token.end(), '.') + 1;
    return fail(auth_errc::malformed,
                "a compact JWS has 3 segments separated by '.', this token has " + std::to_string(segments));
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = token.substr(dot2 + 1);
  const std::string_view signing_input = token.substr(0, dot2);
  if (header_b64.empty() || payload_b64.empty()) return fail(auth_errc::malformed, "header or payload is empty");

  const std::optional<std::string> header_json = detail::base64url_decode(header_b64);
  if (!header_json) return fail(auth_errc::malformed, "header is not strict unpadded base64url");
  // Decoded now for a precise refusal; read as JSON only once the signature has verified.
  const std::optional<std::string> payload_json = detail::base64url_decode(payload_b64);
  if (!payload_json) return fail(auth_errc::malformed, "payload is not strict unpadded base64url");

  dom::parser parser;
  // Decoded segments are shorter than the token, so one allocation serves both parses.
  if (parser.allocate(token.size(), k_max_json_depth) != simdjson::SUCCESS) {
    return fail(auth_errc::malformed, "out of memory");
  }
  auto header = read_header(parser, *header_json);
  if (!header) return header.error();

  // ---- key ----
  // The fixed keys first, then the key_source's (held alive for this call: a refresh may replace them).
  std::shared_ptr<const std::vector<verification_key>> loaded;
  if (config_.dynamic_keys) loaded = config_.dynamic_keys->current();
  const auto each_key = [&](const auto& visit) {
    for (const verification_key& k : keys_) {
      if (visit(k)) return;
    }
    if (loaded) {
      for (const verification_key& k : *loaded) {
        if (visit(k)) return;
      }
    }
  };
  std::vector<const verification_key::impl*> candidates;
  const auto add_defaults = [&] {
    each_key([&](const verification_key& k) {
      if (k.kid().empty() && k.alg() == header->alg) candidates.push_back(k.impl_.get());
      return false;
    });
  };
  if (header->kid) {
    const verification_key* named = nullptr;
    each_key([&](const verification_key& k) {
      if (k.kid().empty() || k.kid() != *header->kid) return false;
      named = &k;
      return true;
    });
    if (named != nullptr) {
      if (named->alg() != header->alg) {
        return fail(auth_errc::key_mismatch, "kid '" + printable(*header->kid) + "' names an " +
                                                 std::string(to_string(named->alg())) + " key; the token says " +
                                                 std::string(to_string(header->alg)));
      }
      candidates.push_back(named->impl_.get());
    } else {
      // An asymmetric key this server has not seen yet: the key set may have been rotated. (Supabase's HS256
      // tokens carry a kid no JWK holds; they are checked with the secret and say nothing about the JWKS.)
      if (config_.dynamic_keys && header->alg != jwt_alg::hs256) config_.dynamic_keys->unknown_kid(*header->kid);
      add_defaults();
      if (candidates.empty()) {
        return fail(auth_errc::unknown_key, "no key has kid '" + printable(*header->kid) + "' and no default " +
                                                std::string(to_string(header->alg)) + " key is configured");
      }
    }
  } else {
    add_defaults();
    if (candidates.empty()) {
      return fail(auth_errc::unknown_key,
                  "token has no kid and no default " + std::string(to_string(header->alg)) + " key is configured");
    }
  }

  // ---- signature ----
  const std::optional<std::string> signature = detail::base64url_decode(signature_b64);
  if (!signature) return fail(auth_errc::malformed, "signature is not strict unpadded base64url");
  if (signature->empty()) return fail(auth_errc::bad_signature, "signature is empty");
  std::string why;
  bool verified = false;
  for (const verification_key::impl* key : candidates) {
    const std::optional<std::string> refused = check_signature(*key, signing_input, *signature);
    if (!refused) {
      verified = true;
      break;
    }
    why = *refused;
  }
  if (!verified) return fail(auth_errc::bad_signature, why);

  // ---- claims (authentic from here on, but still checked as input) ----
  auto root = parse_json(parser, *payload_json, "payload");
  if (!root) return root.error();
  const dom::object claims = root->get_object().value_unsafe();
  if (const auto dup = duplicate_key(claims)) {
    return fail(auth_errc::bad_claim, "payload has the claim '" + printable(*dup) + "' twice");
  }

  dom::element value;
  if (claims.at_key("exp").get(value) != simdjson::SUCCESS) return fail(auth_errc::missing_claim, "no exp claim");
  const auto exp = numeric_date("exp", value);
  if (!exp) return exp.error();
  const auto nbf = optional_date(claims, "nbf");
  if (!nbf) return nbf.error();
  const auto iat = optional_date(claims, "iat");
  if (!iat) return iat.error();

  const std::int64_t at = now.time_since_epoch().count();
  const std::int64_t leeway = config_.leeway.count();
  if (at >= *exp + leeway) {
    auth_error e = fail(auth_errc::expired, "token expired " + std::to_string(at - *exp) + " s ago (exp " +
                                                std::to_string(*exp) + ", leeway " + std::to_string(leeway) + " s)");
    e.seconds_past_exp = at - *exp;
    return e;
  }
  if (*nbf && **nbf > at + leeway) {
    return fail(auth_errc::not_yet_valid, "token is not valid for another " + std::to_string(**nbf - at) + " s (nbf " +
                                              std::to_string(**nbf) + ")");
  }
  if (*iat && **iat > at + leeway) {
    return fail(auth_errc::not_yet_valid, "token is issued " + std::to_string(**iat - at) + " s in the future (iat " +
                                              std::to_string(**iat) + ")");
  }

  if (config_.audience) {
    if (claims.at_key("aud").get(value) != simdjson::SUCCESS) {
      return fail(auth_errc::bad_audience, "no aud claim; '" + printable(*config_.audience) + "' is required");
    }
    bool found = false;
    std::string_view one;
    dom::array many;
    if (value.get_string().get(one) == simdjson::SUCCESS) {
      found = one == *config_.audience;
    } else if (value.get_array().get(many) == simdjson::SUCCESS) {
      for (const dom::element item : many) {
        if (item.get_string().get(one) != simdjson::SUCCESS) {
          return fail(auth_errc::bad_claim, "claim aud must hold strings only");
        }
        found = found || one == *config_.audience;
      }
    } else {
      return fail(auth_errc::bad_claim, "claim aud must be a string or an array of strings, not " +
                                            std::string(json_type_name(value.type())));
    }
    if (!found) {
      return fail(auth_errc::bad_audience, "aud does not contain '" + printable(*config_.audience) + "'");
    }
  }

  if (claims.at_key("role").get(value) != simdjson::SUCCESS) return fail(auth_errc::missing_claim, "no role claim");
  std::string_view role_name;
  if (value.get_string().get(role_name) != simdjson::SUCCESS) {
    return fail(auth_errc::bad_claim, "claim role must be a string, not " + std::string(json_type_name(value.type())));
  }
  auth_role role{};
  if (role_name == "service_role") {
    role = auth_role::service_role;
  } else if (role_name == "authenticated") {
    role = auth_role::authenticated;
  } else if (role_name == "anon") {
    role = auth_role::anon;
  } else {
    return fail(auth_errc::bad_role,
                "role '" + printable(role_name) + "' is not accepted; anon, authenticated and service_role are");
  }

  std::string subject;
  if (claims.at_key("sub").get(value) == simdjson::SUCCESS) {
    std::string_view sub;
    if (value.get_string().get(sub) != simdjson::SUCCESS) {
      return fail(auth_errc::bad_claim, "claim sub must be a string, not " + std::string(json_type_name(value.type())));
    }
    subject = std::string(sub);
  }

  const auto expires_at = std::chrono::sys_seconds{std::chrono::seconds{*exp}};
  // Kept verbatim for private-channel rules, which read claims of their own choosing (channel_access.hpp).
  const auto claims_text = std::make_shared<const std::string>(*payload_json);
  if (role == auth_role::service_role) {
    return principal{role, core::factory_scope::unscoped(), expires_at, std::move(subject), claims_text};
  }

  // ---- factory scope ----
  const std::string& path_text = config_.scope_claim;
  dom::element cursor = *root;
  bool present = true;
  for (std::size_t i = 0; i < scope_path_.size(); ++i) {
    dom::object obj;
    if (cursor.get_object().get(obj) != simdjson::SUCCESS) {
      std::string prefix = scope_path_[0];
      for (std::size_t j = 1; j < i; ++j) prefix += "." + scope_path_[j];
      return fail(auth_errc::bad_scope, "claim " + prefix + " must be an object (to hold " + path_text + "), not " +
                                            std::string(json_type_name(cursor.type())));
    }
    if (i > 0) {
      if (const auto dup = duplicate_key(obj)) {
        return fail(auth_errc::bad_claim,
                    "an object on the path " + path_text + " has the key '" + printable(*dup) + "' twice");
      }
    }
    if (obj.at_key(scope_path_[i]).get(cursor) != simdjson::SUCCESS) {
      present = false;
      break;
    }
  }
  if (!present) {
    if (role == auth_role::anon)
      return principal{role, core::factory_scope::of(std::vector<std::string>{}), expires_at, std::move(subject),
                       claims_text};
    return fail(auth_errc::bad_scope, "claim " + path_text + " is missing");
  }

  std::vector<std::string> ids;
  std::string_view one;
  dom::array many;
  if (cursor.get_string().get(one) == simdjson::SUCCESS) {
    if (auto ok = core::validate_id(one, path_text); !ok) {
      return fail(auth_errc::bad_scope, "claim " + ok.error().message);
    }
    ids.emplace_back(one);
  } else if (cursor.get_array().get(many) == simdjson::SUCCESS) {
    if (many.size() > k_max_scope_ids) {
      return fail(auth_errc::bad_scope, "claim " + path_text + " holds " + std::to_string(many.size()) +
                                            " ids; the limit is " + std::to_string(k_max_scope_ids));
    }
    std::size_t index = 0;
    for (const dom::element item : many) {
      if (item.get_string().get(one) != simdjson::SUCCESS) {
        return fail(auth_errc::bad_scope, "claim " + path_text + "[" + std::to_string(index) +
                                              "] must be a string, not " + std::string(json_type_name(item.type())));
      }
      if (auto ok = core::validate_id(one, path_text + "[" + std::to_string(index) + "]"); !ok) {
        return fail(auth_errc::bad_scope, "claim " + ok.error().message);
      }
      ids.emplace_back(one);
      ++index;
    }
  } else {
    return fail(auth_errc::bad_scope, "claim " + path_text + " must be an array of factory ids or one id, not " +
                                          std::string(json_type_name(cursor.type())));
  }
  return principal{role, core::factory_scope::of(std::move(ids)), expires_at, std::move(subject), claims_text};
}

}  // namespace rtcache::auth
