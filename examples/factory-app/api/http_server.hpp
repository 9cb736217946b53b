// The demo API's HTTP side: Boost.Beast over one io thread, HTTP/1.1 keep-alive, every operation under a
// timeout and every body bounded; each request goes to the api_handler. The handler's libpq calls block the
// thread briefly, which a demo serving a few browsers can afford (one connection, statements in ~1 ms).
#pragma once

#include "api_handler.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>

namespace rtcache::demo {

inline constexpr std::size_t k_max_body_bytes = 1024 * 1024;
inline constexpr std::chrono::seconds k_request_timeout{30};

// Starts accepting on `endpoint` (port 0: ephemeral) and returns the bound endpoint; the sessions run on `io`.
// Throws boost::system::system_error when the address cannot be bound (a start-up failure).
// REQUIRES: `handler` outlives `io`'s run.
boost::asio::ip::tcp::endpoint start_http_server(boost::asio::io_context& io,
                                                 const boost::asio::ip::tcp::endpoint& endpoint, api_handler& handler);

}  // namespace rtcache::demo
