#include "gateway/blocking_pool.hpp"

#include <boost/asio/post.hpp>

#include <cassert>
#include <memory>
#include <utility>

namespace rtcache::gateway {

blocking_pool::blocking_pool(std::size_t threads, std::size_t max_admitted) : max_admitted_(max_admitted) {
  assert(threads >= 1 && max_admitted >= 1);
  threads_.emplace(threads);
}

blocking_pool::~blocking_pool() {
  stop();
}

bool blocking_pool::try_run(std::function<void()> work) {
  sync::mutex_lock lock(mu_);
  if (stopping_) return false;
  if (admitted_.load(std::memory_order_relaxed) >= max_admitted_) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  admitted_.fetch_add(1, std::memory_order_acq_rel);
  boost::asio::post(*threads_, [this, work = std::move(work)] {
    work();
    admitted_.fetch_sub(1, std::memory_order_acq_rel);
  });
  return true;
}

bool blocking_pool::stopping() const {
  sync::mutex_lock lock(mu_);
  return stopping_;
}

void blocking_pool::stop() {
  {
    sync::mutex_lock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    threads_->stop();  // each thread returns once its running call did; what was not started is never run
  }
  threads_->join();
  threads_.reset();  // destroys the calls not started, releasing what they hold
}

}  // namespace rtcache::gateway
