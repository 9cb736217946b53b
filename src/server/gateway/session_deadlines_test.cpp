// Tests of the gateway's deadline driver on a real io_context: a due client is told once, a cancelled one
// never, one being destroyed is skipped, and the driver's timer stops when no deadline is linked (so an idle
// gateway leaves the io_context with nothing to run). Nothing asserts on elapsed time: io_context::run()
// returning is the signal.
#include "session_deadlines.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

namespace rtcache::gateway::detail {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// A client that counts its deadlines; `alive` == false plays a client whose destructor has started.
class counting_client final : public deadline_client {
 public:
  std::shared_ptr<void> keep_alive() noexcept override {
    return alive ? std::shared_ptr<void>(std::make_shared<int>(0)) : nullptr;
  }
  void on_deadline() noexcept override { ++told; }

  bool alive = true;
  int told = 0;
};

TEST(SessionDeadlines, DueClientIsToldOnceAndTheTimerStopsWhenNothingIsLinked) {
  boost::asio::io_context ioc;
  auto d = std::make_shared<session_deadlines>(ioc, 5ms);
  counting_client a;
  counting_client b;
  d->schedule(a, clock_type::now() + 20ms);
  d->schedule(b, clock_type::now());
  EXPECT_EQ(d->size(), 2U);
  ioc.run();  // returns only once both fired and the driver stopped re-arming
  EXPECT_EQ(a.told, 1);
  EXPECT_EQ(b.told, 1);
  EXPECT_FALSE(a.linked());
  EXPECT_EQ(d->size(), 0U);
}

TEST(SessionDeadlines, CancelledClientIsNeverTold) {
  boost::asio::io_context ioc;
  auto d = std::make_shared<session_deadlines>(ioc, 5ms);
  counting_client a;
  d->schedule(a, clock_type::now() + 1h);
  d->cancel(a);
  ioc.run();  // the driver sees an empty wheel at its first tick and stops
  EXPECT_EQ(a.told, 0);
  d->cancel(a);  // a second cancel is harmless
}

TEST(SessionDeadlines, ClientBeingDestroyedIsSkipped) {
  boost::asio::io_context ioc;
  auto d = std::make_shared<session_deadlines>(ioc, 5ms);
  counting_client a;
  a.alive = false;
  d->schedule(a, clock_type::now());
  ioc.run();
  EXPECT_EQ(a.told, 0);
  EXPECT_FALSE(a.linked());
}

TEST(SessionDeadlines, RescheduleAfterTheTimerStoppedStartsItAgain) {
  boost::asio::io_context ioc;
  auto d = std::make_shared<session_deadlines>(ioc, 5ms);
  counting_client a;
  d->schedule(a, clock_type::now());
  ioc.run();
  ASSERT_EQ(a.told, 1);
  d->schedule(a, clock_type::now() + 10ms);
  ioc.restart();
  ioc.run();
  EXPECT_EQ(a.told, 2);
}

TEST(SessionDeadlines, RescheduledLaterIsNotToldAtTheEarlierDeadline) {
  boost::asio::io_context ioc;
  auto d = std::make_shared<session_deadlines>(ioc, 5ms);
  counting_client early;
  counting_client moved;
  d->schedule(moved, clock_type::now());
  d->schedule(moved, clock_type::now() + 1h);  // pushed back before the driver ran
  d->schedule(early, clock_type::now());
  while (early.told == 0) ioc.run_one();
  EXPECT_EQ(moved.told, 0);
  EXPECT_TRUE(moved.linked());
  d->cancel(moved);
  ioc.run();
}

}  // namespace
}  // namespace rtcache::gateway::detail
