// The in-process gateway the socket-level suites run against (gateway_fixture.hpp).
#include "gateway_fixture.hpp"

#include "ingest/relay.hpp"
#include "rtcache/core/doc_types.hpp"

#include <boost/beast/http/verb.hpp>
#include <boost/json/parse.hpp>

namespace rtcache::testing {

namespace http = boost::beast::http;
namespace json = boost::json;

gateway_fixture::gateway_fixture(hub::hub_config hc, hub::hub_epoch_source epochs)
    : verifier_(auth::jwt_verifier::create({auth::verification_key::hs256(k_test_secret).value()}).value()),
      hub_(hc, ingest::make_broadcast_encoder(), std::move(epochs)) {}

gateway_fixture::~gateway_fixture() {
  if (gw_) {
    gw_->stop();
    wait_for([&] { return gw_->sessions() == 0; });
  }
  ioc_.stop();
  for (auto& t : threads_) t.join();
  gw_.reset();
}

void gateway_fixture::start(gateway::gateway_config cfg) {
  cfg.listen_address = "127.0.0.1";
  cfg.port = 0;
  if (!cfg.mapping) cfg.mapping = mapping_;
  gw_.emplace(ioc_, cfg, hub_, verifier_, core::doc_type_registry::defaults(), log_);
  if (node_) gw_->set_node(*node_);
  port_ = gw_->start();
  for (int i = 0; i < io_threads_; ++i) threads_.emplace_back([this] { ioc_.run(); });
}

bool gateway_fixture::wait_for(const std::function<bool()>& cond, std::chrono::steady_clock::duration bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

bool gateway_fixture::flood_until_overflow(std::chrono::milliseconds pause) {
  const std::string payload = "\"" + std::string(16 * 1024, 'x') + "\"";
  return wait_for([&] {
    hub_.publish("flood", "big", payload);
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
    return gw_->metrics().queue_overflow_closes_total.Value() >= 1;
  });
}

http_answer gateway_fixture::post_events(std::string body, const std::string& token) {
  return http_call(port_, http::verb::post, "/v1/events", std::move(body), {{"Authorization", "Bearer " + token}});
}

http_answer gateway_fixture::post_broadcast(std::string body, const std::string& token) {
  return http_call(port_, http::verb::post, "/api/broadcast", std::move(body), {{"Authorization", "Bearer " + token}});
}

http_answer gateway_fixture::get_metrics(std::vector<std::pair<std::string, std::string>> headers) {
  return http_call(port_, http::verb::get, "/metrics", {}, std::move(headers));
}

json::value gateway_fixture::join(ws_client& c, std::string_view topic, std::string_view ref,
                                  std::string_view payload) {
  c.send(v1_join(topic, ref, payload));
  return c.read_until([&](const json::value& v) { return is_reply(v, ref); });
}

}  // namespace rtcache::testing
