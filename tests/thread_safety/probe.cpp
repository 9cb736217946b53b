// Never built into anything: CMakeLists.txt beside it has clang check it under each RTCACHE_PROBE_* define, and
// expects the thread-safety analysis to reject each broken variant with the error it names. This pins that the
// lock rules written with rtcache/sync are seen by clang at all: a macro that expanded to nothing under clang,
// or a mutex or scoped lock that lost its annotations, would let all of them through.
#include "rtcache/sync/annotated_mutex.hpp"

namespace {

class counter {
 public:
  void add() RTCACHE_EXCLUDES(mu_) {
#ifndef RTCACHE_PROBE_UNLOCKED_ACCESS
    rtcache::sync::mutex_lock lock(mu_);
#endif
    ++n_;
  }

  void add_twice() RTCACHE_EXCLUDES(mu_) {
#ifndef RTCACHE_PROBE_REQUIRES_WITHOUT_LOCK
    rtcache::sync::mutex_lock lock(mu_);
#endif
    add_locked();
    add_locked();
#ifdef RTCACHE_PROBE_ACCESS_AFTER_UNLOCK
    lock.unlock();
    ++n_;
#endif
  }

  int read() RTCACHE_EXCLUDES(mu_) {
    rtcache::sync::mutex_lock lock(mu_);
    return n_;
  }

 private:
  void add_locked() RTCACHE_REQUIRES(mu_) { ++n_; }

  rtcache::sync::annotated_mutex mu_;
  int n_ RTCACHE_GUARDED_BY(mu_) = 0;
};

}  // namespace

int main() {
  counter c;
  c.add();
  c.add_twice();
  return c.read() == 3 ? 0 : 1;
}
