// Threads for the calls a serving node makes that may wait on the network (a cluster node's exact resume by range
// fetch, its relay ingest waiting for JetStream's acknowledgement), so that the gateway's io threads never wait on
// them: one client's wait would stall every other connection of its io thread, and a reconnect storm after a node
// died (every client of the dead node resuming here at once) would stall the whole node.
//
// Bounded: at most `max_admitted` calls are admitted and not yet finished; beyond that try_run() refuses, and the
// caller answers the client "busy" (a join is refused as not ready, and its client retries).
#pragma once

#include "rtcache/sync/annotated_mutex.hpp"

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

namespace rtcache::gateway {

// Thread-safety: try_run() and admitted() from any thread; stop() from any thread but the pool's own.
class blocking_pool {
 public:
  // REQUIRES: threads >= 1, max_admitted >= 1.
  blocking_pool(std::size_t threads, std::size_t max_admitted);
  ~blocking_pool();  // stop()
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  // Runs `work` on one of the pool's threads, in the order admitted as threads come free. False, and `work` is
  // dropped unrun, when max_admitted calls are admitted and unfinished or the pool is stopping.
  bool try_run(std::function<void()> work);

  // Calls admitted and not yet finished (waiting for a thread, or running).
  std::size_t admitted() const noexcept { return admitted_.load(std::memory_order_acquire); }

  // Calls try_run() refused because max_admitted calls were admitted and unfinished (not those refused by stop()).
  std::uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }

  // stop() began: nothing more is admitted, and no call not yet started will run.
  bool stopping() const;

  // Refuses new calls, waits for the running ones to return, and destroys the ones not started unrun (what they
  // hold is released on the calling thread). Idempotent.
  void stop();

 private:
  const std::size_t max_admitted_;
  std::atomic<std::size_t> admitted_{0};
  std::atomic<std::uint64_t> refused_{0};
  // Admitting a call and stopping exclude each other, so that nothing is posted to the threads once stop() began.
  mutable sync::annotated_mutex mu_;
  bool stopping_ RTCACHE_GUARDED_BY(mu_) = false;
  // Reset by stop(), which destroys the calls it never started.
  std::optional<boost::asio::thread_pool> threads_;
};

}  // namespace rtcache::gateway
