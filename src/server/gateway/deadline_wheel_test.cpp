// Unit tests for the deadline wheel: deadlines fire at the first advance at or after them and never before,
// rescheduling and cancelling relink in place, and hooks of later turns, time jumps and past deadlines are
// handled. Time is a value the test moves; nothing sleeps.
#include "gateway/deadline_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace rtcache::gateway {
namespace {

using namespace std::chrono_literals;
using time_point = deadline_wheel::time_point;

struct timed final : deadline_hook {
  int id = 0;
};

const time_point t0 = time_point{} + 1000s;

// Advances to `now` and returns the ids that fired, sorted.
std::vector<int> fire(deadline_wheel& w, time_point now) {
  std::vector<int> ids;
  w.advance(now, [&](deadline_hook& h) { ids.push_back(static_cast<timed&>(h).id); });
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(DeadlineWheel, FiresAtTheFirstAdvanceAtOrAfterTheDeadlineAndNeverBefore) {
  deadline_wheel w(50ms, 8, t0);
  timed a;
  a.id = 1;
  w.schedule(a, t0 + 120ms);
  EXPECT_TRUE(a.linked());
  EXPECT_TRUE(fire(w, t0 + 50ms).empty());
  EXPECT_TRUE(fire(w, t0 + 119ms).empty());
  EXPECT_EQ(fire(w, t0 + 120ms), std::vector<int>{1});
  EXPECT_FALSE(a.linked());
  EXPECT_TRUE(w.empty());
  EXPECT_TRUE(fire(w, t0 + 500ms).empty());  // fires once
}

TEST(DeadlineWheel, DeadlineInsideTheCurrentTickFiresWithoutWaitingForTheTickToEnd) {
  deadline_wheel w(1s, 4, t0);
  timed a;
  a.id = 1;
  w.schedule(a, t0 + 100ms);
  EXPECT_EQ(fire(w, t0 + 100ms), std::vector<int>{1});
}

TEST(DeadlineWheel, HookOfALaterTurnStaysWhenItsSlotIsVisited) {
  deadline_wheel w(10ms, 4, t0);  // one turn is 40 ms
  timed near;
  timed far;
  near.id = 1;
  far.id = 2;
  w.schedule(near, t0 + 15ms);
  w.schedule(far, t0 + 95ms);  // same slot as 15 ms, two turns later
  EXPECT_EQ(fire(w, t0 + 20ms), std::vector<int>{1});
  EXPECT_TRUE(fire(w, t0 + 60ms).empty());
  EXPECT_TRUE(far.linked());
  EXPECT_TRUE(fire(w, t0 + 94ms).empty());
  EXPECT_EQ(fire(w, t0 + 100ms), std::vector<int>{2});
}

TEST(DeadlineWheel, JumpOfManyTurnsFiresEveryPassedDeadlineOnceAndKeepsTheRest) {
  deadline_wheel w(10ms, 4, t0);
  std::vector<timed> hooks(20);
  for (std::size_t i = 0; i < hooks.size(); ++i) {
    hooks[i].id = static_cast<int>(i);
    w.schedule(hooks[i], t0 + std::chrono::milliseconds(7 * i));  // 0, 7, ..., 133 ms
  }
  const auto fired = fire(w, t0 + 70ms);
  EXPECT_EQ(fired, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(w.size(), 9U);
  EXPECT_EQ(fire(w, t0 + 10s).size(), 9U);
  EXPECT_TRUE(w.empty());
}

TEST(DeadlineWheel, RescheduleReplacesTheDeadline) {
  deadline_wheel w(10ms, 16, t0);
  timed a;
  a.id = 1;
  w.schedule(a, t0 + 20ms);
  w.schedule(a, t0 + 200ms);  // pushed back, as a session does when it heard from its client
  EXPECT_EQ(w.size(), 1U);
  EXPECT_EQ(a.deadline(), t0 + 200ms);
  EXPECT_TRUE(fire(w, t0 + 199ms).empty());
  EXPECT_EQ(fire(w, t0 + 200ms), std::vector<int>{1});
  w.schedule(a, t0 + 300ms);
  w.schedule(a, t0 + 250ms);  // brought forward
  EXPECT_EQ(fire(w, t0 + 250ms), std::vector<int>{1});
}

TEST(DeadlineWheel, CancelledHookNeverFiresAndCancelTwiceIsANoOp) {
  deadline_wheel w(10ms, 4, t0);
  timed a;
  timed b;
  timed c;
  a.id = 1;
  b.id = 2;
  c.id = 3;
  w.schedule(a, t0 + 5ms);  // three hooks in one slot: cancel the middle one of its list
  w.schedule(b, t0 + 6ms);
  w.schedule(c, t0 + 7ms);
  w.cancel(b);
  w.cancel(b);
  EXPECT_FALSE(b.linked());
  EXPECT_EQ(w.size(), 2U);
  EXPECT_EQ(fire(w, t0 + 1s), (std::vector<int>{1, 3}));
  w.cancel(a);  // after it fired
  EXPECT_TRUE(w.empty());
}

TEST(DeadlineWheel, DeadlineAlreadyPassedFiresAtTheNextAdvance) {
  deadline_wheel w(10ms, 4, t0);
  EXPECT_TRUE(fire(w, t0 + 1s).empty());  // the wheel has moved on
  timed a;
  a.id = 1;
  w.schedule(a, t0 + 10ms);  // long past
  timed b;
  b.id = 2;
  w.schedule(b, t0 - 1h);  // before the wheel's origin
  EXPECT_EQ(fire(w, t0 + 1s), (std::vector<int>{1, 2}));
}

TEST(DeadlineWheel, TimeStandingStillOrGoingBackFiresNothingMore) {
  deadline_wheel w(10ms, 4, t0);
  timed a;
  a.id = 1;
  w.schedule(a, t0 + 50ms);
  EXPECT_TRUE(fire(w, t0 + 30ms).empty());
  EXPECT_TRUE(fire(w, t0 + 30ms).empty());
  EXPECT_TRUE(fire(w, t0 + 10ms).empty());
  EXPECT_EQ(fire(w, t0 + 50ms), std::vector<int>{1});
}

TEST(DeadlineWheel, DestroyingTheWheelUnlinksItsHooks) {
  timed a;
  {
    deadline_wheel w(10ms, 4, t0);
    w.schedule(a, t0 + 1s);
    ASSERT_TRUE(a.linked());
  }
  EXPECT_FALSE(a.linked());
}

}  // namespace
}  // namespace rtcache::gateway
