// The ordered consumer against real nats-servers: order and start sequence, filters, the pending bound, and
// nats-server restarts (where nats.c alone would skip or repeat messages).
#include "cluster/ordered_consumer.hpp"

#include "cluster/nats_handles.hpp"
#include "cluster/publisher.hpp"
#include "cluster/stream.hpp"
#include "cluster/test_nats_server.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

namespace rtcache::cluster {
namespace {

using namespace std::chrono_literals;

stream_settings make_stream(const connection& conn, const std::string& prefix) {
  stream_settings s = test::test_stream(prefix);
  auto r = ensure_stream(conn, s);
  if (!r) throw std::runtime_error(r.error().message);
  return s;
}

// Publishes messages "<from>".."<to>" (data = the index) on "<stream>.<subject_of(i)>".
void publish_range(
    const connection& conn, const stream_settings& st, int from, int to,
    const std::function<std::string(int)>& subject_of = [](int) { return "a"; }) {
  auto pub = publisher::create(conn).value();
  std::uint64_t last = 0;
  for (int i = from; i <= to; ++i) {
    last = pub->publish({st.name + "." + subject_of(i), "id" + std::to_string(i), {}, std::to_string(i)}).value();
  }
  auto r = pub->wait_acked(last, 10s);
  if (!r) throw std::runtime_error(r.error().message);
}

consumer_settings all_of(const stream_settings& st, std::uint64_t start = 0) {
  return test::consumer_of(st.name, st.subjects[0], start);
}

TEST(OrderedConsumer, DeliversInStreamOrderFromTheStartSequence) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const auto st = make_stream(*conn, "order");
  publish_range(*conn, st, 1, 500, [](int i) { return "s" + std::to_string(i % 5); });
  auto c = ordered_consumer::start(*conn, all_of(st, 101)).value();
  EXPECT_EQ(c->last_delivered(), 100u);
  for (std::uint64_t expect = 101; expect <= 500; ++expect) {
    auto m = c->next(5s);
    ASSERT_TRUE(m && *m) << "stalled before " << expect;
    ASSERT_EQ((*m)->seq, expect);
    ASSERT_EQ((*m)->data, std::to_string(expect));
    ASSERT_EQ((*m)->subject, st.name + ".s" + std::to_string(expect % 5));
    ASSERT_GT((*m)->time_ns, 0);
  }
  auto idle = c->next(50ms);
  ASSERT_TRUE(idle);
  EXPECT_FALSE(*idle) << "nothing more: next() times out with no message";
  publish_range(*conn, st, 501, 501);
  auto live = c->next(5s);
  ASSERT_TRUE(live && *live);
  EXPECT_EQ((*live)->seq, 501u) << "and it keeps following the stream live";
}

TEST(OrderedConsumer, DeliverAllStartsAtTheFirstHeldSequence) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const auto st = make_stream(*conn, "all");
  publish_range(*conn, st, 1, 10);
  ASSERT_TRUE(purge_stream(*conn, st.name));
  publish_range(*conn, st, 11, 12);
  auto c = ordered_consumer::start(*conn, all_of(st)).value();
  auto m = c->next(5s);
  ASSERT_TRUE(m && *m);
  EXPECT_EQ((*m)->seq, 11u) << "a consumer from 1 sees the purge only as first_seq having moved";
}

TEST(OrderedConsumer, FilterDeliversOnlyMatchingSubjectsWithTheirStreamSequences) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const auto st = make_stream(*conn, "filter");
  publish_range(*conn, st, 1, 60, [](int i) { return i % 3 == 0 ? "list.wo.F1" : "doc.wo." + std::to_string(i); });
  auto c = ordered_consumer::start(*conn, test::consumer_of(st.name, st.name + ".list.wo.F1")).value();
  for (std::uint64_t expect = 3; expect <= 60; expect += 3) {
    auto m = c->next(5s);
    ASSERT_TRUE(m && *m);
    ASSERT_EQ((*m)->seq, expect);
  }
  EXPECT_FALSE(*c->next(50ms));
}

// With a pending bound far below what flow control lets the server send, nats.c drops messages; nats.c's own
// ordered consumer would skip them silently (the drop happens after its gap check). We start over after the
// last delivered message instead: every message arrives, in order, once.
TEST(OrderedConsumer, DropsAtThePendingBoundAreFetchedAgainNotSkipped) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const auto st = make_stream(*conn, "drops");
  publish_range(*conn, st, 1, 600);
  auto small = test::test_settings(test::shared_server().url());
  small.subscription_pending_msgs = 32;
  auto bounded = connection::connect(small).value();
  auto c = ordered_consumer::start(*bounded, all_of(st)).value();
  // Read nothing until nats.c has reported a slow consumer (a drop) through the connection's events.
  ASSERT_TRUE(test::eventually([&] { return bounded->stats().async_errors > 0; }, 5s));
  for (std::uint64_t expect = 1; expect <= 600; ++expect) {
    auto m = c->next(5s);
    ASSERT_TRUE(m && *m) << "stalled before " << expect;
    ASSERT_EQ((*m)->seq, expect);
  }
  EXPECT_GT(c->stats().restarts, 0u) << "the bound was hit";
  EXPECT_EQ(c->stats().delivered, 600u);
  // Each subscription a restart ended, and the last one once the consumer is gone, waits for the connection's close
  // before it is destroyed (nats.c issue 637).
  const std::size_t restarts = c->stats().restarts;
  EXPECT_EQ(bounded->handles().retired(), std::min(restarts, detail::connection_handles::k_max_retired));
  c.reset();
  EXPECT_EQ(bounded->handles().retired(), std::min(restarts + 1, detail::connection_handles::k_max_retired));
}

// kill -9 of the server mid-read and more messages after its restart: the consumer continues right after the
// last message it delivered, by itself, with no gap and no repeat.
TEST(OrderedConsumer, ContinuesAfterAServerCrashWithoutGapOrRepeat) {
  test::nats_server server;
  auto conn = test::connect_or_die(server.url());
  const auto st = make_stream(*conn, "crash");
  publish_range(*conn, st, 1, 300);
  auto c = ordered_consumer::start(*conn, all_of(st)).value();
  std::uint64_t expect = 1;
  for (; expect <= 150; ++expect) {
    auto m = c->next(5s);
    ASSERT_TRUE(m && *m);
    ASSERT_EQ((*m)->seq, expect);
  }
  server.kill9();
  server.start();
  ASSERT_TRUE(test::eventually([&] { return conn->connected(); }, 10s));
  publish_range(*conn, st, 301, 400);
  for (; expect <= 400; ++expect) {
    auto m = c->next(15s);
    ASSERT_TRUE(m) << m.error().message;
    ASSERT_TRUE(*m) << "stalled before " << expect;
    ASSERT_EQ((*m)->seq, expect);
  }
  EXPECT_FALSE(*c->next(100ms));
}

// nats.c 3.4 resets an ordered consumer that has not received anything yet from sequence 1, whatever start
// sequence it was given. A node following the stream from its last applied sequence on an idle stream would
// then be handed the whole history again after a server restart. We skip what is below the start.
TEST(OrderedConsumer, AServerRestartBeforeTheFirstMessageDoesNotReplayWhatPrecedesTheStart) {
  test::nats_server server;
  auto conn = test::connect_or_die(server.url());
  const auto st = make_stream(*conn, "idle");
  publish_range(*conn, st, 1, 50);
  auto c = ordered_consumer::start(*conn, all_of(st, 51)).value();
  EXPECT_FALSE(*c->next(50ms));
  server.kill9();
  server.start();
  ASSERT_TRUE(test::eventually([&] { return conn->connected(); }, 10s));
  publish_range(*conn, st, 51, 51);
  auto m = c->next(15s);
  ASSERT_TRUE(m && *m);
  EXPECT_EQ((*m)->seq, 51u);
  EXPECT_EQ((*m)->data, "51");
  std::cout << "[ info ] sequences received again below the start and skipped: " << c->stats().skipped << "\n";
}

}  // namespace
}  // namespace rtcache::cluster
