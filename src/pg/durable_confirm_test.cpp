// Confirm only what the sink made durable, the backlog bound and the stall bound (issue 13), on a manual clock.
#include "rtcache/pg/durable_confirm.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace rtcache::pg {
namespace {

using namespace std::chrono_literals;
using time_point = durable_confirm::time_point;

const time_point t0{};

TEST(DurableConfirm, ConfirmsNothingBeforeTheSinkSaysDurable) {
  durable_confirm d({}, lsn{10});
  EXPECT_EQ(d.record(3, lsn{100}), 1U);
  EXPECT_EQ(d.record(2, lsn{200}), 2U);
  EXPECT_EQ(d.confirmed(), lsn{10});
  EXPECT_EQ(d.recorded(), lsn{200});
  EXPECT_EQ(d.unconfirmed_messages(), 5U);
  d.durable_through(1);
  EXPECT_EQ(d.confirmed(), lsn{100});
  EXPECT_EQ(d.unconfirmed_messages(), 2U);
  d.durable_through(2);
  EXPECT_EQ(d.confirmed(), lsn{200});
  EXPECT_EQ(d.unconfirmed_messages(), 0U);
  EXPECT_EQ(d.unconfirmed_calls(), 0U);
}

// A batch in the middle of a transaction confirms nothing new: only the transaction's last batch moves it.
TEST(DurableConfirm, AMidTransactionBatchKeepsThePreviousPosition) {
  durable_confirm d({}, lsn{10});
  d.record(4096, lsn{10});  // flushed mid-transaction
  d.record(7, lsn{500});    // the commit
  d.durable_through(1);
  EXPECT_EQ(d.confirmed(), lsn{10});
  d.durable_through(2);
  EXPECT_EQ(d.confirmed(), lsn{500});
}

TEST(DurableConfirm, ConfirmedPositionsNeverGoBack) {
  durable_confirm d({}, lsn{300});
  d.record(1, lsn{200});  // below the start: raised
  d.durable_through(1);
  EXPECT_EQ(d.confirmed(), lsn{300});
}

TEST(DurableConfirm, ReportsBeyondWhatWasRecordedOrBackwardsAreIgnored) {
  durable_confirm d({}, lsn{10});
  d.record(1, lsn{100});
  d.durable_through(5);  // never issued
  EXPECT_EQ(d.confirmed(), lsn{10});
  d.record(1, lsn{200});
  d.durable_through(2);
  d.durable_through(1);
  EXPECT_EQ(d.confirmed(), lsn{200});
  EXPECT_EQ(d.durable_sequence(), 2U);
}

TEST(DurableConfirm, RestartForgetsWhatIsNotDurableAndNumbersFromOne) {
  durable_confirm d({}, lsn{10});
  d.record(5, lsn{100});
  d.record(5, lsn{200});
  d.durable_through(1);
  d.restart(lsn{100});
  EXPECT_EQ(d.unconfirmed_messages(), 0U);
  EXPECT_EQ(d.confirmed(), lsn{100});
  EXPECT_EQ(d.record(1, lsn{200}), 1U);
  d.durable_through(1);
  EXPECT_EQ(d.confirmed(), lsn{200});
}

// The backlog bound: reached at max_unconfirmed_messages, left as soon as something becomes durable below it.
TEST(DurableConfirm, BacklogIsFullAtTheBoundAndClearsWhenDurable) {
  durable_confirm d({.max_unconfirmed_messages = 10, .stall_timeout = 10s});
  d.record(6, lsn{1});
  EXPECT_FALSE(d.backlog_full());
  d.record(4, lsn{2});
  EXPECT_TRUE(d.backlog_full());
  d.record(3, lsn{3});  // a publish in flight when the bound was reached may overshoot it
  EXPECT_EQ(d.unconfirmed_messages(), 13U);
  d.durable_through(1);
  EXPECT_FALSE(d.backlog_full());
}

TEST(DurableConfirm, StallsOnlyWhenSomethingIsOutstandingAndNothingMovedForTheBound) {
  durable_confirm d({.max_unconfirmed_messages = 100, .stall_timeout = 10s});
  d.tick(t0);
  EXPECT_FALSE(d.stalled(t0 + 1h));  // nothing outstanding: an idle stream never stalls
  d.record(1, lsn{1});
  d.tick(t0 + 1s);  // the clock starts
  EXPECT_FALSE(d.stalled(t0 + 10s));
  EXPECT_TRUE(d.stalled(t0 + 11s));
  d.record(1, lsn{2});
  d.durable_through(1);  // progress restarts the clock at the next tick
  d.tick(t0 + 12s);
  EXPECT_FALSE(d.stalled(t0 + 21s));
  EXPECT_TRUE(d.stalled(t0 + 22s));
  d.durable_through(2);
  d.tick(t0 + 23s);
  EXPECT_FALSE(d.stalled(t0 + 1h));
}

// A reference model over random acknowledgement orders: confirmed is always the confirm_to of the longest durable
// prefix, and the backlog counts exactly the messages of the calls after it.
TEST(DurableConfirm, MatchesAPrefixModelOverRandomAcknowledgements) {
  std::mt19937 rng(13);
  for (int round = 0; round < 200; ++round) {
    durable_confirm d({.max_unconfirmed_messages = 1'000'000, .stall_timeout = 10s});
    std::vector<std::size_t> messages;
    std::vector<lsn> confirm_to;
    std::uint64_t position = 0;
    std::uint64_t acked = 0;
    for (int step = 0; step < 50; ++step) {
      if (rng() % 3 != 0) {
        const std::size_t m = rng() % 5;
        if (rng() % 2 == 0) position += 1 + rng() % 100;  // a commit or a position; else mid-transaction
        messages.push_back(m);
        confirm_to.push_back(lsn{position});
        ASSERT_EQ(d.record(m, lsn{position}), messages.size());
      } else if (acked < messages.size()) {
        acked += 1 + rng() % (messages.size() - acked);
        d.durable_through(acked);
      }
      const lsn want = acked == 0 ? lsn{} : confirm_to[acked - 1];
      std::size_t outstanding = 0;
      for (std::size_t i = acked; i < messages.size(); ++i) outstanding += messages[i];
      ASSERT_EQ(d.confirmed(), want) << "round " << round << " step " << step;
      ASSERT_EQ(d.unconfirmed_messages(), outstanding);
    }
  }
}

}  // namespace
}  // namespace rtcache::pg
