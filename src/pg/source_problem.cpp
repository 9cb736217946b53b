// Actionable problems from server errors and preflight facts (see source_problem.hpp).
#include "rtcache/pg/source_problem.hpp"

#include <algorithm>
#include <string>

namespace rtcache::pg {

std::string_view to_string(problem_kind kind) noexcept {
  switch (kind) {
    case problem_kind::connection: return "connection";
    case problem_kind::wal_level: return "wal_level";
    case problem_kind::missing_privilege: return "missing_privilege";
    case problem_kind::slot_in_use: return "slot_in_use";
    case problem_kind::slot_missing: return "slot_missing";
    case problem_kind::slot_wrong_plugin: return "slot_wrong_plugin";
    case problem_kind::slot_invalidated: return "slot_invalidated";
    case problem_kind::publication_missing: return "publication_missing";
    case problem_kind::publication_tables: return "publication_tables";
    case problem_kind::table_missing: return "table_missing";
    case problem_kind::no_primary_key: return "no_primary_key";
    case problem_kind::no_replica_identity_full: return "no_replica_identity_full";
    case problem_kind::sink: return "sink";
    case problem_kind::server: return "server";
  }
  return "server";
}

bool is_transient(problem_kind kind) noexcept {
  return kind == problem_kind::connection || kind == problem_kind::slot_in_use || kind == problem_kind::sink;
}

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (const char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string quote_qualified(std::string_view schema, std::string_view table) {
  return quote_identifier(schema) + "." + quote_identifier(table);
}

std::string replica_identity_fix(std::string_view schema, std::string_view table) {
  return "ALTER TABLE " + quote_qualified(schema, table) + " REPLICA IDENTITY FULL;";
}

namespace {

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

problem wal_level_problem(std::string_view found) {
  return {problem_kind::wal_level, problem_severity::error,
          "wal_level is " + std::string(found.empty() ? "not logical" : found) +
              "; logical replication needs wal_level = logical",
          "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL (managed services: enable logical "
          "replication in the instance settings)"};
}

problem slot_invalidated_problem(std::string_view slot, std::string_view what, bool recreated) {
  if (recreated) {
    return {problem_kind::slot_invalidated, problem_severity::warning,
            "replication slot \"" + std::string(slot) + "\" was invalidated (" + std::string(what) +
                "); rtcache drops and re-creates it, and clients refetch (a gap)",
            "raise max_slot_wal_keep_size, or keep rtcache from falling that far behind"};
  }
  return {problem_kind::slot_invalidated, problem_severity::error,
          "replication slot \"" + std::string(slot) + "\" was invalidated (" + std::string(what) + ")",
          "SELECT pg_drop_replication_slot('" + std::string(slot) +
              "'); then let rtcache create it (create_slot = true); raise max_slot_wal_keep_size"};
}

}  // namespace

problem classify_server_error(std::string_view sqlstate, std::string_view server_message, std::string_view during,
                              std::string_view slot, std::string_view publication) {
  const std::string where = std::string(during) + ": " + std::string(server_message);
  if (sqlstate == "55006") {
    return {problem_kind::slot_in_use, problem_severity::error,
            "replication slot \"" + std::string(slot) + "\" is in use by another process (" + where + ")",
            "in a cluster another node is the reader and this one stands by (expected); otherwise stop the other "
            "consumer (SELECT active_pid FROM pg_replication_slots WHERE slot_name = '" + std::string(slot) +
                "') or give this source its own slot; rtcache takes the slot over when it is free"};
  }
  if (sqlstate == "55000" && (contains(server_message, "cannot read from logical replication slot") ||
                              contains(server_message, "invalidated"))) {
    return slot_invalidated_problem(slot, where, false);
  }
  if (sqlstate == "42501" || sqlstate == "28000") {
    std::string fix = "grant the role what it lacks: ALTER ROLE <role> WITH LOGIN REPLICATION; ";
    if (contains(server_message, "publication") || contains(server_message, "owner")) {
      fix += "CREATE PUBLICATION needs CREATE on the database and ownership of every published table "
             "(or create the publication as the tables' owner and set create_publication = false)";
    } else {
      fix += "GRANT CREATE ON DATABASE <db> TO <role> if rtcache creates the publication";
    }
    return {problem_kind::missing_privilege, problem_severity::error, "missing privilege (" + where + ")", fix};
  }
  if (contains(server_message, "wal_level")) return wal_level_problem({});
  if (sqlstate == "42704") {
    if (contains(server_message, "publication")) {
      return {problem_kind::publication_missing, problem_severity::error, "publication missing (" + where + ")",
              "CREATE PUBLICATION " + quote_identifier(publication) + " FOR TABLE <mapped tables>; or set "
              "create_publication = true"};
    }
    if (contains(server_message, "slot")) {
      return {problem_kind::slot_missing, problem_severity::error, "replication slot missing (" + where + ")",
              "set create_slot = true, or SELECT pg_create_logical_replication_slot('" + std::string(slot) +
                  "', 'pgoutput');"};
    }
  }
  if (sqlstate.empty() || sqlstate.substr(0, 2) == "08" || sqlstate.substr(0, 2) == "57") {
    // 08: connection exception; 57: operator intervention (shutdown, pg_terminate_backend).
    return {problem_kind::connection, problem_severity::error, "connection lost or refused (" + where + ")",
            "check that PostgreSQL runs and the conninfo (host, port, user, password) is right; rtcache "
            "reconnects with back-off"};
  }
  return {problem_kind::server, problem_severity::error,
          "server error " + std::string(sqlstate) + " (" + where + ")", ""};
}

std::vector<problem> evaluate_preflight(const preflight_facts& facts, const preflight_options& options) {
  std::vector<problem> out;
  if (facts.wal_level != "logical") out.push_back(wal_level_problem(facts.wal_level));
  if (!facts.superuser && !facts.replication_role) {
    out.push_back({problem_kind::missing_privilege, problem_severity::error,
                   "role " + quote_identifier(facts.role) + " has neither REPLICATION nor SUPERUSER",
                   "ALTER ROLE " + quote_identifier(facts.role) + " WITH REPLICATION;"});
  }
  if (facts.slot_exists) {
    if (facts.slot_type != "logical" || facts.slot_plugin != "pgoutput") {
      out.push_back({problem_kind::slot_wrong_plugin, problem_severity::error,
                     "replication slot \"" + options.slot + "\" is a " + facts.slot_type + " slot with plugin '" +
                         facts.slot_plugin + "', not a logical pgoutput slot",
                     "use another slot name, or drop it: SELECT pg_drop_replication_slot('" + options.slot + "');"});
    }
    if (facts.slot_wal_status == "lost" || !facts.slot_invalidation_reason.empty()) {
      out.push_back(slot_invalidated_problem(
          options.slot,
          facts.slot_invalidation_reason.empty() ? "the server removed WAL it needed: wal_status lost"
                                                 : "invalidation_reason " + facts.slot_invalidation_reason,
          options.create_slot));
    } else if (facts.slot_wal_status == "unreserved") {
      out.push_back({problem_kind::slot_invalidated, problem_severity::warning,
                     "replication slot \"" + options.slot +
                         "\" needs WAL beyond max_slot_wal_keep_size (wal_status unreserved): the next checkpoint may "
                         "invalidate it, a gap every client refetches after",
                     "let rtcache catch up (is it running and connected?) or raise max_slot_wal_keep_size"});
    }
    if (facts.slot_active_pid) {
      out.push_back({problem_kind::slot_in_use, problem_severity::error,
                     "replication slot \"" + options.slot + "\" is in use by process " +
                         std::to_string(*facts.slot_active_pid),
                     "stop that consumer (SELECT pg_terminate_backend(" + std::to_string(*facts.slot_active_pid) +
                         ");) or give this source its own slot"});
    }
  } else if (!options.create_slot) {
    out.push_back({problem_kind::slot_missing, problem_severity::error,
                   "replication slot \"" + options.slot + "\" does not exist and create_slot is off",
                   "set create_slot = true, or SELECT pg_create_logical_replication_slot('" + options.slot +
                       "', 'pgoutput');"});
  }

  std::vector<const table_facts*> unpublished;
  std::vector<const table_facts*> not_owned;
  for (const table_facts& t : facts.tables) {
    if (!t.exists) continue;
    if (!facts.publication_all_tables && !t.in_publication) unpublished.push_back(&t);
    if (!facts.superuser && !t.owned_by_role) not_owned.push_back(&t);
  }
  auto list = [](const std::vector<const table_facts*>& tables) {
    std::string s;
    for (const table_facts* t : tables) s += (s.empty() ? "" : ", ") + quote_qualified(t->schema, t->table);
    return s;
  };
  const std::string pub = quote_identifier(options.publication);
  if (!facts.publication_exists) {
    if (!options.create_publication) {
      out.push_back({problem_kind::publication_missing, problem_severity::error,
                     "publication " + pub + " does not exist and create_publication is off",
                     "CREATE PUBLICATION " + pub + " FOR TABLE " + list(unpublished) + ";"});
    } else if (!facts.superuser && (!facts.can_create_in_database || !not_owned.empty())) {
      out.push_back({problem_kind::missing_privilege, problem_severity::error,
                     "role " + quote_identifier(facts.role) + " cannot create publication " + pub +
                         (facts.can_create_in_database ? "" : ": no CREATE privilege on the database") +
                         (not_owned.empty() ? "" : ": it does not own " + list(not_owned)),
                     "create it as the tables' owner: CREATE PUBLICATION " + pub + " FOR TABLE " + list(unpublished) +
                         "; or GRANT CREATE ON DATABASE <db> TO " + quote_identifier(facts.role) +
                         " and make it the tables' owner"});
    }
  } else if (!unpublished.empty()) {
    out.push_back({problem_kind::publication_tables, problem_severity::error,
                   "publication " + pub + " does not publish mapped tables " + list(unpublished) +
                       ": their changes would never arrive",
                   "ALTER PUBLICATION " + pub + " ADD TABLE " + list(unpublished) + ";"});
  }
  for (const table_facts& t : facts.tables) {
    if (t.exists) continue;
    out.push_back({problem_kind::table_missing, problem_severity::error,
                   "mapped table " + quote_qualified(t.schema, t.table) + " does not exist",
                   "create it, or remove it from the mapping"});
  }
  for (const table_facts& t : facts.tables) {
    if (!t.exists || t.replica_identity == 'f') continue;
    const std::string name = quote_qualified(t.schema, t.table);
    if ((t.replica_identity == 'd' && !t.has_primary_key) || t.replica_identity == 'n') {
      out.push_back({problem_kind::no_primary_key, problem_severity::warning,
                     "mapped table " + name + " has no primary key and no replica identity: PostgreSQL refuses "
                     "its UPDATEs and DELETEs while it is published, and no changedKeys can be computed",
                     replica_identity_fix(t.schema, t.table)});
      continue;
    }
    out.push_back({problem_kind::no_replica_identity_full, problem_severity::warning,
                   "mapped table " + name + " lacks REPLICA IDENTITY FULL: its update events carry no "
                   "changedKeys and no approve/reject (clients invalidate instead of patching), and its deletes are routed "
                   "only if the id and factory columns are part of the key",
                   replica_identity_fix(t.schema, t.table)});
  }
  // Errors first (a slot warning was added among them), each kind in the order above.
  std::stable_partition(out.begin(), out.end(),
                        [](const problem& p) { return p.severity == problem_severity::error; });
  return out;
}

}  // namespace rtcache::pg
