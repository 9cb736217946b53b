// The libpq logical-replication client (see source.hpp). All I/O of the pg layer is here; what it means is
// decided by replication_session, confirm_tracker, backoff and source_problem.
#include "rtcache/pg/source.hpp"

#include "rtcache/pg/replication_session.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <utility>

namespace rtcache::pg {

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
  return p.severity == problem_severity::error && p.kind != problem_kind::publication_tables &&
         p.kind != problem_kind::table_missing;
}

}  // namespace

struct source::impl {
  impl(source_config c, const net::mapping_config& m, net::routed_sink& s, log_fn l)
      : config(std::move(c)), mapping(&m), sink(&s), log_(std::move(l)) {
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0) throw std::system_error(errno, std::generic_category(), "rtcache pg source: eventfd");
    if (!config.random) {
      config.random = [rng = std::mt19937_64(std::random_device{}())]() mutable {
        return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      };
    }
  }
  ~impl() { ::close(wake_fd); }

  // Constant after construction.
  source_config config;
  const net::mapping_config* mapping;
  net::routed_sink* sink;
  log_fn log_;
  int wake_fd = -1;

  std::atomic<bool> stopping{false};

  mutable std::mutex status_mutex;
  source_status status_;  // guarded by status_mutex

  // Owned by run()'s thread.
  std::unique_ptr<replication_session> session;
  bool first_attempt = true;
  bool warned = false;

  void log(log_level level, std::string_view event, std::initializer_list<log_field> fields) const {
    if (log_) log_(level, event, std::span<const log_field>(fields.begin(), fields.size()));
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
    if (sqlstate.empty() && (text.find("replication role") != std::string::npos ||
                             text.find("permission denied") != std::string::npos)) {
      sqlstate = "42501";
    }
    return classify_server_error(sqlstate, text, during, config.slot, config.publication);
  }

  void record_problem(const problem& p) {
    const bool warn = p.severity == problem_severity::warning;
    log(warn ? log_level::warn : log_level::error, "pg_problem",
        {{"kind", std::string(to_string(p.kind))}, {"message", p.message}, {"fix", p.fix}});
    if (!warn) {
      std::lock_guard lock(status_mutex);
      status_.last_error = std::string(to_string(p.kind)) + ": " + p.message;
    }
  }

  maybe_problem connect(conn_ptr& conn) const {
    const std::string timeout = std::to_string(config.connect_timeout.count());
    const char* keys[] = {"dbname", "replication", "connect_timeout", "fallback_application_name", nullptr};
    const char* values[] = {config.conninfo.c_str(), "database", timeout.c_str(), "rtcache", nullptr};
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

  maybe_problem gather(PGconn* conn, preflight_facts& facts, std::optional<lsn>& slot_confirmed) const {
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
                      "SELECT coalesce(plugin, ''), slot_type, active_pid, confirmed_flush_lsn FROM pg_replication_slots "
                      "WHERE slot_name = " + literal(config.slot),
                      PGRES_TUPLES_OK, r, "slot check")) {
      return p;
    }
    facts.slot_exists = PQntuples(r.get()) == 1;
    if (facts.slot_exists) {
      facts.slot_plugin = PQgetvalue(r.get(), 0, 0);
      facts.slot_type = PQgetvalue(r.get(), 0, 1);
      if (!PQgetisnull(r.get(), 0, 2)) facts.slot_active_pid = std::stoll(PQgetvalue(r.get(), 0, 2));
      if (!PQgetisnull(r.get(), 0, 3)) {
        auto parsed = parse_lsn(PQgetvalue(r.get(), 0, 3));
        if (parsed) slot_confirmed = *parsed;
      }
    }
    for (const net::table_mapping& t : mapping->tables) {
      table_facts tf;
      tf.schema = t.schema;
      tf.table = t.table;
      const std::string sql =
          "SELECT c.relreplident, pg_has_role(c.relowner, 'USAGE'), "
          "EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary), "
          "EXISTS (SELECT 1 FROM pg_publication_tables p WHERE p.pubname = " + literal(config.publication) +
          " AND p.schemaname = n.nspname AND p.tablename = c.relname) "
          "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = " + literal(t.schema) +
          " AND c.relname = " + literal(t.table) + " AND c.relkind IN ('r', 'p')";
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

  // Connect, check, create what is missing, START_REPLICATION. On success `conn` is in COPY BOTH mode.
  maybe_problem start(conn_ptr& conn) {
    if (auto p = connect(conn)) return p;
    result_ptr r;
    if (auto p = exec(conn.get(), "IDENTIFY_SYSTEM", PGRES_TUPLES_OK, r, "IDENTIFY_SYSTEM")) return p;
    log(log_level::info, "pg_connected",
        {{"systemid", PQgetvalue(r.get(), 0, 0)}, {"timeline", PQgetvalue(r.get(), 0, 1)},
         {"xlogpos", PQgetvalue(r.get(), 0, 2)}, {"dbname", PQgetisnull(r.get(), 0, 3) ? "" : PQgetvalue(r.get(), 0, 3)}});

    preflight_facts facts;
    std::optional<lsn> slot_confirmed;
    if (auto p = gather(conn.get(), facts, slot_confirmed)) return p;
    std::optional<problem> blocking;
    for (const problem& p : evaluate_preflight(facts, options())) {
      if (blocks_streaming(p) && !blocking) {
        blocking = p;
      } else if (!blocks_streaming(p) && !warned) {
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
      if (auto p = exec(conn.get(), sql, PGRES_COMMAND_OK, r, "CREATE PUBLICATION")) return p;
      log(log_level::info, "publication_created", {{"publication", config.publication}, {"tables", tables}});
    }
    if (!facts.slot_exists) {
      const std::string sql =
          "CREATE_REPLICATION_SLOT " + quote_identifier(config.slot) + " LOGICAL pgoutput NOEXPORT_SNAPSHOT";
      if (auto p = exec(conn.get(), sql, PGRES_TUPLES_OK, r, "CREATE_REPLICATION_SLOT")) return p;
      auto point = parse_lsn(PQgetvalue(r.get(), 0, 1));
      if (point) slot_confirmed = *point;
      log(log_level::info, "slot_created", {{"slot", config.slot}, {"consistent_point", PQgetvalue(r.get(), 0, 1)}});
    }

    if (!session) {
      session = std::make_unique<replication_session>(*mapping, *sink, log_, slot_confirmed.value_or(lsn{}));
    } else {
      session->reset_connection();
    }
    const lsn from = session->confirmed();
    std::string names = quote_identifier(config.publication);
    const std::string sql = "START_REPLICATION SLOT " + quote_identifier(config.slot) + " LOGICAL " +
                            format_lsn(from) + " (proto_version '1', publication_names " + literal(names) + ")";
    if (auto p = exec(conn.get(), sql, PGRES_COPY_BOTH, r, "START_REPLICATION")) return p;
    log(log_level::info, "replication_started",
        {{"slot", config.slot}, {"publication", config.publication}, {"from", format_lsn(from)}});
    return std::nullopt;
  }

  bool send_status(PGconn* conn, bool reply_requested) {
    const lsn confirmed = session->confirmed();
    std::string msg = "r";
    put_be(msg, confirmed.value, 8);
    put_be(msg, confirmed.value, 8);
    put_be(msg, confirmed.value, 8);
    put_be(msg, static_cast<std::uint64_t>(pg_now_micros()), 8);
    msg += static_cast<char>(reply_requested ? 1 : 0);
    if (PQputCopyData(conn, msg.data(), static_cast<int>(msg.size())) != 1 || PQflush(conn) == -1) return false;
    log(log_level::debug, "standby_status", {{"flush_lsn", format_lsn(confirmed)}});
    return true;
  }

  void publish_status(bool connected) {
    std::lock_guard lock(status_mutex);
    status_.connected = connected;
    if (!session) return;
    const session_counters& c = session->counters();
    status_.received = session->received();
    status_.confirmed = session->confirmed();
    status_.server_wal_end = std::max(c.server_wal_end, status_.confirmed);
    status_.lag_bytes = lag_bytes(status_.server_wal_end, status_.confirmed);
    status_.lag_seconds = 0;
    if (status_.lag_bytes > 0 && c.last_commit_time) {
      const std::int64_t behind = pg_now_micros() - c.last_commit_time->micros;
      status_.lag_seconds = behind > 0 ? static_cast<double>(behind) / 1e6 : 0.0;
    }
    status_.transactions = c.transactions;
    status_.rows = c.rows;
    status_.rows_mapped = c.rows_mapped;
    status_.rows_failed = c.rows_failed;
    status_.truncates = c.truncates;
  }

  // Waits until `fd` is readable, stop() is called or `timeout` passes. Returns false on stop.
  bool wait(int fd, std::chrono::milliseconds timeout) const {
    pollfd fds[2] = {{wake_fd, POLLIN, 0}, {fd, POLLIN, 0}};
    const int count = fd >= 0 ? 2 : 1;
    const int ms = static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 0, 60'000));
    ::poll(fds, static_cast<nfds_t>(count), ms);
    return !stopping.load();
  }

  // Streams until stop() (nullopt) or an error.
  maybe_problem stream(PGconn* conn) {
    // The clock, the stop flag and the status gauges are looked at once per k_batch messages and whenever
    // libpq's buffer runs dry (every few dozen messages at most), not per message: under load they cost as
    // much as decoding a small row.
    constexpr int k_batch = 64;
    auto next_status = steady::now();
    int batch = 0;
    for (;;) {
      if (batch == 0) {
        if (stopping.load()) {
          send_status(conn, false);
          PQputCopyEnd(conn, nullptr);
          PQflush(conn);
          log(log_level::info, "replication_stopped", {{"confirmed", format_lsn(session->confirmed())}});
          return std::nullopt;
        }
        const auto now = steady::now();
        if (now >= next_status) {
          if (!send_status(conn, false)) return classify(conn, nullptr, "standby status update");
          next_status = now + config.status_interval;
        }
      }
      char* buffer = nullptr;
      const int n = PQgetCopyData(conn, &buffer, 1);
      if (n > 0) {
        auto outcome = session->consume(std::string_view(buffer, static_cast<std::size_t>(n)));
        PQfreemem(buffer);
        if (!outcome) {
          return problem{problem_kind::server, problem_severity::error,
                         "replication stream refused: " + outcome.error().message,
                         "reconnecting resumes from the confirmed position; report the stream if it recurs"};
        }
        if (outcome->reply_requested) {
          if (!send_status(conn, false)) return classify(conn, nullptr, "standby status update");
          next_status = steady::now() + config.status_interval;
        }
        if (++batch == k_batch) {
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
        if (PQconsumeInput(conn) == 0) return classify(conn, nullptr, "reading the replication stream");
        continue;
      }
      if (n == -1) {
        result_ptr r(PQgetResult(conn));
        if (r && PQresultStatus(r.get()) == PGRES_FATAL_ERROR) return classify(conn, r.get(), "replication stream");
        return problem{problem_kind::connection, problem_severity::error, "the server ended the replication stream",
                       "rtcache reconnects with back-off"};
      }
      return classify(conn, nullptr, "reading the replication stream");
    }
  }

  void run() {
    backoff delays(config.backoff);
    while (!stopping.load()) {
      if (!first_attempt) {
        std::lock_guard lock(status_mutex);
        ++status_.reconnects;
      }
      conn_ptr conn;
      maybe_problem failed = start(conn);
      first_attempt = false;
      if (!failed) {
        delays.reset();
        publish_status(true);
        failed = stream(conn.get());
      }
      if (session) session->reset_connection();
      conn.reset();
      publish_status(false);
      if (!failed) break;
      record_problem(*failed);
      const auto delay = delays.next(config.random());
      log(log_level::info, "reconnect_backoff",
          {{"delay_ms", std::to_string(delay.count())}, {"attempt", std::to_string(delays.failures())}});
      wait(-1, delay);
    }
  }

  std::vector<problem> check() {
    conn_ptr conn;
    if (auto p = connect(conn)) return {*p};
    preflight_facts facts;
    std::optional<lsn> ignored;
    if (auto p = gather(conn.get(), facts, ignored)) return {*p};
    return evaluate_preflight(facts, options());
  }
};

source::source(source_config config, const net::mapping_config& mapping, net::routed_sink& sink, log_fn log)
    : impl_(std::make_unique<impl>(std::move(config), mapping, sink, std::move(log))) {}

source::~source() = default;

void source::run() { impl_->run(); }

void source::stop() noexcept {
  impl_->stopping.store(true);
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(impl_->wake_fd, &one, sizeof one);
}

source_status source::status() const {
  std::lock_guard lock(impl_->status_mutex);
  return impl_->status_;
}

std::vector<problem> source::check() { return impl_->check(); }

}  // namespace rtcache::pg
