// Tokens (issue 11, findings 8 and 10): an access_token push replaces the token later joins are authorised with,
// a narrower refresh closes what it no longer covers and moves doc channels to their new view; /metrics is
// behind a bearer token or an address of its own when configured. Every bad-token kind stays refused.
#include "gateway_fixture.hpp"

#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <string>

namespace rtcache::gateway {
namespace {

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace testing;

class Tokens : public gateway_fixture {};

std::string access_token_push(std::string_view topic, std::string_view token, std::string_view ref,
                              std::string_view join_ref) {
  return R"({"topic":")" + std::string(topic) + R"(","event":"access_token","payload":{"access_token":")" +
         std::string(token) + R"("},"ref":")" + std::string(ref) + R"(","join_ref":")" + std::string(join_ref) +
         R"("})";
}

// issue 11, finding 8: after a refresh to a smaller scope, a later join without its own access_token was
// authorised with the old, wider token.
TEST_F(Tokens, AnAccessTokenPushReplacesTheTokenLaterJoinsAreAuthorisedWith) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A", "B"})));
  ASSERT_EQ(join(c, "realtime:list:wo:A").at("payload").at("status"), "ok");
  c.send(access_token_push("realtime:list:wo:A", token_for("authenticated", {"A"}), "2", "1"));
  const auto later = join(c, "realtime:list:wo:B", "3");
  EXPECT_EQ(later.at("payload").at("status"), "error") << json::serialize(later);
  EXPECT_EQ(later.at("payload").at("response").at("reason"),
            "Unauthorized: You do not have permissions to read from this Channel topic: list:wo:B");
  EXPECT_EQ(join(c, "realtime:list:wo:A", "4").at("payload").at("status"), "ok");
}

TEST_F(Tokens, AnInvalidPushReplacesNothing) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A", "B"})));
  ASSERT_EQ(join(c, "realtime:list:wo:A").at("payload").at("status"), "ok");
  c.send(access_token_push("realtime:list:wo:A", "not-a-jwt", "2", "1"));
  EXPECT_EQ(c.read_json().at("event"), "system");
  EXPECT_EQ(c.read_json().at("event"), "phx_close");
  EXPECT_EQ(join(c, "realtime:list:wo:B", "3").at("payload").at("status"), "ok");
}

TEST_F(Tokens, ARefreshToASmallerScopeClosesTheChannelsItNoLongerCovers) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A", "B"})));
  ASSERT_EQ(join(c, "realtime:list:wo:B").at("payload").at("status"), "ok");
  c.send(access_token_push("realtime:list:wo:B", token_for("authenticated", {"A"}), "2", "1"));
  const auto sys = c.read_json();
  EXPECT_EQ(sys.at("event"), "system");
  EXPECT_EQ(sys.at("payload").at("message"),
            "You no longer have permission to read from this Channel topic: list:wo:B");
  EXPECT_EQ(c.read_json().at("event"), "phx_close");
}

// A doc: channel's view belongs to the scope that joined it: a refresh to another scope errors the channel
// (phx_error), so the client rejoins into its new view rather than reading offsets of the old one.
TEST_F(Tokens, ARefreshThatChangesTheScopeOfADocChannelErrorsItSoTheClientRejoinsItsNewView) {
  start();
  ws_client c(port_, ws_client::url(token_for("authenticated", {"A", "B"})));
  const auto first = join(c, "realtime:doc:wo:1");
  ASSERT_EQ(first.at("payload").at("status"), "ok");
  const std::string epoch(first.at("payload").at("response").at("rtcache").at("epoch").as_string());
  // The same scope: nothing happens.
  c.send(access_token_push("realtime:doc:wo:1", token_for("authenticated", {"B", "A"}), "2", "1"));
  c.send(R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":"h"})");
  EXPECT_TRUE(is_reply(c.read_json(), "h"));
  // A narrower one: phx_error with the join ref.
  c.send(access_token_push("realtime:doc:wo:1", token_for("authenticated", {"A"}), "3", "1"));
  const auto err = c.read_json();
  EXPECT_EQ(err.at("event"), "phx_error") << json::serialize(err);
  EXPECT_EQ(err.at("ref"), "1");
  const auto again =
      join(c, "realtime:doc:wo:1", "4", R"({"config":{},"rtcache":{"epoch":")" + epoch + R"(","offset":0}})");
  EXPECT_EQ(again.at("payload").at("response").at("rtcache").at("recovered"), false);
  EXPECT_NE(again.at("payload").at("response").at("rtcache").at("epoch").as_string(), epoch);
}

TEST_F(Tokens, EveryBadTokenKindIsRefusedAtUpgradeJoinAndPush) {
  start();
  const std::string expired = token_for("anon", {}, -3600);
  const std::string wrong_key =
      hs256(R"({"alg":"HS256","typ":"JWT"})", R"({"role":"anon","exp":)" + std::to_string(unix_now() + 60) + "}",
            "another-secret-another-secret-0123456789");
  const std::string alg_none = b64url(R"({"alg":"none","typ":"JWT"})") + "." +
                               b64url(R"({"role":"service_role","exp":)" + std::to_string(unix_now() + 60) + "}") + ".";
  const std::string bad_role =
      hs256(R"({"alg":"HS256","typ":"JWT"})", R"({"role":"admin","exp":)" + std::to_string(unix_now() + 60) + "}");
  ws_client c(port_, ws_client::url(token_for("anon")));
  ASSERT_EQ(join(c, "realtime:room").at("payload").at("status"), "ok");
  int ref = 10;
  for (const auto& bad : {std::string("not-a-jwt"), expired, wrong_key, alg_none, bad_role}) {
    ws_client upgrade(port_, ws_client::url(bad));
    EXPECT_FALSE(upgrade.connected) << bad;
    const auto r =
        join(c, "realtime:doc:wo:1", std::to_string(++ref), R"({"config":{},"access_token":")" + bad + R"("})");
    EXPECT_EQ(r.at("payload").at("status"), "error") << bad;
  }
}

// ---- finding 10: /metrics ----

// issue 11, finding 10: /metrics was open to anyone who could reach the port.
TEST_F(Tokens, MetricsNeedTheBearerTokenWhenOneIsSet) {
  gateway_config cfg;
  cfg.metrics.bearer_token = "scrape-token-0123456789";
  start(cfg);
  EXPECT_EQ(get_metrics().status, 401U);
  EXPECT_EQ(get_metrics({{"Authorization", "Bearer wrong-token-0123456789"}}).status, 401U);
  EXPECT_EQ(get_metrics({{"Authorization", "Bearer scrape-token-012345678"}}).status, 401U);  // a prefix
  EXPECT_EQ(get_metrics({{"Authorization", "scrape-token-0123456789"}}).status, 401U);        // no scheme
  const auto ok = get_metrics({{"Authorization", "Bearer scrape-token-0123456789"}});
  EXPECT_EQ(ok.status, 200U);
  EXPECT_NE(ok.body.find("rtcache_connections"), std::string::npos);
  EXPECT_EQ(gw_->metrics().metrics_refusals_total.Value(), 4);
}

TEST_F(Tokens, MetricsOnAListenAddressOfTheirOwnAreNotServedOnTheMainPort) {
  gateway_config cfg;
  cfg.metrics.listen = std::pair<std::string, std::uint16_t>{"127.0.0.1", 0};
  start(cfg);
  EXPECT_EQ(get_metrics().status, 404U);
  const auto port = gw_->metrics_port();
  ASSERT_NE(port, 0U);
  EXPECT_EQ(http_call(port, http::verb::get, "/metrics").status, 200U);
  EXPECT_EQ(http_call(port, http::verb::get, "/healthz").status, 200U);
  // The metrics address serves nothing else: no REST broadcast, no WebSocket.
  EXPECT_EQ(http_call(port, http::verb::post, "/api/broadcast", R"({"messages":[]})",
                      {{"Authorization", "Bearer " + service_token()}})
                .status,
            404U);
  ws_client ws(port, ws_client::url(token_for("anon")));
  EXPECT_FALSE(ws.connected);
}

}  // namespace
}  // namespace rtcache::gateway
