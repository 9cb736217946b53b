// A std::mutex that clang's thread-safety analysis knows is a lock, and the scoped lock that holds it.
// libstdc++'s std::mutex and std::lock_guard carry no annotations, so the analysis cannot see what they lock;
// code whose lock rules are written down (thread_annotations.hpp) uses these instead. Same cost as std::mutex
// and std::unique_lock: every member is an inline call of the standard one.
#pragma once

#include "rtcache/sync/thread_annotations.hpp"

#include <mutex>

namespace rtcache::sync {

class RTCACHE_CAPABILITY("mutex") annotated_mutex {
 public:
  annotated_mutex() = default;
  annotated_mutex(const annotated_mutex&) = delete;
  annotated_mutex& operator=(const annotated_mutex&) = delete;

  void lock() RTCACHE_ACQUIRE() { m_.lock(); }
  void unlock() RTCACHE_RELEASE() { m_.unlock(); }

 private:
  std::mutex m_;
};

// Holds `m` from construction until unlock() or destruction, whichever comes first (as std::unique_lock, without
// deferred locking or relocking).
class RTCACHE_SCOPED_CAPABILITY mutex_lock {
 public:
  explicit mutex_lock(annotated_mutex& m) RTCACHE_ACQUIRE(m) : m_(&m) { m.lock(); }
  ~mutex_lock() RTCACHE_RELEASE() {
    if (m_ != nullptr) m_->unlock();
  }
  mutex_lock(const mutex_lock&) = delete;
  mutex_lock& operator=(const mutex_lock&) = delete;

  // Releases the lock before the end of the scope. REQUIRES: not released yet.
  void unlock() RTCACHE_RELEASE() {
    m_->unlock();
    m_ = nullptr;
  }

 private:
  annotated_mutex* m_;
};

}  // namespace rtcache::sync
