// The connection against real nats-servers: settings reach nats.c, failures are values, link changes are events.
#include "cluster/connection.hpp"

#include "cluster/nats_handles.hpp"
#include "cluster/test_nats_server.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace rtcache::cluster {
namespace {

using namespace std::chrono_literals;

struct event_log {
  std::mutex mu;
  std::vector<connection_event_kind> kinds;
  connection_event_handler handler() {
    return [this](const connection_event& e) {
      std::lock_guard lock(mu);
      kinds.push_back(e.kind);
    };
  }
  std::size_t count(connection_event_kind k) {
    std::lock_guard lock(mu);
    return static_cast<std::size_t>(std::count(kinds.begin(), kinds.end(), k));
  }
};

TEST(Connection, ConnectsAndNamesTheServer) {
  auto conn = test::connect_or_die(test::shared_server().url());
  EXPECT_TRUE(conn->connected());
  EXPECT_EQ(conn->connected_url(), test::shared_server().url());
  EXPECT_TRUE(conn->flush(2s).has_value());
}

TEST(Connection, InvalidSettingsAreRefusedBeforeAnyNetworkUse) {
  nats_settings s;
  s.urls = {"http://127.0.0.1:1", "nats://h"};
  auto conn = connection::connect(s);
  ASSERT_FALSE(conn);
  EXPECT_EQ(conn.error().code, errc::invalid_settings);
  EXPECT_NE(conn.error().message.find("nats_urls[0]"), std::string::npos);
  EXPECT_NE(conn.error().message.find("nats_urls[1]"), std::string::npos);
}

TEST(Connection, NoServerListeningIsConnectFailed) {
  auto conn = connection::connect(test::test_settings("nats://127.0.0.1:" + std::to_string(test::unused_port())));
  ASSERT_FALSE(conn);
  EXPECT_EQ(conn.error().code, errc::connect_failed) << conn.error().message;
}

TEST(Connection, UserAndPasswordAreSentAndWrongOnesRefused) {
  test::nats_server server("NATS_SERVER_USER=rt NATS_SERVER_PASS=s3cret");
  auto settings = test::test_settings(server.url());
  auto anonymous = connection::connect(settings);
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.error().code, errc::connect_failed) << anonymous.error().message;
  settings.user = "rt";
  settings.password = "wr0ng-pw";
  auto wrong = connection::connect(settings);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message.find("wr0ng-pw"), std::string::npos) << "errors never carry credentials";
  settings.password = "s3cret";
  auto conn = connection::connect(settings);
  ASSERT_TRUE(conn) << conn.error().message;
  EXPECT_TRUE((*conn)->connected());
}

TEST(Connection, TokenIsSent) {
  test::nats_server server("NATS_SERVER_TOKEN=t0ken");
  auto settings = test::test_settings(server.url());
  settings.token = "nope";
  EXPECT_FALSE(connection::connect(settings));
  settings.token = "t0ken";
  EXPECT_TRUE(connection::connect(settings));
}

TEST(Connection, TlsWithTheServersCaConnectsAndWithoutItIsRefused) {
  test::test_pki pki;
  test::nats_server server("NATS_SERVER_TLS_CERT=" + pki.dir + "/server.pem NATS_SERVER_TLS_KEY=" + pki.dir +
                           "/server.key");
  auto settings = test::test_settings(server.url());
  auto plain = connection::connect(settings);
  ASSERT_FALSE(plain) << "the server speaks TLS only";
  EXPECT_EQ(plain.error().code, errc::connect_failed) << plain.error().message;
  settings.tls.required = true;
  auto unknown_ca = connection::connect(settings);
  ASSERT_FALSE(unknown_ca) << "the server's certificate is signed by a CA the client does not trust";
  EXPECT_EQ(unknown_ca.error().code, errc::connect_failed) << unknown_ca.error().message;
  settings.tls.ca_file = pki.dir + "/ca.pem";
  auto conn = connection::connect(settings);
  ASSERT_TRUE(conn) << conn.error().message;
  EXPECT_TRUE((*conn)->connected());
  EXPECT_TRUE((*conn)->flush(2s));
  settings.tls.expected_hostname = "not-this-server.example";
  EXPECT_FALSE(connection::connect(settings)) << "the certificate names localhost, not the expected host";
}

TEST(Connection, ServerRestartIsSurfacedAsDisconnectedThenReconnected) {
  test::nats_server server;
  event_log log;
  auto conn = test::connect_or_die(server.url(), log.handler());
  server.kill9();
  ASSERT_TRUE(test::eventually([&] { return log.count(connection_event_kind::disconnected) == 1; }, 5s));
  EXPECT_FALSE(conn->connected());
  server.start();
  ASSERT_TRUE(test::eventually([&] { return log.count(connection_event_kind::reconnected) == 1; }, 10s));
  EXPECT_TRUE(conn->connected());
  EXPECT_EQ(conn->stats().disconnects, 1u);
  EXPECT_EQ(conn->stats().reconnects, 1u);
  conn.reset();
  EXPECT_EQ(log.count(connection_event_kind::closed), 1u) << "closing waits for nats.c's last callback";
}

TEST(Connection, RetryOnFailedConnectConnectsWhenTheServerComesUp) {
  test::nats_server server;
  server.stop();
  event_log log;
  auto settings = test::test_settings(server.url());
  settings.retry_on_failed_connect = true;
  auto conn = connection::connect(settings, log.handler());
  ASSERT_TRUE(conn) << conn.error().message;
  EXPECT_FALSE((*conn)->connected());
  server.start();
  ASSERT_TRUE(test::eventually([&] { return log.count(connection_event_kind::connected) == 1; }, 10s));
  EXPECT_TRUE((*conn)->connected());
}

// A nats.c object whose subscription may still receive a message (a publisher's context after timed-out publishes)
// is released once the connection is closed, when no message can reach it; beyond the bound the oldest goes first.
TEST(Connection, RetiredReleasesRunOnceClosedOrBeyondTheirBound) {
  auto conn = test::connect_or_die(test::shared_server().url());
  std::vector<int> released;
  std::mutex mu;
  const auto release = [&](int i) {
    return [&, i] {
      std::lock_guard lock(mu);
      released.push_back(i);
    };
  };
  for (int i = 0; i < static_cast<int>(detail::connection_handles::k_max_retired); ++i) {
    conn->handles().retire(release(i));
  }
  EXPECT_TRUE(released.empty()) << "held while the connection is open";
  conn->handles().retire(release(-1));
  EXPECT_EQ(released, std::vector<int>{0}) << "the oldest, beyond the bound";
  EXPECT_EQ(conn->handles().retired(), detail::connection_handles::k_max_retired);
  conn.reset();
  EXPECT_EQ(released.size(), detail::connection_handles::k_max_retired + 1) << "every one, once closed";
}

}  // namespace
}  // namespace rtcache::cluster
