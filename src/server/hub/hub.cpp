// The hub's registry, views and fan-out. Locking: a registry shard's mutex guards only its name -> view group
// map and the groups' view lists; a view's mutex (detail::hub_channel::mu) guards its position, history and
// subscriber list, and is held across encoding and fan-out so that one view's deliveries follow offset order.
// The two are never held at the same time.
#include "hub/hub.hpp"

#include <boost/container/small_vector.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <openssl/rand.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

namespace rtcache::hub {

namespace detail {

// A FIFO over a power-of-two slot array, empty (no allocation) until the first push, then doubled as needed
// from 4 slots. Channel histories use it: a std::deque cost ~580 bytes at its first push, which each of many
// small channels (one doc: channel per document) paid, plus a block allocation and free every 32 messages of
// a full channel; the ring allocates only when it grows. So does the hub's retention order.
template <class T>
class ring {
 public:
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  // REQUIRES: i < size(). 0 is the oldest.
  const T& operator[](std::size_t i) const noexcept { return slots_[(head_ + i) & (slots_.size() - 1)]; }
  // REQUIRES for front, back and take_front: !empty().
  const T& front() const noexcept { return (*this)[0]; }
  const T& back() const noexcept { return (*this)[size_ - 1]; }
  T take_front() noexcept {
    T m = std::move(slots_[head_]);
    head_ = (head_ + 1) & (slots_.size() - 1);
    --size_;
    return m;
  }
  // Throws only bad_alloc, and then changes nothing.
  void push_back(T m) {
    if (size_ == slots_.size()) grow();
    slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(m);
    ++size_;
  }
  // Hands every element (and the slot array) over to `into`, destroyed by the caller outside any lock;
  // empty after. REQUIRES: `into` is empty.
  void move_into(std::vector<T>& into) noexcept {
    into.swap(slots_);
    head_ = 0;
    size_ = 0;
  }

 private:
  void grow() {
    std::vector<T> bigger(std::max<std::size_t>(4, slots_.size() * 2));
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
    slots_.swap(bigger);
    head_ = 0;
  }

  std::vector<T> slots_;  // size 0 or a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// One view of a channel (hub.hpp): its class, epoch, offsets, history and subscribers.
struct hub_channel {
  hub_channel(std::string channel_name, core::factory_scope view_class, hub_position start)
      : name(std::move(channel_name)),
        view(std::move(view_class)),
        epoch(std::move(start.epoch)),
        offset(start.offset) {}

  struct entry {
    std::uint64_t id;
    std::shared_ptr<hub_subscriber> subscriber;
  };

  // Constant after construction.
  const std::string name;
  const core::factory_scope view;  // which messages this view holds: view.contains(message factory)

  sync::annotated_mutex mu;
  // Replaced by hub::reset (a gap in the source: offsets go on, the history is emptied), and with positions from
  // outside when the view starts over (view_locked::start_over: epoch and offset as named).
  std::string epoch RTCACHE_GUARDED_BY(mu);
  // Written only under mu; read under mu, or with acquire by a registry lookup deciding whether to replace
  // this channel. A closed channel is never reopened.
  std::atomic<bool> closed{false};
  std::uint64_t offset RTCACHE_GUARDED_BY(mu) = 0;
  // Moves each time the view starts over (view_locked::start_over): retention-order entries of an earlier
  // incarnation are stale even where a new epoch repeats their offset.
  std::uint32_t incarnation RTCACHE_GUARDED_BY(mu) = 0;
  // Contiguous offsets; when non-empty, back()->offset == offset.
  ring<hub_message_ptr> history RTCACHE_GUARDED_BY(mu);
  std::size_t history_bytes RTCACHE_GUARDED_BY(mu) = 0;
  // Non-zero while idle (no subscribers, lingering): its key in hub::idle_. Written under mu; read without it
  // only as a hint (choosing a view to evict under a registry lock), which free_idle() checks under mu.
  std::atomic<std::uint64_t> idle_seq{0};
  // Fan-out order is unspecified. Most channels have one subscriber (a document a client has open), held
  // inline: a publish reads it without chasing another pointer.
  boost::container::small_vector<entry, 1> subscribers RTCACHE_GUARDED_BY(mu);
  // Subscription id -> index in subscribers.
  std::unordered_map<std::uint64_t, std::size_t> position RTCACHE_GUARDED_BY(mu);
};

}  // namespace detail

class hub::retention_order : public detail::ring<retained_entry> {
  static_assert(sizeof(retained_entry) <= k_retention_entry_bytes);
};

namespace {

// Depth of hub callbacks (deliver(), the encoder) running on this thread. A hub call made from inside one
// would take a channel lock while holding one: a self-deadlock or a lock-order inversion.
thread_local int t_callback_depth = 0;

struct callback_scope {
  callback_scope() noexcept { ++t_callback_depth; }
  ~callback_scope() { --t_callback_depth; }
  callback_scope(const callback_scope&) = delete;
  callback_scope& operator=(const callback_scope&) = delete;
};

void require_not_in_callback(const char* what, std::string_view channel) noexcept {
  if (t_callback_depth == 0) return;
  std::fprintf(stderr,
               "rtcache hub: %s(\"%.*s\") called from a subscriber's deliver() or the encoder; "
               "hub callbacks must not call into the hub (callback depth %d)\n",
               what, static_cast<int>(channel.size()), channel.data(), t_callback_depth);
  std::abort();
}

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

bool same_class(const core::factory_scope& a, const core::factory_scope& b) noexcept {
  return a.is_unscoped() == b.is_unscoped() && a.factory_ids() == b.factory_ids();
}

// Whether a view of class `view` holds a message tagged `factory` (empty: untagged, the unscoped view only).
bool admits(const core::factory_scope& view, std::string_view factory) noexcept {
  return view.is_unscoped() || (!factory.empty() && view.contains(factory));
}

}  // namespace

// The views of one channel name, in creation order. `views` is guarded by the owning shard's mu. `generation`
// moves (release, under that mu) whenever `views` changes and when the group leaves the registry, so a
// hub_batch that read it (acquire) and finds it unchanged knows its copy of `views` is complete.
struct hub::view_group {
  std::atomic<std::uint64_t> generation{0};
  view_list views;
};

struct hub::shard {
  sync::annotated_mutex mu;
  // Open addressing, looked up by string_view: a std::unordered_map with this hash (which
  // libstdc++ deems fast, so it caches no hash codes) rehashed every key it walked past, and with 100,000
  // channels the lookup was 7% of the WAL path (docs/benchmarks-wal.md).
  boost::unordered_flat_map<std::string, std::shared_ptr<view_group>, string_hash, std::equal_to<>> channels
      RTCACHE_GUARDED_BY(mu);
};

// hub.hpp's view_locked: what runs under a view's lock and touches hub-wide state besides the view.
struct hub::view_locked {
  // `freed` empty. Closes the channel and hands its history to `freed` (counters updated); the caller then
  // erases its registry entry with erase_retired() after releasing ch.mu.
  static void retire(hub& h, channel& ch, released_history& freed) noexcept RTCACHE_REQUIRES(ch.mu)
      RTCACHE_EXCLUDES(h.idle_mu_);
  // Takes the channel out of the idle set (it has a subscriber again, or is retired).
  static void leave_idle(hub& h, channel& ch) noexcept RTCACHE_REQUIRES(ch.mu) RTCACHE_EXCLUDES(h.idle_mu_);
  // Records a message of `bytes` about to be appended to ch's history in the retention order: under ch's lock,
  // so that the order follows each channel's offsets. Returns whether all histories may now exceed
  // max_total_history_bytes (never false when they do, as far as this thread's publishes go): the caller then
  // runs enforce_history_budget() once the lock is released. Throws only bad_alloc, and then records nothing.
  static bool retain(hub& h, const std::shared_ptr<channel>& ch, std::uint64_t offset, std::size_t bytes)
      RTCACHE_REQUIRES(ch->mu) RTCACHE_EXCLUDES(h.retained_mu_);
  // The view starts over at `at` (a gap, or positions from outside that it does not continue): its subscribers
  // are told (on_reset), its history goes to `freed` (counters updated, idle bytes included), it takes `at` and a
  // new incarnation. Its subscribers stay: what is delivered after belongs to the new position. The caller counts
  // hub_metrics::views_reset.
  static void start_over(hub& h, channel& ch, hub_position at, released_history& freed) noexcept
      RTCACHE_REQUIRES(ch.mu);
};

hub_epoch_source random_epochs() {
  return [] {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
      std::fprintf(stderr, "rtcache hub: RAND_bytes failed; refusing to hand out a guessable epoch\n");
      std::abort();
    }
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string out(2 * sizeof bytes, '0');
    for (std::size_t i = 0; i < sizeof bytes; ++i) {
      out[2 * i] = k_hex[bytes[i] >> 4];
      out[2 * i + 1] = k_hex[bytes[i] & 0xf];
    }
    return out;
  };
}

hub_epoch_source counter_epochs(std::string prefix) {
  auto next = std::make_shared<std::atomic<std::uint64_t>>(0);
  return [prefix = std::move(prefix), next] {
    return prefix + std::to_string(next->fetch_add(1, std::memory_order_relaxed) + 1);
  };
}

// ---- hub_subscription ----

hub_subscription::hub_subscription(hub_subscription&& other) noexcept
    : hub_(std::exchange(other.hub_, nullptr)), channel_(std::move(other.channel_)), id_(std::exchange(other.id_, 0)) {}

hub_subscription& hub_subscription::operator=(hub_subscription&& other) noexcept {
  if (this != &other) {
    unsubscribe();
    hub_ = std::exchange(other.hub_, nullptr);
    channel_ = std::move(other.channel_);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

hub_subscription::~hub_subscription() {
  unsubscribe();
}

void hub_subscription::unsubscribe() noexcept {
  if (!channel_) return;
  auto ch = std::move(channel_);
  channel_.reset();
  hub_->unsubscribe(ch, id_);
  hub_ = nullptr;
  id_ = 0;
}

// ---- hub ----

hub::hub(hub_config config, hub_encoder encoder, hub_epoch_source epochs, hub_clock clock)
    : config_(config),
      encoder_(std::move(encoder)),
      epochs_(epochs ? std::move(epochs) : random_epochs()),
      shard_mask_(std::bit_ceil(std::max<std::size_t>(config.shards, 1)) - 1),
      shards_(std::make_unique<shard[]>(shard_mask_ + 1)),
      clock_(clock ? std::move(clock) : hub_clock([] { return std::chrono::steady_clock::now(); })),
      retained_(std::make_unique<retention_order>()) {
  assert(encoder_ && "hub needs an encoder");
  assert(epochs_ && "hub needs an epoch source");
  config_.shards = shard_mask_ + 1;
}

hub::~hub() {
  const auto live = counters_.subscribers.load(std::memory_order_relaxed);
  if (live != 0) {
    // A handle that outlives its hub would unsubscribe through a dangling pointer later.
    std::fprintf(stderr, "rtcache hub: destroyed with %llu live subscriptions; handles must not outlive the hub\n",
                 static_cast<unsigned long long>(live));
    assert(live == 0);
  }
}

hub::shard& hub::shard_for(std::string_view name) const noexcept {
  return shards_[string_hash{}(name)&shard_mask_];
}

std::shared_ptr<hub::view_group> hub::find(std::string_view name, view_list& views) const {
  shard& s = shard_for(name);
  sync::mutex_lock lock(s.mu);
  auto it = s.channels.find(name);
  if (it == s.channels.end()) return nullptr;
  views.assign(it->second->views.begin(), it->second->views.end());
  return it->second;
}

hub_join hub::subscribe(std::string_view name, std::shared_ptr<hub_subscriber> subscriber,
                        const std::optional<hub_position>& resume) {
  // The unscoped view is never refused: only scoped views count against max_views_per_channel.
  return subscribe_view(name, core::factory_scope::unscoped(), std::move(subscriber), resume).value();
}

core::result<hub_join> hub::subscribe_view(std::string_view name, const core::factory_scope& view,
                                           std::shared_ptr<hub_subscriber> subscriber,
                                           const std::optional<hub_position>& resume) {
  return subscribe_impl(name, view, nullptr, std::move(subscriber), resume);
}

core::result<hub_join> hub::subscribe_view_at(std::string_view name, const core::factory_scope& view,
                                              const hub_position& origin, std::shared_ptr<hub_subscriber> subscriber,
                                              const std::optional<hub_position>& resume) {
  return subscribe_impl(name, view, &origin, std::move(subscriber), resume);
}

core::result<hub_join> hub::subscribe_impl(std::string_view name, const core::factory_scope& view,
                                           const hub_position* origin, std::shared_ptr<hub_subscriber> subscriber,
                                           const std::optional<hub_position>& resume) {
  require_not_in_callback("subscribe", name);
  // A new view starts at the origin named from outside, or at a drawn epoch and offset 0.
  const auto start = [&] { return origin != nullptr ? *origin : hub_position{epochs_(), 0}; };
  assert(!name.empty() && "channel name must not be empty");
  assert(subscriber && "subscriber must not be null");
  const std::uint64_t id = next_subscription_id_.fetch_add(1, std::memory_order_relaxed);

  for (;;) {
    std::shared_ptr<channel> ch;
    std::shared_ptr<channel> evict;  // an idle scoped view of this channel to free first (view bound)
    std::uint64_t evict_seq = 0;
    {
      shard& s = shard_for(name);
      sync::mutex_lock lock(s.mu);
      auto it = s.channels.find(name);
      if (it == s.channels.end()) it = s.channels.emplace(std::string(name), std::make_shared<view_group>()).first;
      view_group& g = *it->second;
      std::size_t scoped_open = 0;
      for (auto& v : g.views) {
        const bool closed = v->closed.load(std::memory_order_acquire);
        if (same_class(v->view, view)) {
          if (closed) {
            // Its last subscriber left and it is about to be erased: a new epoch starts now.
            v = std::make_shared<channel>(std::string(name), view, start());
            g.generation.fetch_add(1, std::memory_order_release);
            counters_.channels.fetch_add(1, std::memory_order_relaxed);
          }
          ch = v;
          break;
        }
        if (closed || v->view.is_unscoped()) continue;
        ++scoped_open;
        const std::uint64_t seq = v->idle_seq.load(std::memory_order_relaxed);
        if (seq != 0 && (evict_seq == 0 || seq < evict_seq)) {
          evict_seq = seq;
          evict = v;
        }
      }
      if (!ch) {
        if (!view.is_unscoped() && scoped_open >= config_.max_views_per_channel) {
          if (!evict) {
            counters_.views_refused.fetch_add(1, std::memory_order_relaxed);
            if (g.views.empty()) s.channels.erase(it);  // max_views_per_channel 0: no group is left behind
            return core::error{core::errc::too_many, "channel '" + std::string(name) + "' has " +
                                                         std::to_string(scoped_open) +
                                                         " scoped views with subscribers (max_views_per_channel)"};
          }
        } else {
          evict.reset();
          ch = std::make_shared<channel>(std::string(name), view, start());
          g.views.push_back(ch);
          g.generation.fetch_add(1, std::memory_order_release);
          counters_.channels.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
    if (!ch) {
      // Overflow rule of max_views_per_channel: the channel's scoped view idle the longest goes first.
      if (free_idle(evict_seq, evict)) counters_.channels_evicted.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (auto join = join_view(ch, id, subscriber, resume, origin)) return std::move(*join);
    // Closed between the lookup and the lock: the next lookup sees it closed and replaces it.
  }
}

std::optional<hub_join> hub::join_view(const std::shared_ptr<channel>& ch, std::uint64_t id,
                                       std::shared_ptr<hub_subscriber>& subscriber,
                                       const std::optional<hub_position>& resume, const hub_position* origin) {
  released_history reset_freed;  // what a start-over drops, destroyed after the lock
  sync::mutex_lock lock(ch->mu);
  if (ch->closed.load(std::memory_order_relaxed)) return std::nullopt;
  if (origin != nullptr && (ch->epoch != origin->epoch || ch->offset != origin->offset)) {
    // Positions from outside say the view stands elsewhere: what it holds is not continuous with that.
    view_locked::start_over(*this, *ch, *origin, reset_freed);
    counters_.views_reset.fetch_add(1, std::memory_order_relaxed);
  }
  view_locked::leave_idle(*this, *ch);  // a lingering view is live again, epoch and history intact

  hub_join join;
  join.position = hub_position{ch->epoch, ch->offset};
  if (resume && resume->epoch == ch->epoch && resume->offset <= ch->offset) {
    if (resume->offset == ch->offset) {
      join.recovered = true;
    } else if (!ch->history.empty() && ch->history.front()->offset <= resume->offset + 1) {
      assert(ch->history.back()->offset == ch->offset);
      const std::size_t first = static_cast<std::size_t>(resume->offset + 1 - ch->history.front()->offset);
      join.replay.reserve(ch->history.size() - first);
      for (std::size_t i = first; i < ch->history.size(); ++i) join.replay.push_back(ch->history[i]);
      join.recovered = true;
    }
  }
  try {
    ch->subscribers.push_back({id, std::move(subscriber)});
    try {
      ch->position.emplace(id, ch->subscribers.size() - 1);
    } catch (...) {
      ch->subscribers.pop_back();
      throw;
    }
  } catch (...) {
    // Out of memory. A view without subscribers must not stay open: close it as the last leave would
    // (its registry entry is replaced by the next subscribe of the name).
    if (ch->subscribers.empty()) {
      released_history freed;
      view_locked::retire(*this, *ch, freed);
      lock.unlock();
      erase_retired(ch);
    }
    throw;
  }
  counters_.subscribers.fetch_add(1, std::memory_order_relaxed);
  join.subscription = hub_subscription(this, ch, id);
  return join;
}

void hub::unsubscribe(const std::shared_ptr<channel>& ch, std::uint64_t id) noexcept {
  require_not_in_callback("unsubscribe", ch->name);
  // Released after the channel lock, so that no subscriber or message destructor runs under it.
  std::shared_ptr<hub_subscriber> released;
  released_history freed_history;
  bool retired = false;
  bool went_idle = false;
  {
    sync::mutex_lock lock(ch->mu);
    auto it = ch->position.find(id);
    if (it == ch->position.end()) return;  // already unsubscribed
    const std::size_t index = it->second;
    ch->position.erase(it);
    released = std::move(ch->subscribers[index].subscriber);
    if (index + 1 != ch->subscribers.size()) {
      ch->subscribers[index] = std::move(ch->subscribers.back());
      ch->position.find(ch->subscribers[index].id)->second = index;
    }
    ch->subscribers.pop_back();
    counters_.subscribers.fetch_sub(1, std::memory_order_relaxed);

    if (ch->subscribers.empty()) {
      if (config_.linger.count() > 0) {
        sync::mutex_lock idle_lock(idle_mu_);
        const std::uint64_t seq = next_idle_seq_++;
        idle_.emplace(seq, idle_entry{ch, clock_()});
        ch->idle_seq.store(seq, std::memory_order_relaxed);
        counters_.idle_channels.fetch_add(1, std::memory_order_relaxed);
        counters_.idle_history_bytes.fetch_add(ch->history_bytes, std::memory_order_relaxed);
        went_idle = true;
      } else {
        view_locked::retire(*this, *ch, freed_history);
        retired = true;
      }
    }
  }
  if (retired) erase_retired(ch);
  if (went_idle) enforce_idle_budget();
}

void hub::view_locked::leave_idle(hub& h, channel& ch) noexcept {
  const std::uint64_t seq = ch.idle_seq.load(std::memory_order_relaxed);
  if (seq == 0) return;
  {
    sync::mutex_lock idle_lock(h.idle_mu_);
    h.idle_.erase(seq);
  }
  ch.idle_seq.store(0, std::memory_order_relaxed);
  h.counters_.idle_channels.fetch_sub(1, std::memory_order_relaxed);
  h.counters_.idle_history_bytes.fetch_sub(ch.history_bytes, std::memory_order_relaxed);
}

void hub::view_locked::retire(hub& h, channel& ch, released_history& freed) noexcept {
  leave_idle(h, ch);
  ch.closed.store(true, std::memory_order_release);
  h.counters_.history_messages.fetch_sub(ch.history.size(), std::memory_order_relaxed);
  h.counters_.history_bytes.fetch_sub(ch.history_bytes, std::memory_order_relaxed);
  h.counters_.channels.fetch_sub(1, std::memory_order_relaxed);
  ch.history.move_into(freed);
  ch.history_bytes = 0;
}

void hub::view_locked::start_over(hub& h, channel& ch, hub_position at, released_history& freed) noexcept {
  {
    callback_scope scope;
    for (const auto& e : ch.subscribers) e.subscriber->on_reset();
  }
  h.counters_.history_messages.fetch_sub(ch.history.size(), std::memory_order_relaxed);
  h.counters_.history_bytes.fetch_sub(ch.history_bytes, std::memory_order_relaxed);
  if (ch.idle_seq.load(std::memory_order_relaxed) != 0) {
    h.counters_.idle_history_bytes.fetch_sub(ch.history_bytes, std::memory_order_relaxed);
  }
  // Entries of these messages in the retention order become stale: skipped when reached.
  if (freed.empty()) {
    ch.history.move_into(freed);
  } else {
    while (!ch.history.empty()) ch.history.take_front();  // destroyed here, under the lock: rare (two resets)
  }
  ch.history_bytes = 0;
  ch.epoch = std::move(at.epoch);
  ch.offset = at.offset;
  ++ch.incarnation;
}

void hub::erase_retired(const std::shared_ptr<channel>& ch) noexcept {
  shard& s = shard_for(ch->name);
  sync::mutex_lock lock(s.mu);
  auto it = s.channels.find(std::string_view(ch->name));
  if (it == s.channels.end()) return;
  view_group& g = *it->second;
  // A subscribe may already have replaced the view with its class's next epoch.
  const auto v = std::find(g.views.begin(), g.views.end(), ch);
  if (v == g.views.end()) return;
  g.views.erase(v);
  g.generation.fetch_add(1, std::memory_order_release);
  if (g.views.empty()) s.channels.erase(it);
}

bool hub::free_idle(std::uint64_t seq, const std::shared_ptr<channel>& ch) noexcept {
  released_history freed;
  {
    sync::mutex_lock lock(ch->mu);
    // A subscribe may have taken it out of the idle set since it was picked (it then has a new seq or none).
    if (ch->idle_seq.load(std::memory_order_relaxed) != seq || ch->closed.load(std::memory_order_relaxed)) return false;
    view_locked::retire(*this, *ch, freed);
  }
  erase_retired(ch);
  return true;
}

void hub::enforce_idle_budget() noexcept {
  while (counters_.idle_history_bytes.load(std::memory_order_relaxed) > config_.max_idle_bytes ||
         counters_.idle_channels.load(std::memory_order_relaxed) > config_.max_idle_channels) {
    std::uint64_t seq = 0;
    std::shared_ptr<channel> ch;
    {
      sync::mutex_lock idle_lock(idle_mu_);
      if (idle_.empty()) return;
      seq = idle_.begin()->first;
      ch = idle_.begin()->second.ch;
    }
    if (free_idle(seq, ch)) counters_.channels_evicted.fetch_add(1, std::memory_order_relaxed);
  }
}

std::vector<std::shared_ptr<hub::channel>> hub::views_matching(
    const std::function<bool(std::string_view)>& which) const {
  std::vector<std::shared_ptr<channel>> views;
  for (std::size_t i = 0; i <= shard_mask_; ++i) {
    shard& s = shards_[i];
    sync::mutex_lock lock(s.mu);
    for (const auto& [name, group] : s.channels) {
      if (!which(name)) continue;
      views.insert(views.end(), group->views.begin(), group->views.end());
    }
  }
  return views;
}

std::size_t hub::reset(const std::function<bool(std::string_view)>& which) {
  require_not_in_callback("reset", "*");
  const auto targets = views_matching(which);
  std::size_t done = 0;
  for (const auto& ch : targets) {
    released_history freed;  // destroyed after the channel lock
    bool retired = false;
    {
      sync::mutex_lock lock(ch->mu);
      if (ch->closed.load(std::memory_order_relaxed)) continue;
      if (ch->subscribers.empty()) {
        // Idle: nobody to tell; freeing it makes the next join start a new epoch.
        view_locked::retire(*this, *ch, freed);
        retired = true;
      } else {
        // Offsets go on: a client's old offset can never meet the new epoch's history.
        view_locked::start_over(*this, *ch, hub_position{epochs_(), ch->offset}, freed);
      }
    }
    if (retired) erase_retired(ch);
    ++done;
  }
  counters_.views_reset.fetch_add(done, std::memory_order_relaxed);
  return done;
}

std::size_t hub::reset_at(const std::function<bool(std::string_view)>& which, const hub_view_positions& where) {
  require_not_in_callback("reset_at", "*");
  const auto targets = views_matching(which);
  std::size_t done = 0;
  for (const auto& ch : targets) {
    released_history freed;  // destroyed after the channel lock
    sync::mutex_lock lock(ch->mu);
    if (ch->closed.load(std::memory_order_relaxed)) continue;
    std::optional<hub_position> at;
    {
      callback_scope scope;
      at = where.position_of(ch->name, ch->view);
    }
    if (!at || (at->epoch == ch->epoch && at->offset == ch->offset)) continue;
    view_locked::start_over(*this, *ch, std::move(*at), freed);
    ++done;
  }
  counters_.views_reset.fetch_add(done, std::memory_order_relaxed);
  return done;
}

std::size_t hub::sweep() {
  require_not_in_callback("sweep", "*");
  std::size_t freed = 0;
  for (;;) {
    std::uint64_t seq = 0;
    std::shared_ptr<channel> ch;
    {
      sync::mutex_lock idle_lock(idle_mu_);
      if (idle_.empty()) break;
      const auto& oldest = *idle_.begin();
      if (clock_() - oldest.second.since < config_.linger) break;
      seq = oldest.first;
      ch = oldest.second.ch;
    }
    if (free_idle(seq, ch)) {
      ++freed;
      counters_.channels_expired.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return freed;
}

hub_publish_result hub::publish(std::string_view name, std::string_view event, std::string_view payload_json,
                                const hub_publish_options& options) {
  require_not_in_callback("publish", name);
  view_list views;
  find(name, views);
  return publish_views(views, event, payload_json, options);
}

hub_publish_result hub_batch::publish(std::string_view name, std::string_view event, std::string_view payload_json,
                                      const hub_publish_options& options) {
  require_not_in_callback("publish", name);
  ++uses_;
  remembered* lru = &slots_[0];
  for (auto& slot : slots_) {
    if (slot.group && slot.name == name) {
      slot.used = uses_;
      // Unchanged generation: no view was created or closed since the copy, so it is complete.
      if (slot.group->generation.load(std::memory_order_acquire) != slot.generation) {
        slot.views.clear();
        slot.group = hub_.find(name, slot.views);
        if (slot.group) slot.generation = slot.group->generation.load(std::memory_order_acquire);
      }
      return hub_.publish_views(slot.views, event, payload_json, options);
    }
    if (slot.used < lru->used) lru = &slot;
  }
  hub::view_list views;
  auto group = hub_.find(name, views);
  if (!group) return hub_.publish_views(views, event, payload_json, options);
  // The generation is read after the copy: if a view changed in between, the next use looks it up again.
  lru->name.assign(name);
  lru->generation = group->generation.load(std::memory_order_acquire);
  lru->group = std::move(group);
  lru->views = std::move(views);
  lru->used = uses_;
  return hub_.publish_views(lru->views, event, payload_json, options);
}

hub_publish_result hub::publish_views(const view_list& views, std::string_view event, std::string_view payload_json,
                                      const hub_publish_options& options) {
  hub_publish_result out;
  for (const auto& v : views) {
    if (!admits(v->view, options.factory_id)) continue;
    const hub_publish_result r = publish_on(v, event, payload_json, options);
    if (!r.accepted()) continue;
    if (out.views == 0) out.offset = r.offset;
    ++out.views;
    out.subscribers += r.subscribers;
  }
  if (out.views == 0) counters_.messages_dropped.fetch_add(1, std::memory_order_relaxed);
  return out;
}

hub_publish_result hub::publish_on(const std::shared_ptr<channel>& ch, std::string_view event,
                                   std::string_view payload_json, const hub_publish_options& options) {
  // Destroyed after the channel lock (declared before it). Usually one evicted message: kept inline, so a
  // publish allocates nothing for it (a std::deque here cost an allocation of ~580 bytes per publish).
  boost::container::small_vector<hub_message_ptr, 2> evicted;
  released_history freed;
  released_history reset_freed;  // what a start-over (positions from outside) drops
  sync::mutex_lock lock(ch->mu);
  // Closed since it was looked up: a subscribe after the close made a new view, which this publish precedes.
  if (ch->closed.load(std::memory_order_relaxed)) return {};

  std::uint64_t offset = ch->offset + 1;
  if (options.positions != nullptr) {
    std::optional<hub_position> p;
    {
      callback_scope scope;
      p = options.positions->position_of(ch->name, ch->view);
    }
    if (!p || p->offset == 0) return {};  // no position of this view's: not taken
    if (p->epoch == ch->epoch && p->offset <= ch->offset) {
      // Counted already: a join at an origin after this message, or the same message again.
      counters_.messages_repeated.fetch_add(1, std::memory_order_relaxed);
      return {};
    }
    if (p->epoch != ch->epoch || p->offset != offset) {
      // Not the continuation of what the view holds: it starts over just before this message.
      view_locked::start_over(*this, *ch, hub_position{p->epoch, p->offset - 1}, reset_freed);
      counters_.views_reset.fetch_add(1, std::memory_order_relaxed);
    }
    offset = p->offset;
  }
  hub_message_ptr message;
  {
    callback_scope scope;
    hub_frames frames =
        encoder_(hub_encode_request{ch->name, offset, event, payload_json, options.contract, options.raw_payload});
    const std::size_t retained_bytes = frames.size_bytes() + options.attachment_bytes;
    message = std::make_shared<const hub_message>(
        hub_message{offset, std::move(frames), hub_message_meta{std::string(options.factory_id), options.origin},
                    options.change, retained_bytes, clock_()});
  }
  std::uint64_t added_messages = 0;
  std::uint64_t added_bytes = 0;
  bool over_budget = false;
  std::uint64_t evicted_messages = 0;
  std::uint64_t evicted_bytes = 0;
  // Takes the oldest retained message out of the history, to be destroyed after the lock.
  const auto evict_oldest = [&]() RTCACHE_REQUIRES(ch->mu) noexcept {
    hub_message_ptr m = ch->history.take_front();
    const std::size_t b = m->retained_bytes;
    ch->history_bytes -= b;
    evicted_bytes += b;
    ++evicted_messages;
    try {
      evicted.push_back(std::move(m));
    } catch (...) {
      // Out of memory past the inline slots: `m` is destroyed here, under the lock. Slower, still correct.
    }
  };
  if (options.retain) {
    const std::size_t bytes = message->retained_bytes;
    // Recorded in the retention order first: the only steps that may throw come before any change to the
    // channel. A history at its message bound then makes room first, so that the ring never grows past the
    // bound (its capacity stays bit_ceil(max_history_messages)) and the push below cannot throw either.
    const bool at_bound = config_.max_history_messages != 0 && ch->history.size() >= config_.max_history_messages;
    over_budget = view_locked::retain(*this, ch, offset, bytes);
    if (!at_bound) ch->history.push_back(message);  // if it throws, the entry above is stale: skipped when reached
    if (at_bound) {
      evict_oldest();
      ch->history.push_back(message);  // a slot is free: no allocation
    }
    ch->history_bytes += bytes;
    added_messages = 1;
    added_bytes = bytes;
    while (!ch->history.empty() &&
           (ch->history.size() > config_.max_history_messages || ch->history_bytes > config_.max_history_bytes)) {
      evict_oldest();
    }
  } else {
    // Not kept: the history is emptied so that it stays contiguous up to the current offset.
    evicted_messages = ch->history.size();
    evicted_bytes = ch->history_bytes;
    ch->history.move_into(freed);
    ch->history_bytes = 0;
  }
  ch->offset = offset;
  // One modular add per counter: the total moves from one consistent sum to the next, never below zero.
  counters_.history_messages.fetch_add(added_messages - evicted_messages, std::memory_order_relaxed);
  counters_.history_bytes.fetch_add(added_bytes - evicted_bytes, std::memory_order_relaxed);
  counters_.messages_published.fetch_add(1, std::memory_order_relaxed);
  const bool idle = ch->idle_seq.load(std::memory_order_relaxed) != 0;
  if (idle) counters_.idle_history_bytes.fetch_add(added_bytes - evicted_bytes, std::memory_order_relaxed);

  // Fan-out under the channel lock: this is what orders deliveries by offset and makes a join atomic.
  // Safe because deliver() only enqueues (it blocks on nothing the hub holds) and never calls back in.
  {
    callback_scope scope;
    for (const auto& e : ch->subscribers) e.subscriber->deliver(message);
  }
  const std::size_t delivered = ch->subscribers.size();
  counters_.deliveries.fetch_add(delivered, std::memory_order_relaxed);
  lock.unlock();
  if (idle) enforce_idle_budget();
  if (over_budget) enforce_history_budget();
  return {offset, 1, delivered};
}

bool hub::view_locked::retain(hub& h, const std::shared_ptr<channel>& ch, std::uint64_t offset, std::size_t bytes) {
  sync::mutex_lock lock(h.retained_mu_);
  h.retained_->push_back(retained_entry{ch, offset, ch->incarnation});
  // The histories before this publish plus the message: at least what they hold after it (its own evictions
  // only lower it), so the check errs towards running enforce_history_budget(), which decides under the lock.
  const std::uint64_t held =
      h.counters_.history_bytes.load(std::memory_order_relaxed) + bytes + h.retained_->size() * k_retention_entry_bytes;
  return held > h.config_.max_total_history_bytes;
}

bool hub::over_history_budget_locked() const noexcept {
  const std::uint64_t bytes =
      counters_.history_bytes.load(std::memory_order_relaxed) + retained_->size() * k_retention_entry_bytes;
  return !retained_->empty() && bytes > config_.max_total_history_bytes;
}

void hub::enforce_history_budget() noexcept {
  for (;;) {
    retained_entry oldest;
    {
      sync::mutex_lock lock(retained_mu_);
      if (!over_history_budget_locked()) return;
      oldest = retained_->take_front();
    }
    hub_message_ptr evicted;  // destroyed after the channel lock, as is `oldest`
    channel& ch = *oldest.ch;
    sync::mutex_lock lock(ch.mu);  // through `ch`, the name the analysis sees the fields accessed by
    // Retention order follows each channel's offsets within an incarnation, so a message still held is at the
    // front of its history; a front with a greater offset, or another incarnation (the view started over, maybe
    // at a lower offset), means this one was dropped already (the channel's own bounds, an unretained publish, a
    // start-over, the channel closed).
    if (ch.history.empty() || ch.history.front()->offset != oldest.offset || ch.incarnation != oldest.incarnation) {
      continue;
    }
    evicted = ch.history.take_front();
    const std::size_t b = evicted->retained_bytes;
    ch.history_bytes -= b;
    counters_.history_messages.fetch_sub(1, std::memory_order_relaxed);
    counters_.history_bytes.fetch_sub(b, std::memory_order_relaxed);
    if (ch.idle_seq.load(std::memory_order_relaxed) != 0) {
      counters_.idle_history_bytes.fetch_sub(b, std::memory_order_relaxed);
    }
    counters_.history_evicted.fetch_add(1, std::memory_order_relaxed);
  }
}

std::optional<hub_position> hub::position(std::string_view name, const core::factory_scope& view) const {
  require_not_in_callback("position", name);
  view_list views;
  find(name, views);
  for (const auto& ch : views) {
    if (!same_class(ch->view, view)) continue;
    sync::mutex_lock lock(ch->mu);
    if (ch->closed.load(std::memory_order_relaxed)) continue;
    return hub_position{ch->epoch, ch->offset};
  }
  return std::nullopt;
}

bool hub::resumable(std::string_view name, const core::factory_scope& view, const hub_position& resume) const {
  require_not_in_callback("resumable", name);
  view_list views;
  find(name, views);
  for (const auto& ch : views) {
    if (!same_class(ch->view, view)) continue;
    sync::mutex_lock lock(ch->mu);
    if (ch->closed.load(std::memory_order_relaxed)) continue;
    if (resume.epoch != ch->epoch || resume.offset > ch->offset) return false;
    return resume.offset == ch->offset || (!ch->history.empty() && ch->history.front()->offset <= resume.offset + 1);
  }
  return false;
}

hub_message_ptr hub::encode(std::string_view name, std::uint64_t offset, std::string_view event,
                            std::string_view payload_json, const hub_publish_options& options) const {
  require_not_in_callback("encode", name);
  callback_scope scope;
  hub_frames frames =
      encoder_(hub_encode_request{name, offset, event, payload_json, options.contract, options.raw_payload});
  const std::size_t retained_bytes = frames.size_bytes() + options.attachment_bytes;
  return std::make_shared<const hub_message>(
      hub_message{offset, std::move(frames), hub_message_meta{std::string(options.factory_id), options.origin},
                  options.change, retained_bytes, clock_()});
}

hub_metrics hub::metrics() const noexcept {
  hub_metrics m;
  m.channels = counters_.channels.load(std::memory_order_relaxed);
  m.subscribers = counters_.subscribers.load(std::memory_order_relaxed);
  m.messages_published = counters_.messages_published.load(std::memory_order_relaxed);
  m.messages_dropped = counters_.messages_dropped.load(std::memory_order_relaxed);
  m.deliveries = counters_.deliveries.load(std::memory_order_relaxed);
  m.history_messages = counters_.history_messages.load(std::memory_order_relaxed);
  m.history_bytes = counters_.history_bytes.load(std::memory_order_relaxed);
  m.idle_channels = counters_.idle_channels.load(std::memory_order_relaxed);
  m.idle_history_bytes = counters_.idle_history_bytes.load(std::memory_order_relaxed);
  m.channels_expired = counters_.channels_expired.load(std::memory_order_relaxed);
  m.channels_evicted = counters_.channels_evicted.load(std::memory_order_relaxed);
  m.history_evicted = counters_.history_evicted.load(std::memory_order_relaxed);
  m.views_refused = counters_.views_refused.load(std::memory_order_relaxed);
  m.views_reset = counters_.views_reset.load(std::memory_order_relaxed);
  m.messages_repeated = counters_.messages_repeated.load(std::memory_order_relaxed);
  return m;
}

}  // namespace rtcache::hub
