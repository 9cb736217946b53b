// Accept loop and per-connection sessions as Asio coroutines on a single io thread.
#include "http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <memory>

namespace rtcache::demo {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

asio::awaitable<void> session(tcp::socket socket, api_handler& handler) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(k_max_body_bytes);
    stream.expires_after(k_request_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    (void)n;
    if (ec) break;  // closed, timed out or malformed: nothing useful to answer
    const auto& req = parser.get();

    const api_response res = handler.handle(std::string_view(req.method_string()), std::string_view(req.target()),
                                            std::string_view(req[http::field::authorization]), req.body());
    http::response<http::string_body> out{static_cast<http::status>(res.status), req.version()};
    out.set(http::field::server, "rtcache-factory-api");
    out.set(http::field::content_type, "application/json");
    out.set(http::field::cache_control, "no-store");
    out.keep_alive(req.keep_alive());
    out.body() = res.body;
    out.prepare_payload();
    stream.expires_after(k_request_timeout);
    auto [wec, wn] = co_await http::async_write(stream, out, asio::as_tuple(asio::use_awaitable));
    (void)wn;
    if (wec || !out.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> accept_loop(std::shared_ptr<tcp::acceptor> acceptor, api_handler& handler) {
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;  // e.g. EMFILE: keep serving the open connections
    asio::co_spawn(acceptor->get_executor(), session(std::move(socket), handler), asio::detached);
  }
}

}  // namespace

tcp::endpoint start_http_server(asio::io_context& io, const tcp::endpoint& endpoint, api_handler& handler) {
  auto acceptor = std::make_shared<tcp::acceptor>(io);
  acceptor->open(endpoint.protocol());
  acceptor->set_option(asio::socket_base::reuse_address(true));
  acceptor->bind(endpoint);
  acceptor->listen();
  const auto bound = acceptor->local_endpoint();
  asio::co_spawn(io, accept_loop(acceptor, handler), asio::detached);
  return bound;
}

}  // namespace rtcache::demo
