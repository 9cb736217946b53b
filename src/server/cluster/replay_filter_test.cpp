// A source message the stream holds twice is dropped, every other message taken.
#include "cluster/replay_filter.hpp"

#include <gtest/gtest.h>

namespace rtcache::cluster {
namespace {

std::string wal(std::uint64_t system, std::uint32_t timeline, std::uint64_t lsn, std::uint32_t index) {
  return wal_msg_id({system, timeline, lsn, index});
}

TEST(ReplayFilter, DropsAWalMessageAtOrBelowTheNewestTaken) {
  replay_filter f;
  EXPECT_FALSE(f.replayed(wal(7, 1, 0x100, 0)));
  EXPECT_FALSE(f.replayed(wal(7, 1, 0x100, 1)));
  EXPECT_FALSE(f.replayed(wal(7, 1, 0x200, 0)));
  EXPECT_TRUE(f.replayed(wal(7, 1, 0x200, 0)));  // the same message again
  EXPECT_TRUE(f.replayed(wal(7, 1, 0x100, 1)));  // an older one of the same transaction stream
  EXPECT_TRUE(f.replayed(wal(7, 1, 0x100, 5)));  // an older commit, whatever its index
  EXPECT_FALSE(f.replayed(wal(7, 1, 0x200, 1)));
}

TEST(ReplayFilter, AnotherTimelineOrClusterStartsItsOwnOrder) {
  replay_filter f;
  EXPECT_FALSE(f.replayed(wal(7, 1, 0x900, 3)));
  // A promoted standby: a new timeline, LSNs lower than the old timeline's newest are its own messages.
  EXPECT_FALSE(f.replayed(wal(7, 2, 0x800, 0)));
  EXPECT_TRUE(f.replayed(wal(7, 2, 0x800, 0)));
  // Another PostgreSQL cluster (a restore): its own order too.
  EXPECT_FALSE(f.replayed(wal(8, 1, 0x10, 0)));
  EXPECT_FALSE(f.replayed(wal(8, 1, 0x11, 0)));
}

// A server restored from a copy on the same timeline reuses LSNs: the writer's next rewind generation orders after
// the old one, whatever its LSNs.
TEST(ReplayFilter, ALaterRewindGenerationOrdersAfterTheOldOneWhateverItsLsns) {
  replay_filter f;
  EXPECT_FALSE(f.replayed(wal(7, 1, 0x900, 3)));
  EXPECT_FALSE(f.replayed(wal_msg_id({7, 1, 0x300, 0, 1})));
  EXPECT_TRUE(f.replayed(wal_msg_id({7, 1, 0x300, 0, 1})));
  EXPECT_TRUE(f.replayed(wal(7, 1, 0x900, 3))) << "the old generation's message";
  EXPECT_TRUE(f.replayed(wal(7, 1, 0xA00, 0))) << "the old generation, past its last LSN";
  EXPECT_FALSE(f.replayed(wal_msg_id({7, 1, 0x301, 0, 1})));
}

TEST(ReplayFilter, DropsAnIngestItemAtOrBelowTheNewestOfItsIngestStream) {
  replay_filter f;
  EXPECT_FALSE(f.replayed(ingest_msg_id({50, 10, 0})));
  EXPECT_FALSE(f.replayed(ingest_msg_id({50, 10, 1})));
  EXPECT_TRUE(f.replayed(ingest_msg_id({50, 10, 1})));
  EXPECT_TRUE(f.replayed(ingest_msg_id({50, 9, 4})));
  EXPECT_FALSE(f.replayed(ingest_msg_id({50, 11, 0})));
  // The ingest stream created again: its sequences start over.
  EXPECT_FALSE(f.replayed(ingest_msg_id({60, 1, 0})));
  // WAL and ingest ids are separate orders: neither drops the other.
  EXPECT_FALSE(f.replayed(wal(7, 1, 0x100, 0)));
  EXPECT_FALSE(f.replayed(ingest_msg_id({60, 2, 0})));
  EXPECT_TRUE(f.replayed(wal(7, 1, 0x100, 0)));
}

TEST(ReplayFilter, NeverDropsMessagesWithoutASourceId) {
  replay_filter f;
  EXPECT_FALSE(f.replayed(wal(7, 1, 0x100, 0)));
  for (int round = 0; round < 2; ++round) {
    EXPECT_FALSE(f.replayed(""));
    EXPECT_FALSE(f.replayed("g-" + wal(7, 1, 0x100, 0)));  // a gap found where streaming started
    EXPECT_FALSE(f.replayed("not-an-id"));
    EXPECT_FALSE(f.replayed("7-1-0/100-x"));
  }
}

TEST(ReplayFilter, ResetForgetsEverySource) {
  replay_filter f;
  EXPECT_FALSE(f.replayed(wal(7, 1, 0x100, 0)));
  EXPECT_FALSE(f.replayed(ingest_msg_id({50, 10, 0})));
  f.reset();
  EXPECT_FALSE(f.replayed(wal(7, 1, 0x100, 0)));
  EXPECT_FALSE(f.replayed(ingest_msg_id({50, 10, 0})));
}

}  // namespace
}  // namespace rtcache::cluster
