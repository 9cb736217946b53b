// Test-only key generation and token signing with OpenSSL EVP; see jwt_test_support.hpp.
#include "jwt_test_support.hpp"

#include "base64url.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace rtcache::testing {

namespace {

struct pkey_free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct pkey_ctx_free {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct md_ctx_free {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct ecdsa_sig_free {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

void require(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test signer: ") + what);
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

std::string drain(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string private_pem(EVP_PKEY* pkey) {
  const std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
  require(bio && PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1,
          "PEM_write_bio_PrivateKey");
  return drain(bio.get());
}

// Decoding a private key PEM costs milliseconds; tests and the fuzzer sign with a handful of keys, so each is
// decoded once. The cache owns the keys for the life of the process.
EVP_PKEY* read_private(std::string_view pem) {
  static std::mutex mutex;
  static std::map<std::string, pkey_ptr, std::less<>> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  if (const auto it = cache.find(pem); it != cache.end()) return it->second.get();
  const std::unique_ptr<BIO, bio_free> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  pkey_ptr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  require(pkey != nullptr, "PEM_read_bio_PrivateKey");
  return cache.emplace(std::string(pem), std::move(pkey)).first->second.get();
}

std::string digest_sign(EVP_PKEY* pkey, std::string_view input) {
  const std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
  require(ctx && EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey) == 1, "EVP_DigestSignInit");
  std::size_t len = 0;
  require(EVP_DigestSign(ctx.get(), nullptr, &len, bytes(input), input.size()) == 1, "EVP_DigestSign size");
  std::string sig(len, '\0');
  require(
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, bytes(input), input.size()) == 1,
      "EVP_DigestSign");
  sig.resize(len);
  return sig;
}

}  // namespace

std::string generate_rsa_private_pem(int bits) {
  const std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  require(ctx && EVP_PKEY_keygen_init(ctx.get()) == 1, "RSA keygen init");
  require(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) == 1, "RSA keygen bits");
  EVP_PKEY* raw = nullptr;
  require(EVP_PKEY_keygen(ctx.get(), &raw) == 1, "RSA keygen");
  const pkey_ptr pkey(raw);
  return private_pem(pkey.get());
}

std::string generate_ec_private_pem(std::string_view curve) {
  const std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  require(ctx && EVP_PKEY_keygen_init(ctx.get()) == 1, "EC keygen init");
  require(EVP_PKEY_CTX_set_group_name(ctx.get(), std::string(curve).c_str()) == 1, "EC group");
  EVP_PKEY* raw = nullptr;
  require(EVP_PKEY_keygen(ctx.get(), &raw) == 1, "EC keygen");
  const pkey_ptr pkey(raw);
  return private_pem(pkey.get());
}

std::string public_pem_of(std::string_view private_pem_text) {
  EVP_PKEY* pkey = read_private(private_pem_text);
  const std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
  require(bio && PEM_write_bio_PUBKEY(bio.get(), pkey) == 1, "PEM_write_bio_PUBKEY");
  return drain(bio.get());
}

std::string sign(auth::jwt_alg alg, std::string_view key, std::string_view signing_input) {
  switch (alg) {
    case auth::jwt_alg::hs256: {
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      require(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes(signing_input), signing_input.size(),
                   mac, &len) != nullptr,
              "HMAC");
      return std::string(reinterpret_cast<const char*>(mac), len);
    }
    case auth::jwt_alg::rs256: {
      return digest_sign(read_private(key), signing_input);
    }
    case auth::jwt_alg::es256: {
      const std::string der = digest_sign(read_private(key), signing_input);
      const unsigned char* p = bytes(der);
      const std::unique_ptr<ECDSA_SIG, ecdsa_sig_free> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
      require(sig != nullptr, "d2i_ECDSA_SIG");
      const BIGNUM* r = nullptr;
      const BIGNUM* s = nullptr;
      ECDSA_SIG_get0(sig.get(), &r, &s);
      std::string raw(64, '\0');
      auto* out = reinterpret_cast<unsigned char*>(raw.data());
      require(BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(s, out + 32, 32) == 32, "BN_bn2binpad");
      return raw;
    }
  }
  throw std::runtime_error("test signer: unknown alg");
}

std::string make_token(std::string_view header_json, std::string_view payload_json, auth::jwt_alg alg,
                       std::string_view key) {
  std::string input = auth::detail::base64url_encode(header_json) + "." + auth::detail::base64url_encode(payload_json);
  const std::string sig = sign(alg, key, input);
  return input + "." + auth::detail::base64url_encode(sig);
}

std::string header_for(auth::jwt_alg alg, std::string_view kid) {
  std::string h = "{\"alg\":\"" + std::string(to_string(alg)) + "\",\"typ\":\"JWT\"";
  if (!kid.empty()) h += ",\"kid\":\"" + std::string(kid) + "\"";
  return h + "}";
}

namespace {

std::string bn_b64(const BIGNUM* bn, int pad) {
  std::string out(static_cast<std::size_t>(pad > 0 ? pad : BN_num_bytes(bn)), '\0');
  auto* to = reinterpret_cast<unsigned char*>(out.data());
  require((pad > 0 ? BN_bn2binpad(bn, to, pad) : BN_bn2bin(bn, to)) >= 0, "BN_bn2bin");
  return auth::detail::base64url_encode(out);
}

std::string bn_param(EVP_PKEY* pkey, const char* name, int pad) {
  BIGNUM* bn = nullptr;
  require(EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, name);
  std::string out = bn_b64(bn, pad);
  BN_free(bn);
  return out;
}

}  // namespace

std::string public_jwk_of(std::string_view private_pem_text, std::string_view kid, std::string_view extra) {
  EVP_PKEY* pkey = read_private(private_pem_text);
  std::string out;
  if (EVP_PKEY_is_a(pkey, "RSA") == 1) {
    out = R"({"kty":"RSA","n":")" + bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, 0) + R"(","e":")" +
          bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, 0) + R"(","alg":"RS256")";
  } else {
    out = R"({"kty":"EC","crv":"P-256","x":")" + bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32) + R"(","y":")" +
          bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32) + R"(","alg":"ES256")";
  }
  out += R"(,"use":"sig")";
  if (!kid.empty()) out += R"(,"kid":")" + std::string(kid) + "\"";
  out += extra;
  return out + "}";
}

std::string jwks_of(const std::vector<std::string>& jwks) {
  std::string out = R"({"keys":[)";
  for (std::size_t i = 0; i < jwks.size(); ++i) out += (i == 0 ? "" : ",") + jwks[i];
  return out + "]}";
}

}  // namespace rtcache::testing
