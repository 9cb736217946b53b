// Unit tests for the confirm bookkeeping: the flush position never passes an unaccepted commit.
#include "rtcache/pg/confirm_tracker.hpp"

#include <gtest/gtest.h>

namespace rtcache::pg {
namespace {

TEST(ConfirmTracker, StartsAtTheSlotsConfirmedPosition) {
  const confirm_tracker t(lsn{500});
  EXPECT_EQ(t.confirmed(), lsn{500});
  EXPECT_FALSE(t.in_transaction());
}

TEST(ConfirmTracker, ConfirmsTheCommitEndOnlyOnceCommitted) {
  confirm_tracker t(lsn{100});
  EXPECT_TRUE(t.begin(lsn{200}));
  t.received(lsn{150});
  EXPECT_EQ(t.confirmed(), lsn{100});
  EXPECT_TRUE(t.in_transaction());
  t.committed(lsn{240});
  EXPECT_EQ(t.confirmed(), lsn{240});
  EXPECT_FALSE(t.in_transaction());
}

TEST(ConfirmTracker, KeepaliveDuringAnOpenTransactionDoesNotConfirm) {
  confirm_tracker t(lsn{100});
  t.begin(lsn{200});
  t.keepalive(lsn{900});
  EXPECT_EQ(t.confirmed(), lsn{100});
}

TEST(ConfirmTracker, KeepaliveWhenIdleAdvancesPastFilteredTransactions) {
  confirm_tracker t(lsn{100});
  t.keepalive(lsn{900});
  EXPECT_EQ(t.confirmed(), lsn{900});
  t.keepalive(lsn{800});  // never backwards
  EXPECT_EQ(t.confirmed(), lsn{900});
}

TEST(ConfirmTracker, SkipsResentTransactionsThatEndedBeforeTheConfirmedPosition) {
  confirm_tracker t(lsn{500});
  EXPECT_FALSE(t.begin(lsn{400}));
  EXPECT_TRUE(t.skipping());
  t.committed(lsn{450});
  EXPECT_EQ(t.confirmed(), lsn{500});
  EXPECT_TRUE(t.begin(lsn{500}));  // a commit record starting at the confirmed position is new
  EXPECT_FALSE(t.skipping());
}

TEST(ConfirmTracker, AbandonedTransactionLeavesTheConfirmedPosition) {
  confirm_tracker t(lsn{100});
  t.begin(lsn{200});
  t.abandon();
  EXPECT_FALSE(t.in_transaction());
  EXPECT_EQ(t.confirmed(), lsn{100});
  t.keepalive(lsn{300});  // idle again: the server has nothing newer than 300 to send
  EXPECT_EQ(t.confirmed(), lsn{300});
}

}  // namespace
}  // namespace rtcache::pg
