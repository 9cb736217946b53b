// Token buckets and the per-connection bound on client broadcasts (issue 11, finding 5), on a moved time value.
#include "ingest/rate_limit.hpp"

#include <gtest/gtest.h>

namespace rtcache::ingest {
namespace {

using namespace std::chrono_literals;
const token_bucket::time_point t0{std::chrono::seconds{1000}};

TEST(TokenBucket, StartsFullTakesWhatItHoldsAndRefillsAtItsRateUpToItsCapacity) {
  token_bucket b(2, 3, t0);
  EXPECT_TRUE(b.take(1, t0));
  EXPECT_TRUE(b.take(2, t0));
  EXPECT_FALSE(b.take(1, t0));
  EXPECT_FALSE(b.take(1, t0 + 499ms));  // 0.998 tokens
  EXPECT_TRUE(b.take(1, t0 + 500ms));
  EXPECT_DOUBLE_EQ(b.available(t0 + 1h), 3.0);  // capped
}

TEST(TokenBucket, ARefusedTakeTakesNothingAndTimeNeverRunsBackwards) {
  token_bucket b(1, 2, t0);
  EXPECT_FALSE(b.take(3, t0));
  EXPECT_DOUBLE_EQ(b.available(t0), 2.0);
  EXPECT_TRUE(b.take(2, t0 + 1s));
  EXPECT_DOUBLE_EQ(b.available(t0), 0.0);  // an earlier `now` adds nothing
}

TEST(BroadcastLimiter, MessagesPerSecondBoundTheBurstThenTheRate) {
  broadcast_limiter l({.messages_per_second = 10, .message_burst = 20, .bytes_per_second = 1e9, .byte_burst = 1e9}, t0);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(l.admit(10, t0), broadcast_limiter::verdict::ok) << i;
  EXPECT_EQ(l.admit(10, t0), broadcast_limiter::verdict::rate_limited);
  EXPECT_EQ(l.admit(10, t0 + 100ms), broadcast_limiter::verdict::ok);
  EXPECT_EQ(l.admit(10, t0 + 100ms), broadcast_limiter::verdict::rate_limited);
}

TEST(BroadcastLimiter, BytesPerSecondBoundLargePayloadsAndARefusalConsumesNoMessageToken) {
  broadcast_limiter l({.messages_per_second = 100, .message_burst = 2, .bytes_per_second = 1000, .byte_burst = 1000},
                      t0);
  EXPECT_EQ(l.admit(800, t0), broadcast_limiter::verdict::ok);
  EXPECT_EQ(l.admit(800, t0), broadcast_limiter::verdict::rate_limited);  // 200 bytes left
  EXPECT_EQ(l.admit(200, t0), broadcast_limiter::verdict::ok);            // the refusal took no message token
  EXPECT_EQ(l.admit(1, t0), broadcast_limiter::verdict::rate_limited);    // two messages taken: none left
  EXPECT_EQ(l.admit(800, t0 + 800ms), broadcast_limiter::verdict::ok);
}

TEST(BroadcastLimiter, APayloadLargerThanTheByteBurstIsTooLargeWhateverTheRate) {
  broadcast_limiter l({.messages_per_second = 10, .message_burst = 20, .bytes_per_second = 1000, .byte_burst = 4096},
                      t0);
  EXPECT_EQ(l.admit(4097, t0 + 1h), broadcast_limiter::verdict::too_large);
  EXPECT_EQ(l.admit(4096, t0 + 1h), broadcast_limiter::verdict::ok);
}

TEST(BroadcastLimiter, ABatchIsAdmittedWholeOrNotAtAll) {
  broadcast_limiter l({.messages_per_second = 1, .message_burst = 5, .bytes_per_second = 1e9, .byte_burst = 1e9}, t0);
  EXPECT_EQ(l.admit(6, 10, t0), broadcast_limiter::verdict::rate_limited);
  EXPECT_EQ(l.admit(5, 10, t0), broadcast_limiter::verdict::ok);  // the refusal took nothing
  EXPECT_EQ(l.admit(1, 10, t0), broadcast_limiter::verdict::rate_limited);
}

TEST(AddressRateLimits, EachAddressHasItsOwnBucketsAndTheLeastRecentlyUsedIsDroppedBeyondTheBound) {
  address_rate_limits limits(
      {.messages_per_second = 0.001, .message_burst = 2, .bytes_per_second = 1e9, .byte_burst = 1e9}, 2);
  EXPECT_EQ(limits.admit("a", 2, 0, t0), broadcast_limiter::verdict::ok);
  EXPECT_EQ(limits.admit("a", 1, 0, t0), broadcast_limiter::verdict::rate_limited);
  EXPECT_EQ(limits.admit("b", 2, 0, t0), broadcast_limiter::verdict::ok);            // its own buckets
  EXPECT_EQ(limits.admit("a", 1, 0, t0), broadcast_limiter::verdict::rate_limited);  // a is now the most recent
  EXPECT_EQ(limits.admit("c", 1, 0, t0), broadcast_limiter::verdict::ok);            // drops b, used least recently
  EXPECT_EQ(limits.size(), 2U);
  EXPECT_EQ(limits.admit("a", 1, 0, t0), broadcast_limiter::verdict::rate_limited);  // a kept its empty bucket
  EXPECT_EQ(limits.admit("b", 2, 0, t0), broadcast_limiter::verdict::ok);            // b starts over
}

}  // namespace
}  // namespace rtcache::ingest
