// Who may read GET /metrics (issue 11, finding 10). Global counters tell a tenant about everyone's activity (how
// many messages the hub published, how many channels exist), so they are not served to whoever reaches the port.
// Pure: the gateway passes the request's facts.
#pragma once

#include "gateway/config.hpp"

#include <boost/asio/ip/address.hpp>

#include <string_view>

namespace rtcache::gateway {

enum class metrics_verdict {
  serve,
  not_found,     // [metrics] listen is set and this is the main port
  unauthorized,  // a bearer token is configured and the request does not present it
  forbidden,     // neither a token nor a listen address is configured, and the peer is not loopback
};

// `on_metrics_listener`: the request came in on [metrics] listen. `authorization`: the Authorization header's
// value (empty when absent). The token is compared in constant time (token_matches).
metrics_verdict metrics_access(const metrics_settings& settings, bool on_metrics_listener,
                               const boost::asio::ip::address& peer, std::string_view authorization);

// Whether `presented` equals `expected`, in time that depends on neither: both are hashed with SHA-256 and the
// digests compared with OpenSSL's CRYPTO_memcmp, so neither the position of a difference nor a length leaks.
bool token_matches(std::string_view presented, std::string_view expected);

// Whether `a` is a loopback address (127.0.0.0/8, ::1, or IPv4-mapped loopback).
bool is_loopback(const boost::asio::ip::address& a) noexcept;

}  // namespace rtcache::gateway
