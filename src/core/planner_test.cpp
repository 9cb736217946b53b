// Unit tests for the planner: every rule of planner.hpp, in its order, and batch planning (docs/design.md §6).
#include "rtcache/core/planner.hpp"

#include "rtcache/core/cache_key.hpp"
#include "rtcache/core/clock.hpp"
#include "rtcache/core/coalescer.hpp"
#include "rtcache/core/event.hpp"
#include "rtcache/core/factory_scope.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcache::core {
namespace {

using keys = std::vector<std::string>;
using patch_list = std::vector<patch_entry>;
using ops = std::vector<operation>;

constexpr std::optional<std::int64_t> k_no_version = std::nullopt;

// ---------------------------------------------------------------------------------------------------------
// Builders

event ev(action a, std::string id = "1", std::optional<std::int64_t> version = std::nullopt, std::string factory = "f1",
         std::string type = "wo") {
  event e;
  e.type = std::move(type);
  e.id = std::move(id);
  e.factory_id = std::move(factory);
  e.act = a;
  e.version = version;
  return e;
}

// An event whose patch covers every changed key.
event covered(action a, std::string id, std::optional<std::int64_t> version) {
  event e = ev(a, std::move(id), version);
  e.changed_keys = keys{"qty", "status"};
  e.patch = patch_list{{"qty", "3"}, {"status", "\"approved\""}};
  return e;
}

// An event whose patch lacks one changed key.
event partial(action a, std::string id, std::optional<std::int64_t> version) {
  event e = ev(a, std::move(id), version);
  e.changed_keys = keys{"qty", "status"};
  e.patch = patch_list{{"status", "\"approved\""}};
  return e;
}

event summary(action a, std::string type = "wo", std::string factory = "f1") {
  event e = ev(a, std::string{k_summary_id}, std::nullopt, std::move(factory), std::move(type));
  e.count = 100;
  return e;
}

operation drop_op(drop_reason r) {
  operation o;
  o.kind = op_kind::drop;
  o.reason = r;
  return o;
}

operation invalidate_op(cache_key k, bool after_fetch = false) {
  operation o;
  o.kind = op_kind::invalidate;
  o.key = std::move(k);
  o.after_fetch = after_fetch;
  return o;
}

operation patch_op(cache_key k, patch_list set, std::optional<std::int64_t> version) {
  operation o;
  o.kind = op_kind::patch;
  o.key = std::move(k);
  o.set = std::move(set);
  o.version = version;
  return o;
}

operation head_op(std::string type = "wo", std::string factory = "f1") {
  operation o;
  o.kind = op_kind::refetch_list_head;
  o.key = key_list_heads(std::move(type), std::move(factory));
  return o;
}

operation resync_op() {
  operation o;
  o.kind = op_kind::resync;
  return o;
}

cached_doc_state cached(std::optional<std::int64_t> version, bool fetching = false) {
  return cached_doc_state{version, fetching};
}

factory_scope scope_f1() {
  return factory_scope::of({std::string_view{"f1"}});
}

// Readable failure output: gtest would otherwise dump operations as bytes.
std::string show(const ops& list) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < list.size(); ++i) {
    const operation& o = list[i];
    if (i) os << ", ";
    os << to_string(o.kind) << '(';
    if (o.key) os << o.key->to_json();
    if (!o.set.empty()) {
      os << " set{";
      for (const patch_entry& p : o.set) os << p.column << '=' << p.json_value << ';';
      os << '}';
    }
    if (o.version) os << " v" << *o.version;
    if (o.after_fetch) os << " after_fetch";
    if (o.reason) os << ' ' << to_string(*o.reason);
    os << ')';
  }
  os << ']';
  return os.str();
}

::testing::AssertionResult same_ops(const ops& actual, const ops& expected) {
  if (actual == expected) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\n  actual:   " << show(actual) << "\n  expected: " << show(expected);
}

// Streams like EXPECT_EQ (EXPECT_OPS(a, b) << "context"), but prints operations readably.
#define EXPECT_OPS(actual, expected) EXPECT_TRUE(same_ops((actual), (expected)))

bool contains(const ops& list, const operation& o) {
  return std::find(list.begin(), list.end(), o) != list.end();
}

// ---------------------------------------------------------------------------------------------------------
// to_string and cache_snapshot

TEST(Planner, OpKindNamesAreStable) {
  EXPECT_EQ(to_string(op_kind::invalidate), "invalidate");
  EXPECT_EQ(to_string(op_kind::patch), "patch");
  EXPECT_EQ(to_string(op_kind::refetch_list_head), "refetch_list_head");
  EXPECT_EQ(to_string(op_kind::resync), "resync");
  EXPECT_EQ(to_string(op_kind::drop), "drop");
}

TEST(Planner, DropReasonNamesAreStable) {
  EXPECT_EQ(to_string(drop_reason::out_of_scope), "out_of_scope");
  EXPECT_EQ(to_string(drop_reason::stale_version), "stale_version");
  EXPECT_EQ(to_string(drop_reason::not_cached), "not_cached");
}

TEST(CacheSnapshot, ReportsNothingForUnknownDoc) {
  cache_snapshot cache;
  EXPECT_EQ(cache.doc("wo", "1"), std::nullopt);
  cache.put("wo", "1", cached(3));
  EXPECT_EQ(cache.doc("wo", "2"), std::nullopt);
  EXPECT_EQ(cache.doc("pl", "1"), std::nullopt);
}

TEST(CacheSnapshot, ReturnsWhatWasPut) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(3, true));
  cache.put("pl", "1", cached(k_no_version));
  const auto wo = cache.doc("wo", "1");
  ASSERT_TRUE(wo.has_value());
  EXPECT_EQ(wo->version, 3);
  EXPECT_TRUE(wo->fetching);
  const auto pl = cache.doc(std::string_view{"pl"}, std::string_view{"1"});
  ASSERT_TRUE(pl.has_value());
  EXPECT_EQ(pl->version, std::nullopt);
  EXPECT_FALSE(pl->fetching);
}

TEST(CacheSnapshot, PutReplacesEarlierState) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(3, true));
  cache.put("wo", "1", cached(4, false));
  const auto wo = cache.doc("wo", "1");
  ASSERT_TRUE(wo.has_value());
  EXPECT_EQ(wo->version, 4);
  EXPECT_FALSE(wo->fetching);
}

// ---------------------------------------------------------------------------------------------------------
// Rule 1: out of scope

TEST(Planner, DropsEventOutsideScope) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(1));
  EXPECT_OPS(plan_event(covered(action::update, "1", 2), factory_scope::of({std::string_view{"f2"}}), cache).ops,
             (ops{drop_op(drop_reason::out_of_scope)}));
}

TEST(Planner, OutOfScopeIsCheckedFirstEvenWhenStale) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(9));
  event e = covered(action::update, "1", 2);  // stale against v9 ...
  e.factory_id = "f2";                        // ... but out of scope wins
  EXPECT_OPS(plan_event(e, scope_f1(), cache).ops, (ops{drop_op(drop_reason::out_of_scope)}));
}

TEST(Planner, OutOfScopeIsCheckedBeforeEveryOtherRule) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(1, true));
  const ops dropped{drop_op(drop_reason::out_of_scope)};
  EXPECT_OPS(plan_event(summary(action::update, "wo", "f2"), scope_f1(), cache).ops, dropped);
  EXPECT_OPS(plan_event(ev(action::create, "1", 1, "f2"), scope_f1(), cache).ops, dropped);
  EXPECT_OPS(plan_event(ev(action::del, "1", 1, "f2"), scope_f1(), cache).ops, dropped);
  EXPECT_OPS(plan_event(ev(action::update, "2", 1, "f2"), scope_f1(), cache).ops, dropped);   // uncached
  EXPECT_OPS(plan_event(ev(action::approve, "1", 5, "f2"), scope_f1(), cache).ops, dropped);  // fetching
}

TEST(Planner, EmptyScopeDropsEverything) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(1));
  const factory_scope none = factory_scope::of(std::vector<std::string>{});
  EXPECT_OPS(plan_event(covered(action::update, "1", 2), none, cache).ops, (ops{drop_op(drop_reason::out_of_scope)}));
  EXPECT_OPS(plan_event(summary(action::create), none, cache).ops, (ops{drop_op(drop_reason::out_of_scope)}));
}

TEST(Planner, UnscopedSeesEveryFactory) {
  cache_snapshot cache;
  EXPECT_OPS(plan_event(ev(action::create, "1", 1, "any-factory"), factory_scope::unscoped(), cache).ops,
             (ops{head_op("wo", "any-factory")}));
}

// ---------------------------------------------------------------------------------------------------------
// Rule 2: factory summaries

TEST(Planner, SummaryRefetchesListHeadOfItsTypeAndFactory) {
  cache_snapshot cache;
  for (action a : {action::create, action::update, action::del, action::approve, action::reject}) {
    EXPECT_OPS(plan_event(summary(a, "grn", "f1"), scope_f1(), cache).ops, (ops{head_op("grn", "f1")})) << to_string(a);
  }
}

TEST(Planner, SummaryIsNotTreatedAsAnUncachedDocUpdate) {
  // id "*" is never cached as a doc; rule 2 comes before the not_cached drop.
  cache_snapshot cache;
  event s = summary(action::update);
  s.changed_keys = keys{"status"};
  s.patch = patch_list{{"status", "1"}};
  EXPECT_OPS(plan_event(s, scope_f1(), cache).ops, (ops{head_op()}));
}

// ---------------------------------------------------------------------------------------------------------
// Rule 3: create and delete

TEST(Planner, CreateRefetchesListHeadOnly) {
  cache_snapshot cache;
  EXPECT_OPS(plan_event(ev(action::create, "1", 1), scope_f1(), cache).ops, (ops{head_op()}));
}

TEST(Planner, CreateOfCachedDocStillRefetchesListHeadOnly) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(1));
  EXPECT_OPS(plan_event(ev(action::create, "1", 2), scope_f1(), cache).ops, (ops{head_op()}));
}

TEST(Planner, DeleteOfUncachedDocRefetchesListHeadOnly) {
  cache_snapshot cache;
  cache.put("wo", "other", cached(1));
  EXPECT_OPS(plan_event(ev(action::del, "1", 3), scope_f1(), cache).ops, (ops{head_op()}));
}

TEST(Planner, DeleteOfCachedDocRefetchesListHeadAndInvalidatesDoc) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(2));
  const ops got = plan_event(ev(action::del, "1", 3), scope_f1(), cache).ops;
  EXPECT_EQ(got.size(), 2u) << show(got);
  EXPECT_TRUE(contains(got, head_op())) << show(got);
  EXPECT_TRUE(contains(got, invalidate_op(key_doc("wo", "1")))) << show(got);
}

TEST(Planner, DeleteOfDocBeingFetchedInvalidatesAfterTheFetch) {
  // docs/design.md §6: an event that lands while the query is fetching must not be lost.
  cache_snapshot cache;
  cache.put("wo", "1", cached(2, true));
  const ops got = plan_event(ev(action::del, "1", 3), scope_f1(), cache).ops;
  EXPECT_EQ(got.size(), 2u) << show(got);
  EXPECT_TRUE(contains(got, head_op())) << show(got);
  EXPECT_TRUE(contains(got, invalidate_op(key_doc("wo", "1"), /*after_fetch=*/true))) << show(got);
}

TEST(Planner, CreateAndDeleteAreDecidedBeforeTheVersionGuard) {
  // Rule 3 precedes rule 5: a list change is refreshed even when the event's version is behind the cache.
  cache_snapshot cache;
  cache.put("wo", "1", cached(9));
  EXPECT_OPS(plan_event(ev(action::create, "1", 1), scope_f1(), cache).ops, (ops{head_op()}));
  const ops del = plan_event(ev(action::del, "1", 1), scope_f1(), cache).ops;
  EXPECT_EQ(del.size(), 2u) << show(del);
  EXPECT_TRUE(contains(del, head_op())) << show(del);
  EXPECT_TRUE(contains(del, invalidate_op(key_doc("wo", "1")))) << show(del);
}

TEST(Planner, ListCreateOrDeleteTouchesOnlyPageOneOfThatList) {
  for (action a : {action::create, action::del}) {
    for (bool is_cached : {false, true}) {
      cache_snapshot cache;
      if (is_cached) cache.put("pu", "77", cached(1));
      event e = ev(a, "77", 2, "f9", "pu");
      const ops got = plan_event(e, factory_scope::of({std::string_view{"f9"}}), cache).ops;
      std::size_t heads = 0;
      for (const operation& o : got) {
        ASSERT_TRUE(o.key.has_value()) << show(got);
        if (o.kind == op_kind::refetch_list_head) {
          ++heads;
          EXPECT_EQ(*o.key, key_list("pu", "f9", 1)) << show(got);
          EXPECT_EQ(o.key->to_json(), R"(["list","pu","f9",{"page":1}])");
        } else {
          // The only other thing a delete may touch is the deleted doc itself.
          EXPECT_EQ(a, action::del) << show(got);
          EXPECT_EQ(o.kind, op_kind::invalidate) << show(got);
          EXPECT_EQ(*o.key, key_doc("pu", "77")) << show(got);
        }
      }
      EXPECT_EQ(heads, 1u) << to_string(a) << " cached=" << is_cached << ' ' << show(got);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Rule 4: update/approve/reject of an uncached doc

TEST(Planner, DropsUpdateApproveRejectOfUncachedDoc) {
  cache_snapshot cache;
  cache.put("wo", "other", cached(1));
  cache.put("pl", "1", cached(1));  // same id, other type
  for (action a : {action::update, action::approve, action::reject}) {
    EXPECT_OPS(plan_event(ev(a, "1", 2), scope_f1(), cache).ops, (ops{drop_op(drop_reason::not_cached)}))
        << to_string(a);
    EXPECT_OPS(plan_event(covered(a, "1", 2), scope_f1(), cache).ops, (ops{drop_op(drop_reason::not_cached)}))
        << to_string(a);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Rule 5: stale versions

TEST(Planner, DropsEventOlderThanCachedVersion) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(5));
  for (action a : {action::update, action::approve, action::reject}) {
    EXPECT_OPS(plan_event(covered(a, "1", 4), scope_f1(), cache).ops, (ops{drop_op(drop_reason::stale_version)}))
        << to_string(a);
    EXPECT_OPS(plan_event(ev(a, "1", 4), scope_f1(), cache).ops, (ops{drop_op(drop_reason::stale_version)}))
        << to_string(a);
  }
}

TEST(Planner, StaleIsCheckedBeforeFetchInFlight) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(5, true));
  EXPECT_OPS(plan_event(covered(action::update, "1", 4), scope_f1(), cache).ops,
             (ops{drop_op(drop_reason::stale_version)}));
}

TEST(Planner, EqualVersionIsNotStaleButInvalidatesInsteadOfPatching) {
  // Two writes at one version (no bump) would make a late patch overwrite the newer value: refetch instead.
  cache_snapshot cache;
  cache.put("wo", "1", cached(5));
  EXPECT_OPS(plan_event(covered(action::update, "1", 5), scope_f1(), cache).ops,
             (ops{invalidate_op(key_doc("wo", "1"))}));
}

TEST(Planner, MissingVersionOnEitherSideIsNotStale) {
  cache_snapshot cache;
  cache.put("wo", "versioned", cached(5));
  cache.put("wo", "unversioned", cached(k_no_version));
  EXPECT_OPS(plan_event(ev(action::update, "versioned", k_no_version), scope_f1(), cache).ops,
             (ops{invalidate_op(key_doc("wo", "versioned"))}));
  EXPECT_OPS(plan_event(ev(action::update, "unversioned", 1), scope_f1(), cache).ops,
             (ops{invalidate_op(key_doc("wo", "unversioned"))}));
  EXPECT_OPS(plan_event(ev(action::update, "unversioned", k_no_version), scope_f1(), cache).ops,
             (ops{invalidate_op(key_doc("wo", "unversioned"))}));
}

// ---------------------------------------------------------------------------------------------------------
// Rule 6: a fetch in flight

TEST(Planner, InvalidatesAfterFetchWhenFetchInFlight) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(5, true));
  for (action a : {action::update, action::approve, action::reject}) {
    EXPECT_OPS(plan_event(ev(a, "1", 6), scope_f1(), cache).ops,
               (ops{invalidate_op(key_doc("wo", "1"), /*after_fetch=*/true)}))
        << to_string(a);
  }
}

TEST(Planner, FetchInFlightInvalidatesEvenWhenPatchCovers) {
  // The fetch's result may predate the event; patching it now would be overwritten when it lands.
  cache_snapshot cache;
  cache.put("wo", "1", cached(5, true));
  EXPECT_OPS(plan_event(covered(action::update, "1", 6), scope_f1(), cache).ops,
             (ops{invalidate_op(key_doc("wo", "1"), true)}));
  cache.put("wo", "2", cached(k_no_version, true));
  EXPECT_OPS(plan_event(covered(action::approve, "2", k_no_version), scope_f1(), cache).ops,
             (ops{invalidate_op(key_doc("wo", "2"), true)}));
}

// ---------------------------------------------------------------------------------------------------------
// Rule 7: patch or invalidate

TEST(Planner, PatchesWhenPatchCoversEveryChangedKey) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(5));
  for (action a : {action::update, action::approve, action::reject}) {
    const event e = covered(a, "1", 6);
    EXPECT_OPS(plan_event(e, scope_f1(), cache).ops, (ops{patch_op(key_doc("wo", "1"), e.patch.value(), 6)}))
        << to_string(a);
  }
}

// Regression (docs/benchmarks-cost.md finding 2): v3's patch arriving before v2 must not label the doc v3
// while it lacks v2's change; it invalidates, and v2, arriving after the refetch, is stale.
TEST(Planner, PatchOverAVersionGapInvalidates) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(1));
  EXPECT_OPS(plan_event(covered(action::update, "1", 3), scope_f1(), cache).ops,
             (ops{invalidate_op(key_doc("wo", "1"))}));
  cache.put("wo", "1", cached(3));  // the refetch landed
  event v2 = ev(action::update, "1", 2);
  v2.changed_keys = keys{"note"};
  EXPECT_OPS(plan_event(v2, scope_f1(), cache).ops, (ops{drop_op(drop_reason::stale_version)}));
}

TEST(Planner, VersionedPatchOnDocCachedWithoutVersionInvalidates) {
  // The cached doc's version is unknown, so a gap cannot be ruled out.
  cache_snapshot cache;
  cache.put("wo", "1", cached(k_no_version));
  EXPECT_OPS(plan_event(covered(action::update, "1", 1), scope_f1(), cache).ops,
             (ops{invalidate_op(key_doc("wo", "1"))}));
}

TEST(Planner, IsNextVersionOnlyForExactlyOneMore) {
  constexpr std::int64_t k_max = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t k_min = std::numeric_limits<std::int64_t>::min();
  EXPECT_TRUE(is_next_version(k_no_version, k_no_version));
  EXPECT_TRUE(is_next_version(k_no_version, 7));
  EXPECT_TRUE(is_next_version(8, 7));
  EXPECT_TRUE(is_next_version(k_max, k_max - 1));
  EXPECT_TRUE(is_next_version(k_min + 1, k_min));
  EXPECT_FALSE(is_next_version(7, 7));
  EXPECT_FALSE(is_next_version(9, 7));
  EXPECT_FALSE(is_next_version(6, 7));
  EXPECT_FALSE(is_next_version(1, k_no_version));
  EXPECT_FALSE(is_next_version(k_max, k_min));
  EXPECT_FALSE(is_next_version(k_min, k_max));
}

TEST(Planner, PatchRecordsNoVersionWhenEventHasNone) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(k_no_version));
  const event e = covered(action::update, "1", k_no_version);
  EXPECT_OPS(plan_event(e, scope_f1(), cache).ops, (ops{patch_op(key_doc("wo", "1"), e.patch.value(), k_no_version)}));
}

TEST(Planner, PatchSetsAtLeastEveryChangedColumn) {
  // A patch may carry more allowed columns than changed; every changed one must be set.
  cache_snapshot cache;
  cache.put("wo", "1", cached(1));
  event e = ev(action::update, "1", 2);
  e.changed_keys = keys{"status"};
  e.patch = patch_list{{"note", "\"x\""}, {"status", "\"done\""}};
  const ops got = plan_event(e, scope_f1(), cache).ops;
  ASSERT_EQ(got.size(), 1u) << show(got);
  EXPECT_EQ(got[0].kind, op_kind::patch) << show(got);
  EXPECT_EQ(got[0].key, key_doc("wo", "1"));
  EXPECT_EQ(got[0].version, 2);
  EXPECT_FALSE(got[0].after_fetch);
  EXPECT_EQ(got[0].reason, std::nullopt);
  EXPECT_NE(std::find(got[0].set.begin(), got[0].set.end(), patch_entry{"status", "\"done\""}), got[0].set.end())
      << show(got);
}

TEST(Planner, InvalidatesWhenPatchIsPartial) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(5));
  for (action a : {action::update, action::approve, action::reject}) {
    EXPECT_OPS(plan_event(partial(a, "1", 6), scope_f1(), cache).ops, (ops{invalidate_op(key_doc("wo", "1"))}))
        << to_string(a);
  }
}

TEST(Planner, InvalidatesWhenChangedKeysAreMissing) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(5));
  event e = ev(action::update, "1", 6);
  e.patch = patch_list{{"status", "1"}};  // a patch alone says nothing about what changed
  EXPECT_OPS(plan_event(e, scope_f1(), cache).ops, (ops{invalidate_op(key_doc("wo", "1"))}));
  EXPECT_OPS(plan_event(ev(action::update, "1", 6), scope_f1(), cache).ops, (ops{invalidate_op(key_doc("wo", "1"))}));
}

TEST(Planner, InvalidatesWhenChangedKeysAreEmptyOrPatchMissing) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(5));
  event empty_keys = ev(action::update, "1", 6);
  empty_keys.changed_keys = keys{};
  empty_keys.patch = patch_list{};
  EXPECT_OPS(plan_event(empty_keys, scope_f1(), cache).ops, (ops{invalidate_op(key_doc("wo", "1"))}));

  event no_patch = ev(action::update, "1", 6);
  no_patch.changed_keys = keys{"status"};
  EXPECT_OPS(plan_event(no_patch, scope_f1(), cache).ops, (ops{invalidate_op(key_doc("wo", "1"))}));
}

TEST(Planner, DocUpdateTouchesOnlyThatDocKey) {
  const std::vector<std::optional<cached_doc_state>> states{
      std::nullopt, cached(k_no_version), cached(1), cached(5), cached(9), cached(1, true), cached(k_no_version, true)};
  for (action a : {action::update, action::approve, action::reject}) {
    for (const auto& state : states) {
      for (const event& e : {covered(a, "42", 5), partial(a, "42", 5), ev(a, "42", 5), ev(a, "42", k_no_version)}) {
        cache_snapshot cache;
        cache.put("wo", "41", cached(1));
        cache.put("wo", "43", cached(1));
        if (state) cache.put("wo", "42", *state);
        const ops got = plan_event(e, scope_f1(), cache).ops;
        ASSERT_EQ(got.size(), 1u) << show(got);
        const operation& o = got[0];
        EXPECT_NE(o.kind, op_kind::refetch_list_head) << show(got);
        EXPECT_NE(o.kind, op_kind::resync) << show(got);
        if (o.kind == op_kind::drop) {
          EXPECT_EQ(o.key, std::nullopt) << show(got);
        } else {
          EXPECT_EQ(o.key, key_doc("wo", "42")) << show(got);
          EXPECT_EQ(o.key->to_json(), R"(["doc","wo","42"])");
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// plan_batch

TEST(Planner, EmptyBatchPlansNothing) {
  cache_snapshot cache;
  EXPECT_TRUE(plan_batch(batch{}, scope_f1(), cache).ops.empty());
}

TEST(Planner, ResyncBatchYieldsOneResync) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(1));
  batch b;
  b.resync = true;
  b.absorbed = 5000;
  EXPECT_OPS(plan_batch(b, scope_f1(), cache).ops, (ops{resync_op()}));
  EXPECT_OPS(plan_batch(b, factory_scope::unscoped(), cache).ops, (ops{resync_op()}));
}

TEST(Planner, ResyncBatchFromOverflowedCoalescerYieldsOneResync) {
  manual_clock clk;
  coalescer c(coalescer_config{std::chrono::milliseconds{300}, 2});
  for (int i = 0; i < 5; ++i) c.offer(ev(action::update, std::to_string(i), 1), clk.now());
  const batch b = c.flush();
  ASSERT_TRUE(b.resync);
  cache_snapshot cache;
  EXPECT_OPS(plan_batch(b, scope_f1(), cache).ops, (ops{resync_op()}));
}

TEST(Planner, CoalescedBurstOfOneDocPlansOnePatchWithNewestVersion) {
  // Out-of-order arrivals of one doc's updates, coalesced then planned: one patch, newest version and values,
  // and the older event's extra column kept. The run v2..v3 patches the doc cached at v1.
  manual_clock clk;
  coalescer c;
  event v3 = ev(action::update, "1", 3);
  v3.changed_keys = keys{"qty"};
  v3.patch = patch_list{{"qty", "7"}};
  event v2 = ev(action::update, "1", 2);
  v2.changed_keys = keys{"qty", "note"};
  v2.patch = patch_list{{"note", "\"n\""}, {"qty", "6"}};
  c.offer(v3, clk.now());
  c.offer(v2, clk.now());
  cache_snapshot cache;
  cache.put("wo", "1", cached(1));
  EXPECT_OPS(plan_batch(c.flush(), scope_f1(), cache).ops,
             (ops{patch_op(key_doc("wo", "1"), patch_list{{"note", "\"n\""}, {"qty", "7"}}, 3)}));
}

// A coalesced run: offers `versions` of one doc's covered update (nullopt: no version) and plans the batch
// against a doc cached at `cached_version`.
ops plan_run(std::optional<std::int64_t> cached_version, const std::vector<std::optional<std::int64_t>>& versions) {
  manual_clock clk;
  coalescer c;
  for (const auto& v : versions) c.offer(covered(action::update, "1", v), clk.now());
  cache_snapshot cache;
  cache.put("wo", "1", cached(cached_version));
  return plan_batch(c.flush(), scope_f1(), cache).ops;
}

TEST(Planner, CoalescedContiguousRunFromTheNextVersionPatchesOnce) {
  const patch_list set = covered(action::update, "1", 5).patch.value();
  EXPECT_OPS(plan_run(2, {3, 4, 5}), (ops{patch_op(key_doc("wo", "1"), set, 5)}));
  EXPECT_OPS(plan_run(2, {5, 3, 4}), (ops{patch_op(key_doc("wo", "1"), set, 5)})) << "arrival order is free";
  EXPECT_OPS(plan_run(k_no_version, {k_no_version, k_no_version}),
             (ops{patch_op(key_doc("wo", "1"), set, k_no_version)}));
}

TEST(Planner, CoalescedRunThatIsNotContiguousFromTheNextVersionInvalidates) {
  const ops inv{invalidate_op(key_doc("wo", "1"))};
  EXPECT_OPS(plan_run(1, {3, 4, 5}), inv) << "starts past the cached version + 1";
  EXPECT_OPS(plan_run(2, {3, 5}), inv) << "a gap inside the run";
  EXPECT_OPS(plan_run(2, {3, 3, 4}), inv) << "a version delivered twice";
  EXPECT_OPS(plan_run(2, {3, k_no_version, 4}), inv) << "an event without a version";
  EXPECT_OPS(plan_run(k_no_version, {1, 2}), inv) << "the cached version is unknown";
}

TEST(Planner, CoalescedRunLongerThanTheTrackedBoundInvalidates) {
  std::vector<std::optional<std::int64_t>> run;
  for (std::int64_t v = 1; v <= 64; ++v) run.emplace_back(v);
  EXPECT_OPS(plan_run(0, run), (ops{patch_op(key_doc("wo", "1"), covered(action::update, "1", 1).patch.value(), 64)}));
  run.emplace_back(65);
  EXPECT_OPS(plan_run(0, run), (ops{invalidate_op(key_doc("wo", "1"))}));
}

TEST(Planner, CoalescedRunWithoutFirstVersionsIsJudgedByItsHighestVersion) {
  // v2 + v3 merged on a doc cached at v1 are a run from v2: patched. Planned from the events alone (no
  // first_versions, as a vector's batch is), the merge carries only v3 and invalidates.
  manual_clock clk;
  coalescer c;
  c.offer(covered(action::update, "1", 2), clk.now());
  c.offer(covered(action::update, "1", 3), clk.now());
  batch b = c.flush();
  ASSERT_EQ(b.first_versions, (std::vector<std::optional<std::int64_t>>{2}));
  cache_snapshot cache;
  cache.put("wo", "1", cached(1));
  EXPECT_OPS(plan_batch(b, scope_f1(), cache).ops,
             (ops{patch_op(key_doc("wo", "1"), covered(action::update, "1", 3).patch.value(), 3)}));
  b.first_versions.clear();
  EXPECT_OPS(plan_batch(b, scope_f1(), cache).ops, (ops{invalidate_op(key_doc("wo", "1"))}));
}

TEST(Planner, CoalescedOlderValueIsNeverPatchedOverANewerChange) {
  // v2 changed status without sending its value; v1's value must not be patched in its place.
  manual_clock clk;
  coalescer c;
  event v1 = ev(action::update, "1", 1);
  v1.changed_keys = keys{"status"};
  v1.patch = patch_list{{"status", "\"draft\""}};
  event v2 = ev(action::update, "1", 2);
  v2.changed_keys = keys{"status"};
  c.offer(v1, clk.now());
  c.offer(v2, clk.now());
  cache_snapshot cache;
  cache.put("wo", "1", cached(0));
  EXPECT_OPS(plan_batch(c.flush(), scope_f1(), cache).ops, (ops{invalidate_op(key_doc("wo", "1"))}));
}

TEST(Planner, BatchPlansEachEventInOrder) {
  cache_snapshot cache;
  cache.put("wo", "2", cached(1));
  cache.put("wo", "3", cached(1));
  batch b;
  b.events = {ev(action::create, "1", 1),       covered(action::update, "2", 2), ev(action::update, "3", 2),
              ev(action::update, "4", 1, "f2"), ev(action::update, "5", 1),      summary(action::del, "dn")};
  EXPECT_OPS(plan_batch(b, scope_f1(), cache).ops,
             (ops{head_op(), patch_op(key_doc("wo", "2"), covered(action::update, "2", 2).patch.value(), 2),
                  invalidate_op(key_doc("wo", "3")), drop_op(drop_reason::out_of_scope),
                  drop_op(drop_reason::not_cached), head_op("dn", "f1")}));
}

TEST(Planner, BatchJudgesLaterEventAgainstVersionEarlierPatchRecorded) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(4));
  batch b;
  b.events = {covered(action::update, "1", 5), covered(action::approve, "1", 4)};
  // The second event equals the cache (v4) but is older than what the first patch recorded (v5).
  EXPECT_OPS(plan_batch(b, scope_f1(), cache).ops,
             (ops{patch_op(key_doc("wo", "1"), covered(action::update, "1", 5).patch.value(), 5),
                  drop_op(drop_reason::stale_version)}));
}

TEST(Planner, BatchPatchesAscendingVersionsOfOneDocInTurn) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(1));
  batch b;
  b.events = {covered(action::update, "1", 2), covered(action::approve, "1", 3)};
  const patch_list set = covered(action::update, "1", 2).patch.value();
  EXPECT_OPS(plan_batch(b, scope_f1(), cache).ops,
             (ops{patch_op(key_doc("wo", "1"), set, 2), patch_op(key_doc("wo", "1"), set, 3)}));
}

TEST(Planner, BatchInvalidatesEqualVersionAfterPatch) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(1));
  batch b;
  b.events = {covered(action::update, "1", 2), covered(action::approve, "1", 2)};
  const patch_list set = covered(action::update, "1", 2).patch.value();
  EXPECT_OPS(plan_batch(b, scope_f1(), cache).ops,
             (ops{patch_op(key_doc("wo", "1"), set, 2), invalidate_op(key_doc("wo", "1"))}));
}

// Regression (docs/benchmarks-cost.md finding 1): each planned refetch makes TanStack cancel and resend
// the request, so three creates of one list in one window must cost one page-1 refetch.
TEST(Planner, BatchRefetchesEachListHeadOnce) {
  cache_snapshot cache;
  batch b;
  b.events = {ev(action::create, "1", 1), ev(action::create, "2", 1), ev(action::create, "3", 1, "f1", "grn"),
              ev(action::del, "4", 3),    summary(action::update),    summary(action::create, "grn")};
  EXPECT_OPS(plan_batch(b, scope_f1(), cache).ops, (ops{head_op(), head_op("grn", "f1")}));
}

TEST(Planner, BatchInvalidatesADocOnce) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(5));
  cache.put("wo", "2", cached(5, true));
  batch b;
  b.events = {ev(action::update, "1", 6), covered(action::approve, "1", 8), ev(action::del, "1", 9),
              ev(action::update, "2", 6), ev(action::reject, "2", 7)};
  EXPECT_OPS(plan_batch(b, scope_f1(), cache).ops,
             (ops{invalidate_op(key_doc("wo", "1")), head_op(), invalidate_op(key_doc("wo", "2"), true)}));
}

TEST(Planner, BatchRecordedVersionIsPerDocument) {
  cache_snapshot cache;
  cache.put("wo", "a", cached(8));
  cache.put("wo", "b", cached(2));
  cache.put("pl", "a", cached(2));
  batch b;
  b.events = {covered(action::update, "a", 9), covered(action::update, "b", 3)};
  event other_type = covered(action::update, "a", 3);
  other_type.type = "pl";
  b.events.push_back(other_type);
  const patch_list set = covered(action::update, "a", 9).patch.value();
  EXPECT_OPS(plan_batch(b, scope_f1(), cache).ops,
             (ops{patch_op(key_doc("wo", "a"), set, 9), patch_op(key_doc("wo", "b"), set, 3),
                  patch_op(key_doc("pl", "a"), set, 3)}));
}

TEST(Planner, BatchPlanningLeavesTheCacheViewUntouched) {
  cache_snapshot cache;
  cache.put("wo", "1", cached(4));
  batch b;
  b.events = {covered(action::update, "1", 5), covered(action::approve, "1", 6)};
  const ops first = plan_batch(b, scope_f1(), cache).ops;
  ASSERT_EQ(first.size(), 2U) << show(first);
  EXPECT_EQ(first[1].kind, op_kind::patch) << show(first);
  const ops second = plan_batch(b, scope_f1(), cache).ops;
  EXPECT_OPS(second, first);
  ASSERT_TRUE(cache.doc("wo", "1").has_value());
  EXPECT_EQ(cache.doc("wo", "1")->version, 4);
  // Single events are judged against the cache alone: the batch's recorded v5 does not leak (v6 is a gap).
  EXPECT_OPS(plan_event(covered(action::approve, "1", 6), scope_f1(), cache).ops,
             (ops{invalidate_op(key_doc("wo", "1"))}));
}

}  // namespace
}  // namespace rtcache::core
