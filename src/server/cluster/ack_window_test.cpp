// The watermark bookkeeping on its own: no server, no clock.
#include "cluster/ack_window.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

namespace rtcache::cluster {
namespace {

TEST(AckWindow, WatermarkIsTheContiguousAcknowledgedPrefix) {
  ack_window w(8);
  for (int i = 0; i < 4; ++i) w.open();
  EXPECT_EQ(w.acked_through(), 0u);
  EXPECT_TRUE(w.complete(2, true));
  EXPECT_TRUE(w.complete(3, true));
  EXPECT_EQ(w.acked_through(), 0u) << "ticket 1 is still out";
  EXPECT_TRUE(w.complete(1, true));
  EXPECT_EQ(w.acked_through(), 3u) << "the gap closed: 1..3 all acknowledged";
  EXPECT_EQ(w.in_flight(), 1u);
  EXPECT_TRUE(w.complete(4, true));
  EXPECT_EQ(w.acked_through(), 4u);
}

TEST(AckWindow, AFailureStopsTheWatermarkBelowItForGood) {
  ack_window w(8);
  for (int i = 0; i < 5; ++i) w.open();
  w.complete(1, true);
  w.complete(3, false);
  w.complete(2, true);
  w.complete(4, true);
  w.complete(5, true);
  EXPECT_EQ(w.acked_through(), 2u);
  EXPECT_EQ(w.first_failure(), 3u);
  for (int i = 0; i < 5; ++i) w.complete(w.open(), true);
  EXPECT_EQ(w.acked_through(), 2u) << "nothing after a failure is ever confirmed";
}

TEST(AckWindow, TheLowestFailureIsReportedWhateverTheOrder) {
  ack_window w(8);
  for (int i = 0; i < 4; ++i) w.open();
  w.complete(4, false);
  w.complete(2, false);
  EXPECT_EQ(w.first_failure(), 2u);
  w.complete(1, true);
  EXPECT_EQ(w.acked_through(), 1u);
}

TEST(AckWindow, BoundsTicketsBeyondTheWatermarkEvenWhenCompletedOutOfOrder) {
  ack_window w(4);
  for (int i = 0; i < 4; ++i) w.open();
  EXPECT_FALSE(w.can_open());
  // 2..4 acknowledged, 1 still out: only one in flight, but the watermark cannot move, so the ring is full.
  w.complete(2, true);
  w.complete(3, true);
  w.complete(4, true);
  EXPECT_EQ(w.in_flight(), 1u);
  EXPECT_FALSE(w.can_open());
  w.complete(1, true);
  EXPECT_TRUE(w.can_open());
  EXPECT_EQ(w.acked_through(), 4u);
}

TEST(AckWindow, AfterAFailureBoundsTicketsInFlight) {
  ack_window w(3);
  w.open();
  w.complete(1, false);
  const auto a = w.open();
  const auto b = w.open();
  w.open();
  EXPECT_FALSE(w.can_open()) << "three in flight after the failure";
  w.complete(a, true);
  EXPECT_TRUE(w.can_open());
  w.complete(b, false);
  EXPECT_EQ(w.in_flight(), 1u);
  EXPECT_EQ(w.first_failure(), 1u);
}

TEST(AckWindow, IgnoresUnknownAndRepeatedCompletions) {
  ack_window w(4);
  w.open();
  w.open();
  EXPECT_FALSE(w.complete(0, true));
  EXPECT_FALSE(w.complete(3, true)) << "never issued";
  EXPECT_TRUE(w.complete(1, true));
  EXPECT_FALSE(w.complete(1, false)) << "already completed (and below the watermark)";
  EXPECT_TRUE(w.complete(2, false));
  EXPECT_FALSE(w.complete(2, true)) << "already completed";
  EXPECT_EQ(w.acked_through(), 1u);
  EXPECT_EQ(w.first_failure(), 2u);
  EXPECT_EQ(w.in_flight(), 0u);
}

// Against a reference model: random completion orders and failures, checked after every step.
TEST(AckWindow, MatchesAReferenceModelUnderRandomCompletionOrders) {
  std::mt19937 rng(13);
  for (int round = 0; round < 200; ++round) {
    const std::size_t cap = 1 + rng() % 16;
    ack_window w(cap);
    std::vector<std::uint64_t> open;
    std::set<std::uint64_t> acked;
    std::optional<std::uint64_t> failed;
    std::uint64_t issued = 0;
    for (int step = 0; step < 300; ++step) {
      const bool do_open = open.empty() || (w.can_open() && rng() % 2 == 0);
      if (do_open) {
        if (!w.can_open()) break;
        open.push_back(w.open());
        ++issued;
        ASSERT_EQ(open.back(), issued);
      } else {
        const std::size_t i = rng() % open.size();
        const std::uint64_t t = open[i];
        open.erase(open.begin() + static_cast<std::ptrdiff_t>(i));
        const bool ok = rng() % 50 != 0;
        ASSERT_TRUE(w.complete(t, ok));
        if (ok) {
          acked.insert(t);
        } else if (!failed || t < *failed) {
          failed = t;
        }
      }
      std::uint64_t expect = 0;
      while (acked.count(expect + 1) != 0) ++expect;
      ASSERT_EQ(w.acked_through(), expect) << "round " << round << " step " << step;
      ASSERT_EQ(w.first_failure(), failed);
      ASSERT_EQ(w.in_flight(), open.size());
      if (!failed) {
        ASSERT_LE(issued - w.acked_through(), cap);
      }
    }
  }
}

}  // namespace
}  // namespace rtcache::cluster
