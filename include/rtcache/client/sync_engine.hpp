// The client's policy loop, wired once for every transport: events received by the session go through core's
// coalescer (250-500 ms window) -> planner (scope, version guard) -> operations run against the query cache;
// views subscribe only the channels they need (a doc view: doc:<type>:<id> + factory:<f>; a list view:
// list:<type>:<f> + factory:<f>) and unsubscribe when their last observer goes; a new view's first fetch waits
// for its channels to be live, so that no change falls between the data and the stream; a channel rejoined
// without recovery refetches, once, the active queries it shows (list heads only, as every list event does).
// Pure: time comes from an injected clock, the socket is the caller's (it drains take_requests() after every
// call and calls tick() at next_wake()).
#pragma once

#include "rtcache/client/query_cache.hpp"
#include "rtcache/client/session.hpp"
#include "rtcache/core/cache_key.hpp"
#include "rtcache/core/clock.hpp"
#include "rtcache/core/coalescer.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/event.hpp"
#include "rtcache/core/event_codec.hpp"
#include "rtcache/core/factory_scope.hpp"
#include "rtcache/core/planner.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::client {

struct engine_config {
  core::coalescer_config coalesce{};
  session_config session{};
  // How long a new view's first fetch waits for the join replies of its channels. A change committed after
  // the fetch read the data but before the channel was live on the server would reach neither, so the fetch
  // starts once every channel of the view is joined. Past this wait (realtime down or slow) it starts anyway,
  // and the view is fetched once more when its channels join. 0: fetch at once, and again at the joins.
  std::chrono::milliseconds first_fetch_wait{500};
};

// Counters of the pipeline, for tests, the example and benchmarks.
struct engine_stats {
  std::uint64_t events = 0;             // events offered to the coalescer
  std::uint64_t batches = 0;            // non-empty batches planned
  std::uint64_t invalidates = 0;        // invalidate ops run
  std::uint64_t patches = 0;            // patch ops run (no refetch)
  std::uint64_t list_head_refetches = 0;  // refetch_list_head ops run
  std::uint64_t resyncs = 0;            // resync ops run (every doc and list head; no page past a head)
  std::uint64_t drops = 0;              // drop ops (out of scope, stale version, not cached)
  std::uint64_t recovery_refetches = 0;  // queries refetched because a rejoin was not recovered
  std::uint64_t catch_up_refetches = 0;  // views fetched before their channels were live, fetched again
  std::uint64_t problems = 0;           // session problems reported
};

// What the transport must do after a call into the engine.
struct transport_requests {
  std::vector<std::string> send;  // text frames, in order; meaningful only while connected
  bool connect = false;           // open the socket (the engine expects on_open or on_closed later)
  bool disconnect = false;        // drop the socket; the engine already counts it as closed
};

class sync_engine;

// One view's live subscription: keeps its query observed and its channels watched. Move-only; destroying it
// (or reset()) unobserves the query and unwatches the channels it added (a channel shared with another view
// stays). REQUIRES: destroyed on the engine's thread; may outlive the engine (then it only unobserves).
class live_view {
 public:
  live_view() = default;
  live_view(live_view&&) noexcept = default;
  live_view& operator=(live_view&& other) noexcept;
  live_view(const live_view&) = delete;
  live_view& operator=(const live_view&) = delete;
  ~live_view();

  void reset() noexcept;
  const cache_key& key() const noexcept { return observer_.key(); }
  const std::vector<std::string>& channels() const noexcept { return channels_; }
  explicit operator bool() const noexcept { return static_cast<bool>(observer_); }

 private:
  friend class sync_engine;
  struct token;
  std::weak_ptr<token> engine_;
  query_observer observer_;
  std::vector<std::string> channels_;
};

// Thread-safety: not thread-safe; the engine, its cache and every live_view belong to one thread.
class sync_engine {
 public:
  // REQUIRES: `clock` and `cache` outlive the engine. `random01` as for session.
  sync_engine(const core::clock& clock, query_cache& cache, core::doc_type_registry types, core::factory_scope scope,
              engine_config config = {}, std::function<double()> random01 = {});
  ~sync_engine();
  sync_engine(const sync_engine&) = delete;
  sync_engine& operator=(const sync_engine&) = delete;

  // A detail view of ['doc', type, id] in factory `factory_id`. Errors: the channel grammar's.
  core::result<live_view> watch_doc(std::string type, std::string id, std::string factory_id,
                                    query_listener listener = {});
  // A list view of ['list', type, factory_id, {page}]. Errors: the channel grammar's; bad_value for page 0.
  core::result<live_view> watch_list(std::string type, std::string factory_id, std::uint32_t page = 1,
                                     query_listener listener = {});

  // The factories events may come from; others are dropped. On a factory change the app replaces its views.
  void set_scope(core::factory_scope scope) { scope_ = std::move(scope); }
  const core::factory_scope& scope() const noexcept { return scope_; }
  // Sent in later joins and pushed to every joined channel now.
  void set_access_token(std::string token);

  // Transport side.
  void start();
  void stop();
  void on_open();
  void on_closed();
  void on_frame(std::string_view bytes, bool binary);
  void tick();   // runs timers due at clock.now(): session, coalescer window, gc, recovery refetch
  void flush();  // plans the pending batch now (tab visible again, before a route change)
  std::optional<core::time_point> next_wake() const;
  transport_requests take_requests();

  // The pipeline's entry points. offer(): an event as if received on a channel (the session calls it).
  void offer(core::event e);
  // Events from a batch source (a relay, a long-poll): each good item is offered; refused items are returned.
  core::result<std::vector<core::batch_item>> offer_json_batch(std::string_view json);
  // Plans one coalesced batch against the cache and runs the operations; returns the plan.
  core::plan process_batch(const core::batch& b);

  // Called after each batch is planned and run (tests, metrics, the example).
  void set_batch_listener(std::function<void(const core::batch&, const core::plan&)> l) { on_batch_ = std::move(l); }
  void set_problem_listener(std::function<void(const session_problem&)> l) { on_problem_ = std::move(l); }
  // Called when a live_view's destruction left requests (leaves) to drain outside a transport call.
  void set_request_listener(std::function<void()> l) { on_requests_ = std::move(l); }

  const engine_stats& stats() const noexcept { return stats_; }
  const session& realtime() const noexcept { return session_; }
  const query_cache& cache() const noexcept { return cache_; }
  std::optional<core::time_point> coalesce_deadline() const noexcept { return coalescer_.deadline(); }
  std::size_t pending_events() const noexcept { return coalescer_.pending(); }
  std::chrono::milliseconds window() const noexcept { return coalescer_.window(); }

 private:
  friend class live_view;
  core::result<live_view> watch(cache_key key, std::vector<std::string> channels, query_listener listener);
  void unwatch(const cache_key& key, const std::vector<std::string>& channels);
  void absorb(session_output& out);
  void apply(const core::operation& op);
  void run_recovery();
  bool live(const std::vector<std::string>& channels) const;
  // A view of `key` still waits for its channels: its first fetch comes after the joins and reads whatever an
  // operation on it now would refetch, so the operation is left to that fetch.
  bool first_fetch_pending(const cache_key& key) const;
  // Some channel waits for a join reply: a recovery waits for them all, so each query is refetched once.
  bool rejoins_pending() const;
  // Views waiting for their channels: fetched when all are joined, or at the deadline (then again at the joins).
  void release_waiting(core::time_point now);

  const core::clock& clock_;
  query_cache& cache_;
  core::doc_type_registry types_;
  core::factory_scope scope_;
  session session_;
  core::coalescer coalescer_;
  core::event_decoder batch_decoder_;
  std::shared_ptr<live_view::token> token_;
  transport_requests requests_;
  std::set<cache_key> recovery_;  // queries owed one refetch after non-recovered rejoins
  struct waiting_view {
    std::vector<std::string> channels;
    core::time_point deadline;
    std::uint64_t fetches = 0;  // the query's fetch count when the view opened: any fetch since predates the joins
    bool early = false;         // fresh data or a fetch under way when the view opened: predates the joins too
    bool waited = false;        // the deadline passed (the view was fetched without waiting longer)
    std::size_t views = 0;
  };
  std::map<cache_key, waiting_view> waiting_;  // bounded by the live views
  std::chrono::milliseconds first_fetch_wait_;
  engine_stats stats_;
  std::function<void(const core::batch&, const core::plan&)> on_batch_;
  std::function<void(const session_problem&)> on_problem_;
  std::function<void()> on_requests_;
};

}  // namespace rtcache::client
