// Internal to the gateway: the one timer that drives every WebSocket session's deadlines (idle timeout,
// token expiry, close timeout). Sessions link a hook into a shared deadline wheel (deadline_wheel.hpp)
// instead of keeping steady_timers and their pending waits; the wheel is advanced every
// gateway_limits::deadline_tick while it holds hooks, and a due session is handed a strong reference and
// told on the driver's strand, from where it posts to its own strand.
#pragma once

#include "gateway/deadline_wheel.hpp"
#include "rtcache/sync/annotated_mutex.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <memory>
#include <utility>
#include <vector>

namespace rtcache::gateway::detail {

// What a session embeds to be driven by session_deadlines.
class deadline_client : public deadline_hook {
 public:
  // Under the driver's lock, once the deadline passed: a strong reference that keeps the client alive until
  // on_deadline() returns, or null when the client is being destroyed (then nothing is called). Must not
  // block or call the driver.
  virtual std::shared_ptr<void> keep_alive() noexcept = 0;
  // On the driver's strand, without its lock: the deadline passed. May be called once more after a
  // reschedule or cancel that raced with the wheel, so the client re-checks its own times.
  virtual void on_deadline() noexcept = 0;

 protected:
  ~deadline_client() = default;
};

// Thread-safety: schedule() and cancel() from any thread. Owned by a shared_ptr (the timer's handler keeps
// it alive); the timer is pending only while a hook is linked, so an empty gateway leaves no work behind.
class session_deadlines : public std::enable_shared_from_this<session_deadlines> {
 public:
  using time_point = deadline_wheel::time_point;

  // REQUIRES: tick > 0.
  session_deadlines(boost::asio::io_context& ioc, std::chrono::milliseconds tick);

  // Links `c` to be told at `at` (replacing an earlier deadline) and starts the timer if it is idle.
  void schedule(deadline_client& c, time_point at);
  // Unlinks `c`. After it returns, on_deadline() is only called if keep_alive() already returned a reference.
  // REQUIRES: called before `c` is destroyed.
  void cancel(deadline_client& c) noexcept;

  // Linked hooks (tests, metrics).
  std::size_t size() const;

 private:
  void arm();  // driver strand
  void on_tick(const boost::system::error_code& ec);

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  // Driver strand only.
  boost::asio::steady_timer timer_;
  std::vector<std::pair<deadline_client*, std::shared_ptr<void>>> due_;

  // The wheel's tick, constant: arm() reads it here, without the lock the wheel is guarded by.
  const deadline_wheel::duration tick_;
  mutable sync::annotated_mutex mu_;
  deadline_wheel wheel_ RTCACHE_GUARDED_BY(mu_);
  bool armed_ RTCACHE_GUARDED_BY(mu_) = false;  // a timer wait is pending or about to be
};

}  // namespace rtcache::gateway::detail
