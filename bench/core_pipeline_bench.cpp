// Micro-benchmarks of the policy core's per-event cost on the client side: codec, channel keys, coalescer,
// planner, and the whole pipeline (decode -> coalesce -> plan) on a realistic, deterministic stream.
// Figures, the command that produced them and the machine: docs/benchmarks.md.

#include "rtcache/core/channel_key.hpp"
#include "rtcache/core/clock.hpp"
#include "rtcache/core/coalescer.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/event.hpp"
#include "rtcache/core/event_codec.hpp"
#include "rtcache/core/factory_scope.hpp"
#include "rtcache/core/planner.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace rtcache::core;
using std::chrono::microseconds;

// One typical row change as a backend or the hub sends it: an update with a covering patch.
constexpr std::string_view k_typical_event =
    R"({"type":"wo","id":"104857","factoryId":"f-berlin","action":"update","changedKeys":["qty_done","status"],)"
    R"("version":1874,"ts":"2024-05-01T12:00:00.123456Z","patch":{"qty_done":240,"status":"in_progress"},)"
    R"("offset":99812})";

// splitmix64: portable and fixed, so every run on every standard library sees the same stream
// (std::uniform_int_distribution is not specified bit-for-bit).
class prng {
 public:
  explicit prng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n).
  std::uint64_t below(std::uint64_t n) { return next() % n; }

 private:
  std::uint64_t state_;
};

constexpr std::uint64_t k_seed = 20240501;

// The stream's shape. Types weighted as a factory app's traffic (work orders dominate); a few hot docs
// take most updates (the burst the coalescer exists for); four factories, the client sees three.
constexpr std::array<std::string_view, 8> k_types = {"wo", "pl", "dn", "grn", "lot", "pu", "invoice", "price_list"};
constexpr std::array<unsigned, 8> k_type_weights = {40, 10, 10, 10, 10, 8, 7, 5};
constexpr std::array<std::string_view, 4> k_factories = {"f-berlin", "f-lyon", "f-porto", "f-gdansk"};
constexpr std::array<std::string_view, 8> k_columns = {"due_date", "note",   "price",      "qty",
                                                       "qty_done", "status", "updated_at", "updated_by"};
constexpr std::uint64_t k_hot_docs = 32;     // per type
constexpr std::uint64_t k_cold_docs = 4000;  // per type
constexpr std::size_t k_stream_events = 20000;

std::string_view pick_type(prng& rng) {
  unsigned total = 0;
  for (const unsigned w : k_type_weights) total += w;
  auto r = static_cast<unsigned>(rng.below(total));
  for (std::size_t i = 0; i < k_types.size(); ++i) {
    if (r < k_type_weights[i]) return k_types[i];
    r -= k_type_weights[i];
  }
  return k_types[0];
}

std::string ts_at(microseconds t) {
  const auto us = static_cast<long long>(t.count());
  char buf[48];
  std::snprintf(buf, sizeof buf, "2024-05-01T12:%02lld:%02lld.%06lldZ", (us / 60'000'000) % 60, (us / 1'000'000) % 60,
                us % 1'000'000);
  return buf;
}

std::string patch_value(prng& rng, std::string_view column) {
  if (column == "status") {
    constexpr std::array<std::string_view, 4> statuses = {"\"open\"", "\"in_progress\"", "\"approved\"", "\"done\""};
    return std::string(statuses[rng.below(statuses.size())]);
  }
  if (column == "note") return rng.below(4) == 0 ? "null" : "\"check pallet " + std::to_string(rng.below(100)) + "\"";
  if (column == "price") return std::to_string(rng.below(100000)) + ".5";
  if (column == "updated_at" || column == "due_date") return "\"2024-05-0" + std::to_string(1 + rng.below(9)) + "\"";
  return std::to_string(rng.below(10000));
}

struct doc_ref {
  std::string type;
  std::string id;
  friend auto operator<=>(const doc_ref&, const doc_ref&) = default;
};

struct stream {
  std::vector<std::string> encoded;
  std::vector<event> events;          // the same events, decoded
  std::vector<microseconds> arrival;  // virtual arrival time of each event
  std::size_t bytes = 0;
  cache_snapshot cache;  // what the client's cache holds when the stream starts
  std::string error;     // set when the stream could not be built: the benchmark is skipped
};

// A realistic stream of encoded events. Mix per 1000: update with covering patch 450, update with a patch
// that misses a changed key 100, update without changedKeys 50, approve 80, reject 20, create 120,
// delete 60, per-transaction summary 120. One update in 20 carries a version 50 behind (replays,
// reordering): stale against the cache while the doc is young. Arrivals are 1.2 ms apart on average
// (about 800 events/s into one client): bursts of back-to-back events with pauses of up to 20 ms.
const stream& realistic_stream() {
  static const stream s = [] {
    stream out;
    prng rng(k_seed);
    std::map<doc_ref, std::int64_t> versions;
    std::uint64_t next_created = 1'000'000;
    std::uint64_t offset = 1;
    microseconds now{0};

    auto doc_id = [&]() -> std::string {
      const bool hot = rng.below(100) < 70;
      return std::to_string(hot ? 1 + rng.below(k_hot_docs) : 1000 + rng.below(k_cold_docs));
    };

    // The cache holds every hot doc and a third of the cold ones; one in ten is being fetched.
    for (const std::string_view type : k_types) {
      for (std::uint64_t i = 1; i <= k_hot_docs; ++i) {
        versions[{std::string(type), std::to_string(i)}] = 100;
        out.cache.put(std::string(type), std::to_string(i), {100, rng.below(10) == 0});
      }
      for (std::uint64_t i = 1000; i < 1000 + k_cold_docs; ++i) {
        versions[{std::string(type), std::to_string(i)}] = 100;
        if (rng.below(3) == 0) out.cache.put(std::string(type), std::to_string(i), {100, rng.below(10) == 0});
      }
    }

    while (out.events.size() < k_stream_events) {
      // Bursts: mostly back-to-back, sometimes a pause of up to 20 ms.
      now += microseconds(static_cast<std::int64_t>(rng.below(10) == 0 ? rng.below(20000) : rng.below(500)));
      event e;
      e.type = std::string(pick_type(rng));
      e.factory_id = std::string(k_factories[rng.below(k_factories.size())]);
      e.ts = ts_at(now);
      e.offset = offset++;
      const auto roll = rng.below(1000);
      if (roll < 120) {  // summary of a bulk operation
        e.id = std::string(k_summary_id);
        constexpr std::array<action, 3> acts = {action::update, action::create, action::del};
        e.act = acts[rng.below(acts.size())];
        e.count = 2 + rng.below(10000);
      } else if (roll < 240) {  // create
        e.id = std::to_string(next_created++);
        e.act = action::create;
        e.version = 1;
      } else if (roll < 300) {  // delete
        e.id = doc_id();
        e.act = action::del;
      } else {  // update / approve / reject
        e.id = doc_id();
        std::int64_t& v = versions[{e.type, e.id}];
        v += 1;
        e.version = rng.below(20) == 0 ? v - 50 : v;
        std::vector<std::string> keys;
        if (roll < 380) {
          e.act = action::approve;
          keys = {"status", "updated_at"};
        } else if (roll < 400) {
          e.act = action::reject;
          keys = {"note", "status"};
        } else {
          e.act = action::update;
          const auto n = 1 + rng.below(3);
          for (std::uint64_t i = 0; i < n; ++i) {
            std::string c(k_columns[rng.below(k_columns.size())]);
            if (std::find(keys.begin(), keys.end(), c) == keys.end()) keys.push_back(std::move(c));
          }
        }
        const bool no_changed_keys = e.act == action::update && roll >= 950;
        const bool partial_patch = e.act == action::update && roll >= 850 && roll < 950;
        if (!no_changed_keys) {
          std::vector<patch_entry> patch;
          for (std::size_t i = 0; i < keys.size(); ++i) {
            if (partial_patch && i == 0) continue;  // a column the table's config does not send
            patch.push_back({keys[i], patch_value(rng, keys[i])});
          }
          std::sort(patch.begin(), patch.end(),
                    [](const patch_entry& a, const patch_entry& b) { return a.column < b.column; });
          e.changed_keys = std::move(keys);
          e.patch = std::move(patch);
        }
      }
      out.encoded.push_back(encode(e));
      out.bytes += out.encoded.back().size();
      out.events.push_back(std::move(e));
      out.arrival.push_back(now);
    }

    // Every generated event must be one the decoder accepts, or the pipeline figure would measure refusals.
    event_decoder decoder(doc_type_registry::defaults());
    for (std::size_t i = 0; i < out.encoded.size(); ++i) {
      auto decoded = decoder.decode(out.encoded[i]);
      if (!decoded) {
        out.error =
            "generated event " + std::to_string(i) + " refused: " + decoded.error().message + " in " + out.encoded[i];
        break;
      }
      out.events[i] = std::move(*decoded);
    }
    return out;
  }();
  return s;
}

const factory_scope& client_scope() {
  static const factory_scope scope = factory_scope::of({"f-berlin", "f-lyon", "f-porto"});
  return scope;
}

// --- codec -----------------------------------------------------------------------------------------------

void BM_DecodeEvent(benchmark::State& state) {
  event_decoder decoder(doc_type_registry::defaults());
  if (auto probe = decoder.decode(k_typical_event); !probe) {
    state.SkipWithError(("typical event refused: " + probe.error().message).c_str());
    return;
  }
  for (auto _ : state) {
    auto e = decoder.decode(k_typical_event);
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(k_typical_event.size()));
}
BENCHMARK(BM_DecodeEvent);

// A relay POST of 100 events in one array.
void BM_DecodeBatch100(benchmark::State& state) {
  const stream& s = realistic_stream();
  if (!s.error.empty()) return state.SkipWithError(s.error.c_str());
  std::string body = "[";
  for (std::size_t i = 0; i < 100; ++i) {
    if (i > 0) body += ',';
    body += s.encoded[i];
  }
  body += ']';
  event_decoder decoder(doc_type_registry::defaults());
  for (auto _ : state) {
    auto items = decoder.decode_batch(body);
    benchmark::DoNotOptimize(items);
  }
  state.SetItemsProcessed(state.iterations() * 100);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
BENCHMARK(BM_DecodeBatch100);

void BM_EncodeEvent(benchmark::State& state) {
  event_decoder decoder(doc_type_registry::defaults());
  auto e = decoder.decode(k_typical_event);
  if (!e) return state.SkipWithError(("typical event refused: " + e.error().message).c_str());
  const std::size_t size = encode(*e).size();
  for (auto _ : state) {
    std::string out = encode(*e);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}
BENCHMARK(BM_EncodeEvent);

// Appending into one reused buffer, as a writer batching many events does.
void BM_EncodeToReusedBuffer(benchmark::State& state) {
  event_decoder decoder(doc_type_registry::defaults());
  auto e = decoder.decode(k_typical_event);
  if (!e) return state.SkipWithError(("typical event refused: " + e.error().message).c_str());
  std::string out;
  for (auto _ : state) {
    out.clear();
    encode_to(out, *e);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK(BM_EncodeToReusedBuffer);

// --- channel keys ----------------------------------------------------------------------------------------

void BM_ParseChannelKey(benchmark::State& state) {
  const doc_type_registry types = doc_type_registry::defaults();
  const std::array<std::string_view, 4> keys = {"doc:wo:104857", "list:price_list:f-berlin", "factory:f-berlin",
                                                "doc:invoice:3f2504e0-4f89-11d3-9a0c-0305e82c3301"};
  std::int64_t bytes = 0;
  for (const std::string_view k : keys) {
    if (!parse_channel_key(k, types)) return state.SkipWithError("a benchmark channel key was refused");
    bytes += static_cast<std::int64_t>(k.size());
  }
  for (auto _ : state) {
    for (const std::string_view k : keys) {
      auto parsed = parse_channel_key(k, types);
      benchmark::DoNotOptimize(parsed);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(keys.size()));
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(BM_ParseChannelKey);

// --- coalescer -------------------------------------------------------------------------------------------

// A burst: 10,000 updates and approvals of a few docs (8 or 64), one every 100 us, so about 3,000 events
// fall in each 300 ms window; each offer is followed by take_due, as a loop without a timer would do.
void BM_CoalescerBurst(benchmark::State& state) {
  const auto docs = static_cast<std::uint64_t>(state.range(0));
  constexpr std::size_t n = 10000;
  prng rng(k_seed);
  std::vector<event> events;
  events.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    event e;
    e.type = "wo";
    e.id = std::to_string(1 + rng.below(docs));
    e.factory_id = "f-berlin";
    e.act = rng.below(10) == 0 ? action::approve : action::update;
    e.version = static_cast<std::int64_t>(i);
    e.changed_keys = std::vector<std::string>{"qty_done"};
    e.patch = std::vector<patch_entry>{{"qty_done", std::to_string(i)}};
    events.push_back(std::move(e));
  }
  std::size_t batches = 0;
  std::size_t flushed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<event> input = events;  // offer() consumes its event
    coalescer c;
    time_point now{};
    state.ResumeTiming();
    for (event& e : input) {
      now += microseconds(100);
      c.offer(std::move(e), now);
      batch b = c.take_due(now);
      if (!b.empty()) {
        ++batches;
        flushed += b.events.size();
      }
      benchmark::DoNotOptimize(b);
    }
    batch last = c.flush();
    flushed += last.events.size();
    benchmark::DoNotOptimize(last);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
  state.counters["batches_per_run"] =
      benchmark::Counter(static_cast<double>(batches), benchmark::Counter::kAvgIterations);
  state.counters["events_out_per_run"] =
      benchmark::Counter(static_cast<double>(flushed), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_CoalescerBurst)->Arg(8)->Arg(64)->ArgName("docs");

// --- planner ---------------------------------------------------------------------------------------------

// One window's worth of the realistic stream, coalesced, planned against the cache snapshot.
void BM_PlanBatch(benchmark::State& state) {
  const stream& s = realistic_stream();
  if (!s.error.empty()) return state.SkipWithError(s.error.c_str());
  coalescer c;
  const auto start = s.arrival.front();
  std::size_t offered = 0;
  for (std::size_t i = 0; i < s.events.size() && s.arrival[i] - start < c.window(); ++i, ++offered) {
    c.offer(s.events[i], time_point{} + s.arrival[i]);
  }
  const batch b = c.flush();
  std::size_t ops = 0;
  for (auto _ : state) {
    plan p = plan_batch(b, client_scope(), s.cache);
    ops = p.ops.size();
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(b.events.size()));
  state.counters["events_offered"] = static_cast<double>(offered);
  state.counters["events_in_batch"] = static_cast<double>(b.events.size());
  state.counters["ops"] = static_cast<double>(ops);
}
BENCHMARK(BM_PlanBatch);

// --- the whole client-side pipeline ----------------------------------------------------------------------

// Encoded events in, cache operations out: decode each message as it arrives, offer it to the coalescer,
// and when the window's timer fires plan the batch against the cache. The timer is simulated from the
// virtual arrival times, so batches are exactly what a real client would see at that arrival rate.
void BM_Pipeline(benchmark::State& state) {
  const stream& s = realistic_stream();
  if (!s.error.empty()) return state.SkipWithError(s.error.c_str());
  event_decoder decoder(doc_type_registry::defaults());
  std::size_t refused = 0;
  std::size_t batches = 0;
  std::size_t ops = 0;
  std::size_t dropped = 0;
  auto run_plan = [&](const batch& b) {
    plan p = plan_batch(b, client_scope(), s.cache);
    ++batches;
    ops += p.ops.size();
    for (const operation& op : p.ops) dropped += op.kind == op_kind::drop ? 1 : 0;
    benchmark::DoNotOptimize(p);
  };
  for (auto _ : state) {
    coalescer c;
    for (std::size_t i = 0; i < s.encoded.size(); ++i) {
      const time_point now = time_point{} + s.arrival[i];
      if (const auto due = c.deadline(); due && *due <= now) run_plan(c.take_due(*due));
      auto e = decoder.decode(s.encoded[i]);
      if (!e) {
        ++refused;
        continue;
      }
      c.offer(std::move(*e), now);
    }
    if (c.pending() > 0) run_plan(c.flush());
  }
  if (refused > 0) state.SkipWithError("the decoder refused events of the generated stream");
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(s.encoded.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(s.bytes));
  const auto per_run = benchmark::Counter::kAvgIterations;
  state.counters["batches_per_run"] = benchmark::Counter(static_cast<double>(batches), per_run);
  state.counters["ops_per_run"] = benchmark::Counter(static_cast<double>(ops), per_run);
  state.counters["drops_per_run"] = benchmark::Counter(static_cast<double>(dropped), per_run);
}
BENCHMARK(BM_Pipeline)->Unit(benchmark::kMillisecond);

}  // namespace
