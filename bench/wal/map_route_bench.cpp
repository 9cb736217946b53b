// Micro-benchmark of the source thread's own stage of the WAL path (issue 3): pgoutput bytes -> decode -> row
// views -> mapper -> transaction_router, through pg::replication_session, into a sink that only counts and
// drops (no hub). Rows shaped as rtcache_wal_bench's workload (bench/wal/workload.sql, mapping.toml): inserts,
// 3-column user edits and deletes of bench_wo / bench_pl under REPLICA IDENTITY FULL. items/s = row changes/s.
// The end-to-end figure stays bench/wal/run.sh; this one isolates the part the hub does not share.
#include "pg_test_encoder.hpp"
#include "routing/mapping_config.hpp"
#include "routing/routed_sink.hpp"
#include "rtcache/pg/replication_session.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace pg = rtcache::pg;
namespace routing = rtcache::routing;

// Durable at once, like the hub.
class counting_sink final : public routing::routed_sink {
 public:
  rtcache::core::result<std::optional<routing::wal_anchor>> durable_anchor() override {
    return std::optional<routing::wal_anchor>{};
  }
  void start_stream(std::function<void()> /*wake*/) override { durable_ = 0; }
  void publish(routing::routed_batch batch) override {
    messages_ += batch.rows.messages.size();
    changes_ += batch.rows.changes.size();
    durable_ = batch.position.sequence;
  }
  void on_gap(const routing::source_gap& gap) override { durable_ = gap.position.sequence; }
  std::uint64_t durable_through() const noexcept override { return durable_; }
  std::uint64_t messages() const noexcept { return messages_; }

 private:
  std::uint64_t messages_ = 0;
  std::uint64_t changes_ = 0;
  std::uint64_t durable_ = 0;
};

const routing::mapping_config& mapping() {
  static const routing::mapping_config config = [] {
    auto c = routing::load_mapping_config(RTCACHE_WAL_MAPPING);
    if (!c) {
      std::cerr << "map_route_bench: " << c.error().message << "\n";
      std::exit(1);
    }
    return std::move(*c);
  }();
  return config;
}

pg::relation_message bench_wo() {
  pg::relation_message r;
  r.oid = 16401;
  r.schema = "public";
  r.name = "bench_wo";
  r.identity = pg::replica_identity::full;
  r.columns = {{true, "id", 25, -1},          {true, "factory_id", 25, -1},
               {true, "version", 20, -1},     {true, "status", 25, -1},
               {true, "qty", 23, -1},         {true, "due_date", 1082, -1},
               {true, "notes", 25, -1},       {true, "internal_cost", 1700, 786438},
               {true, "updated_at", 1184, -1}};
  return r;
}

pg::relation_message bench_pl() {
  pg::relation_message r;
  r.oid = 16402;
  r.schema = "public";
  r.name = "bench_pl";
  r.identity = pg::replica_identity::full;
  r.columns = {{true, "id", 25, -1},          {true, "factory_id", 25, -1}, {true, "version", 20, -1},
               {true, "status", 25, -1},      {true, "lines", 23, -1},      {true, "picker", 25, -1},
               {true, "updated_at", 1184, -1}};
  return r;
}

const std::vector<std::string> k_statuses = {"open", "in_progress", "approved", "rejected", "on_hold"};

pg::tuple_data wo_row(int id, int version, int status) {
  using pg::column_value;
  return {column_value::text(std::to_string(id)),
          column_value::text("f" + std::to_string(id % 8 + 1)),
          column_value::text(std::to_string(version)),
          column_value::text(k_statuses[static_cast<std::size_t>(status) % k_statuses.size()]),
          column_value::text(std::to_string(id % 97 + version)),
          column_value::text("2026-12-01"),
          column_value::text("work order note for the benchmark, sixty bytes of text ....."),
          column_value::text("1234.50"),
          column_value::text("2026-11-25 12:00:00.123456+00")};
}

pg::tuple_data pl_row(int id, int version, int status) {
  using pg::column_value;
  return {column_value::text(std::to_string(id)),
          column_value::text("f" + std::to_string(id % 8 + 1)),
          column_value::text(std::to_string(version)),
          column_value::text(k_statuses[static_cast<std::size_t>(status) % k_statuses.size()]),
          column_value::text(std::to_string(id % 13 + version)),
          column_value::text("picker-" + std::to_string(id % 5)),
          column_value::text("2026-11-25 12:00:00.123456+00")};
}

enum class shape { insert, update, del };

// The `rows` changes of one transaction of a shape, two of three on bench_wo, as encoded pgoutput messages.
std::vector<std::string> changes(shape s, int rows) {
  std::vector<std::string> out;
  for (int i = 0; i < rows; ++i) {
    const bool wo = i % 3 != 2;
    const std::uint32_t oid = wo ? 16401 : 16402;
    auto row = [&](int version, int status) {
      return wo ? wo_row(i + 1, version, status) : pl_row(i + 1, version, status);
    };
    switch (s) {
      case shape::insert: out.push_back(pg::test::encode(pg::insert_message{oid, row(1, 0)})); break;
      case shape::update:
        out.push_back(pg::test::encode(pg::update_message{oid, pg::old_tuple_kind::full, row(1, i), row(2, i + 1)}));
        break;
      case shape::del:
        out.push_back(pg::test::encode(pg::delete_message{oid, pg::old_tuple_kind::full, row(2, i)}));
        break;
    }
  }
  return out;
}

void run(benchmark::State& state, shape s) {
  constexpr int k_rows = 50;
  counting_sink sink;
  pg::replication_session session(mapping(), sink, nullptr);
  session.start_stream({}, {});
  for (const auto& rel : {bench_wo(), bench_pl()}) {
    if (!session.consume_message(pg::test::encode(rel))) state.SkipWithError("relation refused");
  }
  const std::vector<std::string> rows = changes(s, k_rows);
  constexpr pg::pg_timestamp k_time{817'000'000'000'000};
  std::uint64_t lsn = 1000;
  auto consume = [&](const std::string& m) {
    auto r = session.consume_message(m);
    if (!r) state.SkipWithError(r.error().message.c_str());
    return r.has_value();
  };
  for (auto _ : state) {
    // Each transaction ends past the last one's position, so the session never skips it as already confirmed.
    lsn += 1000;
    if (!consume(pg::test::encode(pg::begin_message{pg::lsn{lsn}, k_time, 7}))) return;
    for (const std::string& m : rows) {
      if (!consume(m)) return;
    }
    if (!consume(pg::test::encode(pg::commit_message{0, pg::lsn{lsn}, pg::lsn{lsn + 8}, k_time}))) return;
  }
  state.SetItemsProcessed(state.iterations() * k_rows);
  state.counters["messages_per_row"] =
      static_cast<double>(sink.messages()) / static_cast<double>(state.iterations() * k_rows);
}

void BM_SourceStage_Insert(benchmark::State& state) {
  run(state, shape::insert);
}
void BM_SourceStage_Update(benchmark::State& state) {
  run(state, shape::update);
}
void BM_SourceStage_Delete(benchmark::State& state) {
  run(state, shape::del);
}

BENCHMARK(BM_SourceStage_Insert);
BENCHMARK(BM_SourceStage_Update);
BENCHMARK(BM_SourceStage_Delete);

}  // namespace
