// The serve config: TOML sections, environment overrides, and precise problems for check-config.
#include "rtcache/net/gateway_config.hpp"

#include <gtest/gtest.h>

#include <map>

namespace rtcache::net {
namespace {

env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

constexpr std::string_view k_secret = "0123456789abcdef0123456789abcdef";

TEST(GatewayConfig, ReadsEverySection) {
  serve_config c;
  std::vector<config_problem> problems;
  read_config_toml(R"(
[server]
listen = "0.0.0.0:4100"
threads = 3
log_level = "debug"
[auth]
jwt_secret = "0123456789abcdef0123456789abcdef"
scope_claim = "app_metadata.factories"
[limits]
max_send_queue_bytes = 65536
joins_per_second = 2.5
idle_timeout_ms = 1000
[hub]
max_history_messages = 16
[contract]
doc_types = ["wo", "pl"]
)",
                   "a.toml", c, problems);
  EXPECT_TRUE(problems.empty()) << problems.front().where << ": " << problems.front().message;
  EXPECT_EQ(c.gateway.listen_address, "0.0.0.0");
  EXPECT_EQ(c.gateway.port, 4100);
  EXPECT_EQ(c.gateway.threads, 3U);
  EXPECT_EQ(c.log, log_level::debug);
  EXPECT_EQ(c.auth.scope_claim, "app_metadata.factories");
  EXPECT_EQ(c.gateway.limits.max_send_queue_bytes, 65536U);
  EXPECT_EQ(c.gateway.limits.joins_per_second, 2.5);
  EXPECT_EQ(c.gateway.limits.idle_timeout, std::chrono::milliseconds(1000));
  EXPECT_EQ(c.hub.max_history_messages, 16U);
  EXPECT_EQ(c.doc_types, (std::vector<std::string>{"wo", "pl"}));
}

TEST(GatewayConfig, ReportsEveryProblemWithItsPosition) {
  serve_config c;
  std::vector<config_problem> problems;
  read_config_toml("[server]\nlisten = \"nope\"\nthreads = -1\ncolour = 1\n[limits]\nmax_frame_bytes = \"big\"\n",
                   "b.toml", c, problems);
  ASSERT_EQ(problems.size(), 4U);
  EXPECT_EQ(problems[0].where, "b.toml:2:10 server.listen");
  EXPECT_NE(problems[0].message.find("host:port"), std::string::npos);
  EXPECT_EQ(problems[1].where, "b.toml:3:11 server.threads");
  EXPECT_EQ(problems[2].where, "b.toml:4:10 server.colour");
  EXPECT_EQ(problems[3].where, "b.toml:6:19 limits.max_frame_bytes");
}

TEST(GatewayConfig, SyntaxErrorIsOneProblemWithItsPosition) {
  serve_config c;
  std::vector<config_problem> problems;
  read_config_toml("[server\n", "c.toml", c, problems);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].where.rfind("c.toml:1:", 0), 0U);
}

TEST(GatewayConfig, NoFileIsRelayModeOnLoopback4000OnceASecretIsSet) {
  const auto missing = load_config(std::nullopt, env_of({}));
  ASSERT_EQ(missing.problems.size(), 1U);
  EXPECT_EQ(missing.problems[0].where, "auth.jwt_secret");
  const auto ok = load_config(std::nullopt, env_of({{"RTCACHE_JWT_SECRET", std::string(k_secret)}}));
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.config.gateway.listen_address, "127.0.0.1");
  EXPECT_EQ(ok.config.gateway.port, 4000);
}

TEST(GatewayConfig, EnvironmentOverridesAndIsChecked) {
  const auto l = load_config(std::nullopt, env_of({{"RTCACHE_JWT_SECRET", std::string(k_secret)},
                                                   {"RTCACHE_LISTEN", "[::1]:0"},
                                                   {"RTCACHE_THREADS", "x"},
                                                   {"RTCACHE_LOG_LEVEL", "error"}}));
  ASSERT_EQ(l.problems.size(), 1U);
  EXPECT_EQ(l.problems[0].where, "env RTCACHE_THREADS");
  EXPECT_EQ(l.config.gateway.listen_address, "::1");
  EXPECT_EQ(l.config.log, log_level::error);
}

TEST(GatewayConfig, ShortSecretAndBadDocTypesAreRefused) {
  serve_config c;
  c.auth.jwt_secret = "short";
  c.doc_types = {"Bad-Type"};
  std::vector<config_problem> problems;
  validate(c, problems);
  ASSERT_EQ(problems.size(), 2U);
  EXPECT_EQ(problems[0].where, "auth.jwt_secret");
  EXPECT_EQ(problems[1].where, "contract.doc_types");
}

}  // namespace
}  // namespace rtcache::net
