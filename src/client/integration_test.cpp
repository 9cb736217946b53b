// The SDK against the real gateway, in-process on an ephemeral port: subscribe -> invalidate -> refetch, patch
// without refetch, scope drop, reconnect with back-off and resume by offset (recovered), and a server restart
// (new epochs: not recovered -> exactly one refetch), and wss:// against the gateway's [tls] listener with a
// custom CA (issue 15; certificates from tests/support/test_certs.hpp). The client runs on its own io thread; the test
// reads its state by posting to that thread and waits on conditions with a bound, never on a fixed sleep.
#include "gateway/gateway.hpp"
#include "ingest/relay.hpp"
#include "jwt_test_support.hpp"
#include "rtcache/client/realtime_client.hpp"
#include "test_certs.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace rtcache::client {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::string_view k_secret = "rtcache-test-secret-0123456789abcdef";
constexpr auto k_wait = 15s;

std::string token_for(std::string_view role, const std::vector<std::string>& factories = {}) {
  const auto exp =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
      3600;
  std::string payload = R"({"role":")" + std::string(role) + R"(","sub":"u1","exp":)" + std::to_string(exp);
  if (role != "service_role") {
    payload += R"(,"app_metadata":{"factory_ids":[)";
    for (std::size_t i = 0; i < factories.size(); ++i) payload += (i ? ",\"" : "\"") + factories[i] + "\"";
    payload += "]}";
  }
  payload += "}";
  return rtcache::testing::make_token(rtcache::testing::header_for(auth::jwt_alg::hs256), payload, auth::jwt_alg::hs256,
                                      k_secret);
}

// Keeps a hub channel (and its history) alive while no WebSocket client is on it.
struct keeper final : hub::hub_subscriber {
  void deliver(const hub::hub_message_ptr&) noexcept override {}
};

// The application's backend as the fetcher sees it: documents by key, and a count of fetches per key.
class backend {
 public:
  void put(const std::string& key_json, json::value doc) {
    std::lock_guard lock(mu_);
    docs_[key_json] = std::move(doc);
  }
  json::value get(const std::string& key_json) {
    std::lock_guard lock(mu_);
    ++fetches_[key_json];
    auto it = docs_.find(key_json);
    return it == docs_.end() ? json::value(json::object{}) : it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, json::value> docs_;
  std::map<std::string, int> fetches_;
};

class ClientIntegration : public ::testing::Test {
 protected:
  ClientIntegration()
      : verifier_(auth::jwt_verifier::create({auth::verification_key::hs256(k_secret).value()}).value()),
        hub_(
            std::make_unique<hub::hub>(hub::hub_config{}, ingest::make_broadcast_encoder(), hub::counter_epochs("t"))) {
    backend_.put(R"(["doc","wo","1"])", json::parse(R"({"id":"1","status":"open","version":1})"));
  }

  ~ClientIntegration() override {
    if (client_) {
      on_client([&] {
        view_.reset();
        client_.reset();
        return 0;
      });
    }
    client_ioc_.stop();
    if (client_thread_.joinable()) client_thread_.join();
    cache_.reset();
    stop_server();
    server_ioc_.stop();
    for (auto& t : server_threads_) t.join();
  }

  void start_server(std::uint16_t port = 0) {
    gateway::gateway_config cfg;
    cfg.listen_address = "127.0.0.1";
    cfg.port = port;
    if (tls_) {  // TLS only: the client can reach the gateway over wss:// and nothing else
      cfg.plain_listener = false;
      cfg.tls = *tls_;
      cfg.tls.listen = std::pair<std::string, std::uint16_t>{"127.0.0.1", port};
    }
    // The port of a stopped gateway is free once its acceptor has closed; retry the bind for a bounded time.
    const auto deadline = std::chrono::steady_clock::now() + k_wait;
    for (;;) {
      gw_.emplace(server_ioc_, cfg, *hub_, verifier_, core::doc_type_registry::defaults(), log_);
      try {
        port_ = gw_->start();
        if (tls_) port_ = gw_->tls_port();
        break;
      } catch (const boost::system::system_error&) {
        gw_.reset();
        if (std::chrono::steady_clock::now() > deadline) throw;
        std::this_thread::yield();
      }
    }
    if (server_threads_.empty()) {
      work_.emplace(asio::make_work_guard(server_ioc_));
      for (int i = 0; i < 2; ++i) server_threads_.emplace_back([this] { server_ioc_.run(); });
    }
  }

  void stop_server() {
    if (!gw_) return;
    gw_->stop();
    wait_for([&] { return gw_->sessions() == 0; });
    gw_.reset();
  }

  // A server restart: the gateway and the hub go (histories and epochs with them); a new one takes the port.
  void restart_server_with_new_epochs() {
    stop_server();
    hub_ = std::make_unique<hub::hub>(hub::hub_config{}, ingest::make_broadcast_encoder(), hub::counter_epochs("r"));
    start_server(port_);
  }

  void start_client(std::string token, core::factory_scope scope) {
    cache_.emplace(clock_, [this](const core::cache_key& key, fetch_callback done) {
      // Completes later on the client's loop, as a real HTTP fetch would.
      asio::post(client_ioc_, [this, key, done = std::move(done)] {
        done(fetch_result::success_versioned(backend_.get(key.to_json())));
      });
    });
    realtime_options options;
    options.server = parse_server_url(client_url_.empty() ? "ws://127.0.0.1:" + std::to_string(port_)
                                                          : client_url_ + ":" + std::to_string(port_))
                         .value();
    options.tls = client_tls_;
    options.access_token = std::move(token);
    options.scope = std::move(scope);
    options.engine.coalesce.window = 250ms;
    options.engine.session.reconnect = {.initial = 20ms, .max = 200ms, .jitter = 0.5};
    options.engine.session.rejoin = {.initial = 20ms, .max = 200ms, .jitter = 0.5};
    client_.emplace(client_ioc_, clock_, *cache_, options);
    auto view = client_->watch_doc("wo", "1", "A");
    ASSERT_TRUE(view.has_value()) << view.error().message;
    view_ = std::move(*view);
    client_->start();
    client_thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(client_ioc_);
      client_ioc_.run();
    });
  }

  // Runs `f` on the client's thread and returns its result.
  template <class F>
  auto on_client(F f) -> decltype(f()) {
    std::promise<decltype(f())> p;
    asio::post(client_ioc_, [&] { p.set_value(f()); });
    return p.get_future().get();
  }

  static bool wait_for(const std::function<bool()>& cond, std::chrono::steady_clock::duration bound = k_wait) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (!cond()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::yield();
    }
    return true;
  }

  bool wait_client(const std::function<bool()>& cond) {
    return wait_for([&] { return on_client([&] { return cond(); }); });
  }

  bool joined() const {
    const session& s = client_->engine().realtime();
    return s.channel_status("doc:wo:1") == channel_state::joined &&
           s.channel_status("factory:A") == channel_state::joined;
  }
  std::uint64_t fetches() const {
    const query_state* s = cache_->state(core::key_doc("wo", "1"));
    return s ? s->fetches : 0;
  }
  std::string status() const {
    const auto d = cache_->data(core::key_doc("wo", "1"));
    return d ? std::string(d->at("status").as_string()) : std::string();
  }
  bool idle() const {
    const query_state* s = cache_->state(core::key_doc("wo", "1"));
    return s && s->fetch == fetch_status::idle && !s->refetch_after_fetch;
  }

  // Joined, first fetch done.
  void wait_ready() {
    ASSERT_TRUE(wait_client([&] { return joined() && fetches() >= 1 && idle() && !status().empty(); }));
  }

  void publish(std::string_view json_text) {
    ingest::relay r(*hub_, core::doc_type_registry::defaults());
    auto outcome = r.publish_events(json_text);
    ASSERT_TRUE(outcome.has_value());
    ASSERT_EQ(outcome->accepted, 1U) << outcome->to_json();
  }

  // With tls_: the gateway serves wss:// only, with these files; the client uses client_url_ and client_tls_.
  std::optional<gateway::tls_settings> tls_;
  std::string client_url_;  // scheme://host without the port; empty: ws://127.0.0.1
  tls_options client_tls_;

  gateway::logger log_{gateway::log_level::off};
  auth::jwt_verifier verifier_;
  std::unique_ptr<hub::hub> hub_;
  asio::io_context server_ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::optional<gateway::gateway> gw_;
  std::vector<std::thread> server_threads_;
  std::uint16_t port_ = 0;

  backend backend_;
  steady_clock clock_;
  asio::io_context client_ioc_;
  std::optional<query_cache> cache_;
  std::optional<realtime_client> client_;
  live_view view_;
  std::thread client_thread_;
};

// A PEM file in the temp directory, removed with the test.
struct pem_file {
  explicit pem_file(const std::string& content)
      : path((std::filesystem::temp_directory_path() /
              ("rtcache-sdk-gw-tls-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".pem"))
                 .string()) {
    std::ofstream(path) << content;
  }
  ~pem_file() { std::filesystem::remove(path); }
  std::string path;
  static inline int counter = 0;
};

// issue 15: the SDK's wss:// against rtcache itself. The gateway's certificate names localhost only and is signed
// by a CA the system store does not know: the client must be given that CA and must ask for localhost (SNI and
// the name check) to get in.
TEST_F(ClientIntegration, WssWithACustomCaReachesTheGatewaysTlsListenerJoinsAndGetsTheEvent) {
  const rtcache::testing::test_ca ca("rtcache SDK test CA");
  const auto server_cert = ca.issue({"localhost"});
  const pem_file cert(server_cert.cert);
  const pem_file key(server_cert.key);
  tls_ = gateway::tls_settings{.cert_file = cert.path, .key_file = key.path, .listen = std::nullopt};
  start_server();
  client_url_ = "wss://localhost";
  client_tls_ = tls_options{.ca_file = {}, .ca_pem = ca.cert_pem()};
  start_client(token_for("authenticated", {"A"}), core::factory_scope::of({"A"}));
  wait_ready();
  EXPECT_FALSE(on_client([&] { return client_->last_error().has_value(); }));
  backend_.put(R"(["doc","wo","1"])", json::parse(R"({"id":"1","status":"in_progress","version":2})"));
  publish(R"({"type":"wo","id":"1","factoryId":"A","action":"update","version":2})");
  ASSERT_TRUE(wait_client([&] { return status() == "in_progress" && idle(); }));
  EXPECT_EQ(on_client([&] { return fetches(); }), 2U);
  EXPECT_EQ(gw_->metrics().connections.load(), 1);
}

TEST_F(ClientIntegration, SubscribeThenAnUpdateWithoutPatchRefetchesTheDoc) {
  start_server();
  start_client(token_for("authenticated", {"A"}), core::factory_scope::of({"A"}));
  wait_ready();
  EXPECT_EQ(on_client([&] { return fetches(); }), 1U);
  backend_.put(R"(["doc","wo","1"])", json::parse(R"({"id":"1","status":"in_progress","version":2})"));
  publish(R"({"type":"wo","id":"1","factoryId":"A","action":"update","version":2})");
  ASSERT_TRUE(wait_client([&] { return status() == "in_progress" && idle(); }));
  EXPECT_EQ(on_client([&] { return fetches(); }), 2U);
  EXPECT_EQ(on_client([&] { return cache_->state(core::key_doc("wo", "1"))->data_version; }), 2);
}

TEST_F(ClientIntegration, ApproveWithACoveringPatchUpdatesTheCacheWithoutARefetch) {
  start_server();
  start_client(token_for("authenticated", {"A"}), core::factory_scope::of({"A"}));
  wait_ready();
  publish(R"({"type":"wo","id":"1","factoryId":"A","action":"approve","changedKeys":["status"],"version":2,)"
          R"("patch":{"status":"approved"}})");
  ASSERT_TRUE(wait_client([&] { return status() == "approved"; }));
  EXPECT_EQ(on_client([&] { return fetches(); }), 1U);
  EXPECT_EQ(on_client([&] { return client_->engine().stats().patches; }), 1U);
}

TEST_F(ClientIntegration, EventOfAnotherFactoryIsDroppedByTheClientScope) {
  start_server();
  // service_role: the server sends every factory's events; the client's own scope must drop B's.
  start_client(token_for("service_role"), core::factory_scope::of({"A"}));
  wait_ready();
  // Different actions: the coalescer keeps them apart (one (type, id, action) key each), so the plan sees both.
  publish(R"({"type":"wo","id":"1","factoryId":"B","action":"approve","version":5})");
  publish(R"({"type":"wo","id":"1","factoryId":"A","action":"update","version":2})");
  ASSERT_TRUE(wait_client([&] { return fetches() == 2 && idle(); }));
  EXPECT_GE(on_client([&] { return client_->engine().stats().drops; }), 1U);
}

TEST_F(ClientIntegration, ReconnectWithBackoffResumesByOffsetAndAppliesTheMissedEventsWithoutRefetch) {
  start_server();
  start_client(token_for("authenticated", {"A"}), core::factory_scope::of({"A"}));
  wait_ready();
  // The hub outlives the gateway here (the channel's history survives); only the socket layer restarts.
  auto keep = hub_->subscribe("doc:wo:1", std::make_shared<keeper>());
  const std::uint64_t connects_before = on_client([&] { return client_->engine().realtime().connects(); });
  stop_server();
  ASSERT_TRUE(wait_client([&] { return !client_->connected(); }));
  publish(R"({"type":"wo","id":"1","factoryId":"A","action":"approve","changedKeys":["status"],"version":2,)"
          R"("patch":{"status":"approved"}})");
  start_server(port_);
  ASSERT_TRUE(wait_client([&] { return joined() && status() == "approved"; }));
  EXPECT_GT(on_client([&] { return client_->engine().realtime().connects(); }), connects_before);
  EXPECT_EQ(on_client([&] { return fetches(); }), 1U) << "recovered: the replayed patch, no refetch";
  EXPECT_EQ(on_client([&] { return client_->engine().stats().recovery_refetches; }), 0U);
  EXPECT_EQ(on_client([&] { return client_->engine().realtime().position("doc:wo:1")->offset; }), 1U);
}

TEST_F(ClientIntegration, ServerRestartWithNewEpochsIsNotRecoveredAndRefetchesTheDocExactlyOnce) {
  start_server();
  start_client(token_for("authenticated", {"A"}), core::factory_scope::of({"A"}));
  wait_ready();
  backend_.put(R"(["doc","wo","1"])", json::parse(R"({"id":"1","status":"closed","version":9})"));
  restart_server_with_new_epochs();
  ASSERT_TRUE(wait_client([&] { return joined() && fetches() >= 2 && idle(); }));
  EXPECT_EQ(on_client([&] { return fetches(); }), 2U);
  EXPECT_EQ(on_client([&] { return status(); }), "closed");
  EXPECT_EQ(on_client([&] { return client_->engine().stats().recovery_refetches; }), 1U);
  EXPECT_EQ(on_client([&] { return client_->engine().realtime().position("doc:wo:1")->epoch; }).substr(0, 1), "r");
}

TEST_F(ClientIntegration, DroppingTheViewLeavesItsChannels) {
  start_server();
  start_client(token_for("authenticated", {"A"}), core::factory_scope::of({"A"}));
  wait_ready();
  ASSERT_EQ(hub_->metrics().subscribers, 2U);  // doc:wo:1 and factory:A
  on_client([&] {
    view_.reset();
    return 0;
  });
  ASSERT_TRUE(wait_for([&] { return hub_->metrics().subscribers == 0; }));
  EXPECT_TRUE(on_client([&] { return client_->engine().realtime().channels().empty(); }));
}

}  // namespace
}  // namespace rtcache::client
