// Fuzz target for JWT verification (rtcache::auth), the first bytes an unauthenticated client controls:
// the apikey on connect and every access_token push.
//
// Input, by its first byte:
//   0  raw mode: the rest is a token, verified as is.
//   1  signed mode: [1][signer][pos hi][pos lo][xor] header-json \0 payload-json. The harness signs the
//      header and payload validly (signer % 3: HS256 secret, RS256 key "rsa-1", ES256 key), so the claim
//      checks behind the signature are reached; if xor != 0 it then flips one byte of the token.
// Properties (a violation traps, and libFuzzer records the input):
//   1. nothing crashes, leaks or trips a sanitizer, whatever the bytes;
//   2. a token verifies only if its signature is genuine, checked by an oracle independent of the verifier:
//      its own base64url decoder, HMAC recomputed and compared, RSA PKCS#1 v1.5 and ECDSA checked with
//      EVP_PKEY_verify on a digest the harness computes (not the verifier's EVP_DigestVerify path);
//   3. in signed mode, any changed byte makes the token fail to verify;
//   4. a refusal has a named code, a message and a JSON refusal body; an accepted principal is unscoped iff
//      it is service_role, its scope holds only valid ids, and it has not expired;
//   5. the OpenSSL error queue is empty after every call.
// The keys below are throwaway test keys, generated for this harness only; they protect nothing.

#include "auth/auth.hpp"
#include "fuzz_check.hpp"
#include "jwt_test_support.hpp"
#include "rtcache/core/identifier.hpp"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace rtcache;
using namespace rtcache::auth;

constexpr std::string_view k_secret = "fuzz-only-hs256-secret-0123456789-abcdef";
constexpr std::string_view k_rsa_private = R"(-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCoT6DZb/Hd/xGI
+yS3wa2YisIYZCen9OVi0foBo8ET53vUUmZj51FnytDMm+UYAksWyh5EIrp7QAWi
F7dX5SDAkU+qjhhvAC+OoLoHOjjVCf+UH3zjgR/we3p4I/DwdstZIoMRBbOZpqnE
GOXgjQ4xksRG0LBEgn6qHStoEKII+rzR0N7Y9TwRR6q0WHqp8fVK+g1+KZDYeJrn
epx+sCV5JltlYhQRTPpL19qutmz1S5yDPk/361wZxsBfEzEoIubyY+V8jThtL4oJ
s7eHk2l3vfRncEk4R/7J3mQDWhmiMMvHv+0oHUkShYQJYPmaIBv4VpT2XfEjnebI
nVC+AEdHAgMBAAECggEACuVAueKzyxWwemgbm+OnS7kr0G1nXcmOMeP65bFGlfXF
v9xnsW7vh6MK+jvbTD8Vwk9qPynqXYEq/C/B2ChGgwDFIfrZ3RGrgnWoJUChHjVr
/Jg/OvEIcsZjirR06/QcvNPtnSP72OX/lmiwNOWcthvUperrhjvWXEfQIAf3nVIX
EusEr0zkZ6ggjiejEqokgOJVxnHcb5p3Mn+cO6vT/EEOd62cFGFSXg2fZXthpi4r
UeQK0ueT+EAXg7GCTlnTqI+f9jQFKmeB1LnrsiYPdObrVHtijUFxm+2eleBUPlLK
JRgmn68Ywj+LVBRaZiE+ShppVM9KGRyhTH6RXuQ/IQKBgQDXxpdGi/7IaaQwN0yR
jXI72SCQED+CT+75Ng5bIuVQWTZOQ9f9a/lGHhQ5xYdLOeNJUoEJBz4yEe771gvO
W1F0xMD2mCdWWJ7157bPrIGpVavXXVz06UvLPmb4F52JEmcS4sBcwoMraqeMLwny
ZqvdVzGRNjvWl5tcwWD62009JwKBgQDHr+Ri2Uhp6ByhyLvSxEQoK5dgPLo+PFT3
G+hVjlrjmhEiqKuQBh8CsOMwuqyLU5H9rrYNphmTZdJKclbD/SyPwKRhR8gwE555
JVoT/ddF4gaDiSwobnvcz6tI1RVZs6i/U/LwgEo6Dk8iclwwS3YmeMtCnQHL1kbh
soYciHs44QKBgBFp5IF8ANbZt7dwbwx8FtD/p+IYfZedrdKM60GtokYGvRw522+H
TDm9abJz34RRqqcbMnCxFfLigZ/vWUqREhTTYCNGij4srr93sMg3yssIr/KUhVD6
lvRTF+pDtaH/SzQ5+n5B8GYLmHP2w929LXeSdtyaPOAHojEtJg94rVYXAoGActR0
Gl/m43gl1ucvEzHoG82NfDsPwrBBD+UNgv2cyJuVVP/3wJe0h4Ce9Su0A17oaiBo
8opc1MVN25/Kw2O4l2XpYUO9G+B8ViAjn7FudPJYWpWsPgfi1ITbc8ONRoso8/Vb
k+/CP4Zw/VcUKnWKmO8Hu+O737L2Cd32fzwA2CECgYEA0aUx0XAHjLcxX+b+S5Rt
1IA2nexljZj4Gv4+BpU60YpiIq5WHgl4hfKFPov869itwmwCruc1Y6ikQgfjqDOG
co3LHsIug4R88irF8W1u6O6xpzF2NG74CfIixjaqKJ3bKb95d11MVR1EDRqLzB9v
jFr1U6CdThKAV3/hwiEHlnI=
-----END PRIVATE KEY-----
)";
constexpr std::string_view k_rsa_public = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqE+g2W/x3f8RiPskt8Gt
mIrCGGQnp/TlYtH6AaPBE+d71FJmY+dRZ8rQzJvlGAJLFsoeRCK6e0AFohe3V+Ug
wJFPqo4YbwAvjqC6Bzo41Qn/lB9844Ef8Ht6eCPw8HbLWSKDEQWzmaapxBjl4I0O
MZLERtCwRIJ+qh0raBCiCPq80dDe2PU8EUeqtFh6qfH1SvoNfimQ2Hia53qcfrAl
eSZbZWIUEUz6S9farrZs9Uucgz5P9+tcGcbAXxMxKCLm8mPlfI04bS+KCbO3h5Np
d730Z3BJOEf+yd5kA1oZojDLx7/tKB1JEoWECWD5miAb+FaU9l3xI53myJ1QvgBH
RwIDAQAB
-----END PUBLIC KEY-----
)";
constexpr std::string_view k_ec_private = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwFgVHvLg7bbQQYio
jUtlwdEvimzXvuD03RPKQVhZDVmhRANCAAQAvr+bTg4ZAifUBzJ5bbXeY4z8NP59
VpdKlBdY7xjUSWbxkpGzgNxt2UawKHKsx1I3sChzI/Q4edRWjzdyo6Iu
-----END PRIVATE KEY-----
)";
constexpr std::string_view k_ec_public = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAL6/m04OGQIn1AcyeW213mOM/DT+
fVaXSpQXWO8Y1Elm8ZKRs4DcbdlGsChyrMdSN7AocyP0OHnUVo83cqOiLg==
-----END PUBLIC KEY-----
)";
const std::chrono::sys_seconds k_now{std::chrono::seconds{1'700'000'000}};

const auth::jwt_verifier& verifier() {
  static const auth::jwt_verifier v = [] {
    std::vector<auth::verification_key> keys;
    keys.push_back(auth::verification_key::hs256(k_secret).value());
    keys.push_back(auth::verification_key::rs256_public_pem(k_rsa_public, "rsa-1").value());
    keys.push_back(auth::verification_key::es256_public_pem(k_ec_public).value());
    return auth::jwt_verifier::create(std::move(keys)).value();
  }();
  return v;
}

// ---- the oracle: written apart from the verifier on purpose ----

// Lenient decoder (both alphabets, padding allowed); canonical form is checked by re-encoding.
std::optional<std::string> oracle_decode(std::string_view s) {
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (const char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-' || c == '+')
      v = 62;
    else if (c == '_' || c == '/')
      v = 63;
    else if (c == '=')
      break;
    else
      return std::nullopt;
    acc = (acc << 6 | static_cast<unsigned>(v)) & 0xffffu;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xffu));
    }
  }
  return out;
}

unsigned byte_at(std::string_view s, std::size_t i) {
  return static_cast<unsigned char>(s[i]);
}

std::string oracle_encode(std::string_view bytes) {
  static constexpr char k_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned n = byte_at(bytes, i) << 16 | byte_at(bytes, i + 1) << 8 | byte_at(bytes, i + 2);
    for (int k = 18; k >= 0; k -= 6) out.push_back(k_abc[(n >> k) & 63]);
  }
  if (bytes.size() - i == 1) {
    const unsigned n = byte_at(bytes, i) << 16;
    out.push_back(k_abc[(n >> 18) & 63]);
    out.push_back(k_abc[(n >> 12) & 63]);
  } else if (bytes.size() - i == 2) {
    const unsigned n = byte_at(bytes, i) << 16 | byte_at(bytes, i + 1) << 8;
    out.push_back(k_abc[(n >> 18) & 63]);
    out.push_back(k_abc[(n >> 12) & 63]);
    out.push_back(k_abc[(n >> 6) & 63]);
  }
  return out;
}

struct pkey_free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct pkey_ctx_free {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct sig_free {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};

EVP_PKEY* public_key(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  FUZZ_CHECK(key != nullptr, "a test public key loads", pem);
  return key;
}

// EVP_PKEY_verify over a digest the harness computes: not the EVP_DigestVerify path the verifier uses.
bool pkey_verifies(EVP_PKEY* key, bool rsa, std::string_view input, const unsigned char* sig, std::size_t sig_len) {
  unsigned char digest[32];
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha256(), nullptr) != 1) return false;
  const std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> ctx(EVP_PKEY_CTX_new(key, nullptr));
  bool ok = ctx && EVP_PKEY_verify_init(ctx.get()) == 1;
  if (ok && rsa) {
    ok = EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1 &&
         EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1;
  }
  ok = ok && EVP_PKEY_verify(ctx.get(), sig, sig_len, digest, 32) == 1;
  ERR_clear_error();
  return ok;
}

bool rsa_genuine(std::string_view input, std::string_view sig) {
  static EVP_PKEY* const key = public_key(k_rsa_public);
  return sig.size() == 256 &&
         pkey_verifies(key, true, input, reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
}

bool ecdsa_genuine(std::string_view input, std::string_view sig) {
  static EVP_PKEY* const key = public_key(k_ec_public);
  if (sig.size() != 64) return false;
  const auto* raw = reinterpret_cast<const unsigned char*>(sig.data());
  const std::unique_ptr<ECDSA_SIG, sig_free> es(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(raw, 32, nullptr);
  BIGNUM* s = BN_bin2bn(raw + 32, 32, nullptr);
  if (ECDSA_SIG_set0(es.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return false;
  }
  unsigned char der[80];
  unsigned char* p = der;
  const int der_len = i2d_ECDSA_SIG(es.get(), &p);
  return der_len > 0 && pkey_verifies(key, false, input, der, static_cast<std::size_t>(der_len));
}

// Whether the oracle, on its own, accepts the signature of `token` under one of the harness keys.
bool genuine(std::string_view token) {
  const std::size_t last = token.rfind('.');
  if (last == std::string_view::npos) return false;
  const std::string_view input = token.substr(0, last);
  const std::string_view sig_text = token.substr(last + 1);
  const std::optional<std::string> sig = oracle_decode(sig_text);
  if (!sig || oracle_encode(*sig) != sig_text) return false;
  if (*sig == testing::sign(auth::jwt_alg::hs256, k_secret, input)) return true;
  return rsa_genuine(input, *sig) || ecdsa_genuine(input, *sig);
}

void check(std::string_view token) {
  const auth::auth_result<auth::principal> r = verifier().verify(token, k_now);
  FUZZ_CHECK(ERR_peek_error() == 0, "OpenSSL error queue left non-empty", token);
  if (!r) {
    FUZZ_CHECK(to_string(r.error().code) != "unknown", "refusal without a named code", token);
    FUZZ_CHECK(!r.error().message.empty(), "refusal without a message", token);
    const auth::http_refusal h = auth::to_http_refusal(r.error());
    FUZZ_CHECK(h.body.rfind("{\"error\":\"", 0) == 0, "refusal body is not {\"error\":...}", token);
    FUZZ_CHECK(h.status == 401 || h.status == 403, "verify refusal is not 401/403", token);
    FUZZ_CHECK(!auth::system_refusal_message(r.error()).empty(), "empty system message", token);
    return;
  }
  FUZZ_CHECK(genuine(token), "a token verified without a genuine signature", token);
  const auth::principal& p = *r;
  FUZZ_CHECK(p.scope.is_unscoped() == (p.role == auth::auth_role::service_role), "unscoped iff service_role", token);
  for (const std::string& id : p.scope.factory_ids()) {
    FUZZ_CHECK(core::validate_id(id, "id").has_value(), "scope holds an invalid id", token);
  }
  FUZZ_CHECK(!verifier().check_expiry(p, k_now).has_value(), "accepted an expired token", token);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] != 1 || size < 5) {
    check(rest);
    return 0;
  }
  // Signed mode.
  const std::uint8_t signer = data[1] % 3;
  const std::size_t pos = static_cast<std::size_t>(data[2]) << 8 | data[3];
  const std::uint8_t flip = data[4];
  const std::string_view body = rest.substr(4);
  const std::size_t nul = body.find('\0');
  if (nul == std::string_view::npos || body.size() > auth::k_max_token_length) return 0;
  const std::string_view header = body.substr(0, nul);
  const std::string_view payload = body.substr(nul + 1);
  const auth::jwt_alg alg = signer == 0   ? auth::jwt_alg::hs256
                            : signer == 1 ? auth::jwt_alg::rs256
                                          : auth::jwt_alg::es256;
  const std::string_view key = signer == 0 ? k_secret : signer == 1 ? k_rsa_private : k_ec_private;
  std::string token = testing::make_token(header, payload, alg, key);
  check(token);
  if (flip != 0 && !token.empty()) {
    token[pos % token.size()] = static_cast<char>(token[pos % token.size()] ^ flip);
    const auth::auth_result<auth::principal> r = verifier().verify(token, k_now);
    FUZZ_CHECK(!r.has_value(), "a token with a changed byte still verified", token);
    FUZZ_CHECK(ERR_peek_error() == 0, "OpenSSL error queue left non-empty", token);
  }
  return 0;
}
