// Unit tests for the coalescer: windowing, de-duplication, merge semantics, ordering and the pending bound.
// Time moves only through core::manual_clock; nothing here sleeps.
#include "rtcache/core/coalescer.hpp"

#include "rtcache/core/clock.hpp"
#include "rtcache/core/event.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace rtcache::core {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using keys = std::vector<std::string>;
using patch_list = std::vector<patch_entry>;

event ev(std::string type, std::string id, action a, std::optional<std::int64_t> version = std::nullopt) {
  event e;
  e.type = std::move(type);
  e.id = std::move(id);
  e.factory_id = "f1";
  e.act = a;
  e.version = version;
  return e;
}

event upd(std::string id, std::optional<std::int64_t> version = std::nullopt) {
  return ev("wo", std::move(id), action::update, version);
}

keys sorted(keys k) {
  std::sort(k.begin(), k.end());
  return k;
}

// (type, id, action, version) of each event, for compact order assertions.
struct ident {
  std::string type;
  std::string id;
  action act;
  std::optional<std::int64_t> version;
  friend bool operator==(const ident&, const ident&) = default;
};

void PrintTo(const ident& i, std::ostream* os) {  // NOLINT(readability-identifier-naming): gtest's hook
  *os << i.type << ':' << i.id << ':' << to_string(i.act) << '@';
  if (i.version) {
    *os << *i.version;
  } else {
    *os << "none";
  }
}

std::vector<ident> idents(const batch& b) {
  std::vector<ident> out;
  for (const event& e : b.events) out.push_back({e.type, e.id, e.act, e.version});
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Window configuration

TEST(Coalescer, DefaultWindowIs300Ms) {
  EXPECT_EQ(coalescer{}.window(), 300ms);
  EXPECT_EQ(coalescer{coalescer_config{}}.window(), k_default_window);
}

TEST(Coalescer, ClampsWindowBelowMinimumTo250Ms) {
  for (milliseconds w : {-5ms, 0ms, 1ms, 100ms, 249ms}) {
    EXPECT_EQ(coalescer(coalescer_config{w, 1024}).window(), 250ms) << w.count();
  }
}

TEST(Coalescer, ClampsWindowAboveMaximumTo500Ms) {
  for (milliseconds w : {501ms, 1000ms, milliseconds{3'600'000}}) {
    EXPECT_EQ(coalescer(coalescer_config{w, 1024}).window(), 500ms) << w.count();
  }
}

TEST(Coalescer, KeepsWindowInsideRange) {
  for (milliseconds w : {250ms, 251ms, 300ms, 400ms, 499ms, 500ms}) {
    EXPECT_EQ(coalescer(coalescer_config{w, 1024}).window(), w) << w.count();
  }
}

TEST(Coalescer, ClampedWindowDrivesTheDeadline) {
  manual_clock clk;
  coalescer low(coalescer_config{10ms, 1024});
  low.offer(upd("1"), clk.now());
  EXPECT_EQ(low.deadline(), clk.now() + 250ms);

  coalescer high(coalescer_config{5000ms, 1024});
  high.offer(upd("1"), clk.now());
  EXPECT_EQ(high.deadline(), clk.now() + 500ms);
}

// ---------------------------------------------------------------------------------------------------------
// Deadline and take_due

TEST(Coalescer, StartsEmptyWithNoDeadline) {
  coalescer c;
  EXPECT_EQ(c.deadline(), std::nullopt);
  EXPECT_EQ(c.pending(), 0u);
}

TEST(Coalescer, WindowOpensAtFirstEvent) {
  manual_clock clk;
  clk.advance(1234ms);
  coalescer c(coalescer_config{400ms, 1024});
  c.offer(upd("1"), clk.now());
  ASSERT_TRUE(c.deadline().has_value());
  EXPECT_EQ(*c.deadline(), clk.now() + 400ms);
  EXPECT_EQ(c.pending(), 1u);
}

TEST(Coalescer, LaterEventsDoNotExtendWindow) {
  manual_clock clk;
  coalescer c;
  const time_point first = clk.now();
  c.offer(upd("1", 1), clk.now());
  clk.advance(100ms);
  c.offer(upd("1", 2), clk.now());  // same key
  clk.advance(100ms);
  c.offer(upd("2", 1), clk.now());  // new key
  clk.advance(99ms);
  c.offer(ev("wo", "1", action::approve, 3), clk.now());  // new action, 1 ms before the deadline
  EXPECT_EQ(c.deadline(), first + 300ms);
}

TEST(Coalescer, TakeDueBeforeDeadlineReturnsEmptyAndKeepsPending) {
  manual_clock clk;
  coalescer c;
  c.offer(upd("1", 1), clk.now());
  const auto deadline = c.deadline();

  clk.advance(299ms);
  const batch b = c.take_due(clk.now());
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(b.events.empty());
  EXPECT_FALSE(b.resync);
  EXPECT_EQ(b.absorbed, 0u);
  EXPECT_EQ(c.pending(), 1u);
  EXPECT_EQ(c.deadline(), deadline);

  // Nothing was lost by the early poll.
  clk.advance(1ms);
  const batch due = c.take_due(clk.now());
  ASSERT_EQ(due.events.size(), 1u);
  EXPECT_EQ(due.events[0], upd("1", 1));
}

TEST(Coalescer, TakeDueAtDeadlineReturnsBatch) {
  manual_clock clk;
  coalescer c;
  c.offer(upd("1", 1), clk.now());
  clk.advance(300ms);
  ASSERT_EQ(c.deadline(), clk.now());
  const batch b = c.take_due(clk.now());
  EXPECT_FALSE(b.empty());
  EXPECT_FALSE(b.resync);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0], upd("1", 1));
}

TEST(Coalescer, TakeDueAfterDeadlineReturnsBatch) {
  manual_clock clk;
  coalescer c;
  c.offer(upd("1", 1), clk.now());
  c.offer(upd("2", 1), clk.now());
  clk.advance(10s);
  const batch b = c.take_due(clk.now());
  EXPECT_EQ(b.events.size(), 2u);
  EXPECT_FALSE(b.resync);
}

TEST(Coalescer, TakeResetsDeadlineAndPending) {
  manual_clock clk;
  coalescer c;
  c.offer(upd("1", 1), clk.now());
  clk.advance(300ms);
  ASSERT_FALSE(c.take_due(clk.now()).empty());
  EXPECT_EQ(c.deadline(), std::nullopt);
  EXPECT_EQ(c.pending(), 0u);
  // A second take in the same instant has nothing left to hand out.
  EXPECT_TRUE(c.take_due(clk.now()).empty());
}

TEST(Coalescer, TakeDueOnEmptyCoalescerReturnsEmptyBatch) {
  manual_clock clk;
  coalescer c;
  clk.advance(1h);
  const batch b = c.take_due(clk.now());
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.absorbed, 0u);
  EXPECT_EQ(c.deadline(), std::nullopt);
}

TEST(Coalescer, NextEventAfterTakeOpensNewWindow) {
  manual_clock clk;
  coalescer c;
  c.offer(upd("1", 1), clk.now());
  clk.advance(350ms);
  ASSERT_FALSE(c.take_due(clk.now()).empty());

  clk.advance(1s);
  c.offer(upd("1", 2), clk.now());
  EXPECT_EQ(c.deadline(), clk.now() + 300ms);
  clk.advance(299ms);
  EXPECT_TRUE(c.take_due(clk.now()).empty());
  clk.advance(1ms);
  const batch b = c.take_due(clk.now());
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].version, 2);
  EXPECT_EQ(b.absorbed, 0u);  // the first batch's merges do not leak into the second
}

// ---------------------------------------------------------------------------------------------------------
// De-duplication by (type, id, action)

TEST(Coalescer, KeepsHighestVersionPerKey) {
  manual_clock clk;
  coalescer c;
  c.offer(upd("1", 1), clk.now());
  c.offer(upd("1", 3), clk.now());
  c.offer(upd("1", 2), clk.now());
  EXPECT_EQ(c.pending(), 1u);
  const batch b = c.flush();
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].version, 3);
  EXPECT_EQ(b.absorbed, 2u);
}

TEST(Coalescer, KeepsHighestVersionWhenItArrivesFirst) {
  manual_clock clk;
  coalescer c;
  c.offer(upd("1", 9), clk.now());
  c.offer(upd("1", 4), clk.now());
  const batch b = c.flush();
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].version, 9);
  EXPECT_EQ(b.absorbed, 1u);
}

TEST(Coalescer, DeduplicatesUnversionedEventsOfOneKey) {
  manual_clock clk;
  coalescer c;
  c.offer(upd("1"), clk.now());
  c.offer(upd("1"), clk.now());
  c.offer(upd("1"), clk.now());
  const batch b = c.flush();
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].version, std::nullopt);
  EXPECT_EQ(b.absorbed, 2u);
}

// "Keeping the highest version": a versioned event outranks an unversioned one of the same key, whichever
// arrives first (the playbook's `(evt.version ?? 0) >= (existing.version ?? 0)` reads the same way).
TEST(Coalescer, VersionedEventReplacesEarlierUnversionedOne) {
  manual_clock clk;
  coalescer c;
  c.offer(upd("1"), clk.now());
  c.offer(upd("1", 5), clk.now());
  const batch b = c.flush();
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].version, 5);
}

TEST(Coalescer, KeepsVersionWhenLaterEventOfSameKeyHasNone) {
  // Losing the version would switch the planner's version guard off for the merged event, and its patch
  // would record no version, so a later stale event could overwrite the newer data.
  manual_clock clk;
  coalescer c;
  c.offer(upd("1", 5), clk.now());
  c.offer(upd("1"), clk.now());
  const batch b = c.flush();
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].version, 5);
  EXPECT_EQ(b.absorbed, 1u);
}

TEST(Coalescer, DistinctActionsForOneDocStaySeparate) {
  manual_clock clk;
  coalescer c;
  c.offer(ev("wo", "1", action::update, 1), clk.now());
  c.offer(ev("wo", "1", action::approve, 2), clk.now());
  c.offer(ev("wo", "1", action::reject, 3), clk.now());
  c.offer(ev("wo", "1", action::del, 4), clk.now());
  c.offer(ev("wo", "1", action::create, 0), clk.now());
  EXPECT_EQ(c.pending(), 5u);
  const batch b = c.flush();
  EXPECT_EQ(b.events.size(), 5u);
  EXPECT_EQ(b.absorbed, 0u);
}

TEST(Coalescer, SameIdOfDifferentTypesStaysSeparate) {
  manual_clock clk;
  coalescer c;
  c.offer(ev("wo", "1", action::update, 1), clk.now());
  c.offer(ev("pl", "1", action::update, 1), clk.now());
  c.offer(ev("wo", "2", action::update, 1), clk.now());
  EXPECT_EQ(c.pending(), 3u);
  EXPECT_EQ(c.flush().events.size(), 3u);
}

// ---------------------------------------------------------------------------------------------------------
// Merge semantics

TEST(Coalescer, MergeUnionsChangedKeys) {
  manual_clock clk;
  coalescer c;
  event a = upd("1", 1);
  a.changed_keys = keys{"qty", "status"};
  event b = upd("1", 2);
  b.changed_keys = keys{"status", "due"};
  c.offer(a, clk.now());
  c.offer(b, clk.now());
  const batch out = c.flush();
  ASSERT_EQ(out.events.size(), 1u);
  ASSERT_TRUE(out.events[0].changed_keys.has_value());
  EXPECT_EQ(sorted(*out.events[0].changed_keys), (keys{"due", "qty", "status"}));  // no duplicate "status"
}

TEST(Coalescer, MergeKeepsHigherVersionsScalarFields) {
  manual_clock clk;
  coalescer c;
  event a = upd("1", 1);
  a.ts = "2024-01-01T00:00:01Z";
  event b = upd("1", 2);
  b.ts = "2024-01-01T00:00:02Z";
  c.offer(a, clk.now());
  c.offer(b, clk.now());
  const batch out = c.flush();
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].version, 2);
  EXPECT_EQ(out.events[0].ts, "2024-01-01T00:00:02Z");
  EXPECT_EQ(out.events[0].type, "wo");
  EXPECT_EQ(out.events[0].id, "1");
  EXPECT_EQ(out.events[0].factory_id, "f1");
  EXPECT_EQ(out.events[0].act, action::update);
}

TEST(Coalescer, MergePatchesWithNewerValuesWinning) {
  manual_clock clk;
  coalescer c;
  event a = upd("1", 1);
  a.changed_keys = keys{"a", "b"};
  a.patch = patch_list{{"a", "1"}, {"b", "\"old\""}};
  event b = upd("1", 2);
  b.changed_keys = keys{"b", "c"};
  b.patch = patch_list{{"b", "\"new\""}, {"c", "null"}};
  c.offer(a, clk.now());
  c.offer(b, clk.now());
  const batch out = c.flush();
  ASSERT_EQ(out.events.size(), 1u);
  ASSERT_TRUE(out.events[0].patch.has_value());
  // Sorted by column, as the event contract requires of every patch.
  EXPECT_EQ(*out.events[0].patch, (patch_list{{"a", "1"}, {"b", "\"new\""}, {"c", "null"}}));
  EXPECT_TRUE(out.events[0].patch_covers_changes());
}

TEST(Coalescer, LateLowerVersionDoesNotOverwriteButItsChangesAreKept) {
  manual_clock clk;
  coalescer c;
  event newer = upd("1", 5);
  newer.ts = "2024-01-01T00:00:05Z";
  newer.changed_keys = keys{"status"};
  newer.patch = patch_list{{"status", "\"approved\""}};
  event older = upd("1", 4);
  older.ts = "2024-01-01T00:00:04Z";
  older.changed_keys = keys{"qty", "status"};
  older.patch = patch_list{{"qty", "3"}, {"status", "\"draft\""}};

  c.offer(newer, clk.now());
  c.offer(older, clk.now());  // arrives late, out of order
  const batch out = c.flush();
  ASSERT_EQ(out.events.size(), 1u);
  const event& m = out.events[0];
  EXPECT_EQ(m.version, 5);
  EXPECT_EQ(m.ts, "2024-01-01T00:00:05Z");
  ASSERT_TRUE(m.changed_keys.has_value());
  EXPECT_EQ(sorted(*m.changed_keys), (keys{"qty", "status"}));
  ASSERT_TRUE(m.patch.has_value());
  EXPECT_EQ(*m.patch, (patch_list{{"qty", "3"}, {"status", "\"approved\""}}));
  EXPECT_TRUE(m.patch_covers_changes());
  EXPECT_EQ(out.absorbed, 1u);
}

// "A patch never drops an earlier change" must not become "a patch resurrects an overwritten value": when the
// newer event changed a column but carries no value for it, the older value of that column is stale.
bool has_column(const event& e, const std::string& column) {
  return e.patch &&
         std::any_of(e.patch->begin(), e.patch->end(), [&](const patch_entry& p) { return p.column == column; });
}

TEST(Coalescer, MergeDropsOlderPatchValueOfColumnNewerEventChangedWithoutValue) {
  manual_clock clk;
  coalescer c;
  event older = upd("1", 1);
  older.changed_keys = keys{"status"};
  older.patch = patch_list{{"status", "\"draft\""}};
  event newer = upd("1", 2);
  newer.changed_keys = keys{"status"};  // changed, value not sent
  c.offer(older, clk.now());
  c.offer(newer, clk.now());
  const batch out = c.flush();
  ASSERT_EQ(out.events.size(), 1u);
  const event& m = out.events[0];
  EXPECT_EQ(m.version, 2);
  ASSERT_TRUE(m.changed_keys.has_value());
  EXPECT_EQ(sorted(*m.changed_keys), (keys{"status"}));
  EXPECT_FALSE(has_column(m, "status")) << "v1's status would be patched over v2's change";
  EXPECT_FALSE(m.patch_covers_changes());
}

TEST(Coalescer, MergeDropsLateOlderPatchValueOfColumnNewerEventChangedWithoutValue) {
  manual_clock clk;
  coalescer c;
  event newer = upd("1", 3);
  newer.changed_keys = keys{"status"};  // changed, value not sent
  event older = upd("1", 2);
  older.changed_keys = keys{"status"};
  older.patch = patch_list{{"status", "\"submitted\""}};
  c.offer(newer, clk.now());
  c.offer(older, clk.now());  // arrives late
  const batch out = c.flush();
  ASSERT_EQ(out.events.size(), 1u);
  const event& m = out.events[0];
  EXPECT_EQ(m.version, 3);
  EXPECT_FALSE(has_column(m, "status")) << "v2's status would be patched over v3's change";
  EXPECT_FALSE(m.patch_covers_changes());
}

TEST(Coalescer, MergeKeepsOlderValuesOnlyForColumnsNewerEventDidNotChange) {
  manual_clock clk;
  coalescer c;
  event older = upd("1", 1);
  older.changed_keys = keys{"note", "qty", "status"};
  older.patch = patch_list{{"note", "\"n\""}, {"qty", "1"}, {"status", "\"draft\""}};
  event newer = upd("1", 2);
  newer.changed_keys = keys{"qty", "status"};
  newer.patch = patch_list{{"qty", "2"}};  // status changed again, its value not sent
  c.offer(older, clk.now());
  c.offer(newer, clk.now());
  const batch out = c.flush();
  ASSERT_EQ(out.events.size(), 1u);
  const event& m = out.events[0];
  ASSERT_TRUE(m.changed_keys.has_value());
  EXPECT_EQ(sorted(*m.changed_keys), (keys{"note", "qty", "status"}));
  ASSERT_TRUE(m.patch.has_value());
  EXPECT_EQ(*m.patch, (patch_list{{"note", "\"n\""}, {"qty", "2"}}));
  EXPECT_FALSE(m.patch_covers_changes());
}

TEST(Coalescer, MergeLacksChangedKeysWhenEarlierEventLacksThem) {
  manual_clock clk;
  coalescer c;
  event a = upd("1", 1);  // changedKeys unknown
  event b = upd("1", 2);
  b.changed_keys = keys{"status"};
  b.patch = patch_list{{"status", "1"}};
  c.offer(a, clk.now());
  c.offer(b, clk.now());
  const batch out = c.flush();
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].changed_keys, std::nullopt);
  EXPECT_FALSE(out.events[0].patch_covers_changes());
}

TEST(Coalescer, MergeLacksChangedKeysWhenLaterEventLacksThem) {
  manual_clock clk;
  coalescer c;
  event a = upd("1", 1);
  a.changed_keys = keys{"status"};
  a.patch = patch_list{{"status", "1"}};
  event b = upd("1", 2);  // changedKeys unknown
  c.offer(a, clk.now());
  c.offer(b, clk.now());
  const batch out = c.flush();
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].changed_keys, std::nullopt);
  EXPECT_FALSE(out.events[0].patch_covers_changes());
}

TEST(Coalescer, MergeLacksChangedKeysWhenLateLowerVersionLacksThem) {
  manual_clock clk;
  coalescer c;
  event newer = upd("1", 5);
  newer.changed_keys = keys{"status"};
  newer.patch = patch_list{{"status", "1"}};
  event older = upd("1", 4);  // changedKeys unknown: what it changed cannot be patched
  c.offer(newer, clk.now());
  c.offer(older, clk.now());
  const batch out = c.flush();
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].version, 5);
  EXPECT_EQ(out.events[0].changed_keys, std::nullopt);
  EXPECT_FALSE(out.events[0].patch_covers_changes());
}

TEST(Coalescer, MergeStaysInvalidatingAfterChangedKeysWereLost) {
  // Once a merge lacks changedKeys, a later event with changedKeys cannot bring them back.
  manual_clock clk;
  coalescer c;
  event a = upd("1", 1);
  a.changed_keys = keys{"a"};
  event b = upd("1", 2);
  event d = upd("1", 3);
  d.changed_keys = keys{"d"};
  d.patch = patch_list{{"d", "1"}};
  c.offer(a, clk.now());
  c.offer(b, clk.now());
  c.offer(d, clk.now());
  const batch out = c.flush();
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].version, 3);
  EXPECT_EQ(out.events[0].changed_keys, std::nullopt);
  EXPECT_EQ(out.absorbed, 2u);
}

// ---------------------------------------------------------------------------------------------------------
// Ordering

TEST(Coalescer, OrdersDocumentsByFirstArrival) {
  manual_clock clk;
  coalescer c;
  c.offer(upd("b", 1), clk.now());
  c.offer(upd("c", 1), clk.now());
  c.offer(upd("a", 1), clk.now());
  const batch out = c.flush();
  EXPECT_EQ(idents(out),
            (std::vector<ident>{
                {"wo", "b", action::update, 1}, {"wo", "c", action::update, 1}, {"wo", "a", action::update, 1}}));
}

TEST(Coalescer, MergingKeepsDocumentsFirstArrivalPosition) {
  manual_clock clk;
  coalescer c;
  c.offer(upd("a", 1), clk.now());
  c.offer(upd("b", 1), clk.now());
  c.offer(upd("a", 2), clk.now());
  const batch out = c.flush();
  EXPECT_EQ(idents(out), (std::vector<ident>{{"wo", "a", action::update, 2}, {"wo", "b", action::update, 1}}));
}

TEST(Coalescer, OrdersEventsOfOneDocumentByAscendingVersion) {
  manual_clock clk;
  coalescer c;
  c.offer(ev("wo", "a", action::approve, 5), clk.now());
  c.offer(ev("wo", "b", action::update, 1), clk.now());
  c.offer(ev("wo", "a", action::update, 3), clk.now());
  c.offer(ev("wo", "a", action::reject, 4), clk.now());
  const batch out = c.flush();
  EXPECT_EQ(idents(out), (std::vector<ident>{{"wo", "a", action::update, 3},
                                             {"wo", "a", action::reject, 4},
                                             {"wo", "a", action::approve, 5},
                                             {"wo", "b", action::update, 1}}));
}

TEST(Coalescer, MergedVersionDecidesPositionWithinDocument) {
  manual_clock clk;
  coalescer c;
  c.offer(ev("wo", "a", action::update, 1), clk.now());
  c.offer(ev("wo", "a", action::approve, 2), clk.now());
  c.offer(ev("wo", "a", action::update, 3), clk.now());  // merges into the update, now v3 > approve v2
  const batch out = c.flush();
  EXPECT_EQ(idents(out), (std::vector<ident>{{"wo", "a", action::approve, 2}, {"wo", "a", action::update, 3}}));
}

TEST(Coalescer, DocumentIdentityIncludesType) {
  manual_clock clk;
  coalescer c;
  c.offer(ev("wo", "1", action::update, 9), clk.now());
  c.offer(ev("pl", "1", action::update, 1), clk.now());
  c.offer(ev("wo", "1", action::approve, 10), clk.now());
  const batch out = c.flush();
  EXPECT_EQ(idents(out),
            (std::vector<ident>{
                {"wo", "1", action::update, 9}, {"wo", "1", action::approve, 10}, {"pl", "1", action::update, 1}}));
}

// ---------------------------------------------------------------------------------------------------------
// Explicit flush

TEST(Coalescer, FlushHandsOutPendingBeforeDeadline) {
  manual_clock clk;
  coalescer c;
  c.offer(upd("1", 1), clk.now());
  clk.advance(10ms);
  c.offer(upd("2", 1), clk.now());
  const batch b = c.flush();
  EXPECT_EQ(b.events.size(), 2u);
  EXPECT_FALSE(b.resync);
  EXPECT_EQ(c.deadline(), std::nullopt);
  EXPECT_EQ(c.pending(), 0u);
  // The old deadline passing later hands out nothing twice.
  clk.advance(1s);
  EXPECT_TRUE(c.take_due(clk.now()).empty());
}

TEST(Coalescer, FlushOnEmptyCoalescerReturnsEmptyBatch) {
  coalescer c;
  const batch b = c.flush();
  EXPECT_TRUE(b.empty());
  EXPECT_FALSE(b.resync);
  EXPECT_EQ(b.absorbed, 0u);
  EXPECT_EQ(c.deadline(), std::nullopt);
}

TEST(Coalescer, EventAfterFlushOpensNewWindow) {
  manual_clock clk;
  coalescer c;
  c.offer(upd("1", 1), clk.now());
  clk.advance(100ms);
  ASSERT_FALSE(c.flush().empty());
  clk.advance(50ms);
  c.offer(upd("1", 2), clk.now());
  EXPECT_EQ(c.deadline(), clk.now() + 300ms);
  const batch b = c.flush();
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].version, 2);
  EXPECT_EQ(b.absorbed, 0u);
}

// ---------------------------------------------------------------------------------------------------------
// The pending bound

TEST(Coalescer, ExactlyMaxPendingKeysStayFineGrained) {
  manual_clock clk;
  coalescer c(coalescer_config{300ms, 3});
  c.offer(upd("1", 1), clk.now());
  c.offer(upd("2", 1), clk.now());
  c.offer(upd("3", 1), clk.now());
  EXPECT_EQ(c.pending(), 3u);
  clk.advance(300ms);
  const batch b = c.take_due(clk.now());
  EXPECT_FALSE(b.resync);
  EXPECT_EQ(b.events.size(), 3u);
}

TEST(Coalescer, MergeAtTheBoundIsNotAnOverflow) {
  manual_clock clk;
  coalescer c(coalescer_config{300ms, 2});
  c.offer(upd("1", 1), clk.now());
  c.offer(upd("2", 1), clk.now());
  c.offer(upd("1", 2), clk.now());  // an existing key: no new entry
  c.offer(upd("2", 2), clk.now());
  EXPECT_EQ(c.pending(), 2u);
  const batch b = c.flush();
  EXPECT_FALSE(b.resync);
  EXPECT_EQ(idents(b), (std::vector<ident>{{"wo", "1", action::update, 2}, {"wo", "2", action::update, 2}}));
  EXPECT_EQ(b.absorbed, 2u);
}

TEST(Coalescer, ExceedingMaxPendingYieldsResyncWithEmptyEvents) {
  manual_clock clk;
  coalescer c(coalescer_config{300ms, 2});
  c.offer(upd("1", 1), clk.now());
  c.offer(upd("2", 1), clk.now());
  c.offer(upd("3", 1), clk.now());  // a third distinct key: over the bound
  clk.advance(300ms);
  const batch b = c.take_due(clk.now());
  EXPECT_TRUE(b.resync);
  EXPECT_TRUE(b.events.empty());
  EXPECT_FALSE(b.empty());
  EXPECT_EQ(c.deadline(), std::nullopt);
}

TEST(Coalescer, MaxPendingOfOneOverflowsOnSecondDistinctKey) {
  manual_clock clk;
  coalescer c(coalescer_config{300ms, 1});
  c.offer(upd("1", 1), clk.now());
  c.offer(upd("1", 2), clk.now());
  c.offer(ev("wo", "1", action::approve, 3), clk.now());
  const batch b = c.flush();
  EXPECT_TRUE(b.resync);
  EXPECT_TRUE(b.events.empty());
}

TEST(Coalescer, OverflowDoesNotShortenOrExtendTheWindow) {
  manual_clock clk;
  coalescer c(coalescer_config{300ms, 1});
  const time_point first = clk.now();
  c.offer(upd("1", 1), clk.now());
  clk.advance(100ms);
  c.offer(upd("2", 1), clk.now());  // overflow
  EXPECT_EQ(c.deadline(), first + 300ms);
  clk.advance(100ms);
  c.offer(upd("3", 1), clk.now());  // absorbed
  EXPECT_EQ(c.deadline(), first + 300ms);
  clk.advance(99ms);
  EXPECT_TRUE(c.take_due(clk.now()).empty());  // not due early because of the overflow
  clk.advance(1ms);
  EXPECT_TRUE(c.take_due(clk.now()).resync);
}

TEST(Coalescer, EventsAfterOverflowInSameWindowAreAbsorbedAndCounted) {
  manual_clock clk;
  coalescer c(coalescer_config{300ms, 2});
  c.offer(upd("1", 1), clk.now());
  c.offer(upd("2", 1), clk.now());
  c.offer(upd("3", 1), clk.now());  // overflow
  clk.advance(50ms);
  c.offer(upd("4", 1), clk.now());
  c.offer(upd("1", 2), clk.now());
  c.offer(ev("wo", "5", action::del, 1), clk.now());
  clk.advance(250ms);
  const batch b = c.take_due(clk.now());
  EXPECT_TRUE(b.resync);
  EXPECT_TRUE(b.events.empty());
  // Nothing is silently lost: every one of the six offered events is accounted for by the resync.
  EXPECT_EQ(b.absorbed, 6u);
  EXPECT_EQ(b.events.size() + b.absorbed, 6u);
}

TEST(Coalescer, AbsorbedCountsEveryMergedEvent) {
  manual_clock clk;
  coalescer c;
  std::uint64_t offered = 0;
  for (int i = 0; i < 5; ++i, ++offered) c.offer(upd("a", i), clk.now());
  for (int i = 0; i < 3; ++i, ++offered) c.offer(upd("b", i), clk.now());
  c.offer(ev("wo", "a", action::approve, 9), clk.now());
  ++offered;
  const batch b = c.flush();
  EXPECT_EQ(b.events.size(), 3u);
  EXPECT_EQ(b.absorbed, 6u);
  EXPECT_EQ(b.events.size() + b.absorbed, offered);
}

TEST(Coalescer, FreshBatchAfterResyncTakeBehavesNormally) {
  manual_clock clk;
  coalescer c(coalescer_config{300ms, 1});
  c.offer(upd("1", 1), clk.now());
  c.offer(upd("2", 1), clk.now());
  clk.advance(300ms);
  ASSERT_TRUE(c.take_due(clk.now()).resync);
  EXPECT_EQ(c.deadline(), std::nullopt);
  EXPECT_EQ(c.pending(), 0u);

  clk.advance(1s);
  c.offer(upd("3", 7), clk.now());
  c.offer(upd("3", 8), clk.now());
  EXPECT_EQ(c.deadline(), clk.now() + 300ms);
  clk.advance(300ms);
  const batch b = c.take_due(clk.now());
  EXPECT_FALSE(b.resync);
  EXPECT_EQ(idents(b), (std::vector<ident>{{"wo", "3", action::update, 8}}));
  EXPECT_EQ(b.absorbed, 1u);
}

TEST(Coalescer, FreshBatchAfterResyncFlushBehavesNormally) {
  manual_clock clk;
  coalescer c(coalescer_config{300ms, 2});
  for (int i = 0; i < 10; ++i) c.offer(upd(std::to_string(i), 1), clk.now());
  const batch overflowed = c.flush();
  ASSERT_TRUE(overflowed.resync);
  EXPECT_TRUE(overflowed.events.empty());
  EXPECT_EQ(overflowed.absorbed, 10u);

  c.offer(upd("x", 1), clk.now());
  c.offer(upd("y", 1), clk.now());
  const batch b = c.flush();
  EXPECT_FALSE(b.resync);
  EXPECT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.absorbed, 0u);
}

// ---------------------------------------------------------------------------------------------------------
// Bursts, driven the way the event loop drives the coalescer: poll take_due every millisecond.

struct scheduled {
  milliseconds at;
  event e;
};

// Runs a 1 ms-tick loop from the clock's current time for `span`, offering each scheduled event at its time
// and handing every non-empty due batch to the "handler". Returns the batches in flush order.
std::vector<batch> run_loop(coalescer& c, manual_clock& clk, const std::vector<scheduled>& script, milliseconds span) {
  std::vector<batch> flushed;
  std::size_t next = 0;
  for (milliseconds t{0}; t <= span; t += 1ms) {
    while (next < script.size() && script[next].at == t) c.offer(script[next++].e, clk.now());
    batch b = c.take_due(clk.now());
    if (!b.empty()) flushed.push_back(std::move(b));
    if (t < span) clk.advance(1ms);
  }
  return flushed;
}

std::size_t handler_calls(const std::vector<batch>& batches) {
  std::size_t calls = 0;
  for (const batch& b : batches) calls += b.events.size();
  return calls;
}

TEST(Coalescer, TenEventsWithin200MsProduceAtMostTwoHandlerCalls) {
  manual_clock clk;
  coalescer c;
  std::vector<scheduled> script;
  script.reserve(10);
  for (int i = 0; i < 10; ++i) script.push_back({milliseconds{20 * i}, upd("1", i + 1)});  // 0..180 ms
  const std::vector<batch> batches = run_loop(c, clk, script, 2s);
  EXPECT_LE(batches.size(), 2u);
  EXPECT_LE(handler_calls(batches), 2u);
  // With the window opened by the burst itself, it is exactly one call carrying the newest version.
  ASSERT_EQ(handler_calls(batches), 1u);
  EXPECT_EQ(batches[0].events[0].version, 10);
}

TEST(Coalescer, TenEventsWithin200MsAtAnyWindowPhaseProduceAtMostTwoHandlerCalls) {
  // Another doc's event opens the window `phase` ms before the burst, so the burst can straddle a flush.
  for (milliseconds window : {250ms, 300ms, 500ms}) {
    for (milliseconds phase{0}; phase <= window + 10ms; phase += 5ms) {
      manual_clock clk;
      coalescer c(coalescer_config{window, 1024});
      std::vector<scheduled> script;
      script.push_back({0ms, upd("other", 1)});
      for (int i = 0; i < 10; ++i) script.push_back({phase + milliseconds{22 * i}, upd("1", i + 1)});  // 198 ms
      const std::vector<batch> batches = run_loop(c, clk, script, 3s);
      std::size_t burst_calls = 0;
      std::size_t burst_batches = 0;
      std::optional<std::int64_t> last_version;
      for (const batch& b : batches) {
        bool in_batch = false;
        for (const event& e : b.events) {
          if (e.id != "1") continue;
          ++burst_calls;
          in_batch = true;
          last_version = e.version;
        }
        if (in_batch) ++burst_batches;
      }
      EXPECT_LE(burst_calls, 2u) << "window " << window.count() << " phase " << phase.count();
      EXPECT_LE(burst_batches, 2u) << "window " << window.count() << " phase " << phase.count();
      EXPECT_EQ(last_version, 10) << "window " << window.count() << " phase " << phase.count();
    }
  }
}

TEST(Coalescer, ContinuousBurstCannotPostponeAFlushBeyondOneWindow) {
  manual_clock clk;
  coalescer c(coalescer_config{250ms, 1024});
  std::vector<scheduled> script;
  script.reserve(200);
  for (int i = 0; i < 200; ++i) script.push_back({milliseconds{10 * i}, upd("1", i)});  // 0..1990 ms
  // Record when each batch is handed out.
  std::vector<time_point> flush_times;
  std::size_t next = 0;
  const time_point start = clk.now();
  for (milliseconds t{0}; t <= 2500ms; t += 1ms) {
    while (next < script.size() && script[next].at == t) c.offer(script[next++].e, clk.now());
    if (!c.take_due(clk.now()).empty()) flush_times.push_back(clk.now());
    clk.advance(1ms);
  }
  ASSERT_GE(flush_times.size(), 7u);
  EXPECT_EQ(flush_times[0], start + 250ms);
  for (std::size_t i = 1; i < flush_times.size(); ++i) {
    EXPECT_LE(flush_times[i] - flush_times[i - 1], milliseconds{260}) << i;  // one window plus the 10 ms gap
  }
}

}  // namespace
}  // namespace rtcache::core
