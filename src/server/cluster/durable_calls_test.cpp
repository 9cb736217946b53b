// durable_calls: which source calls are durable given their tickets' outcomes, in any order.
#include "cluster/durable_calls.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

namespace rtcache::cluster {
namespace {

TEST(DurableCalls, ACallIsDurableOnlyOnceEveryTicketUpToItsLastIsGood) {
  durable_calls d;
  d.call(1, 2);  // tickets 1, 2
  d.call(2, 3);  // ticket 3
  EXPECT_EQ(d.durable_through(), 0u);
  EXPECT_FALSE(d.outcome(2, true));
  EXPECT_FALSE(d.outcome(3, true));
  EXPECT_EQ(d.durable_through(), 0u) << "ticket 1 is still in flight";
  EXPECT_TRUE(d.outcome(1, true));
  EXPECT_EQ(d.durable_through(), 2u);
}

TEST(DurableCalls, OutcomesMayArriveBeforeTheirCallIsRecorded) {
  durable_calls d;
  d.outcome(1, true);
  d.outcome(2, true);
  EXPECT_EQ(d.good_through(), 2u);
  EXPECT_TRUE(d.call(1, 2));
  EXPECT_EQ(d.durable_through(), 1u);
}

TEST(DurableCalls, ACallThatPublishedNothingIsDurableWithTheTicketsBeforeIt) {
  durable_calls d;
  EXPECT_TRUE(d.call(1, 0)) << "nothing was ever published";
  EXPECT_EQ(d.durable_through(), 1u);
  d.call(2, 1);
  d.call(3, 1);  // a replay the stream already held
  EXPECT_EQ(d.durable_through(), 1u);
  EXPECT_EQ(d.pending_calls(), 1u) << "calls sharing a last ticket are one entry";
  d.outcome(1, true);
  EXPECT_EQ(d.durable_through(), 3u);
}

TEST(DurableCalls, ABadOutcomeStopsDurableThroughBelowItForGood) {
  durable_calls d;
  d.call(1, 1);
  d.call(2, 2);
  d.call(3, 3);
  d.outcome(1, true);
  d.outcome(2, false);
  d.outcome(3, true);
  EXPECT_EQ(d.durable_through(), 1u);
  EXPECT_EQ(d.first_bad(), 2u);
  d.call(4, 3);
  EXPECT_EQ(d.durable_through(), 1u);
  EXPECT_EQ(d.outcomes_ahead(), 0u) << "outcomes beyond a failure are not kept";
}

TEST(DurableCalls, RestartingCallsKeepsTicketsAndResetForgetsThem) {
  durable_calls d;
  d.call(1, 1);
  d.outcome(1, true);
  d.restart_calls();
  EXPECT_EQ(d.durable_through(), 0u);
  d.call(1, 1);  // a new stream's first call, nothing new published
  EXPECT_EQ(d.durable_through(), 1u);
  d.outcome(2, false);
  d.reset();
  EXPECT_EQ(d.good_through(), 0u);
  EXPECT_FALSE(d.first_bad());
  d.call(1, 1);
  EXPECT_EQ(d.durable_through(), 0u);
  d.outcome(1, true);
  EXPECT_EQ(d.durable_through(), 1u);
}

// Against a reference: calls of 0..3 tickets each, outcomes in a random order, all good.
TEST(DurableCalls, AnyCompletionOrderGivesTheReferencesDurableThrough) {
  std::mt19937 rng(13);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::uint64_t> last_of;  // call i (1-based) -> its last ticket
    std::uint64_t tickets = 0;
    const int ncalls = 1 + static_cast<int>(rng() % 20);
    for (int i = 0; i < ncalls; ++i) {
      tickets += rng() % 4;
      last_of.push_back(tickets);
    }
    std::vector<std::uint64_t> order(tickets);
    std::iota(order.begin(), order.end(), 1);
    std::shuffle(order.begin(), order.end(), rng);
    durable_calls d;
    std::size_t recorded = 0;
    std::vector<bool> done(tickets + 1, false);
    for (std::size_t step = 0; step <= order.size(); ++step) {
      // Interleave: record some calls, then complete one ticket.
      while (recorded < last_of.size() && rng() % 2 == 0) {
        d.call(recorded + 1, last_of[recorded]);
        ++recorded;
      }
      if (step < order.size()) {
        d.outcome(order[step], true);
        done[order[step]] = true;
      }
      std::uint64_t good = 0;
      while (good < tickets && done[good + 1]) ++good;
      std::uint64_t want = 0;
      for (std::size_t c = 0; c < recorded && last_of[c] <= good; ++c) want = c + 1;
      ASSERT_EQ(d.durable_through(), want) << "round " << round << " step " << step;
      ASSERT_LE(d.pending_calls(), tickets - good + 1);
    }
  }
}

}  // namespace
}  // namespace rtcache::cluster
