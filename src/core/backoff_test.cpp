// Retry back-off: exponential from `initial`, capped, jitter only shortens a wait and by at most its fraction,
// nonsense policies and draws are clamped, and the counting wrapper starts over on reset. (Merged from the
// PostgreSQL source's and the C++ SDK's former copies.)
#include "rtcache/core/backoff.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace rtcache::core {
namespace {

using namespace std::chrono_literals;

TEST(Backoff, DoublesFromInitialUpToTheCapWhenTheDrawRemovesNothing) {
  const backoff_policy p{.initial = 100ms, .max = 1000ms, .multiplier = 2.0, .jitter = 0.5};
  EXPECT_EQ(backoff_delay(p, 0, 0.0), 100ms);
  EXPECT_EQ(backoff_delay(p, 1, 0.0), 200ms);
  EXPECT_EQ(backoff_delay(p, 2, 0.0), 400ms);
  EXPECT_EQ(backoff_delay(p, 3, 0.0), 800ms);
  EXPECT_EQ(backoff_delay(p, 4, 0.0), 1000ms);
  EXPECT_EQ(backoff_delay(p, 5, 0.0), 1000ms);
}

TEST(Backoff, GrowsByTheConfiguredMultiplier) {
  const backoff_policy p{.initial = 100ms, .max = 10'000ms, .multiplier = 3.0, .jitter = 0.0};
  EXPECT_EQ(backoff_delay(p, 1, 0.7), 300ms);
  EXPECT_EQ(backoff_delay(p, 2, 0.7), 900ms);
}

TEST(Backoff, StaysCappedForAnyAttemptNumber) {
  const backoff_policy p{.initial = 200ms, .max = 30'000ms, .multiplier = 2.0, .jitter = 0.0};
  EXPECT_EQ(backoff_delay(p, 200, 0.3), 30'000ms);
  EXPECT_EQ(backoff_delay(p, std::numeric_limits<std::uint32_t>::max(), 0.3), 30'000ms);
}

TEST(Backoff, JitterRemovesAtMostItsFractionOfTheWait) {
  const backoff_policy p{.initial = 1000ms, .max = 10'000ms, .multiplier = 2.0, .jitter = 0.5};
  EXPECT_EQ(backoff_delay(p, 0, 0.0), 1000ms);
  EXPECT_EQ(backoff_delay(p, 0, 0.5), 750ms);
  EXPECT_EQ(backoff_delay(p, 0, 0.999), 500ms);  // 500.5 truncated
  EXPECT_EQ(backoff_delay(p, 10, 0.999999), 5000ms);
  EXPECT_EQ(backoff_delay(p, 10, 1.0), 5000ms) << "never below (1 - jitter) of the capped wait";
}

TEST(Backoff, OutOfRangePoliciesAndDrawsAreClamped) {
  EXPECT_EQ(backoff_delay({.initial = 1000ms, .max = 10'000ms, .jitter = 7.0}, 0, 0.999999), 0ms);
  EXPECT_EQ(backoff_delay({.initial = 1000ms, .max = 10'000ms, .jitter = -1.0}, 0, 0.9), 1000ms);
  EXPECT_EQ(backoff_delay({.initial = 1000ms, .max = 10'000ms, .jitter = std::nan("")}, 0, 0.9), 1000ms);
  EXPECT_EQ(backoff_delay({.initial = 1000ms, .max = 10'000ms, .jitter = 0.5}, 0, -3.0), 1000ms);
  EXPECT_EQ(backoff_delay({.initial = 1000ms, .max = 10'000ms, .jitter = 0.5}, 0, 3.0), 500ms);
  EXPECT_EQ(backoff_delay({.initial = 1000ms, .max = 10'000ms, .multiplier = 0.5, .jitter = 0.0}, 3, 0.0), 1000ms)
      << "a multiplier below 1 never shrinks the wait";
  EXPECT_EQ(backoff_delay({.initial = -5ms, .max = 10'000ms}, 3, 0.0), 0ms);
  EXPECT_EQ(backoff_delay({.initial = 1000ms, .max = -1ms}, 0, 0.0), 0ms);
  EXPECT_EQ(backoff_delay({.initial = 1000ms, .max = 500ms, .jitter = 0.0}, 0, 0.0), 500ms)
      << "the cap wins over an initial wait above it";
}

TEST(Backoff, ZeroInitialNeverGrowsAndReturnsAtOnce) {
  EXPECT_EQ(backoff_delay({.initial = 0ms, .max = 10'000ms}, std::numeric_limits<std::uint32_t>::max(), 0.0), 0ms);
}

TEST(BackoffCounter, CountsFailuresAndWaitsLongerEachTime) {
  backoff b({.initial = 100ms, .max = 1000ms, .multiplier = 2.0, .jitter = 0.5});
  EXPECT_EQ(b.next(0.0), 100ms);
  EXPECT_EQ(b.next(0.0), 200ms);
  EXPECT_EQ(b.next(0.5), 300ms);
  EXPECT_EQ(b.failures(), 3U);
}

TEST(BackoffCounter, ResetStartsAgainFromInitial) {
  backoff b({.initial = 100ms, .max = 1000ms, .multiplier = 3.0, .jitter = 0.0});
  b.next(0.0);
  b.next(0.0);
  b.reset();
  EXPECT_EQ(b.failures(), 0U);
  EXPECT_EQ(b.next(0.0), 100ms);
}

}  // namespace
}  // namespace rtcache::core
