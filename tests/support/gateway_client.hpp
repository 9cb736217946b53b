// Test support for the socket-level suites (src/server/gateway/gateway_test.cpp, tests/adversarial/): tokens
// signed in-test with OpenSSL HMAC, a blocking Beast WebSocket client and an HTTP call, each with a bounded
// wait so that no test can hang. Not part of any library that ships.
#pragma once

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcache::testing {

// The HS256 secret every socket-level suite's verifier trusts.
inline constexpr std::string_view k_test_secret = "rtcache-test-secret-0123456789abcdef";
// The bound on every wait of a client.
inline constexpr std::chrono::seconds k_wait{10};

// ---- tokens ----

std::string b64url(std::string_view in);
// A compact JWS signed with HMAC-SHA256 over the given header and payload JSON texts.
std::string hs256(std::string_view header, std::string_view payload, std::string_view secret = k_test_secret);
std::int64_t unix_now();
// {"role":role,"sub":sub,"exp":now+exp_in} plus, unless service_role, app_metadata.factory_ids = factories.
// `extra_claims`: more members spliced into the payload object ("\"team\":\"t1\"").
std::string token_for(std::string_view role, const std::vector<std::string>& factories = {}, std::int64_t exp_in = 3600,
                      std::string_view extra_claims = {}, std::string_view sub = "u1");
std::string service_token();

// ---- bounded waits ----

// Runs one async operation on `ioc` for at most `timeout`; cancels `cancel` and reports timed_out otherwise.
template <class Start>
boost::beast::error_code run_bounded(boost::asio::io_context& ioc, Start&& start, const std::function<void()>& cancel,
                                     std::chrono::steady_clock::duration timeout = k_wait) {
  std::optional<boost::beast::error_code> result;
  start([&](boost::beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run_for(timeout);
  if (!result) {
    cancel();
    ioc.restart();
    ioc.run();
    return boost::asio::error::timed_out;
  }
  return *result;
}

// ---- HTTP ----

struct http_answer {
  unsigned status = 0;
  std::string body;
};

// One request on a fresh connection to 127.0.0.1:port; the answer, or status 0 when the exchange failed.
http_answer http_call(std::uint16_t port, boost::beast::http::verb method, std::string target, std::string body = {},
                      std::vector<std::pair<std::string, std::string>> headers = {});

// ---- WebSocket ----

class ws_client {
 public:
  // Connects and upgrades; on a refused upgrade, `refusal` holds the HTTP answer.
  // `receive_buffer`: SO_RCVBUF set before connecting (small values make the server's writes stall sooner).
  ws_client(std::uint16_t port, std::string target, std::optional<int> receive_buffer = std::nullopt);

  static std::string url(std::string_view token, std::string_view vsn = "1.0.0");

  void send(std::string_view text);
  void send_binary(std::string_view bytes);

  // The next message, or nullopt when the connection ended or nothing came within the bound.
  std::optional<std::string> read(std::chrono::steady_clock::duration timeout = k_wait);
  boost::json::value read_json();
  // Reads until a message satisfies `pred`; fails on end of stream or timeout.
  boost::json::value read_until(const std::function<bool(const boost::json::value&)>& pred);

  void close();
  std::uint16_t close_code() const { return ws_.reason().code; }

  // Sends every later message as frames of at most `bytes` payload bytes (continuation frames).
  void fragment_writes(std::size_t bytes);

  bool connected = false;
  std::optional<http_answer> refusal;
  boost::beast::error_code last_error;

 private:
  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
};

// ---- frames ----

// A vsn 1.0.0 phx_join of `topic` with ref = join_ref = `ref`.
std::string v1_join(std::string_view topic, std::string_view ref, std::string_view payload = R"({"config":{}})");
// A vsn 1.0.0 client broadcast of `event` with `payload_json` on `topic`.
std::string v1_broadcast(std::string_view topic, std::string_view event, std::string_view payload_json,
                         std::string_view ref, std::string_view join_ref);
bool is_reply(const boost::json::value& v, std::string_view ref);
// The position a join reply names (`response.rtcache`: epoch, offset, recovered); null when it names none.
boost::json::value position_of(const boost::json::value& reply);
// A phx_join payload resuming from `position` (as position_of returned it).
std::string resume_payload(const boost::json::value& position);
bool is_invalidate(const boost::json::value& v);
// A contract event of type wo as a backend posts it.
std::string event_json(std::string_view id, std::string_view factory, std::string_view action = "update");

}  // namespace rtcache::testing
