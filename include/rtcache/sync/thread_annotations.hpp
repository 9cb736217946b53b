// Clang's thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html) under rtcache names.
// A lock rule is written where the data is declared (RTCACHE_GUARDED_BY(mu_)) and where a function relies on
// it (RTCACHE_REQUIRES(mu_)), and clang checks every access and call against it with -Wthread-safety (the `tsa`
// preset, docs/contributing.md). Other compilers see nothing: every macro expands to nothing.
#pragma once

#if defined(__clang__)
#define RTCACHE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define RTCACHE_THREAD_ANNOTATION(x)
#endif

// A type that is a lock (sync::annotated_mutex).
#define RTCACHE_CAPABILITY(name) RTCACHE_THREAD_ANNOTATION(capability(name))
// An RAII type that holds a lock for its lifetime (sync::mutex_lock).
#define RTCACHE_SCOPED_CAPABILITY RTCACHE_THREAD_ANNOTATION(scoped_lockable)
// A member read or written only with the lock held.
#define RTCACHE_GUARDED_BY(x) RTCACHE_THREAD_ANNOTATION(guarded_by(x))
// A pointer (or smart pointer) whose pointee is read or written only with the lock held.
#define RTCACHE_PT_GUARDED_BY(x) RTCACHE_THREAD_ANNOTATION(pt_guarded_by(x))
// A function called with the lock held (and which returns with it still held).
#define RTCACHE_REQUIRES(...) RTCACHE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
// A function called without the lock held (it takes the lock itself, or must not run under it).
#define RTCACHE_EXCLUDES(...) RTCACHE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// A function that takes the lock and returns holding it, or releases it.
#define RTCACHE_ACQUIRE(...) RTCACHE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RTCACHE_RELEASE(...) RTCACHE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
// Opts one function out of the analysis, where it cannot follow the locking (say why next to each use).
#define RTCACHE_NO_THREAD_SAFETY_ANALYSIS RTCACHE_THREAD_ANNOTATION(no_thread_safety_analysis)
