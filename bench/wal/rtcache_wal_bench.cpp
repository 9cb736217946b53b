// rtcache_wal_bench: WAL -> event throughput against PostgreSQL's own pgoutput decoding of the same changes,
// in one run. bench/wal/run.sh prepares the cluster, the two slots and the workload, then runs this:
//   (a) SELECT count(*) FROM pg_logical_slot_get_binary_changes('<pg slot>', ...)   timed
//   (b) pg::source streaming '<rt slot>' over a replication connection -> hub_sink -> hub, with a subscriber on
//       every channel the workload routes to, until the last commit is consumed                timed
//   (d) the null consumer: '<null slot>' over the same kind of connection, read with the same libpq loop as
//       (b) and thrown away: what the stream delivers to a consumer that does no work          timed
// Exit status: 0 with figures printed, 1 on a harness error (never because of a figure), 2 on bad usage.
#include "hub/hub.hpp"
#include "ingest/hub_sink.hpp"
#include "ingest/relay.hpp"
#include "routing/mapping_config.hpp"
#include "rtcache/core/channel_key.hpp"
#include "rtcache/pg/pgoutput.hpp"
#include "rtcache/pg/source.hpp"
#include "wal_figures.hpp"

#include <libpq-fe.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <poll.h>
#include <sstream>
#include <string>
#include <thread>
#include <time.h>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;
using rtcache::bench::wal_figures;
namespace hub = rtcache::hub;
namespace ingest = rtcache::ingest;
namespace routing = rtcache::routing;

struct options {
  std::string conninfo;
  std::string mapping_path;
  std::string pg_slot = "bench_pg";
  std::string rt_slot = "bench_rt";
  std::string null_slot;  // empty: (d) is not run
  std::string publication = "bench_pub";
  std::uint64_t expect_rows = 0;
  std::uint64_t transactions = 0;
  std::vector<std::pair<std::string, std::uint64_t>> docs;  // doc type -> ids 1..n subscribed
  std::vector<std::string> tables;                          // "schema.table": internal record channels
  std::uint64_t factories = 0;                              // factory ids f1..fN
  std::chrono::seconds timeout{600};
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "rtcache_wal_bench: " << why << "\n"
            << "usage: rtcache_wal_bench --conninfo STR --mapping FILE --expect-rows N [--transactions N]\n"
            << "         [--pg-slot NAME] [--rt-slot NAME] [--null-slot NAME] [--publication NAME] [--doc TYPE:N ...]\n"
            << "         [--table SCHEMA.TABLE ...] [--factories N] [--timeout SECONDS]\n";
  std::exit(2);
}

std::uint64_t parse_count(const std::string& text, const std::string& what) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) usage("bad number for " + what + ": " + text);
  return v;
}

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--conninfo")
      o.conninfo = value();
    else if (arg == "--mapping")
      o.mapping_path = value();
    else if (arg == "--pg-slot")
      o.pg_slot = value();
    else if (arg == "--rt-slot")
      o.rt_slot = value();
    else if (arg == "--null-slot")
      o.null_slot = value();
    else if (arg == "--publication")
      o.publication = value();
    else if (arg == "--expect-rows")
      o.expect_rows = parse_count(value(), arg);
    else if (arg == "--transactions")
      o.transactions = parse_count(value(), arg);
    else if (arg == "--factories")
      o.factories = parse_count(value(), arg);
    else if (arg == "--timeout")
      o.timeout = std::chrono::seconds(parse_count(value(), arg));
    else if (arg == "--table")
      o.tables.push_back(value());
    else if (arg == "--doc") {
      const std::string v = value();
      const auto colon = v.find(':');
      if (colon == std::string::npos) usage("--doc wants TYPE:N, got " + v);
      o.docs.emplace_back(v.substr(0, colon), parse_count(v.substr(colon + 1), arg));
    } else {
      usage("unknown argument " + arg);
    }
  }
  if (o.conninfo.empty() || o.mapping_path.empty() || o.expect_rows == 0) {
    usage("--conninfo, --mapping and --expect-rows are required");
  }
  return o;
}

// Counts deliveries; the cheapest subscriber that still makes the hub encode and fan out every message.
class counting_subscriber final : public hub::hub_subscriber {
 public:
  void deliver(const hub::hub_message_ptr&) noexcept override { delivered_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t delivered() const noexcept { return delivered_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> delivered_{0};
};

struct pg_conn_deleter {
  void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct pg_result_deleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using conn_ptr = std::unique_ptr<PGconn, pg_conn_deleter>;
using result_ptr = std::unique_ptr<PGresult, pg_result_deleter>;

// Runs one query and returns the first value of the first row; nullopt (message on stderr) on error.
std::optional<std::string> query_value(PGconn* conn, const std::string& sql) {
  result_ptr r(PQexec(conn, sql.c_str()));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) < 1) {
    std::cerr << "rtcache_wal_bench: " << sql << ": " << PQerrorMessage(conn);
    return std::nullopt;
  }
  return std::string(PQgetvalue(r.get(), 0, 0));
}

std::string quote_literal(PGconn* conn, const std::string& text) {
  char* q = PQescapeLiteral(conn, text.data(), text.size());
  std::string out = q != nullptr ? q : "''";
  PQfreemem(q);
  return out;
}

// utime + stime of a process from /proc/<pid>/stat; 0 when unreadable.
std::chrono::nanoseconds process_cpu(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream fields(text.substr(close + 2));
  std::string skip;
  for (int i = 0; i < 11; ++i) fields >> skip;  // state .. cmajflt (fields 3..13)
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  fields >> utime >> stime;
  const long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return {};
  return std::chrono::nanoseconds(
      static_cast<std::int64_t>((utime + stime) * 1'000'000'000ULL / static_cast<unsigned long long>(ticks)));
}

std::chrono::nanoseconds thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// (a) PostgreSQL's own decoding of the workload. Returns false on a harness error.
bool measure_pg(PGconn* conn, const options& o, wal_figures& f) {
  const std::string sql = "SELECT count(*) FROM pg_logical_slot_get_binary_changes(" + quote_literal(conn, o.pg_slot) +
                          ", NULL, NULL, 'proto_version', '1', 'publication_names', " +
                          quote_literal(conn, o.publication) + ")";
  const auto start = steady::now();
  const auto count = query_value(conn, sql);
  f.pg_wall = steady::now() - start;
  if (!count) return false;
  f.pg_messages = std::stoull(*count);
  std::cout << "# (a) " << sql << "\n";
  return true;
}

// What the source's log tells the driver: when streaming started, rows of each commit, problems.
struct progress {
  std::mutex mutex;
  std::condition_variable changed;
  std::optional<steady::time_point> streaming_since;  // guarded by mutex
  std::optional<steady::time_point> done_at;          // guarded by mutex
  std::uint64_t rows = 0;                             // guarded by mutex (mapped rows of committed transactions)
  std::uint64_t transactions = 0;                     // guarded by mutex
  std::string last_problem;                           // guarded by mutex
};

// (b) rtcache's path. Returns false on a harness error.
bool measure_rtcache(const options& o, const routing::mapping_config& mapping, PGconn* sql, wal_figures& f) {
  namespace pg = rtcache::pg;

  hub::hub hub(hub::hub_config{}, ingest::make_broadcast_encoder(), hub::counter_epochs("bench"));
  ingest::hub_sink sink(hub);
  auto subscriber = std::make_shared<counting_subscriber>();
  std::vector<hub::hub_subscription> subscriptions;
  auto join = [&](const std::string& channel) {
    subscriptions.push_back(hub.subscribe(channel, subscriber).subscription);
  };
  std::uint64_t docs = 0;
  std::uint64_t lists = 0;
  for (const auto& [type, n] : o.docs) {
    for (std::uint64_t id = 1; id <= n; ++id, ++docs)
      join(rtcache::core::channel_key::doc(type, std::to_string(id)).format());
    for (std::uint64_t fa = 1; fa <= o.factories; ++fa, ++lists) {
      join(rtcache::core::channel_key::list(type, "f" + std::to_string(fa)).format());
    }
  }
  for (std::uint64_t fa = 1; fa <= o.factories; ++fa)
    join(rtcache::core::channel_key::factory("f" + std::to_string(fa)).format());
  for (const std::string& t : o.tables) {
    const auto dot = t.find('.');
    join(ingest::postgres_table_channel(t.substr(0, dot), t.substr(dot + 1)));
  }
  std::cout << "# (b) pg::source slot " << o.rt_slot << " -> hub_sink -> hub; one subscriber on " << docs << " doc:, "
            << lists << " list:, " << o.factories << " factory: and " << o.tables.size()
            << " per-table record channels (a publish to a channel without one is dropped unencoded)\n";

  progress p;
  pg::source_config config;
  config.conninfo = o.conninfo;
  config.slot = o.rt_slot;
  config.publication = o.publication;
  config.create_slot = false;
  config.create_publication = false;
  pg::source source(config, mapping, sink,
                    [&](pg::log_level level, std::string_view event, std::span<const pg::log_field> fields) {
                      if (event == "commit") {
                        std::uint64_t rows = 0;
                        for (const auto& field : fields) {
                          if (field.key == "rows")
                            std::from_chars(field.value.data(), field.value.data() + field.value.size(), rows);
                        }
                        std::lock_guard lock(p.mutex);
                        p.rows += rows;
                        ++p.transactions;
                        if (p.rows >= o.expect_rows && !p.done_at) {
                          p.done_at = steady::now();
                          p.changed.notify_all();
                        }
                        return;
                      }
                      if (event == "replication_started") {
                        std::lock_guard lock(p.mutex);
                        p.streaming_since = steady::now();
                        p.changed.notify_all();
                        return;
                      }
                      if (level == pg::log_level::warn || level == pg::log_level::error) {
                        std::string line(event);
                        for (const auto& field : fields) line += " " + std::string(field.key) + "=" + field.value;
                        std::cerr << "rtcache_wal_bench: source: " << line << "\n";
                        std::lock_guard lock(p.mutex);
                        p.last_problem = line;
                      }
                    });

  std::chrono::nanoseconds cpu{0};
  const auto start = steady::now();
  std::thread runner([&] {
    const auto before = thread_cpu();
    source.run();
    cpu = thread_cpu() - before;
  });

  // The walsender serving the slot, for its CPU time (attribution of the bottleneck, not a figure of rtcache).
  long walsender = 0;
  std::chrono::nanoseconds walsender_before{0};
  bool finished = false;
  {
    std::unique_lock lock(p.mutex);
    p.changed.wait_until(lock, start + o.timeout, [&] { return p.streaming_since.has_value(); });
  }
  if (auto pid = query_value(sql, "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = " +
                                      quote_literal(sql, o.rt_slot))) {
    walsender = std::stol(*pid);
    if (walsender != 0) walsender_before = process_cpu(walsender);
  }
  {
    std::unique_lock lock(p.mutex);
    finished = p.changed.wait_until(lock, start + o.timeout, [&] { return p.done_at.has_value(); });
  }
  if (walsender != 0) f.walsender_cpu = process_cpu(walsender) - walsender_before;
  source.stop();
  runner.join();

  const pg::source_status status = source.status();
  const hub::hub_metrics hm = hub.metrics();
  {
    std::lock_guard lock(p.mutex);
    if (!finished) {
      std::cerr << "rtcache_wal_bench: timed out after " << o.timeout.count() << " s with " << p.rows << " of "
                << o.expect_rows << " rows (last problem: " << p.last_problem << ")\n";
      return false;
    }
    f.rt_wall = *p.done_at - start;
    f.rt_streaming = p.streaming_since ? *p.done_at - *p.streaming_since : f.rt_wall;
    f.rt_rows = p.rows;
    if (o.transactions != 0 && p.transactions != o.transactions) {
      std::cerr << "rtcache_wal_bench: note: " << p.transactions << " transactions consumed, workload has "
                << o.transactions << "\n";
    }
  }
  f.rt_events = hm.messages_published;
  f.rt_deliveries = subscriber->delivered();
  f.rt_dropped = hm.messages_dropped;
  f.rt_cpu = cpu;
  if (status.rows_failed != 0) {
    std::cerr << "rtcache_wal_bench: " << status.rows_failed << " rows refused by the mapping\n";
    return false;
  }
  return true;
}

// (d) The null consumer: a replication connection read exactly as pg::source reads it (PQgetCopyData without
// blocking, poll() when libpq's buffer is empty, a standby status update every second and on request), with
// each message thrown away after its type is read. It counts Insert/Update/Delete messages and stops at the
// first Commit after expect_rows of them. Returns false on a harness error.
bool measure_null(const options& o, wal_figures& f) {
  namespace pg = rtcache::pg;
  const auto start = steady::now();
  const char* keys[] = {"dbname", "replication", nullptr};
  const char* values[] = {o.conninfo.c_str(), "database", nullptr};
  conn_ptr conn(PQconnectdbParams(keys, values, 1));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::cerr << "rtcache_wal_bench: null consumer: connect: " << PQerrorMessage(conn.get());
    return false;
  }
  const long walsender = PQbackendPID(conn.get());
  const auto walsender_before = process_cpu(walsender);
  const auto cpu_before = thread_cpu();
  const std::string sql = "START_REPLICATION SLOT \"" + o.null_slot + "\" LOGICAL 0/0 (proto_version '1', " +
                          "publication_names " + quote_literal(conn.get(), "\"" + o.publication + "\"") + ")";
  {
    result_ptr r(PQexec(conn.get(), sql.c_str()));
    if (PQresultStatus(r.get()) != PGRES_COPY_BOTH) {
      std::cerr << "rtcache_wal_bench: null consumer: " << sql << ": " << PQerrorMessage(conn.get());
      return false;
    }
  }
  std::cout << "# (d) null consumer on slot " << o.null_slot << ": the loop of (b), messages thrown away\n";
  pg::lsn received;
  const auto send_status = [&] {
    std::string msg = "r";
    for (int i = 0; i < 3; ++i) {
      for (int b = 7; b >= 0; --b) msg += static_cast<char>((received.value >> (8 * b)) & 0xFFU);
    }
    msg.append(9, '\0');  // client time (unused by the server) and no reply requested
    return PQputCopyData(conn.get(), msg.data(), static_cast<int>(msg.size())) == 1 && PQflush(conn.get()) != -1;
  };
  std::uint64_t rows = 0;
  auto next_status = steady::now() + std::chrono::seconds(1);
  for (;;) {
    if (steady::now() >= next_status) {
      if (!send_status()) break;
      next_status = steady::now() + std::chrono::seconds(1);
    }
    char* buffer = nullptr;
    const int n = PQgetCopyData(conn.get(), &buffer, 1);
    if (n == 0) {
      pollfd fd{PQsocket(conn.get()), POLLIN, 0};
      ::poll(&fd, 1, 1000);
      if (PQconsumeInput(conn.get()) == 0) break;
      if (steady::now() - start > o.timeout) break;
      continue;
    }
    if (n < 0) break;
    auto decoded = pg::decode_copy_data(std::string_view(buffer, static_cast<std::size_t>(n)));
    bool done = false;
    bool reply = false;
    if (decoded) {
      if (const auto* x = std::get_if<pg::xlog_data>(&*decoded)) {
        received = x->wal_start;
        const char type = x->payload.empty() ? '\0' : x->payload.front();
        if (type == 'I' || type == 'U' || type == 'D') ++rows;
        done = type == 'C' && rows >= o.expect_rows;
      } else {
        reply = std::get<pg::primary_keepalive>(*decoded).reply_requested;
      }
    }
    PQfreemem(buffer);
    if (!decoded) {
      std::cerr << "rtcache_wal_bench: null consumer: " << decoded.error().message << "\n";
      return false;
    }
    if (done) {
      f.null_wall = steady::now() - start;
      f.null_cpu = thread_cpu() - cpu_before;
      f.null_walsender_cpu = process_cpu(walsender) - walsender_before;
      f.null_rows = rows;
      return true;
    }
    if (reply && !send_status()) break;
  }
  std::cerr << "rtcache_wal_bench: null consumer: stream ended after " << rows << " of " << o.expect_rows
            << " rows: " << PQerrorMessage(conn.get());
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse_options(argc, argv);
  auto mapping = routing::load_mapping_config(o.mapping_path);
  if (!mapping) {
    std::cerr << "rtcache_wal_bench: " << mapping.error().message << "\n";
    return 1;
  }
  conn_ptr conn(PQconnectdb(o.conninfo.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::cerr << "rtcache_wal_bench: connect: " << PQerrorMessage(conn.get());
    return 1;
  }
  wal_figures f;
  f.row_changes = o.expect_rows;
  f.transactions = o.transactions;
  if (!measure_pg(conn.get(), o, f)) return 1;
  if (!measure_rtcache(o, *mapping, conn.get(), f)) return 1;
  if (!o.null_slot.empty() && !measure_null(o, f)) return 1;
  std::cout << rtcache::bench::format_figures(f);
  return 0;
}
