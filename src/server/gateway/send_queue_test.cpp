// Tests of a connection's send queue without a socket: the byte bound and what overflow drops (4008 follows), the
// frames held for a channel whose join reply is not queued yet and how they count, the one-write-in-flight and
// one-posted-flush rules, writes held back by a flush_scope, and a join opened while a publisher thread offers
// deliveries (the ordering the gateway's join-ordering test pins over a socket).
#include "send_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace rtcache::gateway {
namespace {

std::shared_ptr<const auth::principal> anyone() {
  return std::make_shared<const auth::principal>(
      auth::principal{auth::auth_role::anon, core::factory_scope::unscoped(), std::chrono::sys_seconds{}, {}, nullptr});
}

// A delivery that becomes one text frame.
auto frame(std::string text) {
  return [text = std::move(text)](const auth::principal&, frame_set& fs) { fs.f[fs.n++] = out_frame::text(text); };
}

// A delivery that must not be decided at all (the channel or the connection is closed).
auto never(bool& called) {
  return [&called](const auth::principal&, frame_set&) { called = true; };
}

std::vector<std::string> texts(const std::vector<out_frame>& frames) {
  std::vector<std::string> out;
  for (const auto& f : frames) out.emplace_back(f.bytes());
  return out;
}

// Takes and completes writes until the queue is drained; returns every frame written, in order.
std::vector<std::string> drain(send_queue& q) {
  std::vector<std::string> out;
  for (;;) {
    std::vector<out_frame> batch;
    if (q.take(batch, true) != send_queue::take_result::batch) return out;
    for (auto& t : texts(batch)) out.push_back(std::move(t));
    q.written(batch);
  }
}

TEST(SendQueue, FramesGoOutInOrderOneWriteAtATime) {
  send_queue q(1000);
  ASSERT_TRUE(q.push(out_frame::text("a")));
  ASSERT_TRUE(q.push(out_frame::text("bb")));
  std::vector<out_frame> batch;
  ASSERT_EQ(q.take(batch, true), send_queue::take_result::batch);
  EXPECT_EQ(texts(batch), (std::vector<std::string>{"a", "bb"}));
  EXPECT_TRUE(q.writing());
  ASSERT_TRUE(q.push(out_frame::text("c")));
  std::vector<out_frame> second;
  EXPECT_EQ(q.take(second, true), send_queue::take_result::busy);  // one write in flight
  EXPECT_EQ(q.bytes(), 4U);                                        // in flight + queued
  q.written(batch);
  EXPECT_EQ(q.bytes(), 1U);
  EXPECT_EQ(drain(q), (std::vector<std::string>{"c"}));
  std::vector<out_frame> none;
  EXPECT_EQ(q.take(none, true), send_queue::take_result::drained);
}

TEST(SendQueue, NothingIsTakenWhileTheSocketMayNotBeWritten) {
  send_queue q(1000);
  ASSERT_TRUE(q.push(out_frame::text("a")));
  std::vector<out_frame> batch;
  EXPECT_EQ(q.take(batch, false), send_queue::take_result::busy);
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(q.size(), 1U);
}

TEST(SendQueue, TakeCutsAWriteAtTheBatchBound) {
  send_queue q(1 << 20);
  for (std::size_t i = 0; i < k_write_batch_frames + 10; ++i) ASSERT_TRUE(q.push(out_frame::text("x")));
  std::vector<out_frame> batch;
  ASSERT_EQ(q.take(batch, true), send_queue::take_result::batch);
  EXPECT_EQ(batch.size(), k_write_batch_frames);
  EXPECT_EQ(q.size(), 10U);
}

// The bound: the frame that would pass it drops the whole queue and reports overflow (the session closes with
// 4008); after that nothing more is queued.
TEST(SendQueue, TheFrameThatPassesTheBoundOverflowsAndDropsTheQueue) {
  send_queue q(100);
  ASSERT_TRUE(q.push(out_frame::text(std::string(60, 'a'))));
  ASSERT_TRUE(q.push(out_frame::text(std::string(40, 'b'))));  // exactly at the bound
  EXPECT_FALSE(q.push(out_frame::text("c")));
  EXPECT_EQ(q.size(), 0U);
  EXPECT_EQ(q.bytes(), 0U);
  EXPECT_TRUE(q.push(out_frame::text("d")));  // dropped quietly: the close is already under way
  EXPECT_EQ(q.size(), 0U);
}

TEST(SendQueue, TheWriteInFlightCountsAgainstTheBoundUntilItCompletes) {
  send_queue q(100);
  ASSERT_TRUE(q.push(out_frame::text(std::string(70, 'a'))));
  std::vector<out_frame> batch;
  ASSERT_EQ(q.take(batch, true), send_queue::take_result::batch);
  EXPECT_FALSE(q.push(out_frame::text(std::string(40, 'b'))));  // 70 in flight + 40 > 100
  EXPECT_EQ(q.bytes(), 70U);  // the write in flight is not dropped: it finishes, then the close frame follows
  q.written(batch);
  EXPECT_EQ(q.bytes(), 0U);
}

TEST(SendQueue, DeliveriesAreHeldUntilTheJoinOpensAndThenFollowItsFrames) {
  send_queue q(1000);
  channel_gate g(anyone());
  const auto held = q.offer(g, 0, frame("live1"));
  EXPECT_FALSE(held.flush);  // held: nothing to write yet
  q.offer(g, 0, frame("live2"));
  EXPECT_EQ(q.held(g), 2U);
  EXPECT_EQ(q.size(), 0U);
  EXPECT_EQ(q.bytes(), 10U);  // held frames count against the bound
  std::vector<out_frame> join{out_frame::text("reply"), out_frame::text("replay")};
  ASSERT_TRUE(q.open(g, join));
  EXPECT_EQ(q.held(g), 0U);
  const auto live = q.offer(g, 0, frame("live3"));
  EXPECT_TRUE(live.flush);
  EXPECT_EQ(drain(q), (std::vector<std::string>{"reply", "replay", "live1", "live2", "live3"}));
  EXPECT_EQ(q.bytes(), 0U);
}

TEST(SendQueue, HeldFramesOverflowTheBoundToo) {
  send_queue q(10);
  channel_gate g(anyone());
  EXPECT_FALSE(q.offer(g, 0, frame("12345678")).overflow);
  EXPECT_TRUE(q.offer(g, 0, frame("123")).overflow);
  // The open that follows an overflow queues nothing and releases what was held.
  std::vector<out_frame> join{out_frame::text("reply")};
  EXPECT_TRUE(q.open(g, join));  // the reply itself is dropped, not an overflow of its own
  EXPECT_EQ(q.bytes(), 0U);
  EXPECT_EQ(q.size(), 0U);
}

TEST(SendQueue, AJoinReplyThatOverflowsReleasesTheHeldFrames) {
  send_queue q(10);
  channel_gate g(anyone());
  q.offer(g, 0, frame("1234"));
  std::vector<out_frame> join{out_frame::text("reply-too-long")};
  EXPECT_FALSE(q.open(g, join));
  EXPECT_EQ(q.bytes(), 0U);
  EXPECT_EQ(q.held(g), 0U);
}

TEST(SendQueue, ALeftChannelDropsItsHeldFramesAndLaterDeliveries) {
  send_queue q(1000);
  channel_gate g(anyone());
  q.offer(g, 0, frame("held"));
  q.close_channel(g);
  EXPECT_EQ(q.bytes(), 0U);
  EXPECT_EQ(q.held(g), 0U);
  bool called = false;
  const auto r = q.offer(g, 0, never(called));
  EXPECT_FALSE(called);
  EXPECT_FALSE(r.flush || r.overflow || r.deferred);
}

TEST(SendQueue, ClosingDropsTheQueueAndEveryLaterFrameButNotTheWriteInFlight) {
  send_queue q(1000);
  channel_gate g(anyone());
  std::vector<out_frame> join;
  ASSERT_TRUE(q.open(g, join));
  ASSERT_TRUE(q.push(out_frame::text("in-flight")));
  std::vector<out_frame> batch;
  ASSERT_EQ(q.take(batch, true), send_queue::take_result::batch);
  ASSERT_TRUE(q.push(out_frame::text("queued")));
  q.close();
  EXPECT_EQ(q.size(), 0U);
  EXPECT_EQ(q.bytes(), 9U);
  bool called = false;
  q.offer(g, 0, never(called));
  EXPECT_FALSE(called);
  EXPECT_TRUE(q.push(out_frame::text("late")));
  EXPECT_EQ(q.size(), 0U);
  q.written(batch);
  EXPECT_EQ(q.bytes(), 0U);
}

TEST(SendQueue, OneFlushIsPostedUntilAWriteIsTaken) {
  send_queue q(1000);
  channel_gate g(anyone());
  std::vector<out_frame> join;
  ASSERT_TRUE(q.open(g, join));
  EXPECT_TRUE(q.offer(g, 0, frame("1")).flush);
  EXPECT_FALSE(q.offer(g, 0, frame("2")).flush);  // already posted
  std::vector<out_frame> batch;
  ASSERT_EQ(q.take(batch, true), send_queue::take_result::batch);
  EXPECT_FALSE(q.offer(g, 0, frame("3")).flush);  // a write is in flight: its completion writes on
  q.written(batch);
  EXPECT_EQ(drain(q), (std::vector<std::string>{"3"}));
  EXPECT_TRUE(q.offer(g, 0, frame("4")).flush);
}

// detail::flush_scope: within a scope, writes wait for it to end, unless a full write batch is queued.
TEST(SendQueue, AFlushScopeHoldsWritesBackUntilItEnds) {
  send_queue q(1 << 20);
  channel_gate g(anyone());
  std::vector<out_frame> join;
  ASSERT_TRUE(q.open(g, join));
  const auto first = q.offer(g, 7, frame("1"));
  EXPECT_TRUE(first.deferred);  // registers once per scope
  EXPECT_FALSE(first.flush);
  EXPECT_FALSE(q.offer(g, 7, frame("2")).deferred);
  std::vector<out_frame> batch;
  EXPECT_EQ(q.take(batch, true), send_queue::take_result::busy);
  q.end_deferral();
  EXPECT_EQ(drain(q), (std::vector<std::string>{"1", "2"}));
}

TEST(SendQueue, AFullBatchIsWrittenWithoutWaitingForTheScope) {
  send_queue q(1 << 20);
  channel_gate g(anyone());
  std::vector<out_frame> join;
  ASSERT_TRUE(q.open(g, join));
  bool flushed = false;
  for (std::size_t i = 0; i < k_write_batch_frames; ++i) flushed = q.offer(g, 9, frame("x")).flush || flushed;
  EXPECT_TRUE(flushed);
  std::vector<out_frame> batch;
  EXPECT_EQ(q.take(batch, true), send_queue::take_result::batch);
  EXPECT_EQ(batch.size(), k_write_batch_frames);
}

TEST(SendQueue, DeliveriesAreDecidedForTheGatesCurrentPrincipal) {
  send_queue q(1000);
  auto first = anyone();
  auto second = anyone();
  channel_gate g(first);
  const auth::principal* seen = nullptr;
  auto record = [&](const auth::principal& who, frame_set&) { seen = &who; };
  q.offer(g, 0, record);
  EXPECT_EQ(seen, first.get());
  q.set_principal(g, second);
  q.offer(g, 0, record);
  EXPECT_EQ(seen, second.get());
}

// A publisher offers numbered deliveries while the strand opens the join: the reply comes first, then every
// delivery, held or not, exactly once and in order. Run under TSan by the tsan preset.
TEST(SendQueue, AJoinOpenedDuringConcurrentDeliveriesKeepsTheReplyFirstAndMissesNothing) {
  send_queue q(64 << 20);
  channel_gate g(anyone());
  constexpr int k_deliveries = 20000;
  std::atomic<int> offered{0};
  std::thread publisher([&] {
    for (int i = 0; i < k_deliveries; ++i) {
      q.offer(g, 0, frame(std::to_string(i)));
      offered.store(i + 1);
    }
  });
  while (offered.load() < 100) std::this_thread::yield();  // some deliveries are held
  std::vector<out_frame> join{out_frame::text("reply")};
  ASSERT_TRUE(q.open(g, join));
  std::vector<std::string> written;
  while (written.size() < k_deliveries + 1) {
    for (auto& t : drain(q)) written.push_back(std::move(t));
    std::this_thread::yield();
  }
  publisher.join();
  ASSERT_EQ(written.size(), static_cast<std::size_t>(k_deliveries + 1));
  EXPECT_EQ(written[0], "reply");
  for (int i = 0; i < k_deliveries; ++i) ASSERT_EQ(written[static_cast<std::size_t>(i) + 1], std::to_string(i));
  EXPECT_EQ(q.bytes(), 0U);
}

}  // namespace
}  // namespace rtcache::gateway
