// The policy loop (sync_engine.hpp): session output -> coalescer -> planner -> query cache.
#include "rtcache/client/sync_engine.hpp"

#include "rtcache/core/channel_key.hpp"

#include <utility>

namespace rtcache::client {

struct live_view::token {
  sync_engine* engine = nullptr;  // null once the engine is destroyed
};

live_view& live_view::operator=(live_view&& other) noexcept {
  if (this != &other) {
    reset();
    engine_ = std::move(other.engine_);
    observer_ = std::move(other.observer_);
    channels_ = std::move(other.channels_);
    other.channels_.clear();
  }
  return *this;
}

live_view::~live_view() { reset(); }

void live_view::reset() noexcept {
  if (auto t = engine_.lock(); t && t->engine && !channels_.empty()) t->engine->unwatch(observer_.key(), channels_);
  observer_.reset();
  channels_.clear();
  engine_.reset();
}

sync_engine::sync_engine(const core::clock& clock, query_cache& cache, core::doc_type_registry types,
                         core::factory_scope scope, engine_config config, std::function<double()> random01)
    : clock_(clock),
      cache_(cache),
      types_(types),
      scope_(std::move(scope)),
      session_(types, config.session, std::move(random01)),
      coalescer_(config.coalesce),
      batch_decoder_(types, config.session.codec),
      token_(std::make_shared<live_view::token>()),
      first_fetch_wait_(config.first_fetch_wait) {
  token_->engine = this;
}

sync_engine::~sync_engine() { token_->engine = nullptr; }

core::result<live_view> sync_engine::watch_doc(std::string type, std::string id, std::string factory_id,
                                               query_listener listener) {
  std::vector<std::string> channels = {core::channel_key::doc(type, id).format(),
                                       core::channel_key::factory(factory_id).format()};
  return watch(core::key_doc(std::move(type), std::move(id)), std::move(channels), std::move(listener));
}

core::result<live_view> sync_engine::watch_list(std::string type, std::string factory_id, std::uint32_t page,
                                                query_listener listener) {
  if (page == 0) return core::error{core::errc::bad_value, "list pages start at 1"};
  std::vector<std::string> channels = {core::channel_key::list(type, factory_id).format(),
                                       core::channel_key::factory(factory_id).format()};
  return watch(core::key_list(std::move(type), std::move(factory_id), page), std::move(channels),
               std::move(listener));
}

core::result<live_view> sync_engine::watch(cache_key key, std::vector<std::string> channels, query_listener listener) {
  session_output out;
  std::vector<std::string> watched;
  for (const std::string& ch : channels) {
    auto ok = session_.watch(ch, clock_.now(), out);
    if (!ok) {
      for (const std::string& w : watched) session_.unwatch(w, out);
      absorb(out);
      return ok.error();
    }
    watched.push_back(ch);
  }
  absorb(out);
  // Channels already live (another view holds them): whatever is committed after the fetch reads reaches
  // the client, so the fetch starts now. Otherwise it waits for the joins (first_fetch_wait).
  const bool ready = live(watched);
  live_view view;
  view.engine_ = token_;
  view.observer_ = cache_.observe(key, std::move(listener), ready);
  if (!ready) {
    waiting_view& w = waiting_[key];
    if (w.views++ == 0) {
      w.channels = watched;
      w.deadline = clock_.now() + first_fetch_wait_;
      // Data fresh enough to show, or a fetch already under way, predates the channels: it is fetched once
      // more when they are live.
      const query_state* s = cache_.state(key);
      w.fetches = s != nullptr ? s->fetches : 0;
      w.early = s != nullptr && (s->fetch == fetch_status::fetching || (s->data && !cache_.stale(key)));
    }
    if (first_fetch_wait_.count() <= 0) release_waiting(clock_.now());
  }
  view.channels_ = std::move(watched);
  return view;
}

void sync_engine::unwatch(const cache_key& key, const std::vector<std::string>& channels) {
  if (auto it = waiting_.find(key); it != waiting_.end() && --it->second.views == 0) waiting_.erase(it);
  session_output out;
  for (const std::string& ch : channels) session_.unwatch(ch, out);
  absorb(out);
  if (on_requests_ && !requests_.send.empty()) on_requests_();
}

bool sync_engine::live(const std::vector<std::string>& channels) const {
  for (const std::string& ch : channels) {
    if (session_.channel_status(ch) != channel_state::joined) return false;
  }
  return true;
}

void sync_engine::release_waiting(core::time_point now) {
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    waiting_view& w = it->second;
    if (live(w.channels)) {
      // Whatever was fetched while the channels were joining (at the deadline, or by an event on a channel
      // another view holds) may predate them: fetched once more. Otherwise this is the view's first fetch.
      const query_state* s = cache_.state(it->first);
      const bool predates =
          w.early || (s != nullptr && (s->fetches != w.fetches || s->fetch == fetch_status::fetching));
      if (predates) {
        if (cache_.refetch_if_active(it->first)) ++stats_.catch_up_refetches;
      } else if (cache_.stale(it->first)) {
        cache_.fetch(it->first);
      }
      it = waiting_.erase(it);
      continue;
    }
    if (!w.waited && now >= w.deadline) {
      // Realtime is not there yet: show the data now, and fetch again once the channels are live.
      if (cache_.stale(it->first)) cache_.fetch(it->first);
      w.waited = true;
    }
    ++it;
  }
}

void sync_engine::set_access_token(std::string token) {
  session_output out;
  session_.set_access_token(std::move(token), out);
  absorb(out);
}

void sync_engine::start() {
  session_output out;
  session_.start(out);
  absorb(out);
}

void sync_engine::stop() {
  session_output out;
  session_.stop(out);
  absorb(out);
}

void sync_engine::on_open() {
  session_output out;
  session_.on_open(clock_.now(), out);
  absorb(out);
}

void sync_engine::on_closed() {
  session_output out;
  session_.on_closed(clock_.now(), out);
  absorb(out);
}

void sync_engine::on_frame(std::string_view bytes, bool binary) {
  session_output out;
  session_.on_frame(bytes, binary, clock_.now(), out);
  absorb(out);
}

void sync_engine::tick() {
  const core::time_point now = clock_.now();
  session_output out;
  session_.tick(now, out);
  absorb(out);
  core::batch b = coalescer_.take_due(now);
  if (!b.empty()) process_batch(b);
  cache_.collect_garbage(now);
  if (!recovery_.empty() && !rejoins_pending()) run_recovery();
  if (!waiting_.empty()) release_waiting(now);
}

void sync_engine::flush() {
  core::batch b = coalescer_.flush();
  if (!b.empty()) process_batch(b);
}

std::optional<core::time_point> sync_engine::next_wake() const {
  std::optional<core::time_point> next = session_.next_wake();
  const auto consider = [&](std::optional<core::time_point> t) {
    if (t && (!next || *t < *next)) next = t;
  };
  consider(coalescer_.deadline());
  consider(cache_.next_gc_deadline());
  if (!recovery_.empty() && !rejoins_pending()) consider(clock_.now());
  for (const auto& [key, w] : waiting_) {
    if (!w.waited) consider(w.deadline);
  }
  return next;
}

transport_requests sync_engine::take_requests() { return std::exchange(requests_, transport_requests{}); }

void sync_engine::absorb(session_output& out) {
  for (std::string& f : out.send) requests_.send.push_back(std::move(f));
  if (out.disconnect) {
    requests_.disconnect = true;
    requests_.connect = false;
  }
  if (out.connect) requests_.connect = true;
  for (const session_problem& p : out.problems) {
    ++stats_.problems;
    if (on_problem_) on_problem_(p);
  }
  for (const std::string& name : out.not_recovered) {
    auto key = core::parse_channel_key(name, types_);
    if (!key) continue;
    for (const cache_key& k : cache_.active_keys()) {
      const bool hit = (key->kind == core::channel_kind::doc && k.kind == core::cache_key_kind::doc &&
                        k.type == key->type && k.id == key->id) ||
                       (key->kind == core::channel_kind::list && k.kind == core::cache_key_kind::list && k.page == 1 &&
                        k.type == key->type && k.factory_id == key->factory_id) ||
                       (key->kind == core::channel_kind::factory && k.kind == core::cache_key_kind::list &&
                        k.page == 1 && k.factory_id == key->factory_id);
      if (hit) recovery_.insert(k);
    }
  }
  for (received_event& r : out.events) offer(std::move(r.event));
  const bool joined = !out.joined.empty();
  out = session_output{};
  if (joined && !waiting_.empty()) release_waiting(clock_.now());
  // One refetch per query once every rejoin of this reconnect has answered, not one per channel.
  if (!recovery_.empty() && !rejoins_pending()) run_recovery();
}

bool sync_engine::rejoins_pending() const {
  // A join unanswered for join_timeout is retried later as closed, so this ends.
  for (const std::string& ch : session_.channels()) {
    if (session_.channel_status(ch) == channel_state::joining) return true;
  }
  return false;
}

void sync_engine::run_recovery() {
  const std::set<cache_key> keys = std::exchange(recovery_, {});
  for (const cache_key& k : keys) {
    if (first_fetch_pending(k)) continue;
    if (cache_.refetch_if_active(k)) ++stats_.recovery_refetches;
  }
}

bool sync_engine::first_fetch_pending(const cache_key& key) const {
  auto it = waiting_.find(key);
  return it != waiting_.end() && !it->second.waited;
}

void sync_engine::offer(core::event e) {
  ++stats_.events;
  coalescer_.offer(std::move(e), clock_.now());
}

core::result<std::vector<core::batch_item>> sync_engine::offer_json_batch(std::string_view json) {
  auto items = batch_decoder_.decode_batch(json);
  if (!items) return items.error();
  for (const core::batch_item& item : *items) {
    if (item.outcome) offer(*item.outcome);
  }
  return items;
}

core::plan sync_engine::process_batch(const core::batch& b) {
  core::plan p = core::plan_batch(b, scope_, cache_);
  ++stats_.batches;
  for (const core::operation& op : p.ops) apply(op);
  if (on_batch_) on_batch_(b, p);
  return p;
}

void sync_engine::apply(const core::operation& op) {
  switch (op.kind) {
    case core::op_kind::invalidate:
      ++stats_.invalidates;
      // The cache knows whether a fetch is in flight (after_fetch).
      if (!first_fetch_pending(*op.key)) cache_.invalidate(*op.key);
      break;
    case core::op_kind::patch:
      ++stats_.patches;
      if (!cache_.patch(*op.key, op.set, op.version) && !first_fetch_pending(*op.key)) cache_.invalidate(*op.key);
      break;
    case core::op_kind::refetch_list_head:
      ++stats_.list_head_refetches;
      if (!first_fetch_pending(*op.key)) cache_.refetch_if_active(*op.key);
      break;
    case core::op_kind::resync:
      ++stats_.resyncs;
      // Every doc and every list head; a page past the head is left alone, as every list event leaves it.
      cache_.refetch_all_active([this](const cache_key& k) {
        return (k.kind == core::cache_key_kind::doc || k.page == 1) && !first_fetch_pending(k);
      });
      break;
    case core::op_kind::drop: ++stats_.drops; break;
  }
}

}  // namespace rtcache::client
