// wss:// and https:// in the gateway (issue 15): the [tls] listener with certificates made at test time by a
// throwaway CA (tests/support/test_certs.hpp), driven by a Beast SSL WebSocket client and an HTTPS call written
// here that trust that CA. Covers delivery over TLS, plain and TLS listeners side by side, TLS only, the REST and
// /metrics endpoints over TLS, a client that does not trust the CA, the SIGHUP reload (gateway::reload_tls,
// the function main's SIGHUP handler calls) and the config checks of [tls]. Every wait is bounded.
#include "gateway/config.hpp"
#include "gateway/gateway.hpp"
#include "gateway_fixture.hpp"
#include "test_certs.hpp"
#include "tls_context.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unistd.h>

namespace rtcache::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
namespace certs = ::rtcache::testing;  // tests/support/test_certs.hpp
using testing::event_json;
using testing::is_reply;
using testing::run_bounded;
using testing::service_token;
using testing::token_for;
using testing::v1_join;
using testing::ws_client;

// A file in the temp directory, removed with the test; rewrite() replaces its content (a certificate rotation).
struct temp_file {
  explicit temp_file(const std::string& content)
      : path((std::filesystem::temp_directory_path() /
              ("rtcache-gw-tls-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".pem"))
                 .string()) {
    rewrite(content);
  }
  ~temp_file() { std::filesystem::remove(path); }
  void rewrite(const std::string& content) const { std::ofstream(path, std::ios::trunc) << content; }
  std::string path;
  static inline int counter = 0;
};

// The subject and serial number of a certificate (the one a server presented).
struct cert_id {
  std::string subject;
  std::string serial;
  friend bool operator==(const cert_id&, const cert_id&) = default;
};

cert_id id_of(X509* cert) {
  cert_id out;
  if (cert == nullptr) return out;
  if (char* s = X509_NAME_oneline(X509_get_subject_name(cert), nullptr, 0)) {
    out.subject = s;
    OPENSSL_free(s);
  }
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (char* hex = BN_bn2hex(bn)) {
    out.serial = hex;
    OPENSSL_free(hex);
  }
  BN_free(bn);
  return out;
}

// A client context that trusts `ca_pem` only and checks the server's name.
ssl::context client_context(const std::string& ca_pem) {
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_peer);
  ctx.add_certificate_authority(asio::buffer(ca_pem));
  return ctx;
}

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// Connects `stream` to 127.0.0.1:port and completes the TLS handshake for server name `host` (SNI and name
// check). Returns the error, and the presented certificate in `peer`.
beast::error_code tls_connect(asio::io_context& ioc, tls_stream& stream, std::uint16_t port, const std::string& host,
                              cert_id& peer) {
  auto cancel = [&] { beast::get_lowest_layer(stream).cancel(); };
  auto ec = run_bounded(
      ioc,
      [&](auto h) {
        beast::get_lowest_layer(stream).async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), h);
      },
      cancel);
  if (ec) return ec;
  // SSL_set_tlsext_host_name, without the macro's C cast.
  SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
           const_cast<char*>(host.c_str()));
  stream.set_verify_callback(ssl::host_name_verification(host));
  ec = run_bounded(
      ioc, [&](auto h) { stream.async_handshake(ssl::stream_base::client, h); }, cancel);
  if (!ec) {
    X509* cert = SSL_get1_peer_certificate(stream.native_handle());
    peer = id_of(cert);
    X509_free(cert);
  }
  return ec;
}

// A wss:// client: a Beast SSL WebSocket trusting `ca_pem`, connected to 127.0.0.1:port as `host`.
class wss_client {
 public:
  wss_client(std::uint16_t port, const std::string& ca_pem, const std::string& target,
             const std::string& host = "localhost")
      : ctx_(client_context(ca_pem)), ws_(ioc_, ctx_) {
    error = tls_connect(ioc_, ws_.next_layer(), port, host, peer);
    if (error) return;
    error = run_bounded(
        ioc_, [&](auto h) { ws_.async_handshake(host, target, h); }, [&] { beast::get_lowest_layer(ws_).cancel(); });
    connected = !error;
  }

  void send(std::string_view text) {
    ws_.text(true);
    auto ec = run_bounded(
        ioc_, [&](auto h) { ws_.async_write(asio::buffer(text.data(), text.size()), h); },
        [&] { beast::get_lowest_layer(ws_).cancel(); });
    EXPECT_FALSE(ec) << ec.message();
  }

  std::optional<json::value> read_json() {
    beast::flat_buffer buffer;
    auto ec = run_bounded(
        ioc_, [&](auto h) { ws_.async_read(buffer, h); }, [&] { beast::get_lowest_layer(ws_).cancel(); });
    if (ec) {
      last_error = ec;
      return std::nullopt;
    }
    return json::parse(beast::buffers_to_string(buffer.data()));
  }

  // Reads until a message satisfies `pred`: the message, or nullopt when the stream ended or timed out first.
  std::optional<json::value> read_until(const std::function<bool(const json::value&)>& pred) {
    for (int i = 0; i < 100; ++i) {
      auto v = read_json();
      if (!v || pred(*v)) return v;
    }
    return std::nullopt;
  }

  // Joins `topic` (v1) and returns the reply's status.
  std::string join(std::string_view topic, std::string_view ref) {
    send(v1_join(topic, ref));
    const auto reply = read_until([&](const json::value& v) { return is_reply(v, ref); });
    if (!reply) return "no reply: " + last_error.message();
    return std::string(reply->at("payload").at("status").as_string());
  }

  asio::io_context& ioc() noexcept { return ioc_; }
  websocket::stream<tls_stream>& ws() noexcept { return ws_; }

  bool connected = false;
  beast::error_code error;  // of the TLS or WebSocket handshake
  beast::error_code last_error;
  cert_id peer;  // the certificate the server presented

 private:
  asio::io_context ioc_;
  ssl::context ctx_;
  websocket::stream<tls_stream> ws_;
};

// ---- pings while a flood of broadcasts is being written (the write serializer, write_serializer.hpp) ----

// What a client that pinged the server without pause while reading a flood saw.
struct ping_flood_outcome {
  int delivered = 0;  // broadcasts read, each whole and the one expected next
  int pings = 0;      // pings the client wrote
  int pongs = 0;      // pongs it read
  std::string wrong;  // the first broadcast that was not the expected one
  beast::error_code error;
};

// The payload of broadcast `i` of round `round`: 16 KiB, so that a batch write is several frames and larger than
// what one write_some takes (the moment a pong used to slip in).
std::string flood_payload(int round, int i) {
  return std::string(16000, static_cast<char>('a' + round % 26)) + "#" + std::to_string(i);
}

// Joins "realtime:flood" on `ws` (its io_context `ioc`), then `rounds` times publishes `per_round` broadcasts at
// once and reads them all while writing one ping after another (each as soon as the one before is written).
template <class Ws>
ping_flood_outcome read_flood_while_pinging(asio::io_context& ioc, Ws& ws, hub::hub& h, int rounds, int per_round) {
  ping_flood_outcome out;
  auto cancel = [&] { beast::get_lowest_layer(ws).cancel(); };
  ws.text(true);
  const std::string join = v1_join("realtime:flood", "1");
  out.error = run_bounded(
      ioc, [&](auto done) { ws.async_write(asio::buffer(join), done); }, cancel);
  beast::flat_buffer buffer;
  if (!out.error) {
    out.error = run_bounded(
        ioc, [&](auto done) { ws.async_read(buffer, done); }, cancel);
  }
  if (out.error) return out;
  if (!is_reply(json::parse(beast::buffers_to_string(buffer.data())), "1")) {
    out.wrong = "no join reply: " + beast::buffers_to_string(buffer.data());
    return out;
  }
  buffer.consume(buffer.size());
  ws.control_callback([&](websocket::frame_type kind, beast::string_view) {
    if (kind == websocket::frame_type::pong) ++out.pongs;
  });
  for (int round = 0; round < rounds && !out.error && out.wrong.empty(); ++round) {
    for (int i = 0; i < per_round; ++i) h.publish("flood", "e", "\"" + flood_payload(round, i) + "\"");
    int read = 0;
    bool stop = false;
    bool pinging = false;
    std::function<void()> ping = [&] {
      if (stop || pinging) return;
      pinging = true;
      ws.async_ping("p", [&](beast::error_code ec) {
        pinging = false;
        if (ec) {
          if (!out.error) out.error = ec;
          stop = true;
          return;
        }
        ++out.pings;
        ping();
      });
    };
    std::function<void()> next = [&] {
      ws.async_read(buffer, [&](beast::error_code ec, std::size_t) {
        if (ec) {
          if (!out.error) out.error = ec;
          stop = true;
          return;
        }
        const auto v = json::parse(beast::buffers_to_string(buffer.data()));
        buffer.consume(buffer.size());
        const auto* payload = v.is_object() ? v.as_object().if_contains("payload") : nullptr;
        const std::string expected = flood_payload(round, read);
        if (payload == nullptr || !payload->is_object() || !payload->as_object().contains("payload") ||
            payload->at("payload") != json::value(expected)) {
          out.wrong = "round " + std::to_string(round) + " message " + std::to_string(read) + ": " +
                      json::serialize(v).substr(0, 120);
          stop = true;
          return;
        }
        ++out.delivered;
        if (++read == per_round) {
          stop = true;
          return;
        }
        next();
      });
    };
    next();
    ping();
    ioc.restart();
    ioc.run_for(std::chrono::seconds(60));
    if (!ioc.stopped()) {
      cancel();
      ioc.restart();
      ioc.run();
      if (!out.error) out.error = asio::error::timed_out;
    }
  }
  return out;
}

// One HTTPS request on a fresh connection; status 0 when the exchange failed.
testing::http_answer https_call(std::uint16_t port, const std::string& ca_pem, http::verb method, std::string target,
                                std::string body = {}, std::vector<std::pair<std::string, std::string>> headers = {}) {
  asio::io_context ioc;
  ssl::context ctx = client_context(ca_pem);
  tls_stream stream(ioc, ctx);
  cert_id peer;
  if (tls_connect(ioc, stream, port, "localhost", peer)) return {};
  http::request<http::string_body> req(method, target, 11);
  req.set(http::field::host, "localhost");
  for (auto& [k, v] : headers) req.set(k, v);
  req.body() = std::move(body);
  req.prepare_payload();
  auto cancel = [&] { beast::get_lowest_layer(stream).cancel(); };
  if (run_bounded(
          ioc, [&](auto h) { http::async_write(stream, req, h); }, cancel))
    return {};
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  if (run_bounded(
          ioc, [&](auto h) { http::async_read(stream, buffer, res, h); }, cancel))
    return {};
  return {res.result_int(), res.body()};
}

// The in-process gateway with [tls]: a server certificate for localhost and 127.0.0.1 from the test CA, in files.
class GatewayTls : public testing::gateway_fixture {
 protected:
  GatewayTls()
      : ca_("rtcache gateway test CA"),
        first_(ca_.issue({"localhost", "127.0.0.1"})),
        cert_(first_.cert),
        key_(first_.key) {}

  gateway_config tls_config(bool plain = true) const {
    gateway_config cfg;
    cfg.plain_listener = plain;
    cfg.tls.cert_file = cert_.path;
    cfg.tls.key_file = key_.path;
    cfg.tls.listen = std::pair<std::string, std::uint16_t>{"127.0.0.1", 0};
    return cfg;
  }
  void start_tls(bool plain = true) {
    start(tls_config(plain));
    tls_port_ = gw_->tls_port();
    ASSERT_NE(tls_port_, 0);
  }
  static std::string url(const std::string& token) { return ws_client::url(token); }
  // Posts an event for doc wo:`id` of factory A.
  void post(const std::string& id) { ASSERT_EQ(post_events(event_json(id, "A")).status, 202U); }
  static bool is_invalidate_of(const json::value& v, std::string_view id) {
    if (!v.is_object() || v.at("event") != "broadcast") return false;
    const auto& inner = v.at("payload").at("payload");
    return inner.is_object() && inner.at("id").is_string() && inner.at("id").as_string() == id;
  }

  certs::test_ca ca_;
  certs::pem_pair first_;
  temp_file cert_;
  temp_file key_;
  std::uint16_t tls_port_ = 0;
};

TEST_F(GatewayTls, WssClientTrustingTheCaJoinsAndReceivesABroadcast) {
  start_tls();
  wss_client c(tls_port_, ca_.cert_pem(), url(token_for("authenticated", {"A"})));
  ASSERT_TRUE(c.connected) << c.error.message();
  ASSERT_EQ(c.join("realtime:doc:wo:1", "1"), "ok");
  post("1");
  const auto m = c.read_json();
  ASSERT_TRUE(m) << c.last_error.message();
  EXPECT_TRUE(is_invalidate_of(*m, "1")) << json::serialize(*m);
  // Many messages at once go out through the TLS stream whole and in order (the gather write over TLS).
  for (int i = 0; i < 50; ++i) hub_.publish("big", "e", "\"" + std::string(20000, 'z') + std::to_string(i) + "\"");
  ASSERT_EQ(c.join("realtime:big", "2"), "ok");
  for (int i = 0; i < 50; ++i) hub_.publish("big", "e", "\"" + std::string(20000, 'y') + std::to_string(i) + "\"");
  for (int i = 0; i < 50; ++i) {
    const auto b = c.read_json();
    ASSERT_TRUE(b) << i << ": " << c.last_error.message();
    EXPECT_EQ(b->at("payload").at("payload").as_string(), std::string(20000, 'y') + std::to_string(i));
  }
}

// The gateway writes its batches outside Beast's write lock, and Beast answers each ping with a pong on its own:
// without the write serializer a pong written while a batch is on its way splits the batch (plain TCP: the
// client reads a corrupt frame) or is a second write at once on the SSL stream (undefined behaviour). A client
// that pings without pause while a flood arrives gets every broadcast whole and in order, and its pongs.
TEST_F(GatewayTls, PingsDuringAFloodOverTlsGetPongsAndEveryBroadcastArrivesWholeInOrder) {
  start_tls();
  wss_client c(tls_port_, ca_.cert_pem(), url(token_for("authenticated", {"A"})));
  ASSERT_TRUE(c.connected) << c.error.message();
  const auto out = read_flood_while_pinging(c.ioc(), c.ws(), hub_, 16, 64);
  EXPECT_FALSE(out.error) << out.error.message() << " after " << out.delivered;
  EXPECT_EQ(out.wrong, "");
  EXPECT_EQ(out.delivered, 16 * 64);
  EXPECT_GT(out.pings, 0);
  EXPECT_GT(out.pongs, 0);
  // The server is alive and serves a new connection.
  wss_client after(tls_port_, ca_.cert_pem(), url(token_for("authenticated", {"A"})));
  ASSERT_TRUE(after.connected) << after.error.message();
  EXPECT_EQ(after.join("realtime:doc:wo:1", "1"), "ok");
}

TEST_F(GatewayTls, PingsDuringAFloodOverPlainTcpGetPongsAndEveryBroadcastArrivesWholeInOrder) {
  start_tls();
  asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws(ioc);
  auto cancel = [&] { beast::get_lowest_layer(ws).cancel(); };
  ASSERT_FALSE(run_bounded(
      ioc,
      [&](auto h) {
        beast::get_lowest_layer(ws).async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), h);
      },
      cancel));
  ASSERT_FALSE(run_bounded(
      ioc, [&](auto h) { ws.async_handshake("localhost", url(token_for("authenticated", {"A"})), h); }, cancel));
  const auto out = read_flood_while_pinging(ioc, ws, hub_, 16, 64);
  EXPECT_FALSE(out.error) << out.error.message() << " after " << out.delivered;
  EXPECT_EQ(out.wrong, "");
  EXPECT_EQ(out.delivered, 16 * 64);
  EXPECT_GT(out.pings, 0);
  EXPECT_GT(out.pongs, 0);
  ws_client after(port_, url(token_for("authenticated", {"A"})));
  ASSERT_TRUE(after.connected);
  EXPECT_EQ(join(after, "realtime:doc:wo:1").at("payload").at("status"), "ok");
}

TEST_F(GatewayTls, PlainAndTlsListenersSideBySideBothDeliver) {
  start_tls();
  ASSERT_NE(port_, 0);
  ASSERT_NE(port_, tls_port_);
  ws_client plain(port_, url(token_for("authenticated", {"A"})));
  wss_client secure(tls_port_, ca_.cert_pem(), url(token_for("authenticated", {"A"})));
  ASSERT_TRUE(plain.connected);
  ASSERT_TRUE(secure.connected) << secure.error.message();
  ASSERT_EQ(join(plain, "realtime:doc:wo:2").at("payload").at("status"), "ok");
  ASSERT_EQ(secure.join("realtime:doc:wo:2", "1"), "ok");
  post("2");
  EXPECT_TRUE(is_invalidate_of(plain.read_json(), "2"));
  const auto m = secure.read_json();
  ASSERT_TRUE(m);
  EXPECT_TRUE(is_invalidate_of(*m, "2"));
  // The plain port does not speak TLS, the TLS port does not speak plain HTTP.
  wss_client tls_on_plain(port_, ca_.cert_pem(), url(token_for("anon")));
  EXPECT_FALSE(tls_on_plain.connected);
  ws_client plain_on_tls(tls_port_, url(token_for("anon")));
  EXPECT_FALSE(plain_on_tls.connected);
}

TEST_F(GatewayTls, TlsOnlyServesWssAndNoPlainListener) {
  start_tls(/*plain=*/false);
  EXPECT_EQ(port_, 0);
  wss_client c(tls_port_, ca_.cert_pem(), url(token_for("authenticated", {"A"})));
  ASSERT_TRUE(c.connected) << c.error.message();
  ASSERT_EQ(c.join("realtime:doc:wo:3", "1"), "ok");
  // No plain listener to post to: the event goes in over HTTPS on the same TLS listener.
  const auto res = https_call(tls_port_, ca_.cert_pem(), http::verb::post, "/v1/events", event_json("3", "A"),
                              {{"Authorization", "Bearer " + service_token()}});
  EXPECT_EQ(res.status, 202U) << res.body;
  const auto m = c.read_json();
  ASSERT_TRUE(m);
  EXPECT_TRUE(is_invalidate_of(*m, "3"));
}

TEST_F(GatewayTls, RestHealthAndMetricsWorkOverTls) {
  start_tls();
  const auto health = https_call(tls_port_, ca_.cert_pem(), http::verb::get, "/healthz");
  EXPECT_EQ(health.status, 200U);
  EXPECT_EQ(health.body, R"({"status":"ok"})");
  const auto metrics = https_call(tls_port_, ca_.cert_pem(), http::verb::get, "/metrics");  // loopback peer
  EXPECT_EQ(metrics.status, 200U);
  EXPECT_NE(metrics.body.find("rtcache_connections"), std::string::npos);
  const auto broadcast = https_call(tls_port_, ca_.cert_pem(), http::verb::post, "/api/broadcast",
                                    R"({"messages":[{"topic":"room","event":"e","payload":{}}]})",
                                    {{"Authorization", "Bearer " + service_token()}});
  EXPECT_EQ(broadcast.status, 202U) << broadcast.body;
  const auto unauthorised = https_call(tls_port_, ca_.cert_pem(), http::verb::post, "/v1/events", event_json("4", "A"));
  EXPECT_EQ(unauthorised.status, 401U);
}

TEST_F(GatewayTls, ClientThatDoesNotTrustTheCaFailsTheHandshake) {
  start_tls();
  const certs::test_ca other("some other CA");
  wss_client c(tls_port_, other.cert_pem(), url(token_for("anon")));
  EXPECT_FALSE(c.connected);
  EXPECT_EQ(c.error.category(), asio::error::get_ssl_category()) << c.error.message();
  // The server is still serving clients that do trust it.
  wss_client ok(tls_port_, ca_.cert_pem(), url(token_for("anon")));
  EXPECT_TRUE(ok.connected) << ok.error.message();
}

TEST_F(GatewayTls, ReloadServesTheNewCertificateToNewConnectionsWhileOpenOnesKeepWorking) {
  start_tls();
  wss_client before(tls_port_, ca_.cert_pem(), url(token_for("authenticated", {"A"})));
  ASSERT_TRUE(before.connected) << before.error.message();
  ASSERT_EQ(before.join("realtime:doc:wo:5", "1"), "ok");

  // Rotation: new files in place, then what SIGHUP runs.
  const auto second = ca_.issue({"rotated.localhost", "localhost", "127.0.0.1"});
  cert_.rewrite(second.cert);
  key_.rewrite(second.key);
  ASSERT_TRUE(gw_->reload_tls().has_value());

  wss_client after(tls_port_, ca_.cert_pem(), url(token_for("authenticated", {"A"})));
  ASSERT_TRUE(after.connected) << after.error.message();
  EXPECT_NE(after.peer.serial, before.peer.serial);
  EXPECT_NE(after.peer.subject, before.peer.subject);
  EXPECT_NE(after.peer.subject.find("rotated.localhost"), std::string::npos) << after.peer.subject;
  ASSERT_EQ(after.join("realtime:doc:wo:5", "1"), "ok");

  // The connection opened before the reload still delivers, as does the new one.
  post("5");
  const auto a = before.read_json();
  ASSERT_TRUE(a) << before.last_error.message();
  EXPECT_TRUE(is_invalidate_of(*a, "5"));
  const auto b = after.read_json();
  ASSERT_TRUE(b);
  EXPECT_TRUE(is_invalidate_of(*b, "5"));
}

TEST_F(GatewayTls, ReloadWithABadKeyKeepsTheOldCertificateAndReportsTheError) {
  start_tls();
  wss_client before(tls_port_, ca_.cert_pem(), url(token_for("anon")));
  ASSERT_TRUE(before.connected) << before.error.message();

  // A new certificate with the key of another one: the pair does not match.
  const auto second = ca_.issue({"rotated.localhost", "localhost"});
  const auto unrelated = ca_.issue({"unrelated.localhost"});
  cert_.rewrite(second.cert);
  key_.rewrite(unrelated.key);
  auto r = gw_->reload_tls();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("does not match"), std::string::npos) << r.error().message;

  // A key file that is not a key at all.
  key_.rewrite("not a key\n");
  r = gw_->reload_tls();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("tls.key_file"), std::string::npos) << r.error().message;

  wss_client after(tls_port_, ca_.cert_pem(), url(token_for("anon")));
  ASSERT_TRUE(after.connected) << after.error.message();
  EXPECT_EQ(after.peer, before.peer);  // still the first certificate
}

TEST_F(GatewayTls, ReloadWithoutTlsIsAnError) {
  start();
  EXPECT_FALSE(gw_->reload_tls().has_value());
  EXPECT_EQ(gw_->tls_port(), 0);
}

// ---- the server context ----

TEST(TlsContext, RequiresTls12AtLeastAsksNoClientCertificateAndReleasesIdleBuffers) {
  const certs::test_ca ca("rtcache context test CA");
  const auto pair = ca.issue({"localhost"});
  const temp_file cert(pair.cert);
  const temp_file key(pair.key);
  auto ctx = detail::make_server_tls_context({.cert_file = cert.path, .key_file = key.path, .listen = std::nullopt});
  ASSERT_TRUE(ctx.has_value()) << ctx.error().message;
  SSL_CTX* native = (*ctx)->native_handle();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(native), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_verify_mode(native), SSL_VERIFY_NONE);
  EXPECT_NE(SSL_CTX_get_mode(native) & SSL_MODE_RELEASE_BUFFERS, 0U);
  EXPECT_NE(SSL_CTX_get_options(native) & SSL_OP_NO_COMPRESSION, 0U);
}

// ---- config ----

class TlsConfig : public ::testing::Test {
 protected:
  TlsConfig() : ca_("rtcache config test CA"), pair_(ca_.issue({"localhost"})), cert_(pair_.cert), key_(pair_.key) {}

  config_load load(std::map<std::string, std::string> env) const {
    env.emplace("RTCACHE_JWT_SECRET", std::string(testing::k_test_secret));
    return load_config(std::nullopt, [env](std::string_view name) -> std::optional<std::string> {
      auto it = env.find(std::string(name));
      if (it == env.end()) return std::nullopt;
      return it->second;
    });
  }
  static std::string problems_of(const config_load& l) {
    std::string out;
    for (const auto& p : l.problems) out += p.where + ": " + p.message + "\n";
    return out;
  }

  certs::test_ca ca_;
  certs::pem_pair pair_;
  temp_file cert_;
  temp_file key_;
};

TEST_F(TlsConfig, ValidTlsSectionFromTomlLoads) {
  serve_config cfg;
  std::vector<core::config_problem> problems;
  read_config_toml("[auth]\njwt_secret = \"" + std::string(testing::k_test_secret) +
                       "\"\n[server]\nlisten = \"off\"\n[tls]\ncert_file = \"" + cert_.path + "\"\nkey_file = \"" +
                       key_.path + "\"\nlisten = \"0.0.0.0:4443\"\n",
                   "rtcache.toml", cfg, problems);
  validate(cfg, problems);
  EXPECT_TRUE(problems.empty()) << problems.front().message;
  EXPECT_FALSE(cfg.gateway.plain_listener);
  EXPECT_EQ(cfg.gateway.tls.cert_file, cert_.path);
  EXPECT_EQ(cfg.gateway.tls.key_file, key_.path);
  ASSERT_TRUE(cfg.gateway.tls.listen);
  EXPECT_EQ(cfg.gateway.tls.listen->second, 4443);
}

TEST_F(TlsConfig, EnvironmentConfiguresTls) {
  const auto l = load({{"RTCACHE_TLS_CERT_FILE", cert_.path},
                       {"RTCACHE_TLS_KEY_FILE", key_.path},
                       {"RTCACHE_TLS_LISTEN", "127.0.0.1:4443"}});
  EXPECT_TRUE(l.ok()) << problems_of(l);
  EXPECT_TRUE(l.config.gateway.tls.enabled());
  EXPECT_TRUE(l.config.gateway.plain_listener);
}

TEST_F(TlsConfig, MissingCertificateFileIsNamed) {
  const auto l = load({{"RTCACHE_TLS_CERT_FILE", cert_.path + ".missing"},
                       {"RTCACHE_TLS_KEY_FILE", key_.path},
                       {"RTCACHE_TLS_LISTEN", "127.0.0.1:4443"}});
  ASSERT_EQ(l.problems.size(), 1U) << problems_of(l);
  EXPECT_EQ(l.problems[0].where, "tls.cert_file");
  EXPECT_NE(l.problems[0].message.find("cannot read"), std::string::npos) << l.problems[0].message;
}

TEST_F(TlsConfig, KeyThatDoesNotMatchTheCertificateIsNamed) {
  const temp_file other_key(ca_.issue({"other"}).key);
  const auto l = load({{"RTCACHE_TLS_CERT_FILE", cert_.path},
                       {"RTCACHE_TLS_KEY_FILE", other_key.path},
                       {"RTCACHE_TLS_LISTEN", "127.0.0.1:4443"}});
  ASSERT_EQ(l.problems.size(), 1U) << problems_of(l);
  EXPECT_EQ(l.problems[0].where, "tls.key_file");
  EXPECT_NE(l.problems[0].message.find("does not match the certificate"), std::string::npos) << l.problems[0].message;
}

TEST_F(TlsConfig, FilesThatAreNotPemAreNamed) {
  const temp_file junk("-----BEGIN NOTHING-----\n");
  auto l = load({{"RTCACHE_TLS_CERT_FILE", junk.path},
                 {"RTCACHE_TLS_KEY_FILE", key_.path},
                 {"RTCACHE_TLS_LISTEN", "127.0.0.1:4443"}});
  ASSERT_EQ(l.problems.size(), 1U) << problems_of(l);
  EXPECT_EQ(l.problems[0].where, "tls.cert_file");
  l = load({{"RTCACHE_TLS_CERT_FILE", cert_.path},
            {"RTCACHE_TLS_KEY_FILE", junk.path},
            {"RTCACHE_TLS_LISTEN", "127.0.0.1:4443"}});
  ASSERT_EQ(l.problems.size(), 1U) << problems_of(l);
  EXPECT_EQ(l.problems[0].where, "tls.key_file");
}

TEST_F(TlsConfig, IncompleteTlsSectionNamesWhatIsMissing) {
  const auto l = load({{"RTCACHE_TLS_CERT_FILE", cert_.path}});
  ASSERT_EQ(l.problems.size(), 2U) << problems_of(l);
  EXPECT_EQ(l.problems[0].where, "tls.key_file");
  EXPECT_EQ(l.problems[1].where, "tls.listen");
}

TEST_F(TlsConfig, NoListenerAtAllIsAProblem) {
  const auto l = load({{"RTCACHE_LISTEN", "off"}});
  ASSERT_EQ(l.problems.size(), 1U) << problems_of(l);
  EXPECT_EQ(l.problems[0].where, "server.listen");
}

TEST_F(TlsConfig, TlsListenerMustDifferFromThePlainOne) {
  const auto l = load({{"RTCACHE_LISTEN", "127.0.0.1:4000"},
                       {"RTCACHE_TLS_CERT_FILE", cert_.path},
                       {"RTCACHE_TLS_KEY_FILE", key_.path},
                       {"RTCACHE_TLS_LISTEN", "127.0.0.1:4000"}});
  ASSERT_EQ(l.problems.size(), 1U) << problems_of(l);
  EXPECT_EQ(l.problems[0].where, "tls.listen");
}

}  // namespace
}  // namespace rtcache::gateway
