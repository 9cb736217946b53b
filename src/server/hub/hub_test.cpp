// Unit tests for the hub: offsets and epochs, resume (exact, never partial), history bounds, encode-once
// fan-out, unsubscribe and channel lifetime, and a multi-threaded race that must stay gap- and duplicate-free
// under ThreadSanitizer. Nothing here sleeps: ordering is asserted, not timed.
#include "hub/hub.hpp"

#include "hub/message.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace rtcache::hub {
namespace {

using offsets = std::vector<std::uint64_t>;

// Records every delivery; flags a delivery that arrives after the test declared the subscription closed.
class recorder final : public hub_subscriber {
 public:
  void deliver(const hub_message_ptr& message) noexcept override {
    if (closed_.load()) late_.fetch_add(1);
    std::lock_guard lock(mu_);
    messages_.push_back(message);
  }

  std::vector<hub_message_ptr> messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }

  offsets seen() const {
    offsets out;
    for (const auto& m : messages()) out.push_back(m->offset);
    return out;
  }

  void close() { closed_.store(true); }
  int late() const { return late_.load(); }

 private:
  mutable std::mutex mu_;
  std::vector<hub_message_ptr> messages_;
  std::atomic<bool> closed_{false};
  std::atomic<int> late_{0};
};

// Frames whose byte size is the payload's size (v1 = payload), so byte bounds are easy to state; counts calls.
struct counting_encoder {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);

  hub_encoder get() const {
    return [calls = calls](const hub_encode_request& r) {
      calls->fetch_add(1);
      hub_frames f;
      f.v1_text = std::string(r.payload_json);
      return f;
    };
  }
};

offsets range(std::uint64_t first, std::uint64_t last) {
  offsets out;
  for (auto o = first; o <= last; ++o) out.push_back(o);
  return out;
}

offsets offsets_of(const std::vector<hub_message_ptr>& messages) {
  offsets out;
  for (const auto& m : messages) out.push_back(m->offset);
  return out;
}

std::string payload(std::size_t bytes) {
  return std::string(bytes, 'x');
}

// The lifetime these tests pin: a channel is freed when its last subscriber leaves (no linger).
// Linger has its own tests below.
hub_config no_linger() {
  hub_config c;
  c.linger = std::chrono::milliseconds(0);
  return c;
}

class HubTest : public ::testing::Test {
 protected:
  explicit HubTest(hub_config config = no_linger()) : hub_(config, encoder_.get(), counter_epochs("e")) {}

  void publish_n(std::string_view channel, int n, std::string_view body = "{}") {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(hub_.publish(channel, "invalidate", body).accepted());
  }

  counting_encoder encoder_;
  hub hub_;
};

hub_config bounded(std::size_t messages, std::size_t bytes) {
  hub_config c = no_linger();
  c.max_history_messages = messages;
  c.max_history_bytes = bytes;
  return c;
}

TEST_F(HubTest, OffsetsIncreaseByOneStartingAtOne) {
  auto r = std::make_shared<recorder>();
  auto join = hub_.subscribe("doc:wo:123", r);
  EXPECT_EQ(join.position.offset, 0U);
  for (std::uint64_t i = 1; i <= 5; ++i) EXPECT_EQ(hub_.publish("doc:wo:123", "invalidate", "{}").offset, i);
  EXPECT_EQ(r->seen(), range(1, 5));
  EXPECT_EQ(hub_.position("doc:wo:123")->offset, 5U);
}

TEST_F(HubTest, UnrelatedChannelsHaveIndependentOffsetsAndEpochs) {
  auto a = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());
  auto b = hub_.subscribe("doc:wo:2", std::make_shared<recorder>());
  publish_n("doc:wo:1", 3);
  EXPECT_EQ(hub_.publish("doc:wo:2", "invalidate", "{}").offset, 1U);
  EXPECT_NE(a.position.epoch, b.position.epoch);
}

TEST_F(HubTest, EpochChangesWhenChannelIsFreedAndRecreated) {
  auto first = hub_.subscribe("list:wo:f1", std::make_shared<recorder>());
  publish_n("list:wo:f1", 3);
  const std::string old_epoch = first.position.epoch;
  first.subscription.unsubscribe();

  auto second = hub_.subscribe("list:wo:f1", std::make_shared<recorder>(), hub_position{old_epoch, 3});
  EXPECT_NE(second.position.epoch, old_epoch);
  EXPECT_EQ(second.position.offset, 0U);
  EXPECT_FALSE(second.recovered);
  EXPECT_TRUE(second.replay.empty());
  EXPECT_EQ(hub_.publish("list:wo:f1", "invalidate", "{}").offset, 1U);
}

TEST_F(HubTest, ChannelStaysAliveWhileAnySubscriberRemains) {
  auto a = hub_.subscribe("factory:f1", std::make_shared<recorder>());
  auto b = hub_.subscribe("factory:f1", std::make_shared<recorder>());
  publish_n("factory:f1", 2);
  a.subscription.unsubscribe();
  auto c = hub_.subscribe("factory:f1", std::make_shared<recorder>(), a.position);
  EXPECT_EQ(c.position.epoch, a.position.epoch);
  EXPECT_TRUE(c.recovered);
  EXPECT_EQ(offsets_of(c.replay), range(1, 2));
}

TEST_F(HubTest, ResumeReplaysExactlyTheMissedMessagesInOrder) {
  auto keeper = hub_.subscribe("doc:wo:7", std::make_shared<recorder>());
  publish_n("doc:wo:7", 10);

  auto r = std::make_shared<recorder>();
  auto join = hub_.subscribe("doc:wo:7", r, hub_position{keeper.position.epoch, 6});
  EXPECT_TRUE(join.recovered);
  EXPECT_EQ(join.position, (hub_position{keeper.position.epoch, 10}));
  EXPECT_EQ(offsets_of(join.replay), range(7, 10));
  EXPECT_TRUE(r->seen().empty());  // the replay is returned, never also delivered

  publish_n("doc:wo:7", 2);
  EXPECT_EQ(r->seen(), range(11, 12));
}

TEST_F(HubTest, ReplaySharesTheMessagesHeldInHistory) {
  auto first = std::make_shared<recorder>();
  auto keeper = hub_.subscribe("doc:wo:7", first);
  publish_n("doc:wo:7", 3);
  auto join = hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{keeper.position.epoch, 0});
  ASSERT_EQ(join.replay.size(), 3U);
  const auto live = first->messages();
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(join.replay[i].get(), live[i].get());
}

TEST_F(HubTest, ResumeWithWrongEpochIsNotRecoveredAndReplaysNothing) {
  auto keeper = hub_.subscribe("doc:wo:7", std::make_shared<recorder>());
  publish_n("doc:wo:7", 5);
  auto join = hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{"not-this-epoch", 2});
  EXPECT_FALSE(join.recovered);
  EXPECT_TRUE(join.replay.empty());
  EXPECT_EQ(join.position, (hub_position{keeper.position.epoch, 5}));
}

TEST_F(HubTest, ResumeAtCurrentOffsetRecoversWithNothingToReplay) {
  auto keeper = hub_.subscribe("doc:wo:7", std::make_shared<recorder>());
  publish_n("doc:wo:7", 4);
  auto join = hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{keeper.position.epoch, 4});
  EXPECT_TRUE(join.recovered);
  EXPECT_TRUE(join.replay.empty());
}

TEST_F(HubTest, ResumeAtZeroOfAFreshChannelRecoversNothingMissed) {
  auto keeper = hub_.subscribe("doc:wo:7", std::make_shared<recorder>());
  auto join = hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{keeper.position.epoch, 0});
  EXPECT_TRUE(join.recovered);
  EXPECT_TRUE(join.replay.empty());
}

TEST_F(HubTest, ResumeAheadOfTheChannelIsNotRecovered) {
  auto keeper = hub_.subscribe("doc:wo:7", std::make_shared<recorder>());
  publish_n("doc:wo:7", 2);
  auto join = hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{keeper.position.epoch, 3});
  EXPECT_FALSE(join.recovered);
  EXPECT_TRUE(join.replay.empty());
}

TEST_F(HubTest, JoinWithoutResumeIsNotRecoveredAndReplaysNothing) {
  auto keeper = hub_.subscribe("doc:wo:7", std::make_shared<recorder>());
  publish_n("doc:wo:7", 3);
  auto join = hub_.subscribe("doc:wo:7", std::make_shared<recorder>());
  EXPECT_FALSE(join.recovered);
  EXPECT_TRUE(join.replay.empty());
  EXPECT_EQ(join.position.offset, 3U);
}

class SmallHistory : public HubTest {
 protected:
  SmallHistory() : HubTest(bounded(4, 1 << 20)) {}
};

TEST_F(SmallHistory, ResumeOlderThanHistoryIsNotRecovered) {
  auto keeper = hub_.subscribe("doc:wo:7", std::make_shared<recorder>());
  publish_n("doc:wo:7", 10);  // history holds 7..10
  const auto& epoch = keeper.position.epoch;

  auto too_old = hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{epoch, 5});
  EXPECT_FALSE(too_old.recovered);  // 6 is gone: a replay of 7..10 would be partial
  EXPECT_TRUE(too_old.replay.empty());

  auto oldest_possible = hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{epoch, 6});
  EXPECT_TRUE(oldest_possible.recovered);
  EXPECT_EQ(offsets_of(oldest_possible.replay), range(7, 10));
}

TEST_F(SmallHistory, HistoryEvictsOldestBeyondMessageCount) {
  auto keeper = hub_.subscribe("doc:wo:7", std::make_shared<recorder>());
  publish_n("doc:wo:7", 9, "abc");
  EXPECT_EQ(hub_.metrics().history_messages, 4U);
  EXPECT_EQ(hub_.metrics().history_bytes, 12U);
  auto join = hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{keeper.position.epoch, 5});
  EXPECT_TRUE(join.recovered);
  EXPECT_EQ(offsets_of(join.replay), range(6, 9));
}

class ByteBoundedHistory : public HubTest {
 protected:
  ByteBoundedHistory() : HubTest(bounded(1000, 100)) {}
};

TEST_F(ByteBoundedHistory, HistoryEvictsOldestBeyondBytes) {
  auto keeper = hub_.subscribe("doc:wo:7", std::make_shared<recorder>());
  const auto& epoch = keeper.position.epoch;
  publish_n("doc:wo:7", 4, payload(30));  // 120 bytes published: 2..4 (90 bytes) fit in 100
  EXPECT_EQ(hub_.metrics().history_bytes, 90U);
  EXPECT_EQ(hub_.metrics().history_messages, 3U);
  EXPECT_FALSE(hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{epoch, 0}).recovered);
  auto join = hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{epoch, 1});
  EXPECT_TRUE(join.recovered);
  EXPECT_EQ(offsets_of(join.replay), range(2, 4));

  publish_n("doc:wo:7", 1, payload(100));  // exactly the bound: evicts everything else
  EXPECT_EQ(hub_.metrics().history_bytes, 100U);
  EXPECT_EQ(hub_.metrics().history_messages, 1U);
}

TEST_F(ByteBoundedHistory, MessageLargerThanTheByteBoundIsDeliveredButNotRetained) {
  auto r = std::make_shared<recorder>();
  auto keeper = hub_.subscribe("doc:wo:7", r);
  const auto& epoch = keeper.position.epoch;
  publish_n("doc:wo:7", 2, payload(10));
  publish_n("doc:wo:7", 1, payload(101));
  EXPECT_EQ(r->seen(), range(1, 3));
  EXPECT_EQ(hub_.metrics().history_bytes, 0U);
  EXPECT_EQ(hub_.metrics().history_messages, 0U);
  EXPECT_FALSE(hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{epoch, 2}).recovered);
  EXPECT_TRUE(hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{epoch, 3}).recovered);

  publish_n("doc:wo:7", 1, payload(10));  // history restarts, contiguous from 4
  auto join = hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{epoch, 3});
  EXPECT_TRUE(join.recovered);
  EXPECT_EQ(offsets_of(join.replay), range(4, 4));
}

class NoHistory : public HubTest {
 protected:
  NoHistory() : HubTest(bounded(0, 1 << 20)) {}
};

TEST_F(NoHistory, ZeroHistoryRecoversOnlyAtTheCurrentOffset) {
  auto keeper = hub_.subscribe("doc:wo:7", std::make_shared<recorder>());
  const auto& epoch = keeper.position.epoch;
  publish_n("doc:wo:7", 3);
  EXPECT_EQ(hub_.metrics().history_messages, 0U);
  EXPECT_FALSE(hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{epoch, 2}).recovered);
  EXPECT_TRUE(hub_.subscribe("doc:wo:7", std::make_shared<recorder>(), hub_position{epoch, 3}).recovered);
}

// ---- max_total_history_bytes: one bound over every channel's history ----

// Room for exactly `messages` retained messages of `payload_bytes` each, bookkeeping included.
hub_config total_budget(std::size_t messages, std::size_t payload_bytes) {
  hub_config c = no_linger();
  c.max_total_history_bytes = messages * (payload_bytes + k_retention_entry_bytes);
  return c;
}

class TotalHistoryBudget : public HubTest {
 protected:
  TotalHistoryBudget() : HubTest(total_budget(3, 100)) {}

  // Whether a client that saw `offset` of `channel` in `epoch` could resume without a refetch.
  bool resumable(std::string_view channel, const std::string& epoch, std::uint64_t offset) {
    return hub_.subscribe(channel, std::make_shared<recorder>(), hub_position{epoch, offset}).recovered;
  }
};

TEST_F(TotalHistoryBudget, EvictsTheMessageRetainedLongestAgoWhateverItsChannel) {
  auto a = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());
  auto b = hub_.subscribe("doc:wo:2", std::make_shared<recorder>());
  auto c = hub_.subscribe("list:wo:f1", std::make_shared<recorder>());
  publish_n("doc:wo:1", 1, payload(100));
  publish_n("doc:wo:2", 1, payload(100));
  publish_n("list:wo:f1", 1, payload(100));
  EXPECT_EQ(hub_.metrics().history_messages, 3U);  // exactly the budget
  EXPECT_EQ(hub_.metrics().history_evicted, 0U);

  publish_n("doc:wo:2", 1, payload(100));  // one over: doc:wo:1's message is the oldest
  auto m = hub_.metrics();
  EXPECT_EQ(m.history_messages, 3U);
  EXPECT_EQ(m.history_bytes, 300U);
  EXPECT_EQ(m.history_evicted, 1U);
  EXPECT_FALSE(resumable("doc:wo:1", a.position.epoch, 0));  // never a partial replay
  EXPECT_TRUE(resumable("doc:wo:1", a.position.epoch, 1));
  EXPECT_TRUE(resumable("doc:wo:2", b.position.epoch, 0));

  publish_n("list:wo:f1", 1, payload(100));  // next oldest: doc:wo:2's first message
  EXPECT_FALSE(resumable("doc:wo:2", b.position.epoch, 0));
  auto join = hub_.subscribe("doc:wo:2", std::make_shared<recorder>(), hub_position{b.position.epoch, 1});
  ASSERT_TRUE(join.recovered);
  EXPECT_EQ(offsets_of(join.replay), range(2, 2));
  EXPECT_TRUE(resumable("list:wo:f1", c.position.epoch, 0));
  EXPECT_EQ(hub_.metrics().history_evicted, 2U);
}

TEST_F(TotalHistoryBudget, EveryMessageIsDeliveredLiveWhateverIsEvicted) {
  auto r = std::make_shared<recorder>();
  auto keeper = hub_.subscribe("doc:wo:1", r);
  publish_n("doc:wo:1", 50, payload(100));
  EXPECT_EQ(r->seen(), range(1, 50));
  EXPECT_EQ(hub_.metrics().history_messages, 3U);
  EXPECT_EQ(hub_.metrics().history_evicted, 47U);
  auto join = hub_.subscribe("doc:wo:1", std::make_shared<recorder>(), hub_position{keeper.position.epoch, 47});
  ASSERT_TRUE(join.recovered);
  EXPECT_EQ(offsets_of(join.replay), range(48, 50));
}

// A message its own channel already dropped leaves its place in the retention order behind; that place
// still counts (it is memory), and when its turn comes it is discarded without evicting anything newer.
TEST(HubTotalHistoryBudget, PlacesOfMessagesTheirChannelDroppedCountAndEvictNothingNewer) {
  counting_encoder encoder;
  hub_config config = no_linger();
  config.max_history_messages = 1;
  // Two live messages of 100 bytes and their places: 264. A third place, stale, puts it over.
  config.max_total_history_bytes = 2 * (100 + k_retention_entry_bytes);
  hub h(config, encoder.get(), counter_epochs("e"));
  auto a = h.subscribe("doc:wo:1", std::make_shared<recorder>());
  auto b = h.subscribe("doc:wo:2", std::make_shared<recorder>());
  ASSERT_TRUE(h.publish("doc:wo:1", "invalidate", payload(100)).accepted());
  ASSERT_TRUE(h.publish("doc:wo:1", "invalidate", payload(100)).accepted());  // drops doc:wo:1's first
  ASSERT_TRUE(h.publish("doc:wo:2", "invalidate", payload(100)).accepted());  // 296: the stale place goes
  const auto m = h.metrics();
  EXPECT_EQ(m.history_messages, 2U);
  EXPECT_EQ(m.history_evicted, 0U);
  EXPECT_TRUE(h.subscribe("doc:wo:1", std::make_shared<recorder>(), hub_position{a.position.epoch, 1}).recovered);
  EXPECT_TRUE(h.subscribe("doc:wo:2", std::make_shared<recorder>(), hub_position{b.position.epoch, 0}).recovered);
}

// A channel whose own bound drops a message at every publish cannot grow the retention order without bound
// behind an old message of a quiet channel: the places count, and the old message is evicted in its turn.
TEST(HubTotalHistoryBudget, AHotChannelAtItsOwnBoundCannotGrowTheBookkeepingForever) {
  counting_encoder encoder;
  hub_config config = no_linger();
  config.max_history_messages = 1;
  config.max_total_history_bytes = 4096;
  hub h(config, encoder.get(), counter_epochs("e"));
  auto quiet = h.subscribe("doc:wo:1", std::make_shared<recorder>());
  auto hot = h.subscribe("list:wo:f1", std::make_shared<recorder>());
  ASSERT_TRUE(h.publish("doc:wo:1", "invalidate", "{}").accepted());
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(h.publish("list:wo:f1", "invalidate", "{}").accepted());
  EXPECT_FALSE(h.subscribe("doc:wo:1", std::make_shared<recorder>(), hub_position{quiet.position.epoch, 0}).recovered);
  EXPECT_EQ(h.metrics().history_evicted, 1U);
  EXPECT_EQ(h.metrics().history_messages, 1U);  // the hot channel's last
}

TEST(HubTotalHistoryBudget, AttachedRecordBytesCountWithTheFrames) {
  counting_encoder encoder;
  hub_config config = no_linger();
  config.max_total_history_bytes = 2 * (10 + 90 + k_retention_entry_bytes);
  hub h(config, encoder.get(), counter_epochs("e"));
  auto a = h.subscribe("doc:wo:1", std::make_shared<recorder>());
  hub_publish_options o;
  o.attachment_bytes = 90;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(h.publish("doc:wo:1", "invalidate", payload(10), o).accepted());
  const auto m = h.metrics();
  EXPECT_EQ(m.history_messages, 2U);
  EXPECT_EQ(m.history_bytes, 200U);
  EXPECT_EQ(m.history_evicted, 1U);
}

TEST_F(HubTest, EncodesOncePerPublishNotPerSubscriber) {
  std::vector<std::shared_ptr<recorder>> rs;
  std::vector<hub_join> joins;
  for (int i = 0; i < 50; ++i) {
    rs.push_back(std::make_shared<recorder>());
    joins.push_back(hub_.subscribe("factory:f1", rs.back()));
  }
  publish_n("factory:f1", 7);
  EXPECT_EQ(encoder_.calls->load(), 7);

  // Every subscriber holds the very same immutable message.
  for (std::size_t m = 0; m < 7; ++m) {
    const hub_message* first = rs[0]->messages().at(m).get();
    for (const auto& r : rs) EXPECT_EQ(r->messages().at(m).get(), first);
  }
}

TEST(Hub, EncoderSeesChannelOffsetEventAndPayload) {
  std::vector<std::string> requests;
  hub h(
      {},
      [&](const hub_encode_request& r) {
        requests.push_back(std::string(r.channel) + "|" + std::to_string(r.offset) + "|" + std::string(r.event) + "|" +
                           std::string(r.payload_json));
        hub_frames f;
        f.v1_text = "v1:" + std::to_string(r.offset);
        f.v2_text = "v2:" + std::to_string(r.offset);
        f.v2_binary = std::string("\x03\x00", 2);
        return f;
      },
      counter_epochs("e"));
  auto r = std::make_shared<recorder>();
  auto join = h.subscribe("doc:wo:9", r);
  h.publish("doc:wo:9", "invalidate", R"({"type":"wo"})");
  h.publish("doc:wo:9", "postgres_changes", "{}");
  EXPECT_EQ(requests,
            (std::vector<std::string>{R"(doc:wo:9|1|invalidate|{"type":"wo"})", "doc:wo:9|2|postgres_changes|{}"}));
  const auto got = r->messages();
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got[1]->frames.v1_text, "v1:2");
  EXPECT_EQ(got[1]->frames.v2_text, "v2:2");
  EXPECT_EQ(got[1]->frames.size_bytes(), 4U + 4U + 2U);
  EXPECT_EQ(h.metrics().history_bytes, 20U);
}

TEST(Hub, PublishOptionsReachTheEncoderAndTheStoredMessage) {
  const core::event* seen_contract = nullptr;
  bool seen_raw = false;
  hub h(
      {},
      [&](const hub_encode_request& r) {
        seen_contract = r.contract;
        seen_raw = r.raw_payload;
        return hub_frames{std::string(r.payload_json), {}, {}};
      },
      counter_epochs("e"));
  auto r = std::make_shared<recorder>();
  auto join = h.subscribe("doc:wo:9", r);
  core::event e;
  h.publish("doc:wo:9", "invalidate", "{}", hub_publish_options{"f1", 7, &e, true});
  EXPECT_EQ(seen_contract, &e);
  EXPECT_TRUE(seen_raw);
  h.publish("doc:wo:9", "invalidate", "{}");
  EXPECT_EQ(seen_contract, nullptr);
  EXPECT_FALSE(seen_raw);
  const auto got = r->messages();
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got[0]->meta.factory_id, "f1");
  EXPECT_EQ(got[0]->meta.origin, 7U);
  EXPECT_EQ(got[1]->meta.factory_id, "");
  EXPECT_EQ(got[1]->meta.origin, 0U);
  // Replay carries the same metadata as live delivery.
  auto again = h.subscribe("doc:wo:9", std::make_shared<recorder>(), hub_position{join.position.epoch, 0});
  ASSERT_EQ(again.replay.size(), 2U);
  EXPECT_EQ(again.replay[0]->meta.factory_id, "f1");
}

// An encoder that throws while `fail` is true and frames "ok" otherwise.
hub_encoder encoder_failing_while(const bool& fail) {
  return [&fail](const hub_encode_request&) {
    if (fail) throw std::runtime_error("encoder refused");
    return hub_frames{"ok", "", ""};
  };
}

TEST(Hub, EncoderFailureConsumesNoOffsetAndDeliversNothing) {
  bool fail = true;
  hub h({}, encoder_failing_while(fail), counter_epochs("e"));
  auto r = std::make_shared<recorder>();
  auto join = h.subscribe("doc:wo:9", r);
  EXPECT_THROW(h.publish("doc:wo:9", "invalidate", "{}"), std::runtime_error);
  EXPECT_EQ(h.position("doc:wo:9")->offset, 0U);
  EXPECT_EQ(h.metrics().messages_published, 0U);
  EXPECT_TRUE(r->seen().empty());
  fail = false;
  EXPECT_EQ(h.publish("doc:wo:9", "invalidate", "{}").offset, 1U);
  EXPECT_EQ(r->seen(), range(1, 1));
}

TEST_F(HubTest, BatchPublishesAsConsecutivePublishesWould) {
  auto a = std::make_shared<recorder>();
  auto b = std::make_shared<recorder>();
  auto ja = hub_.subscribe("list:wo:f1", a);
  auto jb = hub_.subscribe("doc:wo:1", b);
  hub_batch batch(hub_);
  EXPECT_EQ(batch.publish("list:wo:f1", "invalidate", "{}").offset, 1U);
  EXPECT_EQ(batch.publish("doc:wo:1", "invalidate", "{}").offset, 1U);
  EXPECT_EQ(batch.publish("list:wo:f1", "invalidate", "{}").offset, 2U);
  EXPECT_FALSE(batch.publish("doc:wo:absent", "invalidate", "{}").accepted());
  EXPECT_EQ(hub_.publish("list:wo:f1", "invalidate", "{}").offset, 3U);  // interleaves with a plain publish
  EXPECT_EQ(batch.publish("list:wo:f1", "invalidate", "{}").subscribers, 1U);
  EXPECT_EQ(a->seen(), range(1, 4));
  EXPECT_EQ(b->seen(), range(1, 1));
  const auto m = hub_.metrics();
  EXPECT_EQ(m.messages_published, 5U);
  EXPECT_EQ(m.messages_dropped, 1U);
  EXPECT_EQ(encoder_.calls->load(), 5);
}

TEST_F(HubTest, BatchReachesAChannelJoinedAfterItsFirstPublishThereWasDropped) {
  hub_batch batch(hub_);
  EXPECT_FALSE(batch.publish("doc:wo:7", "invalidate", "{}").accepted());
  auto r = std::make_shared<recorder>();
  auto join = hub_.subscribe("doc:wo:7", r);
  EXPECT_EQ(batch.publish("doc:wo:7", "invalidate", "{}").offset, 1U);
  EXPECT_EQ(r->seen(), range(1, 1));
}

TEST_F(HubTest, BatchFollowsAChannelFreedAndRecreatedUnderItToItsNewEpoch) {
  hub_batch batch(hub_);
  auto first = std::make_shared<recorder>();
  auto j1 = hub_.subscribe("doc:wo:7", first);
  EXPECT_EQ(batch.publish("doc:wo:7", "invalidate", "{}").offset, 1U);
  j1.subscription.unsubscribe();  // no linger: freed
  EXPECT_FALSE(batch.publish("doc:wo:7", "invalidate", "{}").accepted());
  auto second = std::make_shared<recorder>();
  auto j2 = hub_.subscribe("doc:wo:7", second);
  EXPECT_NE(j2.position.epoch, j1.position.epoch);
  EXPECT_EQ(batch.publish("doc:wo:7", "invalidate", "{}").offset, 1U);
  EXPECT_EQ(first->seen(), range(1, 1));
  EXPECT_EQ(second->seen(), range(1, 1));
  EXPECT_EQ(hub_.position("doc:wo:7")->offset, 1U);
}

TEST_F(HubTest, BatchOverMoreChannelsThanItRemembersDeliversEveryMessage) {
  std::vector<std::shared_ptr<recorder>> rs;
  std::vector<hub_join> joins;
  for (int i = 0; i < 20; ++i) {
    rs.push_back(std::make_shared<recorder>());
    joins.push_back(hub_.subscribe("doc:wo:" + std::to_string(i), rs.back()));
  }
  hub_batch batch(hub_);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 20; ++i) {
      // Channel 0 recurs between all the others, so it stays remembered while the rest cycle through.
      ASSERT_TRUE(batch.publish("doc:wo:" + std::to_string(i), "invalidate", "{}").accepted());
      ASSERT_TRUE(batch.publish("doc:wo:0", "invalidate", "{}").accepted());
    }
  }
  EXPECT_EQ(rs[0]->seen(), range(1, 63));
  for (int i = 1; i < 20; ++i) EXPECT_EQ(rs[static_cast<std::size_t>(i)]->seen(), range(1, 3)) << i;
}

TEST(Hub, BatchPropagatesAnEncoderFailureAndConsumesNoOffset) {
  bool fail = false;
  hub h({}, encoder_failing_while(fail), counter_epochs("e"));
  auto r = std::make_shared<recorder>();
  auto join = h.subscribe("doc:wo:9", r);
  hub_batch batch(h);
  EXPECT_EQ(batch.publish("doc:wo:9", "invalidate", "{}").offset, 1U);
  fail = true;
  EXPECT_THROW(batch.publish("doc:wo:9", "invalidate", "{}"), std::runtime_error);
  fail = false;
  EXPECT_EQ(batch.publish("doc:wo:9", "invalidate", "{}").offset, 2U);
  EXPECT_EQ(r->seen(), range(1, 2));
}

TEST_F(HubTest, FansOutToEverySubscriberInOffsetOrder) {
  constexpr int k_subscribers = 1000;
  std::vector<std::shared_ptr<recorder>> rs;
  std::vector<hub_join> joins;
  for (int i = 0; i < k_subscribers; ++i) {
    rs.push_back(std::make_shared<recorder>());
    joins.push_back(hub_.subscribe("list:wo:f1", rs.back()));
  }
  hub_publish_result last;
  for (int i = 0; i < 5; ++i) last = hub_.publish("list:wo:f1", "invalidate", "{}");
  EXPECT_EQ(last.subscribers, static_cast<std::size_t>(k_subscribers));
  for (const auto& r : rs) EXPECT_EQ(r->seen(), range(1, 5));
  EXPECT_EQ(hub_.metrics().deliveries, 5U * k_subscribers);
  EXPECT_EQ(encoder_.calls->load(), 5);
}

TEST_F(HubTest, SubscriberJoiningLaterSeesOnlyMessagesAfterItsJoin) {
  auto early = std::make_shared<recorder>();
  auto late = std::make_shared<recorder>();
  auto a = hub_.subscribe("doc:wo:1", early);
  publish_n("doc:wo:1", 3);
  auto b = hub_.subscribe("doc:wo:1", late);
  EXPECT_EQ(b.position.offset, 3U);
  publish_n("doc:wo:1", 2);
  EXPECT_EQ(early->seen(), range(1, 5));
  EXPECT_EQ(late->seen(), range(4, 5));
}

TEST_F(HubTest, UnsubscribeStopsDelivery) {
  auto stays = std::make_shared<recorder>();
  auto leaves = std::make_shared<recorder>();
  auto a = hub_.subscribe("doc:wo:1", stays);
  auto b = hub_.subscribe("doc:wo:1", leaves);
  publish_n("doc:wo:1", 2);
  b.subscription.unsubscribe();
  EXPECT_FALSE(b.subscription.active());
  publish_n("doc:wo:1", 2);
  EXPECT_EQ(stays->seen(), range(1, 4));
  EXPECT_EQ(leaves->seen(), range(1, 2));
  EXPECT_EQ(hub_.publish("doc:wo:1", "invalidate", "{}").subscribers, 1U);
}

TEST_F(HubTest, UnsubscribeInTheMiddleOfManyKeepsTheOthers) {
  std::vector<std::shared_ptr<recorder>> rs;
  std::vector<hub_join> joins;
  for (int i = 0; i < 6; ++i) {
    rs.push_back(std::make_shared<recorder>());
    joins.push_back(hub_.subscribe("doc:wo:1", rs.back()));
  }
  joins[1].subscription.unsubscribe();
  joins[4].subscription.unsubscribe();
  joins[0].subscription.unsubscribe();
  publish_n("doc:wo:1", 1);
  for (int i : {2, 3, 5}) EXPECT_EQ(rs[static_cast<std::size_t>(i)]->seen(), range(1, 1)) << i;
  for (int i : {0, 1, 4}) EXPECT_TRUE(rs[static_cast<std::size_t>(i)]->seen().empty()) << i;
  EXPECT_EQ(hub_.metrics().subscribers, 3U);
}

TEST_F(HubTest, UnsubscribingTwiceIsHarmless) {
  auto a = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());
  auto b = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());
  a.subscription.unsubscribe();
  a.subscription.unsubscribe();
  EXPECT_EQ(hub_.metrics().subscribers, 1U);
  EXPECT_EQ(hub_.metrics().channels, 1U);
  EXPECT_EQ(hub_.publish("doc:wo:1", "invalidate", "{}").subscribers, 1U);
}

TEST_F(HubTest, SubscriptionHandleUnsubscribesWhenDestroyedAndMovesOwnership) {
  auto r = std::make_shared<recorder>();
  {
    auto join = hub_.subscribe("doc:wo:1", r);
    hub_subscription moved = std::move(join.subscription);
    EXPECT_FALSE(join.subscription.active());  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_TRUE(moved.active());
    hub_subscription assigned;
    assigned = std::move(moved);
    EXPECT_EQ(hub_.metrics().subscribers, 1U);
    publish_n("doc:wo:1", 1);
  }
  EXPECT_EQ(hub_.metrics().subscribers, 0U);
  EXPECT_EQ(hub_.metrics().channels, 0U);
  EXPECT_EQ(r->seen(), range(1, 1));
}

TEST_F(HubTest, MoveAssigningOverAnActiveHandleUnsubscribesIt) {
  auto first = std::make_shared<recorder>();
  auto a = hub_.subscribe("doc:wo:1", first);
  auto b = hub_.subscribe("doc:wo:2", std::make_shared<recorder>());
  a.subscription = std::move(b.subscription);
  EXPECT_FALSE(hub_.position("doc:wo:1").has_value());
  EXPECT_TRUE(hub_.position("doc:wo:2").has_value());
}

TEST_F(HubTest, ChannelIsFreedAfterItsLastSubscriberLeaves) {
  auto a = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());
  auto b = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());
  publish_n("doc:wo:1", 3, "abcd");
  EXPECT_EQ(hub_.metrics().channels, 1U);
  EXPECT_EQ(hub_.metrics().history_bytes, 12U);
  a.subscription.unsubscribe();
  EXPECT_TRUE(hub_.position("doc:wo:1").has_value());
  b.subscription.unsubscribe();

  EXPECT_FALSE(hub_.position("doc:wo:1").has_value());
  const auto m = hub_.metrics();
  EXPECT_EQ(m.channels, 0U);
  EXPECT_EQ(m.subscribers, 0U);
  EXPECT_EQ(m.history_messages, 0U);
  EXPECT_EQ(m.history_bytes, 0U);
}

TEST_F(HubTest, PublishToAbsentChannelIsDroppedWithoutEncoding) {
  const auto result = hub_.publish("doc:wo:404", "invalidate", "{}");
  EXPECT_FALSE(result.accepted());
  EXPECT_EQ(result.offset, 0U);
  EXPECT_EQ(encoder_.calls->load(), 0);
  EXPECT_EQ(hub_.metrics().messages_dropped, 1U);
  EXPECT_EQ(hub_.metrics().channels, 0U);
  EXPECT_FALSE(hub_.position("doc:wo:404").has_value());
}

TEST_F(HubTest, MetricsCountChannelsSubscribersMessagesAndHistory) {
  auto a = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());
  auto b = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());
  auto c = hub_.subscribe("doc:wo:2", std::make_shared<recorder>());
  publish_n("doc:wo:1", 2, "12345");
  publish_n("doc:wo:2", 1, "123");
  hub_.publish("doc:wo:3", "invalidate", "{}");
  const auto m = hub_.metrics();
  EXPECT_EQ(m.channels, 2U);
  EXPECT_EQ(m.subscribers, 3U);
  EXPECT_EQ(m.messages_published, 3U);
  EXPECT_EQ(m.messages_dropped, 1U);
  EXPECT_EQ(m.deliveries, 5U);
  EXPECT_EQ(m.history_messages, 3U);
  EXPECT_EQ(m.history_bytes, 13U);
}

TEST(Hub, ShardCountIsRoundedUpToAPowerOfTwo) {
  hub_config c;
  c.shards = 0;
  EXPECT_EQ(hub(c, counting_encoder{}.get(), counter_epochs("e")).config().shards, 1U);
  c.shards = 50;
  EXPECT_EQ(hub(c, counting_encoder{}.get(), counter_epochs("e")).config().shards, 64U);
}

TEST(CounterEpochs, AreDistinctAndCarryThePrefix) {
  auto next = counter_epochs("boot7-");
  EXPECT_EQ(next(), "boot7-1");
  EXPECT_EQ(next(), "boot7-2");
  auto copy = next;  // copies share the counter
  EXPECT_EQ(copy(), "boot7-3");
}

// A subscriber that breaks the contract by calling into the hub from deliver().
class reentrant final : public hub_subscriber {
 public:
  explicit reentrant(hub& h) : hub_(h) {}
  void deliver(const hub_message_ptr&) noexcept override { hub_.publish("doc:wo:other", "invalidate", "{}"); }

 private:
  hub& hub_;
};

TEST(HubDeathTest, CallingTheHubFromDeliverAbortsWithAMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        hub h({}, counting_encoder{}.get(), counter_epochs("e"));
        auto join = h.subscribe("doc:wo:1", std::make_shared<reentrant>(h));
        h.publish("doc:wo:1", "invalidate", "{}");
      },
      "publish.*doc:wo:other.*called from a subscriber's deliver");
}

// ---- concurrency ----

// Checks one subscription's whole stream: the replay (when recovered) and then the live deliveries must be
// exactly resume+1, resume+2, ... (or join+1, ... without recovery): gap-free, duplicate-free, ordered.
void expect_contiguous(const hub_join& join, const std::optional<hub_position>& resume, const recorder& r) {
  offsets stream;
  std::uint64_t start = join.position.offset;
  if (join.recovered) {
    ASSERT_TRUE(resume.has_value());
    ASSERT_EQ(resume->epoch, join.position.epoch);
    start = resume->offset;
    stream = offsets_of(join.replay);
    ASSERT_EQ(stream, range(start + 1, join.position.offset));
  } else {
    ASSERT_TRUE(join.replay.empty());
  }
  for (auto o : r.seen()) stream.push_back(o);
  ASSERT_EQ(stream, range(start + 1, start + stream.size()));
  ASSERT_EQ(r.late(), 0);
}

struct race_config {
  std::size_t shards;
  std::size_t history;
  int batch = 0;  // publishes per hub_batch (its remembered channels are freed and recreated under it); 0: none
  std::size_t total = hub_config{}.max_total_history_bytes;  // max_total_history_bytes
};

void PrintTo(const race_config& c, std::ostream* os) {
  *os << "{shards " << c.shards << ", history " << c.history << ", batch " << c.batch << ", total " << c.total << "}";
}

class HubRace : public ::testing::TestWithParam<race_config> {};

TEST_P(HubRace, PublishersAndChurningSubscribersSeeGapFreeOrderedStreams) {
  constexpr int k_publishers = 3;
  constexpr int k_publishes_each = 3000;
  constexpr int k_churners = 3;
  constexpr int k_joins_each = 600;
  const std::vector<std::string> channels = {"doc:wo:1", "doc:wo:2", "list:wo:f1", "factory:f1"};

  hub_config config = no_linger();
  config.shards = GetParam().shards;
  config.max_history_messages = GetParam().history;
  config.max_total_history_bytes = GetParam().total;
  counting_encoder encoder;
  hub h(config, encoder.get(), counter_epochs("e"));

  // Anchors keep the first two channels alive throughout, so they must see every accepted publish;
  // the last two are freed and recreated (new epochs) as the churners come and go.
  std::vector<std::shared_ptr<recorder>> anchors;
  std::vector<hub_join> anchor_joins;
  for (std::size_t i = 0; i < 2; ++i) {
    anchors.push_back(std::make_shared<recorder>());
    anchor_joins.push_back(h.subscribe(channels[i], anchors.back()));
  }

  std::atomic<bool> go{false};
  std::vector<std::atomic<std::uint64_t>> accepted(channels.size());
  std::vector<std::thread> threads;
  threads.reserve(k_publishers + k_churners);
  for (int p = 0; p < k_publishers; ++p) {
    threads.emplace_back([&, p] {
      while (!go.load()) std::this_thread::yield();
      const int per_batch = GetParam().batch;
      std::optional<hub_batch> batch;
      for (int i = 0; i < k_publishes_each; ++i) {
        const auto c = static_cast<std::size_t>(i + p) % channels.size();
        bool ok = false;
        if (per_batch == 0) {
          ok = h.publish(channels[c], "invalidate", "{\"n\":1}").accepted();
        } else {
          if (i % per_batch == 0) batch.emplace(h);
          ok = batch->publish(channels[c], "invalidate", "{\"n\":1}").accepted();
        }
        if (ok) accepted[c].fetch_add(1);
      }
    });
  }

  std::atomic<int> recovered_joins{0};
  std::atomic<int> failures{0};
  for (int t = 0; t < k_churners; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::optional<hub_position>> last(channels.size());
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < k_joins_each; ++i) {
        const auto c = static_cast<std::size_t>(i * 7 + t) % channels.size();
        auto r = std::make_shared<recorder>();
        const auto resume = last[c];
        auto join = h.subscribe(channels[c], r, resume);
        for (int y = 0; y < 3 + (i % 5); ++y) std::this_thread::yield();  // let publishes interleave
        join.subscription.unsubscribe();
        r->close();

        expect_contiguous(join, resume, *r);
        if (::testing::Test::HasFailure()) {
          failures.fetch_add(1);
          return;
        }
        if (join.recovered) recovered_joins.fetch_add(1);
        const auto seen = r->seen();
        last[c] = hub_position{join.position.epoch, seen.empty() ? join.position.offset : seen.back()};
      }
    });
  }

  go.store(true);
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);

  for (std::size_t i = 0; i < anchors.size(); ++i) {
    EXPECT_EQ(anchor_joins[i].position.offset, 0U);
    EXPECT_EQ(anchors[i]->seen(), range(1, accepted[i].load())) << channels[i];
    EXPECT_EQ(h.position(channels[i])->epoch, anchor_joins[i].position.epoch);
  }
  EXPECT_EQ(accepted[0].load(), static_cast<std::uint64_t>(k_publishers * k_publishes_each / 4));
  EXPECT_GT(recovered_joins.load(), 0);

  const auto m = h.metrics();
  std::uint64_t total_accepted = 0;
  for (const auto& a : accepted) total_accepted += a.load();
  EXPECT_EQ(m.messages_published, total_accepted);
  EXPECT_EQ(m.messages_published + m.messages_dropped, static_cast<std::uint64_t>(k_publishers * k_publishes_each));
  EXPECT_EQ(static_cast<std::uint64_t>(encoder.calls->load()), m.messages_published);
  EXPECT_EQ(m.subscribers, 2U);

  anchor_joins.clear();
  const auto after = h.metrics();
  EXPECT_EQ(after.channels, 0U);
  EXPECT_EQ(after.subscribers, 0U);
  EXPECT_EQ(after.history_messages, 0U);
  EXPECT_EQ(after.history_bytes, 0U);
}

INSTANTIATE_TEST_SUITE_P(
    Shards, HubRace,
    ::testing::Values(race_config{1, 16}, race_config{64, 16}, race_config{64, 4096}, race_config{1, 16, 50},
                      race_config{64, 4096, 500}, race_config{64, 4096, 0, 40 * (7 + k_retention_entry_bytes)}),
    [](const ::testing::TestParamInfo<race_config>& param_info) {
      const race_config& c = param_info.param;
      return "shards" + std::to_string(c.shards) + "_history" + std::to_string(c.history) +
             (c.batch == 0 ? std::string() : "_batch" + std::to_string(c.batch)) +
             (c.total == hub_config{}.max_total_history_bytes ? std::string() : "_total" + std::to_string(c.total));
    });

// Joins racing with a single fast publisher on one channel: each join is atomic with respect to publishes,
// so the replay and the live stream meet exactly, with nothing missing and nothing twice.
TEST(HubRaceJoin, JoinIsAtomicWithConcurrentPublishes) {
  counting_encoder encoder;
  hub h(bounded(100000, 1 << 30), encoder.get(), counter_epochs("e"));
  auto anchor = std::make_shared<recorder>();
  auto anchor_join = h.subscribe("doc:wo:1", anchor);
  const hub_position from_start{anchor_join.position.epoch, 0};

  constexpr int k_messages = 2000;
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (int i = 0; i < k_messages; ++i) h.publish("doc:wo:1", "invalidate", "{}");
    done.store(true);
  });

  std::vector<std::pair<hub_join, std::shared_ptr<recorder>>> joins;
  while (!done.load() || joins.size() < 4) {
    auto r = std::make_shared<recorder>();
    joins.emplace_back(h.subscribe("doc:wo:1", r, from_start), r);
    if (joins.size() >= 100) break;
  }
  publisher.join();

  for (const auto& [join, r] : joins) {
    ASSERT_TRUE(join.recovered);
    offsets stream = offsets_of(join.replay);
    for (auto o : r->seen()) stream.push_back(o);
    ASSERT_EQ(stream, range(1, k_messages));
  }
}

// ---- linger: idle channels keep their epoch and history for a while ----

// A clock that moves only when a test says so.
struct manual_clock {
  std::shared_ptr<std::atomic<std::int64_t>> ms = std::make_shared<std::atomic<std::int64_t>>(0);
  hub_clock get() const {
    return [ms = ms] { return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms->load())); };
  }
  void advance(std::chrono::milliseconds d) const { ms->fetch_add(d.count()); }
};

hub_config lingering(std::chrono::milliseconds linger, std::size_t max_idle_bytes = 1 << 20) {
  hub_config c;
  c.linger = linger;
  c.max_idle_bytes = max_idle_bytes;
  return c;
}

class LingerTest : public ::testing::Test {
 protected:
  explicit LingerTest(hub_config config = lingering(std::chrono::seconds(120)))
      : hub_(config, encoder_.get(), counter_epochs("e"), clock_.get()) {}

  counting_encoder encoder_;
  manual_clock clock_;
  hub hub_;
};

TEST_F(LingerTest, LoneSubscriberThatRejoinsWithinTheLingerGetsExactlyWhatItMissed) {
  auto first = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());
  ASSERT_TRUE(hub_.publish("doc:wo:1", "invalidate", "a").accepted());
  const hub_position seen{first.position.epoch, 1};
  first.subscription.unsubscribe();

  // Published while nobody is subscribed: appended to the idle channel's history.
  EXPECT_EQ(hub_.publish("doc:wo:1", "invalidate", "b").offset, 2U);
  EXPECT_EQ(hub_.publish("doc:wo:1", "invalidate", "c").offset, 3U);
  clock_.advance(std::chrono::seconds(119));
  EXPECT_EQ(hub_.sweep(), 0U);

  auto again = hub_.subscribe("doc:wo:1", std::make_shared<recorder>(), seen);
  EXPECT_TRUE(again.recovered);
  EXPECT_EQ(again.position.epoch, first.position.epoch);
  EXPECT_EQ(offsets_of(again.replay), range(2, 3));
  EXPECT_EQ(hub_.metrics().idle_channels, 0U);
}

TEST_F(LingerTest, IdleChannelIsFreedBySweepOnceItsLingerHasPassed) {
  auto a = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());
  ASSERT_TRUE(hub_.publish("doc:wo:1", "invalidate", "abcd").accepted());
  const hub_position seen = a.position;
  a.subscription.unsubscribe();
  EXPECT_EQ(hub_.metrics().idle_channels, 1U);
  EXPECT_EQ(hub_.metrics().idle_history_bytes, 4U);
  EXPECT_EQ(hub_.metrics().channels, 1U);

  clock_.advance(std::chrono::seconds(120));
  EXPECT_EQ(hub_.sweep(), 1U);
  const auto m = hub_.metrics();
  EXPECT_EQ(m.channels, 0U);
  EXPECT_EQ(m.idle_channels, 0U);
  EXPECT_EQ(m.idle_history_bytes, 0U);
  EXPECT_EQ(m.history_bytes, 0U);
  EXPECT_EQ(m.channels_expired, 1U);
  EXPECT_FALSE(hub_.position("doc:wo:1").has_value());
  EXPECT_FALSE(hub_.publish("doc:wo:1", "invalidate", "x").accepted());

  auto b = hub_.subscribe("doc:wo:1", std::make_shared<recorder>(), seen);
  EXPECT_FALSE(b.recovered);
  EXPECT_NE(b.position.epoch, seen.epoch);
}

TEST_F(LingerTest, RejoinRestartsTheLingerFromTheNextLeave) {
  auto a = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());
  const std::string epoch = a.position.epoch;
  a.subscription.unsubscribe();
  clock_.advance(std::chrono::seconds(100));
  auto b = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());
  clock_.advance(std::chrono::seconds(100));
  b.subscription.unsubscribe();
  clock_.advance(std::chrono::seconds(100));
  EXPECT_EQ(hub_.sweep(), 0U);  // idle for 100 s only
  EXPECT_EQ(hub_.position("doc:wo:1")->epoch, epoch);
  clock_.advance(std::chrono::seconds(20));
  EXPECT_EQ(hub_.sweep(), 1U);
}

TEST_F(LingerTest, SweepFreesOnlyTheExpiredOldestFirst) {
  for (const char* name : {"doc:wo:1", "doc:wo:2", "doc:wo:3"}) {
    hub_.subscribe(name, std::make_shared<recorder>()).subscription.unsubscribe();
    clock_.advance(std::chrono::seconds(10));
  }
  // Idle for 30, 20 and 10 s; linger 120 s.
  clock_.advance(std::chrono::seconds(95));  // 125, 115, 105
  EXPECT_EQ(hub_.sweep(), 1U);
  EXPECT_FALSE(hub_.position("doc:wo:1").has_value());
  EXPECT_TRUE(hub_.position("doc:wo:2").has_value());
  EXPECT_TRUE(hub_.position("doc:wo:3").has_value());
}

class LingerBudgetTest : public LingerTest {
 protected:
  LingerBudgetTest() : LingerTest(lingering(std::chrono::seconds(120), 10)) {}
};

TEST_F(LingerBudgetTest, IdleHistoriesOverTheByteBudgetEvictTheOldestIdleChannelFirst) {
  for (const char* name : {"doc:wo:1", "doc:wo:2"}) {
    auto j = hub_.subscribe(name, std::make_shared<recorder>());
    ASSERT_TRUE(hub_.publish(name, "invalidate", "abcd").accepted());
    j.subscription.unsubscribe();
  }
  EXPECT_EQ(hub_.metrics().idle_history_bytes, 8U);
  // A publish to an idle channel grows the idle total past 10: the channel idle the longest goes.
  ASSERT_TRUE(hub_.publish("doc:wo:2", "invalidate", "abcd").accepted());
  EXPECT_FALSE(hub_.position("doc:wo:1").has_value());
  EXPECT_EQ(hub_.position("doc:wo:2")->offset, 2U);
  const auto m = hub_.metrics();
  EXPECT_EQ(m.channels_evicted, 1U);
  EXPECT_EQ(m.idle_channels, 1U);
  EXPECT_EQ(m.idle_history_bytes, 8U);

  // Live channels never count against the budget.
  auto live = hub_.subscribe("doc:wo:3", std::make_shared<recorder>());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(hub_.publish("doc:wo:3", "invalidate", "abcd").accepted());
  EXPECT_TRUE(hub_.position("doc:wo:2").has_value());
  // When it goes idle with 20 bytes, it is over the budget on its own: it goes after the older one.
  live.subscription.unsubscribe();
  EXPECT_FALSE(hub_.position("doc:wo:2").has_value());
  EXPECT_FALSE(hub_.position("doc:wo:3").has_value());
  EXPECT_EQ(hub_.metrics().idle_history_bytes, 0U);
}

TEST(HubTotalHistoryBudgetLinger, EvictingFromAnIdleChannelLowersTheIdleBytes) {
  manual_clock clock;
  counting_encoder encoder;
  hub_config config = lingering(std::chrono::seconds(120));
  config.max_total_history_bytes = 2 * (100 + k_retention_entry_bytes);
  hub h(config, encoder.get(), counter_epochs("e"), clock.get());
  auto idle = h.subscribe("doc:wo:1", std::make_shared<recorder>());
  ASSERT_TRUE(h.publish("doc:wo:1", "invalidate", payload(100)).accepted());
  const std::string epoch = idle.position.epoch;
  idle.subscription.unsubscribe();
  EXPECT_EQ(h.metrics().idle_history_bytes, 100U);
  auto live = h.subscribe("doc:wo:2", std::make_shared<recorder>());
  ASSERT_TRUE(h.publish("doc:wo:2", "invalidate", payload(100)).accepted());
  ASSERT_TRUE(h.publish("doc:wo:2", "invalidate", payload(100)).accepted());  // the idle channel's message goes
  const auto m = h.metrics();
  EXPECT_EQ(m.idle_history_bytes, 0U);
  EXPECT_EQ(m.idle_channels, 1U);  // the channel itself lingers, with its epoch and offset
  EXPECT_EQ(m.history_evicted, 1U);
  auto back = h.subscribe("doc:wo:1", std::make_shared<recorder>(), hub_position{epoch, 1});
  EXPECT_TRUE(back.recovered);  // nothing was missed after offset 1
  EXPECT_FALSE(h.subscribe("doc:wo:1", std::make_shared<recorder>(), hub_position{epoch, 0}).recovered);
}

TEST_F(LingerTest, UnretainedPublishEmptiesTheHistoryAndIsDeliveredLive) {
  auto r = std::make_shared<recorder>();
  auto j = hub_.subscribe("\x01pg:public.t", r);
  ASSERT_TRUE(hub_.publish("\x01pg:public.t", "invalidate", "abcd").accepted());
  hub_publish_options o;
  o.retain = false;
  EXPECT_EQ(hub_.publish("\x01pg:public.t", "postgres_changes", "", o).offset, 2U);
  EXPECT_EQ(r->seen(), range(1, 2));
  EXPECT_EQ(hub_.metrics().history_messages, 0U);
  EXPECT_EQ(hub_.metrics().history_bytes, 0U);
  auto late = hub_.subscribe("\x01pg:public.t", std::make_shared<recorder>(), hub_position{j.position.epoch, 0});
  EXPECT_FALSE(late.recovered);  // never a partial replay
}

// Sweeps and budget evictions racing with publishers and churning subscribers: anchored channels still see
// gap-free streams, and the counters return to zero. Run under ThreadSanitizer by the test command.
TEST(HubLingerRace, SweepsRacingWithChurnKeepAnchoredStreamsGapFree) {
  manual_clock clock;
  counting_encoder encoder;
  hub h(lingering(std::chrono::milliseconds(5), 64), encoder.get(), counter_epochs("e"), clock.get());
  auto anchor = std::make_shared<recorder>();
  auto anchor_join = h.subscribe("doc:wo:0", anchor);

  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    for (int i = 0; i < 3000; ++i) {
      h.publish("doc:wo:0", "invalidate", "abcd");
      h.publish("doc:wo:" + std::to_string(1 + i % 8), "invalidate", "abcd");
    }
  });
  std::thread churner([&] {
    for (int i = 0; i < 1500; ++i) {
      auto j = h.subscribe("doc:wo:" + std::to_string(1 + i % 8), std::make_shared<recorder>());
    }
  });
  std::thread sweeper([&] {
    while (!stop.load()) {
      clock.advance(std::chrono::milliseconds(1));
      h.sweep();
    }
  });
  publisher.join();
  churner.join();
  stop.store(true);
  sweeper.join();

  EXPECT_EQ(anchor->seen(), range(1, 3000));
  clock.advance(std::chrono::seconds(1));
  h.sweep();
  const auto m = h.metrics();
  EXPECT_EQ(m.channels, 1U);
  EXPECT_EQ(m.idle_channels, 0U);
  EXPECT_EQ(m.idle_history_bytes, 0U);
}

}  // namespace
}  // namespace rtcache::hub

namespace rtcache::hub {
namespace {

// ---- views: one per visibility class (issue 11, finding 3) ----

core::factory_scope scope(std::initializer_list<std::string_view> ids) {
  return core::factory_scope::of(ids);
}

hub_publish_options tagged(std::string_view factory) {
  hub_publish_options o;
  o.factory_id = factory;
  return o;
}

class ViewTest : public ::testing::Test {
 protected:
  explicit ViewTest(hub_config config = lingering(std::chrono::seconds(120)))
      : hub_(config, encoder_.get(), counter_epochs("e"), clock_.get()) {}

  hub_join join(std::string_view name, const core::factory_scope& view, std::shared_ptr<recorder> r = nullptr,
                const std::optional<hub_position>& resume = std::nullopt) {
    auto j = hub_.subscribe_view(name, view, r ? std::move(r) : std::make_shared<recorder>(), resume);
    EXPECT_TRUE(j.has_value());
    return j ? std::move(*j) : hub_join{};
  }

  counting_encoder encoder_;
  manual_clock clock_;
  hub hub_;
};

TEST_F(ViewTest, AScopedViewCountsOnlyTheMessagesOfItsFactories) {
  auto a = std::make_shared<recorder>();
  auto all = std::make_shared<recorder>();
  auto ja = join("doc:wo:1", scope({"A"}), a);
  auto jall = hub_.subscribe("doc:wo:1", all);
  ASSERT_TRUE(hub_.publish("doc:wo:1", "invalidate", "b1", tagged("B")).accepted());
  ASSERT_TRUE(hub_.publish("doc:wo:1", "invalidate", "a1", tagged("A")).accepted());
  ASSERT_TRUE(hub_.publish("doc:wo:1", "invalidate", "b2", tagged("B")).accepted());
  ASSERT_TRUE(hub_.publish("doc:wo:1", "invalidate", "a2", tagged("A")).accepted());
  EXPECT_EQ(a->seen(), range(1, 2));  // contiguous: B's messages never took an offset in A's view
  EXPECT_EQ(all->seen(), range(1, 4));
  EXPECT_EQ(hub_.position("doc:wo:1", scope({"A"}))->offset, 2U);
  EXPECT_EQ(hub_.position("doc:wo:1")->offset, 4U);
  EXPECT_NE(ja.position.epoch, jall.position.epoch);
}

TEST_F(ViewTest, AnUntaggedMessageReachesOnlyTheUnscopedView) {
  auto a = std::make_shared<recorder>();
  auto ja = join("doc:wo:1", scope({"A"}), a);
  auto all = std::make_shared<recorder>();
  auto jall = hub_.subscribe("doc:wo:1", all);
  EXPECT_EQ(hub_.publish("doc:wo:1", "invalidate", "x").views, 1U);
  EXPECT_TRUE(a->seen().empty());
  EXPECT_EQ(all->seen(), range(1, 1));
}

TEST_F(ViewTest, AMessageIsEncodedOncePerViewThatTakesItNotPerSubscriber) {
  std::vector<hub_join> joins;
  for (int i = 0; i < 3; ++i) joins.push_back(join("doc:wo:1", scope({"A"})));
  for (int i = 0; i < 3; ++i) joins.push_back(join("doc:wo:1", scope({"A", "B"})));
  joins.push_back(join("doc:wo:1", scope({"C"})));
  const auto before = encoder_.calls->load();
  const auto r = hub_.publish("doc:wo:1", "invalidate", "a", tagged("A"));
  EXPECT_EQ(r.views, 2U);
  EXPECT_EQ(r.subscribers, 6U);
  EXPECT_EQ(encoder_.calls->load() - before, 2);
}

TEST_F(ViewTest, AViewOfAScopeIsTheSameWhateverTheOrderOfItsFactories) {
  auto first = join("doc:wo:1", scope({"B", "A"}));
  auto second = join("doc:wo:1", scope({"A", "B", "A"}));
  EXPECT_EQ(first.position.epoch, second.position.epoch);
  EXPECT_EQ(hub_.metrics().channels, 1U);
}

// The attack of finding 3: a foreign subscriber's activity on a doc must not show in the attacker's position.
TEST_F(ViewTest, AJoinToADocWhoseOnlyActivityIsForeignLooksLikeAJoinToANewDoc) {
  auto victim = join("doc:wo:1", scope({"A"}));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(hub_.publish("doc:wo:1", "invalidate", "a", tagged("A")).accepted());
  auto busy = join("doc:wo:1", scope({"X"}));
  auto fresh = join("doc:wo:2", scope({"X"}));
  EXPECT_EQ(busy.position.offset, 0U);
  EXPECT_EQ(busy.position.offset, fresh.position.offset);
  EXPECT_FALSE(busy.recovered);
  // A resume into the victim's epoch from the attacker's class is not recovered (another view, another epoch).
  auto probe = join("doc:wo:1", scope({"X"}), nullptr, victim.position);
  EXPECT_FALSE(probe.recovered);
  EXPECT_TRUE(probe.replay.empty());
}

TEST_F(ViewTest, AForeignSubscriberKeepingTheDocOpenDoesNotKeepAnotherClassesViewAlive) {
  auto keeper = join("doc:wo:1", scope({"A"}));
  auto x = join("doc:wo:1", scope({"X"}));
  const std::string epoch = x.position.epoch;
  x.subscription.unsubscribe();
  clock_.advance(std::chrono::seconds(120));
  EXPECT_EQ(hub_.sweep(), 1U);  // X's view went, A's stays
  EXPECT_FALSE(hub_.position("doc:wo:1", scope({"X"})).has_value());
  EXPECT_TRUE(hub_.position("doc:wo:1", scope({"A"})).has_value());
  auto again = join("doc:wo:1", scope({"X"}), nullptr, hub_position{epoch, 0});
  EXPECT_FALSE(again.recovered);
  EXPECT_NE(again.position.epoch, epoch);
}

TEST_F(ViewTest, ResumeIsExactWithinAViewWhileForeignMessagesArrive) {
  auto first = join("doc:wo:1", scope({"A"}));
  ASSERT_TRUE(hub_.publish("doc:wo:1", "invalidate", "a1", tagged("A")).accepted());
  const hub_position seen{first.position.epoch, 1};
  first.subscription.unsubscribe();  // idle: lingers, and keeps appending A's messages
  EXPECT_FALSE(hub_.publish("doc:wo:1", "invalidate", "b", tagged("B")).accepted());  // no view holds B's
  ASSERT_TRUE(hub_.publish("doc:wo:1", "invalidate", "a2", tagged("A")).accepted());
  auto again = join("doc:wo:1", scope({"A"}), nullptr, seen);
  EXPECT_TRUE(again.recovered);
  EXPECT_EQ(offsets_of(again.replay), range(2, 2));
  EXPECT_EQ(again.replay[0]->frames.v1_text, "a2");
}

TEST_F(ViewTest, BatchReachesAViewCreatedDuringTheBatch) {
  auto all = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());
  hub_batch batch(hub_);
  ASSERT_EQ(batch.publish("doc:wo:1", "invalidate", "a", tagged("A")).views, 1U);
  auto a = std::make_shared<recorder>();
  auto ja = join("doc:wo:1", scope({"A"}), a);
  EXPECT_EQ(batch.publish("doc:wo:1", "invalidate", "a", tagged("A")).views, 2U);
  EXPECT_EQ(a->seen(), range(1, 1));
}

TEST(HubEpochs, RandomEpochsAre128BitHexAndNeverRepeat) {
  const auto epochs = random_epochs();
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    const std::string e = epochs();
    ASSERT_EQ(e.size(), 32U) << e;
    ASSERT_EQ(e.find_first_not_of("0123456789abcdef"), std::string::npos) << e;
    ASSERT_TRUE(seen.insert(e).second) << "repeated: " << e;
  }
}

// issue 11, finding 3: epochs came from a process-wide counter, telling everyone how many channels others open.
TEST(HubEpochs, EpochIsUnguessablePerChannel) {
  counting_encoder encoder;
  hub h(no_linger(), encoder.get());  // the default source: random_epochs()
  auto a = h.subscribe("doc:wo:1", std::make_shared<recorder>());
  auto b = h.subscribe("doc:wo:2", std::make_shared<recorder>());
  auto c = h.subscribe_view("doc:wo:1", core::factory_scope::of({"A"}), std::make_shared<recorder>()).value();
  for (const auto* j : {&a, &b, &c}) {
    EXPECT_EQ(j->position.epoch.size(), 32U) << j->position.epoch;
    EXPECT_EQ(j->position.epoch.find_first_not_of("0123456789abcdef"), std::string::npos);
  }
  EXPECT_NE(a.position.epoch, b.position.epoch);
  EXPECT_NE(a.position.epoch, c.position.epoch);
  // Freed and recreated: a new epoch unrelated to the first.
  const std::string before = b.position.epoch;
  b.subscription.unsubscribe();
  auto again = h.subscribe("doc:wo:2", std::make_shared<recorder>());
  EXPECT_NE(again.position.epoch, before);
}

class ViewBound : public ViewTest {
 protected:
  static hub_config config() {
    hub_config c = lingering(std::chrono::seconds(120));
    c.max_views_per_channel = 2;
    return c;
  }
  ViewBound() : ViewTest(config()) {}
};

TEST_F(ViewBound, ANewViewBeyondTheBoundFreesTheChannelsOldestIdleViewFirstElseIsRefused) {
  auto a = join("doc:wo:1", scope({"A"}));
  auto b = join("doc:wo:1", scope({"B"}));
  auto all = hub_.subscribe("doc:wo:1", std::make_shared<recorder>());  // the unscoped view does not count
  // Both scoped views have subscribers: a third class is refused.
  const auto refused = hub_.subscribe_view("doc:wo:1", scope({"C"}), std::make_shared<recorder>());
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, core::errc::too_many);
  EXPECT_EQ(hub_.metrics().views_refused, 1U);
  // Other channels are not affected.
  EXPECT_TRUE(hub_.subscribe_view("doc:wo:2", scope({"C"}), std::make_shared<recorder>()).has_value());
  // Once A's and B's views are idle, a new class frees the one idle the longest (A's).
  a.subscription.unsubscribe();
  clock_.advance(std::chrono::seconds(1));
  b.subscription.unsubscribe();
  auto c = join("doc:wo:1", scope({"C"}));
  EXPECT_FALSE(hub_.position("doc:wo:1", scope({"A"})).has_value());
  EXPECT_TRUE(hub_.position("doc:wo:1", scope({"B"})).has_value());
  EXPECT_EQ(hub_.metrics().channels_evicted, 1U);
}

class IdleCountBound : public LingerTest {
 protected:
  static hub_config config() {
    hub_config c = lingering(std::chrono::seconds(120));
    c.max_idle_channels = 3;
    return c;
  }
  IdleCountBound() : LingerTest(config()) {}
};

// issue 11, finding 7: 20,000 join/leave cycles left 20,000 empty channels, bounded only by their history bytes.
TEST_F(IdleCountBound, IdleChannelsBeyondTheCountFreeTheOldestIdleFirst) {
  for (int i = 1; i <= 5; ++i) {
    hub_.subscribe("doc:wo:" + std::to_string(i), std::make_shared<recorder>()).subscription.unsubscribe();
    clock_.advance(std::chrono::seconds(1));
  }
  const auto m = hub_.metrics();
  EXPECT_EQ(m.idle_channels, 3U);
  EXPECT_EQ(m.channels, 3U);
  EXPECT_EQ(m.channels_evicted, 2U);
  EXPECT_FALSE(hub_.position("doc:wo:1").has_value());
  EXPECT_FALSE(hub_.position("doc:wo:2").has_value());
  for (int i = 3; i <= 5; ++i) EXPECT_TRUE(hub_.position("doc:wo:" + std::to_string(i)).has_value()) << i;
}

}  // namespace
}  // namespace rtcache::hub

namespace rtcache::hub {
namespace {

// Views under concurrency: publishers of A's and B's messages (plain and batched) while churners join and leave
// views of several classes, resuming where they left. Every stream stays contiguous and holds only its class's
// factories; the anchored views see exactly their factories' messages.
TEST(HubViewRace, ChurningScopedSubscribersSeeGapFreeStreamsOfTheirFactoriesOnly) {
  constexpr int k_publishers = 2;
  constexpr int k_publishes_each = 3000;
  constexpr int k_churners = 3;
  constexpr int k_joins_each = 400;
  const std::vector<core::factory_scope> classes = {core::factory_scope::of({"A"}), core::factory_scope::of({"B"}),
                                                    core::factory_scope::of({"A", "B"})};
  counting_encoder encoder;
  hub h(no_linger(), encoder.get(), counter_epochs("e"));
  auto all = std::make_shared<recorder>();
  auto all_join = h.subscribe("doc:wo:1", all);
  auto only_a = std::make_shared<recorder>();
  auto a_join = h.subscribe_view("doc:wo:1", classes[0], only_a).value();

  std::atomic<bool> go{false};
  std::atomic<std::uint64_t> published_a{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < k_publishers; ++p) {
    threads.emplace_back([&, p] {
      while (!go.load()) std::this_thread::yield();
      std::optional<hub_batch> batch;
      for (int i = 0; i < k_publishes_each; ++i) {
        hub_publish_options o;
        o.factory_id = (i + p) % 2 == 0 ? "A" : "B";
        if (p == 0) {
          if (i % 50 == 0) batch.emplace(h);
          ASSERT_TRUE(batch->publish("doc:wo:1", "invalidate", "{}", o).accepted());
        } else {
          ASSERT_TRUE(h.publish("doc:wo:1", "invalidate", "{}", o).accepted());
        }
        if (o.factory_id == "A") published_a.fetch_add(1);
      }
    });
  }
  for (int t = 0; t < k_churners; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::optional<hub_position>> last(classes.size());
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < k_joins_each; ++i) {
        const auto c = static_cast<std::size_t>(i + t) % classes.size();
        auto r = std::make_shared<recorder>();
        const auto resume = last[c];
        auto join = h.subscribe_view("doc:wo:1", classes[c], r, resume).value();
        for (int y = 0; y < 3 + (i % 5); ++y) std::this_thread::yield();
        join.subscription.unsubscribe();
        r->close();
        expect_contiguous(join, resume, *r);
        for (const auto& m : r->messages()) {
          if (!classes[c].contains(m->meta.factory_id)) ADD_FAILURE() << "view got " << m->meta.factory_id;
        }
        if (::testing::Test::HasFailure()) {
          failures.fetch_add(1);
          return;
        }
        const auto seen = r->seen();
        last[c] = hub_position{join.position.epoch, seen.empty() ? join.position.offset : seen.back()};
      }
    });
  }
  go.store(true);
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  EXPECT_EQ(all->seen(), range(1, k_publishers * k_publishes_each));
  EXPECT_EQ(only_a->seen(), range(1, published_a.load()));
  for (const auto& m : only_a->messages()) EXPECT_EQ(m->meta.factory_id, "A");
}

// ---- reset: a gap in the source (issue 13, "A gap is never continuity") ----

// Counts resets and remembers which deliveries came before and after them.
class reset_recorder final : public hub_subscriber {
 public:
  void deliver(const hub_message_ptr& message) noexcept override {
    std::lock_guard lock(mu_);
    events_.push_back("m" + std::to_string(message->offset));
  }
  void on_reset() noexcept override {
    std::lock_guard lock(mu_);
    events_.push_back("reset");
  }
  std::vector<std::string> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

bool starts_with_list(std::string_view name) {
  return name.starts_with("list:");
}

void publish_n_to(hub& h, std::string_view channel, int n) {
  for (int i = 0; i < n; ++i) ASSERT_TRUE(h.publish(channel, "invalidate", "{}").accepted());
}

TEST_F(ViewTest, ResetGivesALiveViewANewEpochAnEmptyHistoryAndTellsItsSubscribersInOrder) {
  auto r = std::make_shared<reset_recorder>();
  auto j = hub_.subscribe("list:wo:f1", r);
  publish_n_to(hub_, "list:wo:f1", 3);
  const hub_position before = *hub_.position("list:wo:f1");
  EXPECT_EQ(hub_.reset(starts_with_list), 1U);
  publish_n_to(hub_, "list:wo:f1", 1);
  EXPECT_EQ(r->events(), (std::vector<std::string>{"m1", "m2", "m3", "reset", "m4"}));
  const hub_position after = *hub_.position("list:wo:f1");
  EXPECT_NE(after.epoch, before.epoch);
  EXPECT_EQ(after.offset, 4U);  // offsets go on; the epoch tells the streams apart
  EXPECT_EQ(hub_.metrics().history_messages, 1U);
  EXPECT_EQ(hub_.metrics().views_reset, 1U);
  // A resume from before the reset is never recovered, even at an offset the new epoch has reached; one in the
  // new epoch is exact.
  EXPECT_FALSE(hub_.subscribe("list:wo:f1", std::make_shared<recorder>(), before).recovered);
  EXPECT_FALSE(hub_.subscribe("list:wo:f1", std::make_shared<recorder>(), hub_position{before.epoch, 4}).recovered);
  auto exact = hub_.subscribe("list:wo:f1", std::make_shared<recorder>(), hub_position{after.epoch, 3});
  EXPECT_TRUE(exact.recovered);
  EXPECT_EQ(offsets_of(exact.replay), range(4, 4));
}

TEST_F(ViewTest, ResetFreesAnIdleViewSoItsNextJoinStartsANewEpoch) {
  auto j = hub_.subscribe("list:wo:f1", std::make_shared<recorder>());
  publish_n_to(hub_, "list:wo:f1", 2);
  const hub_position before = j.position;
  j.subscription.unsubscribe();
  ASSERT_EQ(hub_.metrics().idle_channels, 1U);
  EXPECT_EQ(hub_.reset(starts_with_list), 1U);
  EXPECT_EQ(hub_.metrics().idle_channels, 0U);
  EXPECT_EQ(hub_.metrics().history_messages, 0U);
  EXPECT_FALSE(hub_.position("list:wo:f1"));
  auto again = hub_.subscribe("list:wo:f1", std::make_shared<recorder>(), hub_position{before.epoch, 2});
  EXPECT_FALSE(again.recovered);
  EXPECT_NE(again.position.epoch, before.epoch);
}

TEST_F(ViewTest, ResetStartsOverEveryViewOfTheChannelsItSelectsAndNothingElse) {
  auto scoped = std::make_shared<reset_recorder>();
  auto unscoped = std::make_shared<reset_recorder>();
  auto other = std::make_shared<reset_recorder>();
  auto a = join("list:wo:f1", scope({"f1"}), nullptr);
  auto a2 = hub_.subscribe_view("list:wo:f1", scope({"f1"}), scoped);
  auto b = hub_.subscribe("list:wo:f1", unscoped);
  auto c = hub_.subscribe("room:1", other);
  ASSERT_TRUE(hub_.publish("room:1", "broadcast", "x").accepted());
  const hub_position room = *hub_.position("room:1");
  EXPECT_EQ(hub_.reset(starts_with_list), 2U);
  EXPECT_EQ(scoped->events(), (std::vector<std::string>{"reset"}));
  EXPECT_EQ(unscoped->events(), (std::vector<std::string>{"reset"}));
  EXPECT_EQ(other->events(), (std::vector<std::string>{"m1"}));
  EXPECT_EQ(*hub_.position("room:1"), room);
  EXPECT_TRUE(hub_.subscribe("room:1", std::make_shared<recorder>(), room).recovered);
}

// Resets racing with publishes and joins: every subscriber sees, per epoch, a gap-free run of offsets, and a join
// never replays across a reset.
TEST(HubResetRace, ResetsRacingWithPublishesKeepEachEpochGapFree) {
  hub h(hub_config{}, counting_encoder{}.get(), counter_epochs("r"));
  auto r = std::make_shared<reset_recorder>();
  auto j = h.subscribe("list:wo:f1", r);
  std::atomic<bool> done{false};
  std::thread resetter([&] {
    while (!done.load()) h.reset(starts_with_list);
  });
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(h.publish("list:wo:f1", "invalidate", "{}").accepted());
  done.store(true);
  resetter.join();
  // Offsets are contiguous across the whole run (they go on after a reset), and resets only fall between them.
  std::uint64_t expect = 1;
  for (const std::string& e : r->events()) {
    if (e == "reset") continue;
    EXPECT_EQ(e, "m" + std::to_string(expect));
    ++expect;
  }
  EXPECT_EQ(expect, 5001U);
}

}  // namespace
}  // namespace rtcache::hub
