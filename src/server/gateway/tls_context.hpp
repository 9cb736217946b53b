// Internal to the gateway: the server's TLS context from [tls] cert_file and key_file (PEM), and the holder that
// hands the current context to new connections and swaps it on reload (SIGHUP). OpenSSL's SSL objects keep a
// reference to the SSL_CTX they were made from, so a connection keeps the context it started with for as long
// as it lives, whatever reloads happen meanwhile.
#pragma once

#include "gateway/config.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/sync/annotated_mutex.hpp"

#include <boost/asio/ssl/context.hpp>

#include <memory>

namespace rtcache::gateway::detail {

// A server context: TLS 1.2 minimum, OpenSSL's default ciphers, no client certificates, no compression,
// read/write buffers released while a connection is idle. Errors (bad_value), each naming the file: a file
// that cannot be read, a certificate or key that is not PEM, a key that does not match the certificate.
core::result<std::shared_ptr<boost::asio::ssl::context>> make_server_tls_context(const tls_settings& settings);

// The context new TLS connections are made with. Thread-safe.
class tls_context_holder {
 public:
  explicit tls_context_holder(std::shared_ptr<boost::asio::ssl::context> initial) : current_(std::move(initial)) {}

  std::shared_ptr<boost::asio::ssl::context> current() const {
    sync::mutex_lock lock(mu_);
    return current_;
  }
  void replace(std::shared_ptr<boost::asio::ssl::context> next) {
    sync::mutex_lock lock(mu_);
    current_ = std::move(next);
  }

 private:
  mutable sync::annotated_mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_ RTCACHE_GUARDED_BY(mu_);
};

}  // namespace rtcache::gateway::detail
