// The planner: an event and what the cache holds -> the exact cache operations (docs/design.md §6).
// Pure: no cache is touched here; the SDKs run the operations against their query cache.
#pragma once

#include "rtcache/core/cache_key.hpp"
#include "rtcache/core/coalescer.hpp"
#include "rtcache/core/event.hpp"
#include "rtcache/core/factory_scope.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcache::core {

// What the cache holds for one document.
struct cached_doc_state {
  std::optional<std::int64_t> version;  // the cached doc's version, if it has one
  bool fetching = false;                // a fetch is in flight: its result may predate the event
  bool has_data = true;                 // false: a first fetch is in flight and no data arrived yet
};

// The planner's read-only view of a query cache.
class cache_view {
 public:
  virtual ~cache_view() = default;
  // nullopt when the cache holds no query for ['doc', type, id]; a query whose first fetch is still in
  // flight is {has_data = false, fetching = true}, so an event during a first load is not lost.
  virtual std::optional<cached_doc_state> doc(std::string_view type, std::string_view id) const = 0;
};

// A cache_view over a plain map, for tests, vectors and benchmarks.
class cache_snapshot final : public cache_view {
 public:
  void put(std::string type, std::string id, cached_doc_state state);
  std::optional<cached_doc_state> doc(std::string_view type, std::string_view id) const override;

 private:
  // Orders (type, id) pairs of strings and of string_views alike, so lookups need no allocation.
  struct doc_less {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      return std::pair<std::string_view, std::string_view>(a.first, a.second) <
             std::pair<std::string_view, std::string_view>(b.first, b.second);
    }
  };
  std::map<std::pair<std::string, std::string>, cached_doc_state, doc_less> docs_;
};

enum class op_kind {
  invalidate,         // mark the doc stale and refetch it if active
  patch,              // set the listed columns (and version) on the cached doc, no refetch
  refetch_list_head,  // refetch page 1 of the list (infinite lists: trim to page 1 first), active only
  resync,             // refetch every active query: the fine-grained trail was lost
  drop,               // nothing to do, for `reason`
};

enum class drop_reason {
  out_of_scope,   // event.factoryId is not in the current scope
  stale_version,  // event.version < cached version
  not_cached,     // an update for a doc the cache does not hold: nothing to refresh
};

std::string_view to_string(op_kind k) noexcept;
std::string_view to_string(drop_reason r) noexcept;

struct operation {
  op_kind kind{};
  std::optional<cache_key> key;         // invalidate, patch, refetch_list_head
  std::vector<patch_entry> set;         // patch only
  std::optional<std::int64_t> version;  // patch only: the version to record
  bool after_fetch = false;             // invalidate only: a fetch is in flight; refetch once it settles
  std::optional<drop_reason> reason;    // drop only

  friend bool operator==(const operation&, const operation&) = default;
};

struct plan {
  std::vector<operation> ops;
};

// Whether a patch of an event at `incoming` applies on a doc cached at `cached` with no change in between:
// true when the event has no version (no version column: no guard), otherwise only when the cached doc has
// a version and `incoming` is exactly one more (an equal version or an unknown cached version is false).
bool is_next_version(std::optional<std::int64_t> incoming, std::optional<std::int64_t> cached) noexcept;

// Rules, in order:
//  1. factoryId outside `scope` -> drop(out_of_scope).
//  2. summary (id "*") -> refetch_list_head(type, factoryId).
//  3. create -> refetch_list_head. delete -> refetch_list_head, and invalidate the doc if cached
//     (after_fetch when a fetch is in flight).
//  4. update/approve/reject on a doc the cache neither holds nor is fetching -> drop(not_cached).
//  5. version older than the cached one -> drop(stale_version).
//  6. fetch in flight -> invalidate with after_fetch (an event during a fetch is never lost).
//  7. patch covers every changed key and the event is the cached doc's next version (is_next_version)
//     -> patch; otherwise invalidate that doc only. A patch is a delta from the version before it: applied
//     over a gap it would label the doc with a version whose skipped changes it lacks, and the skipped
//     event, arriving later, would be dropped as stale.
plan plan_event(const event& e, const factory_scope& scope, const cache_view& cache);

// Plans a coalesced batch: a resync batch yields one resync op; otherwise each event's plan, in order,
// each judged against the cache as earlier ops of the batch leave it (a patch records its version). An
// event merged from several versions (batch::first_versions) patches only when they form a contiguous run
// starting at the cached version + 1.
// A refetch is planned once per batch: a later refetch_list_head of the same list head, or invalidate of
// the same doc with the same after_fetch, is left out (each would cancel the request in flight and resend it).
plan plan_batch(const batch& b, const factory_scope& scope, const cache_view& cache);

}  // namespace rtcache::core
