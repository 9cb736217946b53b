// One stream message applied to a node's book and hub, without a server (stream_apply.hpp): messages built in the
// writer's format reach each view at the position the pure scheme gives, a scoped view gets no foreign factory's
// message, a gap marker starts over the views of the channels it covers only, and a malformed message is refused,
// counted and changes nothing. The applier's tests (applier_test.cpp) run the same through a nats-server.
#include "cluster/stream_apply.hpp"

#include "cluster/test_stream_writer.hpp"
#include "hub/hub.hpp"
#include "hub/test_recorder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace rtcache::cluster {
namespace {

using core::factory_scope;

using hub::test::recorder;

// Frames are the payload: what a subscriber got is visible in its events.
hub::hub_encoder payload_encoder() {
  return [](const hub::hub_encode_request& r) {
    hub::hub_frames f;
    f.v1_text = std::string(r.payload_json);
    return f;
  };
}

hub::hub_config lingering() {
  hub::hub_config c;
  c.linger = std::chrono::minutes(1);
  return c;
}

constexpr std::string_view k_identity = "rtcache@1";

struct node {
  hub::hub h{lingering(), payload_encoder()};
  stream_applier a{stream_apply_settings{"rtcache", "node-a", 1000, {}}, epoch_deriver(test::test_secret()),
                   std::string(k_identity), core::doc_type_registry::defaults(), h};

  void apply_ok(const stream_message& m) {
    auto r = a.apply(m, 1);
    ASSERT_TRUE(r) << r.error().message;
  }
  std::shared_ptr<recorder> join(const std::string& channel, const factory_scope& view,
                                 const std::optional<hub::hub_position>& resume = std::nullopt,
                                 bool* recovered = nullptr) {
    auto s = std::make_shared<recorder>(recorder::record::offsets_and_frames);
    auto j = a.join(channel, view, s, resume, 1);
    EXPECT_TRUE(j);
    if (recovered) *recovered = j->recovered;
    subs.push_back(std::move(j->subscription));
    return s;
  }
  std::vector<hub::hub_subscription> subs;
};

hub::hub_position as_hub(const view_position& p) {
  return {p.epoch, p.offset};
}

TEST(StreamApply, SubjectsParseBackToTheirPartition) {
  const subjects s{"rtcache"};
  auto c = parse_subject("rtcache", s.partition("doc:wo:1", "F.1"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->section, 'c');
  EXPECT_EQ(c->channel, "doc:wo:1");
  EXPECT_EQ(c->factory, "F.1");
  auto u = parse_subject("rtcache", s.partition("chat", ""));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->factory, "");
  auto x = parse_subject("rtcache", s.control("gap"));
  ASSERT_TRUE(x);
  EXPECT_EQ(x->section, 'x');
  for (const std::string bad : {"other.c.a.b", "rtcache.c.a", "rtcache.c.a.b.c", "rtcache.q.a", "rtcache.c.%zz.b",
                                "rtcache", "rtcachex.c.a.b"}) {
    EXPECT_FALSE(parse_subject("rtcache", bad)) << bad;
  }
}

TEST(StreamApply, ChannelMessagesReachEachViewAtThePositionTheSchemeGives) {
  node n;
  test::stream_writer w("rtcache");
  const auto f1 = factory_scope::of({"F1"});
  auto scoped = n.join("doc:wo:1", f1);
  auto all = n.join("doc:wo:1", factory_scope::unscoped());
  n.apply_ok(w.channel("doc:wo:1", "F1", "\"a\""));
  n.apply_ok(w.channel("doc:wo:1", "F2", "\"b\""));
  n.apply_ok(w.channel("doc:wo:1", "F1", "\"c\""));
  EXPECT_EQ(scoped->events(), (std::vector<std::string>{"1:\"a\"", "2:\"c\""}));
  EXPECT_EQ(all->events(), (std::vector<std::string>{"1:\"a\"", "2:\"b\"", "3:\"c\""}));
  EXPECT_EQ(n.h.position("doc:wo:1", f1), as_hub(w.expected(std::string(k_identity), "doc:wo:1", f1)));
  EXPECT_EQ(n.h.position("doc:wo:1"),
            as_hub(w.expected(std::string(k_identity), "doc:wo:1", factory_scope::unscoped())));
  EXPECT_EQ(n.a.stats().published, 3u);
  EXPECT_EQ(n.h.metrics().views_reset, 0u) << "every message continued its views";
}

TEST(StreamApply, AScopedViewNeverReceivesAForeignFactorysMessage) {
  node n;
  test::stream_writer w("rtcache");
  const auto f1 = factory_scope::of({"F1"});
  auto scoped = n.join("doc:wo:1", f1);
  const auto before = n.h.position("doc:wo:1", f1);
  n.apply_ok(w.channel("doc:wo:1", "F2", "\"secret\""));
  n.apply_ok(w.channel("doc:wo:1", "", "\"untagged\""));
  EXPECT_TRUE(scoped->events().empty());
  EXPECT_EQ(n.h.position("doc:wo:1", f1), before) << "neither its epoch nor its offset moved";
  // And a resume at that position recovers with nothing to replay.
  bool recovered = false;
  auto again = n.join("doc:wo:1", f1, before, &recovered);
  EXPECT_TRUE(recovered);
}

TEST(StreamApply, AGapMarkerStartsOverTheCoveredChannelsViewsAndLeavesOthersAlone) {
  node n;
  test::stream_writer w("rtcache");
  const auto f1 = factory_scope::of({"F1"});
  auto wo = n.join("doc:wo:1", f1);
  auto pl = n.join("doc:pl:1", f1);
  n.apply_ok(w.channel("doc:wo:1", "F1"));
  n.apply_ok(w.channel("doc:pl:1", "F1"));
  const auto wo_before = *n.h.position("doc:wo:1", f1);
  const auto pl_before = *n.h.position("doc:pl:1", f1);
  n.apply_ok(w.gap({gap_table_ref{"public", "work_orders", "wo"}}));
  EXPECT_EQ(wo->events().back(), "reset");
  EXPECT_EQ(pl->events().size(), 1u) << "doc:pl:1 is not covered";
  EXPECT_NE(n.h.position("doc:wo:1", f1)->epoch, wo_before.epoch);
  EXPECT_EQ(n.h.position("doc:wo:1", f1), as_hub(w.expected(std::string(k_identity), "doc:wo:1", f1)));
  EXPECT_EQ(n.h.position("doc:pl:1", f1), pl_before);
  bool recovered = true;
  n.join("doc:wo:1", f1, wo_before, &recovered);
  EXPECT_FALSE(recovered) << "a position from before the gap is never continued";
  n.join("doc:pl:1", f1, pl_before, &recovered);
  EXPECT_TRUE(recovered);
  // The next message continues the new epoch.
  n.apply_ok(w.channel("doc:wo:1", "F1", "\"after\""));
  EXPECT_EQ(wo->events().back(), "2:\"after\"");
  EXPECT_EQ(n.a.stats().gaps, 1u);
}

// A broadcast topic's messages come only from relay ingest: a WAL gap leaves its views alone, a marker of lost relay
// ingest starts them over, so that a position from before the loss is never continued (recovered:false).
TEST(StreamApply, LostRelayIngestStartsBroadcastTopicsOverAndAWalGapDoesNot) {
  node n;
  test::stream_writer w("rtcache");
  const auto all = factory_scope::unscoped();
  auto room = n.join("room", all);
  auto priv = n.join("\x02room", all);
  n.apply_ok(w.channel("room", "", "\"a\""));
  n.apply_ok(w.channel("\x02room", "", "\"b\""));
  const auto room_before = *n.h.position("room", all);
  const auto priv_before = *n.h.position("\x02room", all);
  n.apply_ok(w.gap({}));
  EXPECT_EQ(room->events(), (std::vector<std::string>{"1:\"a\""})) << "a WAL gap: not covered";
  EXPECT_EQ(n.h.position("room", all), room_before);
  n.apply_ok(w.gap({}, k_ingest_lost_reason));
  EXPECT_EQ(room->events().back(), "reset");
  EXPECT_EQ(priv->events().back(), "reset");
  EXPECT_NE(n.h.position("room", all)->epoch, room_before.epoch);
  EXPECT_EQ(n.h.position("room", all), as_hub(w.expected(std::string(k_identity), "room", all)));
  EXPECT_EQ(n.h.position("\x02room", all), as_hub(w.expected(std::string(k_identity), "\x02room", all)));
  bool recovered = true;
  n.join("room", all, room_before, &recovered);
  EXPECT_FALSE(recovered) << "messages of the topic may have been lost";
  recovered = true;
  n.join("\x02room", all, priv_before, &recovered);
  EXPECT_FALSE(recovered);
  n.apply_ok(w.channel("room", "", "\"after\""));
  EXPECT_EQ(room->events().back(), "2:\"after\"");
}

TEST(StreamApply, APartitionsNewGenerationStartsItsViewsOverAtTheSchemesPosition) {
  node n;
  test::stream_writer w("rtcache");
  const auto f1 = factory_scope::of({"F1"});
  auto sub = n.join("doc:wo:1", f1);
  n.apply_ok(w.channel("doc:wo:1", "F1", "1"));
  n.apply_ok(w.channel("doc:wo:1", "F1", "2"));
  const auto before = *n.h.position("doc:wo:1", f1);
  // The partition's last message left the stream; the writer starts generation 3 with counter 1.
  n.apply_ok(w.channel("doc:wo:1", "F1", "3", false, true));
  EXPECT_EQ(sub->events(), (std::vector<std::string>{"1:1", "2:2", "reset", "1:3"}));
  EXPECT_EQ(n.h.position("doc:wo:1", f1), as_hub(w.expected(std::string(k_identity), "doc:wo:1", f1)));
  EXPECT_NE(n.h.position("doc:wo:1", f1)->epoch, before.epoch);
  bool recovered = true;
  n.join("doc:wo:1", f1, before, &recovered);
  EXPECT_FALSE(recovered) << "a position of the old incarnation is never continued";
}

TEST(StreamApply, AMalformedMessageIsRefusedCountedAndChangesNothing) {
  node n;
  test::stream_writer w("rtcache");
  const auto f1 = factory_scope::of({"F1"});
  auto sub = n.join("doc:wo:1", f1);
  n.apply_ok(w.channel("doc:wo:1", "F1", "\"ok\""));
  const auto before = *n.h.position("doc:wo:1", f1);

  auto good = w.channel("doc:wo:1", "F1", "\"good\"");  // built to take apart; never applied
  const auto pos = std::string(*good.header_value(k_positions_header));
  // Malformed variants of the good message, not copies of it: none carries its Nats-Msg-Id (replay_filter).
  std::erase_if(good.headers, [](const header& h) { return h.name == msg_id_header; });
  std::vector<stream_message> bad;
  bad.push_back(w.raw("elsewhere.c.x.y", good.data, good.headers));                              // another prefix
  bad.push_back(w.raw(good.subject, "not a body", good.headers));                                // body
  bad.push_back(w.raw(good.subject, good.data, {}));                                             // no position
  bad.push_back(w.raw(good.subject, good.data, {{std::string(k_positions_header), "0/F1/x"}}));  // bad header
  bad.push_back(w.raw(w.subject_of().partition("doc:wo:1", "F2"), good.data, good.headers));     // subject vs body
  bad.push_back(w.raw(good.subject, good.data, {{std::string(k_positions_header), "0/F2/1"}}));  // header vs subject
  bad.push_back(w.raw(w.subject_of().control("gap"), good.data, good.headers));                  // kind vs subject
  {
    channel_message c;
    c.channel = "doc:wo:1";
    c.event = "invalidate";
    c.factory = "F1";
    c.contract = true;
    c.payload = "{\"not\":\"an event\"}";
    bad.push_back(w.raw(good.subject, encode_body(c), good.headers));  // contract event that does not decode
    c.payload = R"({"type":"wo","id":"1","factoryId":"F2","action":"update"})";
    bad.push_back(w.raw(good.subject, encode_body(c), good.headers));  // a contract event of another factory
    c.contract = false;
    c.payload = "{}";
    c.record = "{\"schema\":1}";
    bad.push_back(w.raw(good.subject, encode_body(c), good.headers));  // record that does not decode
  }
  for (const auto& m : bad) {
    auto r = n.a.apply(m, 1);
    EXPECT_FALSE(r) << m.subject;
    if (!r) {
      EXPECT_NE(r.error().message.find("seq " + std::to_string(m.seq)), std::string::npos) << r.error().message;
    }
  }
  EXPECT_EQ(n.a.stats().refused, bad.size());
  EXPECT_EQ(sub->events(), (std::vector<std::string>{"1:\"ok\""})) << "nothing refused is shown to a client";
  EXPECT_EQ(n.h.position("doc:wo:1", f1), before);
  EXPECT_EQ(n.a.book().find("doc:wo:1")->seq, 1u) << "the book applied none of them";
  (void)pos;
}

// A copy of a message taken before (the same Nats-Msg-Id, at a later sequence) is dropped before it is decoded: the
// book and the hub stay as they were, and it is counted as a replay, not as refused.
TEST(StreamApply, ARepeatedSourceMessageIsDroppedAndChangesNothing) {
  node n;
  test::stream_writer w("rtcache");
  const auto f1 = factory_scope::of({"F1"});
  auto sub = n.join("doc:wo:1", f1);
  const auto first = w.channel("doc:wo:1", "F1", "\"1\"");
  n.apply_ok(first);
  n.apply_ok(w.channel("doc:wo:1", "F1", "\"2\""));
  const auto before = *n.h.position("doc:wo:1", f1);
  const auto copy = w.raw(first.subject, first.data, first.headers);
  auto r = n.a.apply(copy, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::errc::duplicate_key);
  EXPECT_NE(r.error().message.find("seq " + std::to_string(copy.seq)), std::string::npos) << r.error().message;
  EXPECT_EQ(n.a.stats().replays, 1u);
  EXPECT_EQ(n.a.stats().refused, 0u);
  EXPECT_EQ(n.h.position("doc:wo:1", f1), before);
  EXPECT_EQ(n.a.book().find("doc:wo:1")->seq, 2u) << "the book did not take it";
  n.apply_ok(w.channel("doc:wo:1", "F1", "\"3\""));
  EXPECT_EQ(sub->events(), (std::vector<std::string>{"1:\"1\"", "2:\"2\"", "3:\"3\""}));
  EXPECT_EQ(n.h.position("doc:wo:1", f1), as_hub(w.expected(std::string(k_identity), "doc:wo:1", f1)));
}

TEST(StreamApply, AContractEventIsPublishedWithItsDecodedEvent) {
  node n;
  test::stream_writer w("rtcache");
  const auto f1 = factory_scope::of({"F1"});
  auto sub = n.join("doc:wo:1", f1);
  n.apply_ok(w.channel("doc:wo:1", "F1", R"({"type":"wo","id":"1","factoryId":"F1","action":"update"})", true));
  ASSERT_EQ(sub->events().size(), 1u);
  EXPECT_EQ(n.a.stats().published, 1u);
}

// issue 13, "a gap is never continuity": a node that lost messages, or whose stream was created again, can vouch for
// nothing it applied. reset() empties the book and starts every view of every channel over at the empty book's
// position; a partition's next message puts the node back where every other node is.
TEST(StreamApply, AResetStartsEveryViewOverAndANewIdentityChangesEveryEpoch) {
  node n;
  test::stream_writer w("rtcache");
  const auto f1 = factory_scope::of({"F1"});
  auto wo = n.join("doc:wo:1", f1);
  auto pl = n.join("doc:pl:1", f1);
  n.apply_ok(w.channel("doc:wo:1", "F1", "\"a\""));
  n.apply_ok(w.channel("doc:pl:1", "F1", "\"b\""));
  const auto wo_before = *n.h.position("doc:wo:1", f1);
  EXPECT_EQ(n.a.reset(std::string(k_identity), 3), 2u);
  EXPECT_EQ(wo->events(), (std::vector<std::string>{"1:\"a\"", "reset"}));
  EXPECT_EQ(pl->events(), (std::vector<std::string>{"1:\"b\"", "reset"}));
  const auto empty = as_hub(test::stream_writer("rtcache").expected(std::string(k_identity), "doc:wo:1", f1));
  EXPECT_EQ(n.h.position("doc:wo:1", f1), empty);
  bool recovered = true;
  n.join("doc:wo:1", f1, wo_before, &recovered);
  EXPECT_FALSE(recovered) << "a gap is never continuity";
  n.apply_ok(w.channel("doc:wo:1", "F1", "\"c\""));
  EXPECT_EQ(n.h.position("doc:wo:1", f1), as_hub(w.expected(std::string(k_identity), "doc:wo:1", f1)));
  // The stream created again: its identity is in every epoch.
  const auto wo_now = *n.h.position("doc:wo:1", f1);
  EXPECT_EQ(n.a.reset("rtcache@2", 1), 2u);
  EXPECT_EQ(n.a.book().identity(), "rtcache@2");
  EXPECT_NE(n.h.position("doc:wo:1", f1)->epoch, wo_now.epoch);
  EXPECT_NE(n.h.position("doc:pl:1", f1)->epoch, empty.epoch);
}

std::vector<std::string> replayed(const std::vector<hub::hub_message_ptr>& replay) {
  std::vector<std::string> out;
  for (const auto& m : replay) out.push_back(std::to_string(m->offset) + ":" + m->frames.v1_text);
  return out;
}

// Nodes A and B applying the same messages; `fetched` collects those a fetch of the view's subjects would return.
struct applying_pair {
  node a;
  node b;
  std::vector<stream_message> fetched;

  void both(const stream_message& m, bool fetched_too = true) {
    (void)a.a.apply(m, 1);
    (void)b.a.apply(m, 1);
    if (fetched_too) fetched.push_back(m);
  }
  // B's join of `view` on doc:wo:1 at `client` from `fetched`, which must be recovered at A's current position:
  // its replay as "offset:payload".
  std::vector<std::string> recovered_on_b(const factory_scope& view, const hub::hub_position& client) {
    auto s = std::make_shared<recorder>(recorder::record::offsets_and_frames);
    replay_outcome outcome = replay_outcome::not_passed;
    auto j = b.a.join_replayed("doc:wo:1", view, s, client, 1, fetched, 1, outcome);
    if (!j || !*j || outcome != replay_outcome::recovered || !(*j)->recovered) {
      ADD_FAILURE() << "not recovered";
      return {};
    }
    EXPECT_EQ((*j)->position, a.h.position("doc:wo:1", view));
    return replayed((*j)->replay);
  }
};

// Exact resume by range fetch, its pure half (stream_applier::join_replayed): node B, which never held the view,
// is handed the view's messages as a fetch would return them. A message apply() refuses is skipped there too, so
// the replay is A's messages at A's offsets.
TEST(StreamApply, AJoinReplayedFromFetchedMessagesSkipsWhatApplyRefusesAndIsExactlyWhatWasMissed) {
  test::stream_writer w{"rtcache"};
  applying_pair p;
  const auto f1 = factory_scope::of({"F1"});
  auto on_a = p.a.join("doc:wo:1", f1);
  const std::string subject = w.subject_of().partition("doc:wo:1", "F1");
  p.both(w.channel("doc:wo:1", "F1", "1"));  // F1's subject: fetched
  p.both(w.channel("doc:wo:1", "F2", "x"), false);
  const auto client = *p.a.h.position("doc:wo:1", f1);
  p.both(w.raw(subject, "garbage"));
  p.both(w.channel("doc:wo:1", "F1", "2"));
  p.both(w.channel("doc:wo:1", "F2", "y"), false);
  p.both(w.channel("doc:wo:1", "F1", "3"));
  ASSERT_TRUE(p.b.a.resume_needs_fetch("doc:wo:1", f1, client, 1));
  EXPECT_EQ(p.b.a.view_subjects("doc:wo:1", f1), std::vector<std::string>{subject});
  EXPECT_EQ(p.recovered_on_b(f1, client), (std::vector<std::string>{"2:2", "3:3"}));
  EXPECT_EQ(on_a->events(), (std::vector<std::string>{"1:1", "2:2", "3:3"}));
  EXPECT_FALSE(p.b.a.resume_needs_fetch("doc:wo:1", f1, client, 1)) << "B holds the view now: its hub answers";
}

// A repeated source message among the fetched ones (a copy of an older message of the view, stored again) is skipped
// as apply() drops it: the replay is the original only, at A's offsets. Taken, its older position would break the
// walk (recovered:false).
TEST(StreamApply, AJoinReplayedSkipsARepeatedSourceMessageAsApplyDropsIt) {
  test::stream_writer w{"rtcache"};
  applying_pair p;
  const auto f1 = factory_scope::of({"F1"});
  auto on_a = p.a.join("doc:wo:1", f1);
  const auto client = *p.a.h.position("doc:wo:1", f1);
  const auto one = w.channel("doc:wo:1", "F1", "1");
  p.both(one);
  p.both(w.channel("doc:wo:1", "F1", "2"));
  p.both(w.raw(one.subject, one.data, one.headers));
  p.both(w.channel("doc:wo:1", "F1", "3"));
  EXPECT_EQ(p.a.a.stats().replays, 1u);
  std::reverse(p.fetched.begin(), p.fetched.end());  // in any order: taken by sequence
  EXPECT_EQ(p.recovered_on_b(f1, client), (std::vector<std::string>{"1:1", "2:2", "3:3"}));
  EXPECT_EQ(on_a->events(), (std::vector<std::string>{"1:1", "2:2", "3:3"}));
}

// A message of the view missing from what was fetched (purged, or not returned) skips an offset: never a replay
// with a hole, the join is left to the caller (recovered:false).
TEST(StreamApply, AJoinReplayedIsRefusedWhenAMessageOfTheViewIsMissingFromTheFetch) {
  test::stream_writer w{"rtcache"};
  node a;
  node b;
  const auto all = factory_scope::unscoped();
  auto on_a = a.join("doc:wo:1", all);
  std::vector<stream_message> ms;
  ms.push_back(w.channel("doc:wo:1", "F1", "1"));
  ms.push_back(w.channel("doc:wo:1", "F2", "2"));
  ms.push_back(w.channel("doc:wo:1", "", "3"));
  ms.push_back(w.channel("doc:wo:1", "F1", "4"));
  for (const auto& m : ms) {
    a.apply_ok(m);
    b.apply_ok(m);
  }
  const hub::hub_position client{a.h.position("doc:wo:1", all)->epoch, 1};
  const std::vector<stream_message> holed = {ms[0], ms[1], ms[3]};  // the untagged message did not come back
  auto s = std::make_shared<recorder>(recorder::record::offsets_and_frames);
  replay_outcome outcome = replay_outcome::recovered;
  EXPECT_FALSE(b.a.join_replayed("doc:wo:1", all, s, client, 1, holed, 1, outcome));
  EXPECT_EQ(outcome, replay_outcome::not_passed);
  EXPECT_FALSE(b.h.position("doc:wo:1", all)) << "no view was made";
  auto j = b.a.join_replayed("doc:wo:1", all, s, client, 1, ms, 1, outcome);
  ASSERT_TRUE(j && *j);
  EXPECT_EQ(replayed((*j)->replay), (std::vector<std::string>{"2:2", "3:3", "4:4"})) << "the whole fetch recovers";
}

}  // namespace
}  // namespace rtcache::cluster
