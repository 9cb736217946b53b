// Addresses (issue 11, finding 6): one address may hold at most limits.max_connections_per_ip WebSockets; the
// next upgrade is refused with 429 and a JSON body, and the count is released on every way a connection ends.
#include "gateway_fixture.hpp"

#include <boost/beast/websocket/error.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace rtcache::gateway {
namespace {

namespace json = boost::json;
using namespace testing;
using namespace std::chrono_literals;

class Addresses : public gateway_fixture {
 protected:
  static gateway_config per_ip(std::size_t n) {
    gateway_config cfg;
    cfg.limits.max_connections_per_ip = n;
    return cfg;
  }
  // Whether one more upgrade from 127.0.0.1 is accepted now.
  bool one_more_fits() {
    ws_client c(port_, ws_client::url(token_for("anon")));
    if (c.connected) c.close();
    return c.connected;
  }
  bool released() {
    return wait_for([&] { return gw_->client_addresses() == 0 && gw_->metrics().connections.load() == 0; });
  }
};

// issue 11, finding 6: 300 of 300 upgrades from one address were accepted; only global caps existed.
TEST_F(Addresses, UpgradesBeyondThePerAddressBoundAreRefusedWith429AndAJsonBody) {
  start(per_ip(2));
  ws_client a(port_, ws_client::url(token_for("anon")));
  ws_client b(port_, ws_client::url(token_for("anon")));
  ASSERT_TRUE(a.connected);
  ASSERT_TRUE(b.connected);
  ws_client c(port_, ws_client::url(token_for("anon")));
  EXPECT_FALSE(c.connected);
  ASSERT_TRUE(c.refusal.has_value());
  EXPECT_EQ(c.refusal->status, 429U);
  EXPECT_EQ(json::parse(c.refusal->body), json::parse(R"({"error":"Too many connections from this address"})"));
  EXPECT_EQ(gw_->metrics().address_refusals_total.Value(), 1);
  EXPECT_EQ(gw_->client_addresses(), 1U);
}

TEST_F(Addresses, TheDefaultBoundIsTwoHundredFiftySix) {
  EXPECT_EQ(gateway_limits{}.max_connections_per_ip, 256U);
}

TEST_F(Addresses, EveryWayAConnectionEndsReleasesItsCount) {
  gateway_config cfg = per_ip(1);
  cfg.limits.idle_timeout = 2s;  // long enough for the flood to overflow first, also under a sanitizer
  cfg.limits.max_send_queue_bytes = 64 * 1024;
  start(cfg);

  {  // the client closes
    ws_client c(port_, ws_client::url(token_for("anon")));
    ASSERT_TRUE(c.connected);
    EXPECT_FALSE(one_more_fits());
    c.close();
  }
  ASSERT_TRUE(released()) << "client close";

  {  // the client vanishes without a close frame
    auto c = std::make_unique<ws_client>(port_, ws_client::url(token_for("anon")));
    ASSERT_TRUE(c->connected);
    c.reset();
  }
  ASSERT_TRUE(released()) << "client drop";

  {  // the idle timeout drops a silent client
    ws_client c(port_, ws_client::url(token_for("anon")));
    ASSERT_TRUE(c.connected);
    EXPECT_FALSE(c.read().has_value());
  }
  ASSERT_TRUE(released()) << "idle timeout";

  {  // a send queue overflow (4008)
    ws_client c(port_, ws_client::url(service_token()), 4096);
    ASSERT_EQ(join(c, "realtime:flood").at("payload").at("status"), "ok");
    ASSERT_TRUE(flood_until_overflow());
  }
  ASSERT_TRUE(released()) << "queue overflow";

  // Refused upgrades hold nothing: bad tokens, bad vsn.
  for (int i = 0; i < 3; ++i) {
    ws_client bad(port_, ws_client::url("not-a-jwt"));
    EXPECT_EQ(bad.refusal->status, 401U);
    ws_client bad_vsn(port_, ws_client::url(token_for("anon"), "9.9.9"));
    EXPECT_EQ(bad_vsn.refusal->status, 400U);
  }
  EXPECT_EQ(gw_->client_addresses(), 0U);
  EXPECT_TRUE(one_more_fits());
  ASSERT_TRUE(released());

  // Server shutdown (1001).
  ws_client last(port_, ws_client::url(token_for("anon")));
  ASSERT_TRUE(last.connected);
  EXPECT_EQ(gw_->client_addresses(), 1U);
  gw_->stop();
  EXPECT_FALSE(last.read().has_value());
  ASSERT_TRUE(wait_for([&] { return gw_->sessions() == 0; }));
  EXPECT_EQ(gw_->client_addresses(), 0U) << "shutdown";
}

TEST_F(Addresses, AnUpgradeRefusedByTheGlobalBoundReleasesItsAddressCount) {
  gateway_config cfg = per_ip(5);
  cfg.limits.max_connections = 1;
  start(cfg);
  ws_client a(port_, ws_client::url(token_for("anon")));
  ASSERT_TRUE(a.connected);
  for (int i = 0; i < 5; ++i) {
    ws_client b(port_, ws_client::url(token_for("anon")));
    ASSERT_TRUE(b.refusal.has_value());
    EXPECT_EQ(json::parse(b.refusal->body), json::parse(R"({"error":"Too many connections"})"));
  }
  a.close();
  ASSERT_TRUE(released());
}

}  // namespace
}  // namespace rtcache::gateway
