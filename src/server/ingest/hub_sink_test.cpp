// hub_sink: routed rows reach the hub as the gateway's sessions expect them — contract messages framed as
// `invalidate` broadcasts carrying their record, records on internal per-table channels without frames,
// history or any name a client could join.
#include "ingest/hub_sink.hpp"

#include "ingest/relay.hpp"
#include "protocol/join.hpp"
#include "test_rows.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

namespace rtcache::ingest {
namespace {

using testing::announcement;
using testing::routed;
using testing::test_mapping;
using testing::wo_change;

class recorder final : public hub::hub_subscriber {
 public:
  void deliver(const hub::hub_message_ptr& m) noexcept override {
    std::lock_guard lock(mu_);
    got_.push_back(m);
  }
  std::vector<hub::hub_message_ptr> got() const {
    std::lock_guard lock(mu_);
    return got_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<hub::hub_message_ptr> got_;
};

class HubSinkTest : public ::testing::Test {
 protected:
  std::shared_ptr<const routing::mapping_config> mapping_ = test_mapping();
  hub::hub hub_{hub::hub_config{}, make_broadcast_encoder(), hub::counter_epochs("s")};
  hub_sink sink_{hub_};
};

TEST_F(HubSinkTest, ContractMessagesAreInvalidateBroadcastsCarryingTheirRecordAndFactory) {
  auto doc = std::make_shared<recorder>();
  auto list = std::make_shared<recorder>();
  auto d = hub_.subscribe("doc:wo:123", doc);
  auto l = hub_.subscribe("list:wo:f1", list);
  sink_.publish(routed(*mapping_, wo_change(routing::row_kind::update, "123", "f1", "done")));

  ASSERT_EQ(doc->got().size(), 1U);
  ASSERT_EQ(list->got().size(), 1U);
  const auto& m = *doc->got()[0];
  EXPECT_EQ(m.meta.factory_id, "f1");
  EXPECT_NE(m.frames.v1_text.find(R"("event":"invalidate")"), std::string::npos);
  EXPECT_NE(m.frames.v1_text.find(R"("offset":1)"), std::string::npos);
  ASSERT_TRUE(m.change);
  EXPECT_EQ(m.change->table, "work_orders");
  EXPECT_EQ(m.change->json.find("secret notes"), std::string::npos);  // never_send removed by the mapping
  EXPECT_EQ(list->got()[0]->change, m.change);                        // one record, shared
  EXPECT_EQ(sink_.metrics().messages, 2U);
}

TEST_F(HubSinkTest, ARetainedContractMessageCountsItsRecordAgainstTheHistoryBounds) {
  auto d = hub_.subscribe("doc:wo:123", std::make_shared<recorder>());
  auto l = hub_.subscribe("list:wo:f1", std::make_shared<recorder>());
  sink_.publish(routed(*mapping_, wo_change(routing::row_kind::update, "123", "f1", "done")));
  const auto doc = hub_.subscribe("doc:wo:123", std::make_shared<recorder>(), d.position).replay;
  const auto list = hub_.subscribe("list:wo:f1", std::make_shared<recorder>(), l.position).replay;
  ASSERT_EQ(doc.size(), 1U);
  ASSERT_EQ(list.size(), 1U);
  ASSERT_TRUE(doc[0]->change);
  const std::size_t record = doc[0]->change->retained_bytes();
  EXPECT_GT(record, doc[0]->change->json.size());
  // Both messages of the row hold the record, and each counts it with its frames.
  EXPECT_EQ(doc[0]->retained_bytes, doc[0]->frames.size_bytes() + record);
  EXPECT_EQ(list[0]->retained_bytes, list[0]->frames.size_bytes() + record);
  EXPECT_EQ(hub_.metrics().history_bytes, doc[0]->retained_bytes + list[0]->retained_bytes);
}

TEST_F(HubSinkTest, RecordsGoToTheirTablesChannelWithTheRowsFactoryNoFramesAndNoHistory) {
  auto wo = std::make_shared<recorder>();
  auto ann = std::make_shared<recorder>();
  auto a = hub_.subscribe(postgres_table_channel("public", "work_orders"), wo);
  auto b = hub_.subscribe(postgres_table_channel("public", "announcements"), ann);
  sink_.publish(routed(*mapping_, wo_change(routing::row_kind::insert, "7", "f2", "open")));
  sink_.publish(routed(*mapping_, announcement("1", "hello")));

  ASSERT_EQ(wo->got().size(), 1U);
  EXPECT_EQ(wo->got()[0]->meta.factory_id, "f2");
  EXPECT_EQ(wo->got()[0]->frames.size_bytes(), 0U);
  ASSERT_EQ(ann->got().size(), 1U);
  EXPECT_EQ(ann->got()[0]->meta.factory_id, "");  // public: no scope
  EXPECT_EQ(ann->got()[0]->change->table, "announcements");
  EXPECT_EQ(hub_.metrics().history_messages, 0U);
  EXPECT_EQ(sink_.metrics().changes, 2U);
}

TEST_F(HubSinkTest, RecordsOfInterleavedTablesInOneTransactionEachReachTheirOwnTablesChannel) {
  auto wo = std::make_shared<recorder>();
  auto ann = std::make_shared<recorder>();
  auto a = hub_.subscribe(postgres_table_channel("public", "work_orders"), wo);
  auto b = hub_.subscribe(postgres_table_channel("public", "announcements"), ann);
  routing::routed_rows tx;
  for (auto part : {routed(*mapping_, wo_change(routing::row_kind::insert, "1", "f1", "open")),
                    routed(*mapping_, announcement("1", "hello")),
                    routed(*mapping_, wo_change(routing::row_kind::insert, "2", "f1", "open")),
                    routed(*mapping_, announcement("2", "again"))}) {
    for (auto& c : part.changes) tx.changes.push_back(std::move(c));
  }
  ASSERT_EQ(tx.changes.size(), 4U);
  sink_.publish(std::move(tx));
  ASSERT_EQ(wo->got().size(), 2U);
  ASSERT_EQ(ann->got().size(), 2U);
  for (const auto& m : wo->got()) EXPECT_EQ(m->change->table, "work_orders");
  for (const auto& m : ann->got()) EXPECT_EQ(m->change->table, "announcements");
  EXPECT_EQ(sink_.metrics().changes, 4U);
}

TEST_F(HubSinkTest, AMoveReachesTheOldFactoryAsADeleteAndTheNewOneAsAnInsert) {
  auto wo = std::make_shared<recorder>();
  auto a = hub_.subscribe(postgres_table_channel("public", "work_orders"), wo);
  sink_.publish(routed(*mapping_, wo_change(routing::row_kind::update, "7", "f2", "open", "open", "f1")));
  ASSERT_EQ(wo->got().size(), 2U);
  EXPECT_EQ(wo->got()[0]->meta.factory_id, "f1");
  EXPECT_EQ(wo->got()[0]->change->type, routing::change_type::del);
  EXPECT_EQ(wo->got()[1]->meta.factory_id, "f2");
  // issue 11, finding 9: the new factory gets the row as an INSERT, never the old factory's values.
  EXPECT_EQ(wo->got()[1]->change->type, routing::change_type::insert);
  EXPECT_EQ(wo->got()[1]->change->json.find("old_record"), std::string::npos) << wo->got()[1]->change->json;
  EXPECT_EQ(wo->got()[1]->change->json.find("f1"), std::string::npos) << wo->got()[1]->change->json;
}

TEST(HubSinkChannel, NoClientTopicCanNameAnInternalChannel) {
  const std::string name = postgres_table_channel("public", "work_orders");
  EXPECT_TRUE(is_internal_channel(name));
  EXPECT_FALSE(is_internal_channel("doc:wo:1"));
  EXPECT_FALSE(protocol::channel_name_of(std::string(protocol::k_topic_prefix) + name));
}

// issue 15: rtcache_replication_commit_to_publish_seconds runs from the PostgreSQL commit time to the
// transaction's rows being in the hub, by the sink's (manual) wall clock; rows without a commit time (the relay)
// are not timed.
TEST(HubSinkLatency, ATransactionIsTimedFromItsCommitToItsPublish) {
  const auto mapping = test_mapping();
  hub::hub h{hub::hub_config{}, make_broadcast_encoder(), hub::counter_epochs("s")};
  std::vector<std::chrono::nanoseconds> observed;
  const std::chrono::system_clock::time_point commit{std::chrono::seconds(1'700'000'000)};
  auto now = commit + std::chrono::milliseconds(40);
  hub_sink sink(
      h, [&](std::chrono::nanoseconds d) { observed.push_back(d); }, [&] { return now; });
  auto rows = routed(*mapping, wo_change(routing::row_kind::update, "123", "f1", "done"));
  ASSERT_FALSE(rows.empty());
  rows.commit_time = commit;
  sink.publish(rows);
  ASSERT_EQ(observed.size(), 1U);
  EXPECT_EQ(observed[0], std::chrono::milliseconds(40));

  rows.commit_time.reset();
  sink.publish(rows);
  EXPECT_EQ(observed.size(), 1U);
}

// ---- issue 13: the stream seam and gaps ----

class reset_counter final : public hub::hub_subscriber {
 public:
  void deliver(const hub::hub_message_ptr&) noexcept override {}
  void on_reset() noexcept override { ++resets; }
  std::atomic<int> resets{0};
};

routing::routed_batch batch(std::uint64_t sequence, routing::routed_rows rows) {
  routing::routed_batch b;
  b.position.sequence = sequence;
  b.last = true;
  b.rows = std::move(rows);
  return b;
}

// The single node's sink is durable when publish() returns: the source may confirm at once.
TEST_F(HubSinkTest, EveryCallIsDurableWhenItReturnsAndAStreamStartsFromNothing) {
  sink_.start_stream([] {});
  EXPECT_EQ(sink_.durable_through(), 0U);
  sink_.publish(batch(1, routed(*mapping_, wo_change(routing::row_kind::update, "1", "f1", "done"))));
  EXPECT_EQ(sink_.durable_through(), 1U);
  routing::source_gap gap;
  gap.position.sequence = 2;
  sink_.on_gap(gap);
  EXPECT_EQ(sink_.durable_through(), 2U);
  sink_.start_stream([] {});
  EXPECT_EQ(sink_.durable_through(), 0U);
  const auto anchor = sink_.durable_anchor();
  ASSERT_TRUE(anchor);
  EXPECT_FALSE(anchor->has_value());  // nothing of the hub outlives the process
}

TEST(HubSinkGap, EverythingTouchesContractAndRecordChannelsButNoRelayTopic) {
  routing::source_gap all;
  for (const char* name : {"doc:wo:1", "list:wo:f1", "factory:f1", "\x01pg:public.work_orders"}) {
    EXPECT_TRUE(gap_touches(all, name)) << name;
  }
  for (const char* name : {"room:1", "realtime:x", "documents"}) EXPECT_FALSE(gap_touches(all, name)) << name;
}

TEST(HubSinkGap, ATruncateTouchesItsTablesDocAndListChannelsTheFactorySummariesAndItsRecordChannel) {
  routing::source_gap truncate;
  truncate.reason = routing::gap_reason::truncate;
  truncate.tables = {{"public", "work_orders", "wo"}, {"public", "announcements", ""}};
  for (const char* name : {"doc:wo:1", "list:wo:f1", "factory:f1", "factory:f2", "\x01pg:public.work_orders",
                           "\x01pg:public.announcements"}) {
    EXPECT_TRUE(gap_touches(truncate, name)) << name;
  }
  for (const char* name : {"doc:wox:1", "list:pl:f1", "doc:pl:1", "\x01pg:public.work_orders_x",
                           "\x01pg:other.work_orders", "room:1", "list:wo"}) {
    EXPECT_FALSE(gap_touches(truncate, name)) << name;
  }
  // A table without a doc type has no contract channels: the factory summaries stay.
  routing::source_gap public_only;
  public_only.tables = {{"public", "announcements", ""}};
  EXPECT_FALSE(gap_touches(public_only, "factory:f1"));
}

// issue 13: the hub turns a gap into new epochs: a resume from before it is not recovered, a client joined live
// is told, and what the gap does not touch keeps its position.
TEST_F(HubSinkTest, AGapStartsOverTheChannelsItTouchesAndTellsTheirLiveSubscribers) {
  auto list = std::make_shared<reset_counter>();
  auto room = std::make_shared<reset_counter>();
  auto l = hub_.subscribe("list:wo:f1", list);
  auto r = hub_.subscribe("room:1", room);
  sink_.publish(routed(*mapping_, wo_change(routing::row_kind::update, "1", "f1", "done")));
  ASSERT_TRUE(hub_.publish("room:1", "broadcast", "{}").accepted());
  const hub::hub_position list_before = *hub_.position("list:wo:f1");
  const hub::hub_position room_before = *hub_.position("room:1");
  routing::source_gap gap;
  gap.reason = routing::gap_reason::slot_created;
  sink_.on_gap(gap);
  EXPECT_EQ(list->resets.load(), 1);
  EXPECT_EQ(room->resets.load(), 0);
  EXPECT_FALSE(hub_.subscribe("list:wo:f1", std::make_shared<recorder>(), list_before).recovered);
  EXPECT_TRUE(hub_.subscribe("room:1", std::make_shared<recorder>(), room_before).recovered);
  EXPECT_EQ(sink_.metrics().gaps, 1U);
  EXPECT_EQ(sink_.metrics().views_reset, 1U);
}

}  // namespace
}  // namespace rtcache::ingest
