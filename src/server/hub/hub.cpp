// The hub's registry, channels and fan-out. Locking: a registry shard's mutex guards only its name -> channel
// map; a channel's mutex guards its position, history and subscriber list, and is held across encoding and
// fan-out so that one channel's deliveries follow offset order. The two are never held at the same time.
#include "rtcache/net/hub.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <unordered_map>

namespace rtcache::net {

namespace detail {

struct hub_channel {
  // The history: a std::deque allocated on first use (a std::deque allocates ~580 bytes when constructed,
  // which every channel without history, e.g. each idle connection's own doc channel, would pay).
  class lazy_history {
   public:
    bool empty() const noexcept { return !d_ || d_->empty(); }
    std::size_t size() const noexcept { return d_ ? d_->size() : 0; }
    // REQUIRES for the rest: !empty(), except push_back.
    const hub_message_ptr& front() const noexcept { return d_->front(); }
    const hub_message_ptr& back() const noexcept { return d_->back(); }
    auto begin() const noexcept { return d_->cbegin(); }
    auto end() const noexcept { return d_->cend(); }
    hub_message_ptr& front() noexcept { return d_->front(); }
    void pop_front() noexcept { d_->pop_front(); }
    void push_back(hub_message_ptr m) {
      if (!d_) d_ = std::make_unique<std::deque<hub_message_ptr>>();
      d_->push_back(std::move(m));
    }
    // Hands every message over to `into` (destroyed by the caller, outside the channel lock); empty after.
    void move_into(std::deque<hub_message_ptr>& into) noexcept {
      if (!d_) return;
      into.swap(*d_);
      d_.reset();
    }

   private:
    std::unique_ptr<std::deque<hub_message_ptr>> d_;
  };

  hub_channel(std::string channel_name, std::string channel_epoch)
      : name(std::move(channel_name)), epoch(std::move(channel_epoch)) {}

  struct entry {
    std::uint64_t id;
    std::shared_ptr<hub_subscriber> subscriber;
  };

  // Constant after construction.
  const std::string name;
  const std::string epoch;

  std::mutex mu;
  // Written only under mu; read under mu, or with acquire by a registry lookup deciding whether to replace
  // this channel. A closed channel is never reopened.
  std::atomic<bool> closed{false};
  // Guarded by mu.
  std::uint64_t offset = 0;
  lazy_history history;  // contiguous offsets; when non-empty, back()->offset == offset
  std::size_t history_bytes = 0;
  std::uint64_t idle_seq = 0;  // non-zero while idle (no subscribers, lingering): its key in hub::idle_
  std::vector<entry> subscribers;                           // fan-out order is unspecified
  std::unordered_map<std::uint64_t, std::size_t> position;  // subscription id -> index in subscribers
};

}  // namespace detail

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

}  // namespace

struct hub::shard {
  std::mutex mu;
  // Guarded by mu.
  std::unordered_map<std::string, std::shared_ptr<channel>, string_hash, std::equal_to<>> channels;
};

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
      epochs_(std::move(epochs)),
      shard_mask_(std::bit_ceil(std::max<std::size_t>(config.shards, 1)) - 1),
      shards_(std::make_unique<shard[]>(shard_mask_ + 1)),
      clock_(clock ? std::move(clock) : hub_clock([] { return std::chrono::steady_clock::now(); })) {
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

std::shared_ptr<hub::channel> hub::find(std::string_view name) const {
  shard& s = shard_for(name);
  std::lock_guard lock(s.mu);
  auto it = s.channels.find(name);
  if (it == s.channels.end()) return nullptr;
  return it->second;
}

hub_join hub::subscribe(std::string_view name, std::shared_ptr<hub_subscriber> subscriber,
                        const std::optional<hub_position>& resume) {
  require_not_in_callback("subscribe", name);
  assert(!name.empty() && "channel name must not be empty");
  assert(subscriber && "subscriber must not be null");
  const std::uint64_t id = next_subscription_id_.fetch_add(1, std::memory_order_relaxed);

  for (;;) {
    std::shared_ptr<channel> ch;
    {
      shard& s = shard_for(name);
      std::lock_guard lock(s.mu);
      auto it = s.channels.find(name);
      if (it == s.channels.end()) {
        ch = std::make_shared<channel>(std::string(name), epochs_());
        s.channels.emplace(std::string(name), ch);
        counters_.channels.fetch_add(1, std::memory_order_relaxed);
      } else if (it->second->closed.load(std::memory_order_acquire)) {
        // Its last subscriber left and the registry entry is about to be erased: a new epoch starts now.
        ch = std::make_shared<channel>(std::string(name), epochs_());
        it->second = ch;
        counters_.channels.fetch_add(1, std::memory_order_relaxed);
      } else {
        ch = it->second;
      }
    }

    std::unique_lock lock(ch->mu);
    // Closed between the lookup and the lock: the next lookup sees it closed and replaces it.
    if (ch->closed.load(std::memory_order_relaxed)) continue;
    leave_idle_locked(*ch);  // a lingering channel is live again, epoch and history intact

    hub_join join;
    join.position = hub_position{ch->epoch, ch->offset};
    if (resume && resume->epoch == ch->epoch && resume->offset <= ch->offset) {
      if (resume->offset == ch->offset) {
        join.recovered = true;
      } else if (!ch->history.empty() && ch->history.front()->offset <= resume->offset + 1) {
        assert(ch->history.back()->offset == ch->offset);
        const auto first =
            ch->history.begin() + static_cast<std::ptrdiff_t>(resume->offset + 1 - ch->history.front()->offset);
        join.replay.assign(first, ch->history.end());
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
      // Out of memory. A channel without subscribers must not stay open: close it as the last leave would
      // (its registry entry is replaced by the next subscribe of the name).
      if (ch->subscribers.empty()) {
        std::deque<hub_message_ptr> freed;
        retire_locked(*ch, freed);
        lock.unlock();
        erase_retired(ch);
      }
      throw;
    }
    counters_.subscribers.fetch_add(1, std::memory_order_relaxed);
    join.subscription = hub_subscription(this, ch, id);
    return join;
  }
}

void hub::unsubscribe(const std::shared_ptr<channel>& ch, std::uint64_t id) noexcept {
  require_not_in_callback("unsubscribe", ch->name);
  // Released after the channel lock, so that no subscriber or message destructor runs under it.
  std::shared_ptr<hub_subscriber> released;
  std::deque<hub_message_ptr> freed_history;
  bool retired = false;
  bool went_idle = false;
  {
    std::lock_guard lock(ch->mu);
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
        std::lock_guard idle_lock(idle_mu_);
        const std::uint64_t seq = next_idle_seq_++;
        idle_.emplace(seq, idle_entry{ch, clock_()});
        ch->idle_seq = seq;
        counters_.idle_channels.fetch_add(1, std::memory_order_relaxed);
        counters_.idle_history_bytes.fetch_add(ch->history_bytes, std::memory_order_relaxed);
        went_idle = true;
      } else {
        retire_locked(*ch, freed_history);
        retired = true;
      }
    }
  }
  if (retired) erase_retired(ch);
  if (went_idle) enforce_idle_budget();
}

void hub::leave_idle_locked(channel& ch) noexcept {
  if (ch.idle_seq == 0) return;
  {
    std::lock_guard idle_lock(idle_mu_);
    idle_.erase(ch.idle_seq);
  }
  ch.idle_seq = 0;
  counters_.idle_channels.fetch_sub(1, std::memory_order_relaxed);
  counters_.idle_history_bytes.fetch_sub(ch.history_bytes, std::memory_order_relaxed);
}

void hub::retire_locked(channel& ch, std::deque<hub_message_ptr>& freed) noexcept {
  leave_idle_locked(ch);
  ch.closed.store(true, std::memory_order_release);
  counters_.history_messages.fetch_sub(ch.history.size(), std::memory_order_relaxed);
  counters_.history_bytes.fetch_sub(ch.history_bytes, std::memory_order_relaxed);
  counters_.channels.fetch_sub(1, std::memory_order_relaxed);
  ch.history.move_into(freed);
  ch.history_bytes = 0;
}

void hub::erase_retired(const std::shared_ptr<channel>& ch) noexcept {
  shard& s = shard_for(ch->name);
  std::lock_guard lock(s.mu);
  auto it = s.channels.find(std::string_view(ch->name));
  // A subscribe may already have replaced the entry with the channel's next epoch.
  if (it != s.channels.end() && it->second == ch) s.channels.erase(it);
}

bool hub::free_idle(std::uint64_t seq, const std::shared_ptr<channel>& ch) noexcept {
  std::deque<hub_message_ptr> freed;
  {
    std::lock_guard lock(ch->mu);
    // A subscribe may have taken it out of the idle set since it was picked (it then has a new seq or none).
    if (ch->idle_seq != seq || ch->closed.load(std::memory_order_relaxed)) return false;
    retire_locked(*ch, freed);
  }
  erase_retired(ch);
  return true;
}

void hub::enforce_idle_budget() noexcept {
  while (counters_.idle_history_bytes.load(std::memory_order_relaxed) > config_.max_idle_bytes) {
    std::uint64_t seq = 0;
    std::shared_ptr<channel> ch;
    {
      std::lock_guard idle_lock(idle_mu_);
      if (idle_.empty()) return;
      seq = idle_.begin()->first;
      ch = idle_.begin()->second.ch;
    }
    if (free_idle(seq, ch)) counters_.channels_evicted.fetch_add(1, std::memory_order_relaxed);
  }
}

std::size_t hub::sweep() {
  require_not_in_callback("sweep", "*");
  std::size_t freed = 0;
  for (;;) {
    std::uint64_t seq = 0;
    std::shared_ptr<channel> ch;
    {
      std::lock_guard idle_lock(idle_mu_);
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
  const auto ch = find(name);
  if (!ch) {
    counters_.messages_dropped.fetch_add(1, std::memory_order_relaxed);
    return {};
  }

  std::deque<hub_message_ptr> freed;  // destroyed after the channel lock (declared before it)
  std::unique_lock lock(ch->mu);
  if (ch->closed.load(std::memory_order_relaxed)) {
    counters_.messages_dropped.fetch_add(1, std::memory_order_relaxed);
    return {};
  }

  const std::uint64_t offset = ch->offset + 1;
  hub_message_ptr message;
  {
    callback_scope scope;
    message = std::make_shared<const hub_message>(hub_message{
        offset,
        encoder_(hub_encode_request{ch->name, offset, event, payload_json, options.contract, options.raw_payload}),
        hub_message_meta{std::string(options.factory_id), options.origin}, options.change});
  }
  std::uint64_t added_messages = 0;
  std::uint64_t added_bytes = 0;
  std::uint64_t evicted_messages = 0;
  std::uint64_t evicted_bytes = 0;
  if (options.retain) {
    const std::size_t bytes = message->frames.size_bytes();
    ch->history.push_back(message);  // the only step that may still throw; nothing has changed before it
    ch->history_bytes += bytes;
    added_messages = 1;
    added_bytes = bytes;
    while (!ch->history.empty() &&
           (ch->history.size() > config_.max_history_messages || ch->history_bytes > config_.max_history_bytes)) {
      const std::size_t b = ch->history.front()->frames.size_bytes();
      ch->history_bytes -= b;
      evicted_bytes += b;
      ++evicted_messages;
      freed.push_back(std::move(ch->history.front()));
      ch->history.pop_front();
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
  const bool idle = ch->idle_seq != 0;
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
  return {offset, delivered};
}

std::optional<hub_position> hub::position(std::string_view name) const {
  require_not_in_callback("position", name);
  const auto ch = find(name);
  if (!ch) return std::nullopt;
  std::lock_guard lock(ch->mu);
  if (ch->closed.load(std::memory_order_relaxed)) return std::nullopt;
  return hub_position{ch->epoch, ch->offset};
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
  return m;
}

}  // namespace rtcache::net
