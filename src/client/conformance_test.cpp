// Runs every conformance vector of spec/vectors/ (format: spec/vectors/README.md) through the C++ SDK's own
// pipeline rather than core alone: channel names through session::watch and the views' channels, cache keys
// through the views' query keys, events through a kind-4 broadcast received by a joined session (raw bytes
// reach the decoder) or through the engine's batch intake, version and scope through plans the engine runs
// against a real query_cache, plan vectors against a query_cache built to the vector's state (with the
// operations' effects checked on it), coalesce vectors through the engine's offer/tick/flush on a manual clock,
// and client vectors through the whole SDK: views on a real query_cache, the session fed the server's frames,
// a fetcher the vector answers (the fetches made and the data held are compared).
// Loading and JSON conversions: tests/support/conformance_vectors.hpp, shared with core's runner.
#include "conformance_vectors.hpp"
#include "rtcache/client/query_cache.hpp"
#include "rtcache/client/session.hpp"
#include "rtcache/client/sync_engine.hpp"
#include "rtcache/core/cache_key.hpp"
#include "rtcache/core/channel_key.hpp"
#include "rtcache/core/clock.hpp"
#include "rtcache/core/coalescer.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/event.hpp"
#include "rtcache/core/event_codec.hpp"
#include "rtcache/core/factory_scope.hpp"
#include "rtcache/core/planner.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace json = boost::json;
using namespace rtcache;
using namespace rtcache::core;
using namespace rtcache::conformance;
using client::fetch_callback;
using client::fetch_result;
using client::query_cache;
using client::session;
using client::session_output;
using client::sync_engine;

// A query cache and an engine around it, with a fetcher whose fetches never complete unless told to.
struct harness {
  explicit harness(doc_type_registry types, factory_scope scope = factory_scope::unscoped(),
                   client::engine_config config = {})
      : cache(clock, [this](const cache_key&, fetch_callback done) { fetches.push_back(std::move(done)); }),
        engine(clock, cache, std::move(types), std::move(scope), config, [] { return 0.5; }) {}

  manual_clock clock;
  std::vector<fetch_callback> fetches;
  query_cache cache;
  sync_engine engine;
};

plan plan_one(sync_engine& engine, event e) {
  batch b;
  b.events.push_back(std::move(e));
  return engine.process_batch(b);
}

// A session joined to `channel`, with a join reply without a position (so no offset is treated as seen).
struct joined_session {
  joined_session(doc_type_registry types, codec_limits limits, std::string ch)
      : channel(std::move(ch)), s(types, config(limits), {}) {
    session_output out;
    if (!s.watch(channel, clock.now(), out)) schema_error("cannot watch " + channel);
    s.start(out);
    s.on_open(clock.now(), out);
    s.on_frame(
        R"(["1","1","realtime:)" + channel + R"(","phx_reply",{"status":"ok","response":{"postgres_changes":[]}}])",
        false, clock.now(), out);
    if (s.channel_status(channel) != client::channel_state::joined) schema_error("join failed");
  }
  static client::session_config config(codec_limits limits) {
    client::session_config c;
    c.codec = limits;
    return c;
  }
  // The payload as the rtcache gateway sends a broadcast to a vsn 2.0.0 client: a kind-4 frame, bytes as is.
  session_output receive(std::string_view payload) {
    const std::string topic = "realtime:" + channel;
    std::string frame;
    frame += '\x04';
    frame += static_cast<char>(topic.size());
    frame += static_cast<char>(client::k_invalidate_event.size());
    frame += static_cast<char>(0);
    frame += '\x01';
    frame += topic;
    frame += client::k_invalidate_event;
    frame += payload;
    session_output out;
    s.on_frame(frame, true, clock.now(), out);
    return out;
  }
  std::string channel;
  manual_clock clock;
  session s;
};

class SdkConformanceChannelKeys : public testing::TestWithParam<vector_case> {};
class SdkConformanceCacheKeys : public testing::TestWithParam<vector_case> {};
class SdkConformanceEvents : public testing::TestWithParam<vector_case> {};
class SdkConformanceVersionGuard : public testing::TestWithParam<vector_case> {};
class SdkConformanceScope : public testing::TestWithParam<vector_case> {};
class SdkConformancePlanner : public testing::TestWithParam<vector_case> {};
class SdkConformanceCoalescer : public testing::TestWithParam<vector_case> {};

TEST_P(SdkConformanceChannelKeys, SessionWatchAndViewsAcceptRefuseAndNameChannelsAsSpecified) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  const doc_type_registry types = registry_for(c);
  if (const json::value* f = c.data.if_contains("format")) {
    const json::object& parts = f->as_object();
    const std::string kind = str(need(parts, "kind"));
    const std::string text = str(need(c.data, "text"));
    harness h(types);
    core::result<client::live_view> view = core::error{errc::empty, "unset"};
    if (kind == "factory") {
      view = h.engine.watch_list(types.names().front(), str(need(parts, "factoryId")));
    } else if (kind == "doc") {
      view = h.engine.watch_doc(str(need(parts, "type")), str(need(parts, "id")), "f1");
    } else if (kind == "list") {
      view = h.engine.watch_list(str(need(parts, "type")), str(need(parts, "factoryId")));
    } else {
      schema_error("unknown kind " + kind);
    }
    ASSERT_TRUE(view.has_value()) << view.error().message;
    const auto& chans = view->channels();
    EXPECT_NE(std::find(chans.begin(), chans.end(), text), chans.end()) << "the view does not watch " << text;
    return;
  }
  const std::string input = str(need(c.data, "input"));
  manual_clock clock;
  session s(types, {}, {});
  session_output out;
  auto watched = s.watch(input, clock.now(), out);
  if (const json::value* err = c.data.if_contains("error")) {
    ASSERT_FALSE(watched.has_value()) << "watch accepted " << input;
    EXPECT_EQ(to_string(watched.error().code), str(*err)) << watched.error().message;
    EXPECT_FALSE(watched.error().message.empty());
    EXPECT_TRUE(s.channels().empty());
    return;
  }
  ASSERT_TRUE(watched.has_value()) << watched.error().message;
  EXPECT_EQ(s.channels(), std::vector<std::string>{input});
  // Joined under exactly that topic.
  s.start(out);
  s.on_open(clock.now(), out);
  ASSERT_EQ(out.send.size(), 1U);
  EXPECT_EQ(std::string(json::parse(out.send[0]).at(2).as_string()), "realtime:" + input);
}

TEST_P(SdkConformanceCacheKeys, ViewsObserveTheSpecifiedQueryKey) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  const std::string fn = str(need(c.data, "fn"));
  const json::object& args = need(c.data, "args").as_object();
  harness h(doc_type_registry::defaults());
  core::result<client::live_view> view = core::error{errc::empty, "unset"};
  if (fn == "doc") {
    view = h.engine.watch_doc(str(need(args, "type")), str(need(args, "id")), "f1");
  } else if (fn == "list") {
    if (auto page = opt_number<std::uint32_t>(args, "page")) {
      view = h.engine.watch_list(str(need(args, "type")), str(need(args, "factoryId")), *page);
    } else {
      view = h.engine.watch_list(str(need(args, "type")), str(need(args, "factoryId")));
    }
  } else if (fn == "listHeads") {
    view = h.engine.watch_list(str(need(args, "type")), str(need(args, "factoryId")));
  } else {
    schema_error("unknown fn " + fn);
  }
  ASSERT_TRUE(view.has_value()) << view.error().message;
  EXPECT_EQ(view->key().to_json(), str(need(c.data, "json")));
  EXPECT_EQ(cache_key_to_json(view->key()), need(c.data, "key"));
  EXPECT_TRUE(h.cache.is_active(view->key())) << "the view observes the query under that key";
}

TEST_P(SdkConformanceEvents, ReceivedBroadcastsAndBatchesDecodeOrAreRefusedAsSpecified) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  codec_limits limits;
  if (const json::value* l = c.data.if_contains("limits")) apply_limits(limits, l->as_object());
  const doc_type_registry types = registry_for(c);

  if (const json::value* batch_input = c.data.if_contains("batchInput")) {
    client::engine_config cfg;
    cfg.session.codec = limits;
    harness h(types, factory_scope::unscoped(), cfg);
    auto items = h.engine.offer_json_batch(str(*batch_input));
    if (const json::value* err = c.data.if_contains("error")) {
      ASSERT_FALSE(items.has_value()) << "batch accepted";
      EXPECT_EQ(to_string(items.error().code), str(*err)) << items.error().message;
      EXPECT_EQ(h.engine.stats().events, 0U) << "a refused batch offers nothing";
      return;
    }
    ASSERT_TRUE(items.has_value()) << items.error().message;
    const json::array& want = need(c.data, "items").as_array();
    ASSERT_EQ(items->size(), want.size());
    std::uint64_t good = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      SCOPED_TRACE("item " + std::to_string(i));
      const json::object& w = want[i].as_object();
      const batch_item& got = (*items)[i];
      EXPECT_EQ(got.index, need(w, "index").to_number<std::size_t>());
      if (const json::value* err = w.if_contains("error")) {
        ASSERT_FALSE(got.outcome.has_value()) << "accepted as " << encode(*got.outcome);
        EXPECT_EQ(to_string(got.outcome.error().code), str(*err));
      } else {
        ASSERT_TRUE(got.outcome.has_value()) << got.outcome.error().message;
        EXPECT_EQ(encode(*got.outcome), str(need(w, "canonical")));
        ++good;
      }
    }
    EXPECT_EQ(h.engine.stats().events, good) << "every good item, and only those, reaches the coalescer";
    return;
  }

  // A real channel of the right kind for the payload: the session decodes what arrives on any joined channel.
  joined_session js(types, limits, "factory:f1");
  const std::string input = str(need(c.data, "input"));
  session_output out = js.receive(input);
  if (const json::value* err = c.data.if_contains("error")) {
    EXPECT_TRUE(out.events.empty()) << "accepted as " << encode(out.events.front().event);
    ASSERT_EQ(out.problems.size(), 1U);
    EXPECT_EQ(out.problems[0].what, "bad_event");
    ASSERT_TRUE(out.problems[0].code.has_value());
    EXPECT_EQ(to_string(*out.problems[0].code), str(*err)) << out.problems[0].message;
    EXPECT_FALSE(out.problems[0].message.empty());
    return;
  }
  ASSERT_TRUE(out.problems.empty()) << out.problems[0].message;
  ASSERT_EQ(out.events.size(), 1U);
  const std::string canonical = str(need(c.data, "canonical"));
  EXPECT_EQ(encode(out.events[0].event), canonical);
  EXPECT_EQ(out.events[0].channel, "factory:f1");
  // The canonical form, received again on a fresh session, is the same event.
  joined_session again(types, limits, "factory:f1");
  session_output out2 = again.receive(canonical);
  ASSERT_EQ(out2.events.size(), 1U);
  EXPECT_EQ(out2.events[0].event, out.events[0].event);
}

TEST_P(SdkConformanceVersionGuard, EngineAppliesOrDropsAgainstTheCachedVersion) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  harness h(doc_type_registry::defaults());
  const cache_key key = key_doc("wo", "1");
  h.cache.set_query_data(key, json::object{{"status", "open"}}, opt_number<std::int64_t>(c.data, "cached"));
  event e;
  e.type = "wo";
  e.id = "1";
  e.factory_id = "f1";
  e.act = action::update;
  e.version = opt_number<std::int64_t>(c.data, "incoming");
  e.changed_keys = std::vector<std::string>{"status"};
  e.patch = std::vector<patch_entry>{{"status", "\"approved\""}};
  const plan p = plan_one(h.engine, e);
  ASSERT_EQ(p.ops.size(), 1U);
  if (str(need(c.data, "verdict")) == "stale") {
    EXPECT_EQ(p.ops[0].kind, op_kind::drop);
    EXPECT_EQ(p.ops[0].reason, drop_reason::stale_version);
    EXPECT_EQ(h.cache.data(key)->at("status"), "open") << "a stale event never touches the cache";
  } else if (is_next_version(e.version, opt_number<std::int64_t>(c.data, "cached"))) {
    EXPECT_EQ(p.ops[0].kind, op_kind::patch);
    EXPECT_EQ(h.cache.data(key)->at("status"), "approved");
    const auto expected_version = e.version ? e.version : opt_number<std::int64_t>(c.data, "cached");
    EXPECT_EQ(h.cache.state(key)->data_version, expected_version);
  } else {
    // Applied, but not onto the version just before it (equal version, a gap, or a cache without a version):
    // the engine invalidates instead of patching, and the cached data is untouched until the refetch.
    EXPECT_EQ(p.ops[0].kind, op_kind::invalidate);
    EXPECT_EQ(h.cache.data(key)->at("status"), "open");
  }
}

TEST_P(SdkConformanceScope, EngineDropsExactlyTheEventsOutsideItsScope) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  const json::value& spec = need(c.data, "scope");
  harness h(doc_type_registry::defaults());
  h.engine.set_scope(scope_from(spec));
  const json::value* u = spec.as_object().if_contains("unscoped");
  EXPECT_EQ(h.engine.scope().is_unscoped(), u != nullptr && u->as_bool());
  for (const json::value& check : need(c.data, "checks").as_array()) {
    const std::string id = str(need(check.as_object(), "factoryId"));
    event e;
    e.type = "wo";
    e.id = "1";
    e.factory_id = id;
    e.act = action::create;
    const plan p = plan_one(h.engine, e);
    ASSERT_FALSE(p.ops.empty());
    const bool dropped = p.ops[0].kind == op_kind::drop && p.ops[0].reason == drop_reason::out_of_scope;
    EXPECT_EQ(!dropped, need(check.as_object(), "contains").as_bool()) << "factoryId \"" << id << "\"";
  }
  if (const json::value* ids = c.data.if_contains("factoryIds")) {
    std::vector<std::string> want;
    for (const json::value& id : ids->as_array()) want.push_back(str(id));
    EXPECT_EQ(h.engine.scope().factory_ids(), want);
  }
}

TEST_P(SdkConformancePlanner, EngineRunsExactlyTheSpecifiedOpsOnARealQueryCache) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  harness h(doc_type_registry::defaults(), scope_from(need(c.data, "scope")));
  for (const json::value& d : need(c.data, "cache").as_array()) {
    const json::object& o = d.as_object();
    const cache_key key = key_doc(str(need(o, "type")), str(need(o, "id")));
    const bool fetching = o.contains("fetching") && o.at("fetching").as_bool();
    const bool has_data = !o.contains("hasData") || o.at("hasData").as_bool();
    if (has_data) {
      h.cache.set_query_data(key, json::object{{"seed", true}}, opt_number<std::int64_t>(o, "version"));
      if (fetching) h.cache.fetch(key);
    } else {
      h.cache.fetch(key);
      if (!fetching) {
        h.fetches.back()(fetch_result::failure("first load failed"));  // the query exists, without data
      }
    }
    auto view = h.cache.doc(key.type, key.id);
    ASSERT_TRUE(view.has_value());
    ASSERT_EQ(view->fetching, fetching);
    ASSERT_EQ(view->has_data, has_data);
  }

  plan got;
  if (const json::value* ev = c.data.if_contains("event")) {
    got = plan_one(h.engine, event_from_json(*ev));
  } else {
    got = h.engine.process_batch(batch_from_json(need(c.data, "batch").as_object()));
  }
  const json::value want = normalize_ops(need(c.data, "ops"));
  const json::value actual = plan_to_json(got);
  EXPECT_EQ(actual, want) << "\n  expected ops: " << json::serialize(want)
                          << "\n  actual ops:   " << json::serialize(actual);

  // The engine ran them: each patched doc holds the patched values, each invalidated doc is stale or owed a
  // refetch after its in-flight fetch.
  std::map<cache_key, json::object> last_values;  // per doc, each column's value from the last patch that set it
  for (const operation& op : got.ops) {
    if (op.kind == op_kind::patch) {
      for (const auto& [col, value] : patch_to_json(op.set)) last_values[*op.key][col] = value;
    }
  }
  for (const auto& [key, columns] : last_values) {
    const auto data = h.cache.data(key);
    ASSERT_TRUE(data && data->is_object()) << key.to_json();
    for (const auto& [col, value] : columns) EXPECT_EQ(data->as_object().at(col), value) << "column " << col;
  }
  for (const operation& op : got.ops) {
    if (op.kind == op_kind::invalidate) {
      const client::query_state* s = h.cache.state(*op.key);
      ASSERT_NE(s, nullptr);
      EXPECT_TRUE(s->invalidated);
      EXPECT_EQ(s->refetch_after_fetch, op.after_fetch);
    }
  }
}

TEST_P(SdkConformanceCoalescer, EngineEmitsExactlyTheSpecifiedBatches) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  client::engine_config cfg;
  cfg.coalesce = coalescer_config_from(c);
  harness h(doc_type_registry::defaults(), factory_scope::unscoped(), cfg);
  if (auto w = opt_number<std::int64_t>(c.data, "expectWindowMs")) {
    EXPECT_EQ(h.engine.window().count(), *w);
  }

  std::int64_t now_ms = 0;
  json::array emitted;
  h.engine.set_batch_listener([&](const batch& b, const plan&) { emitted.push_back(batch_to_json(now_ms, b)); });
  const std::vector<coalesce_step> steps = coalesce_steps(c);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const coalesce_step& step = steps[i];
    SCOPED_TRACE("step " + std::to_string(i) + ": " + step.text);
    h.clock.advance(std::chrono::milliseconds(step.at_ms - now_ms));
    now_ms = step.at_ms;
    switch (step.what) {
      case coalesce_step::kind::offer: h.engine.offer(step.offered); break;
      case coalesce_step::kind::tick: h.engine.tick(); break;
      case coalesce_step::kind::flush: h.engine.flush(); break;
    }
    if (step.expect_deadline) {
      if (!*step.expect_deadline) {
        EXPECT_FALSE(h.engine.coalesce_deadline().has_value());
      } else {
        ASSERT_TRUE(h.engine.coalesce_deadline().has_value());
        EXPECT_EQ(*h.engine.coalesce_deadline(), time_point{} + std::chrono::milliseconds(**step.expect_deadline));
      }
    }
    if (step.expect_pending) {
      EXPECT_EQ(h.engine.pending_events(), *step.expect_pending);
    }
  }
  const json::value want = normalize_batches(need(c.data, "batches"));
  const json::value actual(std::move(emitted));
  EXPECT_EQ(actual, want) << "\n  expected batches: " << json::serialize(want)
                          << "\n  actual batches:   " << json::serialize(actual);
}

// ------------------------------------------------------------------------------------------------ client

// One `client` vector run through the C++ SDK: a sync_engine on a query_cache and a manual clock, its requests
// answered by the vector's steps (joins, events, the socket dropping), its fetches by a backend the vector
// controls. A list view is a view of each loaded page (the SDK models no infinite query): page 1 at open, the
// next page's view at nextPage.
class client_run {
 public:
  explicit client_run(const json::object& c)
      : cache_(
            clock_, [this](const cache_key& k, fetch_callback done) { read(k, std::move(done)); }, cache_config()),
        engine_(clock_, cache_, doc_type_registry::defaults(),
                factory_scope::of({c.contains("factoryId") ? str(c.at("factoryId")) : std::string("f1")}),
                engine_config_from(c), [] { return 0.5; }),
        factory_(c.contains("factoryId") ? str(c.at("factoryId")) : std::string("f1")) {
    if (const json::value* s = c.if_contains("server")) server_ = s->as_object();
    engine_.start();
    pump();
  }

  void advance_to(std::int64_t at_ms) {
    const time_point to = time_point{} + std::chrono::milliseconds(at_ms);
    for (int guard = 0; guard < 100000; ++guard) {
      const auto wake = engine_.next_wake();
      if (!wake || *wake > to) break;
      if (*wake > clock_.now()) clock_.advance(*wake - clock_.now());
      engine_.tick();
      pump();
      if (engine_.next_wake() == wake && *wake <= clock_.now()) break;  // nothing left due now
    }
    if (to > clock_.now()) clock_.advance(to - clock_.now());
  }

  void step(const json::object& st) {
    static const std::set<std::string, std::less<>> kinds = {"open",    "close",  "nextPage", "seed", "join", "drop",
                                                             "receive", "commit", "respond",  "tick", "flush"};
    static const std::set<std::string, std::less<>> fields = {"at",     "event",     "value",         "epoch",
                                                              "offset", "recovered", "expectFetches", "expectChannels"};
    std::string kind;
    for (const auto& kv : st) {
      const std::string_view k(kv.key().data(), kv.key().size());
      if (kinds.contains(k)) {
        if (!kind.empty()) schema_error("a step has two kinds: " + json::serialize(st));
        kind = k;
      } else if (!fields.contains(k)) {
        schema_error("unknown step field \"" + std::string(k) + "\"");
      }
    }
    if (kind.empty()) schema_error("a step without a kind: " + json::serialize(st));
    if (kind == "open") {
      open(str(st.at("open")));
    } else if (kind == "close") {
      if (views_.erase(str(st.at("close"))) == 0) schema_error("no such view open");
    } else if (kind == "nextPage") {
      const std::string name = str(st.at("nextPage"));
      auto it = views_.find(name);
      if (it == views_.end()) schema_error("no list view open");
      const auto [type, factory] = split_view(name, "list");
      auto v = engine_.watch_list(type, factory, static_cast<std::uint32_t>(it->second.size() + 1));
      if (!v) schema_error("watch_list refused: " + v.error().message);
      it->second.push_back(std::move(*v));
    } else if (kind == "seed") {
      const auto [type, id] = split_view(str(st.at("seed")), "doc");
      json::value value = need(st, "value");
      const auto version = version_of(value);
      cache_.set_query_data(key_doc(type, id), std::move(value), version);
    } else if (kind == "join") {
      join(str(st.at("join")), st);
    } else if (kind == "drop") {
      engine_.on_closed();  // the socket drops and comes back at once: every channel rejoins with its position
      engine_.tick();
    } else if (kind == "receive") {
      const std::string channel = str(st.at("receive"));
      if (engine_.realtime().channel_status(channel) != client::channel_state::joined) schema_error("not joined");
      engine_.on_frame(R"([null,null,"realtime:)" + channel +
                           R"(","broadcast",{"type":"broadcast","event":"invalidate","payload":)" +
                           json::serialize(need(st, "event")) + "}]",
                       false);
    } else if (kind == "commit") {
      for (const auto& kv : need(st, "commit").as_object()) server_[kv.key()] = kv.value();
    } else if (kind == "respond") {
      respond(str(st.at("respond")));
    } else if (kind == "flush") {
      engine_.flush();
    }
    pump();
  }

  std::map<std::string, std::uint64_t> reads;
  json::value data_of(const std::string& key) const {
    const auto parts = split(key);
    std::shared_ptr<const json::value> d;
    if (parts.size() == 3 && parts[0] == "doc") d = cache_.data(key_doc(parts[1], parts[2]));
    if (parts.size() == 4 && parts[0] == "list") {
      d = cache_.data(key_list(parts[1], parts[2], static_cast<std::uint32_t>(std::stoul(parts[3]))));
    }
    if (!(parts.size() == 3 && parts[0] == "doc") && !(parts.size() == 4 && parts[0] == "list")) {
      schema_error("bad data key " + key);
    }
    return d ? *d : json::value(nullptr);
  }
  std::vector<std::string> channels() const { return engine_.realtime().channels(); }

 private:
  static client::query_cache_config cache_config() {
    client::query_cache_config c;
    c.stale_time = std::chrono::hours(24);  // data stays fresh: the policy alone decides what is fetched
    return c;
  }
  static client::engine_config engine_config_from(const json::object& c) {
    client::engine_config cfg;
    if (auto w = opt_number<std::int64_t>(c, "windowMs")) cfg.coalesce.window = std::chrono::milliseconds(*w);
    if (auto m = opt_number<std::size_t>(c, "maxPending")) cfg.coalesce.max_pending = *m;
    if (auto f = opt_number<std::int64_t>(c, "firstFetchWaitMs")) cfg.first_fetch_wait = std::chrono::milliseconds(*f);
    cfg.session.reconnect.initial = std::chrono::milliseconds(0);  // a dropped socket comes back at once
    cfg.session.reconnect.max = std::chrono::milliseconds(0);
    return cfg;
  }
  static std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t pos; (pos = s.find(':', start)) != std::string::npos; start = pos + 1) {
      out.push_back(s.substr(start, pos - start));
    }
    out.push_back(s.substr(start));
    return out;
  }
  static std::pair<std::string, std::string> split_view(const std::string& name, std::string_view kind) {
    const auto parts = split(name);
    if (parts.size() != 3 || parts[0] != kind) schema_error("bad view " + name);
    return {parts[1], parts[2]};
  }
  static std::optional<std::int64_t> version_of(const json::value& v) {
    if (const auto* o = v.if_object()) {
      if (const auto* ver = o->if_contains("version"); ver && ver->is_int64()) return ver->as_int64();
    }
    return std::nullopt;
  }
  static std::string read_key(const cache_key& k) {
    return k.kind == cache_key_kind::doc ? "doc:" + k.type + ":" + k.id
                                         : "list:" + k.type + ":" + k.factory_id + ":" + std::to_string(k.page);
  }

  void open(const std::string& name) {
    const auto parts = split(name);
    if (views_.contains(name)) schema_error("the view is open already");
    core::result<client::live_view> v = core::error{errc::empty, "unset"};
    if (parts.size() == 3 && parts[0] == "doc") v = engine_.watch_doc(parts[1], parts[2], factory_);
    if (parts.size() == 3 && parts[0] == "list") v = engine_.watch_list(parts[1], parts[2], 1);
    if (!v) schema_error("cannot open " + name + ": " + v.error().message);
    views_[name].push_back(std::move(*v));
  }

  void read(const cache_key& k, fetch_callback done) {
    const std::string key = read_key(k);
    ++reads[key];
    const json::value* body = server_.if_contains(key);
    in_flight_.push_back({key, body ? *body : json::value(nullptr), std::move(done)});
  }

  void respond(const std::string& key) {
    std::deque<pending_read> due;
    if (key == "*") {
      due.swap(in_flight_);
    } else {
      auto it = std::find_if(in_flight_.begin(), in_flight_.end(), [&](const pending_read& r) { return r.key == key; });
      if (it == in_flight_.end()) schema_error("no read of " + key + " in flight");
      due.push_back(std::move(*it));
      in_flight_.erase(it);
    }
    for (pending_read& r : due) {
      auto version = version_of(r.body);
      r.done(fetch_result::success(std::move(r.body), version));
      pump();
    }
  }

  void join(const std::string& which, const json::object& st) {
    const std::string epoch = st.contains("epoch") ? str(st.at("epoch")) : std::string("e1");
    const std::uint64_t offset = opt_number<std::uint64_t>(st, "offset").value_or(0);
    const bool recovered = st.contains("recovered") && st.at("recovered").as_bool();
    std::vector<std::pair<std::string, std::string>> answer;
    for (const auto& [channel, ref] : joins_) {
      if (which == "*" || which == channel) answer.emplace_back(channel, ref);
    }
    if (answer.empty()) schema_error("no channel waits for that join reply");
    for (const auto& [channel, ref] : answer) {
      joins_.erase(channel);
      engine_.on_frame(R"([")" + ref + R"(",")" + ref + R"(","realtime:)" + channel +
                           R"(","phx_reply",{"status":"ok","response":{"postgres_changes":[],"rtcache":{"epoch":)" +
                           json::serialize(json::value(epoch)) + R"(,"offset":)" + std::to_string(offset) +
                           R"(,"recovered":)" + (recovered ? "true" : "false") + "}}}]",
                       false);
      pump();
    }
  }

  // Drains what the engine asks of the transport: the socket opens at once, joins wait for a `join` step,
  // heartbeats are answered.
  void pump() {
    for (int guard = 0; guard < 1000; ++guard) {
      client::transport_requests r = engine_.take_requests();
      if (r.send.empty() && !r.connect) return;
      for (const std::string& f : r.send) {
        const json::value v = json::parse(f);
        const std::string event(v.at(3).as_string());
        const std::string topic(v.at(2).as_string());
        if (event == "phx_join") {
          joins_[topic.substr(client::k_topic_prefix.size())] = std::string(v.at(0).as_string());
        } else if (event == "phx_leave") {
          joins_.erase(topic.substr(client::k_topic_prefix.size()));
        } else if (event == "heartbeat") {
          const std::string ref(v.at(1).as_string());
          engine_.on_frame(R"([null,")" + ref + R"(","phoenix","phx_reply",{"status":"ok","response":{}}])", false);
        }
      }
      if (r.connect) engine_.on_open();
    }
    schema_error("the engine keeps asking for more");
  }

  struct pending_read {
    std::string key;
    json::value body;
    fetch_callback done;
  };

  manual_clock clock_;
  json::object server_;
  std::deque<pending_read> in_flight_;
  query_cache cache_;
  sync_engine engine_;
  std::string factory_;
  std::map<std::string, std::vector<client::live_view>> views_;
  std::map<std::string, std::string> joins_;  // channel -> join_ref of the join awaiting a reply
};

class SdkConformanceClient : public testing::TestWithParam<vector_case> {};

TEST_P(SdkConformanceClient, TheSdkMakesExactlyTheSpecifiedFetchesAndHoldsTheSpecifiedData) {
  const vector_case& c = GetParam();
  RTCACHE_TRACE_CASE(c);
  static const std::set<std::string, std::less<>> case_fields = {
      "name",      "description", "windowMs", "maxPending", "firstFetchWaitMs",
      "factoryId", "server",      "steps",    "fetches",    "data"};
  for (const auto& kv : c.data) {
    if (!case_fields.contains(std::string_view(kv.key().data(), kv.key().size()))) {
      schema_error("unknown case field \"" + std::string(kv.key()) + "\"");
    }
  }
  client_run run(c.data);
  std::int64_t now = 0;
  const json::array& steps = need(c.data, "steps").as_array();
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const json::object& st = steps[i].as_object();
    SCOPED_TRACE("step " + std::to_string(i) + ": " + json::serialize(st));
    const std::int64_t at = need(st, "at").to_number<std::int64_t>();
    if (at < now) schema_error("steps go back in time");
    now = at;
    run.advance_to(at);
    run.step(st);
    if (const json::value* want = st.if_contains("expectFetches")) {
      for (const auto& kv : want->as_object()) {
        const auto it = run.reads.find(std::string(kv.key()));
        EXPECT_EQ(it == run.reads.end() ? 0U : it->second, kv.value().to_number<std::uint64_t>()) << kv.key();
      }
    }
    if (const json::value* want = st.if_contains("expectChannels")) {
      std::vector<std::string> expected;
      for (const json::value& ch : want->as_array()) expected.push_back(str(ch));
      std::sort(expected.begin(), expected.end());
      EXPECT_EQ(run.channels(), expected);
    }
  }
  json::object fetches;
  for (const auto& [key, n] : run.reads) fetches[key] = n;
  EXPECT_EQ(json::value(fetches), need(c.data, "fetches"));
  if (const json::value* data = c.data.if_contains("data")) {
    for (const auto& kv : data->as_object()) {
      EXPECT_EQ(run.data_of(std::string(kv.key())), kv.value()) << kv.key();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Vectors, SdkConformanceClient, testing::ValuesIn(cases_of("client")), case_name);

INSTANTIATE_TEST_SUITE_P(Vectors, SdkConformanceChannelKeys, testing::ValuesIn(cases_of("channel_keys")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, SdkConformanceCacheKeys, testing::ValuesIn(cases_of("cache_keys")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, SdkConformanceEvents, testing::ValuesIn(cases_of("events")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, SdkConformanceVersionGuard, testing::ValuesIn(cases_of("version")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, SdkConformanceScope, testing::ValuesIn(cases_of("scope")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, SdkConformancePlanner, testing::ValuesIn(cases_of("plan")), case_name);
INSTANTIATE_TEST_SUITE_P(Vectors, SdkConformanceCoalescer, testing::ValuesIn(cases_of("coalesce")), case_name);

TEST(SdkConformanceVectors, EveryFileLoadsAndEverySuiteIsPresentWithAtLeastFiftyCases) {
  for (const std::string& fault : corpus_faults(vectors())) ADD_FAILURE() << fault;
}

}  // namespace
