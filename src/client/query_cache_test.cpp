// The query cache's state machine: fetch lifecycle, dedupe, stale time, invalidation with and without
// observers, the TanStack/query#8530 rule, set_query_data, patch, and garbage collection on a manual clock.
#include "rtcache/client/query_cache.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <string>
#include <vector>

namespace rtcache::client {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// A fetcher whose fetches the test completes by hand, in any order.
struct manual_fetcher {
  struct pending {
    cache_key key;
    fetch_callback done;
  };
  std::deque<pending> pending_fetches;
  fetcher fn() {
    return [this](const cache_key& k, fetch_callback done) { pending_fetches.push_back({k, std::move(done)}); };
  }
  void complete_next(json::value v, std::optional<std::int64_t> version = std::nullopt) {
    ASSERT_FALSE(pending_fetches.empty());
    auto p = std::move(pending_fetches.front());
    pending_fetches.pop_front();
    p.done(fetch_result::success(std::move(v), version));
  }
};

class QueryCache : public ::testing::Test {
 protected:
  core::manual_clock clock_;
  manual_fetcher fetcher_;
  query_cache_config config_{};
  const cache_key doc_ = core::key_doc("wo", "1");
};

TEST_F(QueryCache, ObserveFetchesOnceAndSettlesToSuccessWithDataAndVersion) {
  query_cache cache(clock_, fetcher_.fn());
  std::vector<query_state> seen;
  auto obs = cache.observe(doc_, [&](const cache_key&, const query_state& s) { seen.push_back(s); });
  ASSERT_EQ(fetcher_.pending_fetches.size(), 1U);
  EXPECT_EQ(cache.state(doc_)->status, query_status::pending);
  EXPECT_EQ(cache.state(doc_)->fetch, fetch_status::fetching);
  fetcher_.complete_next(json::object{{"status", "open"}}, 3);
  const query_state* s = cache.state(doc_);
  EXPECT_EQ(s->status, query_status::success);
  EXPECT_EQ(s->fetch, fetch_status::idle);
  EXPECT_EQ(s->data_version, 3);
  EXPECT_EQ(*s->data, json::parse(R"({"status":"open"})"));
  ASSERT_EQ(seen.size(), 2U);  // fetching, then success
  EXPECT_EQ(seen.back().status, query_status::success);
}

TEST_F(QueryCache, SecondFetchWhileOneIsInFlightJoinsIt) {
  query_cache cache(clock_, fetcher_.fn());
  auto a = cache.observe(doc_);
  auto b = cache.observe(doc_);
  cache.fetch(doc_);
  EXPECT_EQ(fetcher_.pending_fetches.size(), 1U);
  EXPECT_EQ(cache.state(doc_)->fetches, 1U);
  EXPECT_EQ(cache.state(doc_)->observers, 2U);
}

TEST_F(QueryCache, FreshDataIsNotRefetchedOnMountWithinStaleTime) {
  config_.stale_time = 1000ms;
  query_cache cache(clock_, fetcher_.fn(), config_);
  {
    auto obs = cache.observe(doc_);
    fetcher_.complete_next(json::object{});
  }
  clock_.advance(999ms);
  auto again = cache.observe(doc_);
  EXPECT_TRUE(fetcher_.pending_fetches.empty());
  again.reset();
  clock_.advance(1ms);
  auto stale = cache.observe(doc_);
  EXPECT_EQ(fetcher_.pending_fetches.size(), 1U);
  EXPECT_TRUE(is_stale(*cache.state(doc_), clock_.now(), config_.stale_time));
}

TEST_F(QueryCache, InvalidateRefetchesAnActiveQuery) {
  query_cache cache(clock_, fetcher_.fn());
  auto obs = cache.observe(doc_);
  fetcher_.complete_next(json::object{});
  EXPECT_TRUE(cache.invalidate(doc_));
  EXPECT_EQ(fetcher_.pending_fetches.size(), 1U);
  EXPECT_TRUE(cache.state(doc_)->invalidated);
  fetcher_.complete_next(json::object{{"n", 2}});
  EXPECT_FALSE(cache.state(doc_)->invalidated);
  EXPECT_EQ(cache.state(doc_)->fetches, 2U);
}

TEST_F(QueryCache, InvalidateOnlyMarksAnInactiveQueryStaleAndTheNextMountRefetches) {
  config_.stale_time = 60s;
  query_cache cache(clock_, fetcher_.fn(), config_);
  cache.set_query_data(doc_, json::object{{"n", 1}});
  EXPECT_TRUE(cache.invalidate(doc_));
  EXPECT_TRUE(fetcher_.pending_fetches.empty());
  EXPECT_TRUE(cache.state(doc_)->invalidated);
  auto obs = cache.observe(doc_);
  EXPECT_EQ(fetcher_.pending_fetches.size(), 1U);
  EXPECT_FALSE(cache.invalidate(core::key_doc("wo", "absent")));
}

// TanStack/query#8530: the in-flight result may predate the change, so one more fetch follows it.
TEST_F(QueryCache, InvalidateDuringAFetchRefetchesOnceAfterItSettles) {
  query_cache cache(clock_, fetcher_.fn());
  auto obs = cache.observe(doc_);
  cache.invalidate(doc_);
  cache.invalidate(doc_);
  EXPECT_EQ(fetcher_.pending_fetches.size(), 1U);
  EXPECT_TRUE(cache.state(doc_)->refetch_after_fetch);
  fetcher_.complete_next(json::object{{"n", 1}});
  ASSERT_EQ(fetcher_.pending_fetches.size(), 1U);
  EXPECT_EQ(cache.state(doc_)->fetch, fetch_status::fetching);
  fetcher_.complete_next(json::object{{"n", 2}});
  EXPECT_TRUE(fetcher_.pending_fetches.empty());
  EXPECT_EQ(cache.state(doc_)->fetches, 2U);
  EXPECT_EQ(*cache.data(doc_), json::parse(R"({"n":2})"));
}

TEST_F(QueryCache, InvalidateDuringAFetchOfAnInactiveQueryLeavesItStaleWithoutFetchingAgain) {
  query_cache cache(clock_, fetcher_.fn());
  cache.fetch(doc_);  // a prefetch: nobody observes it
  cache.invalidate(doc_);
  fetcher_.complete_next(json::object{{"n", 1}});
  EXPECT_TRUE(fetcher_.pending_fetches.empty());
  EXPECT_TRUE(cache.state(doc_)->invalidated) << "the result may predate the change";
  auto obs = cache.observe(doc_);
  EXPECT_EQ(fetcher_.pending_fetches.size(), 1U);
}

TEST_F(QueryCache, FailedFetchKeepsOldDataAndReportsTheError) {
  query_cache cache(clock_, fetcher_.fn());
  auto obs = cache.observe(doc_);
  fetcher_.complete_next(json::object{{"n", 1}});
  cache.invalidate(doc_);
  auto p = std::move(fetcher_.pending_fetches.front());
  fetcher_.pending_fetches.pop_front();
  p.done(fetch_result::failure("HTTP 503"));
  EXPECT_EQ(cache.state(doc_)->status, query_status::error);
  EXPECT_EQ(cache.state(doc_)->error, "HTTP 503");
  EXPECT_EQ(*cache.data(doc_), json::parse(R"({"n":1})"));
}

TEST_F(QueryCache, ACompletionCalledTwiceOrAfterTheEntryIsGoneIsIgnored) {
  config_.gc_time = 10ms;
  query_cache cache(clock_, fetcher_.fn(), config_);
  fetch_callback first;
  {
    auto obs = cache.observe(doc_);
    first = fetcher_.pending_fetches.front().done;
    fetcher_.complete_next(json::object{{"n", 1}});
    first(fetch_result::success(json::object{{"n", 99}}));
    EXPECT_EQ(*cache.data(doc_), json::parse(R"({"n":1})"));
  }
  clock_.advance(10ms);
  EXPECT_EQ(cache.collect_garbage(clock_.now()), 1U);
  first(fetch_result::success(json::object{{"n", 99}}));
  EXPECT_FALSE(cache.contains(doc_));
}

TEST_F(QueryCache, SetQueryDataMakesTheQueryFreshAndNotifiesObservers) {
  config_.stale_time = 1s;
  query_cache cache(clock_, fetcher_.fn(), config_);
  int notified = 0;
  auto obs = cache.observe(doc_, [&](const cache_key&, const query_state&) { ++notified; });
  fetcher_.complete_next(json::object{});
  const int before = notified;
  cache.set_query_data(doc_, json::object{{"status", "approved"}}, 7);
  EXPECT_EQ(notified, before + 1);
  EXPECT_EQ(cache.state(doc_)->data_version, 7);
  EXPECT_FALSE(is_stale(*cache.state(doc_), clock_.now(), config_.stale_time));
}

TEST_F(QueryCache, PatchSetsColumnsRecordsTheVersionAndKeepsOtherFields) {
  query_cache cache(clock_, fetcher_.fn());
  cache.set_query_data(doc_, json::parse(R"({"status":"open","qty":1})"), 1);
  const auto before = cache.data(doc_);
  ASSERT_TRUE(cache.patch(doc_, {{"status", "\"approved\""}, {"meta", "{\"a\":[1,2]}"}}, 2));
  EXPECT_EQ(*cache.data(doc_), json::parse(R"({"status":"approved","qty":1,"meta":{"a":[1,2]}})"));
  EXPECT_EQ(cache.state(doc_)->data_version, 2);
  EXPECT_EQ(*before, json::parse(R"({"status":"open","qty":1})")) << "data handed out earlier is never mutated";
  EXPECT_TRUE(fetcher_.pending_fetches.empty()) << "a patch never fetches";
}

TEST_F(QueryCache, PatchRefusesWithoutObjectData) {
  query_cache cache(clock_, fetcher_.fn());
  EXPECT_FALSE(cache.patch(doc_, {{"status", "1"}}, 2));
  cache.set_query_data(doc_, json::array{1, 2});
  EXPECT_FALSE(cache.patch(doc_, {{"status", "1"}}, 2));
  EXPECT_EQ(*cache.data(doc_), json::parse("[1,2]"));
}

TEST_F(QueryCache, LastObserverLeavingStartsTheGcClockAndObservingAgainStopsIt) {
  config_.gc_time = 100ms;
  query_cache cache(clock_, fetcher_.fn(), config_);
  auto obs = cache.observe(doc_);
  fetcher_.complete_next(json::object{});
  EXPECT_TRUE(cache.is_active(doc_));
  EXPECT_FALSE(cache.next_gc_deadline().has_value());
  obs.reset();
  EXPECT_FALSE(cache.is_active(doc_));
  EXPECT_EQ(cache.next_gc_deadline(), clock_.now() + 100ms);
  clock_.advance(50ms);
  EXPECT_EQ(cache.collect_garbage(clock_.now()), 0U);
  auto back = cache.observe(doc_);
  clock_.advance(100ms);
  EXPECT_EQ(cache.collect_garbage(clock_.now()), 0U);
  back.reset();
  clock_.advance(100ms);
  EXPECT_EQ(cache.collect_garbage(clock_.now()), 1U);
  EXPECT_EQ(cache.size(), 0U);
}

TEST_F(QueryCache, RefetchIfActiveFetchesActiveQueriesAndMarksInactiveOnesStale) {
  query_cache cache(clock_, fetcher_.fn());
  const cache_key list = core::key_list_heads("wo", "f1");
  cache.set_query_data(list, json::array{});
  EXPECT_FALSE(cache.refetch_if_active(list));
  EXPECT_TRUE(cache.state(list)->invalidated);
  EXPECT_TRUE(fetcher_.pending_fetches.empty());
  auto obs = cache.observe(list);  // stale: mounts fetch
  fetcher_.complete_next(json::array{});
  EXPECT_TRUE(cache.refetch_if_active(list));
  EXPECT_EQ(fetcher_.pending_fetches.size(), 1U);
}

TEST_F(QueryCache, RefetchAllActiveFetchesEachActiveQueryOnce) {
  query_cache cache(clock_, fetcher_.fn());
  auto a = cache.observe(doc_);
  auto b = cache.observe(core::key_doc("wo", "2"));
  fetcher_.complete_next(json::object{});
  fetcher_.complete_next(json::object{});
  cache.set_query_data(core::key_doc("wo", "3"), json::object{});
  EXPECT_EQ(cache.refetch_all_active(), 2U);
  EXPECT_EQ(fetcher_.pending_fetches.size(), 2U);
  EXPECT_TRUE(cache.state(core::key_doc("wo", "3"))->invalidated);
}

TEST_F(QueryCache, RefetchAllActiveTakesOnlyTheQueriesSelected) {
  query_cache cache(clock_, fetcher_.fn());
  auto a = cache.observe(doc_);
  auto b = cache.observe(core::key_list("wo", "f1", 2));
  fetcher_.complete_next(json::object{});
  fetcher_.complete_next(json::array{});
  EXPECT_EQ(cache.refetch_all_active([](const cache_key& k) { return k.kind == core::cache_key_kind::doc; }), 1U);
  EXPECT_EQ(fetcher_.pending_fetches.size(), 1U);
  EXPECT_FALSE(cache.state(core::key_list("wo", "f1", 2))->invalidated);
}

// issue 12 (the client conformance vectors): the TypeScript SDK's cache reads a doc's version from its object,
// so a patch writes it there; this cache kept the object's "version" at the value before the patch.
TEST_F(QueryCache, PatchMovesTheObjectsVersionMemberWithTheVersion) {
  query_cache cache(clock_, fetcher_.fn());
  cache.set_query_data(doc_, json::object{{"status", "open"}, {"version", 1}}, 1);
  ASSERT_TRUE(cache.patch(doc_, {{"status", "\"done\""}}, 2));
  EXPECT_EQ(*cache.data(doc_), json::parse(R"({"status":"done","version":2})"));
  EXPECT_EQ(cache.state(doc_)->data_version, 2);
  const cache_key other = core::key_doc("wo", "2");
  cache.set_query_data(other, json::object{{"status", "open"}}, 1);  // a version kept apart from the object
  ASSERT_TRUE(cache.patch(other, {{"status", "\"done\""}}, 2));
  EXPECT_EQ(*cache.data(other), json::parse(R"({"status":"done"})"));
}

TEST_F(QueryCache, PlannerViewReportsVersionFetchingAndFirstLoad) {
  query_cache cache(clock_, fetcher_.fn());
  EXPECT_FALSE(cache.doc("wo", "1").has_value());
  auto obs = cache.observe(doc_);
  auto first_load = cache.doc("wo", "1");
  ASSERT_TRUE(first_load.has_value());
  EXPECT_FALSE(first_load->has_data);
  EXPECT_TRUE(first_load->fetching);
  fetcher_.complete_next(json::object{}, 4);
  auto loaded = cache.doc("wo", "1");
  EXPECT_TRUE(loaded->has_data);
  EXPECT_FALSE(loaded->fetching);
  EXPECT_EQ(loaded->version, 4);
}

TEST_F(QueryCache, EntryBoundEvictsTheOldestInactiveEntriesButNeverAnActiveOne) {
  config_.max_entries = 2;
  query_cache cache(clock_, fetcher_.fn(), config_);
  auto active = cache.observe(doc_);
  clock_.advance(1ms);
  cache.set_query_data(core::key_doc("wo", "2"), json::object{});
  clock_.advance(1ms);
  cache.set_query_data(core::key_doc("wo", "3"), json::object{});
  EXPECT_EQ(cache.size(), 2U);
  EXPECT_TRUE(cache.contains(doc_));
  EXPECT_FALSE(cache.contains(core::key_doc("wo", "2")));
  EXPECT_TRUE(cache.contains(core::key_doc("wo", "3")));
}

TEST_F(QueryCache, AListenerMayDropItsOwnObserverAndAFetcherMayCompleteSynchronously) {
  int fetches = 0;
  query_cache cache(clock_, [&](const cache_key&, fetch_callback done) {
    ++fetches;
    done(fetch_result::success(json::object{{"n", fetches}}));
  });
  query_observer obs;
  int calls = 0;
  bool drop = false;
  obs = cache.observe(doc_, [&](const cache_key&, const query_state& s) {
    ++calls;
    if (drop && s.status == query_status::success) obs.reset();
  });
  EXPECT_EQ(fetches, 1);
  EXPECT_EQ(*cache.data(doc_), json::parse(R"({"n":1})"));
  drop = true;
  cache.invalidate(doc_);
  EXPECT_FALSE(obs);
  EXPECT_EQ(fetches, 2);
  EXPECT_GE(calls, 1);
  EXPECT_FALSE(cache.is_active(doc_));
}

TEST_F(QueryCache, ObserverOutlivingTheCacheIsHarmless) {
  query_observer obs;
  {
    query_cache cache(clock_, fetcher_.fn());
    obs = cache.observe(doc_);
  }
  obs.reset();
  EXPECT_FALSE(obs);
}

}  // namespace
}  // namespace rtcache::client
