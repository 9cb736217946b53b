// Unit tests for the classification of server errors and preflight facts into actionable problems.
#include "rtcache/pg/source_problem.hpp"

#include <gtest/gtest.h>

#include <string>

namespace rtcache::pg {
namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(ClassifyServerError, SlotActiveElsewhereIsSlotInUse) {
  const problem p = classify_server_error("55006", "replication slot \"rtcache\" is active for PID 4242",
                                          "START_REPLICATION", "rtcache", "rtcache");
  EXPECT_EQ(p.kind, problem_kind::slot_in_use);
  EXPECT_TRUE(has(p.message, "PID 4242"));
  EXPECT_TRUE(has(p.fix, "pg_replication_slots"));
  EXPECT_TRUE(is_transient(p.kind));
}

TEST(ClassifyServerError, InsufficientPrivilegeSaysWhatToGrant) {
  const problem p = classify_server_error("42501", "must be superuser or replication role to start walsender",
                                          "connect", "s", "p");
  EXPECT_EQ(p.kind, problem_kind::missing_privilege);
  EXPECT_TRUE(has(p.fix, "REPLICATION"));
  EXPECT_FALSE(is_transient(p.kind));
}

TEST(ClassifyServerError, WalLevelMessageIsWalLevel) {
  const problem p = classify_server_error("55000", "logical decoding requires wal_level >= logical",
                                          "CREATE_REPLICATION_SLOT", "s", "p");
  EXPECT_EQ(p.kind, problem_kind::wal_level);
  EXPECT_TRUE(has(p.fix, "wal_level = logical"));
}

TEST(ClassifyServerError, TerminatedBackendAndRefusedConnectionAreConnectionProblems) {
  EXPECT_EQ(classify_server_error("57P01", "terminating connection due to administrator command", "stream", "s", "p").kind,
            problem_kind::connection);
  EXPECT_EQ(classify_server_error("", "connection refused", "connect", "s", "p").kind, problem_kind::connection);
  EXPECT_EQ(classify_server_error("08006", "server closed the connection", "stream", "s", "p").kind,
            problem_kind::connection);
}

TEST(ClassifyServerError, UndefinedPublicationIsPublicationMissing) {
  const problem p = classify_server_error("42704", "publication \"pub\" does not exist", "stream", "s", "pub");
  EXPECT_EQ(p.kind, problem_kind::publication_missing);
  EXPECT_TRUE(has(p.fix, "CREATE PUBLICATION \"pub\""));
}

// issue 13: START_REPLICATION on a slot the server invalidated (max_slot_wal_keep_size).
TEST(ClassifyServerError, ReadingAnInvalidatedSlotIsSlotInvalidated) {
  const problem p = classify_server_error("55000", "cannot read from logical replication slot \"rtcache\"",
                                          "START_REPLICATION", "rtcache", "rtcache");
  EXPECT_EQ(p.kind, problem_kind::slot_invalidated);
  EXPECT_EQ(p.severity, problem_severity::error);
  EXPECT_TRUE(has(p.fix, "pg_drop_replication_slot('rtcache')"));
}

TEST(ClassifyServerError, OtherErrorsKeepTheirSqlstate) {
  const problem p = classify_server_error("XX000", "boom", "stream", "s", "p");
  EXPECT_EQ(p.kind, problem_kind::server);
  EXPECT_TRUE(has(p.message, "XX000"));
}

preflight_facts ready() {
  preflight_facts f;
  f.wal_level = "logical";
  f.role = "rtcache";
  f.replication_role = true;
  f.can_create_in_database = true;
  f.publication_exists = true;
  f.slot_exists = true;
  f.slot_plugin = "pgoutput";
  f.slot_type = "logical";
  table_facts t;
  t.schema = "public";
  t.table = "work_orders";
  t.exists = true;
  t.has_primary_key = true;
  t.replica_identity = 'f';
  t.owned_by_role = true;
  t.in_publication = true;
  f.tables.push_back(t);
  return f;
}

const preflight_options k_options{"rtcache", "rtcache", true, true};

TEST(EvaluatePreflight, ReadySetupHasNoProblem) { EXPECT_TRUE(evaluate_preflight(ready(), k_options).empty()); }

TEST(EvaluatePreflight, WalLevelReplicaIsAnErrorWithTheSettingToChange) {
  preflight_facts f = ready();
  f.wal_level = "replica";
  const auto problems = evaluate_preflight(f, k_options);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].kind, problem_kind::wal_level);
  EXPECT_EQ(problems[0].severity, problem_severity::error);
  EXPECT_TRUE(has(problems[0].message, "replica"));
  EXPECT_TRUE(has(problems[0].fix, "ALTER SYSTEM SET wal_level = logical"));
}

TEST(EvaluatePreflight, RoleWithoutReplicationIsMissingPrivilege) {
  preflight_facts f = ready();
  f.replication_role = false;
  const auto problems = evaluate_preflight(f, k_options);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].kind, problem_kind::missing_privilege);
  EXPECT_EQ(problems[0].fix, "ALTER ROLE \"rtcache\" WITH REPLICATION;");
}

TEST(EvaluatePreflight, ActiveSlotIsInUseNamingThePid) {
  preflight_facts f = ready();
  f.slot_active_pid = 777;
  const auto problems = evaluate_preflight(f, k_options);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].kind, problem_kind::slot_in_use);
  EXPECT_TRUE(has(problems[0].message, "777"));
}

// issue 13: an invalidated slot is replaced (a gap: a warning) when the source may create slots, an error else.
TEST(EvaluatePreflight, InvalidatedSlotIsAWarningWhenTheSourceReplacesItElseAnError) {
  preflight_facts f = ready();
  f.slot_wal_status = "lost";
  auto problems = evaluate_preflight(f, k_options);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].kind, problem_kind::slot_invalidated);
  EXPECT_EQ(problems[0].severity, problem_severity::warning);
  EXPECT_TRUE(has(problems[0].message, "refetch"));
  preflight_options no_create = k_options;
  no_create.create_slot = false;
  problems = evaluate_preflight(f, no_create);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].severity, problem_severity::error);
  f.slot_wal_status = "reserved";
  f.slot_invalidation_reason = "wal_removed";  // PostgreSQL 17
  problems = evaluate_preflight(f, no_create);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_TRUE(has(problems[0].message, "wal_removed"));
}

TEST(EvaluatePreflight, UnreservedSlotIsAWarningAndErrorsStillComeFirst) {
  preflight_facts f = ready();
  f.slot_wal_status = "unreserved";
  f.wal_level = "replica";
  const auto problems = evaluate_preflight(f, k_options);
  ASSERT_EQ(problems.size(), 2U);
  EXPECT_EQ(problems[0].kind, problem_kind::wal_level);
  EXPECT_EQ(problems[1].kind, problem_kind::slot_invalidated);
  EXPECT_EQ(problems[1].severity, problem_severity::warning);
  EXPECT_TRUE(has(problems[1].message, "unreserved"));
}

TEST(EvaluatePreflight, MissingSlotIsFineWhenTheSourceCreatesIt) {
  preflight_facts f = ready();
  f.slot_exists = false;
  EXPECT_TRUE(evaluate_preflight(f, k_options).empty());
  const auto problems = evaluate_preflight(f, {"rtcache", "rtcache", false, true});
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].kind, problem_kind::slot_missing);
}

TEST(EvaluatePreflight, SlotOfAnotherPluginIsRefused) {
  preflight_facts f = ready();
  f.slot_plugin = "wal2json";
  const auto problems = evaluate_preflight(f, k_options);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].kind, problem_kind::slot_wrong_plugin);
}

TEST(EvaluatePreflight, PublicationMissingMappedTablesSaysWhichAndHowToAdd) {
  preflight_facts f = ready();
  f.tables[0].in_publication = false;
  const auto problems = evaluate_preflight(f, k_options);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].kind, problem_kind::publication_tables);
  EXPECT_EQ(problems[0].fix, "ALTER PUBLICATION \"rtcache\" ADD TABLE \"public\".\"work_orders\";");
  f.publication_all_tables = true;
  EXPECT_TRUE(evaluate_preflight(f, k_options).empty());
}

TEST(EvaluatePreflight, MissingPublicationNeedsCreatePrivilegeAndTableOwnership) {
  preflight_facts f = ready();
  f.publication_exists = false;
  f.tables[0].in_publication = false;
  EXPECT_TRUE(evaluate_preflight(f, k_options).empty());
  f.tables[0].owned_by_role = false;
  auto problems = evaluate_preflight(f, k_options);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].kind, problem_kind::missing_privilege);
  EXPECT_TRUE(has(problems[0].message, "does not own \"public\".\"work_orders\""));
  problems = evaluate_preflight(f, {"rtcache", "rtcache", true, false});
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].kind, problem_kind::publication_missing);
  EXPECT_EQ(problems[0].fix, "CREATE PUBLICATION \"rtcache\" FOR TABLE \"public\".\"work_orders\";");
}

TEST(EvaluatePreflight, TableWithoutReplicaIdentityFullIsAWarningWithTheAlterTable) {
  preflight_facts f = ready();
  f.tables[0].replica_identity = 'd';
  const auto problems = evaluate_preflight(f, k_options);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].kind, problem_kind::no_replica_identity_full);
  EXPECT_EQ(problems[0].severity, problem_severity::warning);
  EXPECT_TRUE(has(problems[0].message, "changedKeys"));
  EXPECT_EQ(problems[0].fix, "ALTER TABLE \"public\".\"work_orders\" REPLICA IDENTITY FULL;");
}

TEST(EvaluatePreflight, TableWithoutPrimaryKeyIsNamed) {
  preflight_facts f = ready();
  f.tables[0].replica_identity = 'd';
  f.tables[0].has_primary_key = false;
  const auto problems = evaluate_preflight(f, k_options);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].kind, problem_kind::no_primary_key);
  EXPECT_TRUE(has(problems[0].message, "\"public\".\"work_orders\""));
}

TEST(EvaluatePreflight, MissingTableIsReported) {
  preflight_facts f = ready();
  f.tables[0].exists = false;
  const auto problems = evaluate_preflight(f, k_options);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0].kind, problem_kind::table_missing);
}

TEST(QuoteIdentifier, DoublesEmbeddedQuotes) {
  EXPECT_EQ(quote_identifier("we\"ird"), "\"we\"\"ird\"");
  EXPECT_EQ(quote_qualified("s", "t"), "\"s\".\"t\"");
}

}  // namespace
}  // namespace rtcache::pg
