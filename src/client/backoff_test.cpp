// Back-off delays: exponential from base, capped, jitter only shortens within the stated fraction.
#include "rtcache/client/backoff.hpp"

#include <gtest/gtest.h>

namespace rtcache::client {
namespace {

using namespace std::chrono_literals;

TEST(Backoff, DoublesFromBaseUntilTheCap) {
  const backoff_config c{1000ms, 10000ms, 0.0};
  EXPECT_EQ(backoff_delay(c, 0, 0.3), 1000ms);
  EXPECT_EQ(backoff_delay(c, 1, 0.3), 2000ms);
  EXPECT_EQ(backoff_delay(c, 2, 0.3), 4000ms);
  EXPECT_EQ(backoff_delay(c, 3, 0.3), 8000ms);
  EXPECT_EQ(backoff_delay(c, 4, 0.3), 10000ms);
  EXPECT_EQ(backoff_delay(c, 4000000000U, 0.3), 10000ms);
}

TEST(Backoff, JitterStaysWithinItsFractionOfTheDelay) {
  const backoff_config c{1000ms, 10000ms, 0.5};
  EXPECT_EQ(backoff_delay(c, 0, 0.0), 500ms);
  EXPECT_EQ(backoff_delay(c, 0, 0.5), 750ms);
  EXPECT_EQ(backoff_delay(c, 0, 0.999999), 999ms);
  EXPECT_EQ(backoff_delay(c, 10, 0.0), 5000ms);
  EXPECT_LE(backoff_delay(c, 10, 1.0), 10000ms);
}

TEST(Backoff, OutOfRangeInputsAreClamped) {
  EXPECT_EQ(backoff_delay({1000ms, 10000ms, 7.0}, 0, 0.0), 0ms);
  EXPECT_EQ(backoff_delay({1000ms, 10000ms, -1.0}, 0, 0.0), 1000ms);
  EXPECT_EQ(backoff_delay({1000ms, 10000ms, 0.5}, 0, -3.0), 500ms);
}

}  // namespace
}  // namespace rtcache::client
