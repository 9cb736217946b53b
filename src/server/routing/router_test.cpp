#include "routing/router.hpp"

#include "routing/mapping_value.hpp"
#include "rtcache/core/event_codec.hpp"

#include <gtest/gtest.h>

#include <string>

namespace rtcache::routing {
namespace {

using core::action;

constexpr std::string_view k_ts = "2025-11-19T00:22:40.877Z";

mapped_row row(std::string type, std::string id, std::string factory, action act) {
  mapped_row r;
  core::event e;
  e.type = std::move(type);
  e.id = std::move(id);
  e.factory_id = std::move(factory);
  e.act = act;
  e.version = 5;
  e.ts = std::string(k_ts);
  if (act == action::update) {
    e.changed_keys = std::vector<std::string>{"status"};
    e.patch = std::vector<core::patch_entry>{{"status", "\"open\""}};
  }
  r.event = std::move(e);
  auto pc = std::make_shared<postgres_change>();
  pc->json = "{}";
  r.change = pc;
  return r;
}

mapped_row moved(std::string id, std::string from, std::string to) {
  auto r = row("wo", std::move(id), std::move(to), action::update);
  r.old_factory_id = std::move(from);
  auto del = std::make_shared<postgres_change>();
  del->type = change_type::del;
  r.move_delete_change = del;
  auto ins = std::make_shared<postgres_change>();
  ins->type = change_type::insert;
  r.move_insert_change = ins;
  return r;
}

// "doc:wo:1 update F7" — channel, action and the event's factory, for compact expectations.
std::vector<std::string> describe(const std::vector<routed_message>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages) {
    std::string s = m.channel.format() + " " + std::string(core::to_string(m.event->act)) + " " + m.event->factory_id;
    if (m.event->count) s += " x" + std::to_string(*m.event->count);
    out.push_back(std::move(s));
  }
  return out;
}

TEST(RouteRow, DocAndListGetEveryAction) {
  for (action act : {action::create, action::update, action::del, action::approve, action::reject}) {
    const auto out = route_row(row("wo", "1", "F7", act));
    const std::string a(core::to_string(act));
    EXPECT_EQ(describe(out.messages), (std::vector<std::string>{"doc:wo:1 " + a + " F7", "list:wo:F7 " + a + " F7"}));
    ASSERT_EQ(out.changes.size(), 1U);
    EXPECT_EQ(out.changes[0].factory_id, "F7");
    EXPECT_NE(out.messages[0].change, nullptr);
    EXPECT_EQ(out.messages[0].change, out.messages[1].change);  // one record, shared
  }
}

TEST(RouteRow, WithoutListOnlyDocIsRouted) {
  EXPECT_EQ(describe(route_row(row("wo", "1", "F7", action::create), false).messages),
            std::vector<std::string>{"doc:wo:1 create F7"});
}

TEST(RouteRow, MoveIsADeleteInTheOldFactoryAndACreateInTheNew) {
  const auto r = moved("1", "F7", "F9");
  const auto out = route_row(r);
  EXPECT_EQ(describe(out.messages), (std::vector<std::string>{"doc:wo:1 delete F7", "list:wo:F7 delete F7",
                                                              "doc:wo:1 create F9", "list:wo:F9 create F9"}));
  for (const auto& m : out.messages) {
    EXPECT_FALSE(m.event->changed_keys);
    EXPECT_FALSE(m.event->patch);
    EXPECT_EQ(m.event->version, 5);
  }
  EXPECT_EQ(out.messages[0].change, r.move_delete_change);
  EXPECT_EQ(out.messages[1].change, r.move_delete_change);
  ASSERT_EQ(out.changes.size(), 2U);
  EXPECT_EQ(out.changes[0].change, r.move_delete_change);
  EXPECT_EQ(out.changes[0].factory_id, "F7");
}

// issue 11, finding 9: the UPDATE (old_record = the old factory's row) reaches no scoped subscriber of the new
// factory; its doc:, list: and per-table records are the INSERT of the new row.
TEST(RouteRow, MoveGivesTheNewFactoryTheInsertRecordNeverTheUpdate) {
  const auto r = moved("1", "F7", "F9");
  const auto out = route_row(r);
  ASSERT_EQ(out.messages.size(), 4U);
  EXPECT_EQ(out.messages[2].change, r.move_insert_change);
  EXPECT_EQ(out.messages[3].change, r.move_insert_change);
  ASSERT_EQ(out.changes.size(), 2U);
  EXPECT_EQ(out.changes[1].change, r.move_insert_change);
  EXPECT_EQ(out.changes[1].factory_id, "F9");
  for (const auto& m : out.messages) EXPECT_NE(m.change, r.change);
  for (const auto& c : out.changes) EXPECT_NE(c.change, r.change);
}

TEST(RouteRow, MoveOfAPublicRowKeepsTheUnscopedUpdateForEveryone) {
  auto r = moved("1", "F7", "F9");
  r.is_public = true;
  const auto out = route_row(r);
  ASSERT_EQ(out.changes.size(), 1U);
  EXPECT_EQ(out.changes[0].change, r.change);
  EXPECT_FALSE(out.changes[0].factory_id);
  ASSERT_EQ(out.messages.size(), 4U);  // the contract channels still carry each side's own half
  EXPECT_EQ(out.messages[0].change, r.move_delete_change);
  EXPECT_EQ(out.messages[2].change, r.move_insert_change);
}

TEST(RouteRow, PublicOnlyRowsYieldAnUnscopedRecordOnly) {
  mapped_row r;
  r.is_public = true;
  r.change = std::make_shared<postgres_change>();
  const auto out = route_row(r);
  EXPECT_TRUE(out.messages.empty());
  ASSERT_EQ(out.changes.size(), 1U);
  EXPECT_FALSE(out.changes[0].factory_id);
}

TEST(RouteRow, PublicMappedRowsKeepEventsButAnUnscopedRecord) {
  auto r = row("wo", "1", "F7", action::create);
  r.is_public = true;
  const auto out = route_row(r);
  EXPECT_EQ(out.messages.size(), 2U);
  ASSERT_EQ(out.changes.size(), 1U);
  EXPECT_FALSE(out.changes[0].factory_id);
}

TEST(TransactionRouter, EmitsRowsInCommitOrderThenOneSummaryPerFactoryTypeAction) {
  transaction_router router;
  router.begin();
  router.add(row("wo", "1", "F7", action::create));
  router.add(row("wo", "2", "F7", action::create));
  router.add(row("pl", "9", "F7", action::update));
  router.add(row("wo", "3", "F8", action::del));
  router.add(row("wo", "1", "F7", action::approve));
  EXPECT_EQ(router.rows(), 5U);
  const auto out = router.commit(k_ts);
  EXPECT_EQ(describe(out.messages),
            (std::vector<std::string>{"doc:wo:1 create F7", "list:wo:F7 create F7", "doc:wo:2 create F7",
                                      "list:wo:F7 create F7", "doc:pl:9 update F7", "list:pl:F7 update F7",
                                      "doc:wo:3 delete F8", "list:wo:F8 delete F8", "doc:wo:1 approve F7",
                                      "list:wo:F7 approve F7", "factory:F7 create F7 x2", "factory:F7 update F7 x1",
                                      "factory:F8 delete F8 x1", "factory:F7 approve F7 x1"}));
  EXPECT_EQ(out.changes.size(), 5U);
  const auto& summary = out.messages[10];
  EXPECT_EQ(summary.change, nullptr);
  EXPECT_EQ(core::encode(*summary.event),
            R"({"type":"wo","id":"*","factoryId":"F7","action":"create","ts":"2025-11-19T00:22:40.877Z","count":2})");
  EXPECT_FALSE(router.in_transaction());
}

TEST(TransactionRouter, SummariesDecodeAsContractEvents) {
  transaction_router router;
  router.begin();
  router.add(row("invoice", "A-1", "F7", action::reject));
  const auto out = router.commit(k_ts);
  core::event_decoder decoder(core::doc_type_registry::defaults());
  const auto back = decoder.decode(core::encode(*out.messages.back().event));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_TRUE(back->is_summary());
  EXPECT_EQ(back->count, 1U);
}

TEST(TransactionRouter, MoveCountsAsDeleteInTheOldFactoryAndCreateInTheNew) {
  transaction_router router;
  router.begin();
  router.add(moved("1", "F7", "F9"));
  router.add(row("wo", "2", "F9", action::create));
  const auto out = router.commit(k_ts);
  const std::vector<routed_message> summaries(out.messages.end() - 2, out.messages.end());
  EXPECT_EQ(describe(summaries), (std::vector<std::string>{"factory:F7 delete F7 x1", "factory:F9 create F9 x2"}));
}

TEST(TransactionRouter, MultiTableTransactionsSummariseEachType) {
  transaction_router router;
  router.begin();
  for (int i = 0; i < 3; ++i) router.add(row("wo", std::to_string(i), "F1", action::update));
  for (int i = 0; i < 2; ++i) router.add(row("lot", std::to_string(i), "F1", action::update));
  mapped_row pub;
  pub.is_public = true;
  pub.change = std::make_shared<postgres_change>();
  router.add(pub);
  const auto out = router.commit(k_ts);
  EXPECT_EQ(out.messages.size(), 5U * 2U + 2U);
  EXPECT_EQ(out.changes.size(), 6U);
  const std::vector<routed_message> summaries(out.messages.end() - 2, out.messages.end());
  EXPECT_EQ(describe(summaries), (std::vector<std::string>{"factory:F1 update F1 x3", "factory:F1 update F1 x2"}));
  EXPECT_EQ(summaries[0].event->type, "wo");
  EXPECT_EQ(summaries[1].event->type, "lot");
}

TEST(TransactionRouter, EmptyTransactionEmitsNothing) {
  transaction_router router;
  router.begin();
  EXPECT_TRUE(router.commit(k_ts).empty());
}

TEST(TransactionRouter, BeginDiscardsAnUnfinishedTransaction) {
  transaction_router router;
  router.begin();
  router.add(row("wo", "1", "F7", action::create));
  router.begin();  // the connection dropped mid-transaction; the server resends it
  router.add(row("wo", "2", "F7", action::create));
  const auto out = router.commit(k_ts);
  EXPECT_EQ(describe(out.messages),
            (std::vector<std::string>{"doc:wo:2 create F7", "list:wo:F7 create F7", "factory:F7 create F7 x1"}));
}

TEST(TransactionRouter, BulkTransactionStopsListMessagesAfterTheLimitButKeepsDocsAndCounts) {
  transaction_router router({.list_row_limit = 3, .flush_messages = 1'000'000});
  router.begin();
  for (int i = 0; i < 10; ++i) router.add(row("wo", std::to_string(i), "F7", action::create));
  const auto out = router.commit(k_ts);
  std::size_t doc = 0;
  std::size_t list = 0;
  for (const auto& m : out.messages) {
    if (m.channel.kind == core::channel_kind::doc) ++doc;
    if (m.channel.kind == core::channel_kind::list) ++list;
  }
  EXPECT_EQ(doc, 10U);
  EXPECT_EQ(list, 3U);
  EXPECT_EQ(out.changes.size(), 10U);
  EXPECT_EQ(describe({out.messages.back()}), std::vector<std::string>{"factory:F7 create F7 x10"});
}

TEST(TransactionRouter, BulkTransactionAsksForDrainsThatBoundPendingOutput) {
  const routing_limits limits{.list_row_limit = 100, .flush_messages = 64};
  transaction_router router(limits);
  router.begin();
  std::size_t published_docs = 0;
  std::size_t max_pending = 0;
  std::size_t drains = 0;
  for (int i = 0; i < 10'000; ++i) {
    if (router.add(row("wo", std::to_string(i), "F" + std::to_string(i % 4), action::create))) {
      max_pending = std::max(max_pending, router.pending_messages());
      for (const auto& m : router.take_pending().messages) published_docs += m.channel.kind == core::channel_kind::doc;
      ++drains;
      EXPECT_EQ(router.pending_messages(), 0U);
    }
  }
  EXPECT_GT(drains, 100U);
  // One row adds at most 4 messages and records: pending never exceeds the threshold by more than a row.
  EXPECT_LT(max_pending, limits.flush_messages + 6);
  const auto out = router.commit(k_ts);
  for (const auto& m : out.messages) published_docs += m.channel.kind == core::channel_kind::doc;
  EXPECT_EQ(published_docs, 10'000U);
  const std::vector<routed_message> summaries(out.messages.end() - 4, out.messages.end());
  EXPECT_EQ(describe(summaries),
            (std::vector<std::string>{"factory:F0 create F0 x2500", "factory:F1 create F1 x2500",
                                      "factory:F2 create F2 x2500", "factory:F3 create F3 x2500"}));
}

TEST(TransactionRouter, MapsAndRoutesAMultiTableTransactionEndToEnd) {
  const auto config = parse_mapping_config(R"(
[tables.work_orders]
doc_type = "wo"
id_column = "id"
factory_column = "factory_id"
[tables.lots]
doc_type = "lot"
id_column = "code"
factory_column = "factory_id"
)")
                          .value();
  const mapper m(config);
  auto change = [](std::string table, row_kind kind, std::string id, std::string factory) {
    row_change c;
    c.schema = "public";
    c.table = std::move(table);
    c.kind = kind;
    c.columns = {
        {"id", pg_oid::int8, "", true}, {"code", pg_oid::text, "", false}, {"factory_id", pg_oid::text, "", false}};
    std::vector<row_value> values{row_value::of(id), row_value::of(id), row_value::of(std::move(factory))};
    if (kind == row_kind::del) {
      c.old_kind = old_row_kind::full;
      c.old_row = std::move(values);
    } else {
      c.new_row = std::move(values);
    }
    c.commit_ts = std::string(k_ts);
    return c;
  };
  transaction_router router;
  router.begin();
  for (const auto& c :
       {change("work_orders", row_kind::insert, "1", "F1"), change("lots", row_kind::insert, "L1", "F1"),
        change("work_orders", row_kind::update, "1", "F1"), change("lots", row_kind::del, "L0", "F2"),
        change("audit", row_kind::insert, "1", "F1")}) {
    auto mapped = m.map(c);
    ASSERT_TRUE(mapped.has_value()) << mapped.error().message;
    if (*mapped) router.add(**mapped);
  }
  const auto out = router.commit(k_ts);
  EXPECT_EQ(
      describe(out.messages),
      (std::vector<std::string>{"doc:wo:1 create F1", "list:wo:F1 create F1", "doc:lot:L1 create F1",
                                "list:lot:F1 create F1", "doc:wo:1 update F1", "list:wo:F1 update F1",
                                "doc:lot:L0 delete F2", "list:lot:F2 delete F2", "factory:F1 create F1 x1",
                                "factory:F1 create F1 x1", "factory:F1 update F1 x1", "factory:F2 delete F2 x1"}));
  EXPECT_EQ(out.messages[8].event->type, "wo");
  EXPECT_EQ(out.messages[9].event->type, "lot");
  EXPECT_EQ(out.changes.size(), 4U);
}

}  // namespace
}  // namespace rtcache::routing
