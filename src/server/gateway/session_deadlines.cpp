// The gateway's deadline driver (session_deadlines.hpp).
#include "session_deadlines.hpp"

#include <boost/asio/dispatch.hpp>

#include <algorithm>

namespace rtcache::gateway::detail {

namespace asio = boost::asio;

namespace {
// 1,024 slots of 50 ms turn in 51 s: a 60 s idle timeout waits one extra visit; the wheel costs 8 KiB.
constexpr std::size_t k_slots = 1024;
}  // namespace

session_deadlines::session_deadlines(asio::io_context& ioc, std::chrono::milliseconds tick)
    : strand_(asio::make_strand(ioc)),
      timer_(strand_),
      tick_(std::max(tick, std::chrono::milliseconds(1))),
      wheel_(tick_, k_slots, std::chrono::steady_clock::now()) {}

void session_deadlines::schedule(deadline_client& c, time_point at) {
  bool start = false;
  {
    sync::mutex_lock lock(mu_);
    wheel_.schedule(c, at);
    start = !std::exchange(armed_, true);
  }
  if (start) asio::dispatch(strand_, [self = shared_from_this()] { self->arm(); });
}

void session_deadlines::cancel(deadline_client& c) noexcept {
  sync::mutex_lock lock(mu_);
  wheel_.cancel(c);
}

std::size_t session_deadlines::size() const {
  sync::mutex_lock lock(mu_);
  return wheel_.size();
}

void session_deadlines::arm() {
  timer_.expires_after(tick_);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) { self->on_tick(ec); });
}

void session_deadlines::on_tick(const boost::system::error_code& ec) {
  if (ec) {
    sync::mutex_lock lock(mu_);
    armed_ = false;
    return;
  }
  bool again = false;
  {
    sync::mutex_lock lock(mu_);
    wheel_.advance(std::chrono::steady_clock::now(), [this](deadline_hook& h) {
      auto& c = static_cast<deadline_client&>(h);
      if (auto keep = c.keep_alive()) due_.emplace_back(&c, std::move(keep));
    });
    again = !wheel_.empty();
    armed_ = again;
  }
  for (auto& [c, keep] : due_) c->on_deadline();
  due_.clear();
  if (due_.capacity() > 1024) std::vector<std::pair<deadline_client*, std::shared_ptr<void>>>().swap(due_);
  if (again) arm();
}

}  // namespace rtcache::gateway::detail
