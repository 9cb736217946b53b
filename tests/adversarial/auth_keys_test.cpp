// Adversarial suite, credentials (issue 11): Supabase's API keys and JWKS-signed tokens against a real gateway
// over real sockets. A publishable key connects as anon and a user's JWT on a join scopes that channel; a secret
// key is service_role for the REST endpoints; a key that is not configured is refused at the upgrade with 401
// and a clear body; no key ever reaches a log line; a JWKS served by a local HTTP server verifies its tokens,
// rotates without a restart, and no stream of unknown kids makes rtcache fetch it more than once per interval.
// Every wait is on a condition with a bound; the JWKS clock is a manual one the test moves.
#include "../../src/server/gateway/test_http_server.hpp"
#include "gateway/gateway.hpp"
#include "gateway/jwks_fetcher.hpp"
#include "jwt_test_support.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace rtcache::gateway {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::string_view k_secret = "adversarial-test-secret-0123456789abcdef";
constexpr auto k_wait = 10s;

// Keys shaped as Supabase issues them; the configured ones and two that are not configured.
const std::string k_publishable = "sb_publishable_AdvTestPubKey0123456789_abcdEFGH";
const std::string k_secret_key = "sb_secret_AdvTestSecretKey0123456789_ijklMNOP";
const std::string k_unlisted_publishable = "sb_publishable_NotConfigured0123456789_qrstUVWX";
const std::string k_unlisted_secret = "sb_secret_NotConfiguredEither012345678_yzABCDEF";

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string user_claims(const std::vector<std::string>& factories) {
  std::string ids;
  for (const auto& f : factories) ids += (ids.empty() ? "\"" : ",\"") + f + "\"";
  return R"({"role":"authenticated","sub":"u1","exp":)" + std::to_string(unix_now() + 3600) +
         R"(,"app_metadata":{"factory_ids":[)" + ids + "]}}";
}

std::string hs256_user(const std::vector<std::string>& factories) {
  return testing::make_token(testing::header_for(auth::jwt_alg::hs256), user_claims(factories), auth::jwt_alg::hs256,
                             std::string(k_secret));
}

// ---- a client with bounded waits ----

template <class Start>
beast::error_code run_bounded(asio::io_context& ioc, Start&& start, const std::function<void()>& cancel) {
  std::optional<beast::error_code> result;
  start([&](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run_for(k_wait);
  if (!result) {
    cancel();
    ioc.restart();
    ioc.run();
    return asio::error::timed_out;
  }
  return *result;
}

struct http_answer {
  unsigned status = 0;
  std::string body;
};

http_answer http_post(std::uint16_t port, std::string target, std::string body,
                      std::vector<std::pair<std::string, std::string>> headers) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  auto cancel = [&] { stream.cancel(); };
  EXPECT_FALSE(run_bounded(
      ioc, [&](auto h) { stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), h); }, cancel));
  http::request<http::string_body> req(http::verb::post, target, 11);
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  for (auto& [k, v] : headers) req.set(k, v);
  req.body() = std::move(body);
  req.prepare_payload();
  EXPECT_FALSE(run_bounded(
      ioc, [&](auto h) { http::async_write(stream, req, h); }, cancel));
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  EXPECT_FALSE(run_bounded(
      ioc, [&](auto h) { http::async_read(stream, buf, res, h); }, cancel));
  return {res.result_int(), res.body()};
}

class ws_client {
 public:
  ws_client(std::uint16_t port, std::string_view apikey) : ws_(ioc_) {
    auto cancel = [&] { beast::get_lowest_layer(ws_).cancel(); };
    auto ec = run_bounded(
        ioc_,
        [&](auto h) {
          beast::get_lowest_layer(ws_).async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), h);
        },
        cancel);
    EXPECT_FALSE(ec) << ec.message();
    websocket::response_type res;
    const std::string target = "/realtime/v1/websocket?apikey=" + std::string(apikey) + "&vsn=1.0.0";
    ec = run_bounded(
        ioc_, [&](auto h) { ws_.async_handshake(res, "127.0.0.1", target, h); }, cancel);
    if (ec) {
      refusal = http_answer{res.result_int(), res.body()};
    } else {
      connected = true;
    }
  }

  void send(std::string_view text) {
    auto ec = run_bounded(
        ioc_, [&](auto h) { ws_.async_write(asio::buffer(text.data(), text.size()), h); },
        [&] { beast::get_lowest_layer(ws_).cancel(); });
    EXPECT_FALSE(ec) << ec.message();
  }

  json::value read_json() {
    beast::flat_buffer buf;
    const auto ec = run_bounded(
        ioc_, [&](auto h) { ws_.async_read(buf, h); }, [&] { beast::get_lowest_layer(ws_).cancel(); });
    EXPECT_FALSE(ec) << ec.message();
    return ec ? json::value() : json::parse(beast::buffers_to_string(buf.data()));
  }

  // Joins `topic` with `payload` (v1 frame) and returns the reply's payload {"status","response"}.
  json::value join(std::string_view topic, std::string_view payload) {
    const std::string ref = std::to_string(++ref_);
    send(R"({"topic":"realtime:)" + std::string(topic) + R"(","event":"phx_join","payload":)" + std::string(payload) +
         R"(,"ref":")" + ref + R"(","join_ref":")" + ref + R"("})");
    for (int i = 0; i < 1000; ++i) {
      const auto v = read_json();
      if (v.is_null()) return v;
      if (v.at("event") == "phx_reply" && v.at("ref") == json::value(ref)) return v.at("payload");
    }
    return {};
  }

  // The next invalidate broadcast's contract event.
  json::value next_invalidate() {
    for (int i = 0; i < 1000; ++i) {
      const auto v = read_json();
      if (v.is_null()) return v;
      if (v.at("event") == "broadcast" && v.at("payload").at("event") == "invalidate") {
        return v.at("payload").at("payload");
      }
    }
    return {};
  }

  bool connected = false;
  std::optional<http_answer> refusal;

 private:
  asio::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
  int ref_ = 0;
};

std::string with_token(std::string_view token) {
  return R"({"config":{},"access_token":")" + std::string(token) + R"("})";
}

std::string event_json(std::string_view id, std::string_view factory) {
  return R"({"type":"wo","id":")" + std::string(id) + R"(","factoryId":")" + std::string(factory) +
         R"(","action":"update"})";
}

bool wait_for(const std::function<bool()>& cond) {
  const auto deadline = std::chrono::steady_clock::now() + k_wait;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// ---- the server under test: HS256 secret, the two API keys, optionally a JWKS service ----

class AuthKeys : public ::testing::Test {
 protected:
  AuthKeys() : hub_(hub::hub_config{}, ingest::make_broadcast_encoder(), hub::counter_epochs("adv")) {}

  ~AuthKeys() override {
    if (gw_) {
      gw_->stop();
      wait_for([&] { return gw_->sessions() == 0; });
    }
    ioc_.stop();
    for (auto& t : threads_) t.join();
    gw_.reset();
    if (jwks_) jwks_->stop();
    std::fclose(log_file_);
  }

  // Starts the gateway; with `jwks_url`, its verifier also takes keys from that JWKS (the clock is clock_).
  void start(const std::string& jwks_url = {}) {
    auth_settings a;
    a.jwt_secret = std::string(k_secret);
    a.publishable_keys = {{k_publishable, "test"}};
    a.secret_keys = {{k_secret_key, "test"}};
    std::shared_ptr<auth::key_source> dynamic;
    if (!jwks_url.empty()) {
      jwks_ = std::make_unique<jwks_service>(jwks_source{parse_jwks_url(jwks_url).value(), {}},
                                             auth::jwks_cache_config{3600s, 30s}, jwks_fetch_options{},
                                             auth::jwks_cache::report_fn{}, [this] {
                                               const std::lock_guard lock(clock_mu_);
                                               return clock_;
                                             });
      jwks_->start();
      dynamic = jwks_->cache();
    }
    verifier_.emplace(make_verifier(a, dynamic).value());
    gateway_config cfg;
    cfg.listen_address = "127.0.0.1";
    cfg.port = 0;
    gw_.emplace(ioc_, cfg, hub_, *verifier_, core::doc_type_registry::defaults(), log_);
    port_ = gw_->start();
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }

  void advance_jwks_clock(std::chrono::seconds by) {
    const std::lock_guard lock(clock_mu_);
    clock_ += by;
  }

  http_answer post_events(std::string body, std::vector<std::pair<std::string, std::string>> headers) {
    return http_post(port_, "/v1/events", std::move(body), std::move(headers));
  }

  std::string log_text() {
    std::fflush(log_file_);
    std::rewind(log_file_);
    std::string out;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, log_file_)) > 0;) out.append(buf, n);
    return out;
  }

  // Declaration order matters: what the io_context's handlers reach must outlive it.
  std::FILE* log_file_ = std::tmpfile();
  logger log_{log_level::debug, log_file_};
  std::mutex clock_mu_;
  std::chrono::steady_clock::time_point clock_ = std::chrono::steady_clock::time_point{} + 1000h;
  std::unique_ptr<jwks_service> jwks_;
  std::optional<auth::jwt_verifier> verifier_;
  hub::hub hub_;
  asio::io_context ioc_;
  std::optional<gateway> gw_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
};

// issue 11, API keys: supabase-js created with a publishable key connects with apikey=sb_publishable_... and,
// after setAuth(userJwt), sends the user's token as each join's access_token. On main the upgrade was refused
// (401 "The token provided is not a valid JWT").
TEST_F(AuthKeys, APublishableKeyConnectsAsAnonAndAUsersTokenOnEachJoinScopesItsChannel) {
  start();
  ws_client c(port_, k_publishable);
  ASSERT_TRUE(c.connected) << (c.refusal ? c.refusal->body : "");
  // Before sign-in supabase-js sends the key itself as access_token: anon, no factory, so no list: channel.
  EXPECT_EQ(c.join("list:wo:f1", with_token(k_publishable)).at("status"), "error");
  const std::string user = hs256_user({"f1"});
  EXPECT_EQ(c.join("list:wo:f1", with_token(user)).at("status"), "ok");
  EXPECT_EQ(c.join("list:wo:f2", with_token(user)).at("status"), "error");
  // The backend publishes with the secret key; the user's channel gets its factory's event only.
  const auto res = post_events("[" + event_json("1", "f2") + "," + event_json("2", "f1") + "]",
                               {{"Authorization", "Bearer " + k_secret_key}, {"apikey", k_secret_key}});
  ASSERT_EQ(res.status, 202U) << res.body;
  const auto e = c.next_invalidate();
  EXPECT_EQ(e.at("factoryId"), "f1") << json::serialize(e);
  EXPECT_EQ(e.at("id"), "2");
}

TEST_F(AuthKeys, ASecretKeyIsServiceRoleForRestAndTheSocketAndAPublishableKeyIsNot) {
  start();
  EXPECT_EQ(post_events(event_json("1", "f1"), {{"apikey", k_secret_key}}).status, 202U);
  const auto anon = post_events(event_json("1", "f1"), {{"apikey", k_publishable}});
  EXPECT_EQ(anon.status, 403U);
  EXPECT_EQ(anon.body, R"({"error":"POST /v1/events requires a service_role token"})");
  EXPECT_EQ(http_post(port_, "/api/broadcast",
                      R"({"messages":[{"topic":"doc:wo:1","event":"x","payload":{"factoryId":"f1"}}]})",
                      {{"Authorization", "Bearer " + k_secret_key}})
                .body,
            R"({"accepted":1,"refused":[]})");
  ws_client service(port_, k_secret_key);
  ASSERT_TRUE(service.connected);
  EXPECT_EQ(service.join("list:wo:f2", R"({"config":{}})").at("status"), "ok");
  EXPECT_EQ(service.join("factory:f9", with_token(k_secret_key)).at("status"), "ok");
}

TEST_F(AuthKeys, AKeyThatIsNotConfiguredIsRefusedEverywhereWith401AndAClearBody) {
  start();
  for (const std::string& key : {k_unlisted_publishable, k_unlisted_secret}) {
    ws_client c(port_, key);
    EXPECT_FALSE(c.connected);
    ASSERT_TRUE(c.refusal);
    EXPECT_EQ(c.refusal->status, 401U);
    EXPECT_EQ(c.refusal->body, R"({"error":"Invalid API key: not a publishable or secret key of this server"})");
    EXPECT_EQ(post_events(event_json("1", "f1"), {{"Authorization", "Bearer " + key}}).status, 401U);
  }
  ws_client c(port_, k_publishable);
  ASSERT_TRUE(c.connected);
  const auto refused = c.join("doc:wo:1", with_token(k_unlisted_secret));
  EXPECT_EQ(refused.at("status"), "error");
  EXPECT_EQ(refused.at("response").at("reason"),
            "InvalidAPIKey: Invalid API key: not a publishable or secret key of this server");
  // A key one character short of a configured one is not that key.
  ws_client truncated(port_, k_publishable.substr(0, k_publishable.size() - 1));
  EXPECT_EQ(truncated.refusal ? truncated.refusal->status : 0U, 401U);
}

TEST_F(AuthKeys, NoKeyEverReachesALogLine) {
  start();
  { ws_client ok(port_, k_publishable); }
  { ws_client refused(port_, k_unlisted_secret); }
  {
    ws_client c(port_, k_secret_key);
    c.join("doc:wo:1", with_token(k_unlisted_publishable));
    c.join("doc:wo:2", with_token(k_publishable));
  }
  post_events(event_json("1", "f1"), {{"apikey", k_unlisted_secret}});
  post_events(event_json("1", "f1"), {{"apikey", k_secret_key}});
  ASSERT_TRUE(wait_for([&] { return log_text().find("ws.close") != std::string::npos; }));
  const std::string logs = log_text();
  EXPECT_NE(logs.find("auth.refused"), std::string::npos) << logs;  // the refusals were logged, without the keys
  for (const std::string& key : {k_publishable, k_secret_key, k_unlisted_publishable, k_unlisted_secret}) {
    const std::string random_part = key.substr(key.find('_', 3) + 1, 12);
    EXPECT_EQ(logs.find(random_part), std::string::npos) << "key " << random_part << " logged:\n" << logs;
  }
}

// issue 11, JWKS: Supabase's asymmetric signing keys, published at a URL, verify their tokens on a join; a
// rotated set is picked up through the unknown-kid refetch without a restart; a removed key stops working.
TEST_F(AuthKeys, AJwksSignedTokenJoinsAndARotatedKeySetIsTakenWithoutRestartAtMostOncePerInterval) {
  const std::string key_a = testing::generate_ec_private_pem("P-256");
  const std::string key_b = testing::generate_rsa_private_pem(2048);
  testing::test_http_server jwks_server;
  jwks_server.serve(testing::jwks_of({testing::public_jwk_of(key_a, "key-a")}));
  start(jwks_server.url());
  ASSERT_TRUE(wait_for([&] { return jwks_->cache()->counters().loads == 1; }));
  const auto token = [&](auth::jwt_alg alg, const std::string& key, std::string_view kid) {
    return testing::make_token(testing::header_for(alg, kid), user_claims({"f1"}), alg, key);
  };
  const std::string token_a = token(auth::jwt_alg::es256, key_a, "key-a");
  const std::string token_b = token(auth::jwt_alg::rs256, key_b, "key-b");

  ws_client c(port_, k_publishable);
  ASSERT_TRUE(c.connected);
  EXPECT_EQ(c.join("list:wo:f1", with_token(token_a)).at("status"), "ok");
  ASSERT_EQ(post_events(event_json("3", "f1"), {{"apikey", k_secret_key}}).status, 202U);
  EXPECT_EQ(c.next_invalidate().at("id"), "3");

  // Rotation: the set now holds B only. Within min_refetch of the last fetch nothing is fetched, however many
  // tokens name unknown kids (an attacker minting kids cannot make rtcache hammer the URL).
  jwks_server.serve(testing::jwks_of({testing::public_jwk_of(key_b, "key-b")}));
  for (int i = 0; i < 10; ++i) {  // a connection's join burst is 20: stay inside it
    const auto r = c.join("doc:wo:" + std::to_string(i),
                          with_token(token(auth::jwt_alg::es256, key_a, "kid-" + std::to_string(i))));
    ASSERT_EQ(r.at("status"), "error");
    EXPECT_EQ(r.at("response").at("reason"),
              "JwtSignerError: Failed to generate JWT signer, check your JWT secret or JWKS configuration");
  }
  EXPECT_EQ(c.join("list:wo:f1", with_token(token_b)).at("status"), "error");
  EXPECT_EQ(jwks_server.requests(), 1U);

  // Past min_refetch the first unknown kid refetches; B's token passes once the set is in, A's no longer.
  advance_jwks_clock(30s);
  c.join("list:wo:f1", with_token(token_b));
  ASSERT_TRUE(wait_for([&] { return jwks_->cache()->counters().loads == 2; }));
  EXPECT_EQ(c.join("list:wo:f1", with_token(token_b)).at("status"), "ok");
  EXPECT_EQ(c.join("factory:f1", with_token(token_a)).at("status"), "error");
  ws_client by_upgrade(port_, token_b);
  EXPECT_TRUE(by_upgrade.connected);
  ws_client old_key(port_, token_a);
  ASSERT_TRUE(old_key.refusal);
  EXPECT_EQ(old_key.refusal->status, 401U);
  EXPECT_EQ(jwks_server.requests(), 2U);
}

TEST_F(AuthKeys, WhileTheJwksCannotBeFetchedItsTokensAreRefusedAndEveryOtherCredentialWorks) {
  testing::test_http_server jwks_server;
  jwks_server.serve("unavailable", 503);
  start(jwks_server.url());
  ASSERT_TRUE(wait_for([&] { return jwks_->cache()->counters().failures == 1; }));
  const std::string key_a = testing::generate_ec_private_pem("P-256");
  const std::string token_a = testing::make_token(testing::header_for(auth::jwt_alg::es256, "key-a"),
                                                  user_claims({"f1"}), auth::jwt_alg::es256, key_a);
  ws_client refused(port_, token_a);
  ASSERT_TRUE(refused.refusal);
  EXPECT_EQ(refused.refusal->status, 401U);
  EXPECT_TRUE(ws_client(port_, hs256_user({"f1"})).connected);
  EXPECT_TRUE(ws_client(port_, k_publishable).connected);
  EXPECT_TRUE(ws_client(port_, k_secret_key).connected);
}

}  // namespace
}  // namespace rtcache::gateway
