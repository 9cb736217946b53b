// The simulator's planner: reproducible from its seed, honours the mix, stays in its factories and bounds.
#include "activity.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace rtcache::demo {
namespace {

TEST(ActivityPlanner, SameSeedReplaysTheSameActivity) {
  activity_planner a(7, {"f1", "f2"});
  activity_planner b(7, {"f1", "f2"});
  for (int i = 0; i < 200; ++i) {
    const auto x = a.next();
    const auto y = b.next();
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.table, y.table);
    EXPECT_EQ(x.factory, y.factory);
    EXPECT_EQ(x.count, y.count);
  }
}

TEST(ActivityPlanner, OnlyPicksGivenFactoriesAndKnownTables) {
  activity_planner p(3, {"f2"});
  for (int i = 0; i < 500; ++i) {
    const auto a = p.next();
    EXPECT_EQ(a.factory, "f2");
    ASSERT_NE(a.table, nullptr);
    EXPECT_EQ(find_doc_table(a.table->type), a.table);
  }
}

TEST(ActivityPlanner, ZeroWeightKindsNeverHappen) {
  activity_mix mix{};
  mix.update = 0;
  mix.remove = 0;
  mix.burst = 0;
  activity_planner p(11, {"f1"}, mix);
  for (int i = 0; i < 1000; ++i) {
    const auto k = p.next().kind;
    EXPECT_NE(k, activity_kind::update);
    EXPECT_NE(k, activity_kind::remove);
    EXPECT_NE(k, activity_kind::burst);
  }
}

TEST(ActivityPlanner, CountsStayWithinBounds) {
  activity_mix mix{};
  mix = {0, 0, 0, 0, 0, 1, 1};
  activity_planner p(5, {"f1"}, mix);
  for (int i = 0; i < 1000; ++i) {
    const auto a = p.next();
    if (a.kind == activity_kind::bulk_approve) {
      EXPECT_GE(a.count, 2);
      EXPECT_LE(a.count, k_max_bulk_rows);
    } else {
      EXPECT_GE(a.count, 5);
      EXPECT_LE(a.count, k_max_burst);
    }
  }
}

TEST(ActivityPlanner, EveryKindAndTableOccursUnderTheDefaultMix) {
  activity_planner p(1, {"f1", "f2", "f3"});
  std::set<activity_kind> kinds;
  std::set<std::string_view> types;
  std::set<std::string> factories;
  for (int i = 0; i < 5000; ++i) {
    const auto a = p.next();
    kinds.insert(a.kind);
    types.insert(a.table->type);
    factories.insert(a.factory);
  }
  EXPECT_EQ(kinds.size(), 7u);
  EXPECT_EQ(types.size(), doc_tables().size());
  EXPECT_EQ(factories.size(), 3u);
}

}  // namespace
}  // namespace rtcache::demo
