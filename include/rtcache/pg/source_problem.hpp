// What is wrong with a PostgreSQL setup, in words an operator can act on: server errors (by SQLSTATE) and
// the preflight facts the source gathers before streaming, each turned into a problem that says what to run.
// Pure: the I/O client collects the facts and the SQLSTATEs; this decides what they mean.
#pragma once

#include "routing/mapping_config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::pg {

enum class problem_kind {
  connection,                // cannot connect or the connection broke (retry)
  wal_level,                 // wal_level is not logical
  missing_privilege,         // the role lacks REPLICATION/LOGIN, CREATE on the database, or table ownership
  slot_in_use,               // another process streams from the slot (SQLSTATE 55006)
  slot_missing,              // the slot does not exist and create_slot is off
  slot_wrong_plugin,         // the slot exists but is not a pgoutput logical slot
  slot_invalidated,          // the server removed WAL the slot needs (max_slot_wal_keep_size); or at risk of it
  publication_missing,       // the publication does not exist and create_publication is off
  publication_tables,        // mapped tables the publication does not publish
  table_missing,             // a mapped table does not exist
  no_primary_key,            // a mapped table has no primary key and REPLICA IDENTITY DEFAULT
  no_replica_identity_full,  // a mapped table without REPLICA IDENTITY FULL: changedKeys absent
  sink,                      // the sink cannot say what it holds (routed_sink::durable_anchor failed): retry
  server,                    // any other server error
};
std::string_view to_string(problem_kind kind) noexcept;

enum class problem_severity {
  warning,  // streaming works, with a documented loss (e.g. no changedKeys)
  error,    // streaming cannot start or cannot go on until fixed
};

struct problem {
  problem_kind kind = problem_kind::server;
  problem_severity severity = problem_severity::error;
  std::string message;  // what is wrong, naming the table/role/slot
  std::string fix;      // what to run or change; empty when there is nothing specific

  friend bool operator==(const problem&, const problem&) = default;
};

// A server error: SQLSTATE (5 characters, may be empty for client-side failures), the server's primary
// message, and what the source was doing ("connect", "START_REPLICATION", ...). Known SQLSTATEs:
//   55006 object_in_use (slot active elsewhere) -> slot_in_use; 42501 insufficient_privilege, 28000
//   invalid_authorization_specification -> missing_privilege; 55000 with "wal_level" in the message ->
//   wal_level; 55000 "cannot read from logical replication slot" (invalidated) -> slot_invalidated; 42704
//   undefined_object naming a slot/publication -> slot_missing / publication_missing; 08xxx and an empty SQLSTATE ->
//   connection; anything else -> server.
problem classify_server_error(std::string_view sqlstate, std::string_view server_message, std::string_view during,
                              std::string_view slot, std::string_view publication);

// Whether a problem of this kind clears by retrying as it is (connection trouble, a slot another process
// will release) rather than by an operator's change. Both are retried by run(); this only picks the tone.
bool is_transient(problem_kind kind) noexcept;

// One mapped table as the server describes it.
struct table_facts {
  std::string schema;
  std::string table;
  bool exists = false;
  bool has_primary_key = false;
  char replica_identity = 'd';  // pg_class.relreplident: d, n, f, i
  bool owned_by_role = false;   // the connecting role owns it (or is superuser): may add it to a publication
  bool in_publication = false;
};

// What the preflight queries found.
struct preflight_facts {
  std::string wal_level;  // SHOW wal_level
  std::string role;
  bool superuser = false;
  bool replication_role = false;        // rolreplication
  bool can_create_in_database = false;  // has_database_privilege(current_database(), 'CREATE')
  bool publication_exists = false;
  bool publication_all_tables = false;  // FOR ALL TABLES
  bool slot_exists = false;
  std::string slot_plugin;                      // pgoutput expected
  std::string slot_type;                        // logical expected
  std::optional<std::int64_t> slot_active_pid;  // set when another backend streams from it
  std::string slot_wal_status;                  // pg_replication_slots.wal_status: reserved, extended, unreserved, lost
  std::string slot_invalidation_reason;         // PostgreSQL 17+: why it was invalidated; empty otherwise
  std::vector<table_facts> tables;              // one per table the mapping names
};

struct preflight_options {
  std::string slot;
  std::string publication;
  bool create_slot = true;
  bool create_publication = true;
};

// Every problem the facts show, errors first in a fixed order (wal_level, privileges, slot, publication,
// tables), then warnings per table in the mapping's order. Empty: ready to stream. A slot in use is a problem
// for check() (it says who holds it); the source itself stands by. An invalidated slot is an error without
// create_slot, a warning with it (the source drops and re-creates it, which is a gap); a slot whose WAL is
// 'unreserved' (about to be removed) is a warning.
std::vector<problem> evaluate_preflight(const preflight_facts& facts, const preflight_options& options);

// The SQL that fixes a table's missing replica identity: ALTER TABLE "schema"."table" REPLICA IDENTITY FULL;
std::string replica_identity_fix(std::string_view schema, std::string_view table);

// "schema"."table" with embedded double quotes doubled.
std::string quote_qualified(std::string_view schema, std::string_view table);
std::string quote_identifier(std::string_view name);

}  // namespace rtcache::pg
