// Throwaway X.509 for TLS tests (test_certs.hpp). Throws std::runtime_error when OpenSSL refuses a step.
#include "test_certs.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <atomic>
#include <functional>
#include <stdexcept>

namespace rtcache::testing {

namespace {

struct pkey_free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct x509_free {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificate: ") + what + " failed");
}

pkey_ptr make_key() {
  pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(key != nullptr, "EC key generation");
  return key;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "extension");
  const int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(added == 1, "adding an extension");
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// A certificate for `key` named `cn`, issued by `issuer` (self-issued when null); extensions and signature follow.
x509_ptr make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer) {
  static std::atomic<long> serial{1};
  x509_ptr cert(X509_new());
  check(cert != nullptr, "X509_new");
  check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "version");
  check(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++) == 1, "serial");
  check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr, "notBefore");
  check(X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400) != nullptr, "notAfter");
  check(X509_set_pubkey(cert.get(), key) == 1, "public key");
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                   0) == 1,
        "subject");
  check(X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name) == 1, "issuer");
  return cert;
}

void sign(X509* cert, EVP_PKEY* key) {
  check(X509_sign(cert, key, EVP_sha256()) > 0, "signing");
}

std::string to_pem(const std::function<int(BIO*)>& write) {
  std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
  check(bio != nullptr && write(bio.get()) == 1, "PEM encoding");
  std::string out(BIO_ctrl_pending(bio.get()), '\0');
  check(BIO_read(bio.get(), out.data(), static_cast<int>(out.size())) == static_cast<int>(out.size()), "PEM read");
  return out;
}

std::string cert_pem(X509* cert) {
  return to_pem([cert](BIO* b) { return PEM_write_bio_X509(b, cert); });
}

std::string key_pem(EVP_PKEY* key) {
  return to_pem([key](BIO* b) { return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
}

}  // namespace

struct test_ca::state {
  pkey_ptr key;
  x509_ptr cert;
  std::string pem;
};

test_ca::test_ca(const std::string& common_name) : s_(std::make_unique<state>()) {
  s_->key = make_key();
  s_->cert = make_cert(s_->key.get(), common_name, nullptr);
  X509* c = s_->cert.get();
  add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(c, c, NID_subject_key_identifier, "hash");
  sign(c, s_->key.get());
  s_->pem = testing::cert_pem(c);
}

test_ca::~test_ca() = default;
test_ca::test_ca(test_ca&&) noexcept = default;
test_ca& test_ca::operator=(test_ca&&) noexcept = default;

const std::string& test_ca::cert_pem() const noexcept {
  return s_->pem;
}

pem_pair test_ca::issue(const std::vector<std::string>& names) const {
  check(!names.empty(), "a certificate without names");
  pkey_ptr key = make_key();
  x509_ptr cert = make_cert(key.get(), names.front(), s_->cert.get());
  std::string san;
  for (const std::string& n : names) {
    if (!san.empty()) san += ",";
    san += (is_ip_literal(n) ? "IP:" : "DNS:") + n;
  }
  X509* c = cert.get();
  add_ext(c, s_->cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(c, s_->cert.get(), NID_key_usage, "critical,digitalSignature");
  add_ext(c, s_->cert.get(), NID_ext_key_usage, "serverAuth");
  add_ext(c, s_->cert.get(), NID_subject_alt_name, san);
  add_ext(c, s_->cert.get(), NID_authority_key_identifier, "keyid");
  sign(c, s_->key.get());
  return pem_pair{testing::cert_pem(c), key_pem(key.get())};
}

}  // namespace rtcache::testing
