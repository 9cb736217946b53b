// The I/O around jwks_cache (jwks.hpp): where the JWKS comes from (an https URL fetched with Boost.Beast over
// OpenSSL, or a file), and the service that owns the fetches and the refresh timer on a thread of its own, so
// that `rtcache serve` can build the verifier before the gateway's io_context exists and stop both in order.
#pragma once

#include "auth/jwks.hpp"
#include "rtcache/core/error.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace rtcache::gateway {

// A parsed JWKS URL.
struct jwks_url {
  bool tls = true;
  std::string host;  // a name, an IPv4 address or an IPv6 address (without brackets)
  std::uint16_t port = 443;
  std::string target;   // path and query as sent: "/auth/v1/.well-known/jwks.json"
  std::string display;  // for logs: scheme, host, port and path, without the query
};

// https://HOST[:PORT]/PATH[?QUERY], or http:// when HOST is a loopback address (127.0.0.0/8, ::1) or localhost:
// plain HTTP is for tests and a local sidecar only, since anyone on the path could swap the keys. Errors
// (bad_value): another scheme, user info, a fragment, no host, port 0, http:// to any other host.
core::result<jwks_url> parse_jwks_url(std::string_view text);

struct jwks_fetch_options {
  std::chrono::milliseconds timeout{5000};         // one fetch, all of it: resolve, connect, TLS, request, response
  std::size_t max_bytes = auth::k_max_jwks_bytes;  // a larger response body fails the fetch
  std::string ca_file;  // PEM bundle to verify the server with; empty: the system's trust store
};

// Where the keys come from: exactly one of url / file.
struct jwks_source {
  std::optional<jwks_url> url;
  std::string file;
};

// Owns a jwks_cache and everything that runs it: one thread with its own io_context, on which each fetch is one
// GET on a new connection (redirects are not followed; a status other than 200 fails the fetch; TLS verifies
// the peer's chain and host name and sends SNI; TLS 1.2 at least) or one read of the file, and a timer that
// polls the cache when its next fetch is due. Unknown kids reported by the verifier start fetches on that
// thread too (jwks_cache decides whether one may start): no gateway thread waits for the network or the disk.
// Thread-safety: start() and stop() from any thread (not concurrently with each other); cache() anywhere.
class jwks_service {
 public:
  // Throws std::runtime_error (a start-up boundary) when the TLS context cannot be set up: an unreadable or
  // empty ca_file. `clock` defaults to std::chrono::steady_clock (tests inject a manual one; the refresh timer
  // then waits real time for the differences it computes).
  jwks_service(jwks_source source, auth::jwks_cache_config config, jwks_fetch_options options,
               auth::jwks_cache::report_fn report, auth::jwks_cache::clock_fn clock = {});
  ~jwks_service();  // stop()
  jwks_service(const jwks_service&) = delete;
  jwks_service& operator=(const jwks_service&) = delete;

  // The verifier's key_source.
  const std::shared_ptr<auth::jwks_cache>& cache() const noexcept { return cache_; }

  // Starts the thread, the first fetch and the refresh timer. A file source is read before start() returns.
  void start();
  // Cancels the timer and any fetch under way, and joins the thread. Idempotent. Fetches the verifier asks for
  // afterwards fail at once.
  void stop();

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
  std::shared_ptr<auth::jwks_cache> cache_;
};

}  // namespace rtcache::gateway
