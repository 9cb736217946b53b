// rtcache_pg_tail: runs the PostgreSQL source and prints what it routes as JSON lines on stdout, one line per
// routed message ({"kind":"message","channel":...,"event":{...}}), per commit ({"kind":"commit","end_lsn":...}),
// per standby status update ({"kind":"status","flush_lsn":...}), per gap ({"kind":"gap","reason":...}) and per
// change of role ({"kind":"role","role":"reader"|"standby"|"none",...}); other log events go to stderr. The
// integration tests run it as a child process to kill -9 (or freeze) it mid-stream.
//
//   rtcache_pg_tail --conninfo STR --mapping FILE [--slot S] [--publication P] [--status-ms N]
//                   [--wal-sender-timeout-ms N]
//   rtcache_pg_tail --capture DIR --conninfo STR   write pgoutput fuzz seeds recorded from a fixed workload
//
// SIGTERM/SIGINT stop the source cleanly (a final status update is sent).
#include "routing/mapping_config.hpp"
#include "rtcache/core/event_codec.hpp"
#include "rtcache/core/json_text.hpp"
#include "rtcache/pg/pgoutput.hpp"
#include "rtcache/pg/source.hpp"

#include <libpq-fe.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <pthread.h>
#include <signal.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

using namespace rtcache;

// One line, written whole and flushed, so a kill -9 leaves at most one partial line.
void emit(const std::string& line) {
  std::string out = line + "\n";
  const char* p = out.data();
  std::size_t left = out.size();
  while (left > 0) {
    const ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

// Durable once written (as the hub is once published).
class json_lines_sink final : public routing::routed_sink {
 public:
  core::result<std::optional<routing::wal_anchor>> durable_anchor() override {
    return std::optional<routing::wal_anchor>{};
  }
  void start_stream(std::function<void()> /*wake*/) override { durable_.store(0); }
  void publish(routing::routed_batch batch) override {
    for (const routing::routed_message& m : batch.rows.messages) {
      std::string line = R"({"kind":"message","channel":)";
      core::append_json_string(line, m.channel.format());
      line += R"(,"event":)";
      line += core::encode(*m.event);
      line += "}";
      emit(line);
    }
    durable_.store(batch.position.sequence);
  }
  void on_gap(const routing::source_gap& gap) override {
    std::string line = R"({"kind":"gap","reason":)";
    core::append_json_string(line, routing::to_string(gap.reason));
    emit(line + "}");
    durable_.store(gap.position.sequence);
  }
  std::uint64_t durable_through() const noexcept override { return durable_.load(); }

 private:
  std::atomic<std::uint64_t> durable_{0};
};

void log_line(pg::log_level level, std::string_view event, std::span<const pg::log_field> fields) {
  if (event == "commit" || event == "standby_status" || event == "source_role") {
    std::string line = event == "commit"        ? R"({"kind":"commit")"
                       : event == "source_role" ? R"({"kind":"role")"
                                                : R"({"kind":"status")";
    for (const pg::log_field& f : fields) {
      line += ",";
      core::append_json_string(line, f.key);
      line += ":";
      core::append_json_string(line, f.value);
    }
    emit(line + "}");
    return;
  }
  std::string line = std::string(pg::to_string(level)) + " " + std::string(event);
  for (const pg::log_field& f : fields) line += " " + std::string(f.key) + "=" + f.value;
  std::fprintf(stderr, "%s\n", line.c_str());
}

int usage() {
  std::fprintf(stderr,
               "usage: rtcache_pg_tail --conninfo STR --mapping FILE [--slot S] [--publication P] [--status-ms N]\n"
               "                       [--wal-sender-timeout-ms N]\n"
               "       rtcache_pg_tail --capture DIR --conninfo STR\n");
  return 2;
}

// ---------------------------------------------------------------------------------------------------------
// Capture: run a workload touching every message kind, read it back with pg_logical_slot_get_binary_changes
// (PostgreSQL's own pgoutput bytes), and write one fuzz seed per transaction in pgoutput_fuzz's framing
// (2-byte big-endian length + bytes per message).

bool run_sql(PGconn* conn, const std::string& sql) {
  PGresult* r = PQexec(conn, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) std::fprintf(stderr, "capture: %s: %s", sql.c_str(), PQerrorMessage(conn));
  PQclear(r);
  return ok;
}

int capture(const std::string& dir, const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::fprintf(stderr, "capture: %s", PQerrorMessage(conn));
    return 1;
  }
  const char* setup[] = {
      "DROP TABLE IF EXISTS capture_wo, capture_pl",
      "DROP TYPE IF EXISTS capture_mood",
      "CREATE TYPE capture_mood AS ENUM ('ok', 'late')",
      ("CREATE TABLE capture_wo (id text PRIMARY KEY, factory_id text NOT NULL, version bigint, status text, "
       "notes text, mood capture_mood)"),
      "ALTER TABLE capture_wo ALTER COLUMN notes SET STORAGE EXTERNAL",
      "CREATE TABLE capture_pl (id text PRIMARY KEY, factory_id text NOT NULL, qty int)",
      "ALTER TABLE capture_wo REPLICA IDENTITY FULL",
      "DROP PUBLICATION IF EXISTS capture_pub",
      "CREATE PUBLICATION capture_pub FOR TABLE capture_wo, capture_pl",
      "SELECT pg_create_logical_replication_slot('capture_slot', 'pgoutput', true)",
  };
  for (const char* sql : setup) {
    if (!run_sql(conn, sql)) return 1;
  }
  const char* workload[] = {
      "INSERT INTO capture_wo VALUES ('w1', 'f1', 1, 'open', 'short', 'ok')",
      ("BEGIN; INSERT INTO capture_wo VALUES ('w2', 'f1', 1, 'open', NULL, NULL); "
       "INSERT INTO capture_pl VALUES ('p1', 'f1', 3); UPDATE capture_pl SET qty = 4 WHERE id = 'p1'; COMMIT"),
      "UPDATE capture_wo SET status = 'approved', version = 2 WHERE id = 'w1'",
      "UPDATE capture_wo SET notes = repeat(md5('x'), 200) WHERE id = 'w1'",
      "UPDATE capture_wo SET version = 3 WHERE id = 'w1'",  // notes unchanged: 'u' in the new tuple
      "UPDATE capture_wo SET factory_id = 'f2' WHERE id = 'w2'",
      "UPDATE capture_pl SET id = 'p2' WHERE id = 'p1'",  // key change: 'K' old tuple
      "ALTER TABLE capture_wo ADD COLUMN priority int",
      "INSERT INTO capture_wo VALUES ('w3', 'f1', 1, 'open', NULL, 'late', 5)",
      "ALTER TABLE capture_wo DROP COLUMN priority",
      "DELETE FROM capture_wo WHERE id = 'w3'",
      "DELETE FROM capture_pl WHERE id = 'p2'",
      "TRUNCATE capture_pl",
  };
  for (const char* sql : workload) {
    if (!run_sql(conn, sql)) return 1;
  }
  PGresult* r = PQexec(conn,
                       "SELECT lsn, data FROM pg_logical_slot_get_binary_changes('capture_slot', NULL, NULL, "
                       "'proto_version', '1', 'publication_names', 'capture_pub')");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    std::fprintf(stderr, "capture: %s", PQerrorMessage(conn));
    return 1;
  }
  std::filesystem::create_directories(dir);
  std::string seed;
  int files = 0;
  for (int i = 0; i < PQntuples(r); ++i) {
    std::size_t n = 0;
    unsigned char* bytes = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r, i, 1)), &n);
    if (n <= 0xFFFF) {
      seed += static_cast<char>((n >> 8U) & 0xFFU);
      seed += static_cast<char>(n & 0xFFU);
      seed.append(reinterpret_cast<const char*>(bytes), n);
    }
    const bool commit = n > 0 && bytes[0] == 'C';
    PQfreemem(bytes);
    if (commit) {
      char name[64];
      std::snprintf(name, sizeof name, "recorded_txn_%02d", ++files);
      std::ofstream(std::filesystem::path(dir) / name, std::ios::binary) << seed;
      seed.clear();
    }
  }
  PQclear(r);
  run_sql(conn, "DROP PUBLICATION capture_pub");
  run_sql(conn, "DROP TABLE capture_wo, capture_pl");
  run_sql(conn, "DROP TYPE capture_mood");
  PQfinish(conn);
  std::fprintf(stderr, "capture: wrote %d seeds to %s\n", files, dir.c_str());
  return files > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  if (args.count("--conninfo") == 0) return usage();
  if (args.count("--capture") != 0) return capture(args["--capture"], args["--conninfo"]);
  if (args.count("--mapping") == 0) return usage();

  auto mapping = routing::load_mapping_config(args["--mapping"]);
  if (!mapping) {
    std::fprintf(stderr, "%s\n", mapping.error().message.c_str());
    return 1;
  }
  pg::source_config config;
  config.conninfo = args["--conninfo"];
  if (args.count("--slot") != 0) config.slot = args["--slot"];
  if (args.count("--publication") != 0) config.publication = args["--publication"];
  if (args.count("--status-ms") != 0)
    config.status_interval = std::chrono::milliseconds(std::stoi(args["--status-ms"]));
  if (args.count("--wal-sender-timeout-ms") != 0) {
    config.wal_sender_timeout = std::chrono::milliseconds(std::stoi(args["--wal-sender-timeout-ms"]));
  }
  config.backoff.initial = std::chrono::milliseconds(50);
  config.backoff.max = std::chrono::milliseconds(1000);

  // Signals are taken by a dedicated thread (sigwait), which calls stop(): the source never runs in a handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  json_lines_sink sink;
  pg::source source(config, *mapping, sink, log_line);
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    source.stop();
  });
  source.run();
  pthread_kill(waiter.native_handle(), SIGTERM);  // wakes the waiter if run() ended by itself
  waiter.join();
  return 0;
}
