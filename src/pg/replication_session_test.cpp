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
#include <set>
#include <string>
#include <vector>

namespace rtcache::pg {
namespace {

using test::xlog;

routing::mapping_config config(std::size_t flush_messages = 4096) {
  auto c = routing::parse_mapping_config(R"(
[routing]
flush_messages = )" + std::to_string(flush_messages) +
                                         R"(
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

tuple_data wo(const std::string& id, const std::string& factory, const std::string& version,
              const std::string& status) {
  return {column_value::text(id), column_value::text(factory), column_value::text(version), column_value::text(status)};
}

struct logged {
  log_level level;
  std::string event;
  std::vector<std::pair<std::string, std::string>> fields;
};

struct fixture {
  routing::mapping_config mapping;
  test::recording_sink sink;
  std::vector<logged> logs;
  replication_session session;

  explicit fixture(routing::mapping_config m, lsn confirmed = {}, durable_confirm_limits limits = {})
      : mapping(std::move(m)),
        session(
            mapping, sink,
            [this](log_level level, std::string_view event, std::span<const log_field> fields) {
              logged l{level, std::string(event), {}};
              for (const log_field& f : fields) l.fields.emplace_back(std::string(f.key), f.value);
              logs.push_back(std::move(l));
            },
            confirmed, limits) {
    session.start_stream(k_identity, confirmed, [this] { ++wakes; });
  }

  static constexpr stream_identity k_identity{7000000000000000001ULL, 1};
  int wakes = 0;

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

const replication_session::time_point t0{};

begin_message begin_at(std::uint64_t final_lsn, std::uint32_t xid = 7) {
  return {lsn{final_lsn}, pg_timestamp{0}, xid};
}
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
  EXPECT_EQ(f.session.handled(), lsn{900});
  EXPECT_EQ(f.session.confirm_position(t0), lsn{900});
  EXPECT_EQ(f.session.counters().server_wal_end, lsn{900});
}

TEST(ReplicationSession, KeepaliveInsideATransactionDoesNotConfirm) {
  fixture f(config(), lsn{10});
  f.feed(begin_at(100));
  ASSERT_TRUE(f.session.consume(test::keepalive(lsn{900}, false)));
  EXPECT_EQ(f.session.confirm_position(t0), lsn{10});
  EXPECT_EQ(f.sink.publishes(), 0U);
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
  EXPECT_EQ(f.session.handled(), lsn{120});
  EXPECT_EQ(f.sink.publishes(), 0U);
  // With the next status update the position goes through the sink (a call without rows) and is confirmed.
  EXPECT_EQ(f.session.confirm_position(t0), lsn{120});
  EXPECT_EQ(f.sink.publishes(), 1U);
}

// issue 13, "A gap is never continuity": a TRUNCATE names no rows, so it is a gap on the truncated tables'
// channels, in its place in the transaction (the rows before it go out first), with an error log and a count.
TEST(ReplicationSession, TruncateOfAMappedTableIsAGapOnThatTableInItsPlace) {
  fixture f(config());
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(pick_lists());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  f.feed(truncate_message{false, false, {200, 100}});
  f.feed(insert_message{100, wo("w2", "f1", "1", "open")});
  f.feed(commit_at(100, 120));
  EXPECT_EQ(f.session.counters().truncates, 1U);
  EXPECT_EQ(f.session.counters().gaps[static_cast<std::size_t>(routing::gap_reason::truncate)], 1U);
  EXPECT_TRUE(f.logged_event("source_gap"));
  const auto calls = f.sink.calls();
  ASSERT_EQ(calls.size(), 3U);
  EXPECT_EQ(calls[0].channels, (std::vector<std::string>{"doc:wo:w1", "list:wo:f1"}));
  ASSERT_TRUE(calls[1].gap);
  EXPECT_EQ(calls[1].gap_value.reason, routing::gap_reason::truncate);
  EXPECT_EQ(calls[1].gap_value.tables,
            (std::vector<routing::gap_table>{{"public", "pick_lists", "pl"}, {"public", "work_orders", "wo"}}));
  EXPECT_EQ(calls[1].position.commit_lsn, 100U);
  EXPECT_EQ(calls[1].position.first_index, 3U);  // after w1's doc and list messages and its record
  EXPECT_EQ(calls[2].channels, (std::vector<std::string>{"doc:wo:w2", "list:wo:f1", "factory:f1"}));
  EXPECT_EQ(calls[2].position.first_index, 4U);
  EXPECT_TRUE(calls[2].last);
  EXPECT_EQ(f.session.confirmed(), lsn{120});
}

TEST(ReplicationSession, TruncateOfOnlyUnmappedTablesIsNoGap) {
  fixture f(config());
  relation_message other = pick_lists();
  other.oid = 300;
  other.name = "audit";
  f.feed(begin_at(100));
  f.feed(other);
  f.feed(truncate_message{false, false, {300}});
  f.feed(commit_at(100, 120));
  EXPECT_TRUE(f.sink.gaps().empty());
  EXPECT_FALSE(f.logged_event("source_gap"));
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

// ---- issue 13: the stream's identity, durable confirm, backlog and stall, on a manual clock ----

// Every routed item gets (system identifier, timeline, commit LSN, index): the index runs over the whole
// transaction, across the batches the router flushes before the commit.
TEST(ReplicationSession, EveryBatchCarriesTheCommitIdentityAndIndexesRunAcrossTheTransaction) {
  fixture f(config(2));
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});  // doc + list + record: flushed
  f.feed(insert_message{100, wo("w2", "f1", "1", "open")});  // flushed
  f.feed(commit_at(100, 120));                               // the summary
  const auto calls = f.sink.calls();
  ASSERT_EQ(calls.size(), 3U);
  std::uint32_t index = 0;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].position.sequence, i + 1);
    EXPECT_EQ(calls[i].position.system_identifier, fixture::k_identity.system_identifier);
    EXPECT_EQ(calls[i].position.timeline, 1U);
    EXPECT_EQ(calls[i].position.commit_lsn, 100U);
    EXPECT_EQ(calls[i].position.first_index, index);
    index += static_cast<std::uint32_t>(calls[i].messages);
  }
  EXPECT_EQ(calls[0].messages, 3U);
  EXPECT_FALSE(calls[0].last);
  EXPECT_EQ(calls[0].position.confirm_lsn, 0U);  // a batch before the commit confirms nothing new
  EXPECT_TRUE(calls[2].last);
  EXPECT_EQ(calls[2].position.confirm_lsn, 120U);
}

// The same transaction resent after a restart (the sink had not made it durable) gets the same ids, so an
// idempotent sink (JetStream's Nats-Msg-Id) stores it once.
TEST(ReplicationSession, ATransactionResentAfterARestartGetsTheSameIds) {
  fixture f(config(2), lsn{50});
  f.sink.hold_acks();
  auto feed_tx = [&f] {
    f.feed(begin_at(100));
    f.feed(work_orders());
    f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
    f.feed(update_message{100, old_tuple_kind::full, wo("w1", "f1", "1", "open"), wo("w1", "f1", "2", "done")});
    f.feed(commit_at(100, 120));
  };
  feed_tx();
  const auto first = f.sink.calls();
  EXPECT_EQ(f.session.confirmed(), lsn{50});
  f.session.start_stream(fixture::k_identity, f.session.confirmed());
  feed_tx();
  const auto all = f.sink.calls();
  ASSERT_EQ(all.size(), 2 * first.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    const auto& a = all[i].position;
    const auto& b = all[first.size() + i].position;
    EXPECT_EQ(a.sequence, b.sequence);
    EXPECT_EQ(a.commit_lsn, b.commit_lsn);
    EXPECT_EQ(a.first_index, b.first_index);
    EXPECT_EQ(a.confirm_lsn, b.confirm_lsn);
    EXPECT_EQ(all[i].channels, all[first.size() + i].channels);
  }
  EXPECT_EQ(f.sink.streams(), 2U);
}

// issue 13 (commit identity): every routed item of a transaction gets its own id from (system identifier,
// timeline, commit LSN, index), in PostgreSQL's LSN notation; two transactions never share one.
TEST(ReplicationSession, MessageIdsNameTheCommitAndAreDistinctAcrossItems) {
  fixture f(config(2));
  f.feed(begin_at(0x100000010ULL));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  f.feed(insert_message{100, wo("w2", "f1", "1", "open")});
  f.feed(commit_at(0x100000010ULL, 0x100000020ULL));
  f.feed(begin_at(0x100000030ULL));
  f.feed(insert_message{100, wo("w3", "f1", "1", "open")});
  f.feed(commit_at(0x100000030ULL, 0x100000040ULL));
  std::set<std::string> ids;
  std::size_t items = 0;
  for (const auto& c : f.sink.calls()) {
    for (std::size_t k = 0; k < c.messages; ++k) ids.insert(routing::message_id(c.position, k));
    items += c.messages;
  }
  EXPECT_EQ(ids.size(), items);
  EXPECT_TRUE(ids.contains("7000000000000000001-1-1/10-0"));
  EXPECT_TRUE(ids.contains("7000000000000000001-1-1/30-0"));
}

// Confirm only what is durable: a sink that acknowledges later holds the confirmed position back until it does.
TEST(ReplicationSession, ConfirmsOnlyWhatTheSinkMadeDurable) {
  fixture f(config(), lsn{10});
  f.sink.hold_acks();
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  f.feed(commit_at(100, 120));
  f.feed(begin_at(200));
  f.feed(insert_message{100, wo("w2", "f1", "1", "open")});
  f.feed(commit_at(200, 220));
  EXPECT_EQ(f.session.handled(), lsn{220});
  EXPECT_EQ(f.session.confirm_position(t0), lsn{10});
  EXPECT_EQ(f.session.unconfirmed_messages(), 8U);  // 2 x (doc, list, record, summary)
  f.sink.ack_through(1);
  EXPECT_EQ(f.wakes, 1);
  EXPECT_EQ(f.session.confirm_position(t0), lsn{120});
  f.sink.ack_all();
  EXPECT_EQ(f.session.confirm_position(t0), lsn{220});
  EXPECT_EQ(f.session.unconfirmed_messages(), 0U);
}

// WAL the mapping ignores moves the position; it reaches the sink as a position-only call with the next status
// update and is confirmed once that call (and everything before it) is durable.
TEST(ReplicationSession, APositionWithoutRowsGoesThroughTheSinkBeforeItIsConfirmed) {
  fixture f(config(), lsn{10});
  f.sink.hold_acks();
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  f.feed(commit_at(100, 120));
  ASSERT_TRUE(f.session.consume(test::keepalive(lsn{900}, false)));
  EXPECT_EQ(f.session.confirm_position(t0), lsn{10});
  auto calls = f.sink.calls();
  ASSERT_EQ(calls.size(), 2U);
  EXPECT_EQ(calls[1].messages, 0U);
  EXPECT_EQ(calls[1].position.commit_lsn, 0U);
  EXPECT_EQ(calls[1].position.confirm_lsn, 900U);
  f.sink.ack_through(1);
  EXPECT_EQ(f.session.confirm_position(t0), lsn{120});
  f.sink.ack_all();
  EXPECT_EQ(f.session.confirm_position(t0), lsn{900});
  EXPECT_EQ(f.sink.calls().size(), 2U);  // nothing new to hand over
}

// The backlog bound (issue 13): at max_unconfirmed_messages the source must stop reading; it may go on once the
// sink made something durable.
TEST(ReplicationSession, BacklogBoundIsReachedAndLeftAsTheSinkAcknowledges) {
  fixture f(config(), lsn{10}, {.max_unconfirmed_messages = 8, .stall_timeout = std::chrono::seconds(10)});
  f.sink.hold_acks();
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  f.feed(commit_at(100, 120));
  EXPECT_FALSE(f.session.backlog_full());  // 4 outstanding
  f.feed(begin_at(200));
  f.feed(insert_message{100, wo("w2", "f1", "1", "open")});
  f.feed(commit_at(200, 220));
  EXPECT_TRUE(f.session.backlog_full());  // 8 outstanding
  f.sink.ack_through(1);
  f.session.poll_sink(t0);
  EXPECT_FALSE(f.session.backlog_full());
}

TEST(ReplicationSession, ASinkThatAcknowledgesNothingIsStalledAfterTheBound) {
  using namespace std::chrono_literals;
  fixture f(config(), lsn{10}, {.max_unconfirmed_messages = 1000, .stall_timeout = 10s});
  f.sink.hold_acks();
  f.session.poll_sink(t0);
  EXPECT_FALSE(f.session.stalled(t0 + 1h));  // idle: never stalled
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  f.feed(commit_at(100, 120));
  f.session.poll_sink(t0 + 1s);
  EXPECT_FALSE(f.session.stalled(t0 + 10s));
  f.session.poll_sink(t0 + 11s);
  EXPECT_TRUE(f.session.stalled(t0 + 11s));
  f.sink.ack_all();
  f.session.poll_sink(t0 + 12s);
  EXPECT_FALSE(f.session.stalled(t0 + 12s));
  EXPECT_EQ(f.session.confirmed(), lsn{120});
}

// After a restart the source resumes from the position the sink made durable: what was published but not durable
// comes again and is published again, what was durable is recognised and skipped.
TEST(ReplicationSession, ARestartResendsWhatWasNotDurableAndSkipsWhatWas) {
  fixture f(config(), lsn{10});
  f.sink.hold_acks();
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  f.feed(commit_at(100, 120));
  f.feed(begin_at(200));
  f.feed(insert_message{100, wo("w2", "f1", "1", "open")});
  f.feed(commit_at(200, 220));
  f.sink.ack_through(1);
  f.session.poll_sink(t0);
  ASSERT_EQ(f.session.confirmed(), lsn{120});
  f.session.start_stream(fixture::k_identity, f.session.confirmed());
  // The server resends from its confirmed_flush, which may lag: both transactions arrive again.
  f.feed(begin_at(100));
  f.feed(work_orders());
  f.feed(insert_message{100, wo("w1", "f1", "1", "open")});
  f.feed(commit_at(100, 120));
  f.feed(begin_at(200));
  f.feed(insert_message{100, wo("w2", "f1", "1", "open")});
  f.feed(commit_at(200, 220));
  const auto calls = f.sink.calls();
  ASSERT_EQ(calls.size(), 3U);
  EXPECT_EQ(calls[2].channels, calls[1].channels);  // w2 again, w1 not
  EXPECT_EQ(calls[2].position.sequence, 1U);
  EXPECT_EQ(f.session.counters().skipped_transactions, 1U);
}

TEST(ReplicationSession, AGapFoundAtTheStartGoesToTheSinkForEveryChannel) {
  fixture f(config(), lsn{4000});
  f.session.report_gap(routing::gap_reason::slot_created, "the slot was created", lsn{4000});
  const auto gaps = f.sink.gaps();
  ASSERT_EQ(gaps.size(), 1U);
  EXPECT_TRUE(gaps[0].all());
  EXPECT_EQ(gaps[0].reason, routing::gap_reason::slot_created);
  EXPECT_EQ(gaps[0].position.sequence, 1U);
  EXPECT_EQ(gaps[0].position.commit_lsn, 4000U);
  EXPECT_EQ(gaps[0].position.confirm_lsn, 4000U);
  EXPECT_EQ(f.session.counters().gaps[static_cast<std::size_t>(routing::gap_reason::slot_created)], 1U);
  ASSERT_TRUE(f.logged_event("source_gap"));
  for (const logged& l : f.logs) {
    if (l.event == "source_gap") {
      EXPECT_EQ(l.level, log_level::error);
    }
  }
}

// The fuzz seeds recorded from a real PostgreSQL 15 (rtcache_pg_tail --capture): every message of every
// recorded transaction goes through the whole path without an error.
TEST(ReplicationSession, ReplaysStreamsRecordedFromPostgres) {
  auto mapping = routing::parse_mapping_config(R"(
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
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(RTCACHE_SOURCE_DIR) + "/fuzz/corpus/pgoutput")) {
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
  EXPECT_NE(
      std::find_if(events.begin(), events.end(), [](const core::event& e) { return e.act == core::action::approve; }),
      events.end());
}

}  // namespace
}  // namespace rtcache::pg
