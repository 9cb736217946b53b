// The API's in-memory request log: one entry per document request (list, detail, writes), so the browser
// tests can count refetches ("how many first-page list reads after a create"). Bounded: beyond k_capacity the
// oldest entries are dropped and counted. Demo and test instrumentation only.
#pragma once

#include "routes.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

namespace rtcache::demo {

struct request_entry {
  std::uint64_t seq = 0;  // 1, 2, ... since start (not reset by clear)
  route_kind kind{};
  std::string type;        // doc type
  std::int64_t id = 0;     // 0 when the route has none
  std::string factory;     // list only
  std::int64_t page = 0;   // list only
  int status = 0;          // HTTP status answered
  std::int64_t at_ms = 0;  // wall clock, milliseconds since the epoch (informational)
};

// Thread-safety: none; owned by the API's single io thread.
class request_log {
 public:
  static constexpr std::size_t k_capacity = 20000;

  void record(request_entry e);
  // Drops every entry (the sequence keeps counting, so a test can tell resets apart).
  void clear();

  std::size_t size() const noexcept { return entries_.size(); }
  std::uint64_t dropped() const noexcept { return dropped_; }
  const std::deque<request_entry>& entries() const noexcept { return entries_; }

  // {"entries":[{"seq":1,"kind":"list","type":"wo","factory":"f1","page":1,"status":200,"at":...},...],
  //  "dropped":0} — id only when nonzero, factory and page only for lists.
  std::string to_json() const;

 private:
  std::deque<request_entry> entries_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t dropped_ = 0;
};

}  // namespace rtcache::demo
