// The shared conformance support: what counts as a malformed vector file or case, when a corpus is unusable,
// and the JSON conversions both C++ runners compare with.
#include "conformance_vectors.hpp"

#include "rtcache/core/cache_key.hpp"
#include "rtcache/core/event.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rtcache::conformance {
namespace {

namespace fs = std::filesystem;

// A fresh directory under GoogleTest's temp dir, removed when the test ends.
class vector_dir {
 public:
  explicit vector_dir(const std::string& name) : path_(fs::path(testing::TempDir()) / ("rtcache_vectors_" + name)) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~vector_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  vector_dir(const vector_dir&) = delete;
  vector_dir& operator=(const vector_dir&) = delete;

  void write(const std::string& file, const std::string& text) const {
    std::ofstream(path_ / file, std::ios::binary) << text;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

bool has_problem(const corpus& c, const std::string& text) {
  return std::any_of(c.problems.begin(), c.problems.end(),
                     [&](const std::string& p) { return p.find(text) != std::string::npos; });
}

TEST(ConformanceSupport, LoadsEveryCaseOfEachJsonFileWithItsSuiteFieldsAndIgnoresOtherFiles) {
  vector_dir dir("good");
  dir.write("b.json", R"({"suite":"scope","description":"d","cases":[{"name":"s1"}]})");
  dir.write("a.json",
            R"({"suite":"channel_keys","description":"d","docTypes":["wo"],"cases":[{"name":"k1"},{"name":"k2"}]})");
  dir.write("README.md", "not a vector");
  const corpus c = load_corpus(dir.path());
  EXPECT_TRUE(c.problems.empty()) << c.problems.front();
  ASSERT_EQ(c.cases.size(), 3U);
  EXPECT_EQ(c.cases[0].file, "a.json") << "files load in name order";
  EXPECT_EQ(c.cases[0].name, "k1");
  EXPECT_EQ(c.cases[0].suite, "channel_keys");
  EXPECT_FALSE(c.cases[0].meta.contains("cases"));
  EXPECT_TRUE(c.cases[0].meta.contains("docTypes"));
  EXPECT_EQ(c.cases[2].name, "s1");
  EXPECT_EQ(c.per_suite.at("channel_keys"), 2U);
  EXPECT_EQ(c.per_suite.at("scope"), 1U);
}

TEST(ConformanceSupport, ReportsEachMalformedFileByNameAndSkipsIt) {
  vector_dir dir("bad_files");
  dir.write("broken.json", "{\"suite\":");
  dir.write("no_description.json", R"({"suite":"scope","cases":[{"name":"x"}]})");
  dir.write("unknown.json", R"({"suite":"nope","description":"d","cases":[{"name":"y"}]})");
  const corpus c = load_corpus(dir.path());
  EXPECT_TRUE(c.cases.empty());
  ASSERT_EQ(c.problems.size(), 3U);
  EXPECT_TRUE(has_problem(c, "broken.json: not valid JSON"));
  EXPECT_TRUE(has_problem(c, "no_description.json: needs"));
  EXPECT_TRUE(has_problem(c, "unknown.json: unknown suite \"nope\""));
}

TEST(ConformanceSupport, ReportsUnnamedUnsafeAndRepeatedCaseNamesYetKeepsNamedCasesWithSafeTestNames) {
  vector_dir dir("bad_names");
  dir.write(
      "a.json",
      R"({"suite":"scope","description":"d","cases":[{"name":"same"},{"name":"same"},{"name":"Bad-Name"},{"x":1}]})");
  const corpus c = load_corpus(dir.path());
  EXPECT_TRUE(has_problem(c, "case name \"same\" is used twice"));
  EXPECT_TRUE(has_problem(c, "case name \"Bad-Name\" is not [a-z0-9_]+"));
  EXPECT_TRUE(has_problem(c, "a case without a string \"name\""));
  ASSERT_EQ(c.cases.size(), 3U);
  EXPECT_EQ(c.cases[0].name, "same");
  EXPECT_EQ(c.cases[1].name, "same_duplicate_1") << "a repeated name still gets a unique test name";
  EXPECT_EQ(c.cases[2].name, "Bad_Name");
}

TEST(ConformanceSupport, AMissingDirectoryIsAProblemNotAnException) {
  const corpus c = load_corpus(fs::path(testing::TempDir()) / "rtcache_vectors_does_not_exist");
  EXPECT_TRUE(c.cases.empty());
  EXPECT_TRUE(has_problem(c, "cannot list"));
}

TEST(ConformanceSupport, ACorpusIsFaultyWithProblemsMissingSuitesOrTooFewCases) {
  corpus c;
  c.problems.push_back("x.json: broken");
  for (const std::string& suite : known_suites()) {
    if (suite == "plan") continue;
    c.per_suite[suite] = 1;
    c.cases.push_back(vector_case{suite, "f.json", suite, {}, {}});
  }
  const std::vector<std::string> faults = corpus_faults(c);
  ASSERT_EQ(faults.size(), 3U);
  EXPECT_EQ(faults[0], "x.json: broken");
  EXPECT_EQ(faults[1], "no cases for suite plan");
  EXPECT_NE(faults[2].find("fewer than 50"), std::string::npos) << faults[2];

  c.problems.clear();
  c.per_suite["plan"] = k_min_total_cases;
  c.cases.resize(k_min_total_cases);
  EXPECT_TRUE(corpus_faults(c).empty());
}

TEST(ConformanceSupport, EventsReadFieldByFieldAndWriteBackWithKeysSortedAndNullAsAbsent) {
  const json::value in = json::parse(
      R"({"type":"wo","id":"1","factoryId":"f1","action":"update","changedKeys":["qty","status"],
          "version":3,"ts":null,"patch":{"status":"approved","qty":5}})");
  const core::event e = event_from_json(in);
  EXPECT_EQ(e.act, core::action::update);
  EXPECT_EQ(e.version, 3);
  EXPECT_FALSE(e.ts.has_value());
  ASSERT_TRUE(e.patch.has_value());
  EXPECT_EQ((*e.patch)[0].column, "qty") << "patch entries sorted by column, as the codec keeps them";
  EXPECT_EQ((*e.patch)[0].json_value, "5");
  EXPECT_EQ(json::serialize(event_to_json(e)),
            R"({"type":"wo","id":"1","factoryId":"f1","action":"update","changedKeys":["qty","status"],)"
            R"("version":3,"patch":{"qty":5,"status":"approved"}})");
}

TEST(ConformanceSupport, AnEventWithAnUnknownFieldOrActionIsASchemaError) {
  EXPECT_THROW(event_from_json(json::parse(R"({"type":"wo","id":"1","factoryId":"f1","action":"create","x":1})")),
               std::runtime_error);
  EXPECT_THROW(event_from_json(json::parse(R"({"type":"wo","id":"1","factoryId":"f1","action":"explode"})")),
               std::runtime_error);
  EXPECT_THROW(need(json::object{}, "type"), std::runtime_error);
}

TEST(ConformanceSupport, ExpectedOpsTreatAfterFetchFalseAsAbsent) {
  const json::value ops =
      json::parse(R"([{"op":"invalidate","afterFetch":false},{"op":"invalidate","afterFetch":true}])");
  EXPECT_EQ(json::serialize(normalize_ops(ops)), R"([{"op":"invalidate"},{"op":"invalidate","afterFetch":true}])");
}

TEST(ConformanceSupport, ExpectedBatchesGetDefaultsAndTheEventsNormalForm) {
  const json::value batches = json::parse(
      R"([{"at":300,"events":[{"type":"wo","id":"1","factoryId":"f1","action":"update","changedKeys":["b","a"]}]}])");
  EXPECT_EQ(
      json::serialize(normalize_batches(batches)),
      R"([{"at":300,"events":[{"type":"wo","id":"1","factoryId":"f1","action":"update","changedKeys":["a","b"]}],)"
      R"("resync":false,"absorbed":0}])");
}

TEST(ConformanceSupport, CacheKeysWriteAsTheirTanStackArrays) {
  EXPECT_EQ(json::serialize(cache_key_to_json(core::key_doc("wo", "1"))), R"(["doc","wo","1"])");
  EXPECT_EQ(json::serialize(cache_key_to_json(core::key_list("wo", "f1", 2))), R"(["list","wo","f1",{"page":2}])");
}

TEST(ConformanceSupport, ACaseDocTypesOverrideTheSuitesAndLimitsApplyByName) {
  vector_case c{"channel_keys", "f.json", "n", json::parse(R"({"docTypes":["zz"]})").as_object(),
                json::parse(R"({"docTypes":["wo"]})").as_object()};
  EXPECT_EQ(registry_for(c).names(), std::vector<std::string>{"zz"});
  c.data.erase("docTypes");
  EXPECT_EQ(registry_for(c).names(), std::vector<std::string>{"wo"});

  core::codec_limits limits;
  apply_limits(limits, json::parse(R"({"maxDepth":3})").as_object());
  EXPECT_EQ(limits.max_depth, 3U);
  EXPECT_THROW(apply_limits(limits, json::parse(R"({"maxWhatever":3})").as_object()), std::runtime_error);
}

TEST(ConformanceSupport, CoalesceStepsAreTypedWithTheirExpectations) {
  vector_case c{"coalesce",
                "f.json",
                "n",
                json::parse(R"({"config":{"windowMs":400},"steps":[
                  {"at":0,"offer":{"type":"wo","id":"1","factoryId":"f1","action":"create"},"expectDeadline":400},
                  {"at":400,"tick":true,"expectDeadline":null,"expectPending":0},
                  {"at":400,"flush":true}]})")
                    .as_object(),
                {}};
  EXPECT_EQ(coalescer_config_from(c).window, std::chrono::milliseconds(400));
  EXPECT_EQ(coalescer_config_from(c).max_pending, core::coalescer_config{}.max_pending);
  const std::vector<coalesce_step> steps = coalesce_steps(c);
  ASSERT_EQ(steps.size(), 3U);
  EXPECT_EQ(steps[0].what, coalesce_step::kind::offer);
  EXPECT_EQ(steps[0].offered.id, "1");
  ASSERT_TRUE(steps[0].expect_deadline.has_value());
  EXPECT_EQ(*steps[0].expect_deadline, std::optional<std::int64_t>(400));
  EXPECT_FALSE(steps[0].expect_pending.has_value());
  EXPECT_EQ(steps[1].what, coalesce_step::kind::tick);
  ASSERT_TRUE(steps[1].expect_deadline.has_value());
  EXPECT_FALSE(steps[1].expect_deadline->has_value()) << "null: the coalescer has no deadline";
  EXPECT_EQ(steps[1].expect_pending, std::optional<std::size_t>(0));
  EXPECT_EQ(steps[2].what, coalesce_step::kind::flush);
  EXPECT_FALSE(steps[2].expect_deadline.has_value());
}

TEST(ConformanceSupport, CoalesceStepsThatGoBackInTimeOrDoNotSayWhatToDoAreSchemaErrors) {
  vector_case back{"coalesce",
                   "f.json",
                   "n",
                   json::parse(R"({"steps":[{"at":5,"tick":true},{"at":4,"tick":true}]})").as_object(),
                   {}};
  EXPECT_THROW(coalesce_steps(back), std::runtime_error);
  vector_case none{"coalesce", "f.json", "n", json::parse(R"({"steps":[{"at":5}]})").as_object(), {}};
  EXPECT_THROW(coalesce_steps(none), std::runtime_error);
  vector_case both{
      "coalesce", "f.json", "n", json::parse(R"({"steps":[{"at":5,"tick":true,"flush":true}]})").as_object(), {}};
  EXPECT_THROW(coalesce_steps(both), std::runtime_error);
}

TEST(ConformanceSupport, PlanBatchesDefaultToNoResyncAndNothingAbsorbed) {
  const core::batch b = batch_from_json(
      json::parse(R"({"events":[{"type":"wo","id":"1","factoryId":"f1","action":"delete"}]})").as_object());
  ASSERT_EQ(b.events.size(), 1U);
  EXPECT_EQ(b.events[0].act, core::action::del);
  EXPECT_FALSE(b.resync);
  EXPECT_EQ(b.absorbed, 0U);
  const core::batch r = batch_from_json(json::parse(R"({"events":[],"resync":true,"absorbed":7})").as_object());
  EXPECT_TRUE(r.resync);
  EXPECT_EQ(r.absorbed, 7U);
}

TEST(ConformanceSupport, ScopesAreUnscopedOrTheListedFactories) {
  EXPECT_TRUE(scope_from(json::parse(R"({"unscoped":true})")).is_unscoped());
  const core::factory_scope s = scope_from(json::parse(R"({"factories":["f1","f2"]})"));
  EXPECT_FALSE(s.is_unscoped());
  EXPECT_TRUE(s.contains("f2"));
  EXPECT_FALSE(s.contains("f3"));
}

}  // namespace
}  // namespace rtcache::conformance
