// Unit tests for the network-free decode -> map -> route -> sink path and its confirm bookkeeping, fed with
// encoded pgoutput messages.
#include "rtcache/pg/replication_session.hpp"

#include "pg_test_encoder.hpp"
#include "recording_sink.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace rtcache::pg {
namespace {

using test::xlog;

net::mapping_config config(std::size_t flush_messages = 4096) {
  auto c = net::parse_mapping_config(R"(
[routing]
flush_messages = )" + std::to_string(flush_messages) + R"(
[tables."public.work_orders"]
doc_type = "wo"
id_column = "id"
factory_column = "factory_id"
version_column = "version"
status_column = "status"
approve_values = ["approved"]
patch = ["status"]
[tables."public.pick_lists"]
doc_type = "pl"
id_column = "id"
factory_column = "factory_id"
)");
  return std::move(c).value();
}

relation_message work_orders(std::vector<relation_column> extra = {}) {
  relation_message r;
  r.oid = 100;
  r.schema = "public";
  r.name = "work_orders";
  r.identity = replica_identity::full;
  r.columns = {{true, "id", 25, -1}, {true, "factory_id", 25, -1}, {true, "version", 20, -1}, {true, "status", 25, -1}};
  for (auto& c : extra) r.columns.push_back(c);
  return r;
}

relation_message pick_lists() {
  relation_message r;
  r.oid = 200;
  r.schema = "public";
  r.name = "pick_lists";
  r.identity = replica_identity::full;
  r.columns = {{true, "id", 25, -1}, {true, "factory_id", 25, -1}};
  return r;
}

tuple_data wo(const std::string& id, const std::string& factory, const std::string& version, const std::string& status) {
  return {column_value::text(id), column_value::text(factory), column_value::text(version), column_value::text(status)};
}

struct logged {
  log_level level;
  std::string event;
  std::vector<std::pair<std::string, std::string>> fields;
};

struct fixture {
  net::mapping_config mapping;
  test::recording_sink sink;
  std::vector<logged> logs;
  replication_session session;

  explicit fixture(net::mapping_config m, lsn confirmed = {})
      : mapping(std::move(m)),
        session(mapping, sink,
                [this](log_level level, std::string_view event, std::span<const log_field> fields) {
                  logged l{level, std::string(event), {}};
                  for (const log_field& f : fields) l.fields.emplace_back(std::string(f.key), f.value);
                  logs.push_back(std::move(l));
                },
                confirmed) {}

  void feed(const message& m) {
    const auto out = session.consume(xlog(m));
    ASSERT_TRUE(out) << out.error().message;
  }
  bool logged_event(const std::string& name) const {
    for (const logged& l : logs) {
      if (l.event == name) return true;
    }
    return false;
  }
};

begin_message begin_at(std::uint64_t final_lsn, std::uint32_t xid = 7) { return {lsn{final_lsn}, pg_timestamp{0}, xid}; }
commit_message commit_at(std::uint64_t commit_lsn, std::uint64_t end_lsn) {
  return {0, lsn{commit_lsn}, lsn{end_lsn}, pg_timestamp{0}};
}

TEST(ReplicationSession, InsertRoutesDocAndListThenFactorySummaryAndConfirmsAtCommit) {
  fixture f(config(), lsn{10});
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  EXPECT_EQ(f.sink.size(), 0U);
  EXPECT_EQ(f.session.confirmed(), lsn{10});
  f.feed(commit_at(100, 120));
  EXPECT_EQ(f.sink.channels(), (std::vector<std::string>{"doc:wo:w1", "list:wo:f1", "factory:f1"}));
  EXPECT_EQ(f.sink.events()[0].act, core::action::create);
  EXPECT_EQ(f.sink.events()[0].ts, "2000-01-01T00:00:00.000Z");
  EXPECT_EQ(f.sink.events()[2].count, 1U);
  EXPECT_EQ(f.session.confirmed(), lsn{120});
  EXPECT_EQ(f.session.counters().transactions, 1U);
  EXPECT_EQ(f.session.counters().rows_mapped, 1U);
  EXPECT_TRUE(f.logged_event("commit"));
}

TEST(ReplicationSession, MultiTableTransactionSummarisesPerTypeAndAction) {
  fixture f(config());
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(pick_lists());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  f.feed(insert_message{100, wo("w2", "f1", "1", "open")});
  f.feed(insert_message{200, {column_value::text("p1"), column_value::text("f1")}});
  f.feed(commit_at(100, 120));
  const auto events = f.sink.events();
  ASSERT_EQ(events.size(), 8U);  // 3 x (doc + list), then summaries wo/create x2 and pl/create x1
  EXPECT_EQ(events[6].type, "wo");
  EXPECT_EQ(events[6].count, 2U);
  EXPECT_EQ(events[7].type, "pl");
  EXPECT_EQ(events[7].count, 1U);
}

TEST(ReplicationSession, UpdateWithFullOldRowCarriesChangedKeysAndApprove) {
  fixture f(config());
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(update_message{100, old_tuple_kind::full, wo("w1", "f1", "1", "open"), wo("w1", "f1", "2", "approved")});
  f.feed(commit_at(100, 120));
  const auto events = f.sink.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].act, core::action::approve);
  EXPECT_EQ(events[0].changed_keys, (std::vector<std::string>{"version", "status"}));
}

// Row w1 in one transaction, then ALTER TABLE ... ADD COLUMN priority int4 and row w2 (priority 5) in the next.
void feed_row_before_and_after_adding_a_column(fixture& f) {
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  f.feed(commit_at(100, 120));
  f.feed(begin_at(200));
  f.feed(work_orders({{true, "priority", 23, -1}}));
  tuple_data row = wo("w2", "f1", "1", "open");
  row.push_back(column_value::text("5"));
  f.feed(insert_message{100, row});
  f.feed(commit_at(200, 220));
}

TEST(ReplicationSession, AlterTableMidStreamUsesTheNewRelation) {
  fixture f(config());
  feed_row_before_and_after_adding_a_column(f);
  EXPECT_EQ(f.session.counters().rows_mapped, 2U);
  EXPECT_EQ(f.sink.channels()[3], "doc:wo:w2");
}

TEST(ReplicationSession, AlterTableRebuildsTheRecordColumnsOfLaterRows) {
  fixture f(config());
  feed_row_before_and_after_adding_a_column(f);
  const auto changes = f.sink.changes();
  ASSERT_EQ(changes.size(), 2U);
  EXPECT_EQ(changes[0].find("priority"), std::string::npos) << changes[0];
  EXPECT_NE(changes[1].find(R"({"name":"priority","type":"int4"}])"), std::string::npos) << changes[1];
  EXPECT_NE(changes[1].find(R"("priority":5})"), std::string::npos) << changes[1];
}

TEST(ReplicationSession, TypeMessageRenamesTheTypeInLaterRecords) {
  fixture f(config());
  f.feed(type_message{70000, "public", "mood"});
  f.feed(begin_at(100));
  f.feed(work_orders({{false, "feel", 70000, -1}}));
  tuple_data row = wo("w1", "f1", "1", "open");
  row.push_back(column_value::text("happy"));
  f.feed(insert_message{100, row});
  f.feed(commit_at(100, 120));
  f.feed(type_message{70000, "public", "feeling"});
  f.feed(begin_at(200));
  f.feed(insert_message{100, row});
  f.feed(commit_at(200, 220));
  const auto changes = f.sink.changes();
  ASSERT_EQ(changes.size(), 2U);
  EXPECT_NE(changes[0].find(R"({"name":"feel","type":"public.mood"})"), std::string::npos) << changes[0];
  EXPECT_NE(changes[1].find(R"({"name":"feel","type":"public.feeling"})"), std::string::npos) << changes[1];
}

TEST(ReplicationSession, FlushesMidTransactionAtTheRouterBoundButConfirmsOnlyAtCommit) {
  fixture f(config(2));
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});  // doc + list = 2 messages: drained
  EXPECT_EQ(f.sink.publishes(), 1U);
  EXPECT_EQ(f.session.confirmed(), lsn{});
  f.feed(commit_at(100, 120));
  EXPECT_EQ(f.sink.publishes(), 2U);
  EXPECT_EQ(f.session.confirmed(), lsn{120});
}

// issue 15: every publish of a transaction, mid-transaction flushes included, carries Begin's commit time (the
// start of rtcache_replication_commit_to_publish_seconds).
TEST(ReplicationSession, EveryPublishCarriesTheTransactionsCommitTime) {
  fixture f(config(2));
  begin_message b = begin_at(100);
  b.commit_time = pg_timestamp{1'500'000};  // 2000-01-01T00:00:01.5Z
  f.feed(b);
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  f.feed(commit_at(100, 120));
  const auto times = f.sink.commit_times();
  ASSERT_EQ(times.size(), 2U);
  const std::chrono::system_clock::time_point expected{std::chrono::milliseconds(946'684'801'500)};
  for (const auto& t : times) {
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(*t, expected);
  }
}

TEST(ReplicationSession, ResentTransactionBeforeConfirmedIsNotPublishedAgain) {
  fixture f(config(), lsn{500});
  f.feed(begin_at(400));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  f.feed(commit_at(400, 450));
  EXPECT_EQ(f.sink.size(), 0U);
  EXPECT_EQ(f.session.counters().skipped_transactions, 1U);
  EXPECT_EQ(f.session.confirmed(), lsn{500});
  f.feed(begin_at(600));
  f.feed(insert_message{100, wo("w2", "f1", "1", "open")});
  f.feed(commit_at(600, 650));
  EXPECT_EQ(f.sink.channels()[0], "doc:wo:w2");
}

TEST(ReplicationSession, KeepaliveAsksForReplyAndAdvancesWhenIdle) {
  fixture f(config(), lsn{10});
  const auto out = f.session.consume(test::keepalive(lsn{900}, true));
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->reply_requested);
  EXPECT_EQ(f.session.confirmed(), lsn{900});
  EXPECT_EQ(f.session.counters().server_wal_end, lsn{900});
}

TEST(ReplicationSession, KeepaliveInsideATransactionDoesNotConfirm) {
  fixture f(config(), lsn{10});
  f.feed(begin_at(100));
  ASSERT_TRUE(f.session.consume(test::keepalive(lsn{900}, false)));
  EXPECT_EQ(f.session.confirmed(), lsn{10});
}

TEST(ReplicationSession, RowTheMapperRefusesIsLoggedCountedAndSkipped) {
  fixture f(config());
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("bad id!", "f1", "1", "open")});
  f.feed(insert_message{100, wo("w2", "f1", "1", "open")});
  f.feed(commit_at(100, 120));
  EXPECT_EQ(f.session.counters().rows_failed, 1U);
  EXPECT_TRUE(f.logged_event("row_unmapped"));
  EXPECT_EQ(f.sink.channels()[0], "doc:wo:w2");
  EXPECT_EQ(f.session.confirmed(), lsn{120});
}

TEST(ReplicationSession, UnmappedTablesProduceNothingButStillConfirm) {
  fixture f(config());
  relation_message other = pick_lists();
  other.oid = 300;
  other.name = "audit";
  f.feed(begin_at(100));
  f.feed(other);
  f.feed(insert_message{300, {column_value::text("a"), column_value::text("b")}});
  f.feed(commit_at(100, 120));
  EXPECT_EQ(f.sink.size(), 0U);
  EXPECT_EQ(f.session.counters().rows, 1U);
  EXPECT_EQ(f.session.counters().rows_mapped, 0U);
  EXPECT_EQ(f.session.confirmed(), lsn{120});
}

TEST(ReplicationSession, TruncateOfAMappedTableIsLoggedNotRouted) {
  fixture f(config());
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(truncate_message{false, false, {100}});
  f.feed(commit_at(100, 120));
  EXPECT_EQ(f.session.counters().truncates, 1U);
  EXPECT_TRUE(f.logged_event("truncate_not_routed"));
  EXPECT_EQ(f.sink.size(), 0U);
}

TEST(ReplicationSession, ChangeToAnUnknownRelationIsAStreamError) {
  fixture f(config());
  f.feed(begin_at(100));
  const auto out = f.session.consume(xlog(insert_message{100, wo("w1", "f1", "1", "open")}));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, errc::bad_value);
}

TEST(ReplicationSession, CommitWithoutBeginAndChangeOutsideTransactionAreStreamErrors) {
  fixture f(config());
  EXPECT_FALSE(f.session.consume(xlog(commit_at(1, 2))));
  f.feed(work_orders());
  EXPECT_FALSE(f.session.consume(xlog(insert_message{100, wo("w1", "f1", "1", "open")})));
}

TEST(ReplicationSession, ResetConnectionForgetsRelationsAndTheOpenTransaction) {
  fixture f(config(), lsn{10});
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  f.session.reset_connection();
  EXPECT_FALSE(f.session.in_transaction());
  EXPECT_EQ(f.session.confirmed(), lsn{10});
  f.feed(begin_at(100));
  EXPECT_FALSE(f.session.consume(xlog(insert_message{100, wo("w1", "f1", "1", "open")})));
}

TEST(ReplicationSession, MalformedPayloadIsAnErrorNotACrash) {
  fixture f(config());
  EXPECT_FALSE(f.session.consume(""));
  EXPECT_FALSE(f.session.consume("w"));
  EXPECT_FALSE(f.session.consume(std::string("w") + std::string(24, '\0') + "Z"));
}

// The fuzz seeds recorded from a real PostgreSQL 15 (rtcache_pg_tail --capture): every message of every
// recorded transaction goes through the whole path without an error.
TEST(ReplicationSession, ReplaysStreamsRecordedFromPostgres) {
  auto mapping = net::parse_mapping_config(R"(
[tables."public.capture_wo"]
doc_type = "wo"
id_column = "id"
factory_column = "factory_id"
version_column = "version"
status_column = "status"
approve_values = ["approved"]
[tables."public.capture_pl"]
doc_type = "pl"
id_column = "id"
factory_column = "factory_id"
)");
  ASSERT_TRUE(mapping) << mapping.error().message;
  fixture f(std::move(mapping).value());
  std::vector<std::filesystem::path> seeds;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(RTCACHE_SOURCE_DIR) + "/fuzz/corpus/pgoutput")) {
    if (entry.path().filename().string().rfind("recorded_", 0) == 0) seeds.push_back(entry.path());
  }
  std::sort(seeds.begin(), seeds.end());
  ASSERT_GE(seeds.size(), 11U);
  for (const auto& path : seeds) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t at = 0;
    while (at + 2 <= bytes.size()) {
      const std::size_t n = (static_cast<std::size_t>(static_cast<unsigned char>(bytes[at])) << 8U) |
                            static_cast<unsigned char>(bytes[at + 1]);
      const auto out = f.session.consume_message(bytes.substr(at + 2, n));
      ASSERT_TRUE(out) << path.filename() << ": " << out.error().message;
      at += 2 + n;
    }
    ASSERT_EQ(at, bytes.size()) << path.filename();
  }
  EXPECT_EQ(f.session.counters().transactions, seeds.size());
  // capture_pl keeps REPLICA IDENTITY DEFAULT: its DELETE carries only the key, so the factory is unknown and
  // the row cannot be routed (the preflight warns about exactly this). Everything else maps.
  EXPECT_EQ(f.session.counters().rows_failed, 1U);
  std::vector<std::string> unmapped;
  for (const logged& l : f.logs) {
    if (l.event == "row_unmapped") {
      for (const auto& [key, value] : l.fields) {
        if (key == "table" || key == "code") unmapped.push_back(value);
      }
    }
  }
  EXPECT_EQ(unmapped, (std::vector<std::string>{"public.capture_pl", "missing_field"}));
  EXPECT_EQ(f.session.counters().truncates, 1U);
  const auto channels = f.sink.channels();
  EXPECT_NE(std::find(channels.begin(), channels.end(), "list:wo:f2"), channels.end());  // the factory move
  const auto events = f.sink.events();
  EXPECT_NE(std::find_if(events.begin(), events.end(), [](const core::event& e) { return e.act == core::action::approve; }),
            events.end());
}

}  // namespace
}  // namespace rtcache::pg
