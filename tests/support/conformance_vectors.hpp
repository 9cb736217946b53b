// Test support for the C++ conformance suites (src/core/conformance_test.cpp against core, and
// src/client/conformance_test.cpp against the SDK): it decides what a well-formed vector file is
// (spec/vectors/README.md), loads the corpus once, and converts between the vectors' JSON and core's types.
// Each suite decides what a case asserts. Not part of any library that ships.
#pragma once

#include "rtcache/core/cache_key.hpp"
#include "rtcache/core/coalescer.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/event.hpp"
#include "rtcache/core/event_codec.hpp"
#include "rtcache/core/factory_scope.hpp"
#include "rtcache/core/planner.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::conformance {

namespace json = boost::json;

// Every suite the vectors must provide, by its "suite" name.
const std::vector<std::string>& known_suites();

// A missing or emptied file must fail the run, not shrink it.
inline constexpr std::size_t k_min_total_cases = 50;

struct vector_case {
  std::string suite;
  std::string file;
  std::string name;   // the case name made identifier-safe for GoogleTest
  json::object data;  // the case object
  json::object meta;  // the suite's top-level fields other than "cases" (e.g. docTypes)
};

// Short on purpose: the case name is already the test name, and CTest copies this text into each test name.
void PrintTo(const vector_case& c, std::ostream* os);

struct corpus {
  std::vector<vector_case> cases;
  std::vector<std::string> problems;  // files or cases that do not follow README.md, one line each
  std::map<std::string, std::size_t> per_suite;
};

// Loads every *.json directly under `dir`, in name order. Never throws: problems are collected, because this
// runs while tests are being registered. A case with a problem other than a bad name is left out.
corpus load_corpus(const std::filesystem::path& dir);

// spec/vectors of this checkout, loaded on first use.
const corpus& vectors();

// What makes `c` unusable as a whole: its problems, suites without cases, fewer than k_min_total_cases.
std::vector<std::string> corpus_faults(const corpus& c);

// The cases of `suite` in vectors(), for INSTANTIATE_TEST_SUITE_P.
std::vector<vector_case> cases_of(const std::string& suite);
std::string case_name(const testing::TestParamInfo<vector_case>& info);

// ---- reading a case. A vector that breaks the format throws std::runtime_error("vector schema: ...").

[[noreturn]] void schema_error(const std::string& what);

std::string str(const json::value& v);  // REQUIRES: v is a string
const json::value& need(const json::object& o, std::string_view key);

// An absent key and an explicit null both mean "no value".
template <class T>
std::optional<T> opt_number(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  return v->to_number<T>();
}

std::string describe(const core::error& e);  // "code: message"

// The case's docTypes, else its suite's, else the defaults.
core::doc_type_registry registry_for(const vector_case& c);
core::factory_scope scope_from(const json::value& v);                  // {"unscoped": true} or {"factories": [...]}
void apply_limits(core::codec_limits& limits, const json::object& o);  // {"maxEventBytes": n, ...}

// A contract event written as a JSON object (camelCase, as the codec reads it), built field by field so
// plan and coalesce vectors do not depend on the decoder. An unknown field is a schema error.
core::event event_from_json(const json::value& v);

// A plan vector's "batch": {"events": [...], "resync"?, "absorbed"?}.
core::batch batch_from_json(const json::object& o);

// A coalesce vector's "config" ({"windowMs"?, "maxPending"?}), over the defaults when absent.
core::coalescer_config coalescer_config_from(const vector_case& c);

// One step of a coalesce vector: at `at_ms`, offer `offered`, tick, or flush; then the expectations it states.
struct coalesce_step {
  enum class kind { offer, tick, flush };
  std::int64_t at_ms = 0;
  kind what = kind::tick;
  core::event offered;                                         // kind::offer only
  std::optional<std::optional<std::int64_t>> expect_deadline;  // set: the deadline (ms) or none
  std::optional<std::size_t> expect_pending;
  std::string text;  // the step as written, for traces
};

// The case's "steps", checked: each has a time that never goes back and exactly one of offer, tick, flush.
std::vector<coalesce_step> coalesce_steps(const vector_case& c);

// ---- writing results as the vectors write them.

json::object patch_to_json(const std::vector<core::patch_entry>& entries);
json::value event_to_json(const core::event& e);  // changedKeys sorted: vectors compare them as a set
json::value cache_key_to_json(const core::cache_key& k);
json::value plan_to_json(const core::plan& p);
json::value batch_to_json(std::int64_t at_ms, const core::batch& b);  // {at, events, resync, absorbed}

// Expected ops with "afterFetch": false treated as absent; expected batches through event_from_json and
// event_to_json, so both sides of a comparison have one form.
json::value normalize_ops(const json::value& ops);
json::value normalize_batches(const json::value& batches);

}  // namespace rtcache::conformance

#define RTCACHE_TRACE_CASE(c) \
  SCOPED_TRACE((c).file + ": " + (c).name + "\n  case: " + ::boost::json::serialize((c).data))
