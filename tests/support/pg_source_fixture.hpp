// Test support for the PostgreSQL source's integration tests (source_integration_test.cpp,
// source_handover_test.cpp): the test cluster the ctest fixture started (RTCACHE_PG_CLUSTER), a plain SQL
// connection, bounded waits, a source running on its own thread, and rtcache_pg_tail as a child process (part of
// rtcache_pg_test_support, tests/support/CMakeLists.txt; the test target defines RTCACHE_PG_TAIL).
#pragma once

#include "recording_sink.hpp"
#include "rtcache/pg/source.hpp"

#include <libpq-fe.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace rtcache::pg::test {

using namespace std::chrono_literals;

inline std::string cluster_dir() {
  const char* dir = std::getenv("RTCACHE_PG_CLUSTER");
  return dir != nullptr ? dir : "";
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string conninfo() {
  std::string c = read_file(cluster_dir() + "/conninfo");
  while (!c.empty() && (c.back() == '\n' || c.back() == ' ')) c.pop_back();
  return c;
}

inline int cluster(const std::string& command) {
  const std::string cmd =
      std::string(RTCACHE_SOURCE_DIR) + "/scripts/pg_cluster.sh " + command + " '" + cluster_dir() + "' >/dev/null";
  return std::system(cmd.c_str());
}

// A plain (non-replication) connection for the tests' own SQL.
class db {
 public:
  explicit db(const std::string& info = conninfo()) : conn_(PQconnectdb(info.c_str())) {}
  ~db() { PQfinish(conn_); }
  db(const db&) = delete;
  db& operator=(const db&) = delete;
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  std::string error() const { return PQerrorMessage(conn_); }

  // Runs `sql`; false on error (for statements racing a server crash).
  bool try_exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto status = PQresultStatus(r);
    PQclear(r);
    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
  }

  // Runs `sql`; fails the test on error. Returns the first column of the first row, if any.
  std::string exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto status = PQresultStatus(r);
    std::string value;
    if (status == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0) value = PQgetvalue(r, 0, 0);
    EXPECT_TRUE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(conn_);
    PQclear(r);
    return value;
  }

 private:
  PGconn* conn_;
};

// Polls `done` until it holds or `deadline` passes (then the caller's assertion fails with its state).
inline bool eventually(const std::function<bool()>& done, std::chrono::seconds deadline = 60s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

inline std::string mapping_toml(const std::string& prefix) {
  return "[tables.\"public." + prefix +
         "_wo\"]\n"
         "doc_type = \"wo\"\nid_column = \"id\"\nfactory_column = \"factory_id\"\nversion_column = \"version\"\n"
         "status_column = \"status\"\napprove_values = [\"approved\"]\nreject_values = [\"rejected\"]\n"
         "patch = [\"status\", \"qty\"]\n"
         "[tables.\"public." +
         prefix +
         "_pl\"]\n"
         "doc_type = \"pl\"\nid_column = \"id\"\nfactory_column = \"factory_id\"\n";
}

inline routing::mapping_config mapping_for(const std::string& prefix) {
  auto m = routing::parse_mapping_config(mapping_toml(prefix));
  EXPECT_TRUE(m) << m.error().message;
  return std::move(m).value();
}

inline void create_tables(db& d, const std::string& prefix, bool full = true) {
  d.exec("DROP TABLE IF EXISTS " + prefix + "_wo, " + prefix + "_pl");
  d.exec("CREATE TABLE " + prefix +
         "_wo (id text PRIMARY KEY, factory_id text NOT NULL, version bigint, "
         "status text, qty int, notes text)");
  d.exec("CREATE TABLE " + prefix + "_pl (id text PRIMARY KEY, factory_id text NOT NULL)");
  if (full) {
    d.exec("ALTER TABLE " + prefix + "_wo REPLICA IDENTITY FULL");
    d.exec("ALTER TABLE " + prefix + "_pl REPLICA IDENTITY FULL");
  }
}

struct log_record {
  log_level level;
  std::string event;
  std::map<std::string, std::string> fields;
  std::chrono::steady_clock::time_point at;
};

// A source on its own thread with a recording sink (or the given one); stopped at the end, and its slot and
// publication dropped unless the test named the slot (it then shares another source's).
class running_source {
 public:
  explicit running_source(const std::string& prefix, source_config config = {}, routing::routed_sink* sink = nullptr)
      : mapping_(mapping_for(prefix)) {
    if (config.conninfo.empty()) config.conninfo = conninfo();
    owns_slot_ = config.slot == "rtcache";
    config.slot = config.slot == "rtcache" ? prefix + "_slot" : config.slot;
    config.publication = config.publication == "rtcache" ? prefix + "_pub" : config.publication;
    config.status_interval = 100ms;
    config.backoff.initial = 50ms;
    config.backoff.max = 500ms;
    if (!config.random) config.random = [] { return 0.5; };
    slot_ = config.slot;
    publication_ = config.publication;
    source_ = std::make_unique<source>(config, mapping_, sink != nullptr ? *sink : sink_,
                                       [this](log_level l, std::string_view e, std::span<const log_field> fields) {
                                         log_record r{l, std::string(e), {}, std::chrono::steady_clock::now()};
                                         for (const log_field& f : fields) r.fields[std::string(f.key)] = f.value;
                                         std::lock_guard lock(mutex_);
                                         logs_.push_back(std::move(r));
                                       });
    thread_ = std::thread([this] { source_->run(); });
  }
  ~running_source() {
    stop();
    if (!owns_slot_) return;
    db d;
    eventually([&] {
      return d.exec("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot_ + "' AND active") == "0";
    });
    d.exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot_ + "'");
    d.exec("DROP PUBLICATION IF EXISTS " + publication_);
  }
  running_source(const running_source&) = delete;
  running_source& operator=(const running_source&) = delete;

  void stop() {
    if (thread_.joinable()) {
      source_->stop();
      thread_.join();
    }
  }
  bool wait_streaming() {
    return eventually([&] { return has_log("replication_started"); });
  }
  bool has_log(const std::string& event) const { return count_logs(event) > 0; }
  // Log lines of `event` (whose field `key` is `value`, when given).
  std::size_t count_logs(const std::string& event, const std::string& key = "", const std::string& value = "") const {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const log_record& r : logs_) {
      if (r.event != event) continue;
      if (!key.empty()) {
        auto it = r.fields.find(key);
        if (it == r.fields.end() || it->second != value) continue;
      }
      ++n;
    }
    return n;
  }
  std::vector<log_record> logs() const {
    std::lock_guard lock(mutex_);
    return logs_;
  }
  recording_sink& sink() { return sink_; }
  source& src() { return *source_; }
  source_role role() const { return source_->status().role; }
  const std::string& slot() const { return slot_; }

 private:
  routing::mapping_config mapping_;
  recording_sink sink_;
  std::unique_ptr<source> source_;
  std::thread thread_;
  bool owns_slot_ = true;
  std::string slot_;
  std::string publication_;
  mutable std::mutex mutex_;
  std::vector<log_record> logs_;
};

class PgSource : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(cluster_dir().empty()) << "RTCACHE_PG_CLUSTER is not set: run through ctest, whose fixture "
                                           "starts PostgreSQL with scripts/pg_cluster.sh";
    ASSERT_TRUE(std::filesystem::exists(cluster_dir() + "/conninfo"))
        << "no PostgreSQL cluster in " << cluster_dir() << " (did the pg_source_cluster_start fixture fail?)";
    db d;
    ASSERT_TRUE(d.ok()) << "cannot connect to the test PostgreSQL: " << d.error();
  }
};

// Channels of the recorded messages that name the given doc ids, in order.
inline std::vector<std::string> doc_channels(const std::vector<std::string>& channels) {
  std::vector<std::string> out;
  for (const std::string& c : channels) {
    if (c.rfind("doc:", 0) == 0) out.push_back(c);
  }
  return out;
}

inline const core::event* find_event(const std::vector<core::event>& events, const std::vector<std::string>& channels,
                                     const std::string& channel, core::action act) {
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (channels[i] == channel && events[i].act == act) return &events[i];
  }
  return nullptr;
}

// Inserts `count` rows, one transaction each, ids prefix1..prefixN.
inline void insert_each(db& d, const std::string& table, int from, int to) {
  for (int i = from; i <= to; ++i) {
    d.exec("INSERT INTO " + table + " VALUES ('w" + std::to_string(i) + "', 'f1', 1, 'open', 1, NULL)");
  }
}

// Inserts w1, w2, ... into `table`, one transaction each, on its own thread, until finish(n) has it stop n rows
// later. written() is the last id committed.
class steady_writer {
 public:
  explicit steady_writer(std::string table, std::chrono::milliseconds pause = 5ms)
      : table_(std::move(table)), pause_(pause), thread_([this] { run(); }) {}
  ~steady_writer() { finish(0); }
  steady_writer(const steady_writer&) = delete;
  steady_writer& operator=(const steady_writer&) = delete;

  // Stops `more` rows after the current one; returns the last id written.
  int finish(int more) {
    if (thread_.joinable()) {
      stop_at_.store(written_.load() + more);
      thread_.join();
    }
    return written_.load();
  }
  int written() const { return written_.load(); }

 private:
  void run() {
    db w;
    for (int i = 1; i <= stop_at_.load(); ++i) {
      w.exec("INSERT INTO " + table_ + " VALUES ('w" + std::to_string(i) + "', 'f1', 1, 'open', 1, NULL)");
      written_.store(i);
      if (pause_.count() > 0) std::this_thread::sleep_for(pause_);
    }
  }

  std::string table_;
  std::chrono::milliseconds pause_;
  std::atomic<int> written_{0};
  std::atomic<int> stop_at_{1'000'000'000};
  std::thread thread_;
};

inline std::vector<std::string> expected_docs(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back("doc:wo:w" + std::to_string(i));
  return out;
}

inline bool has_problem(const std::vector<problem>& problems, problem_kind kind, const std::string& text = "") {
  for (const problem& p : problems) {
    if (p.kind == kind &&
        (text.empty() || p.message.find(text) != std::string::npos || p.fix.find(text) != std::string::npos)) {
      return true;
    }
  }
  return false;
}

inline std::string describe(const std::vector<problem>& problems) {
  std::string s;
  for (const problem& p : problems) s += std::string(to_string(p.kind)) + ": " + p.message + " | " + p.fix + "\n";
  return s;
}

inline std::vector<problem> check_with(const std::string& prefix, source_config config) {
  const routing::mapping_config mapping = mapping_for(prefix);
  test::recording_sink sink;
  if (config.conninfo.empty()) config.conninfo = conninfo();
  source src(config, mapping, sink, {});
  return src.check();
}

struct child {
  pid_t pid = -1;
};

// rtcache_pg_tail as a child process, its stdout in `out_path` and its stderr in `out_path`.err.
inline child spawn_tail(const std::string& out_path, const std::string& mapping_path,
                        const std::string& slot = "kill_slot", const std::string& publication = "kill_pub",
                        const std::string& wal_sender_timeout_ms = "3000") {
  child c;
  c.pid = ::fork();
  if (c.pid == 0) {
    const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, STDOUT_FILENO);
    const int err = ::open((out_path + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(err, STDERR_FILENO);
    const std::string info = conninfo();
    ::execl(RTCACHE_PG_TAIL, RTCACHE_PG_TAIL, "--conninfo", info.c_str(), "--mapping", mapping_path.c_str(), "--slot",
            slot.c_str(), "--publication", publication.c_str(), "--status-ms", "50", "--wal-sender-timeout-ms",
            wal_sender_timeout_ms.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return c;
}

struct tail_output {
  std::vector<std::pair<std::string, std::string>> doc_events;  // (channel, end_lsn of its commit or "")
  std::string last_status;                                      // last flush_lsn sent
  std::size_t commits = 0;
};

inline std::string json_field(const std::string& line, const std::string& key) {
  const std::string needle = "\"" + key + "\":\"";
  const auto at = line.find(needle);
  if (at == std::string::npos) return "";
  const auto start = at + needle.size();
  return line.substr(start, line.find('"', start) - start);
}

inline tail_output read_tail(const std::string& path) {
  tail_output out;
  std::ifstream in(path);
  std::string line;
  std::vector<std::size_t> pending;
  while (std::getline(in, line)) {
    if (in.eof() && !line.empty() && line.back() != '}') break;  // a line cut by the kill
    const std::string kind = json_field(line, "kind");
    if (kind == "message") {
      const std::string channel = json_field(line, "channel");
      if (channel.rfind("doc:", 0) == 0) {
        pending.push_back(out.doc_events.size());
        out.doc_events.emplace_back(channel, "");
      }
    } else if (kind == "commit") {
      for (const std::size_t i : pending) out.doc_events[i].second = json_field(line, "end_lsn");
      pending.clear();
      ++out.commits;
    } else if (kind == "status") {
      out.last_status = json_field(line, "flush_lsn");
    }
  }
  return out;
}

}  // namespace rtcache::pg::test
