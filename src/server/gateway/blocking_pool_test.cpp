#include "gateway/blocking_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

namespace rtcache::gateway {
namespace {

// A gate the pool's calls wait at until the test opens it.
class gate {
 public:
  void wait() {
    std::unique_lock lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void wait_for_waiters(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return waiting_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0;
};

TEST(BlockingPool, RunsACallOffTheCallersThread) {
  blocking_pool pool(1, 4);
  std::promise<std::thread::id> ran;
  ASSERT_TRUE(pool.try_run([&] { ran.set_value(std::this_thread::get_id()); }));
  EXPECT_NE(ran.get_future().get(), std::this_thread::get_id());
}

TEST(BlockingPool, RefusesBeyondItsBoundOfAdmittedCallsAndAdmitsAgainOnceOneFinished) {
  blocking_pool pool(1, 2);
  gate g;
  std::atomic<int> done{0};
  ASSERT_TRUE(pool.try_run([&] {
    g.wait();
    ++done;
  }));
  ASSERT_TRUE(pool.try_run([&] { ++done; }));  // admitted: waits for the only thread
  g.wait_for_waiters(1);
  EXPECT_EQ(pool.admitted(), 2U);
  bool ran = false;
  EXPECT_EQ(pool.refused(), 0U);
  EXPECT_FALSE(pool.try_run([&] { ran = true; }));  // the bound: refused, never run
  EXPECT_EQ(pool.refused(), 1U);
  g.open();
  while (pool.admitted() != 0) std::this_thread::yield();
  EXPECT_EQ(done.load(), 2);
  EXPECT_FALSE(ran);
  std::promise<void> again;
  ASSERT_TRUE(pool.try_run([&] { again.set_value(); }));
  again.get_future().get();
}

TEST(BlockingPool, StopWaitsForTheRunningCallAndDropsTheOnesNotStarted) {
  auto pool = std::make_unique<blocking_pool>(1, 4);
  gate g;
  std::atomic<bool> finished{false};
  auto held = std::make_shared<int>(7);  // what a call not started holds
  ASSERT_TRUE(pool->try_run([&] {
    g.wait();
    finished = true;
  }));
  bool second_ran = false;
  ASSERT_TRUE(pool->try_run([&second_ran, held] { second_ran = true; }));
  g.wait_for_waiters(1);
  std::thread stopper([&] { pool->stop(); });
  while (!pool->stopping()) std::this_thread::yield();
  EXPECT_GE(held.use_count(), 2);  // still held by the call not started
  g.open();
  stopper.join();
  EXPECT_TRUE(finished.load());  // stop() returned only once the running call did
  EXPECT_FALSE(second_ran);
  EXPECT_EQ(held.use_count(), 1);      // the call not started was destroyed by stop()
  EXPECT_FALSE(pool->try_run([] {}));  // a stopped pool admits nothing
  EXPECT_EQ(pool->refused(), 0U);      // and is not counted as refused at the bound
  pool->stop();                        // idempotent
}

}  // namespace
}  // namespace rtcache::gateway
