// Unit tests for the reconnect back-off: exponential, capped, jittered by an injected draw.
#include "rtcache/pg/backoff.hpp"

#include <gtest/gtest.h>

namespace rtcache::pg {
namespace {

using std::chrono::milliseconds;

TEST(PgBackoff, DoublesFromInitialUpToTheCapWithoutJitterDraw) {
  backoff b({milliseconds(100), milliseconds(1000), 2.0, 0.5});
  EXPECT_EQ(b.next(0.0), milliseconds(100));
  EXPECT_EQ(b.next(0.0), milliseconds(200));
  EXPECT_EQ(b.next(0.0), milliseconds(400));
  EXPECT_EQ(b.next(0.0), milliseconds(800));
  EXPECT_EQ(b.next(0.0), milliseconds(1000));
  EXPECT_EQ(b.next(0.0), milliseconds(1000));
  EXPECT_EQ(b.failures(), 6U);
}

TEST(PgBackoff, JitterRemovesAtMostItsFraction) {
  backoff b({milliseconds(1000), milliseconds(1000), 2.0, 0.5});
  EXPECT_EQ(b.next(0.5), milliseconds(750));
  EXPECT_EQ(b.next(0.999), milliseconds(500));
}

TEST(PgBackoff, StaysCappedAfterManyFailures) {
  backoff b({milliseconds(200), milliseconds(30'000), 2.0, 0.0});
  milliseconds last{0};
  for (int i = 0; i < 200; ++i) last = b.next(0.3);
  EXPECT_EQ(last, milliseconds(30'000));
}

TEST(PgBackoff, ResetStartsAgainFromInitial) {
  backoff b({milliseconds(100), milliseconds(1000), 3.0, 0.0});
  b.next(0.0);
  b.next(0.0);
  b.reset();
  EXPECT_EQ(b.failures(), 0U);
  EXPECT_EQ(b.next(0.0), milliseconds(100));
}

}  // namespace
}  // namespace rtcache::pg
