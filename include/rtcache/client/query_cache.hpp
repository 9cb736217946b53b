// The C++ SDK's query cache, in TanStack query-core's shape: a store keyed by core::cache_key, a per-key state
// machine driven by a fixed set of actions, observers whose count decides whether a query is active, and
// small pure decisions (is_stale). It decides when to fetch, when data is stale and when an entry is
// collected; it never does I/O itself: fetchers are supplied by the user and complete through a callback.
#pragma once

#include "rtcache/core/cache_key.hpp"
#include "rtcache/core/clock.hpp"
#include "rtcache/core/event.hpp"
#include "rtcache/core/planner.hpp"

#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::client {

using core::cache_key;

enum class query_status { pending, success, error };  // has data / last fetch failed / neither yet
enum class fetch_status { idle, fetching };

std::string_view to_string(query_status s) noexcept;
std::string_view to_string(fetch_status s) noexcept;

// What a fetcher delivers: the data, or why it failed. `version` is the document's version (the version
// guard compares events against it); absent means no guard.
struct fetch_result {
  std::optional<boost::json::value> data;  // set on success
  std::optional<std::int64_t> version;
  std::string error;  // set on failure

  static fetch_result success(boost::json::value data, std::optional<std::int64_t> version = std::nullopt);
  // A success whose version is read from data[field] when it is an integer (e.g. "version").
  static fetch_result success_versioned(boost::json::value data, std::string_view field = "version");
  static fetch_result failure(std::string message);
  bool ok() const noexcept { return data.has_value(); }
};

// Completes one fetch. Call it exactly once, on the cache's thread, now or later; later calls and calls
// after the cache is gone are ignored. Copyable so it fits std::function-based async APIs.
using fetch_callback = std::function<void(fetch_result)>;

// Starts fetching `key` and eventually calls `done`. It may call `done` before returning.
using fetcher = std::function<void(const cache_key& key, fetch_callback done)>;

// The observable state of one query (TanStack's QueryState).
struct query_state {
  query_status status = query_status::pending;
  fetch_status fetch = fetch_status::idle;
  std::shared_ptr<const boost::json::value> data;  // null until the first success; shared, never mutated
  std::optional<std::int64_t> data_version;
  std::optional<core::time_point> data_updated_at;
  std::string error;            // the last fetch failure; cleared by a success
  bool invalidated = false;     // stale regardless of stale_time until the next success
  bool refetch_after_fetch = false;  // an invalidate landed during a fetch: fetch again once it settles
  std::uint64_t fetches = 0;    // fetches started for this key (tests and benchmarks count refetches)
  std::size_t observers = 0;
};

struct query_cache_config {
  std::chrono::milliseconds stale_time{0};        // data older than this is stale (TanStack default 0)
  std::chrono::milliseconds gc_time{5 * 60 * 1000};  // unobserved entries are removed this long after
  std::size_t max_entries = 10000;                // bound: beyond it, the oldest inactive entries go first
};

// True when `s` should be refetched at `now`: no data, invalidated, or older than stale_time.
bool is_stale(const query_state& s, core::time_point now, std::chrono::milliseconds stale_time) noexcept;

class query_cache;

// Keeps one query active while it lives; its listener runs after every change of the query's state.
// Move-only; destroying or reset() removes the observer (the query then becomes inactive if it was the last).
// REQUIRES: destroyed on the cache's thread; may outlive the cache (then it does nothing).
class query_observer {
 public:
  query_observer() = default;
  query_observer(query_observer&& other) noexcept;
  query_observer& operator=(query_observer&& other) noexcept;
  query_observer(const query_observer&) = delete;
  query_observer& operator=(const query_observer&) = delete;
  ~query_observer();

  void reset() noexcept;
  explicit operator bool() const noexcept { return id_ != 0; }
  const cache_key& key() const noexcept { return key_; }

 private:
  friend class query_cache;
  struct shared;
  query_observer(std::weak_ptr<shared> cache, cache_key key, std::uint64_t id)
      : cache_(std::move(cache)), key_(std::move(key)), id_(id) {}
  std::weak_ptr<shared> cache_;
  cache_key key_;
  std::uint64_t id_ = 0;
};

using query_listener = std::function<void(const cache_key& key, const query_state& state)>;

// The store. Also the planner's read-only view of it (core::cache_view) for ['doc', type, id] keys.
//
// Lifecycle of a key: created by observe(), set_query_data() or fetch(); active while it has observers;
// when the last observer leaves, collected gc_time later unless observed again. A fetch in flight is never
// duplicated: a second request joins it, and an invalidate during it sets refetch_after_fetch so the
// result (which may predate the change) is followed by one more fetch (TanStack/query#8530).
//
// Thread-safety: not thread-safe. Every call, every fetch completion and every observer destruction must
// happen on one thread (with realtime_client: the thread running its io_context). Listeners run after the
// state change, never while the cache iterates its own structures, and may call back into the cache.
class query_cache final : public core::cache_view {
 public:
  // REQUIRES: `clock` outlives the cache; `fetch` is non-empty.
  query_cache(const core::clock& clock, fetcher fetch, query_cache_config config = {});
  ~query_cache() override;
  query_cache(const query_cache&) = delete;
  query_cache& operator=(const query_cache&) = delete;

  // Adds an observer; fetches if the query is stale (mount) unless `fetch_if_stale` is false (the caller
  // fetches later, e.g. once the realtime channels feeding the query are live). The listener may be empty.
  query_observer observe(const cache_key& key, query_listener listener = {}, bool fetch_if_stale = true);

  // Whether the query needs a fetch now (absent, no data, invalidated or older than stale_time).
  bool stale(const cache_key& key) const;

  // Fetches now unless a fetch is in flight (then joins it). Creates the entry if absent.
  void fetch(const cache_key& key);

  // Marks the query stale; fetches if active (after the current fetch if one is in flight).
  // Returns false when the cache holds no such key.
  bool invalidate(const cache_key& key);

  // Refetches if active (after the current fetch if one is in flight); marks stale if inactive.
  // Returns true when a fetch was started or scheduled.
  bool refetch_if_active(const cache_key& key);

  // Invalidates every query `which` selects (every query when empty) and refetches the active ones, after the
  // current fetch where one is in flight. Returns fetches started or scheduled.
  std::size_t refetch_all_active(const std::function<bool(const cache_key&)>& which = {});

  // Replaces the data (TanStack setQueryData): status success, fresh, not invalidated.
  void set_query_data(const cache_key& key, boost::json::value data, std::optional<std::int64_t> version = std::nullopt);

  // Sets the listed columns (canonical JSON values) on the cached object and records `version` if given (also
  // in the object's "version" member when it has one). Returns false (and changes nothing) when there is no
  // data or the data is not a JSON object.
  bool patch(const cache_key& key, const std::vector<core::patch_entry>& set, std::optional<std::int64_t> version);

  // Removes inactive entries whose gc deadline is at or before `now`. Returns how many were removed.
  std::size_t collect_garbage(core::time_point now);
  // The earliest gc deadline of an inactive entry, for the owner's timer.
  std::optional<core::time_point> next_gc_deadline() const;

  // nullptr when absent. The pointer is valid until the next call into the cache.
  const query_state* state(const cache_key& key) const;
  // The data, or null.
  std::shared_ptr<const boost::json::value> data(const cache_key& key) const;
  bool contains(const cache_key& key) const { return state(key) != nullptr; }
  bool is_active(const cache_key& key) const;
  std::size_t size() const noexcept;
  // Keys currently observed, in key order.
  std::vector<cache_key> active_keys() const;

  // core::cache_view: the planner's view of ['doc', type, id].
  std::optional<core::cached_doc_state> doc(std::string_view type, std::string_view id) const override;

  const query_cache_config& config() const noexcept { return config_; }

 private:
  friend class query_observer;
  struct entry;
  using entry_map = std::map<cache_key, entry>;

  entry& ensure(const cache_key& key);
  void start_fetch(const cache_key& key, entry& e);
  void complete(const cache_key& key, std::uint64_t generation, fetch_result r);
  void remove_observer(const cache_key& key, std::uint64_t id) noexcept;
  void mark_changed(const cache_key& key);
  void notify();
  void enforce_bound();

  const core::clock& clock_;
  fetcher fetch_;
  query_cache_config config_;
  std::shared_ptr<query_observer::shared> shared_;  // observers and callbacks reach the cache through it
  std::unique_ptr<entry_map> entries_;
  std::vector<cache_key> changed_;  // keys whose listeners are owed a notification
  bool notifying_ = false;
  std::uint64_t next_id_ = 1;
};

}  // namespace rtcache::client
