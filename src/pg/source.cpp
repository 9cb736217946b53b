// The libpq logical-replication client (see source.hpp). All I/O of the pg layer is here; what it means is
// decided by replication_session, confirm_tracker, durable_confirm, continuity, backoff and source_problem.
#include "rtcache/pg/source.hpp"

#include "rtcache/pg/continuity.hpp"
#include "rtcache/pg/replication_session.hpp"
#include "rtcache/sync/annotated_mutex.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <poll.h>
#include <random>
#include <string>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <variant>

namespace rtcache::pg {

std::string_view to_string(source_role role) noexcept {
  switch (role) {
    case source_role::none: return "none";
    case source_role::reader: return "reader";
    case source_role::standby: return "standby";
  }
  return "none";
}

namespace {

using steady = std::chrono::steady_clock;

struct conn_deleter {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;

struct result_deleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

// Microseconds since 2000-01-01T00:00:00Z, the unit of the protocol's timestamps.
std::int64_t pg_now_micros() {
  const auto unix_micros =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch());
  return unix_micros.count() - 946'684'800'000'000LL;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A string literal for the simple query protocol (replication connections have no parameters).
std::string literal(std::string_view s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xFFU);
}

// Errors of this file's kind "problem" instead of core::error: they carry the operator's fix.
using maybe_problem = std::optional<problem>;

bool blocks_streaming(const problem& p) {
  // A slot in use makes a standby, an invalidated one is dropped and re-created (or refused) when the source
  // takes the slot: neither is decided by the preflight.
  return p.severity == problem_severity::error && p.kind != problem_kind::publication_tables &&
         p.kind != problem_kind::table_missing && p.kind != problem_kind::slot_in_use &&
         p.kind != problem_kind::slot_invalidated;
}

// The connection's `options` with `-c wal_sender_timeout=<ms>ms` appended to whatever the conninfo sets.
std::string options_with_timeout(const std::string& conninfo, std::chrono::milliseconds timeout) {
  std::string options;
  char* error = nullptr;
  if (PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &error)) {
    for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
      if (std::string_view(o->keyword) == "options" && o->val != nullptr) options = o->val;
    }
    PQconninfoFree(parsed);
  }
  if (error != nullptr) PQfreemem(error);  // the connection attempt reports a malformed conninfo
  if (timeout.count() > 0) {
    if (!options.empty()) options += ' ';
    options += "-c wal_sender_timeout=" + std::to_string(timeout.count()) + "ms";
  }
  return options;
}

// The slot as pg_replication_slots shows it.
struct slot_row {
  bool exists = false;
  std::optional<std::int64_t> active_pid;
  std::optional<lsn> confirmed;
  std::string wal_status;
  std::string invalidation_reason;
};

// What taking the slot came to.
struct standing_by {
  std::int64_t holder_pid = 0;  // 0: unknown (lost a race for a free slot)
};
struct streaming {};
using take_result = std::variant<problem, standing_by, streaming>;

// How a stream ended.
enum class stream_end { stopped, sink_stalled, failed };

// The eventfd a sink's `wake` writes to. The sink may keep (and call) the wake function it was handed until its
// next start_stream() or its own destruction (routing/routed_sink.hpp), which can be after this source is gone (a
// cluster writer's acknowledgements, its ingest pump's thread): every wake function holds the descriptor, so it is
// closed only once the last one is dropped, never while a sink may still write to it (or to a number reused since).
struct wake_descriptor {
  int fd = -1;
  wake_descriptor() : fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "rtcache pg source: eventfd");
  }
  ~wake_descriptor() { ::close(fd); }
  wake_descriptor(const wake_descriptor&) = delete;
  wake_descriptor& operator=(const wake_descriptor&) = delete;
};

}  // namespace

struct source::impl {
  impl(source_config c, const routing::mapping_config& m, routing::routed_sink& s, log_fn l)
      : config(std::move(c)),
        mapping(&m),
        sink(&s),
        log_(std::move(l)),
        wakes(std::make_shared<wake_descriptor>()),
        wake_fd(wakes->fd) {
    if (!config.random) {
      config.random = [rng = std::mt19937_64(std::random_device{}())]() mutable {
        return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      };
    }
    // Answer often enough that a live reader is never taken for a hung one.
    status_interval = config.status_interval;
    if (config.wal_sender_timeout.count() > 0) {
      status_interval =
          std::min(status_interval, std::max(config.wal_sender_timeout / 3, std::chrono::milliseconds(1)));
    }
    session = std::make_unique<replication_session>(*mapping, *sink, log_, lsn{}, config.durability);
  }
  // Constant after construction.
  source_config config;
  const routing::mapping_config* mapping;
  routing::routed_sink* sink;
  log_fn log_;
  std::shared_ptr<wake_descriptor> wakes;
  int wake_fd = -1;  // wakes->fd
  std::chrono::milliseconds status_interval{1000};

  std::atomic<bool> stopping{false};

  // What status() reports: written by run()'s thread, read by any.
  mutable sync::annotated_mutex status_mutex;
  source_status status_ RTCACHE_GUARDED_BY(status_mutex);

  // Owned by run()'s thread.
  std::unique_ptr<replication_session> session;
  // The newest (system identifier, timeline, position) the sink made durable, across reconnects: what a new
  // stream must continue (continuity.hpp). Unset until the first stream.
  std::optional<routing::wal_anchor> remembered;
  source_role role = source_role::none;
  std::int64_t last_holder_pid = 0;  // the holder a standby last waited for (0: none known)
  bool first_attempt = true;
  bool warned = false;

  void log(log_level level, std::string_view event, std::initializer_list<log_field> fields) const {
    if (log_) log_(level, event, std::span<const log_field>(fields.begin(), fields.size()));
  }

  // Logs a change of role once (info), and publishes it.
  void become(source_role next, std::int64_t holder_pid, std::string_view why) {
    {
      sync::mutex_lock lock(status_mutex);
      status_.role = next;
      status_.slot_holder_pid = next == source_role::standby ? holder_pid : 0;
      if (next == source_role::reader) ++status_.reader_starts;
      if (next == source_role::standby && holder_pid != 0) ++status_.standby_checks;
    }
    if (next == source_role::standby && (holder_pid != 0 || role != next)) last_holder_pid = holder_pid;
    if (next == role) return;
    const source_role was = role;
    role = next;
    if (next == source_role::reader && was == source_role::standby) {
      // A standby takes over: the holder it waited for is gone (or gave the slot up).
      log(log_level::info, "source_role",
          {{"role", "reader"},
           {"slot", config.slot},
           {"took_over_from_pid", std::to_string(last_holder_pid)},
           {"reason", "took over: the slot was freed"}});
      return;
    }
    if (next == source_role::standby) {
      log(log_level::info, "source_role",
          {{"role", "standby"},
           {"slot", config.slot},
           {"holder_pid", std::to_string(holder_pid)},
           {"reason", std::string(why)}});
    } else {
      log(log_level::info, "source_role",
          {{"role", std::string(to_string(next))}, {"slot", config.slot}, {"reason", std::string(why)}});
    }
  }

  problem classify(PGconn* conn, const PGresult* res, std::string_view during) const {
    const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    std::string text;
    if (res != nullptr && PQresultErrorMessage(res)[0] != '\0') {
      text = trim(PQresultErrorMessage(res));
    } else if (conn != nullptr) {
      text = trim(PQerrorMessage(conn));
    }
    std::string sqlstate = state != nullptr ? state : "";
    // libpq reports connection-time refusals without a SQLSTATE; the walsender's privilege refusal is one.
    if (sqlstate.empty() &&
        (text.find("replication role") != std::string::npos || text.find("permission denied") != std::string::npos)) {
      sqlstate = "42501";
    }
    return classify_server_error(sqlstate, text, during, config.slot, config.publication);
  }

  static std::string sqlstate_of(const PGresult* res) {
    const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    return state != nullptr ? state : "";
  }

  void record_problem(const problem& p) {
    const bool warn = p.severity == problem_severity::warning;
    log(warn ? log_level::warn : log_level::error, "pg_problem",
        {{"kind", std::string(to_string(p.kind))}, {"message", p.message}, {"fix", p.fix}});
    if (!warn) {
      sync::mutex_lock lock(status_mutex);
      status_.last_error = std::string(to_string(p.kind)) + ": " + p.message;
    }
  }

  maybe_problem connect(conn_ptr& conn) const {
    const std::string timeout = std::to_string(config.connect_timeout.count());
    const std::string options = options_with_timeout(config.conninfo, config.wal_sender_timeout);
    const char* keys[] = {"dbname", "replication", "connect_timeout", "fallback_application_name", "options", nullptr};
    const char* values[] = {config.conninfo.c_str(), "database", timeout.c_str(), "rtcache", options.c_str(), nullptr};
    conn.reset(PQconnectdbParams(keys, values, 1));
    if (!conn) return problem{problem_kind::connection, problem_severity::error, "out of memory", ""};
    if (PQstatus(conn.get()) != CONNECTION_OK) return classify(conn.get(), nullptr, "connect");
    return std::nullopt;
  }

  // Runs `sql`; a result with `expected` status is handed back in `out`.
  maybe_problem exec(PGconn* conn, const std::string& sql, ExecStatusType expected, result_ptr& out,
                     std::string_view during) const {
    out.reset(PQexec(conn, sql.c_str()));
    if (!out || PQresultStatus(out.get()) != expected) return classify(conn, out.get(), during);
    return std::nullopt;
  }

  // The slot's row (absent: exists = false). invalidation_reason is read through row_to_json, so the query
  // works on servers before 17, which lack the column.
  maybe_problem read_slot(PGconn* conn, slot_row& row) const {
    result_ptr r;
    if (auto p = exec(conn,
                      "SELECT active_pid, confirmed_flush_lsn, coalesce(wal_status, ''), "
                      "coalesce(row_to_json(s)->>'invalidation_reason', '') FROM pg_replication_slots s "
                      "WHERE slot_name = " +
                          literal(config.slot),
                      PGRES_TUPLES_OK, r, "slot check")) {
      return p;
    }
    row = slot_row{};
    row.exists = PQntuples(r.get()) == 1;
    if (!row.exists) return std::nullopt;
    if (!PQgetisnull(r.get(), 0, 0)) row.active_pid = std::stoll(PQgetvalue(r.get(), 0, 0));
    if (!PQgetisnull(r.get(), 0, 1)) {
      if (auto parsed = parse_lsn(PQgetvalue(r.get(), 0, 1))) row.confirmed = *parsed;
    }
    row.wal_status = PQgetvalue(r.get(), 0, 2);
    row.invalidation_reason = PQgetvalue(r.get(), 0, 3);
    return std::nullopt;
  }

  maybe_problem gather(PGconn* conn, preflight_facts& facts) const {
    result_ptr r;
    if (auto p = exec(conn, "SHOW wal_level", PGRES_TUPLES_OK, r, "SHOW wal_level")) return p;
    facts.wal_level = PQgetvalue(r.get(), 0, 0);
    if (auto p = exec(conn,
                      "SELECT current_user, rolsuper, rolreplication, "
                      "has_database_privilege(current_database(), 'CREATE') FROM pg_roles WHERE rolname = current_user",
                      PGRES_TUPLES_OK, r, "role check")) {
      return p;
    }
    if (PQntuples(r.get()) == 1) {
      facts.role = PQgetvalue(r.get(), 0, 0);
      facts.superuser = PQgetvalue(r.get(), 0, 1)[0] == 't';
      facts.replication_role = PQgetvalue(r.get(), 0, 2)[0] == 't';
      facts.can_create_in_database = PQgetvalue(r.get(), 0, 3)[0] == 't';
    }
    if (auto p = exec(conn, "SELECT puballtables FROM pg_publication WHERE pubname = " + literal(config.publication),
                      PGRES_TUPLES_OK, r, "publication check")) {
      return p;
    }
    facts.publication_exists = PQntuples(r.get()) == 1;
    facts.publication_all_tables = facts.publication_exists && PQgetvalue(r.get(), 0, 0)[0] == 't';
    if (auto p = exec(conn,
                      "SELECT coalesce(plugin, ''), slot_type FROM pg_replication_slots WHERE slot_name = " +
                          literal(config.slot),
                      PGRES_TUPLES_OK, r, "slot check")) {
      return p;
    }
    facts.slot_exists = PQntuples(r.get()) == 1;
    if (facts.slot_exists) {
      facts.slot_plugin = PQgetvalue(r.get(), 0, 0);
      facts.slot_type = PQgetvalue(r.get(), 0, 1);
      slot_row row;
      if (auto p = read_slot(conn, row)) return p;
      facts.slot_active_pid = row.active_pid;
      facts.slot_wal_status = row.wal_status;
      facts.slot_invalidation_reason = row.invalidation_reason;
    }
    for (const routing::table_mapping& t : mapping->tables) {
      table_facts tf;
      tf.schema = t.schema;
      tf.table = t.table;
      const std::string sql =
          "SELECT c.relreplident, pg_has_role(c.relowner, 'USAGE'), "
          "EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary), "
          "EXISTS (SELECT 1 FROM pg_publication_tables p WHERE p.pubname = " +
          literal(config.publication) +
          " AND p.schemaname = n.nspname AND p.tablename = c.relname) "
          "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = " +
          literal(t.schema) + " AND c.relname = " + literal(t.table) + " AND c.relkind IN ('r', 'p')";
      if (auto p = exec(conn, sql, PGRES_TUPLES_OK, r, "table check")) return p;
      tf.exists = PQntuples(r.get()) == 1;
      if (tf.exists) {
        tf.replica_identity = PQgetvalue(r.get(), 0, 0)[0];
        tf.owned_by_role = PQgetvalue(r.get(), 0, 1)[0] == 't';
        tf.has_primary_key = PQgetvalue(r.get(), 0, 2)[0] == 't';
        tf.in_publication = PQgetvalue(r.get(), 0, 3)[0] == 't';
      }
      facts.tables.push_back(std::move(tf));
    }
    return std::nullopt;
  }

  preflight_options options() const {
    return {config.slot, config.publication, config.create_slot, config.create_publication};
  }

  // IDENTIFY_SYSTEM: the server's system identifier, timeline and current WAL end (`out`: the result, if wanted).
  maybe_problem identify(PGconn* conn, server_identity& server, result_ptr* out = nullptr) const {
    result_ptr r;
    if (auto p = exec(conn, "IDENTIFY_SYSTEM", PGRES_TUPLES_OK, r, "IDENTIFY_SYSTEM")) return p;
    server.system_identifier = std::strtoull(PQgetvalue(r.get(), 0, 0), nullptr, 10);
    server.timeline = static_cast<std::uint32_t>(std::strtoul(PQgetvalue(r.get(), 0, 1), nullptr, 10));
    if (auto at = parse_lsn(PQgetvalue(r.get(), 0, 2))) server.wal_end = *at;
    if (out != nullptr) *out = std::move(r);
    return std::nullopt;
  }

  // Connect, identify the server, check, create the publication when missing. The slot is left to take_slot().
  maybe_problem prepare(conn_ptr& conn, server_identity& server) {
    if (auto p = connect(conn)) return p;
    result_ptr r;
    if (auto p = identify(conn.get(), server, &r)) return p;
    log(log_level::info, "pg_connected",
        {{"systemid", PQgetvalue(r.get(), 0, 0)},
         {"timeline", PQgetvalue(r.get(), 0, 1)},
         {"xlogpos", PQgetvalue(r.get(), 0, 2)},
         {"dbname", PQgetisnull(r.get(), 0, 3) ? "" : PQgetvalue(r.get(), 0, 3)}});

    preflight_facts facts;
    if (auto p = gather(conn.get(), facts)) return p;
    std::optional<problem> blocking;
    for (const problem& p : evaluate_preflight(facts, options())) {
      if (blocks_streaming(p) && !blocking) {
        blocking = p;
      } else if (!blocks_streaming(p) && p.kind != problem_kind::slot_in_use &&
                 p.kind != problem_kind::slot_invalidated && !warned) {
        // (take_slot decides about those two, each time it looks at the slot)
        record_problem(p);
      }
    }
    if (blocking) return blocking;
    warned = true;  // warnings once per process, not once per reconnect

    if (!facts.publication_exists) {
      std::string tables;
      for (const table_facts& t : facts.tables) {
        if (t.exists) tables += (tables.empty() ? "" : ", ") + quote_qualified(t.schema, t.table);
      }
      if (tables.empty()) {
        return problem{problem_kind::table_missing, problem_severity::error,
                       "none of the mapped tables exists: nothing to publish", "create the tables first"};
      }
      const std::string sql = "CREATE PUBLICATION " + quote_identifier(config.publication) + " FOR TABLE " + tables;
      if (auto p = exec(conn.get(), sql, PGRES_COMMAND_OK, r, "CREATE PUBLICATION")) {
        // Another process (a cluster's nodes start together, sharing the config) created it since we looked:
        // 23505 on the name's unique index while its transaction was open, 42710 once committed. Use it.
        const std::string state = sqlstate_of(r.get());
        if (state != "23505" && state != "42710") return p;
        log(log_level::info, "publication_exists",
            {{"publication", config.publication}, {"reason", "created by another process meanwhile"}});
        return std::nullopt;
      }
      log(log_level::info, "publication_created", {{"publication", config.publication}, {"tables", tables}});
    }
    return std::nullopt;
  }

  // Takes the slot when it is free: drops it if invalidated and creates it if missing, checks continuity,
  // START_REPLICATION, and reports a gap if there is one. On success `conn` is in COPY BOTH mode.
  take_result take_slot(PGconn* conn, server_identity& server) {
    slot_row row;
    if (auto p = read_slot(conn, row)) return *p;
    if (row.active_pid) return standing_by{*row.active_pid};
    // The slot is free. A standby identified the server when it connected, maybe long ago: the WAL has moved on
    // since, and continuity is judged against the server as it is now (else what the old reader confirmed after
    // that looks like WAL the server lost: a false wal_rewound gap at every take-over).
    if (auto p = identify(conn, server)) return *p;
    slot_facts facts;
    result_ptr r;
    if (row.exists && slot_is_invalidated(row.wal_status, row.invalidation_reason)) {
      if (!config.create_slot) {
        return classify_server_error("55000", "cannot read from logical replication slot: wal_status " + row.wal_status,
                                     "slot check", config.slot, config.publication);
      }
      // Useless as it is: only a new slot can stream again, from the current position. A gap.
      if (exec(conn, "DROP_REPLICATION_SLOT " + quote_identifier(config.slot), PGRES_COMMAND_OK, r,
               "DROP_REPLICATION_SLOT")) {
        if (sqlstate_of(r.get()) == "55006" || sqlstate_of(r.get()) == "42704") return standing_by{};  // raced
        return classify(conn, r.get(), "DROP_REPLICATION_SLOT");
      }
      log(log_level::warn, "slot_dropped",
          {{"slot", config.slot},
           {"reason", row.invalidation_reason.empty() ? "wal_status " + row.wal_status : row.invalidation_reason}});
      facts.invalidated = true;
      row.exists = false;
    }
    if (!row.exists) {
      if (!config.create_slot) {
        return problem{
            problem_kind::slot_missing, problem_severity::error,
            "replication slot \"" + config.slot + "\" does not exist and create_slot is off",
            "set create_slot = true, or SELECT pg_create_logical_replication_slot('" + config.slot + "', 'pgoutput');"};
      }
      const std::string sql =
          "CREATE_REPLICATION_SLOT " + quote_identifier(config.slot) + " LOGICAL pgoutput NOEXPORT_SNAPSHOT";
      if (exec(conn, sql, PGRES_TUPLES_OK, r, "CREATE_REPLICATION_SLOT")) {
        if (sqlstate_of(r.get()) == "42710") return standing_by{};  // another node created it first
        return classify(conn, r.get(), "CREATE_REPLICATION_SLOT");
      }
      auto point = parse_lsn(PQgetvalue(r.get(), 0, 1));
      if (point) facts.confirmed = *point;
      facts.created = true;
      log(log_level::info, "slot_created", {{"slot", config.slot}, {"consistent_point", PQgetvalue(r.get(), 0, 1)}});
    } else {
      facts.confirmed = row.confirmed.value_or(lsn{});
    }

    // What must be continued: the sink's memory (it outlives processes and readers) or, without it, ours.
    auto anchor = sink->durable_anchor();
    if (!anchor) {
      return problem{problem_kind::sink, problem_severity::error,
                     "the sink cannot say what it holds: " + anchor.error().message,
                     "rtcache retries; check what the sink publishes to (in a cluster: NATS)"};
    }
    const std::optional<routing::wal_anchor> expected = anchor->has_value() ? *anchor : remembered;
    const continuity_verdict verdict = check_continuity(expected, server, facts);

    // Where to resume: the slot's position, or, continuing this process's stream, what the sink already made
    // durable (the server's on-disk position may lag what it was told; resending that would repeat it).
    lsn from = facts.confirmed;
    const stream_identity identity{server.system_identifier, server.timeline};
    if (!verdict.gap && session->identity().system_identifier == identity.system_identifier &&
        session->identity().timeline == identity.timeline && session->confirmed() > from) {
      from = session->confirmed();
    }
    const std::string sql = "START_REPLICATION SLOT " + quote_identifier(config.slot) + " LOGICAL " + format_lsn(from) +
                            " (proto_version '1', publication_names " + literal(quote_identifier(config.publication)) +
                            ")";
    if (exec(conn, sql, PGRES_COPY_BOTH, r, "START_REPLICATION")) {
      if (sqlstate_of(r.get()) == "55006") return standing_by{};  // taken between the check and now
      return classify(conn, r.get(), "START_REPLICATION");
    }
    session->start_stream(identity, from, [w = wakes] {
      const std::uint64_t one = 1;
      [[maybe_unused]] const auto written = ::write(w->fd, &one, sizeof one);
    });
    if (verdict.gap) session->report_gap(*verdict.gap, verdict.detail, from);
    // From here on, this stream is what the next one must continue.
    if (verdict.gap || !remembered || remembered->system_identifier != identity.system_identifier ||
        remembered->timeline != identity.timeline || remembered->confirm_lsn < from.value) {
      remembered = routing::wal_anchor{identity.system_identifier, identity.timeline, from.value};
    }
    log(log_level::info, "replication_started",
        {{"slot", config.slot}, {"publication", config.publication}, {"from", format_lsn(from)}});
    return streaming{};
  }

  bool send_status(PGconn* conn, bool reply_requested) {
    const lsn confirmed = session->confirm_position(steady::now());
    std::string msg = "r";
    put_be(msg, confirmed.value, 8);
    put_be(msg, confirmed.value, 8);
    put_be(msg, confirmed.value, 8);
    put_be(msg, static_cast<std::uint64_t>(pg_now_micros()), 8);
    msg += static_cast<char>(reply_requested ? 1 : 0);
    if (PQputCopyData(conn, msg.data(), static_cast<int>(msg.size())) != 1 || PQflush(conn) == -1) return false;
    if (remembered && confirmed.value > remembered->confirm_lsn) remembered->confirm_lsn = confirmed.value;
    log(log_level::debug, "standby_status", {{"flush_lsn", format_lsn(confirmed)}});
    return true;
  }

  void publish_status(bool connected) {
    sync::mutex_lock lock(status_mutex);
    status_.connected = connected;
    const session_counters& c = session->counters();
    status_.received = session->received();
    status_.handled = session->handled();
    status_.confirmed = session->confirmed();
    status_.server_wal_end = std::max(c.server_wal_end, status_.confirmed);
    status_.lag_bytes = lag_bytes(status_.server_wal_end, status_.confirmed);
    status_.lag_seconds = 0;
    if (status_.lag_bytes > 0 && c.last_commit_time) {
      const std::int64_t behind = pg_now_micros() - c.last_commit_time->micros;
      status_.lag_seconds = behind > 0 ? static_cast<double>(behind) / 1e6 : 0.0;
    }
    status_.unconfirmed_messages = session->unconfirmed_messages();
    status_.transactions = c.transactions;
    status_.rows = c.rows;
    status_.rows_mapped = c.rows_mapped;
    status_.rows_failed = c.rows_failed;
    status_.truncates = c.truncates;
    status_.gaps = c.gaps;
  }

  // Waits until `fd` is readable, stop() is called, the sink wakes us or `timeout` passes. Returns false on stop.
  bool wait(int fd, std::chrono::milliseconds timeout) const {
    pollfd fds[2] = {{wake_fd, POLLIN, 0}, {fd, POLLIN, 0}};
    const int count = fd >= 0 ? 2 : 1;
    const int ms = static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 0, 60'000));
    ::poll(fds, static_cast<nfds_t>(count), ms);
    if ((fds[0].revents & POLLIN) != 0) {
      std::uint64_t drained = 0;  // a sink's wake-up, or stop(): the flag below tells them apart
      [[maybe_unused]] const auto n = ::read(wake_fd, &drained, sizeof drained);
    }
    return !stopping.load();
  }

  // A standby's wait before it looks at the slot again: standby_retry x [0.5, 1.5).
  std::chrono::milliseconds standby_delay() const {
    const double u = std::clamp(config.random(), 0.0, 1.0);
    return std::chrono::milliseconds(
        static_cast<std::int64_t>(static_cast<double>(config.standby_retry.count()) * (0.5 + u)));
  }

  // Ends streaming from our side: a last status update with what is durable, then CopyDone.
  void end_copy(PGconn* conn) {
    send_status(conn, false);
    PQputCopyEnd(conn, nullptr);
    PQflush(conn);
  }

  // Streams until stop(), an error (in `failed`) or a stalled sink.
  stream_end stream(PGconn* conn, maybe_problem& failed) {
    // The clock, the stop flag, the sink and the status gauges are looked at once per k_batch messages and
    // whenever libpq's buffer runs dry (every few dozen messages at most), not per message: under load they cost
    // as much as decoding a small row.
    constexpr int k_batch = 64;
    auto next_status = steady::now();
    int batch = 0;
    for (;;) {
      if (batch == 0) {
        if (stopping.load()) {
          end_copy(conn);
          log(log_level::info, "replication_stopped", {{"confirmed", format_lsn(session->confirmed())}});
          return stream_end::stopped;
        }
        const auto now = steady::now();
        session->poll_sink(now);
        sink->poll();  // input of the sink's own (a cluster writer's relay ingest), between calls
        const bool refused = !sink->can_publish();
        if (refused || session->stalled(now)) {
          end_copy(conn);
          log(log_level::error, "sink_stalled",
              {{"unconfirmed_messages", std::to_string(session->unconfirmed_messages())},
               {"stall_ms", std::to_string(config.durability.stall_timeout.count())},
               {"confirmed", format_lsn(session->confirmed())},
               {"reason", refused ? "the sink publishes nothing more (in a cluster: another writer appended)"
                                  : "nothing made durable within stall_ms"},
               {"action", "giving up the slot; resending from the confirmed position later"}});
          return stream_end::sink_stalled;
        }
        if (now >= next_status) {
          if (!send_status(conn, false)) {
            failed = classify(conn, nullptr, "standby status update");
            return stream_end::failed;
          }
          next_status = now + status_interval;
        }
        if (session->backlog_full()) {
          // Read nothing until the sink catches up (it wakes us); status updates keep the slot ours.
          publish_status(true);
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_status - steady::now());
          wait(-1, std::min(config.poll_timeout, std::max(left, std::chrono::milliseconds(0))));
          continue;
        }
      }
      char* buffer = nullptr;
      const int n = PQgetCopyData(conn, &buffer, 1);
      if (n > 0) {
        auto outcome = session->consume(std::string_view(buffer, static_cast<std::size_t>(n)));
        PQfreemem(buffer);
        if (!outcome) {
          failed = problem{problem_kind::server, problem_severity::error,
                           "replication stream refused: " + outcome.error().message,
                           "reconnecting resumes from the confirmed position; report the stream if it recurs"};
          return stream_end::failed;
        }
        if (outcome->reply_requested) {
          if (!send_status(conn, false)) {
            failed = classify(conn, nullptr, "standby status update");
            return stream_end::failed;
          }
          next_status = steady::now() + status_interval;
        }
        if (++batch == k_batch || session->backlog_full()) {
          batch = 0;
          publish_status(true);
        }
        continue;
      }
      batch = 0;
      if (n == 0) {
        publish_status(true);  // drained: the gauges catch up before the wait
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_status - steady::now());
        wait(PQsocket(conn), std::min(config.poll_timeout, std::max(left, std::chrono::milliseconds(0))));
        if (PQconsumeInput(conn) == 0) {
          failed = classify(conn, nullptr, "reading the replication stream");
          return stream_end::failed;
        }
        continue;
      }
      if (n == -1) {
        result_ptr r(PQgetResult(conn));
        if (r && PQresultStatus(r.get()) == PGRES_FATAL_ERROR) {
          failed = classify(conn, r.get(), "replication stream");
        } else {
          failed = problem{problem_kind::connection, problem_severity::error, "the server ended the replication stream",
                           "rtcache reconnects with back-off"};
        }
        return stream_end::failed;
      }
      failed = classify(conn, nullptr, "reading the replication stream");
      return stream_end::failed;
    }
  }

  void run() {
    core::backoff delays(config.backoff);
    while (!stopping.load()) {
      if (!first_attempt) {
        sync::mutex_lock lock(status_mutex);
        ++status_.reconnects;
      }
      first_attempt = false;
      conn_ptr conn;
      server_identity server;
      maybe_problem failed = prepare(conn, server);
      bool stalled = false;
      while (!failed && !stalled && !stopping.load()) {
        take_result taken = take_slot(conn.get(), server);
        if (auto* p = std::get_if<problem>(&taken)) {
          failed = *p;
          break;
        }
        if (auto* s = std::get_if<standing_by>(&taken)) {
          // Not an error: the reader is alive. Look again soon; the connection stays open.
          become(source_role::standby, s->holder_pid, "slot held by another process");
          publish_status(false);
          if (!wait(-1, standby_delay())) break;
          continue;
        }
        delays.reset();
        become(source_role::reader, 0, "streaming");
        publish_status(true);
        const stream_end end = stream(conn.get(), failed);
        if (end == stream_end::stopped) break;
        if (end == stream_end::sink_stalled) {
          stalled = true;
          sync::mutex_lock lock(status_mutex);
          ++status_.sink_stalls;
        }
      }
      conn.reset();  // frees the slot (and the walsender) at once
      session->reset_connection();
      publish_status(false);
      if (stopping.load()) break;
      if (stalled) {
        // Let a node that can publish take the slot; try again after the stall bound.
        become(source_role::standby, 0, "the sink acknowledged nothing: slot given up");
        wait(-1, config.durability.stall_timeout);
        continue;
      }
      if (!failed) continue;
      become(source_role::none, 0, "error");
      record_problem(*failed);
      const auto delay = delays.next(config.random());
      log(log_level::info, "reconnect_backoff",
          {{"delay_ms", std::to_string(delay.count())}, {"attempt", std::to_string(delays.failures())}});
      wait(-1, delay);
    }
    become(source_role::none, 0, "stopped");
  }

  std::vector<problem> check() {
    conn_ptr conn;
    if (auto p = connect(conn)) return {*p};
    preflight_facts facts;
    if (auto p = gather(conn.get(), facts)) return {*p};
    return evaluate_preflight(facts, options());
  }
};

source::source(source_config config, const routing::mapping_config& mapping, routing::routed_sink& sink, log_fn log)
    : impl_(std::make_unique<impl>(std::move(config), mapping, sink, std::move(log))) {}

source::~source() = default;

void source::run() {
  impl_->run();
}

void source::stop() noexcept {
  impl_->stopping.store(true);
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(impl_->wake_fd, &one, sizeof one);
}

source_status source::status() const {
  sync::mutex_lock lock(impl_->status_mutex);
  return impl_->status_;
}

std::vector<problem> source::check() {
  return impl_->check();
}

}  // namespace rtcache::pg
