// Coalescing: bursts of events become one batch per window. De-duplicates by (type, id, action) keeping
// the highest version, so ten updates of one doc in 200 ms cost one handler call, not ten.
#pragma once

#include "rtcache/core/clock.hpp"
#include "rtcache/core/event.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace rtcache::core {

inline constexpr std::chrono::milliseconds k_min_window{250};
inline constexpr std::chrono::milliseconds k_max_window{500};
inline constexpr std::chrono::milliseconds k_default_window{300};

struct coalescer_config {
  std::chrono::milliseconds window = k_default_window;  // clamped to [250 ms, 500 ms]
  std::size_t max_pending = 1024;                        // distinct (type, id, action) keys per batch; >= 1
};

// What one flush hands to the planner.
struct batch {
  // Events in order of first arrival of their document; for one document, ascending version.
  std::vector<event> events;
  // The pending bound was hit. Overflow rule: the batch gives up on fine-grained events and asks for a
  // resync (refetch every active view); `events` is then empty and later events of the same window
  // are absorbed by the resync. Nothing is silently lost.
  bool resync = false;
  std::uint64_t absorbed = 0;  // events merged into an earlier one or absorbed by a resync
  // Parallel to `events` (empty: each event stands for its own version only): the lowest version merged
  // into events[i] when the versions merged into it are exactly first_versions[i]..events[i].version, each
  // once; nullopt when they are not (a gap, a repeat, an event without a version). Lets the planner patch
  // a merged run onto the version just before it (planner.hpp, is_next_version).
  std::vector<std::optional<std::int64_t>> first_versions;

  bool empty() const noexcept { return events.empty() && !resync; }
};

// The window opens with the first event of a batch and is never extended by later ones, so no burst can
// postpone a flush beyond one window. Merging two events of one key keeps the higher version's scalar
// fields, unions changedKeys and merges patch (newer values win), so a patch never drops an earlier change;
// if either lacks changedKeys the merge lacks them too (clients then invalidate).
// Thread-safety: not thread-safe; owned by one event loop.
class coalescer {
 public:
  explicit coalescer(coalescer_config config = {});

  std::chrono::milliseconds window() const noexcept { return window_; }

  // Adds an event arriving at `now`.
  void offer(event e, time_point now);

  // When the open batch is due; nullopt when nothing is pending.
  std::optional<time_point> deadline() const noexcept { return deadline_; }

  // The batch if its window has elapsed at `now`, else an empty batch.
  batch take_due(time_point now);

  // Flushes now regardless of the window (tab visible again, before a route change).
  batch flush();

  std::size_t pending() const noexcept { return entries_.size(); }

 private:
  struct entry {
    event ev;
    std::uint64_t doc_order;  // arrival rank of the document (type, id)
    // Every version merged into ev, distinct, at most k_max_tracked_versions; nullopt: not a contiguous run.
    std::optional<std::vector<std::int64_t>> versions;
  };
  static constexpr std::size_t k_max_tracked_versions = 64;  // a longer run is planned as a gap
  // Index keys: "type\0id" for a document, plus "\0<action>" for an entry. Lookups are O(1) so a batch
  // near max_pending costs linear, not quadratic, time.
  static void doc_key(const event& e, std::string& out);
  static void entry_key(const event& e, std::string& out);

  std::chrono::milliseconds window_;
  std::size_t max_pending_;
  std::vector<entry> entries_;
  std::unordered_map<std::string, std::size_t> entry_index_;   // entry_key -> entries_ slot
  std::unordered_map<std::string, std::uint64_t> doc_ranks_;   // doc_key -> arrival rank
  std::string key_scratch_;
  std::optional<time_point> deadline_;
  bool resync_ = false;
  std::uint64_t absorbed_ = 0;
  std::uint64_t next_doc_rank_ = 0;
};

}  // namespace rtcache::core
