// Integration tests of issue 13's PostgreSQL side against a real PostgreSQL 15 (the ctest fixture's, or private
// clusters the test starts with scripts/pg_cluster.sh): one reader per slot and the hand-over to a standby, a
// hung reader losing the slot through its wal_sender_timeout, confirming only what the sink made durable, and
// the gaps (a dropped slot, an invalidated slot, another cluster behind the conninfo, a TRUNCATE) as the hub and
// a client see them. Waits are for an expected state with a generous deadline; take-over times are printed and
// recorded as test properties, never asserted (bench/cluster/reader_takeover.sh measures take-over times over many
// cycles).
#include "hub/hub.hpp"
#include "ingest/hub_sink.hpp"
#include "ingest/relay.hpp"
#include "pg_source_fixture.hpp"
#include "rtcache/pg/source.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace rtcache::pg {
namespace {

using namespace std::chrono_literals;
using namespace test;
using steady = std::chrono::steady_clock;

double ms_since(steady::time_point t) {
  return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

// Doc ids ("doc:wo:w17" -> 17) of a list of channels, in order.
std::vector<int> doc_ids(const std::vector<std::string>& channels) {
  std::vector<int> out;
  for (const std::string& c : channels) {
    if (c.rfind("doc:wo:w", 0) == 0) out.push_back(std::stoi(c.substr(8)));
  }
  return out;
}

void drop_slot_and_publication(const std::string& slot, const std::string& publication) {
  db d;
  eventually([&] {
    return d.exec("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "' AND active") == "0";
  });
  d.exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
  d.exec("DROP PUBLICATION IF EXISTS " + publication);
}

// A source sharing the slot `<prefix>_slot` with others (the test drops it at the end).
source_config shared_slot(const std::string& prefix) {
  source_config c;
  c.slot = prefix + "_slot";
  c.publication = prefix + "_pub";
  return c;
}

// Every id in 1..total delivered by one of the two, and none twice by the same one.
void expect_each_once_at_least(const std::vector<int>& a, const std::vector<int>& b, int total) {
  std::map<int, int> seen_a, seen_b;
  for (int id : a) ++seen_a[id];
  for (int id : b) ++seen_b[id];
  for (int i = 1; i <= total; ++i) {
    EXPECT_GE(seen_a[i] + seen_b[i], 1) << "w" << i << " lost";
    EXPECT_LE(seen_a[i], 1) << "w" << i;
    EXPECT_LE(seen_b[i], 1) << "w" << i;
  }
}

class PgHandover : public PgSource {};

// ---------------------------------------------------------------------------------------------------------
// One reader per slot.

// issue 13: two sources on one slot: exactly one streams, the other stands by; when the reader stops, the standby
// takes over from the slot's confirmed position, and every committed row is delivered exactly once overall.
TEST_F(PgHandover, TwoSourcesOnOneSlotExactlyOneStreamsAndTheOtherTakesOverWhenItStops) {
  db d;
  create_tables(d, "pair");
  auto a = std::make_unique<running_source>("pair", shared_slot("pair"));
  ASSERT_TRUE(a->wait_streaming());
  auto b = std::make_unique<running_source>("pair", shared_slot("pair"));
  ASSERT_TRUE(eventually([&] { return b->role() == source_role::standby; }));
  EXPECT_EQ(a->role(), source_role::reader);

  steady_writer writer("pair_wo");
  ASSERT_TRUE(eventually([&] { return doc_ids(a->sink().channels()).size() >= 50; }));
  EXPECT_TRUE(b->sink().channels().empty());  // the standby reads nothing
  const auto stopped = steady::now();
  a->stop();
  ASSERT_TRUE(eventually([&] { return !doc_ids(b->sink().channels()).empty(); }));
  const double takeover_ms = ms_since(stopped);
  EXPECT_EQ(b->role(), source_role::reader);
  const int total = writer.finish(50);
  ASSERT_TRUE(eventually([&] {
    const auto ids = doc_ids(b->sink().channels());
    return !ids.empty() && ids.back() == total;
  }));
  const auto from_a = doc_ids(a->sink().channels());
  const auto from_b = doc_ids(b->sink().channels());
  // A clean stop confirms everything the reader delivered: the standby goes on right after it.
  ASSERT_FALSE(from_a.empty());
  EXPECT_EQ(from_b.front(), from_a.back() + 1);
  std::vector<int> all = from_a;
  all.insert(all.end(), from_b.begin(), from_b.end());
  std::vector<int> want(static_cast<std::size_t>(total));
  for (int i = 0; i < total; ++i) want[static_cast<std::size_t>(i)] = i + 1;
  EXPECT_EQ(all, want);
  RecordProperty("takeover_ms", std::to_string(takeover_ms));
  std::printf("stop -> first event from the standby: %.0f ms\n", takeover_ms);
  b.reset();
  a.reset();
  drop_slot_and_publication("pair_slot", "pair_pub");
}

// A reader in another process: kill -9 frees the slot at once, or frozen (SIGSTOP: its socket stays open) it
// loses the slot when its wal_sender_timeout passes. The standby takes over from the slot's confirmed position:
// nothing lost; delivered twice only what the dead reader had not confirmed.
void take_over_from_a_process(const std::string& prefix, int signal, const std::string& wal_sender_timeout_ms,
                              std::chrono::seconds deadline) {
  db d;
  create_tables(d, prefix);
  const std::string dir = ::testing::TempDir() + "rtcache_pg_" + prefix + "_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string mapping_path = dir + "/mapping.toml";
  std::ofstream(mapping_path) << mapping_toml(prefix);
  const std::string slot = prefix + "_slot";
  child reader = spawn_tail(dir + "/reader.jsonl", mapping_path, slot, prefix + "_pub", wal_sender_timeout_ms);
  ASSERT_TRUE(eventually([&] {
    return read_file(dir + "/reader.jsonl.err").find("replication_started") != std::string::npos;
  })) << read_file(dir + "/reader.jsonl.err");
  auto standby = std::make_unique<running_source>(prefix, shared_slot(prefix));
  ASSERT_TRUE(eventually([&] { return standby->role() == source_role::standby; }));

  steady_writer writer(prefix + "_wo");
  ASSERT_TRUE(eventually([&] { return read_tail(dir + "/reader.jsonl").commits >= 100; }));
  const auto hit = steady::now();
  ::kill(reader.pid, signal);
  const bool took_over = eventually([&] { return !doc_ids(standby->sink().channels()).empty(); }, deadline);
  const double takeover_ms = ms_since(hit);
  ::kill(reader.pid, SIGKILL);  // (a frozen one too: SIGKILL ends a stopped process)
  int status = 0;
  ::waitpid(reader.pid, &status, 0);
  const int total = writer.finish(100);
  ASSERT_TRUE(took_over) << "the standby did not take over within " << deadline.count() << " s";
  ASSERT_TRUE(eventually([&] {
    const auto ids = doc_ids(standby->sink().channels());
    return !ids.empty() && ids.back() == total;
  }));

  const tail_output a = read_tail(dir + "/reader.jsonl");
  std::vector<int> from_a;
  for (const auto& [channel, end] : a.doc_events) from_a.push_back(std::stoi(channel.substr(8)));
  const auto from_b = doc_ids(standby->sink().channels());
  expect_each_once_at_least(from_a, from_b, total);
  // Repeated only if its commit came after the last position the dead reader confirmed.
  const auto flushed = parse_lsn(a.last_status);
  ASSERT_TRUE(flushed);
  const std::set<int> b_set(from_b.begin(), from_b.end());
  for (const auto& [channel, end] : a.doc_events) {
    if (b_set.count(std::stoi(channel.substr(8))) == 0 || end.empty()) continue;
    EXPECT_GT(*parse_lsn(end), *flushed) << channel << " was confirmed at " << a.last_status << " yet delivered again";
  }
  // The standby delivers in commit order.
  EXPECT_TRUE(std::is_sorted(from_b.begin(), from_b.end()));
  ::testing::Test::RecordProperty("takeover_ms", std::to_string(takeover_ms));
  std::printf("%s of the reader -> first event from the standby: %.0f ms (wal_sender_timeout %s ms)\n",
              signal == SIGKILL ? "kill -9" : "SIGSTOP", takeover_ms, wal_sender_timeout_ms.c_str());
  standby.reset();
  drop_slot_and_publication(slot, prefix + "_pub");
  std::filesystem::remove_all(dir);
}

// issue 13's goal: first event from the new reader <= 5 s after kill -9 of the old one (measured here, in the
// order of the standby's 250 ms poll).
TEST_F(PgHandover, AReaderKilledWithSigkillIsTakenOverFromTheConfirmedPosition) {
  take_over_from_a_process("kill9", SIGKILL, "3000", 60s);
}

// A hung reader (SIGSTOP: its kernel keeps the socket open) holds the slot until its own wal_sender_timeout (2 s
// here) passes; the test cluster's server-wide setting is 60 s, beyond this test's 30 s deadline, so without the
// per-connection setting the standby would not take over in time.
TEST_F(PgHandover, AFrozenReaderLosesTheSlotWithinItsWalSenderTimeout) {
  take_over_from_a_process("frozen", SIGSTOP, "2000", 30s);
}

// issue 13: the nodes of a cluster start together and each finds the publication missing. The one whose CREATE
// PUBLICATION loses the race uses the publication the other created: no error, no reconnect. (It failed with 23505
// on pg_publication_pubname_index, logged an error and reconnected after a back-off: seen in the node logs of
// scripts/compat-cluster.sh.) Made deterministic: another session's CREATE PUBLICATION stays uncommitted until the
// source's CREATE waits for it on the name's unique index, then commits.
TEST_F(PgHandover, ACreatePublicationThatLosesTheRaceToAnotherNodeUsesItsPublication) {
  db d;
  create_tables(d, "pubrace");
  d.exec("DROP PUBLICATION IF EXISTS pubrace_pub");
  db other;
  other.exec("BEGIN");
  other.exec("CREATE PUBLICATION pubrace_pub FOR TABLE pubrace_wo, pubrace_pl");
  running_source s("pubrace");
  ASSERT_TRUE(eventually([&] {
    return d.exec(
               "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
               "query LIKE 'CREATE PUBLICATION%'") == "1";
  })) << "the source's CREATE PUBLICATION never waited for the other session's";
  other.exec("COMMIT");
  ASSERT_TRUE(s.wait_streaming());
  EXPECT_FALSE(s.has_log("pg_problem"));
  EXPECT_EQ(s.src().status().reconnects, 0U);
  EXPECT_TRUE(s.src().status().last_error.empty()) << s.src().status().last_error;
  EXPECT_EQ(s.count_logs("publication_exists", "publication", "pubrace_pub"), 1U);
  EXPECT_FALSE(s.has_log("publication_created"));
  insert_each(d, "pubrace_wo", 1, 1);
  ASSERT_TRUE(eventually([&] { return !s.sink().events().empty(); }));
}

// ---------------------------------------------------------------------------------------------------------
// Confirm only what is durable.

// issue 13: a sink that acknowledges slowly holds the slot's confirmed position back (nothing is confirmed that
// the sink has not made durable), and the source stops reading at its backlog bound instead of piling up.
TEST_F(PgHandover, ASlowAcknowledgingSinkHoldsTheConfirmedPositionBackAndBoundsTheBacklog) {
  db d;
  create_tables(d, "slow");
  source_config c;
  c.durability.max_unconfirmed_messages = 20;  // each row: doc, list, record and a summary = 4 messages
  running_source s("slow", c);
  s.sink().hold_acks();
  ASSERT_TRUE(s.wait_streaming());
  const std::string before = d.exec("SELECT pg_current_wal_lsn()::text");
  insert_each(d, "slow_wo", 1, 30);
  ASSERT_TRUE(eventually([&] { return s.src().status().unconfirmed_messages >= 20; }));
  // Held at the bound: the rest stays in PostgreSQL until the sink acknowledges.
  const auto held = s.src().status();
  EXPECT_LE(held.unconfirmed_messages, 24U);
  EXPECT_LT(doc_ids(s.sink().channels()).size(), 30U);
  EXPECT_EQ(d.exec("SELECT confirmed_flush_lsn <= '" + before +
                   "'::pg_lsn FROM pg_replication_slots WHERE slot_name = "
                   "'slow_slot'"),
            "t");
  EXPECT_LE(held.confirmed, *parse_lsn(before));
  // A slow sink: acknowledges everything it has every 50 ms.
  std::atomic<bool> acking{true};
  std::thread acker([&] {
    while (acking.load()) {
      s.sink().ack_all();
      std::this_thread::sleep_for(50ms);
    }
  });
  const bool all = eventually([&] { return doc_ids(s.sink().channels()).size() == 30; });
  const std::string after = d.exec("SELECT pg_current_wal_lsn()::text");
  const bool confirmed = eventually([&] {
    return d.exec("SELECT confirmed_flush_lsn >= '" + after +
                  "'::pg_lsn FROM pg_replication_slots WHERE slot_name = "
                  "'slow_slot'") == "t";
  });
  acking.store(false);
  acker.join();
  EXPECT_TRUE(all);
  EXPECT_TRUE(confirmed);
  EXPECT_LE(s.sink().max_outstanding_messages(), 24U);  // the bound, plus at most one batch
  EXPECT_EQ(doc_ids(s.sink().channels()), doc_ids(expected_docs(1, 30)));
}

// issue 13: a reader whose sink stops acknowledging (NATS unreachable) gives up the slot after the stall bound, so
// that a node that can publish takes over, from the confirmed position: nothing is lost.
TEST_F(PgHandover, AReaderWhoseSinkStallsGivesUpTheSlotToOneThatCanPublish) {
  db d;
  create_tables(d, "stall");
  source_config c = shared_slot("stall");
  c.durability.stall_timeout = 1s;
  auto a = std::make_unique<running_source>("stall", c);
  a->sink().hold_acks();
  ASSERT_TRUE(a->wait_streaming());
  auto b = std::make_unique<running_source>("stall", shared_slot("stall"));
  ASSERT_TRUE(eventually([&] { return b->role() == source_role::standby; }));
  insert_each(d, "stall_wo", 1, 20);
  ASSERT_TRUE(eventually([&] { return doc_ids(b->sink().channels()).size() == 20; }));
  EXPECT_EQ(doc_ids(b->sink().channels()), doc_ids(expected_docs(1, 20)));
  EXPECT_GE(a->src().status().sink_stalls, 1U);
  EXPECT_EQ(a->count_logs("sink_stalled"), a->src().status().sink_stalls);
  EXPECT_EQ(a->role(), source_role::standby);
  EXPECT_EQ(b->role(), source_role::reader);
  b.reset();
  a.reset();
  drop_slot_and_publication("stall_slot", "stall_pub");
}

// ---------------------------------------------------------------------------------------------------------
// A gap is never continuity: what the hub and a client make of it.

// A hub subscriber that counts deliveries and resets.
class client_view final : public hub::hub_subscriber {
 public:
  void deliver(const hub::hub_message_ptr&) noexcept override { ++messages; }
  void on_reset() noexcept override { ++resets; }
  std::atomic<int> messages{0};
  std::atomic<int> resets{0};
};

struct hub_with_sink {
  hub::hub hub{hub::hub_config{}, ingest::make_broadcast_encoder()};
  ingest::hub_sink sink{hub};
};

// Whether a join of `channel` resuming from `from` is recovered.
bool resumes(hub::hub& h, const std::string& channel, const hub::hub_position& from) {
  auto join = h.subscribe(channel, std::make_shared<client_view>(), from);
  return join.recovered;
}

// The issue's scenario (issue 13, "A gap is never continuity"): a client holds a position on list:wo:F1; the slot
// is dropped (as a failover to a standby without it, an operator or max_slot_wal_keep_size would); two F1 rows are
// updated; rtcache reconnects and creates a new slot at the current position, skipping both. Before issue 13 the
// client's resume was answered recovered:true; now the re-created slot is a gap: new epochs, recovered:false, and
// the client joined live is told at once.
TEST_F(PgHandover, TheIssuesScenarioADroppedSlotIsAGapAndAResumeFromBeforeItIsNotRecovered) {
  db d;
  create_tables(d, "gapdrop");
  d.exec(
      "INSERT INTO gapdrop_wo VALUES ('r1', 'F1', 1, 'open', 1, NULL), ('r2', 'F1', 1, 'open', 1, NULL), "
      "('r3', 'F1', 1, 'open', 1, NULL)");
  // The source logs in as its own role, so the test can keep it out while the slot is gone.
  d.exec("DROP ROLE IF EXISTS gapdrop_role");
  d.exec("CREATE ROLE gapdrop_role LOGIN REPLICATION");
  d.exec("DROP PUBLICATION IF EXISTS gapdrop_pub");
  d.exec("CREATE PUBLICATION gapdrop_pub FOR TABLE gapdrop_wo, gapdrop_pl");
  hub_with_sink h;
  source_config c;
  c.conninfo = conninfo() + " user=gapdrop_role";
  c.create_publication = false;
  running_source s("gapdrop", c, &h.sink);
  ASSERT_TRUE(s.wait_streaming());

  auto live = std::make_shared<client_view>();
  auto joined = h.hub.subscribe("list:wo:F1", live);
  d.exec("UPDATE gapdrop_wo SET qty = 2 WHERE id = 'r1'");
  ASSERT_TRUE(eventually([&] { return live->messages.load() == 1; }));
  const hub::hub_position before = *h.hub.position("list:wo:F1");
  EXPECT_TRUE(resumes(h.hub, "list:wo:F1", before));

  d.exec("ALTER ROLE gapdrop_role NOLOGIN");
  ASSERT_TRUE(eventually([&] {
    d.exec(
        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'gapdrop_slot' "
        "AND active_pid IS NOT NULL");
    return d.try_exec("SELECT pg_drop_replication_slot('gapdrop_slot')");
  }));
  d.exec("UPDATE gapdrop_wo SET qty = 3 WHERE id = 'r2'");  // committed while no slot exists: never streamed
  d.exec("UPDATE gapdrop_wo SET qty = 3 WHERE id = 'r3'");
  d.exec("ALTER ROLE gapdrop_role LOGIN");
  ASSERT_TRUE(eventually([&] { return s.count_logs("replication_started") == 2; }));
  d.exec("UPDATE gapdrop_wo SET qty = 4 WHERE id = 'r1'");  // after the new slot: delivered
  ASSERT_TRUE(eventually([&] { return live->messages.load() == 2; }));

  EXPECT_EQ(live->resets.load(), 1);  // the client joined live learns it at once
  EXPECT_FALSE(resumes(h.hub, "list:wo:F1", before));
  EXPECT_NE(h.hub.position("list:wo:F1")->epoch, before.epoch);
  const source_status st = s.src().status();
  EXPECT_EQ(st.gaps[static_cast<std::size_t>(routing::gap_reason::slot_created)], 1U);
  EXPECT_EQ(s.count_logs("source_gap", "reason", "slot_created"), 1U);
  EXPECT_EQ(h.sink.metrics().gaps, 1U);
  joined.subscription.unsubscribe();
  s.stop();
  d.exec("DROP PUBLICATION IF EXISTS gapdrop_pub");
}

// issue 13: a TRUNCATE of a mapped table makes that table's doc: and list: channels and the factory summaries
// start over (their clients refetch); another table's channels keep their positions.
TEST_F(PgHandover, ATruncateMakesThatTablesChannelsStartOverAndLeavesOthersAlone) {
  db d;
  create_tables(d, "trhub");
  hub_with_sink h;
  running_source s("trhub", {}, &h.sink);
  ASSERT_TRUE(s.wait_streaming());
  std::map<std::string, std::shared_ptr<client_view>> views;
  std::vector<hub::hub_subscription> subs;
  for (const char* channel : {"list:wo:f1", "doc:wo:w1", "factory:f1", "list:pl:f1", "doc:pl:p1"}) {
    views[channel] = std::make_shared<client_view>();
    subs.push_back(h.hub.subscribe(channel, views[channel]).subscription);
  }
  d.exec("INSERT INTO trhub_wo VALUES ('w1', 'f1', 1, 'open', 1, NULL)");
  d.exec("INSERT INTO trhub_pl VALUES ('p1', 'f1')");
  ASSERT_TRUE(eventually([&] { return views["list:pl:f1"]->messages.load() == 1; }));
  std::map<std::string, hub::hub_position> before;
  for (const auto& [channel, view] : views) before[channel] = *h.hub.position(channel);

  d.exec("TRUNCATE trhub_wo");
  // The hub resets the touched channels one by one; the sink counts the gap once all of them are done.
  ASSERT_TRUE(eventually([&] { return h.sink.metrics().gaps == 1; }));
  ASSERT_TRUE(
      eventually([&] { return s.src().status().gaps[static_cast<std::size_t>(routing::gap_reason::truncate)] == 1; }));
  EXPECT_EQ(views["list:wo:f1"]->resets.load(), 1);
  EXPECT_EQ(views["doc:wo:w1"]->resets.load(), 1);
  EXPECT_EQ(views["factory:f1"]->resets.load(), 1);
  EXPECT_EQ(views["list:pl:f1"]->resets.load(), 0);
  EXPECT_EQ(views["doc:pl:p1"]->resets.load(), 0);
  EXPECT_FALSE(resumes(h.hub, "list:wo:f1", before["list:wo:f1"]));
  EXPECT_FALSE(resumes(h.hub, "factory:f1", before["factory:f1"]));
  EXPECT_TRUE(resumes(h.hub, "list:pl:f1", before["list:pl:f1"]));
}

// issue 13: a slot the server invalidated (max_slot_wal_keep_size, while no reader read it) is detected, dropped,
// created again and reported as a gap.
TEST_F(PgHandover, AnInvalidatedSlotIsDetectedReplacedAndReportedAsAGap) {
  db d;
  create_tables(d, "inval");
  {
    running_source first("inval", shared_slot("inval"));
    ASSERT_TRUE(first.wait_streaming());
    d.exec("INSERT INTO inval_wo VALUES ('w1', 'f1', 1, 'open', 1, NULL)");
    ASSERT_TRUE(eventually([&] { return first.src().status().transactions >= 1; }));
  }  // stopped: nobody reads the slot
  d.exec("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
  d.exec("SELECT pg_reload_conf()");
  d.exec("DROP TABLE IF EXISTS inval_scratch");
  d.exec("CREATE TABLE inval_scratch (v text)");
  const bool lost = eventually([&] {
    d.exec("INSERT INTO inval_scratch SELECT repeat('x', 200) FROM generate_series(1, 5000)");
    d.exec("SELECT pg_switch_wal()");
    d.exec("CHECKPOINT");
    return d.exec("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'inval_slot'") == "lost";
  });
  d.exec("ALTER SYSTEM RESET max_slot_wal_keep_size");
  d.exec("SELECT pg_reload_conf()");
  d.exec("DROP TABLE inval_scratch");
  ASSERT_TRUE(lost) << "the slot was not invalidated";
  const auto problems = check_with("inval", shared_slot("inval"));
  EXPECT_TRUE(has_problem(problems, problem_kind::slot_invalidated, "inval_slot")) << describe(problems);

  running_source second("inval", shared_slot("inval"));
  ASSERT_TRUE(second.wait_streaming());
  EXPECT_EQ(second.src().status().gaps[static_cast<std::size_t>(routing::gap_reason::slot_invalidated)], 1U);
  EXPECT_EQ(second.count_logs("slot_dropped"), 1U);
  EXPECT_EQ(second.count_logs("source_gap", "reason", "slot_invalidated"), 1U);
  ASSERT_EQ(second.sink().gaps().size(), 1U);
  EXPECT_TRUE(second.sink().gaps()[0].all());
  d.exec("INSERT INTO inval_wo VALUES ('w2', 'f1', 1, 'open', 1, NULL)");
  ASSERT_TRUE(eventually([&] { return doc_ids(second.sink().channels()) == std::vector<int>{2}; }));
  second.stop();
  drop_slot_and_publication("inval_slot", "inval_pub");
}

// issue 13: another PostgreSQL cluster answering the same conninfo (a restore, a new instance) has another system
// identifier; the source remembers the one it streamed from across reconnects and reports the gap.
TEST_F(PgHandover, AnotherClusterBehindTheSameConninfoIsAGap) {
  const std::string script = std::string(RTCACHE_SOURCE_DIR) + "/scripts/pg_cluster.sh";
  const std::string dir_a = "/tmp/rtcache-pg-sysid-a-" + std::to_string(::getpid());
  const std::string dir_b = "/tmp/rtcache-pg-sysid-b-" + std::to_string(::getpid());
  ASSERT_EQ(std::system((script + " start " + dir_a + " >/dev/null").c_str()), 0);
  const std::string port = read_file(dir_a + "/port").substr(0, read_file(dir_a + "/port").find('\n'));
  const std::string info = read_file(dir_a + "/conninfo").substr(0, read_file(dir_a + "/conninfo").find('\n'));
  {
    db a(info);
    create_tables(a, "sysid");
  }
  source_config c = shared_slot("sysid");
  c.conninfo = info;
  running_source s("sysid", c);
  ASSERT_TRUE(s.wait_streaming());
  {
    db a(info);
    a.exec("INSERT INTO sysid_wo VALUES ('w1', 'f1', 1, 'open', 1, NULL)");
  }
  ASSERT_TRUE(eventually([&] { return doc_ids(s.sink().channels()) == std::vector<int>{1}; }));

  ASSERT_EQ(std::system((script + " stop " + dir_a + " >/dev/null").c_str()), 0);
  ASSERT_EQ(std::system((script + " start " + dir_b + " " + port + " >/dev/null").c_str()), 0);
  {
    db b(info);
    create_tables(b, "sysid");
  }
  const bool gap = eventually([&] { return s.count_logs("replication_started") == 2; });
  {
    db b(info);
    b.exec("INSERT INTO sysid_wo VALUES ('w2', 'f1', 1, 'open', 1, NULL)");
  }
  const bool delivered = eventually([&] { return doc_ids(s.sink().channels()) == std::vector<int>{1, 2}; });
  const source_status st = s.src().status();
  s.stop();
  std::system((script + " destroy " + dir_a + " >/dev/null").c_str());
  std::system((script + " destroy " + dir_b + " >/dev/null").c_str());
  ASSERT_TRUE(gap);
  EXPECT_TRUE(delivered);
  EXPECT_EQ(st.gaps[static_cast<std::size_t>(routing::gap_reason::system_changed)], 1U);
  EXPECT_EQ(s.count_logs("source_gap", "reason", "system_changed"), 1U);
}

}  // namespace
}  // namespace rtcache::pg
