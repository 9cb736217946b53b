// Who may read GET /metrics (issue 11, finding 10): a configured bearer token, a listen address of its own, and
// loopback peers only when neither is configured.
#include "gateway/metrics_access.hpp"

#include <gtest/gtest.h>

namespace rtcache::gateway {
namespace {

using boost::asio::ip::make_address;

TEST(MetricsAccess, WithNeitherTokenNorListenOnlyLoopbackPeersAreServed) {
  const metrics_settings open{};
  EXPECT_EQ(metrics_access(open, false, make_address("127.0.0.1"), ""), metrics_verdict::serve);
  EXPECT_EQ(metrics_access(open, false, make_address("127.8.9.10"), ""), metrics_verdict::serve);
  EXPECT_EQ(metrics_access(open, false, make_address("::1"), ""), metrics_verdict::serve);
  EXPECT_EQ(metrics_access(open, false, make_address("::ffff:127.0.0.1"), ""), metrics_verdict::serve);
  EXPECT_EQ(metrics_access(open, false, make_address("10.0.0.5"), ""), metrics_verdict::forbidden);
  EXPECT_EQ(metrics_access(open, false, make_address("2001:db8::1"), ""), metrics_verdict::forbidden);
  EXPECT_EQ(metrics_access(open, false, make_address("::ffff:10.0.0.5"), ""), metrics_verdict::forbidden);
}

TEST(MetricsAccess, ATokenIsRequiredFromEveryPeerLoopbackIncluded) {
  metrics_settings s;
  s.bearer_token = "scrape-token-0123456789";
  EXPECT_EQ(metrics_access(s, false, make_address("10.0.0.5"), "Bearer scrape-token-0123456789"),
            metrics_verdict::serve);
  EXPECT_EQ(metrics_access(s, false, make_address("127.0.0.1"), ""), metrics_verdict::unauthorized);
  EXPECT_EQ(metrics_access(s, false, make_address("127.0.0.1"), "Bearer scrape-token-012345678"),
            metrics_verdict::unauthorized);
  EXPECT_EQ(metrics_access(s, false, make_address("127.0.0.1"), "Basic scrape-token-0123456789"),
            metrics_verdict::unauthorized);
  EXPECT_EQ(metrics_access(s, false, make_address("127.0.0.1"), "Bearer "), metrics_verdict::unauthorized);
}

TEST(MetricsAccess, AListenAddressOfItsOwnServesAnyPeerThereAndNothingOnTheMainPort) {
  metrics_settings s;
  s.listen = std::pair<std::string, std::uint16_t>{"10.0.0.1", 9464};
  EXPECT_EQ(metrics_access(s, true, make_address("10.0.0.5"), ""), metrics_verdict::serve);
  EXPECT_EQ(metrics_access(s, false, make_address("127.0.0.1"), ""), metrics_verdict::not_found);
  s.bearer_token = "scrape-token-0123456789";
  EXPECT_EQ(metrics_access(s, true, make_address("10.0.0.5"), ""), metrics_verdict::unauthorized);
}

TEST(TokenMatches, EqualOnlyForTheSameBytes) {
  EXPECT_TRUE(token_matches("abc", "abc"));
  EXPECT_FALSE(token_matches("abc", "abd"));
  EXPECT_FALSE(token_matches("ab", "abc"));
  EXPECT_FALSE(token_matches("", "abc"));
}

}  // namespace
}  // namespace rtcache::gateway
