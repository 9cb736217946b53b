// The hub: per channel view an epoch, a monotonically increasing offset and a bounded history; a published
// message is encoded once per view and fanned out to every subscriber of that view (docs/design.md §1, §5).
// Network-free: the router publishes into it, the gateway subscribes connections to it.
//
// Views (issue 11, finding 3). A channel holds one view per visibility class: the set of factories whose
// messages the view keeps (core::factory_scope; unscoped = every message). A subscriber joins the view of its
// class; a message tagged with factory F is appended to every existing view of the channel that admits F, an
// untagged message only to the unscoped view. Each view has its own random epoch, contiguous offsets counting
// only the messages it admits, its own bounded history and its own lifetime (created by its first subscriber,
// lingering when idle, freed): so a subscriber's position (epoch, offset, recovered) depends only on messages
// it may see, and a view nobody of its class holds is freed whoever else keeps the channel open. The gateway
// joins scoped subscribers of doc: channels to their class's view and everything else to the unscoped view.
//
// Positions from outside (issue 13, docs/cluster.md (f)). By default the hub draws each view's epoch and counts
// its offsets. A cluster node instead derives every view's position from the shared stream, the same on every
// node, and hands it in: it joins a view at the position it names (subscribe_view_at), publishes each message
// with the position it has in each view it reaches (hub_publish_options::positions, asked per view class: a
// scoped view counts its own factories' messages, the unscoped view all), and names the positions views start
// over at after a gap (reset_at). A message that does not continue a view (another epoch, or an offset that is
// not the next) starts the view over at that message, as a gap would: its subscribers are told
// (hub_subscriber::on_reset) and its history goes, so nothing from before is ever replayed as continuous. A
// message the view already counted is not appended again. Without these options nothing changes.
#pragma once

#include "hub/message.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/factory_scope.hpp"
#include "rtcache/sync/annotated_mutex.hpp"

#include <boost/container/small_vector.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcache::hub {

class hub;
class hub_batch;
namespace detail {
struct hub_channel;  // defined in hub.cpp
}

// Produces the epoch of each newly created view.
// REQUIRES: thread-safe, non-blocking, and never returns a value twice in one process (nor, for resume to be
// sound across restarts, one any earlier process returned for the same channel). A server's epochs must also be
// unguessable: an epoch a subscriber could predict would let it probe other views (random_epochs).
using hub_epoch_source = std::function<std::string()>;

// 128 bits from OpenSSL's CSPRNG (RAND_bytes), as 32 lowercase hex digits, drawn per view: nothing about one
// epoch tells anything about another, across views, channels and restarts. The hub's default. Aborts with a
// message if the CSPRNG fails (an epoch that might repeat or be guessed must never be handed out).
hub_epoch_source random_epochs();

// "<prefix>1", "<prefix>2", ...: deterministic, for tests only. A server must not use it: the epochs count the
// views created since start, which tells every subscriber how many channels others open (issue 11, finding 3).
hub_epoch_source counter_epochs(std::string prefix);

// The hub's only notion of time: when a channel became idle and whether its linger has passed. `main()` passes
// nothing (std::chrono::steady_clock::now); tests pass a manual clock and call hub::sweep() themselves.
// REQUIRES: thread-safe, non-blocking, monotonic.
using hub_clock = std::function<std::chrono::steady_clock::time_point()>;

// What each retained message's place in the retention order counts against hub_config::max_total_history_bytes,
// on top of its hub_message::retained_bytes.
inline constexpr std::size_t k_retention_entry_bytes = 32;

struct hub_config {
  // History bound per channel, by message count and by bytes (hub_message::retained_bytes: frames and
  // attached records). Overflow rule: after each publish the oldest messages are evicted until both bounds
  // hold, so a message larger than max_history_bytes is delivered live but not retained. 0 disables history
  // (only a resume at the current offset recovers).
  std::size_t max_history_messages = 512;
  std::size_t max_history_bytes = 1 << 20;
  // Bound on all histories together (active and idle channels), in the same bytes plus the bookkeeping of
  // retention order (k_retention_entry_bytes per retained message, kept until its turn to be evicted even
  // when its channel dropped it earlier). Overflow rule: after a publish that exceeds it,
  // the messages retained longest ago, whatever their channel, are evicted oldest first until it holds; a
  // resume older than an evicted message gets recovered:false, as past any other bound. Without it, every
  // channel's own bound could be reached at once: 100,000 open documents x 1 MiB.
  std::size_t max_total_history_bytes = std::size_t{256} << 20;
  // Linger (a channel whose last subscriber left stays, idle, with its epoch, offset and history, so that a
  // lone client that reconnects within this time resumes instead of getting recovered:false). Publishes to an
  // idle channel are accepted and appended to its history. An idle channel is freed by hub::sweep() once it
  // has been idle for `linger`, or earlier when the idle histories together exceed `max_idle_bytes` (the
  // channel idle the longest goes first). linger == 0: freed at once when the last subscriber leaves.
  std::chrono::milliseconds linger{120000};
  std::size_t max_idle_bytes = 64u << 20;
  // Bound on the number of idle views, whatever their history holds: an idle view without history still costs
  // its bookkeeping (about 900 bytes), and a client joining and leaving fresh names would otherwise leave one
  // behind per name. Overflow rule: as for max_idle_bytes, the view idle the longest is freed first.
  std::size_t max_idle_channels = 65536;
  // Bound on the scoped views of one channel (the unscoped view is not counted). Overflow rule: a join that needs
  // a new scoped view frees the channel's scoped view idle the longest first; when none is idle, the join is
  // refused (hub::subscribe_view: too_many).
  std::size_t max_views_per_channel = 64;
  // Shards of the channel registry; rounded up to a power of two, at least 1. Only the name -> channel
  // lookup is sharded; each channel has its own lock.
  std::size_t shards = 64;
};

// A point in a channel's stream as a client remembers it: the epoch and the last offset it has seen.
struct hub_position {
  std::string epoch;
  std::uint64_t offset = 0;

  friend bool operator==(const hub_position&, const hub_position&) = default;
};

// Receives the live messages of one subscription.
// Threading: deliver() runs on the publisher's thread while that channel's lock is held, which is what makes
// deliveries of one channel arrive in offset order and makes a join atomic with respect to publishes.
// REQUIRES of deliver(): it does not block (enqueue into a bounded queue and post to a strand; on overflow,
// mark the connection for closing and post that work), and it does not call into the hub, directly or by
// destroying a hub_subscription (that could deadlock; the hub aborts with a message instead). Callers must not
// hold a lock that deliver() takes while calling into the hub: the lock order is hub channel lock ->
// subscriber locks.
class hub_subscriber {
 public:
  virtual ~hub_subscriber() = default;
  virtual void deliver(const hub_message_ptr& message) noexcept = 0;

  // The view this subscription is on started over (hub::reset: a gap in the source it is fed from): it has a
  // new epoch and no history, and what it carried before may have missed changes. Positions the subscriber
  // holds mean nothing any more; every message delivered after this call belongs to the new epoch. Runs on the
  // thread calling hub::reset(), under the channel lock, in order with deliveries, with deliver()'s REQUIRES.
  // A subscriber that hands positions to a client must tell it (the gateway answers
  // phx_error on the channel, so the client rejoins and is answered recovered:false). The default does nothing.
  virtual void on_reset() noexcept {}
};

// Positions from outside (cluster mode): the position a view has once a message is in it, or the position it
// starts over at. Asked per view, for the views that exist (the hub knows which; the caller knows their positions).
// Threading: called on the caller's thread under the view's lock, with deliver()'s REQUIRES (no blocking, no call
// into the hub).
class hub_view_positions {
 public:
  virtual ~hub_view_positions() = default;
  // The position of the view of class `view` of `channel`: for a publish, the message's epoch and offset in that
  // view (a view that admits the message is asked; offset 0 is not a message's); for reset_at, where the view
  // starts over. nullopt: the caller names none for this view, which is then left as it is.
  virtual std::optional<hub_position> position_of(std::string_view channel, const core::factory_scope& view) const = 0;
};

// Owns one subscription: unsubscribes on destruction. Move-only. An empty handle (default-constructed,
// moved-from or already unsubscribed) does nothing.
// REQUIRES: the hub outlives every non-empty handle. Thread-safety: one handle must not be used from two
// threads at once; different handles may.
class hub_subscription {
 public:
  hub_subscription() = default;
  hub_subscription(hub_subscription&& other) noexcept;
  hub_subscription& operator=(hub_subscription&& other) noexcept;
  hub_subscription(const hub_subscription&) = delete;
  hub_subscription& operator=(const hub_subscription&) = delete;
  ~hub_subscription();

  // Stops delivery: when this returns, deliver() is not running for this subscription and will not be
  // called again. Idempotent. If this was the channel's last subscriber, the channel becomes idle and lingers
  // (hub_config::linger); once it is freed, a later channel of the same name starts a new epoch.
  void unsubscribe() noexcept;

  bool active() const noexcept { return channel_ != nullptr; }
  explicit operator bool() const noexcept { return active(); }

 private:
  friend class hub;
  hub_subscription(hub* owner, std::shared_ptr<detail::hub_channel> ch, std::uint64_t id) noexcept
      : hub_(owner), channel_(std::move(ch)), id_(id) {}

  hub* hub_ = nullptr;
  std::shared_ptr<detail::hub_channel> channel_;
  std::uint64_t id_ = 0;
};

// The answer to a join.
struct hub_join {
  hub_subscription subscription;
  // The channel's position at the instant of the join: every message with a greater offset is delivered
  // live through the subscriber; none with a smaller or equal one is.
  hub_position position;
  // True when a resume position was given and the history holds everything after it in the same epoch.
  bool recovered = false;
  // When recovered: exactly the messages with offsets resume.offset + 1 .. position.offset, ascending.
  // Otherwise empty: never a partial replay.
  std::vector<hub_message_ptr> replay;
};

// The answer to a publish.
struct hub_publish_result {
  // The message's offset in the first view that took it (exact when the channel has one view, as every channel
  // but a doc: channel with subscribers of several scopes has), or 0 when no view took it (not encoded).
  std::uint64_t offset = 0;
  std::size_t views = 0;        // views the message was appended to (each encoded once)
  std::size_t subscribers = 0;  // subscribers it was delivered to, over all views

  bool accepted() const noexcept { return views != 0; }
};

// Readable at any time; each field is exact on its own, the set is not one atomic snapshot.
// "Channels" count views (each with its epoch, history and lifetime): a doc: channel with subscribers of two
// scopes counts two.
struct hub_metrics {
  std::uint64_t channels = 0;            // views alive (with subscribers, being joined, or idle)
  std::uint64_t idle_channels = 0;       // views without subscribers kept for their linger (max_idle_channels)
  std::uint64_t idle_history_bytes = 0;  // bytes held in idle views' histories (max_idle_bytes)
  std::uint64_t channels_expired = 0;    // idle views freed by sweep() after their linger
  std::uint64_t channels_evicted = 0;    // idle views freed early (max_idle_bytes, max_idle_channels, view bound)
  std::uint64_t views_refused = 0;       // joins refused by max_views_per_channel
  std::uint64_t views_reset = 0;         // views started over: reset() (a new epoch; idle ones are freed), and
                                         // with positions from outside, reset_at() and not-continuing messages
  std::uint64_t messages_repeated = 0;   // appends skipped: a view had already counted the position named
  std::uint64_t subscribers = 0;         // active subscriptions
  std::uint64_t messages_published = 0;  // messages appended to a view (each encoded once per view)
  std::uint64_t messages_dropped = 0;    // publishes no view took (no channel, no view admitting its factory, or
                                         // with positions from outside, none named or all repeats)
  std::uint64_t deliveries = 0;          // deliver() calls
  std::uint64_t history_messages = 0;    // messages held in all histories
  std::uint64_t history_bytes = 0;       // bytes (hub_message::retained_bytes) held in all histories
  std::uint64_t history_evicted = 0;     // messages evicted by max_total_history_bytes
};

// View lifetime: a view is created by its first subscribe. When its last subscriber leaves it lingers, idle, for
// hub_config::linger (bounded by max_idle_bytes and max_idle_channels over all idle views), then it is freed
// with its history. A publish that no view admits is dropped without encoding (no client can be waiting for it,
// and no client can resume into an epoch that ended). Below, "channel" means a view where only one matters.
//
// Thread-safety: every member function may be called concurrently from any number of threads. Publishes to
// one channel are serialized by that channel's lock (offset assignment, encoding, history append and
// fan-out happen under it, so deliveries follow offset order); unrelated channels share nothing but a
// registry shard held only for a map lookup, plus relaxed metric counters. Subscribe and unsubscribe take
// the same channel lock, so a message is either in a join's replay or delivered live, never both or neither.
class hub {
 public:
  // REQUIRES: encoder is non-empty (see its REQUIRES). `epochs` empty: random_epochs().
  // `clock` empty: std::chrono::steady_clock::now.
  hub(hub_config config, hub_encoder encoder, hub_epoch_source epochs = {}, hub_clock clock = {});
  ~hub();
  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  // Joins `channel` (created if absent) and makes it live for `subscriber` before returning: any publish
  // ordered after the join is delivered, possibly before subscribe() returns, on the publisher's thread.
  // A caller that runs on a connection strand and whose deliver() posts to that strand therefore sees
  // those deliveries only after it has sent the join reply and the replay.
  // With `resume`, recovery succeeds iff resume.epoch equals the channel's epoch and either
  // resume.offset == the current offset, or the history still holds resume.offset + 1 (and thus everything
  // up to the current offset). Without `resume`, recovered is false and the replay empty.
  // This joins the channel's unscoped view (every message); it is never refused.
  // REQUIRES: channel is non-empty, subscriber is non-null, not called from deliver() or the encoder.
  hub_join subscribe(std::string_view channel, std::shared_ptr<hub_subscriber> subscriber,
                     const std::optional<hub_position>& resume = std::nullopt);

  // subscribe() on the view of `channel` whose class is `view`: it holds the messages tagged with a factory
  // `view` contains (all of them when `view` is unscoped), and its epoch, offsets, history and `recovered`
  // count those only. Errors: too_many when the channel has max_views_per_channel scoped views and none of
  // them is idle (hub_config::max_views_per_channel).
  // REQUIRES: as subscribe().
  core::result<hub_join> subscribe_view(std::string_view channel, const core::factory_scope& view,
                                        std::shared_ptr<hub_subscriber> subscriber,
                                        const std::optional<hub_position>& resume = std::nullopt);

  // subscribe_view() at a position named from outside (cluster mode): a view this call creates starts at
  // `origin` (its epoch and offset, no history) instead of a drawn epoch and offset 0; an existing view at another
  // position starts over at `origin` first (as a message that does not continue it would: its subscribers are
  // told, its history goes). `resume` is then judged against the view as for subscribe_view(): recovered iff its
  // epoch is the view's and its offset is the current one or within the history. The caller keeps the view's
  // later messages in step with `origin` (it publishes them with positions, ordered with this call).
  // REQUIRES: as subscribe().
  core::result<hub_join> subscribe_view_at(std::string_view channel, const core::factory_scope& view,
                                           const hub_position& origin, std::shared_ptr<hub_subscriber> subscriber,
                                           const std::optional<hub_position>& resume = std::nullopt);

  // For each view of `channel` that admits the message (options.factory_id: views containing it and the
  // unscoped view; untagged: the unscoped view only): assigns the view's next offset, encodes once, appends to
  // its history (evicting the oldest beyond the bounds) and delivers to its subscribers, in offset order.
  // Dropped (not accepted) when no view admits it. If the encoder throws for a view, the exception propagates;
  // views appended to before it keep the message.
  // `options` adds the message's metadata (hub_message::meta, for subscribers to filter on) and context for the
  // encoder.
  // With options.positions (cluster mode), each admitting view is asked the message's position p in it, and:
  // nullopt or offset 0: the view does not take it; p.epoch is the view's and p.offset <= its offset: counted
  // already (a join at an origin after it, a replay), not appended again (hub_metrics::messages_repeated);
  // p.offset is the next offset in the view's epoch: appended at it; anything else (another epoch, a skipped
  // offset): the view starts over at (p.epoch, p.offset - 1), its history dropped and its subscribers told
  // (hub_subscriber::on_reset, before the message is delivered to them), and then takes the message at p.offset.
  // REQUIRES: not called from deliver() or the encoder.
  hub_publish_result publish(std::string_view channel, std::string_view event, std::string_view payload_json,
                             const hub_publish_options& options = {});
  // Several publishes in a row from one thread: see hub_batch.

  // Starts over every view of every channel whose name `which` selects, because their source lost continuity
  // (a gap: docs/pg-source.md). A view with subscribers gets a new epoch (from the epoch source) and loses its
  // history; offsets go on from where they were. Each of its subscribers is told, under the view's lock, by
  // hub_subscriber::on_reset(), between the last message of the old epoch and the first of the new. An idle
  // view is freed (the next join creates a new one). So a resume from before the reset is never recovered,
  // and a publish ordered after reset() returns is in the new epoch. Views created while it runs are new
  // anyway. Returns how many views it started over (freed idle ones included).
  // REQUIRES: `which` is cheap and does not call into the hub (it runs under a registry shard's lock); not
  // called from deliver(), on_reset() or the encoder.
  std::size_t reset(const std::function<bool(std::string_view channel)>& which);

  // reset() with positions from outside (cluster mode: a gap marker in the stream, or a node that lost messages):
  // every view of a channel `which` selects whose position is not where.position_of(channel, view) starts over
  // there: it takes that epoch and offset, loses its history, and its subscribers are told (on_reset) between the
  // last message of the old position and the first of the new. An idle view starts over in place (nobody to
  // tell). A view `where` names no position for (nullopt), or whose position it names already, is left alone.
  // Returns how many views started over.
  // REQUIRES: as reset(); `where` as hub_view_positions says.
  std::size_t reset_at(const std::function<bool(std::string_view channel)>& which, const hub_view_positions& where);

  // Frees every idle channel whose linger has passed by clock(), oldest first. Returns how many it freed.
  // The gateway calls it from a timer; tests call it after moving their clock.
  // REQUIRES: not called from deliver() or the encoder.
  std::size_t sweep();

  // The position of the channel's view of class `view`, or nullopt if it does not exist (idle views exist).
  std::optional<hub_position> position(std::string_view channel,
                                       const core::factory_scope& view = core::factory_scope::unscoped()) const;

  // Whether a join of the view of class `view` of `channel` with `resume` would be recovered now: the view exists,
  // `resume` is in its epoch, and its offset is the current one or the history still holds resume.offset + 1
  // (subscribe_view()'s rule). Cluster mode asks it before reading what the history lacks back from its source.
  bool resumable(std::string_view channel, const core::factory_scope& view, const hub_position& resume) const;

  // The message publish() would append at `offset` of `channel` (encoded once, with options' metadata, record and
  // attachment bytes), taken by no view and delivered to nobody: cluster mode builds a join's replay with it from
  // messages read back from the stream, at the offsets their view gave them. options.positions and retain are
  // ignored. Throws what the encoder throws. REQUIRES: as publish().
  hub_message_ptr encode(std::string_view channel, std::uint64_t offset, std::string_view event,
                         std::string_view payload_json, const hub_publish_options& options = {}) const;

  hub_metrics metrics() const noexcept;

  const hub_config& config() const noexcept { return config_; }

 private:
  friend class hub_subscription;
  friend class hub_batch;
  using channel = detail::hub_channel;
  struct shard;
  struct counters {
    std::atomic<std::uint64_t> channels{0};
    std::atomic<std::uint64_t> subscribers{0};
    std::atomic<std::uint64_t> messages_published{0};
    std::atomic<std::uint64_t> messages_dropped{0};
    std::atomic<std::uint64_t> deliveries{0};
    std::atomic<std::uint64_t> history_messages{0};
    std::atomic<std::uint64_t> history_bytes{0};
    std::atomic<std::uint64_t> idle_channels{0};
    std::atomic<std::uint64_t> idle_history_bytes{0};
    std::atomic<std::uint64_t> channels_expired{0};
    std::atomic<std::uint64_t> channels_evicted{0};
    std::atomic<std::uint64_t> history_evicted{0};
    std::atomic<std::uint64_t> views_refused{0};
    std::atomic<std::uint64_t> views_reset{0};
    std::atomic<std::uint64_t> messages_repeated{0};
  };
  // A retained message in the order of retention, for max_total_history_bytes. The channel may since have
  // dropped the message under its own bounds, or closed: the entry is then stale and skipped when reached.
  struct retained_entry {
    std::shared_ptr<channel> ch;
    std::uint64_t offset = 0;
    // The view's incarnation when the message was retained (it moves when the view starts over at a position
    // from outside, which may repeat an offset of the old epoch): an entry of an earlier one is stale.
    std::uint32_t incarnation = 0;
  };
  class retention_order;  // hub.cpp: a ring of retained_entry
  struct idle_entry {
    std::shared_ptr<channel> ch;
    std::chrono::steady_clock::time_point since;
  };

  // The views of one channel name. A registry shard maps the name to its group.
  struct view_group;
  using view_list = boost::container::small_vector<std::shared_ptr<channel>, 2>;

  shard& shard_for(std::string_view channel) const noexcept;
  // The group registered under `name` (null if none) and, in `views`, its views at this instant.
  std::shared_ptr<view_group> find(std::string_view name, view_list& views) const;
  // publish() on views looked up earlier: each that admits the message and is still open takes it.
  hub_publish_result publish_views(const view_list& views, std::string_view event, std::string_view payload_json,
                                   const hub_publish_options& options);
  // Appends to one view. Not accepted (offset 0) when the view has been closed since it was looked up.
  hub_publish_result publish_on(const std::shared_ptr<channel>& ch, std::string_view event,
                                std::string_view payload_json, const hub_publish_options& options);
  // subscribe_view() once the view is found or created. `ch` is locked here; returns nullopt when it was closed
  // meanwhile (the caller looks it up again).
  // With `origin` (subscribe_view_at), a view at another position starts over there first.
  std::optional<hub_join> join_view(const std::shared_ptr<channel>& ch, std::uint64_t id,
                                    std::shared_ptr<hub_subscriber>& subscriber,
                                    const std::optional<hub_position>& resume, const hub_position* origin);
  core::result<hub_join> subscribe_impl(std::string_view channel, const core::factory_scope& view,
                                        const hub_position* origin, std::shared_ptr<hub_subscriber> subscriber,
                                        const std::optional<hub_position>& resume);
  void unsubscribe(const std::shared_ptr<channel>& ch, std::uint64_t id) noexcept;
  // A history handed out of a channel so that its messages are destroyed after the channel lock.
  using released_history = std::vector<hub_message_ptr>;
  // The steps that run under a view's lock (retire, leave the idle set, enter the retention order), declared in
  // hub.cpp next to the view's type, where the compiler can check that the lock is held.
  struct view_locked;
  void erase_retired(const std::shared_ptr<channel>& ch) noexcept;
  // Every view of every channel whose name `which` accepts, collected shard by shard (reset and reset_at then
  // work on each under its own lock only). No lock held on entry.
  std::vector<std::shared_ptr<channel>> views_matching(const std::function<bool(std::string_view)>& which) const;
  // Frees the oldest idle views while the idle histories exceed max_idle_bytes or the idle views number more
  // than max_idle_channels. No lock held on entry.
  void enforce_idle_budget() noexcept RTCACHE_EXCLUDES(idle_mu_);
  // Frees the idle channel registered under `seq` if it is still idle under that seq. No lock held on entry.
  bool free_idle(std::uint64_t seq, const std::shared_ptr<channel>& ch) noexcept RTCACHE_EXCLUDES(idle_mu_);
  // Evicts the messages retained longest ago while all histories exceed max_total_history_bytes. No lock
  // held on entry.
  void enforce_history_budget() noexcept RTCACHE_EXCLUDES(retained_mu_);
  bool over_history_budget_locked() const noexcept RTCACHE_REQUIRES(retained_mu_);

  // Constant after construction.
  hub_config config_;
  hub_encoder encoder_;
  hub_epoch_source epochs_;
  std::size_t shard_mask_;
  std::unique_ptr<shard[]> shards_;
  hub_clock clock_;

  std::atomic<std::uint64_t> next_subscription_id_{1};
  // Lock order: a channel's mu may be held while taking idle_mu_, never the reverse.
  sync::annotated_mutex idle_mu_;
  // Idle channels by the sequence number they went idle with (ascending = oldest first).
  std::map<std::uint64_t, idle_entry> idle_ RTCACHE_GUARDED_BY(idle_mu_);
  std::uint64_t next_idle_seq_ RTCACHE_GUARDED_BY(idle_mu_) = 1;
  // Lock order: a channel's mu may be held while taking retained_mu_, never the reverse.
  mutable sync::annotated_mutex retained_mu_;
  std::unique_ptr<retention_order> retained_ RTCACHE_PT_GUARDED_BY(retained_mu_);
  mutable counters counters_;
};

// Publishes a run of messages from one thread exactly as consecutive hub::publish() calls would (same offsets,
// ordering, delivery, drop and exception rules), but remembers the last few channels it found, so a channel
// published to several times in the run (a transaction's list: and per-table record channels) costs one
// registry lookup instead of one per message. Only channels that exist are remembered: a publish to a name
// not found looks it up again next time; a remembered channel whose views changed since (a view created by a
// join during the run, or closed) is looked up again, so a new view gets every later message.
// It holds those channels alive until destroyed: keep one per batch (a transaction, a POST), not longer.
// Thread-safety: one hub_batch is used by one thread; the hub's rules (not from a callback) apply.
class hub_batch {
 public:
  explicit hub_batch(hub& h) noexcept : hub_(h) {}
  hub_batch(const hub_batch&) = delete;
  hub_batch& operator=(const hub_batch&) = delete;

  hub_publish_result publish(std::string_view channel, std::string_view event, std::string_view payload_json,
                             const hub_publish_options& options = {});

 private:
  static constexpr std::size_t k_remembered = 8;
  struct remembered {
    std::string name;
    std::shared_ptr<hub::view_group> group;
    std::uint64_t generation = 0;  // the group's generation when `views` was taken: stale once it moved
    hub::view_list views;
    std::uint64_t used = 0;  // publish count at the last use; the least recently used slot is reused
  };

  hub& hub_;
  remembered slots_[k_remembered];
  std::uint64_t uses_ = 0;
};

}  // namespace rtcache::hub
