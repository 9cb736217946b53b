// Runs the language-neutral conformance vectors of spec/vectors/ (format: spec/vectors/README.md) through the
// public core API. The TypeScript SDK runs the same files, so both SDKs agree on keys, codec, plan and timing.
#include "rtcache/core/cache_key.hpp"
#include "rtcache/core/channel_key.hpp"
#include "rtcache/core/clock.hpp"
#include "rtcache/core/coalescer.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/event.hpp"
#include "rtcache/core/event_codec.hpp"
#include "rtcache/core/factory_scope.hpp"
#include "rtcache/core/planner.hpp"
#include "rtcache/core/version_guard.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace rtcache::core;

// ------------------------------------------------------------------------------------------------ loading

// Every suite the vectors must provide, by its "suite" name.
const std::vector<std::string>& known_suites() {
  static const std::vector<std::string> suites = {"channel_keys", "cache_keys", "events", "plan",
                                                  "coalesce",     "version",    "scope"};
  return suites;
}

constexpr std::size_t k_min_total_cases = 50;

struct vector_case {
  std::string suite;
  std::string file;
  std::string name;
  json::object data;  // the case object
  json::object meta;  // the suite's top-level fields other than "cases" (e.g. docTypes)
};

// Short on purpose: the case name is already the test name, and CTest copies this text into each test name.
void PrintTo(const vector_case& c, std::ostream* os) {
  *os << c.file;
}

struct corpus {
  std::vector<vector_case> cases;
  std::vector<std::string> problems;  // files or cases that do not follow README.md
  std::map<std::string, std::size_t> per_suite;
};

bool is_safe_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'; });
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string str(const json::value& v) {
  const json::string& s = v.as_string();
  return std::string(s.data(), s.size());
}

// Loads every *.json under spec/vectors once. Never throws: problems are collected and reported by a test,
// because this runs while tests are being registered.
const corpus& load_corpus() {
  static const corpus loaded = [] {
    corpus out;
    const fs::path dir = fs::path(RTCACHE_SOURCE_DIR) / "spec" / "vectors";
    std::error_code ec;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().extension() == ".json") files.push_back(it->path());
    }
    if (ec) out.problems.push_back("cannot list " + dir.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    std::set<std::string> seen_names;
    for (const fs::path& path : files) {
      const std::string file = path.filename().string();
      json::value root;
      try {
        root = json::parse(read_file(path));
      } catch (const std::exception& e) {
        out.problems.push_back(file + ": not valid JSON: " + e.what());
        continue;
      }
      const json::object* obj = root.if_object();
      const json::value* suite_v = obj ? obj->if_contains("suite") : nullptr;
      const json::value* cases_v = obj ? obj->if_contains("cases") : nullptr;
      if (!suite_v || !suite_v->is_string() || !cases_v || !cases_v->is_array() || !obj->contains("description")) {
        out.problems.push_back(file + ": needs {\"suite\": string, \"description\": ..., \"cases\": [...]}");
        continue;
      }
      const std::string suite = str(*suite_v);
      if (std::find(known_suites().begin(), known_suites().end(), suite) == known_suites().end()) {
        out.problems.push_back(file + ": unknown suite \"" + suite + "\"");
        continue;
      }
      json::object meta = *obj;
      meta.erase("cases");
      for (const json::value& cv : cases_v->as_array()) {
        const json::object* co = cv.if_object();
        const json::value* name_v = co ? co->if_contains("name") : nullptr;
        if (!name_v || !name_v->is_string()) {
          out.problems.push_back(file + ": a case without a string \"name\"");
          continue;
        }
        std::string name = str(*name_v);
        if (!is_safe_name(name)) out.problems.push_back(file + ": case name \"" + name + "\" is not [a-z0-9_]+");
        if (!seen_names.insert(name).second) {
          out.problems.push_back(file + ": case name \"" + name + "\" is used twice");
          name += "_duplicate_" + std::to_string(out.cases.size());
        }
        // Test names must be identifier-safe for GoogleTest; the check above reports the original.
        for (char& ch : name) {
          if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) ch = '_';
        }
        out.cases.push_back(vector_case{suite, file, std::move(name), *co, meta});
        ++out.per_suite[suite];
      }
    }
    return out;
  }();
  return loaded;
}

std::vector<vector_case> cases_of(const std::string& suite) {
  std::vector<vector_case> out;
  for (const vector_case& c : load_corpus().cases) {
    if (c.suite == suite) out.push_back(c);
  }
  return out;
}

std::string case_name(const testing::TestParamInfo<vector_case>& info) {
  return info.param.name;
}

// ------------------------------------------------------------------------------------------------ helpers

[[noreturn]] void schema_error(const std::string& what) {
  throw std::runtime_error("vector schema: " + what);
}

const json::value& need(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) schema_error("missing \"" + std::string(key) + "\" in " + json::serialize(o));
  return *v;
}

// An absent key and an explicit null both mean "no value".
template <class T>
std::optional<T> opt_number(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  return v->to_number<T>();
}

std::string describe(const error& e) {
  return std::string(to_string(e.code)) + ": " + e.message;
}

doc_type_registry registry_for(const vector_case& c) {
  const json::value* types = c.meta.if_contains("docTypes");
  if (const json::value* own = c.data.if_contains("docTypes")) types = own;
  if (!types) return doc_type_registry::defaults();
  std::vector<std::string> names;
  for (const json::value& t : types->as_array()) names.push_back(str(t));
  auto reg = doc_type_registry::from(names);
  if (!reg) schema_error("docTypes refused by doc_type_registry::from: " + describe(reg.error()));
  return *reg;
}

factory_scope scope_from(const json::value& v) {
  const json::object& o = v.as_object();
  if (const json::value* u = o.if_contains("unscoped"); u && u->as_bool()) return factory_scope::unscoped();
  std::vector<std::string> ids;
  for (const json::value& f : need(o, "factories").as_array()) ids.push_back(str(f));
  return factory_scope::of(std::move(ids));
}

// A contract event written as a JSON object in a vector (camelCase, as the codec reads it), built field by
// field so plan and coalesce vectors do not depend on the decoder.
event event_from_json(const json::value& v) {
  const json::object& o = v.as_object();
  static const std::set<std::string, std::less<>> fields = {"type",    "id", "factoryId", "action", "changedKeys",
                                                            "version", "ts", "patch",     "offset", "count"};
  for (const auto& kv : o) {
    if (!fields.contains(std::string_view(kv.key().data(), kv.key().size()))) {
      schema_error("unknown event field \"" + std::string(kv.key()) + "\"");
    }
  }
  event e;
  e.type = str(need(o, "type"));
  e.id = str(need(o, "id"));
  e.factory_id = str(need(o, "factoryId"));
  const std::string act = str(need(o, "action"));
  auto parsed = parse_action(act);
  if (!parsed) schema_error("action \"" + act + "\" refused by parse_action: " + describe(parsed.error()));
  e.act = *parsed;
  if (const json::value* ck = o.if_contains("changedKeys"); ck && !ck->is_null()) {
    std::vector<std::string> keys;
    for (const json::value& k : ck->as_array()) keys.push_back(str(k));
    e.changed_keys = std::move(keys);
  }
  e.version = opt_number<std::int64_t>(o, "version");
  if (const json::value* ts = o.if_contains("ts"); ts && !ts->is_null()) e.ts = str(*ts);
  if (const json::value* p = o.if_contains("patch"); p && !p->is_null()) {
    std::vector<patch_entry> entries;
    for (const auto& kv : p->as_object())
      entries.push_back(patch_entry{std::string(kv.key()), json::serialize(kv.value())});
    std::sort(entries.begin(), entries.end(),
              [](const patch_entry& a, const patch_entry& b) { return a.column < b.column; });
    e.patch = std::move(entries);
  }
  e.offset = opt_number<std::uint64_t>(o, "offset");
  e.count = opt_number<std::uint64_t>(o, "count");
  return e;
}

// A patch value as a JSON value; text the parser refuses is kept visibly rather than hidden.
json::value patch_value(const std::string& text) {
  std::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return json::value("<not JSON: " + text + ">");
  return v;
}

json::object patch_to_json(const std::vector<patch_entry>& entries) {
  json::object o;
  for (const patch_entry& p : entries) o[p.column] = patch_value(p.json_value);
  return o;
}

// An event as a vector writes it. changedKeys sorted: the coalesce vectors compare them as a set.
json::value event_to_json(const event& e) {
  json::object o;
  o["type"] = e.type;
  o["id"] = e.id;
  o["factoryId"] = e.factory_id;
  o["action"] = to_string(e.act);
  if (e.changed_keys) {
    std::vector<std::string> keys = *e.changed_keys;
    std::sort(keys.begin(), keys.end());
    json::array a;
    for (const std::string& k : keys) a.emplace_back(k);
    o["changedKeys"] = std::move(a);
  }
  if (e.version) o["version"] = *e.version;
  if (e.ts) o["ts"] = *e.ts;
  if (e.patch) o["patch"] = patch_to_json(*e.patch);
  if (e.offset) o["offset"] = *e.offset;
  if (e.count) o["count"] = *e.count;
  return o;
}

json::value cache_key_to_json(const cache_key& k) {
  if (k.kind == cache_key_kind::doc) return json::array{"doc", k.type, k.id};
  return json::array{"list", k.type, k.factory_id, json::object{{"page", k.page}}};
}

json::value operation_to_json(const operation& op) {
  json::object o;
  o["op"] = to_string(op.kind);
  if (op.key) o["key"] = cache_key_to_json(*op.key);
  if (op.kind == op_kind::patch || !op.set.empty()) o["set"] = patch_to_json(op.set);
  if (op.version) o["version"] = *op.version;
  if (op.after_fetch) o["afterFetch"] = true;
  if (op.reason) o["reason"] = to_string(*op.reason);
  return o;
}

json::value plan_to_json(const plan& p) {
  json::array a;
  for (const operation& op : p.ops) a.push_back(operation_to_json(op));
  return a;
}

// Expected ops as written, with "afterFetch": false treated as absent.
json::value normalize_ops(const json::value& ops) {
  json::array out;
  for (const json::value& v : ops.as_array()) {
    json::object o = v.as_object();
    if (const json::value* af = o.if_contains("afterFetch"); af && af->is_bool() && !af->as_bool())
      o.erase("afterFetch");
    out.push_back(std::move(o));
  }
  return out;
}

time_point at_ms(std::int64_t ms) {
  return time_point{} + std::chrono::milliseconds(ms);
}

// ------------------------------------------------------------------------------------------------ suites

class ConformanceChannelKeys : public testing::TestWithParam<vector_case> {};
class ConformanceCacheKeys : public testing::TestWithParam<vector_case> {};
class ConformanceEvents : public testing::TestWithParam<vector_case> {};
class ConformanceVersionGuard : public testing::TestWithParam<vector_case> {};
class ConformanceScope : public testing::TestWithParam<vector_case> {};
class ConformancePlanner : public testing::TestWithParam<vector_case> {};
class ConformanceCoalescer : public testing::TestWithParam<vector_case> {};

#define RTCACHE_TRACE_CASE(c) SCOPED_TRACE((c).file + ": " + (c).name + "\n  case: " + json::serialize((c).data))

TEST_P(ConformanceChannelKeys, ParsesFormatsOrRefusesAsSpecified) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  const doc_type_registry types = registry_for(c);

  if (const json::value* f = c.data.if_contains("format")) {
    const json::object& parts = f->as_object();
    const std::string kind = str(need(parts, "kind"));
    channel_key key;
    if (kind == "factory") {
      key = channel_key::factory(str(need(parts, "factoryId")));
    } else if (kind == "doc") {
      key = channel_key::doc(str(need(parts, "type")), str(need(parts, "id")));
    } else if (kind == "list") {
      key = channel_key::list(str(need(parts, "type")), str(need(parts, "factoryId")));
    } else {
      schema_error("unknown kind " + kind);
    }
    const std::string text = str(need(c.data, "text"));
    EXPECT_EQ(key.format(), text);
    auto back = parse_channel_key(text, types);
    ASSERT_TRUE(back.has_value()) << describe(back.error());
    EXPECT_EQ(*back, key) << "parse(format(k)) != k";
    return;
  }

  const std::string input = str(need(c.data, "input"));
  auto parsed = parse_channel_key(input, types);
  if (const json::value* err = c.data.if_contains("error")) {
    ASSERT_FALSE(parsed.has_value()) << "accepted as " << parsed->format();
    EXPECT_EQ(to_string(parsed.error().code), str(*err)) << parsed.error().message;
    EXPECT_FALSE(parsed.error().message.empty()) << "a refusal carries a message";
    return;
  }
  ASSERT_TRUE(parsed.has_value()) << describe(parsed.error());
  const json::object& want = need(c.data, "key").as_object();
  const auto field = [&](std::string_view k) {
    const json::value* v = want.if_contains(k);
    return v ? str(*v) : std::string();
  };
  EXPECT_EQ(to_string(parsed->kind), field("kind"));
  EXPECT_EQ(parsed->type, field("type"));
  EXPECT_EQ(parsed->id, field("id"));
  EXPECT_EQ(parsed->factory_id, field("factoryId"));
  EXPECT_EQ(parsed->format(), input) << "format(parse(text)) != text";
}

TEST_P(ConformanceCacheKeys, MapsToTheSpecifiedJsonArray) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  const std::string fn = str(need(c.data, "fn"));
  const json::object& args = need(c.data, "args").as_object();
  cache_key key;
  if (fn == "doc") {
    key = key_doc(str(need(args, "type")), str(need(args, "id")));
  } else if (fn == "list") {
    if (auto page = opt_number<std::uint32_t>(args, "page")) {
      key = key_list(str(need(args, "type")), str(need(args, "factoryId")), *page);
    } else {
      key = key_list(str(need(args, "type")), str(need(args, "factoryId")));
    }
  } else if (fn == "listHeads") {
    key = key_list_heads(str(need(args, "type")), str(need(args, "factoryId")));
  } else {
    schema_error("unknown fn " + fn);
  }
  const std::string text = key.to_json();
  EXPECT_EQ(text, str(need(c.data, "json")));
  std::error_code ec;
  const json::value parsed = json::parse(text, ec);
  ASSERT_FALSE(ec) << "to_json() is not JSON: " << text;
  EXPECT_EQ(parsed, need(c.data, "key")) << "to_json() = " << text;
  EXPECT_EQ(cache_key_to_json(key), need(c.data, "key")) << "fields = " << json::serialize(cache_key_to_json(key));
}

void apply_limits(codec_limits& limits, const json::object& o) {
  static const std::map<std::string, std::size_t codec_limits::*, std::less<>> names = {
      {"maxEventBytes", &codec_limits::max_event_bytes},     {"maxBatchBytes", &codec_limits::max_batch_bytes},
      {"maxBatchItems", &codec_limits::max_batch_items},     {"maxChangedKeys", &codec_limits::max_changed_keys},
      {"maxPatchEntries", &codec_limits::max_patch_entries}, {"maxColumnLength", &codec_limits::max_column_length},
      {"maxTsLength", &codec_limits::max_ts_length},         {"maxDepth", &codec_limits::max_depth},
  };
  for (const auto& kv : o) {
    const auto it = names.find(std::string_view(kv.key().data(), kv.key().size()));
    if (it == names.end()) schema_error("unknown limit " + std::string(kv.key()));
    limits.*(it->second) = kv.value().to_number<std::size_t>();
  }
}

// An accepted event: encodes to `canonical`, and the canonical text decodes to the same event again.
void expect_canonical(event_decoder& decoder, const event& e, const std::string& canonical) {
  EXPECT_EQ(encode(e), canonical);
  std::string buffer = "[";
  encode_to(buffer, e);
  EXPECT_EQ(buffer, "[" + canonical) << "encode_to appends the canonical encoding";
  auto again = decoder.decode(canonical);
  ASSERT_TRUE(again.has_value()) << "canonical form refused: " << describe(again.error());
  EXPECT_EQ(*again, e) << "decode(canonical) differs from the first decode";
  EXPECT_EQ(encode(*again), canonical) << "encoding is not idempotent";
}

TEST_P(ConformanceEvents, DecodesToCanonicalOrRefusesWithTheSpecifiedCode) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  codec_limits limits;
  if (const json::value* l = c.data.if_contains("limits")) apply_limits(limits, l->as_object());
  event_decoder decoder(registry_for(c), limits);

  if (const json::value* batch_input = c.data.if_contains("batchInput")) {
    auto items = decoder.decode_batch(str(*batch_input));
    if (const json::value* err = c.data.if_contains("error")) {
      ASSERT_FALSE(items.has_value()) << "batch accepted with " << items->size() << " items";
      EXPECT_EQ(to_string(items.error().code), str(*err)) << items.error().message;
      return;
    }
    ASSERT_TRUE(items.has_value()) << describe(items.error());
    const json::array& want = need(c.data, "items").as_array();
    ASSERT_EQ(items->size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      SCOPED_TRACE("item " + std::to_string(i));
      const json::object& w = want[i].as_object();
      const batch_item& got = (*items)[i];
      EXPECT_EQ(got.index, need(w, "index").to_number<std::size_t>());
      if (const json::value* err = w.if_contains("error")) {
        ASSERT_FALSE(got.outcome.has_value()) << "accepted as " << encode(*got.outcome);
        EXPECT_EQ(to_string(got.outcome.error().code), str(*err)) << got.outcome.error().message;
      } else {
        ASSERT_TRUE(got.outcome.has_value()) << describe(got.outcome.error());
        expect_canonical(decoder, *got.outcome, str(need(w, "canonical")));
      }
    }
    return;
  }

  auto decoded = decoder.decode(str(need(c.data, "input")));
  if (const json::value* err = c.data.if_contains("error")) {
    ASSERT_FALSE(decoded.has_value()) << "accepted as " << encode(*decoded);
    EXPECT_EQ(to_string(decoded.error().code), str(*err)) << decoded.error().message;
    EXPECT_FALSE(decoded.error().message.empty()) << "a refusal carries a message";
    return;
  }
  ASSERT_TRUE(decoded.has_value()) << describe(decoded.error());
  expect_canonical(decoder, *decoded, str(need(c.data, "canonical")));
}

TEST_P(ConformanceVersionGuard, GivesTheSpecifiedVerdict) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  const version_verdict got =
      check_version(opt_number<std::int64_t>(c.data, "incoming"), opt_number<std::int64_t>(c.data, "cached"));
  EXPECT_EQ(got == version_verdict::stale ? "stale" : "apply", str(need(c.data, "verdict")));
}

TEST_P(ConformanceScope, ContainsExactlyTheSpecifiedFactories) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  const json::value& spec = need(c.data, "scope");
  const factory_scope scope = scope_from(spec);
  const json::value* u = spec.as_object().if_contains("unscoped");
  EXPECT_EQ(scope.is_unscoped(), u != nullptr && u->as_bool());
  for (const json::value& check : need(c.data, "checks").as_array()) {
    const std::string id = str(need(check.as_object(), "factoryId"));
    EXPECT_EQ(scope.contains(id), need(check.as_object(), "contains").as_bool()) << "factoryId \"" << id << "\"";
  }
  if (const json::value* ids = c.data.if_contains("factoryIds")) {
    std::vector<std::string> want;
    for (const json::value& id : ids->as_array()) want.push_back(str(id));
    EXPECT_EQ(scope.factory_ids(), want);
  }
}

TEST_P(ConformancePlanner, PlansExactlyTheSpecifiedOps) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  const factory_scope scope = scope_from(need(c.data, "scope"));
  cache_snapshot cache;
  for (const json::value& d : need(c.data, "cache").as_array()) {
    const json::object& o = d.as_object();
    cached_doc_state state;
    state.version = opt_number<std::int64_t>(o, "version");
    if (const json::value* f = o.if_contains("fetching")) state.fetching = f->as_bool();
    if (const json::value* f = o.if_contains("hasData")) state.has_data = f->as_bool();
    cache.put(str(need(o, "type")), str(need(o, "id")), state);
  }

  plan got;
  if (const json::value* ev = c.data.if_contains("event")) {
    got = plan_event(event_from_json(*ev), scope, cache);
  } else {
    const json::object& b = need(c.data, "batch").as_object();
    batch in;
    for (const json::value& ev_in : need(b, "events").as_array()) in.events.push_back(event_from_json(ev_in));
    if (const json::value* r = b.if_contains("resync")) in.resync = r->as_bool();
    in.absorbed = opt_number<std::uint64_t>(b, "absorbed").value_or(0);
    got = plan_batch(in, scope, cache);
  }
  const json::value want = normalize_ops(need(c.data, "ops"));
  const json::value actual = plan_to_json(got);
  EXPECT_EQ(actual, want) << "\n  expected ops: " << json::serialize(want)
                          << "\n  actual ops:   " << json::serialize(actual);
}

json::value batch_to_json(std::int64_t at, const batch& b) {
  json::array events;
  for (const event& e : b.events) events.push_back(event_to_json(e));
  return json::object{{"at", at}, {"events", std::move(events)}, {"resync", b.resync}, {"absorbed", b.absorbed}};
}

// Expected batches through the same normalisation as actual ones (changedKeys as a set, patch as an object).
json::value normalize_batches(const json::value& batches) {
  json::array out;
  for (const json::value& bv : batches.as_array()) {
    const json::object& b = bv.as_object();
    json::array events;
    for (const json::value& e : need(b, "events").as_array()) events.push_back(event_to_json(event_from_json(e)));
    const json::value* resync = b.if_contains("resync");
    out.push_back(json::object{{"at", need(b, "at").to_number<std::int64_t>()},
                               {"events", std::move(events)},
                               {"resync", resync != nullptr && resync->as_bool()},
                               {"absorbed", opt_number<std::uint64_t>(b, "absorbed").value_or(0)}});
  }
  return out;
}

TEST_P(ConformanceCoalescer, EmitsExactlyTheSpecifiedBatches) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  coalescer_config config;
  if (const json::value* cfg_v = c.data.if_contains("config")) {
    const json::object& cfg = cfg_v->as_object();
    if (auto w = opt_number<std::int64_t>(cfg, "windowMs")) config.window = std::chrono::milliseconds(*w);
    if (auto m = opt_number<std::size_t>(cfg, "maxPending")) config.max_pending = *m;
  }
  coalescer co(config);
  if (auto w = opt_number<std::int64_t>(c.data, "expectWindowMs")) {
    EXPECT_EQ(co.window().count(), *w);
  }

  manual_clock clock;
  std::int64_t now_ms = 0;
  json::array emitted;
  const json::array& steps = need(c.data, "steps").as_array();
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const json::object& step = steps[i].as_object();
    const std::int64_t at = need(step, "at").to_number<std::int64_t>();
    SCOPED_TRACE("step " + std::to_string(i) + " at " + std::to_string(at) + " ms: " + json::serialize(step));
    if (at < now_ms) schema_error("steps go back in time");
    clock.advance(std::chrono::milliseconds(at - now_ms));
    now_ms = at;
    ASSERT_EQ(clock.now(), at_ms(at));

    batch out;
    if (const json::value* e = step.if_contains("offer")) {
      co.offer(event_from_json(*e), clock.now());
    } else if (step.contains("tick")) {
      out = co.take_due(clock.now());
    } else if (step.contains("flush")) {
      out = co.flush();
    } else {
      schema_error("a step needs offer, tick or flush");
    }
    if (!out.empty()) {
      for (const event& e : out.events) {
        if (e.patch) {
          EXPECT_TRUE(std::is_sorted(e.patch->begin(), e.patch->end(), [](const patch_entry& a, const patch_entry& b) {
            return a.column < b.column;
          })) << "merged patch is not sorted by column";
        }
      }
      emitted.push_back(batch_to_json(at, out));
    }
    if (const json::value* d = step.if_contains("expectDeadline")) {
      if (d->is_null()) {
        EXPECT_FALSE(co.deadline().has_value()) << "deadline should be none";
      } else {
        ASSERT_TRUE(co.deadline().has_value()) << "deadline should be " << json::serialize(*d) << " ms";
        EXPECT_EQ(*co.deadline() - time_point{}, at_ms(d->to_number<std::int64_t>()) - time_point{})
            << "deadline should be " << json::serialize(*d) << " ms";
      }
    }
    if (auto p = opt_number<std::size_t>(step, "expectPending")) {
      EXPECT_EQ(co.pending(), *p);
    }
  }
  const json::value want = normalize_batches(need(c.data, "batches"));
  const json::value actual(std::move(emitted));
  EXPECT_EQ(actual, want) << "\n  expected batches: " << json::serialize(want)
                          << "\n  actual batches:   " << json::serialize(actual);
}

INSTANTIATE_TEST_SUITE_P(Vectors, ConformanceChannelKeys, testing::ValuesIn(cases_of("channel_keys")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ConformanceCacheKeys, testing::ValuesIn(cases_of("cache_keys")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ConformanceEvents, testing::ValuesIn(cases_of("events")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ConformanceVersionGuard, testing::ValuesIn(cases_of("version")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ConformanceScope, testing::ValuesIn(cases_of("scope")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ConformancePlanner, testing::ValuesIn(cases_of("plan")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ConformanceCoalescer, testing::ValuesIn(cases_of("coalesce")), case_name);

// ------------------------------------------------------------------------------------------------ the corpus

TEST(ConformanceVectors, EveryFileFollowsTheFormatWithUniqueSafeNames) {
  for (const std::string& problem : load_corpus().problems) ADD_FAILURE() << problem;
}

TEST(ConformanceVectors, EverySuiteIsPresentWithAtLeastFiftyCasesInTotal) {
  const corpus& all = load_corpus();
  for (const std::string& suite : known_suites()) {
    const auto it = all.per_suite.find(suite);
    EXPECT_TRUE(it != all.per_suite.end() && it->second > 0) << "no cases for suite " << suite;
  }
  EXPECT_GE(all.cases.size(), k_min_total_cases) << "a vector file is missing or was emptied";
}

// The vectors name ops, drop reasons, kinds and actions by the core's stable to_string names.
TEST(ConformanceVectors, VocabularyMatchesTheCoreNames) {
  EXPECT_EQ(to_string(op_kind::invalidate), "invalidate");
  EXPECT_EQ(to_string(op_kind::patch), "patch");
  EXPECT_EQ(to_string(op_kind::refetch_list_head), "refetch_list_head");
  EXPECT_EQ(to_string(op_kind::resync), "resync");
  EXPECT_EQ(to_string(op_kind::drop), "drop");
  EXPECT_EQ(to_string(drop_reason::out_of_scope), "out_of_scope");
  EXPECT_EQ(to_string(drop_reason::stale_version), "stale_version");
  EXPECT_EQ(to_string(drop_reason::not_cached), "not_cached");
  EXPECT_EQ(to_string(channel_kind::factory), "factory");
  EXPECT_EQ(to_string(channel_kind::doc), "doc");
  EXPECT_EQ(to_string(channel_kind::list), "list");
  EXPECT_EQ(to_string(action::del), "delete");
}

}  // namespace
