// Loading and converting conformance vectors (see conformance_vectors.hpp).
#include "conformance_vectors.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace rtcache::conformance {

namespace fs = std::filesystem;
using namespace rtcache::core;

namespace {

bool is_safe_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'; });
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A patch value as a JSON value; text the parser refuses is kept visibly rather than hidden.
json::value patch_value(const std::string& text) {
  std::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return json::value("<not JSON: " + text + ">");
  return v;
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

}  // namespace

const std::vector<std::string>& known_suites() {
  static const std::vector<std::string> suites = {"channel_keys", "cache_keys", "events", "plan",
                                                  "coalesce",     "version",    "scope",  "client"};
  return suites;
}

void PrintTo(const vector_case& c, std::ostream* os) {
  *os << c.file;
}

corpus load_corpus(const fs::path& dir) {
  corpus out;
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
      root = json::parse(read_text(path));
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
}

const corpus& vectors() {
  static const corpus loaded = load_corpus(fs::path(RTCACHE_SOURCE_DIR) / "spec" / "vectors");
  return loaded;
}

std::vector<std::string> corpus_faults(const corpus& c) {
  std::vector<std::string> faults = c.problems;
  for (const std::string& suite : known_suites()) {
    const auto it = c.per_suite.find(suite);
    if (it == c.per_suite.end() || it->second == 0) faults.push_back("no cases for suite " + suite);
  }
  if (c.cases.size() < k_min_total_cases) {
    faults.push_back(std::to_string(c.cases.size()) + " cases in total, fewer than " +
                     std::to_string(k_min_total_cases) + ": a vector file is missing or was emptied");
  }
  return faults;
}

std::vector<vector_case> cases_of(const std::string& suite) {
  std::vector<vector_case> out;
  for (const vector_case& c : vectors().cases) {
    if (c.suite == suite) out.push_back(c);
  }
  return out;
}

std::string case_name(const testing::TestParamInfo<vector_case>& info) {
  return info.param.name;
}

void schema_error(const std::string& what) {
  throw std::runtime_error("vector schema: " + what);
}

std::string str(const json::value& v) {
  const json::string& s = v.as_string();
  return std::string(s.data(), s.size());
}

const json::value& need(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) schema_error("missing \"" + std::string(key) + "\" in " + json::serialize(o));
  return *v;
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

batch batch_from_json(const json::object& o) {
  batch b;
  for (const json::value& e : need(o, "events").as_array()) b.events.push_back(event_from_json(e));
  if (const json::value* r = o.if_contains("resync")) b.resync = r->as_bool();
  b.absorbed = opt_number<std::uint64_t>(o, "absorbed").value_or(0);
  return b;
}

coalescer_config coalescer_config_from(const vector_case& c) {
  coalescer_config config;
  if (const json::value* v = c.data.if_contains("config")) {
    const json::object& o = v->as_object();
    if (auto w = opt_number<std::int64_t>(o, "windowMs")) config.window = std::chrono::milliseconds(*w);
    if (auto m = opt_number<std::size_t>(o, "maxPending")) config.max_pending = *m;
  }
  return config;
}

std::vector<coalesce_step> coalesce_steps(const vector_case& c) {
  std::vector<coalesce_step> out;
  std::int64_t now_ms = 0;
  for (const json::value& v : need(c.data, "steps").as_array()) {
    const json::object& o = v.as_object();
    coalesce_step step;
    step.text = json::serialize(o);
    step.at_ms = need(o, "at").to_number<std::int64_t>();
    if (step.at_ms < now_ms) schema_error("steps go back in time: " + step.text);
    now_ms = step.at_ms;
    const int kinds = int{o.contains("offer")} + int{o.contains("tick")} + int{o.contains("flush")};
    if (kinds != 1) schema_error("a step needs exactly one of offer, tick or flush: " + step.text);
    if (const json::value* e = o.if_contains("offer")) {
      step.what = coalesce_step::kind::offer;
      step.offered = event_from_json(*e);
    } else {
      step.what = o.contains("tick") ? coalesce_step::kind::tick : coalesce_step::kind::flush;
    }
    if (const json::value* d = o.if_contains("expectDeadline")) {
      step.expect_deadline = d->is_null() ? std::optional<std::int64_t>() : d->to_number<std::int64_t>();
    }
    step.expect_pending = opt_number<std::size_t>(o, "expectPending");
    out.push_back(std::move(step));
  }
  return out;
}

json::object patch_to_json(const std::vector<patch_entry>& entries) {
  json::object o;
  for (const patch_entry& p : entries) o[p.column] = patch_value(p.json_value);
  return o;
}

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

json::value plan_to_json(const plan& p) {
  json::array a;
  for (const operation& op : p.ops) a.push_back(operation_to_json(op));
  return a;
}

json::value batch_to_json(std::int64_t at_ms, const batch& b) {
  json::array events;
  for (const event& e : b.events) events.push_back(event_to_json(e));
  return json::object{{"at", at_ms}, {"events", std::move(events)}, {"resync", b.resync}, {"absorbed", b.absorbed}};
}

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

json::value normalize_batches(const json::value& batches) {
  json::array out;
  for (const json::value& bv : batches.as_array()) {
    const json::object& b = bv.as_object();
    out.push_back(batch_to_json(need(b, "at").to_number<std::int64_t>(), batch_from_json(b)));
  }
  return out;
}

}  // namespace rtcache::conformance
