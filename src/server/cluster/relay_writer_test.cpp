// The relay-only cluster's writer against a real nats-server: of several nodes' relay writers exactly one republishes
// the ingest stream into the main stream; when it stops, another takes over from the stream's tail, and every
// ingest item is in the main stream once, in order.
#include "cluster/relay_writer.hpp"

#include "cluster/nats_handles.hpp"
#include "cluster/publisher.hpp"
#include "cluster/range_fetch.hpp"
#include "cluster/stream.hpp"
#include "cluster/subject.hpp"
#include "cluster/test_nats_server.hpp"

#include <gtest/gtest.h>

namespace rtcache::cluster {
namespace {

using namespace std::chrono_literals;

class relay_harness {
 public:
  relay_harness() : conn_(test::connect_or_die(test::shared_server().url())), main_(test::test_stream("relayw")) {
    for (const auto& s : {main_, ingest_stream_settings(main_)}) {
      if (auto r = ensure_stream(*conn_, s); !r) throw std::runtime_error(r.error().message);
    }
    pub_ = publisher::create(*conn_, test::publisher_of(64, 2s, 2s)).value();
  }
  ~relay_harness() {
    pub_.reset();
    (void)delete_stream(*conn_, main_.name);
    (void)delete_stream(*conn_, ingest_stream_name(main_.name));
    js_DeleteKeyValue(conn_->handles().js, ledger_bucket(main_.name).c_str());
    js_DeleteKeyValue(conn_->handles().js, (main_.name + "_lease").c_str());
  }

  std::unique_ptr<relay_writer> start(const std::string& node) const {
    relay_writer_settings s;
    s.writer.stream = main_.name;
    s.writer.publisher = test::publisher_of(256, 2s, 2s);
    s.node_id = node;
    s.lease_ttl = 600ms;
    s.idle_poll = 20ms;
    auto w = relay_writer::start(*conn_, s);
    if (!w) throw std::runtime_error(w.error().message);
    return std::move(*w);
  }

  void post(const std::string& node, const std::string& payload) {
    channel_message m;
    m.channel = "room";
    m.event = "note";
    m.payload = payload;
    const std::string body = encode_body(ingest_batch{{m}});
    const std::string subject = subjects{main_.name}.ingest(node);
    outgoing_message out;
    out.subject = subject;
    out.data = body;
    auto t = pub_->publish(out);
    ASSERT_TRUE(t);
    ASSERT_TRUE(pub_->wait_acked(*t, 5s));
  }

  // The payloads of the main stream's channel messages, in stream order.
  std::vector<std::string> delivered() const {
    range_request r;
    r.stream = main_.name;
    r.subject = main_.name + ".>";
    r.from_seq = 1;
    std::vector<std::string> out;
    for (const auto& m : fetch_range(*conn_, r).value()) {
      const stream_body body = decode_body(m.data).value();
      if (const auto* cm = std::get_if<channel_message>(&body)) out.push_back(cm->payload);
    }
    return out;
  }

  bool delivered_count(std::size_t n) const {
    return test::eventually([&] { return delivered().size() >= n; }, 10s);
  }

 private:
  std::unique_ptr<connection> conn_;
  stream_settings main_;
  std::unique_ptr<publisher> pub_;
};

std::vector<std::string> numbers(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back(std::to_string(i));
  return out;
}

TEST(RelayWriter, ExactlyOneNodeRepublishesEveryNodesIngestOnceInOrder) {
  relay_harness h;
  auto a = h.start("node-a");
  auto b = h.start("node-b");
  ASSERT_TRUE(test::eventually([&] { return a->status().writer || b->status().writer; }, 5s));
  for (int i = 1; i <= 20; ++i) h.post(i % 2 == 0 ? "node-a" : "node-b", std::to_string(i));
  ASSERT_TRUE(h.delivered_count(20));
  EXPECT_EQ(h.delivered(), numbers(1, 20));
  EXPECT_NE(a->status().writer, b->status().writer) << "one writer, one standby";
  EXPECT_EQ(a->status().stats.ingest_items + b->status().stats.ingest_items, 20u);
}

TEST(RelayWriter, WhenTheWriterStopsAStandbyTakesOverWithoutLossOrRepeat) {
  relay_harness h;
  auto a = h.start("node-a");
  ASSERT_TRUE(test::eventually([&] { return a->status().writer; }, 5s));
  auto b = h.start("node-b");
  for (int i = 1; i <= 10; ++i) h.post("node-b", std::to_string(i));
  ASSERT_TRUE(h.delivered_count(10));
  a->stop();                                                           // releases the lease
  for (int i = 11; i <= 20; ++i) h.post("node-b", std::to_string(i));  // accepted while no one writes, perhaps
  ASSERT_TRUE(test::eventually([&] { return b->status().writer; }, 5s));
  ASSERT_TRUE(h.delivered_count(20));
  EXPECT_EQ(h.delivered(), numbers(1, 20));
  EXPECT_EQ(b->status().activations, 1u);
}

TEST(RelayWriter, ARestartedNodeContinuesAfterWhatTheStreamHolds) {
  relay_harness h;
  {
    auto a = h.start("node-a");
    for (int i = 1; i <= 5; ++i) h.post("node-a", std::to_string(i));
    ASSERT_TRUE(h.delivered_count(5));
  }
  for (int i = 6; i <= 8; ++i) h.post("node-a", std::to_string(i));
  auto again = h.start("node-a");
  ASSERT_TRUE(h.delivered_count(8));
  EXPECT_EQ(h.delivered(), numbers(1, 8));
  EXPECT_EQ(again->status().stats.ingest_skipped, 1u) << "the anchor's message read again, its item skipped";
}

}  // namespace
}  // namespace rtcache::cluster
