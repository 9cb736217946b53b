// The ingest pump against a real nats-server: what nodes publish to the ingest stream reaches the writer's thread in
// order, from where the writer's anchor says, bounded, and bodies that are no ingest batch are handed over refused.
#include "cluster/ingest_pump.hpp"

#include "cluster/publisher.hpp"
#include "cluster/stream.hpp"
#include "cluster/subject.hpp"
#include "cluster/test_nats_server.hpp"

#include <gtest/gtest.h>

namespace rtcache::cluster {
namespace {

using namespace std::chrono_literals;

channel_message item(const std::string& payload) {
  channel_message m;
  m.channel = "room";
  m.event = "note";
  m.payload = payload;
  return m;
}

class ingest_harness {
 public:
  ingest_harness() : conn_(test::connect_or_die(test::shared_server().url())), main_(test::test_stream("pump")) {
    if (auto r = ensure_stream(*conn_, ingest_stream_settings(main_)); !r) throw std::runtime_error(r.error().message);
    auto p = publisher::create(*conn_, test::publisher_of(64, 2s, 2s));
    if (!p) throw std::runtime_error(p.error().message);
    pub_ = std::move(*p);
  }
  ~ingest_harness() {
    pub_.reset();
    (void)delete_stream(*conn_, ingest_stream_name(main_.name));
  }

  const connection& conn() const { return *conn_; }
  const std::string& stream() const { return main_.name; }
  std::int64_t created() const {
    return get_stream_state(*conn_, ingest_stream_name(main_.name)).value().identity.created_ns;
  }

  // Publishes `body` as node `node` would, and waits until it is stored.
  void publish(const std::string& body, const std::string& node = "a") {
    const std::string subject = subjects{main_.name}.ingest(node);
    outgoing_message m;
    m.subject = subject;
    m.data = body;
    auto t = pub_->publish(m);
    ASSERT_TRUE(t) << t.error().message;
    ASSERT_TRUE(pub_->wait_acked(*t, 5s));
  }
  void publish_batch(std::vector<channel_message> items, const std::string& node = "a") {
    publish(encode_body(ingest_batch{std::move(items)}), node);
  }

  ingest_pump_settings settings() const {
    ingest_pump_settings s;
    s.stream = main_.name;
    s.poll = 50ms;
    return s;
  }

 private:
  std::unique_ptr<connection> conn_;
  stream_settings main_;
  std::unique_ptr<publisher> pub_;
};

// Takes until `n` deliveries arrived (or 5 s passed).
std::vector<ingest_delivery> take_n(ingest_pump& pump, std::size_t n) {
  std::vector<ingest_delivery> got;
  test::eventually(
      [&] {
        for (auto& d : pump.take(n - got.size())) got.push_back(std::move(d));
        return got.size() >= n;
      },
      5s);
  return got;
}

TEST(IngestPump, DeliversEveryNodesIngestInStreamOrderFromTheFirstMessageWithoutAnAnchor) {
  ingest_harness h;
  h.publish_batch({item("1")}, "a");
  h.publish_batch({item("2"), item("3")}, "b");
  ingest_pump pump(h.conn(), h.settings());
  std::atomic<int> wakes{0};
  ASSERT_TRUE(pump.restart({}, [&] { ++wakes; }));
  h.publish_batch({item("4")}, "a");
  const auto got = take_n(pump, 3);
  ASSERT_EQ(got.size(), 3u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].seq, i + 1);
    EXPECT_EQ(got[i].ingest_created_ns, h.created());
    ASSERT_TRUE(got[i].batch);
  }
  EXPECT_EQ(got[1].batch->items, (std::vector<channel_message>{item("2"), item("3")}));
  EXPECT_EQ(got[2].batch->items, (std::vector<channel_message>{item("4")}));
  EXPECT_GE(wakes.load(), 1);
}

TEST(IngestPump, RestartsAtTheAnchorsMessageAndFromTheStartForAnotherIncarnation) {
  ingest_harness h;
  for (int i = 1; i <= 4; ++i) h.publish_batch({item(std::to_string(i))});
  ingest_pump pump(h.conn(), h.settings());
  ASSERT_TRUE(pump.restart({h.created(), 3, 0}, {}));
  auto got = take_n(pump, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].seq, 3u) << "the anchor's message again: the writer skips the items it holds";
  EXPECT_EQ(got[1].seq, 4u);
  // An anchor of another ingest stream incarnation says nothing about this one: from its first message.
  ASSERT_TRUE(pump.restart({h.created() + 1, 3, 0}, {}));
  got = take_n(pump, 4);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].seq, 1u);
}

TEST(IngestPump, ABodyThatIsNoIngestBatchIsHandedOverRefusedInItsPlace) {
  ingest_harness h;
  h.publish("\xff garbage");
  h.publish(encode_body(gap_message{"x", {}, ""}));
  h.publish_batch({item("ok")});
  ingest_pump pump(h.conn(), h.settings());
  ASSERT_TRUE(pump.restart({}, {}));
  const auto got = take_n(pump, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_FALSE(got[0].batch);
  EXPECT_FALSE(got[0].refused.empty());
  EXPECT_FALSE(got[1].batch);
  EXPECT_NE(got[1].refused.find("not an ingest batch"), std::string::npos) << got[1].refused;
  ASSERT_TRUE(got[2].batch);
  EXPECT_EQ(pump.stats().refused, 2u);
}

TEST(IngestPump, AFullQueueStopsReadingUntilTheWriterTakes) {
  ingest_harness h;
  for (int i = 1; i <= 5; ++i) h.publish_batch({item(std::to_string(i))});
  auto s = h.settings();
  s.max_queued = 2;
  ingest_pump pump(h.conn(), s);
  ASSERT_TRUE(pump.restart({}, {}));
  ASSERT_TRUE(test::eventually([&] { return pump.stats().queued == 2; }, 5s));
  // Nothing beyond the bound is read meanwhile.
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(pump.stats().read, 2u);
  const auto got = take_n(pump, 5);
  ASSERT_EQ(got.size(), 5u);
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].seq, i + 1);
}

TEST(IngestPump, PauseDropsTheQueueAndStopsReading) {
  ingest_harness h;
  h.publish_batch({item("1")});
  ingest_pump pump(h.conn(), h.settings());
  ASSERT_TRUE(pump.restart({}, {}));
  ASSERT_TRUE(test::eventually([&] { return pump.stats().queued == 1; }, 5s));
  pump.pause();
  EXPECT_FALSE(pump.running());
  EXPECT_TRUE(pump.take(10).empty());
  h.publish_batch({item("2")});
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(pump.stats().read, 1u);
}

}  // namespace
}  // namespace rtcache::cluster
