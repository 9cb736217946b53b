// wss:// in the SDK's transport (issue 15), against a minimal Beast TLS WebSocket server written here, with a CA
// and server certificates made at test time (tests/support/test_certs.hpp): the connection succeeds with the
// test CA given as a file, as PEM, or through the system store's SSL_CERT_FILE; it fails with a clear error
// when the store does not know the CA, when the certificate names another host, and when the CA cannot be
// loaded; SNI carries the host name and the upgrade request keeps the URL's query. The server and the client
// share one io_context run by this thread; waits are bounded by I/O, never by a fixed sleep.
#include "rtcache/client/realtime_client.hpp"
#include "test_certs.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <openssl/ssl.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rtcache::client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Accepts TLS, then a WebSocket upgrade, and keeps each socket open reading (and dropping) what it receives.
class tls_ws_server {
 public:
  tls_ws_server(asio::io_context& ioc, const testing::pem_pair& cert)
      : ctx_(ssl::context::tls_server), acceptor_(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    ctx_.use_certificate_chain(asio::buffer(cert.cert));
    ctx_.use_private_key(asio::buffer(cert.key), ssl::context::pem);
    accept();
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  std::vector<std::string> sni;      // server name of each completed TLS handshake ("" when none was sent)
  std::vector<std::string> targets;  // request target of each upgrade
  std::vector<std::string> hosts;    // Host header of each upgrade
  int tls_failures = 0;
  int upgrades = 0;

 private:
  using stream = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;
  struct session {
    explicit session(tcp::socket s, ssl::context& ctx) : ws(std::move(s), ctx) {}
    stream ws;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
  };

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      auto s = std::make_shared<session>(std::move(socket), ctx_);
      sessions_.push_back(s);
      s->ws.next_layer().async_handshake(ssl::stream_base::server, [this, s](beast::error_code hec) {
        if (hec) {
          ++tls_failures;
          return;
        }
        const char* name = SSL_get_servername(s->ws.next_layer().native_handle(), TLSEXT_NAMETYPE_host_name);
        sni.emplace_back(name ? name : "");
        http::async_read(s->ws.next_layer(), s->buffer, s->request, [this, s](beast::error_code rec, std::size_t) {
          if (rec) return;
          targets.emplace_back(s->request.target());
          hosts.emplace_back(s->request[http::field::host]);
          s->ws.async_accept(s->request, [this, s](beast::error_code aec) {
            if (aec) return;
            ++upgrades;
            read(s);
          });
        });
      });
      accept();
    });
  }

  void read(const std::shared_ptr<session>& s) {
    s->buffer.clear();
    s->ws.async_read(s->buffer, [this, s](beast::error_code ec, std::size_t) {
      if (!ec) read(s);
    });
  }

  ssl::context ctx_;
  tcp::acceptor acceptor_;
  std::vector<std::shared_ptr<session>> sessions_;
};

// A file that is removed with the test.
struct temp_file {
  explicit temp_file(const std::string& content)
      : path(std::filesystem::temp_directory_path() /
             ("rtcache-tls-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".pem")) {
    std::ofstream(path) << content;
  }
  ~temp_file() { std::filesystem::remove(path); }
  std::filesystem::path path;
  static inline int counter = 0;
};

class ClientTls : public ::testing::Test {
 protected:
  ClientTls() : ca_("rtcache test CA"), other_ca_("some other CA") {}

  // Starts a server presenting a certificate for `names`, signed by the test CA.
  void serve(const std::vector<std::string>& names) { server_.emplace(ioc_, ca_.issue(names)); }

  // Starts a client for `url` (":PORT" is replaced by the server's port) and runs the loop until it is
  // connected or reports a transport error.
  void connect(std::string url, tls_options tls) {
    if (const auto at = url.find(":PORT"); at != std::string::npos) {
      url.replace(at, 5, ":" + std::to_string(server_->port()));
    }
    realtime_options o;
    o.server = parse_server_url(url).value();
    o.access_token = "user-token";
    o.tls = std::move(tls);
    cache_.emplace(clock_, [](const core::cache_key&, fetch_callback done) {
      done(fetch_result::success(boost::json::object{}));
    });
    client_.emplace(ioc_, clock_, *cache_, std::move(o));
    client_->set_error_listener([this](const transport_error& e) { errors_.push_back(e); });
    client_->start();
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (!client_->connected() && errors_.empty() && std::chrono::steady_clock::now() < deadline) {
      ioc_.run_one_for(100ms);
    }
  }

  asio::io_context ioc_;
  testing::test_ca ca_;
  testing::test_ca other_ca_;
  std::optional<tls_ws_server> server_;
  steady_clock clock_;
  std::optional<query_cache> cache_;
  std::optional<realtime_client> client_;
  std::vector<transport_error> errors_;
};

TEST(ServerUrl, WssDefaultsToPort443AndKeepsTheQuery) {
  const auto u = parse_server_url("wss://abc.supabase.co/realtime/v1/websocket?apikey=anon&vsn=1.0.0").value();
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "abc.supabase.co");
  EXPECT_EQ(u.port, "443");
  EXPECT_EQ(u.path, "/realtime/v1/websocket");
  EXPECT_EQ(u.query, "apikey=anon&vsn=1.0.0");
  const auto plain = parse_server_url("ws://[::1]:4000").value();
  EXPECT_FALSE(plain.tls);
  EXPECT_EQ(plain.host, "::1");
  EXPECT_EQ(plain.port, "4000");
  EXPECT_EQ(plain.path, "/realtime/v1/websocket");
  EXPECT_EQ(plain.query, "");
  EXPECT_EQ(parse_server_url("https://x").error().code, core::errc::bad_prefix);
  EXPECT_EQ(parse_server_url("wss://x:0").error().code, core::errc::bad_value);
  EXPECT_EQ(parse_server_url("wss:///path").error().code, core::errc::empty_segment);
}

TEST_F(ClientTls, ConnectsWithTheCustomCaFileSendingSniAndTheUrlsQuery) {
  serve({"localhost"});
  temp_file ca_file(ca_.cert_pem());
  connect("wss://localhost:PORT/realtime/v1/websocket?apikey=anon-key&vsn=1.0.0&log_level=info",
          tls_options{.ca_file = ca_file.path.string(), .ca_pem = {}});
  ASSERT_TRUE(client_->connected()) << (errors_.empty() ? "timeout"
                                                        : errors_.front().stage + ": " + errors_.front().message);
  EXPECT_FALSE(client_->last_error());
  ASSERT_EQ(server_->sni.size(), 1U);
  EXPECT_EQ(server_->sni.front(), "localhost");
  ASSERT_EQ(server_->targets.size(), 1U);
  // The URL's apikey stands (a Supabase anon key); vsn is always the one this client speaks.
  EXPECT_EQ(server_->targets.front(), "/realtime/v1/websocket?apikey=anon-key&log_level=info&vsn=2.0.0");
  EXPECT_EQ(server_->hosts.front(), "localhost:" + std::to_string(server_->port()));
}

TEST_F(ClientTls, ConnectsWithTheCustomCaAsPem) {
  serve({"localhost"});
  connect("wss://localhost:PORT", tls_options{.ca_file = {}, .ca_pem = other_ca_.cert_pem() + ca_.cert_pem()});
  ASSERT_TRUE(client_->connected()) << (errors_.empty() ? "timeout" : errors_.front().message);
  EXPECT_EQ(server_->targets.front(), "/realtime/v1/websocket?apikey=user-token&vsn=2.0.0");
}

TEST_F(ClientTls, VerifiesAnIpLiteralAgainstTheCertificatesIpAddressesWithoutSni) {
  serve({"127.0.0.1"});
  connect("wss://127.0.0.1:PORT", tls_options{.ca_file = {}, .ca_pem = ca_.cert_pem()});
  ASSERT_TRUE(client_->connected()) << (errors_.empty() ? "timeout" : errors_.front().message);
  EXPECT_EQ(server_->sni.front(), "");  // SNI names DNS hosts only
}

TEST_F(ClientTls, FailsClearlyWhenTheSystemStoreDoesNotKnowTheCa) {
  serve({"localhost"});
  connect("wss://localhost:PORT", tls_options{});
  EXPECT_FALSE(client_->connected());
  ASSERT_FALSE(errors_.empty()) << "timeout";
  EXPECT_EQ(errors_.front().stage, "tls_handshake");
  EXPECT_NE(errors_.front().message.find("certificate verify failed"), std::string::npos) << errors_.front().message;
  EXPECT_NE(errors_.front().message.find("unable to get local issuer certificate"), std::string::npos)
      << errors_.front().message;
  ASSERT_TRUE(client_->last_error());
  EXPECT_EQ(client_->last_error()->message, errors_.front().message);
  EXPECT_EQ(server_->upgrades, 0);
}

TEST_F(ClientTls, FailsClearlyWhenTheCertificateNamesAnotherHost) {
  serve({"rtcache.test"});
  connect("wss://localhost:PORT", tls_options{.ca_file = {}, .ca_pem = ca_.cert_pem()});
  EXPECT_FALSE(client_->connected());
  ASSERT_FALSE(errors_.empty()) << "timeout";
  EXPECT_EQ(errors_.front().stage, "tls_handshake");
  EXPECT_NE(errors_.front().message.find("hostname mismatch"), std::string::npos) << errors_.front().message;
  EXPECT_EQ(server_->upgrades, 0);
}

TEST_F(ClientTls, FailsEveryAttemptWhenTheCaCannotBeLoaded) {
  serve({"localhost"});
  connect("wss://localhost:PORT", tls_options{.ca_file = "/nonexistent/ca.pem", .ca_pem = {}});
  EXPECT_FALSE(client_->connected());
  ASSERT_FALSE(errors_.empty()) << "timeout";
  EXPECT_EQ(errors_.front().stage, "tls_setup");
  EXPECT_NE(errors_.front().message.find("/nonexistent/ca.pem"), std::string::npos) << errors_.front().message;
  EXPECT_TRUE(server_->sni.empty());  // nothing was attempted
}

// The default trust is OpenSSL's default verify paths: SSL_CERT_FILE stands in for a system store that knows
// the CA (the only way to test the default without a public CA).
TEST_F(ClientTls, UsesTheSystemStoreByDefault) {
  serve({"localhost"});
  temp_file ca_file(ca_.cert_pem());
  const char* before = std::getenv("SSL_CERT_FILE");
  const std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
  ::setenv("SSL_CERT_FILE", ca_file.path.c_str(), 1);
  connect("wss://localhost:PORT", tls_options{});
  if (saved) {
    ::setenv("SSL_CERT_FILE", saved->c_str(), 1);
  } else {
    ::unsetenv("SSL_CERT_FILE");
  }
  ASSERT_TRUE(client_->connected()) << (errors_.empty() ? "timeout" : errors_.front().message);
}

}  // namespace
}  // namespace rtcache::client
