// Test support: an in-process rtcache gateway on an ephemeral port, run by two io threads, with its hub, verifier
// (HS256, k_test_secret) and a hub_sink publishing the test mapping's rows (test_rows.hpp); the suites drive it over
// real sockets with gateway_client.hpp. Not part of any library that ships.
#pragma once

#include "auth/auth.hpp"
#include "gateway/gateway.hpp"
#include "gateway/log.hpp"
#include "gateway_client.hpp"
#include "hub/hub.hpp"
#include "ingest/hub_sink.hpp"
#include "routing/mapping_config.hpp"
#include "test_rows.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/value.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace rtcache::testing {

class gateway_fixture : public ::testing::Test {
 public:
  // Polls `cond` until it holds or the bound passes (yielding, not sleeping a fixed time). Also for tests without
  // the fixture (cluster_node_test.cpp).
  static bool wait_for(const std::function<bool()>& cond, std::chrono::steady_clock::duration bound = k_wait);

 protected:
  // The hub's epochs are "t1", "t2", ... unless `epochs` says otherwise (hub.hpp: counter_epochs).
  explicit gateway_fixture(hub::hub_config hc = {}, hub::hub_epoch_source epochs = hub::counter_epochs("t"));
  ~gateway_fixture() override;

  // Starts the gateway on 127.0.0.1 and an ephemeral port (port_), with the fixture's mapping unless cfg has one.
  void start(gateway::gateway_config cfg = {});

  // Publishes 16 KiB messages to channel "flood" until a connection's send queue overflows (4008).
  // `pause` between publishes lets the server's writer start on the socket before the queue overflows (a tight
  // loop on a loaded machine can overflow the queue before the first write begins, leaving no write in flight).
  bool flood_until_overflow(std::chrono::milliseconds pause = std::chrono::milliseconds(0));

  http_answer post_events(std::string body, const std::string& token = service_token());
  http_answer post_broadcast(std::string body, const std::string& token = service_token());
  http_answer get_metrics(std::vector<std::pair<std::string, std::string>> headers = {});

  // Joins `topic` on a v1 client and returns the join reply.
  static boost::json::value join(ws_client& c, std::string_view topic, std::string_view ref = "1",
                                 std::string_view payload = R"({"config":{}})");

  // Declaration order matters: what the io_context's handlers reach must outlive it.
  gateway::logger log_{gateway::log_level::off};
  auth::jwt_verifier verifier_;
  hub::hub hub_;
  std::shared_ptr<const routing::mapping_config> mapping_ = test_mapping();  // test_rows.hpp
  ingest::hub_sink sink_{hub_, {}, {}, gateway::flush_scoped};  // as main wires it: one write per transaction
  // The node the gateway serves (gateway::set_node), when a test sets one before start(); the hub alone otherwise.
  // Declared before the io_context: it outlives the handlers. A node with threads of its own stops them itself first.
  std::unique_ptr<gateway::serving_node> node_;
  int io_threads_ = 2;  // how many threads run the io_context (start())
  boost::asio::io_context ioc_;
  std::optional<gateway::gateway> gw_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
};

}  // namespace rtcache::testing
