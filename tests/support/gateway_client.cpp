// The socket-level test client: tokens, HTTP and WebSocket with bounded waits (gateway_client.hpp).
#include "gateway_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <gtest/gtest.h>

namespace rtcache::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

std::string b64url(std::string_view in) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  const auto byte = [&](std::size_t j) { return static_cast<unsigned>(static_cast<unsigned char>(in[j])); };
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int s = 18; s >= 0; s -= 6) out.push_back(k[(v >> s) & 63]);
  }
  if (i + 1 == in.size()) {
    const unsigned v = byte(i) << 16;
    out.push_back(k[(v >> 18) & 63]);
    out.push_back(k[(v >> 12) & 63]);
  } else if (i + 2 == in.size()) {
    const unsigned v = byte(i) << 16 | byte(i + 1) << 8;
    out.push_back(k[(v >> 18) & 63]);
    out.push_back(k[(v >> 12) & 63]);
    out.push_back(k[(v >> 6) & 63]);
  }
  return out;
}

std::string hs256(std::string_view header, std::string_view payload, std::string_view secret) {
  const std::string input = b64url(header) + "." + b64url(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + b64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string token_for(std::string_view role, const std::vector<std::string>& factories, std::int64_t exp_in,
                      std::string_view extra_claims, std::string_view sub) {
  std::string payload = R"({"role":")" + std::string(role) + R"(","sub":")" + std::string(sub) + R"(","exp":)" +
                        std::to_string(unix_now() + exp_in);
  if (role != "service_role") {
    payload += R"(,"app_metadata":{"factory_ids":[)";
    for (std::size_t i = 0; i < factories.size(); ++i) payload += (i ? ",\"" : "\"") + factories[i] + "\"";
    payload += "]}";
  }
  if (!extra_claims.empty()) payload.append(",").append(extra_claims);
  payload += "}";
  return hs256(R"({"alg":"HS256","typ":"JWT"})", payload);
}

std::string service_token() {
  return token_for("service_role");
}

http_answer http_call(std::uint16_t port, http::verb method, std::string target, std::string body,
                      std::vector<std::pair<std::string, std::string>> headers) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  auto cancel = [&] { stream.cancel(); };
  if (run_bounded(
          ioc, [&](auto h) { stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), h); },
          cancel)) {
    return {};
  }
  http::request<http::string_body> req(method, target, 11);
  req.set(http::field::host, "127.0.0.1");
  for (auto& [k, v] : headers) req.set(k, v);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
  if (run_bounded(
          ioc, [&](auto h) { http::async_write(stream, req, h); }, cancel))
    return {};
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  if (run_bounded(
          ioc, [&](auto h) { http::async_read(stream, buf, res, h); }, cancel))
    return {};
  return {res.result_int(), res.body()};
}

ws_client::ws_client(std::uint16_t port, std::string target, std::optional<int> receive_buffer) : ws_(ioc_) {
  auto cancel = [&] { beast::get_lowest_layer(ws_).cancel(); };
  if (receive_buffer) {
    auto& sock = beast::get_lowest_layer(ws_).socket();
    sock.open(tcp::v4());
    sock.set_option(asio::socket_base::receive_buffer_size(*receive_buffer));
  }
  auto ec = run_bounded(
      ioc_,
      [&](auto h) {
        beast::get_lowest_layer(ws_).async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), h);
      },
      cancel);
  EXPECT_FALSE(ec) << ec.message();
  websocket::response_type res;
  ec = run_bounded(
      ioc_, [&](auto h) { ws_.async_handshake(res, "127.0.0.1", target, h); }, cancel);
  if (ec) {
    refusal = http_answer{res.result_int(), res.body()};
  } else {
    connected = true;
  }
}

std::string ws_client::url(std::string_view token, std::string_view vsn) {
  return "/realtime/v1/websocket?apikey=" + std::string(token) + "&vsn=" + std::string(vsn);
}

void ws_client::send(std::string_view text) {
  ws_.text(true);
  auto ec = run_bounded(
      ioc_, [&](auto h) { ws_.async_write(asio::buffer(text.data(), text.size()), h); },
      [&] { beast::get_lowest_layer(ws_).cancel(); });
  EXPECT_FALSE(ec) << ec.message();
}

void ws_client::send_binary(std::string_view bytes) {
  ws_.binary(true);
  auto ec = run_bounded(
      ioc_, [&](auto h) { ws_.async_write(asio::buffer(bytes.data(), bytes.size()), h); },
      [&] { beast::get_lowest_layer(ws_).cancel(); });
  ws_.text(true);
  EXPECT_FALSE(ec) << ec.message();
}

std::optional<std::string> ws_client::read(std::chrono::steady_clock::duration timeout) {
  beast::flat_buffer buf;
  last_error = run_bounded(
      ioc_, [&](auto h) { ws_.async_read(buf, h); }, [&] { beast::get_lowest_layer(ws_).cancel(); }, timeout);
  if (last_error) return std::nullopt;
  return beast::buffers_to_string(buf.data());
}

json::value ws_client::read_json() {
  auto m = read();
  EXPECT_TRUE(m.has_value()) << "no message: " << last_error.message();
  return m ? json::parse(*m) : json::value();
}

json::value ws_client::read_until(const std::function<bool(const json::value&)>& pred) {
  for (int i = 0; i < 10000; ++i) {
    auto v = read_json();
    if (v.is_null()) return v;
    if (pred(v)) return v;
  }
  ADD_FAILURE() << "predicate never held";
  return {};
}

void ws_client::close() {
  run_bounded(
      ioc_, [&](auto h) { ws_.async_close(websocket::close_code::normal, h); },
      [&] { beast::get_lowest_layer(ws_).cancel(); });
}

void ws_client::fragment_writes(std::size_t bytes) {
  ws_.auto_fragment(true);
  ws_.write_buffer_bytes(bytes);
}

std::string v1_join(std::string_view topic, std::string_view ref, std::string_view payload) {
  return R"({"topic":")" + std::string(topic) + R"(","event":"phx_join","payload":)" + std::string(payload) +
         R"(,"ref":")" + std::string(ref) + R"(","join_ref":")" + std::string(ref) + R"("})";
}

std::string v1_broadcast(std::string_view topic, std::string_view event, std::string_view payload_json,
                         std::string_view ref, std::string_view join_ref) {
  return R"({"topic":")" + std::string(topic) + R"(","event":"broadcast","payload":{"type":"broadcast","event":")" +
         std::string(event) + R"(","payload":)" + std::string(payload_json) + R"(},"ref":")" + std::string(ref) +
         R"(","join_ref":")" + std::string(join_ref) + R"("})";
}

bool is_reply(const json::value& v, std::string_view ref) {
  return v.at("event") == "phx_reply" && v.at("ref").is_string() && v.at("ref").as_string() == ref;
}

json::value position_of(const json::value& reply) {
  const auto* payload = reply.is_object() ? reply.as_object().if_contains("payload") : nullptr;
  const auto* response =
      payload != nullptr && payload->is_object() ? payload->as_object().if_contains("response") : nullptr;
  const auto* position = response != nullptr && response->is_object() ? response->as_object().if_contains("rtcache")
                                                                       : nullptr;
  return position != nullptr ? *position : json::value();
}

std::string resume_payload(const json::value& position) {
  return R"({"config":{},"rtcache":{"epoch":)" + json::serialize(position.at("epoch")) + R"(,"offset":)" +
         json::serialize(position.at("offset")) + "}}";
}

bool is_invalidate(const json::value& v) {
  return v.at("event") == "broadcast" && v.at("payload").at("event") == "invalidate";
}

std::string event_json(std::string_view id, std::string_view factory, std::string_view action) {
  return R"({"type":"wo","id":")" + std::string(id) + R"(","factoryId":")" + std::string(factory) + R"(","action":")" +
         std::string(action) + R"("})";
}

}  // namespace rtcache::testing
