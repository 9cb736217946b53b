// Gap or continuity, decided from what the server reports and what the source remembers (issue 13, "A gap is
// never continuity").
#include "rtcache/pg/continuity.hpp"

#include <gtest/gtest.h>

namespace rtcache::pg {
namespace {

using routing::gap_reason;

constexpr std::uint64_t k_system = 7300000000000000001ULL;

server_identity server(std::uint64_t wal_end = 5000, std::uint64_t system = k_system, std::uint32_t timeline = 1) {
  return {system, timeline, lsn{wal_end}};
}

slot_facts slot(std::uint64_t confirmed, bool created = false, bool invalidated = false) {
  return {created, invalidated, lsn{confirmed}};
}

routing::wal_anchor remembered(std::uint64_t confirmed, std::uint64_t system = k_system, std::uint32_t timeline = 1) {
  return {system, timeline, confirmed};
}

TEST(Continuity, TheSlotWhereWeLeftItIsContinuous) {
  const auto v = check_continuity(remembered(1000), server(), slot(1000));
  EXPECT_FALSE(v.gap) << v.detail;
}

// After a PostgreSQL crash the slot's on-disk position may lag what it was told: the server resends, which is a
// repeat, not a gap.
TEST(Continuity, ASlotBehindWhatWeConfirmedIsContinuous) {
  EXPECT_FALSE(check_continuity(remembered(1000), server(), slot(900)).gap);
}

TEST(Continuity, NothingRememberedIsAFirstStartNotAGap) {
  EXPECT_FALSE(check_continuity(std::nullopt, server(), slot(4000, true)).gap);
  EXPECT_FALSE(check_continuity(std::nullopt, server(), slot(4000)).gap);
}

// The scenario: the slot was dropped while rtcache ran, and it created a new one at the current position.
TEST(Continuity, ASlotCreatedAfterWeStreamedIsAGap) {
  const auto v = check_continuity(remembered(1000), server(), slot(4000, true));
  ASSERT_TRUE(v.gap);
  EXPECT_EQ(*v.gap, gap_reason::slot_created);
  EXPECT_NE(v.detail.find("0/FA0"), std::string::npos) << v.detail;  // the new slot's position
}

TEST(Continuity, AnInvalidatedSlotIsAGapEvenOnAFirstStart) {
  for (const auto& r : {std::optional<routing::wal_anchor>{}, std::optional<routing::wal_anchor>{remembered(1000)}}) {
    const auto v = check_continuity(r, server(), slot(4000, true, true));
    ASSERT_TRUE(v.gap);
    EXPECT_EQ(*v.gap, gap_reason::slot_invalidated);
  }
}

TEST(Continuity, ASlotPastWhatWeConfirmedWasMovedBySomeoneElse) {
  const auto v = check_continuity(remembered(1000), server(), slot(1001));
  ASSERT_TRUE(v.gap);
  EXPECT_EQ(*v.gap, gap_reason::slot_advanced);
}

TEST(Continuity, AnotherSystemIdentifierIsAGap) {
  const auto v = check_continuity(remembered(1000), server(5000, k_system + 1), slot(1000));
  ASSERT_TRUE(v.gap);
  EXPECT_EQ(*v.gap, gap_reason::system_changed);
  EXPECT_NE(v.detail.find(std::to_string(k_system)), std::string::npos) << v.detail;
}

TEST(Continuity, AnotherTimelineIsAGap) {
  const auto v = check_continuity(remembered(1000), server(5000, k_system, 2), slot(1000));
  ASSERT_TRUE(v.gap);
  EXPECT_EQ(*v.gap, gap_reason::timeline_changed);
}

TEST(Continuity, AServerWhoseWalEndsBeforeWhatWeConfirmedWasRewound) {
  const auto v = check_continuity(remembered(6000), server(5000), slot(900));
  ASSERT_TRUE(v.gap);
  EXPECT_EQ(*v.gap, gap_reason::wal_rewound);
}

// The first reason that holds is reported: a failover to another cluster usually also lacks the slot.
TEST(Continuity, ReasonsAreCheckedInTheirDocumentedOrder) {
  EXPECT_EQ(*check_continuity(remembered(1000), server(50, k_system + 1, 2), slot(10, true, true)).gap,
            gap_reason::slot_invalidated);
  EXPECT_EQ(*check_continuity(remembered(1000), server(50, k_system + 1, 2), slot(10, true)).gap,
            gap_reason::system_changed);
  EXPECT_EQ(*check_continuity(remembered(1000), server(50, k_system, 2), slot(10, true)).gap,
            gap_reason::timeline_changed);
  EXPECT_EQ(*check_continuity(remembered(1000), server(50), slot(10, true)).gap, gap_reason::slot_created);
  EXPECT_EQ(*check_continuity(remembered(1000), server(50), slot(2000)).gap, gap_reason::wal_rewound);
}

TEST(Continuity, InvalidatedSlotsAreRecognisedByWalStatusOrReason) {
  EXPECT_TRUE(slot_is_invalidated("lost", ""));
  EXPECT_TRUE(slot_is_invalidated("", "wal_removed"));  // PostgreSQL 17 names the reason
  EXPECT_FALSE(slot_is_invalidated("reserved", ""));
  EXPECT_FALSE(slot_is_invalidated("extended", ""));
  EXPECT_FALSE(slot_is_invalidated("unreserved", ""));  // at risk, not lost yet
}

}  // namespace
}  // namespace rtcache::pg
