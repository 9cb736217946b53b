// The policy loop without sockets: views subscribe exactly their channels, bursts coalesce into one plan,
// patches avoid refetches, an event during a fetch is not lost, scope drops, and a rejoin that was not
// recovered refetches each affected active query once.
#include "rtcache/client/sync_engine.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <deque>
#include <set>
#include <string>

namespace rtcache::client {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class SyncEngine : public ::testing::Test {
 protected:
  SyncEngine()
      : cache_(clock_, [this](const cache_key& k, fetch_callback done) { pending_.push_back({k, std::move(done)}); }),
        engine_(clock_, cache_, core::doc_type_registry::defaults(), core::factory_scope::of({"A"}), config(),
                [] { return 0.5; }) {}

  static engine_config config() {
    engine_config c;
    c.coalesce.window = 300ms;
    return c;
  }

  struct pending_fetch {
    cache_key key;
    fetch_callback done;
  };

  void complete_all(std::optional<std::int64_t> version = 1) {
    while (!pending_.empty()) {
      auto p = std::move(pending_.front());
      pending_.pop_front();
      p.done(fetch_result::success(json::object{{"status", "open"}, {"qty", 1}}, version));
    }
  }

  // Opens the socket and answers every pending join ok (recovered as given).
  void connect_and_join(bool recovered = false, std::uint64_t offset = 0) {
    engine_.start();
    ASSERT_TRUE(engine_.take_requests().connect);
    engine_.on_open();
    answer_joins(recovered, offset);
  }

  void answer_joins(bool recovered, std::uint64_t offset) {
    for (const std::string& f : engine_.take_requests().send) {
      const json::value v = json::parse(f);
      if (v.at(3) != "phx_join") continue;
      const std::string ref(v.at(0).as_string());
      engine_.on_frame(R"([")" + ref + R"(",")" + ref + R"(",")" + std::string(v.at(2).as_string()) +
                           R"(","phx_reply",{"status":"ok","response":{"postgres_changes":[],"rtcache":{"epoch":"e","offset":)" +
                           std::to_string(offset) + R"(,"recovered":)" + (recovered ? "true" : "false") + "}}}]",
                       false);
    }
  }

  void deliver(const std::string& channel, const std::string& event_json) {
    engine_.on_frame(R"([null,null,"realtime:)" + channel + R"(","broadcast",{"type":"broadcast","event":"invalidate","payload":)" +
                         event_json + "}]",
                     false);
  }

  std::set<std::string> watched() const {
    const auto v = engine_.realtime().channels();
    return {v.begin(), v.end()};
  }

  core::manual_clock clock_;
  std::deque<pending_fetch> pending_;
  query_cache cache_;
  sync_engine engine_;
};

TEST_F(SyncEngine, DocViewWatchesDocAndFactoryAndListViewWatchesListAndFactory) {
  auto doc = engine_.watch_doc("wo", "1", "A");
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(watched(), (std::set<std::string>{"doc:wo:1", "factory:A"}));
  auto list = engine_.watch_list("wo", "A");
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(watched(), (std::set<std::string>{"doc:wo:1", "factory:A", "list:wo:A"}));
  doc->reset();
  EXPECT_EQ(watched(), (std::set<std::string>{"factory:A", "list:wo:A"})) << "factory:A is still used by the list";
  list->reset();
  EXPECT_TRUE(watched().empty());
  EXPECT_FALSE(engine_.watch_doc("nope", "1", "A").has_value());
  EXPECT_FALSE(engine_.watch_list("wo", "A", 0).has_value());
  EXPECT_TRUE(watched().empty()) << "a refused view leaves nothing behind";
}

// A change committed after a view's first fetch read the row, but before its channel was live on the server,
// would reach neither the data nor the stream: the first fetch waits for the view's channels.
TEST_F(SyncEngine, FirstFetchWaitsUntilTheViewsChannelsAreLive) {
  auto doc = engine_.watch_doc("wo", "1", "A");
  EXPECT_TRUE(pending_.empty()) << "no fetch before the joins";
  engine_.start();
  ASSERT_TRUE(engine_.take_requests().connect);
  engine_.on_open();
  clock_.advance(100ms);
  engine_.tick();
  EXPECT_TRUE(pending_.empty());
  answer_joins(false, 0);
  ASSERT_EQ(pending_.size(), 1U) << "fetched once both doc:wo:1 and factory:A are joined";
  EXPECT_EQ(pending_.front().key, core::key_doc("wo", "1"));
  complete_all();
  clock_.advance(10s);
  engine_.tick();
  EXPECT_TRUE(pending_.empty());
  EXPECT_EQ(cache_.state(core::key_doc("wo", "1"))->fetches, 1U);
  EXPECT_EQ(engine_.stats().catch_up_refetches, 0U);
}

TEST_F(SyncEngine, ViewFetchedBeforeItsChannelsWereLiveIsFetchedAgainWhenTheyAre) {
  auto doc = engine_.watch_doc("wo", "1", "A");
  EXPECT_EQ(engine_.next_wake(), core::time_point{} + 500ms);
  clock_.advance(500ms);
  engine_.tick();
  ASSERT_EQ(pending_.size(), 1U) << "realtime is late: the data is shown anyway";
  complete_all();
  connect_and_join();
  ASSERT_EQ(pending_.size(), 1U) << "and fetched once more now that a change can no longer slip through";
  complete_all();
  EXPECT_EQ(cache_.state(core::key_doc("wo", "1"))->fetches, 2U);
  EXPECT_EQ(engine_.stats().catch_up_refetches, 1U);
}

TEST_F(SyncEngine, ViewOnChannelsAlreadyLiveFetchesAtOnce) {
  auto first = engine_.watch_list("wo", "A", 1);
  connect_and_join();
  complete_all();
  auto second = engine_.watch_list("wo", "A", 2);  // list:wo:A and factory:A are joined already
  ASSERT_EQ(pending_.size(), 1U);
  EXPECT_EQ(pending_.front().key, core::key_list("wo", "A", 2));
}

TEST_F(SyncEngine, FetchUnderWayWhenTheViewOpensIsFollowedByOneAfterTheJoins) {
  cache_.fetch(core::key_doc("wo", "1"));  // e.g. a prefetch on hover
  ASSERT_EQ(pending_.size(), 1U);
  auto doc = engine_.watch_doc("wo", "1", "A");
  EXPECT_EQ(pending_.size(), 1U) << "the fetch under way is not duplicated";
  connect_and_join();
  complete_all();
  EXPECT_EQ(cache_.state(core::key_doc("wo", "1"))->fetches, 2U) << "it may predate the channel: one more";
  EXPECT_EQ(engine_.stats().catch_up_refetches, 1U);
}

TEST_F(SyncEngine, FetchStartedWhileTheChannelsJoinIsFollowedByOneAfterTheJoins) {
  auto doc = engine_.watch_doc("wo", "1", "A");
  cache_.fetch(core::key_doc("wo", "1"));  // e.g. a list head refetch, or the app's own refresh
  complete_all();
  connect_and_join();
  ASSERT_EQ(pending_.size(), 1U);
  complete_all();
  EXPECT_EQ(cache_.state(core::key_doc("wo", "1"))->fetches, 2U);
  EXPECT_EQ(engine_.stats().catch_up_refetches, 1U);
}

TEST_F(SyncEngine, ViewDroppedBeforeItsChannelsJoinedFetchesNothing) {
  auto doc = engine_.watch_doc("wo", "1", "A");
  doc->reset();
  connect_and_join();
  clock_.advance(1s);
  engine_.tick();
  EXPECT_TRUE(pending_.empty());
}

TEST(SyncEngineNoWait, ZeroWaitFetchesAtOnceAndAgainWhenTheChannelsAreLive) {
  core::manual_clock clock;
  std::deque<fetch_callback> fetches;
  query_cache cache(clock, [&](const cache_key&, fetch_callback done) { fetches.push_back(std::move(done)); });
  engine_config config;
  config.first_fetch_wait = 0ms;
  sync_engine engine(clock, cache, core::doc_type_registry::defaults(), core::factory_scope::of({"A"}), config,
                     [] { return 0.5; });
  auto doc = engine.watch_doc("wo", "1", "A");
  ASSERT_EQ(fetches.size(), 1U);
  fetches.front()(fetch_result::success(json::object{}));
  fetches.pop_front();
  engine.start();
  engine.on_open();
  for (const std::string& f : engine.take_requests().send) {
    const json::value v = json::parse(f);
    if (v.at(3) != "phx_join") continue;
    const std::string ref(v.at(0).as_string());
    engine.on_frame(R"([")" + ref + R"(",")" + ref + R"(",")" + std::string(v.at(2).as_string()) +
                        R"(","phx_reply",{"status":"ok","response":{}}])",
                    false);
  }
  EXPECT_EQ(fetches.size(), 1U);
  EXPECT_EQ(engine.stats().catch_up_refetches, 1U);
}

TEST_F(SyncEngine, LeavingAViewSendsLeaveForItsChannels) {
  auto doc = engine_.watch_doc("wo", "1", "A");
  connect_and_join();
  doc->reset();
  int leaves = 0;
  for (const std::string& f : engine_.take_requests().send) leaves += json::parse(f).at(3) == "phx_leave";
  EXPECT_EQ(leaves, 2);
}

TEST_F(SyncEngine, TenUpdatesInsideOneWindowCostOneRefetch) {
  auto doc = engine_.watch_doc("wo", "1", "A");
  connect_and_join();  // the first fetch starts once the view's channels are live
  complete_all();
  for (int i = 1; i <= 10; ++i) {
    deliver("doc:wo:1", R"({"type":"wo","id":"1","factoryId":"A","action":"update","version":)" + std::to_string(i + 1) +
                            R"(,"offset":)" + std::to_string(i) + "}");
    clock_.advance(20ms);
    engine_.tick();
  }
  EXPECT_TRUE(pending_.empty()) << "nothing is planned before the window closes";
  EXPECT_EQ(engine_.next_wake(), core::time_point{} + 300ms);
  clock_.advance(100ms);
  engine_.tick();
  EXPECT_EQ(engine_.stats().batches, 1U);
  EXPECT_EQ(engine_.stats().invalidates, 1U);
  ASSERT_EQ(pending_.size(), 1U);
  EXPECT_EQ(pending_.front().key, core::key_doc("wo", "1"));
  EXPECT_EQ(cache_.state(core::key_doc("wo", "1"))->fetches, 2U);
}

TEST_F(SyncEngine, UpdateWithACoveringPatchIsAppliedWithoutARefetch) {
  auto doc = engine_.watch_doc("wo", "1", "A");
  connect_and_join();
  complete_all(1);
  deliver("doc:wo:1",
          R"({"type":"wo","id":"1","factoryId":"A","action":"approve","changedKeys":["status"],"version":2,"patch":{"status":"approved"},"offset":1})");
  engine_.flush();
  EXPECT_TRUE(pending_.empty());
  EXPECT_EQ(engine_.stats().patches, 1U);
  EXPECT_EQ(*cache_.data(core::key_doc("wo", "1")), json::parse(R"({"status":"approved","qty":1})"));
  EXPECT_EQ(cache_.state(core::key_doc("wo", "1"))->data_version, 2);
}

TEST_F(SyncEngine, EventDuringTheFirstFetchRefetchesAfterIt) {
  auto doc = engine_.watch_doc("wo", "1", "A");
  connect_and_join();
  ASSERT_EQ(pending_.size(), 1U);
  deliver("doc:wo:1", R"({"type":"wo","id":"1","factoryId":"A","action":"update","offset":1})");
  engine_.flush();
  ASSERT_EQ(pending_.size(), 1U) << "the in-flight fetch is not duplicated";
  auto first = std::move(pending_.front());
  pending_.pop_front();
  first.done(fetch_result::success(json::object{{"status", "open"}}, 1));
  EXPECT_EQ(pending_.size(), 1U) << "one more fetch follows the one the event landed in";
  EXPECT_EQ(cache_.state(core::key_doc("wo", "1"))->fetches, 2U);
}

TEST_F(SyncEngine, EventsOfAFactoryOutsideTheScopeAreDropped) {
  auto doc = engine_.watch_doc("wo", "1", "A");
  connect_and_join();  // the first fetch starts once the view's channels are live
  complete_all();
  deliver("doc:wo:1", R"({"type":"wo","id":"1","factoryId":"B","action":"update","offset":1})");
  engine_.flush();
  EXPECT_EQ(engine_.stats().drops, 1U);
  EXPECT_TRUE(pending_.empty());
  engine_.set_scope(core::factory_scope::of({"B"}));
  deliver("doc:wo:1", R"({"type":"wo","id":"1","factoryId":"B","action":"update","offset":2})");
  engine_.flush();
  EXPECT_EQ(pending_.size(), 1U);
}

TEST_F(SyncEngine, ListCreateRefetchesOnlyTheActiveFirstPage) {
  auto page1 = engine_.watch_list("wo", "A", 1);
  auto page2 = engine_.watch_list("wo", "A", 2);
  connect_and_join();  // the first fetch starts once the view's channels are live
  complete_all();
  deliver("list:wo:A", R"({"type":"wo","id":"9","factoryId":"A","action":"create","offset":1})");
  engine_.flush();
  ASSERT_EQ(pending_.size(), 1U);
  EXPECT_EQ(pending_.front().key, core::key_list("wo", "A", 1));
}

TEST_F(SyncEngine, NotRecoveredRejoinRefetchesEachActiveQueryOnceAcrossItsChannels) {
  auto list = engine_.watch_list("wo", "A");
  auto doc = engine_.watch_doc("wo", "1", "A");
  connect_and_join();  // the first fetch starts once the view's channels are live
  complete_all();
  engine_.on_closed();
  EXPECT_TRUE(engine_.take_requests().send.empty());
  clock_.advance(10s);
  engine_.tick();
  ASSERT_TRUE(engine_.take_requests().connect);
  engine_.on_open();
  answer_joins(false, 7);
  // list:wo:A and factory:A both feed the list head; doc:wo:1 the doc: one fetch each.
  std::multiset<std::string> keys;
  for (const auto& p : pending_) keys.insert(p.key.to_json());
  EXPECT_EQ(keys, (std::multiset<std::string>{R"(["doc","wo","1"])", R"(["list","wo","A",{"page":1}])"}));
  EXPECT_EQ(engine_.stats().recovery_refetches, 2U);
}

// issue 12, finding 4: a list channel rejoined without recovery refetched every page of the list.
TEST_F(SyncEngine, NotRecoveredRejoinRefetchesTheListHeadButNoPagePastIt) {
  auto page1 = engine_.watch_list("wo", "A", 1);
  auto page2 = engine_.watch_list("wo", "A", 2);
  connect_and_join();
  complete_all();
  engine_.on_closed();
  clock_.advance(10s);
  engine_.tick();
  ASSERT_TRUE(engine_.take_requests().connect);
  engine_.on_open();
  answer_joins(false, 7);
  ASSERT_EQ(pending_.size(), 1U);
  EXPECT_EQ(pending_.front().key, core::key_list("wo", "A", 1));
  EXPECT_EQ(engine_.stats().recovery_refetches, 1U);
}

// issue 12, finding 4: a resync (more distinct keys in one window than max_pending) refetched every page.
TEST(SyncEngineResync, ResyncRefetchesEveryDocAndListHeadButNoPagePastAHead) {
  core::manual_clock clock;
  std::deque<cache_key> fetched;
  std::deque<fetch_callback> fetches;
  query_cache cache(clock, [&](const cache_key& k, fetch_callback done) {
    fetched.push_back(k);
    fetches.push_back(std::move(done));
  });
  engine_config config;
  config.coalesce.max_pending = 1;
  config.first_fetch_wait = 0ms;
  sync_engine engine(clock, cache, core::doc_type_registry::defaults(), core::factory_scope::of({"A"}), config,
                     [] { return 0.5; });
  auto doc = engine.watch_doc("wo", "1", "A");
  auto page1 = engine.watch_list("wo", "A", 1);
  auto page2 = engine.watch_list("wo", "A", 2);
  for (auto& f : fetches) f(fetch_result::success(json::object{}));
  fetches.clear();
  fetched.clear();
  for (const char* id : {"1", "2"}) {
    core::event e;
    e.type = "wo";
    e.id = id;
    e.factory_id = "A";
    engine.offer(e);
  }
  engine.flush();
  EXPECT_EQ(engine.stats().resyncs, 1U);
  EXPECT_EQ(std::set<cache_key>(fetched.begin(), fetched.end()),
            (std::set<cache_key>{core::key_doc("wo", "1"), core::key_list("wo", "A", 1)}));
}

// issue 12: an operation on a view whose first fetch still waits for its channels is that fetch's to read
// (the fetch starts after the joins); running it too cost a second fetch at the joins.
TEST_F(SyncEngine, OperationOnAViewWaitingForItsJoinsIsLeftToItsFirstFetch) {
  auto wo = engine_.watch_list("wo", "A");
  connect_and_join();
  complete_all();
  auto grn = engine_.watch_list("grn", "A");  // factory:A is live, list:grn:A joining
  deliver("factory:A", R"({"type":"grn","id":"*","factoryId":"A","action":"create","count":3,"offset":1})");
  engine_.flush();
  EXPECT_TRUE(pending_.empty()) << "the list head of a view still joining is not fetched yet";
  answer_joins(false, 0);
  ASSERT_EQ(pending_.size(), 1U);
  complete_all();
  EXPECT_EQ(cache_.state(core::key_list("grn", "A"))->fetches, 1U);
  EXPECT_EQ(engine_.stats().catch_up_refetches, 0U);
}

// issue 12, finding 4: the tick ran a recovery as soon as one rejoin answered, so rejoins of one reconnect
// answered apart refetched the same list head once per answer.
TEST_F(SyncEngine, RecoveryWaitsForEveryRejoinOfTheReconnect) {
  auto list = engine_.watch_list("wo", "A");
  connect_and_join();
  complete_all();
  engine_.on_closed();
  clock_.advance(10s);
  engine_.tick();
  ASSERT_TRUE(engine_.take_requests().connect);
  engine_.on_open();
  std::vector<json::value> joins;
  for (const std::string& f : engine_.take_requests().send) joins.push_back(json::parse(f));
  ASSERT_EQ(joins.size(), 2U);
  const auto answer = [&](const json::value& v) {
    const std::string ref(v.at(0).as_string());
    engine_.on_frame(
        R"([")" + ref + R"(",")" + ref + R"(",")" + std::string(v.at(2).as_string()) +
            R"(","phx_reply",{"status":"ok","response":{"rtcache":{"epoch":"e2","offset":0,"recovered":false}}}])",
        false);
  };
  answer(joins[0]);
  for (int i = 0; i < 5; ++i) {
    clock_.advance(200ms);
    engine_.tick();
  }
  EXPECT_TRUE(pending_.empty()) << "the other channel's losses are not known yet";
  answer(joins[1]);
  ASSERT_EQ(pending_.size(), 1U);
  EXPECT_EQ(pending_.front().key, core::key_list("wo", "A", 1));
  complete_all();
  clock_.advance(1s);
  engine_.tick();
  EXPECT_TRUE(pending_.empty());
  EXPECT_EQ(engine_.stats().recovery_refetches, 1U);
}

TEST_F(SyncEngine, RecoveredRejoinRefetchesNothing) {
  auto doc = engine_.watch_doc("wo", "1", "A");
  connect_and_join();  // the first fetch starts once the view's channels are live
  complete_all();
  engine_.on_closed();
  clock_.advance(10s);
  engine_.tick();
  (void)engine_.take_requests();
  engine_.on_open();
  answer_joins(true, 0);
  EXPECT_TRUE(pending_.empty());
  EXPECT_EQ(engine_.stats().recovery_refetches, 0U);
}

TEST_F(SyncEngine, BatchSourceOffersTheGoodItemsAndReturnsTheRefusedOnes) {
  auto doc = engine_.watch_doc("wo", "1", "A");
  connect_and_join();
  complete_all();
  auto items = engine_.offer_json_batch(
      R"([{"type":"wo","id":"1","factoryId":"A","action":"update"},{"type":"wo","id":"1","factoryId":"A","action":"explode"}])");
  ASSERT_TRUE(items.has_value());
  ASSERT_EQ(items->size(), 2U);
  EXPECT_FALSE((*items)[1].outcome.has_value());
  EXPECT_EQ(engine_.pending_events(), 1U);
  clock_.advance(300ms);
  engine_.tick();
  EXPECT_EQ(pending_.size(), 1U);
}

TEST_F(SyncEngine, UnobservedQueriesAreCollectedByTick) {
  auto doc = engine_.watch_doc("wo", "1", "A");
  complete_all();
  doc->reset();
  ASSERT_TRUE(cache_.contains(core::key_doc("wo", "1")));
  const auto wake = engine_.next_wake();
  ASSERT_TRUE(wake.has_value());
  clock_.advance(*wake - clock_.now());
  engine_.tick();
  EXPECT_FALSE(cache_.contains(core::key_doc("wo", "1")));
}

}  // namespace
}  // namespace rtcache::client
