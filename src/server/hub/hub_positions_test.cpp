// The hub with positions from outside (issue 13, cluster mode; docs/cluster.md (f)): views created at a named
// position, messages appended at the position their publisher names per view class, a view a message does not
// continue starting over with its subscribers told, a repeat not appended twice, reset_at for gaps, and the bounds
// and isolation rules unchanged. The single-node behaviour is pinned by hub_test.cpp, which these options leave
// untouched. Nothing here sleeps.
#include "hub/hub.hpp"
#include "hub/message.hpp"
#include "hub/test_recorder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace rtcache::hub {
namespace {

using core::factory_scope;

// Records deliveries (as their offsets) and resets, in the order they arrive.
using test::recorder;

using events = std::vector<std::string>;

// v1 frame = payload "@" offset: the frames show the offset the encoder was told.
hub_encoder offset_encoder() {
  return [](const hub_encode_request& r) {
    hub_frames f;
    f.v1_text = std::string(r.payload_json) + "@" + std::to_string(r.offset);
    return f;
  };
}

// Positions named per view class (its view_class text: "*" or the sorted factory ids); a class not named gets
// nullopt. Records which classes the hub asked about.
struct named_positions final : hub_view_positions {
  std::map<std::string, hub_position> by_class;
  mutable std::vector<std::string> asked;

  static std::string key(const factory_scope& view) {
    if (view.is_unscoped()) return "*";
    std::string out;
    for (const auto& f : view.factory_ids()) out += (out.empty() ? "" : ",") + f;
    return out;
  }
  std::optional<hub_position> position_of(std::string_view, const factory_scope& view) const override {
    asked.push_back(key(view));
    const auto it = by_class.find(key(view));
    if (it == by_class.end()) return std::nullopt;
    return it->second;
  }
};

hub_config lingering() {
  hub_config c;
  c.linger = std::chrono::minutes(1);
  return c;
}

// A publish whose position is (epoch, offset) in every view it reaches (one-view channels, or the unscoped view).
hub_publish_result publish_at(hub& h, std::string_view channel, const std::string& epoch, std::uint64_t offset,
                              std::string_view factory = {}) {
  named_positions p;
  p.by_class["*"] = hub_position{epoch, offset};
  if (!factory.empty()) p.by_class[std::string(factory)] = hub_position{epoch, offset};
  hub_publish_options o;
  o.positions = &p;
  o.factory_id = factory;
  return h.publish(channel, "invalidate", "{}", o);
}

std::vector<std::uint64_t> offsets_of(const std::vector<hub_message_ptr>& replay) {
  std::vector<std::uint64_t> out;
  for (const auto& m : replay) out.push_back(m->offset);
  return out;
}

TEST(HubPositions, AViewCreatedAtAnOriginStartsThereAndRecoversOnlyThatPosition) {
  hub h(lingering(), offset_encoder(), counter_epochs("drawn-"));
  auto s = std::make_shared<recorder>();
  auto j =
      h.subscribe_view_at("doc:wo:1", factory_scope::of({"F1"}), hub_position{"E7", 41}, s, hub_position{"E7", 41});
  ASSERT_TRUE(j);
  EXPECT_EQ(j->position, (hub_position{"E7", 41}));
  EXPECT_TRUE(j->recovered);  // at the current position: nothing missed
  EXPECT_TRUE(j->replay.empty());
  EXPECT_EQ(h.position("doc:wo:1", factory_scope::of({"F1"})), (hub_position{"E7", 41}));
  // No history before the origin here (a node fetches it from the stream): an older offset is not recovered,
  // nor is the same offset under another epoch.
  for (const auto& resume : {hub_position{"E7", 40}, hub_position{"E6", 41}, hub_position{"E7", 42}}) {
    auto other = h.subscribe_view_at("doc:wo:1", factory_scope::of({"F1"}), hub_position{"E7", 41},
                                     std::make_shared<recorder>(), resume);
    ASSERT_TRUE(other);
    EXPECT_FALSE(other->recovered) << resume.epoch << "/" << resume.offset;
    EXPECT_TRUE(other->replay.empty());
  }
  EXPECT_EQ(s->events(), events{});  // joins at the view's own position start nothing over
  EXPECT_EQ(h.metrics().views_reset, 0u);
}

// What cluster mode asks before reading a view's messages back from the stream (hub::resumable: subscribe_view's
// recovery rule, without joining), and how it frames them (hub::encode: as publish would, into no view).
TEST(HubPositions, ResumableAppliesTheJoinsRecoveryRuleAndEncodeTakesNoView) {
  hub h(lingering(), offset_encoder());
  const auto f1 = factory_scope::of({"F1"});
  EXPECT_FALSE(h.resumable("doc:wo:1", f1, hub_position{"E", 0})) << "no view";
  auto s = std::make_shared<recorder>();
  auto j = h.subscribe_view_at("doc:wo:1", f1, hub_position{"E", 10}, s);
  ASSERT_TRUE(j);
  EXPECT_EQ(publish_at(h, "doc:wo:1", "E", 11, "F1").offset, 11u);
  EXPECT_EQ(publish_at(h, "doc:wo:1", "E", 12, "F1").offset, 12u);
  EXPECT_TRUE(h.resumable("doc:wo:1", f1, hub_position{"E", 12}));
  EXPECT_TRUE(h.resumable("doc:wo:1", f1, hub_position{"E", 10}));
  EXPECT_FALSE(h.resumable("doc:wo:1", f1, hub_position{"E", 9})) << "older than the history";
  EXPECT_FALSE(h.resumable("doc:wo:1", f1, hub_position{"D", 12})) << "another epoch";
  EXPECT_FALSE(h.resumable("doc:wo:1", f1, hub_position{"E", 13})) << "ahead of the view";
  EXPECT_FALSE(h.resumable("doc:wo:1", factory_scope::unscoped(), hub_position{"E", 12})) << "another view class";
  const auto before = h.metrics();
  hub_publish_options o;
  o.factory_id = "F1";
  const hub_message_ptr m = h.encode("doc:wo:1", 7, "invalidate", "{}", o);
  EXPECT_EQ(m->offset, 7u);
  EXPECT_EQ(m->frames.v1_text, "{}@7");
  EXPECT_EQ(m->meta.factory_id, "F1");
  EXPECT_EQ(s->events(), (events{"11", "12"})) << "delivered to nobody";
  EXPECT_EQ(h.position("doc:wo:1", f1), (hub_position{"E", 12}));
  EXPECT_EQ(h.metrics().messages_published, before.messages_published);
  EXPECT_EQ(h.metrics().history_messages, before.history_messages);
}

TEST(HubPositions, MessagesTakeTheOffsetsTheirPublisherNamesAndARepeatIsNotAppendedTwice) {
  hub h(lingering(), offset_encoder());
  auto s = std::make_shared<recorder>();
  auto j = h.subscribe_view_at("list:wo:F1", factory_scope::unscoped(), hub_position{"E", 10}, s);
  ASSERT_TRUE(j);
  EXPECT_FALSE(publish_at(h, "list:wo:F1", "E", 10).accepted());  // the join counted it already
  EXPECT_EQ(publish_at(h, "list:wo:F1", "E", 11).offset, 11u);
  EXPECT_EQ(publish_at(h, "list:wo:F1", "E", 12).offset, 12u);
  EXPECT_FALSE(publish_at(h, "list:wo:F1", "E", 12).accepted());  // the same message again
  EXPECT_FALSE(publish_at(h, "list:wo:F1", "E", 11).accepted());
  EXPECT_EQ(s->events(), (events{"11", "12"}));
  EXPECT_EQ(h.position("list:wo:F1"), (hub_position{"E", 12}));
  const hub_metrics m = h.metrics();
  EXPECT_EQ(m.messages_repeated, 3u);
  EXPECT_EQ(m.messages_published, 2u);
  EXPECT_EQ(m.history_messages, 2u);
  EXPECT_EQ(m.views_reset, 0u);
  // A resume inside what the view holds replays exactly that, with the frames encoded at the named offsets.
  auto r = h.subscribe_view_at("list:wo:F1", factory_scope::unscoped(), hub_position{"E", 12},
                               std::make_shared<recorder>(), hub_position{"E", 10});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->recovered);
  ASSERT_EQ(offsets_of(r->replay), (std::vector<std::uint64_t>{11, 12}));
  EXPECT_EQ(r->replay[0]->frames.v1_text, "{}@11");
}

TEST(HubPositions, AMessageThatDoesNotContinueTheViewStartsItOverAndTellsItsSubscribersFirst) {
  // A skipped offset in the same epoch, and another epoch (at a lower offset: a partition's new generation).
  for (const auto& [epoch, offset] : std::vector<std::pair<std::string, std::uint64_t>>{{"E", 14}, {"F", 2}}) {
    SCOPED_TRACE(epoch + "/" + std::to_string(offset));
    hub h(lingering(), offset_encoder());
    auto s = std::make_shared<recorder>();
    auto j = h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{"E", 10}, s);
    ASSERT_TRUE(j);
    EXPECT_EQ(publish_at(h, "doc:wo:1", "E", 11).offset, 11u);
    const hub_publish_result r = publish_at(h, "doc:wo:1", epoch, offset);
    EXPECT_EQ(r.offset, offset);
    EXPECT_EQ(r.subscribers, 1u);  // still subscribed: told first, then given the new position's messages
    EXPECT_EQ(publish_at(h, "doc:wo:1", epoch, offset + 1).offset, offset + 1);
    EXPECT_EQ(s->events(), (events{"11", "reset", std::to_string(offset), std::to_string(offset + 1)}));
    EXPECT_EQ(h.position("doc:wo:1"), (hub_position{epoch, offset + 1}));
    const hub_metrics m = h.metrics();
    EXPECT_EQ(m.views_reset, 1u);
    EXPECT_EQ(m.history_messages, 2u);  // 11 went with the old position
    EXPECT_EQ(m.subscribers, 1u);
    // Nothing from before is replayed as continuous: a resume at 11 (the old run) is not recovered. The view
    // started over just before the message, so a client at that position (derived alike on every node) missed
    // exactly what the view holds since, and recovers it.
    auto old = h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{epoch, offset + 1},
                                   std::make_shared<recorder>(), hub_position{"E", 11});
    ASSERT_TRUE(old);
    EXPECT_FALSE(old->recovered);
    EXPECT_TRUE(old->replay.empty());
    auto before = h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{epoch, offset + 1},
                                      std::make_shared<recorder>(), hub_position{epoch, offset - 1});
    ASSERT_TRUE(before);
    EXPECT_TRUE(before->recovered);
    EXPECT_EQ(offsets_of(before->replay), (std::vector<std::uint64_t>{offset, offset + 1}));
  }
}

TEST(HubPositions, EachViewClassTakesThePositionNamedForItAndStartsOverOnItsOwn) {
  hub h(lingering(), offset_encoder());
  auto all = std::make_shared<recorder>();
  auto f1 = std::make_shared<recorder>();
  auto f2 = std::make_shared<recorder>();
  auto ja = h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{"U", 8}, all);
  auto j1 = h.subscribe_view_at("doc:wo:1", factory_scope::of({"F1"}), hub_position{"S1", 3}, f1);
  auto j2 = h.subscribe_view_at("doc:wo:1", factory_scope::of({"F2"}), hub_position{"S2", 5}, f2);
  ASSERT_TRUE(ja && j1 && j2);

  // An F1 message: the unscoped view's offset counts every partition, F1's its own.
  named_positions p;
  p.by_class = {{"*", {"U", 9}}, {"F1", {"S1", 4}}};
  hub_publish_options o;
  o.factory_id = "F1";
  o.positions = &p;
  hub_publish_result r = h.publish("doc:wo:1", "invalidate", "{}", o);
  EXPECT_EQ(r.views, 2u);
  // A foreign factory's view is never asked for, nor given, an F1 message (issue 11, finding 3).
  EXPECT_EQ(std::count(p.asked.begin(), p.asked.end(), "F2"), 0);

  // The unscoped view starts over (say a foreign partition's new generation); F1's view goes on untouched.
  p.by_class = {{"*", {"U2", 12}}, {"F1", {"S1", 5}}};
  p.asked.clear();
  r = h.publish("doc:wo:1", "invalidate", "{}", o);
  EXPECT_EQ(r.views, 2u);
  EXPECT_EQ(all->events(), (events{"9", "reset", "12"}));
  EXPECT_EQ(f1->events(), (events{"4", "5"}));
  EXPECT_EQ(f2->events(), events{});
  EXPECT_EQ(h.position("doc:wo:1", factory_scope::of({"F2"})), (hub_position{"S2", 5}));

  // An untagged message reaches the unscoped view only, whatever positions are named for the others.
  named_positions untagged;
  untagged.by_class = {{"*", {"U2", 13}}, {"F1", {"S1", 6}}, {"F2", {"S2", 6}}};
  hub_publish_options ou;
  ou.positions = &untagged;
  r = h.publish("doc:wo:1", "invalidate", "{}", ou);
  EXPECT_EQ(r.views, 1u);
  EXPECT_EQ(untagged.asked, (std::vector<std::string>{"*"}));
  EXPECT_EQ(f1->events(), (events{"4", "5"}));
  EXPECT_EQ(f2->events(), events{});

  // A view the caller names no position for does not take the message and stays as it is.
  named_positions only_all;
  only_all.by_class = {{"*", {"U2", 14}}};
  hub_publish_options o_all = o;
  o_all.positions = &only_all;
  r = h.publish("doc:wo:1", "invalidate", "{}", o_all);
  EXPECT_EQ(r.views, 1u);
  EXPECT_EQ(h.position("doc:wo:1", factory_scope::of({"F1"})), (hub_position{"S1", 5}));
  EXPECT_EQ(h.metrics().views_reset, 1u);
}

TEST(HubPositions, AJoinAtAnotherOriginStartsTheViewOverThereAndTellsItsSubscribers) {
  hub h(lingering(), offset_encoder());
  auto s = std::make_shared<recorder>();
  auto j = h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{"E", 3}, s);
  ASSERT_TRUE(j);
  publish_at(h, "doc:wo:1", "E", 4);
  auto j2 = h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{"G", 0},
                                std::make_shared<recorder>(), hub_position{"E", 3});
  ASSERT_TRUE(j2);
  EXPECT_FALSE(j2->recovered);  // the history of E went with the old position
  EXPECT_TRUE(j2->replay.empty());
  EXPECT_EQ(j2->position, (hub_position{"G", 0}));
  EXPECT_EQ(s->events(), (events{"4", "reset"}));
  EXPECT_EQ(h.metrics().subscribers, 2u);
  EXPECT_EQ(h.metrics().history_messages, 0u);
  EXPECT_EQ(publish_at(h, "doc:wo:1", "G", 1).subscribers, 2u);
}

TEST(HubPositions, AnIdleViewThatAMessageDoesNotContinueStartsOverInPlaceWithItsIdleBytesCounted) {
  hub h(lingering(), offset_encoder());
  {
    auto j = h.subscribe_view_at("room", factory_scope::unscoped(), hub_position{"E", 0}, std::make_shared<recorder>());
    ASSERT_TRUE(j);
    publish_at(h, "room", "E", 1);
    publish_at(h, "room", "E", 2);
  }  // the last subscriber left: idle, lingering
  EXPECT_EQ(h.metrics().idle_history_bytes, 2 * std::string("{}@1").size());
  EXPECT_EQ(publish_at(h, "room", "F", 7).offset, 7u);
  const hub_metrics m = h.metrics();
  EXPECT_EQ(m.idle_channels, 1u);
  EXPECT_EQ(m.history_messages, 1u);
  EXPECT_EQ(m.idle_history_bytes, std::string("{}@7").size());
  EXPECT_EQ(m.history_bytes, std::string("{}@7").size());
  auto r = h.subscribe_view_at("room", factory_scope::unscoped(), hub_position{"F", 7}, std::make_shared<recorder>(),
                               hub_position{"E", 2});
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->recovered);
  EXPECT_EQ(h.metrics().idle_history_bytes, 0u);
}

TEST(HubPositions, ResetAtStartsOverTheSelectedViewsAtTheirNamedPositionsAndLeavesTheRest) {
  hub h(lingering(), offset_encoder());
  auto a = std::make_shared<recorder>();
  auto b = std::make_shared<recorder>();
  auto c = std::make_shared<recorder>();
  auto ja = h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{"A", 0}, a);
  auto jb = h.subscribe_view_at("doc:wo:1", factory_scope::of({"F1"}), hub_position{"B", 0}, b);
  auto jc = h.subscribe_view_at("room", factory_scope::unscoped(), hub_position{"C", 0}, c);
  ASSERT_TRUE(ja && jb && jc);
  {
    auto idle =
        h.subscribe_view_at("doc:wo:2", factory_scope::unscoped(), hub_position{"D", 0}, std::make_shared<recorder>());
    ASSERT_TRUE(idle);
  }
  publish_at(h, "doc:wo:1", "A", 1);
  publish_at(h, "doc:wo:2", "D", 1);
  publish_at(h, "room", "C", 1);

  // The gap covers doc: channels; the node names new epochs for doc:wo:1's unscoped view and doc:wo:2, the same
  // position for F1's view of doc:wo:1 (nothing to start over), and would name one for room, which is not selected.
  struct by_channel final : hub_view_positions {
    std::optional<hub_position> position_of(std::string_view channel, const factory_scope& view) const override {
      if (channel == "doc:wo:1") return view.is_unscoped() ? hub_position{"A2", 1} : hub_position{"B", 0};
      if (channel == "doc:wo:2") return hub_position{"D2", 1};
      return hub_position{"C2", 1};
    }
  } where;
  EXPECT_EQ(h.reset_at([](std::string_view ch) { return ch.starts_with("doc:"); }, where), 2u);
  EXPECT_EQ(a->events(), (events{"1", "reset"}));
  EXPECT_EQ(b->events(), events{});
  EXPECT_EQ(c->events(), (events{"1"}));
  EXPECT_EQ(h.position("doc:wo:1"), (hub_position{"A2", 1}));
  EXPECT_EQ(h.position("doc:wo:1", factory_scope::of({"F1"})), (hub_position{"B", 0}));
  EXPECT_EQ(h.position("doc:wo:2"), (hub_position{"D2", 1}));  // idle: started over in place
  EXPECT_EQ(h.position("room"), (hub_position{"C", 1}));
  const hub_metrics m = h.metrics();
  EXPECT_EQ(m.views_reset, 2u);
  EXPECT_EQ(m.history_messages, 1u);  // room's only
  EXPECT_EQ(m.idle_history_bytes, 0u);
  // A resume from before the gap is not recovered; one at the new position is, with nothing to replay.
  auto old = h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{"A2", 1},
                                 std::make_shared<recorder>(), hub_position{"A", 1});
  ASSERT_TRUE(old);
  EXPECT_FALSE(old->recovered);
  auto fresh = h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{"A2", 1},
                                   std::make_shared<recorder>(), hub_position{"A2", 1});
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(fresh->recovered);
  EXPECT_EQ(publish_at(h, "doc:wo:1", "A2", 2).subscribers, 3u);
}

TEST(HubPositions, TheHistoryBoundsHoldWithPositionsFromOutside) {
  hub_config c = lingering();
  c.max_history_messages = 3;
  hub h(c, offset_encoder());
  auto j =
      h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{"E", 100}, std::make_shared<recorder>());
  ASSERT_TRUE(j);
  for (std::uint64_t o = 101; o <= 110; ++o) ASSERT_EQ(publish_at(h, "doc:wo:1", "E", o).offset, o);
  EXPECT_EQ(h.metrics().history_messages, 3u);
  auto in = h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{"E", 110},
                                std::make_shared<recorder>(), hub_position{"E", 107});
  ASSERT_TRUE(in);
  EXPECT_TRUE(in->recovered);
  EXPECT_EQ(offsets_of(in->replay), (std::vector<std::uint64_t>{108, 109, 110}));
  auto out = h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{"E", 110},
                                 std::make_shared<recorder>(), hub_position{"E", 106});
  ASSERT_TRUE(out);
  EXPECT_FALSE(out->recovered);
}

// A view that starts over at a lower offset repeats offsets its old epoch had in the hub-wide retention order;
// those old entries must not evict the new epoch's messages when max_total_history_bytes is enforced.
TEST(HubPositions, AStartOverThatRepeatsAnOffsetKeepsTheNewMessageUnderTheTotalBound) {
  hub_config c = lingering();
  // Three messages of 4 bytes and their entries (108) fit; after the start-over, four entries and one message
  // (132) do not: one entry must go, and it must be an old one.
  c.max_total_history_bytes = 130;
  hub h(c, offset_encoder());
  auto j =
      h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{"E", 0}, std::make_shared<recorder>());
  ASSERT_TRUE(j);
  for (std::uint64_t o = 1; o <= 3; ++o) publish_at(h, "doc:wo:1", "E", o);
  ASSERT_EQ(h.metrics().history_messages, 3u);
  EXPECT_EQ(publish_at(h, "doc:wo:1", "F", 1).offset, 1u);
  EXPECT_EQ(h.metrics().history_evicted, 0u);
  EXPECT_EQ(h.metrics().history_messages, 1u);
  auto r = h.subscribe_view_at("doc:wo:1", factory_scope::unscoped(), hub_position{"F", 1},
                               std::make_shared<recorder>(), hub_position{"F", 0});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->recovered);
  EXPECT_EQ(offsets_of(r->replay), (std::vector<std::uint64_t>{1}));
}

TEST(HubPositions, WithoutPositionsAViewJoinedAtAnOriginCountsOnFromIt) {
  // The single-node path through a view created at an origin: offsets go on from the origin, the epoch stays.
  hub h(lingering(), offset_encoder());
  auto s = std::make_shared<recorder>();
  auto j = h.subscribe_view_at("room", factory_scope::unscoped(), hub_position{"E", 5}, s);
  ASSERT_TRUE(j);
  EXPECT_EQ(h.publish("room", "invalidate", "{}").offset, 6u);
  EXPECT_EQ(h.position("room"), (hub_position{"E", 6}));
  EXPECT_EQ(h.metrics().messages_repeated, 0u);
}

// ---- concurrency: an applier publishing and resetting at a book's positions while clients join and resume ----

// A channel's position as a node's book holds it; the applier and the joiners order their hub calls with their
// book reads and writes by the book's lock, as docs/cluster.md says a node must.
struct book {
  std::mutex mu;
  std::map<std::string, hub_position> at;
};

// Checks, as deliveries arrive, that within one position run they continue each other (same epoch, next offset);
// a reset may start a new run anywhere. Payloads carry the epoch, frames "epoch@offset".
class run_checker final : public hub_subscriber {
 public:
  explicit run_checker(hub_position start) : next_(std::move(start)) {}
  void deliver(const hub_message_ptr& message) noexcept override {
    const std::string& f = message->frames.v1_text;
    const std::string epoch = f.substr(0, f.find('@'));
    std::lock_guard lock(mu_);
    if (next_ && (epoch != next_->epoch || message->offset != next_->offset + 1)) ++breaks_;
    next_ = hub_position{epoch, message->offset};
  }
  void on_reset() noexcept override {
    std::lock_guard lock(mu_);
    next_.reset();
  }
  int breaks() const {
    std::lock_guard lock(mu_);
    return breaks_;
  }
  std::optional<hub_position> last() const {
    std::lock_guard lock(mu_);
    return next_;
  }

 private:
  mutable std::mutex mu_;
  std::optional<hub_position> next_;
  int breaks_ = 0;
};

TEST(HubPositionsRace, JoinsAndResumesRacingWithAnApplierNeverSeeARunBrokenOrAReplayNotMissed) {
  hub_config c = lingering();
  c.max_history_messages = 16;
  hub h(c, [](const hub_encode_request& r) {
    hub_frames f;
    f.v1_text = std::string(r.payload_json) + "@" + std::to_string(r.offset);
    return f;
  });
  const std::vector<std::string> channels = {"doc:wo:1", "doc:wo:2", "list:wo:F1"};
  book b;
  for (const auto& ch : channels) b.at[ch] = hub_position{ch + "#0", 0};
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<int> recovered{0};
  std::atomic<int> joins{0};
  // A subscriber on each channel throughout, so every view exists and takes every message.
  std::vector<std::shared_ptr<run_checker>> standing;
  std::vector<hub_subscription> standing_subs;
  for (const auto& ch : channels) {
    standing.push_back(std::make_shared<run_checker>(b.at[ch]));
    standing_subs.push_back(
        std::move(h.subscribe_view_at(ch, factory_scope::unscoped(), b.at[ch], standing.back())->subscription));
  }

  std::thread applier([&] {
    std::mt19937 rng(7);
    int generation = 0;
    for (int i = 0; i < 4000; ++i) {
      std::this_thread::yield();  // lets joiners in between messages
      const std::string& ch = channels[rng() % channels.size()];
      std::lock_guard lock(b.mu);
      hub_position& p = b.at[ch];
      const auto roll = rng() % 100;
      if (roll < 3) {
        // A gap covering doc: channels: new epochs, offsets kept.
        for (auto& [name, pos] : b.at) {
          if (name.starts_with("doc:")) pos.epoch = name + "#" + std::to_string(++generation);
        }
        struct per_channel final : hub_view_positions {
          const std::map<std::string, hub_position>* at;
          std::optional<hub_position> position_of(std::string_view channel, const factory_scope&) const override {
            return at->at(std::string(channel));
          }
        } per;
        per.at = &b.at;
        h.reset_at([](std::string_view n) { return n.starts_with("doc:"); }, per);
        continue;
      }
      if (roll < 6) {
        p = hub_position{ch + "#" + std::to_string(++generation), rng() % 5};  // a partition's new generation
      }
      ++p.offset;
      named_positions at;
      at.by_class["*"] = p;
      hub_publish_options o;
      o.positions = &at;
      if (!h.publish(ch, "invalidate", p.epoch, o).accepted() && h.position(ch)) failures.fetch_add(1);
      if (roll % 7 == 0) h.publish(ch, "invalidate", p.epoch, o);  // a repeat: must not be appended
    }
    done.store(true);
  });

  std::vector<std::thread> joiners;
  for (int t = 0; t < 3; ++t) {
    joiners.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(100 + t));
      std::map<std::string, hub_position> seen;  // what this client last held, per channel
      while (!done.load()) {
        const std::string& ch = channels[rng() % channels.size()];
        std::optional<hub_position> resume;
        if (auto it = seen.find(ch); it != seen.end()) resume = it->second;
        std::shared_ptr<run_checker> r;
        hub_join j;
        {
          std::lock_guard lock(b.mu);
          r = std::make_shared<run_checker>(b.at[ch]);
          auto joined = h.subscribe_view_at(ch, factory_scope::unscoped(), b.at[ch], r, resume);
          if (!joined) {
            failures.fetch_add(1);
            return;
          }
          j = std::move(*joined);
          joins.fetch_add(1);
        }
        if (j.recovered) {
          recovered.fetch_add(1);
          // Exactly what the client missed: resume.offset + 1 .. the join's offset, in the join's epoch.
          if (resume->epoch != j.position.epoch || j.replay.size() != j.position.offset - resume->offset) {
            failures.fetch_add(1);
          }
          for (std::size_t k = 0; k < j.replay.size(); ++k) {
            const std::string& f = j.replay[k]->frames.v1_text;
            if (j.replay[k]->offset != resume->offset + 1 + k || f.substr(0, f.find('@')) != j.position.epoch) {
              failures.fetch_add(1);
            }
          }
        }
        for (int k = 0; k < 50 && !done.load(); ++k) std::this_thread::yield();
        j.subscription.unsubscribe();
        if (r->breaks() != 0) failures.fetch_add(1);
        if (auto last = r->last()) {
          seen[ch] = *last;
        } else {
          seen.erase(ch);
        }
      }
    });
  }
  applier.join();
  for (auto& th : joiners) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (std::size_t i = 0; i < channels.size(); ++i) {
    EXPECT_EQ(standing[i]->breaks(), 0) << channels[i];
    EXPECT_EQ(h.position(channels[i]), b.at[channels[i]]) << channels[i];
  }
  standing_subs.clear();
  std::printf("joins %d, recovered %d, views reset %llu\n", joins.load(), recovered.load(),
              static_cast<unsigned long long>(h.metrics().views_reset));
  EXPECT_GT(h.metrics().views_reset, 0u);
  EXPECT_GT(h.metrics().messages_repeated, 0u);
}

}  // namespace
}  // namespace rtcache::hub
