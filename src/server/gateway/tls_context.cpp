// The server's TLS context ([tls]): the certificate chain and key read with OpenSSL, checked against each
// other before they are used, so that check-config and a reload can say which file is wrong.
#include "tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

namespace rtcache::gateway::detail {

namespace {

namespace ssl = boost::asio::ssl;

core::error bad(std::string message) {
  return core::error{core::errc::bad_value, std::move(message)};
}

// The most recent OpenSSL error on this thread, for a message ("" when none), and clears the queue.
std::string openssl_reason() {
  unsigned long last = 0;
  while (const unsigned long e = ERR_get_error()) last = e;
  if (last == 0) return {};
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return std::string(" (") + buf + ")";
}

std::optional<std::string> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return out.str();
}

struct bio_free {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct x509_free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};

}  // namespace

core::result<std::shared_ptr<ssl::context>> make_server_tls_context(const tls_settings& settings) {
  ERR_clear_error();
  const auto cert_text = read_all(settings.cert_file);
  if (!cert_text) return bad("tls.cert_file: cannot read '" + settings.cert_file + "'");
  const auto key_text = read_all(settings.key_file);
  if (!key_text) return bad("tls.key_file: cannot read '" + settings.key_file + "'");

  // The leaf certificate and the key, parsed on their own first: the messages name the file at fault.
  std::unique_ptr<BIO, bio_free> cert_bio(BIO_new_mem_buf(cert_text->data(), static_cast<int>(cert_text->size())));
  std::unique_ptr<X509, x509_free> leaf(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!leaf) {
    return bad("tls.cert_file: '" + settings.cert_file + "' holds no PEM certificate" + openssl_reason());
  }
  std::unique_ptr<BIO, bio_free> key_bio(BIO_new_mem_buf(key_text->data(), static_cast<int>(key_text->size())));
  // No passphrase callback: an encrypted key is refused rather than prompting on the terminal.
  std::unique_ptr<EVP_PKEY, pkey_free> key(PEM_read_bio_PrivateKey(
      key_bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (!key) {
    return bad("tls.key_file: '" + settings.key_file + "' holds no unencrypted PEM private key" + openssl_reason());
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    return bad("tls.key_file: the key in '" + settings.key_file + "' does not match the certificate in '" +
               settings.cert_file + "'");
  }

  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression | ssl::context::single_dh_use);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    return bad("tls: cannot require TLS 1.2" + openssl_reason());
  }
  // An idle connection holds no record buffers (tens of KiB each otherwise).
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  ctx->set_verify_mode(ssl::verify_none);  // no client certificates
  boost::system::error_code ec;
  ctx->use_certificate_chain(boost::asio::buffer(*cert_text), ec);
  if (ec) return bad("tls.cert_file: '" + settings.cert_file + "': " + ec.message() + openssl_reason());
  ctx->use_private_key(boost::asio::buffer(*key_text), ssl::context::pem, ec);
  if (ec) return bad("tls.key_file: '" + settings.key_file + "': " + ec.message() + openssl_reason());
  if (SSL_CTX_check_private_key(native) != 1) {
    return bad("tls.key_file: the key in '" + settings.key_file + "' does not match the certificate in '" +
               settings.cert_file + "'" + openssl_reason());
  }
  return ctx;
}

}  // namespace rtcache::gateway::detail
