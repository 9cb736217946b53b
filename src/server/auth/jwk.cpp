// JWK Set -> verification keys: the members read with simdjson, the key built by OpenSSL (EVP_PKEY_fromdata)
// from its public parameters and checked by OpenSSL (EVP_PKEY_public_check). No arithmetic of our own.
#include "auth/jwks.hpp"
#include "base64url.hpp"
#include "key_impl.hpp"
#include "rtcache/core/json_text.hpp"
#include "rtcache/core/json_type_name.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace rtcache::auth {

namespace dom = simdjson::dom;

namespace {

using core::json_type_name;
using core::printable;

constexpr std::size_t k_max_jwks_depth = 16;
constexpr std::size_t k_max_rsa_modulus_bytes = 8192 / 8;
constexpr std::size_t k_max_rsa_exponent_bytes = 8;
constexpr std::size_t k_p256_coordinate_bytes = 32;

auth_error malformed(std::string message) {
  return auth_error{auth_errc::malformed, std::move(message), 0};
}

struct bn_free {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct param_bld_free {
  void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); }
};
struct param_free {
  void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
};
struct pkey_ctx_free {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct pkey_free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

// OpenSSL's error queue is per thread; a skipped key must not leave entries behind for unrelated code.
struct clear_openssl_errors {
  clear_openssl_errors() = default;
  clear_openssl_errors(const clear_openssl_errors&) = delete;
  clear_openssl_errors& operator=(const clear_openssl_errors&) = delete;
  ~clear_openssl_errors() { ERR_clear_error(); }
};

std::optional<std::string_view> duplicate_key(dom::object obj) {
  std::vector<std::string_view> keys;
  for (const dom::key_value_pair field : obj) keys.push_back(field.key);
  std::sort(keys.begin(), keys.end());
  const auto dup = std::adjacent_find(keys.begin(), keys.end());
  if (dup == keys.end()) return std::nullopt;
  return *dup;
}

// A key that is not used, and why. Not an error of the document.
struct skip {
  std::string reason;
};

// Found by boost::system::result through ADL; nothing here calls value() on a skip.
[[noreturn, maybe_unused]] void throw_exception_from_error(const skip& s, const boost::source_location& /*loc*/) {
  throw std::runtime_error(s.reason);
}

template <class T>
using key_result = boost::system::result<T, skip>;

// An optional string member: nullopt when absent, a skip when present with another type.
key_result<std::optional<std::string_view>> optional_string(dom::object key, std::string_view name) {
  dom::element v;
  if (key.at_key(name).get(v) != simdjson::SUCCESS) return std::optional<std::string_view>{};
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS) {
    return skip{std::string(name) + " must be a string, not " + std::string(json_type_name(v.type()))};
  }
  return std::optional<std::string_view>{s};
}

// A required base64url member, decoded. RFC 7518 §6: unpadded base64url of the big-endian bytes.
key_result<std::string> bytes_member(dom::object key, std::string_view name, std::size_t max_bytes) {
  auto s = optional_string(key, name);
  if (!s) return s.error();
  if (!*s) return skip{std::string(name) + " is missing"};
  auto decoded = detail::base64url_decode(**s);
  if (!decoded) return skip{std::string(name) + " is not unpadded base64url"};
  if (decoded->empty()) return skip{std::string(name) + " is empty"};
  if (decoded->size() > max_bytes) {
    return skip{std::string(name) + " is " + std::to_string(decoded->size()) + " bytes; at most " +
                std::to_string(max_bytes) + " are accepted"};
  }
  // in_place: a skip is constructible from a string too, so the plain conversion would be ambiguous.
  return key_result<std::string>(boost::system::in_place_value, std::move(*decoded));
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Whether OpenSSL's own public-key check runs on a key built from parameters. It does for EC (is the point on
// the curve: a deterministic test). It does not for RSA: OpenSSL 3's RSA public check (SP 800-56B) runs
// Miller-Rabin with random bases on the modulus, so one modulus could pass once and fail the next refresh, and a
// key set must parse the same way every time. rsa_key checks what verification relies on itself instead.
enum class openssl_check : bool { skip, run };

// The public key OpenSSL builds from `params` for key type `type` ("RSA", "EC").
key_result<pkey_ptr> from_params(const char* type, OSSL_PARAM_BLD* bld, openssl_check check_key) {
  const std::unique_ptr<OSSL_PARAM, param_free> params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return skip{"out of memory"};
  const std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1)
    return skip{"OpenSSL cannot build " + std::string(type) + " keys"};
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1 || raw == nullptr) {
    return skip{"OpenSSL refused the key's parameters"};
  }
  pkey_ptr pkey(raw);
  if (check_key == openssl_check::skip) return pkey;
  const std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return skip{"the public key fails OpenSSL's check (a point not on the curve, or a bad modulus)"};
  }
  return pkey;
}

key_result<pkey_ptr> rsa_key(dom::object key) {
  auto n = bytes_member(key, "n", k_max_rsa_modulus_bytes + 1);  // + a leading zero byte some encoders keep
  if (!n) return n.error();
  auto e = bytes_member(key, "e", k_max_rsa_exponent_bytes);
  if (!e) return e.error();
  const std::unique_ptr<BIGNUM, bn_free> bn_n(BN_bin2bn(bytes(*n), static_cast<int>(n->size()), nullptr));
  const std::unique_ptr<BIGNUM, bn_free> bn_e(BN_bin2bn(bytes(*e), static_cast<int>(e->size()), nullptr));
  const std::unique_ptr<OSSL_PARAM_BLD, param_bld_free> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return skip{"out of memory"};
  }
  // Deterministic checks (see openssl_check): an even modulus or an exponent that is even, below 3 or not below
  // the modulus is no RSA public key. The modulus's size is checked where the key is adopted (2048 to 8192 bits).
  if (!BN_is_odd(bn_n.get())) return skip{"the public key fails the RSA checks (the modulus n is even)"};
  if (!BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get()) || BN_cmp(bn_e.get(), bn_n.get()) >= 0) {
    return skip{"the public key fails the RSA checks (the exponent e must be odd, at least 3 and below n)"};
  }
  return from_params("RSA", bld.get(), openssl_check::skip);
}

key_result<pkey_ptr> ec_key(dom::object key) {
  auto crv = optional_string(key, "crv");
  if (!crv) return crv.error();
  if (!*crv) return skip{"crv is missing"};
  if (**crv != "P-256") return skip{"crv '" + printable(**crv) + "' is not supported (P-256)"};
  auto x = bytes_member(key, "x", k_p256_coordinate_bytes);
  if (!x) return x.error();
  auto y = bytes_member(key, "y", k_p256_coordinate_bytes);
  if (!y) return y.error();
  if (x->size() != k_p256_coordinate_bytes || y->size() != k_p256_coordinate_bytes) {
    return skip{"x and y must be 32 bytes each on P-256"};  // RFC 7518 §6.2.1.2: full length, leading zeros kept
  }
  std::string point;  // SEC 1 uncompressed: 0x04 || x || y
  point.reserve(1 + 2 * k_p256_coordinate_bytes);
  point.push_back('\x04');
  point += *x;
  point += *y;
  const std::unique_ptr<OSSL_PARAM_BLD, param_bld_free> bld(OSSL_PARAM_BLD_new());
  char group[] = "prime256v1";
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return skip{"out of memory"};
  }
  return from_params("EC", bld.get(), openssl_check::run);
}

key_result<verification_key> read_key(dom::element element) {
  dom::object key;
  if (element.get_object().get(key) != simdjson::SUCCESS) {
    return skip{"must be an object, not " + std::string(json_type_name(element.type()))};
  }
  if (const auto dup = duplicate_key(key)) return skip{"has the member '" + printable(*dup) + "' twice"};

  auto kid = optional_string(key, "kid");
  if (!kid) return kid.error();
  if (*kid && (*kid)->size() > k_max_kid_length) {
    return skip{"kid is " + std::to_string((*kid)->size()) + " bytes; the limit is " +
                std::to_string(k_max_kid_length)};
  }
  auto kty = optional_string(key, "kty");
  if (!kty) return kty.error();
  if (!*kty) return skip{"kty is missing"};
  auto use = optional_string(key, "use");
  if (!use) return use.error();
  if (*use && **use != "sig") return skip{"use is '" + printable(**use) + "', not 'sig'"};
  dom::element ops;
  if (key.at_key("key_ops").get(ops) == simdjson::SUCCESS) {
    dom::array list;
    if (ops.get_array().get(list) != simdjson::SUCCESS) return skip{"key_ops must be an array"};
    bool verify = false;
    for (const dom::element op : list) {
      std::string_view s;
      if (op.get_string().get(s) != simdjson::SUCCESS) return skip{"key_ops must hold strings"};
      verify = verify || s == "verify";
    }
    if (!verify) return skip{"key_ops does not include 'verify'"};
  }
  for (const std::string_view secret : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    dom::element ignored;
    if (key.at_key(secret).get(ignored) == simdjson::SUCCESS) {
      return skip{"publishes private key material ('" + std::string(secret) + "'); a key set that does is not trusted"};
    }
  }
  auto alg_name = optional_string(key, "alg");
  if (!alg_name) return alg_name.error();

  jwt_alg alg{};
  key_result<pkey_ptr> pkey = skip{};
  if (**kty == "EC") {
    alg = jwt_alg::es256;
    if (*alg_name && **alg_name != "ES256") {
      return skip{"alg '" + printable(**alg_name) + "' is not supported for EC keys (ES256)"};
    }
    pkey = ec_key(key);
  } else if (**kty == "RSA") {
    alg = jwt_alg::rs256;
    if (*alg_name && **alg_name != "RS256") {
      return skip{"alg '" + printable(**alg_name) + "' is not supported for RSA keys (RS256)"};
    }
    pkey = rsa_key(key);
  } else {
    return skip{"kty '" + printable(**kty) + "' is not supported (EC P-256, RSA)"};
  }
  if (!pkey) return pkey.error();
  auto made = detail::adopt_public_key(alg, pkey->release(), *kid ? std::string(**kid) : std::string());
  if (!made) return skip{made.error().message};
  return std::move(*made);
}

}  // namespace

auth_result<jwks_document> parse_jwks(std::string_view json) {
  if (json.size() > k_max_jwks_bytes) {
    return malformed("JWKS document is " + std::to_string(json.size()) + " bytes; the limit is " +
                     std::to_string(k_max_jwks_bytes));
  }
  const clear_openssl_errors clear;
  dom::parser parser;
  if (parser.allocate(std::max<std::size_t>(json.size(), 64), k_max_jwks_depth) != simdjson::SUCCESS) {
    return malformed("out of memory");
  }
  dom::element root;
  if (const auto err = parser.parse(json.data(), json.size(), true).get(root); err != simdjson::SUCCESS) {
    return malformed("JWKS document is not JSON: " + std::string(simdjson::error_message(err)));
  }
  dom::object set;
  if (root.get_object().get(set) != simdjson::SUCCESS) {
    return malformed("JWKS document must be an object {\"keys\":[...]}, not " +
                     std::string(json_type_name(root.type())));
  }
  if (const auto dup = duplicate_key(set))
    return malformed("JWKS document has the member '" + printable(*dup) + "' twice");
  dom::element keys_element;
  dom::array keys;
  if (set.at_key("keys").get(keys_element) != simdjson::SUCCESS) return malformed("JWKS document has no \"keys\"");
  if (keys_element.get_array().get(keys) != simdjson::SUCCESS) {
    return malformed("JWKS \"keys\" must be an array, not " + std::string(json_type_name(keys_element.type())));
  }

  jwks_document out;
  std::size_t index = 0;
  for (const dom::element element : keys) {
    const std::size_t i = index++;
    std::string where = "keys[" + std::to_string(i) + "]";
    dom::object obj;
    std::string_view kid;
    if (element.get_object().get(obj) == simdjson::SUCCESS && obj["kid"].get_string().get(kid) == simdjson::SUCCESS) {
      where += " (kid '" + printable(kid) + "')";
    }
    if (out.keys.size() >= k_max_jwks_keys) {
      out.skipped.push_back(where + ": beyond the first " + std::to_string(k_max_jwks_keys) + " usable keys");
      continue;
    }
    auto key = read_key(element);
    if (!key) {
      out.skipped.push_back(where + ": " + key.error().reason);
      continue;
    }
    const bool taken =
        !key->kid().empty() &&
        std::any_of(out.keys.begin(), out.keys.end(), [&](const verification_key& k) { return k.kid() == key->kid(); });
    if (taken) {
      out.skipped.push_back(where + ": an earlier key has the same kid");
      continue;
    }
    out.keys.push_back(std::move(*key));
  }
  return out;
}

}  // namespace rtcache::auth
