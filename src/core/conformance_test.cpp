// Runs the language-neutral conformance vectors of spec/vectors/ (format: spec/vectors/README.md) through the
// public core API. The TypeScript SDK runs the same files, so both SDKs agree on keys, codec, plan and timing.
// Loading and JSON conversions: tests/support/conformance_vectors.hpp, shared with the C++ SDK's runner.
#include "conformance_vectors.hpp"
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
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

namespace json = boost::json;
using namespace rtcache::core;
using namespace rtcache::conformance;

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
    got = plan_batch(batch_from_json(need(c.data, "batch").as_object()), scope, cache);
  }
  const json::value want = normalize_ops(need(c.data, "ops"));
  const json::value actual = plan_to_json(got);
  EXPECT_EQ(actual, want) << "\n  expected ops: " << json::serialize(want)
                          << "\n  actual ops:   " << json::serialize(actual);
}

TEST_P(ConformanceCoalescer, EmitsExactlyTheSpecifiedBatches) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  coalescer co(coalescer_config_from(c));
  if (auto w = opt_number<std::int64_t>(c.data, "expectWindowMs")) {
    EXPECT_EQ(co.window().count(), *w);
  }

  manual_clock clock;
  json::array emitted;
  const std::vector<coalesce_step> steps = coalesce_steps(c);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const coalesce_step& step = steps[i];
    const std::int64_t at = step.at_ms;
    SCOPED_TRACE("step " + std::to_string(i) + " at " + std::to_string(at) + " ms: " + step.text);
    clock.advance(at_ms(at) - clock.now());
    ASSERT_EQ(clock.now(), at_ms(at));

    batch out;
    switch (step.what) {
      case coalesce_step::kind::offer: co.offer(step.offered, clock.now()); break;
      case coalesce_step::kind::tick: out = co.take_due(clock.now()); break;
      case coalesce_step::kind::flush: out = co.flush(); break;
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
    if (step.expect_deadline) {
      if (!*step.expect_deadline) {
        EXPECT_FALSE(co.deadline().has_value()) << "deadline should be none";
      } else {
        ASSERT_TRUE(co.deadline().has_value()) << "deadline should be " << **step.expect_deadline << " ms";
        EXPECT_EQ(*co.deadline() - time_point{}, at_ms(**step.expect_deadline) - time_point{})
            << "deadline should be " << **step.expect_deadline << " ms";
      }
    }
    if (step.expect_pending) {
      EXPECT_EQ(co.pending(), *step.expect_pending);
    }
  }
  const json::value want = normalize_batches(need(c.data, "batches"));
  const json::value actual(std::move(emitted));
  EXPECT_EQ(actual, want) << "\n  expected batches: " << json::serialize(want)
                          << "\n  actual batches:   " << json::serialize(actual);
}

// The `client` suite drives a whole SDK (a query cache, a session; src/client/conformance_test.cpp and the
// TypeScript runner run it). What core can judge of it, it judges here: every channel and view it names is a
// valid channel key, and every event it delivers is a contract event the codec reads back as itself.
class ConformanceClientScenario : public testing::TestWithParam<vector_case> {};

TEST_P(ConformanceClientScenario, NamesValidChannelsAndDeliversContractEvents) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  const doc_type_registry types = registry_for(c);
  event_decoder decoder(types);
  const auto channel = [&](const json::value& v) {
    const std::string name = str(v);
    if (name == "*") return;
    auto key = parse_channel_key(name, types);
    EXPECT_TRUE(key.has_value()) << name << ": " << describe(key.error());
  };
  for (const json::value& sv : need(c.data, "steps").as_array()) {
    const json::object& st = sv.as_object();
    for (const char* field : {"open", "close", "nextPage", "seed", "join", "receive"}) {
      if (const json::value* v = st.if_contains(field)) channel(*v);
    }
    if (const json::value* e = st.if_contains("event")) {
      const event ev = event_from_json(*e);
      auto back = decoder.decode(encode(ev));
      ASSERT_TRUE(back.has_value()) << json::serialize(*e) << ": " << describe(back.error());
      EXPECT_EQ(*back, ev);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Vectors, ConformanceClientScenario, testing::ValuesIn(cases_of("client")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ConformanceChannelKeys, testing::ValuesIn(cases_of("channel_keys")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ConformanceCacheKeys, testing::ValuesIn(cases_of("cache_keys")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ConformanceEvents, testing::ValuesIn(cases_of("events")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ConformanceVersionGuard, testing::ValuesIn(cases_of("version")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ConformanceScope, testing::ValuesIn(cases_of("scope")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ConformancePlanner, testing::ValuesIn(cases_of("plan")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, ConformanceCoalescer, testing::ValuesIn(cases_of("coalesce")), case_name);

// ------------------------------------------------------------------------------------------------ the corpus

TEST(ConformanceVectors, EveryFileFollowsTheFormatAndEverySuiteHasCasesWithAtLeastFiftyInTotal) {
  for (const std::string& fault : corpus_faults(vectors())) ADD_FAILURE() << fault;
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