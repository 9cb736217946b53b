// Test-only: a small HTTP(S) server on 127.0.0.1 serving one document (a JWKS) from its own thread, counting the
// requests it gets, and able to stall (accept and never answer) or answer any status; plus a self-signed
// certificate made with OpenSSL for its TLS mode. Used by the JWKS fetcher's tests and the adversarial suite.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace rtcache::testing {

// A self-signed certificate for `ip_san` (an IP address SAN and CN) made from `private_key_pem`, as PEM.
inline std::string self_signed_cert(const std::string& private_key_pem, const std::string& ip_san) {
  BIO* in = BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  X509* cert = X509_new();
  if (key == nullptr || cert == nullptr) throw std::runtime_error("self_signed_cert: setup");
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(ip_san.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
  const std::string san = "IP:" + ip_san;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
  X509_EXTENSION* ca = X509V3_EXT_conf_nid(nullptr, &v3, NID_basic_constraints, "critical,CA:TRUE");
  if (ext == nullptr || ca == nullptr || X509_add_ext(cert, ext, -1) != 1 || X509_add_ext(cert, ca, -1) != 1 ||
      X509_sign(cert, key, EVP_sha256()) == 0) {
    throw std::runtime_error("self_signed_cert: sign");
  }
  X509_EXTENSION_free(ext);
  X509_EXTENSION_free(ca);
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(out, cert);
  char* data = nullptr;
  const long len = BIO_get_mem_data(out, &data);
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(out);
  X509_free(cert);
  EVP_PKEY_free(key);
  return pem;
}

class test_http_server {
 public:
  struct tls_identity {
    std::string cert_pem;
    std::string key_pem;
  };

  explicit test_http_server(std::optional<tls_identity> tls = std::nullopt)
      : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    if (tls) {
      tls_ = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
      tls_->use_certificate_chain(boost::asio::buffer(tls->cert_pem));
      tls_->use_private_key(boost::asio::buffer(tls->key_pem), boost::asio::ssl::context::pem);
    }
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }

  ~test_http_server() {
    boost::asio::post(ioc_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      for (auto& s : stalled_) s->close(ignored);
    });
    ioc_.stop();
    thread_.join();
    std::vector<std::thread> workers;
    {
      const std::lock_guard lock(mu_);
      workers.swap(workers_);
    }
    for (auto& w : workers) w.join();
  }

  test_http_server(const test_http_server&) = delete;
  test_http_server& operator=(const test_http_server&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url(std::string_view path = "/jwks.json") const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port()) + std::string(path);
  }

  void serve(std::string body, unsigned status = 200, std::string location = {}) {
    const std::lock_guard lock(mu_);
    body_ = std::move(body);
    status_ = status;
    location_ = std::move(location);
  }
  void stall(bool on) { stall_.store(on); }
  std::size_t requests() const { return requests_.load(); }
  std::size_t connections() const { return connections_.load(); }

 private:
  using tcp = boost::asio::ip::tcp;

  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) return;
      ++connections_;
      auto s = std::make_shared<tcp::socket>(std::move(socket));
      if (stall_.load()) {
        stalled_.push_back(s);  // never read, never answered
      } else {
        const std::lock_guard lock(mu_);
        workers_.emplace_back([this, s] {
          if (tls_) {
            serve_tls(s);
          } else {
            serve_plain(*s);
          }
        });
      }
      accept();
    });
  }

  template <class Stream>
  void answer(Stream& stream) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buf;
    http::request<http::string_body> req;
    boost::system::error_code ec;
    http::read(stream, buf, req, ec);
    if (ec) return;
    ++requests_;
    http::response<http::string_body> res;
    {
      const std::lock_guard lock(mu_);
      res.result(status_);
      res.body() = body_;
      if (!location_.empty()) res.set(http::field::location, location_);
    }
    res.version(11);
    res.set(http::field::content_type, "application/json");
    res.keep_alive(false);
    res.prepare_payload();
    http::write(stream, res, ec);
  }

  void serve_plain(tcp::socket& s) {
    answer(s);
    boost::system::error_code ignored;
    s.shutdown(tcp::socket::shutdown_both, ignored);
  }

  void serve_tls(const std::shared_ptr<tcp::socket>& s) {
    boost::asio::ssl::stream<tcp::socket&> stream(*s, *tls_);
    boost::system::error_code ec;
    stream.handshake(boost::asio::ssl::stream_base::server, ec);
    if (ec) return;
    answer(stream);
    stream.shutdown(ec);
  }

  boost::asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::thread thread_;
  std::vector<std::shared_ptr<tcp::socket>> stalled_;  // io thread only
  std::atomic<bool> stall_{false};
  std::atomic<std::size_t> requests_{0};
  std::atomic<std::size_t> connections_{0};
  std::mutex mu_;
  std::vector<std::thread> workers_;     // guarded by mu_: one per answered connection, joined at the end
  std::string body_ = R"({"keys":[]})";  // guarded by mu_
  unsigned status_ = 200;
  std::string location_;
};

}  // namespace rtcache::testing
