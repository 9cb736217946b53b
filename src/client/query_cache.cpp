// The query cache's state machine: actions (observe, fetch, complete, invalidate, set, patch, collect) change
// one entry's query_state, then the entry's listeners are told, outside any iteration of the store.
#include "rtcache/client/query_cache.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <utility>

namespace rtcache::client {

std::string_view to_string(query_status s) noexcept {
  switch (s) {
    case query_status::pending: return "pending";
    case query_status::success: return "success";
    case query_status::error: return "error";
  }
  return "unknown";
}

std::string_view to_string(fetch_status s) noexcept {
  return s == fetch_status::fetching ? "fetching" : "idle";
}

fetch_result fetch_result::success(boost::json::value data, std::optional<std::int64_t> version) {
  fetch_result r;
  r.data = std::move(data);
  r.version = version;
  return r;
}

fetch_result fetch_result::success_versioned(boost::json::value data, std::string_view field) {
  std::optional<std::int64_t> version;
  if (const auto* o = data.if_object()) {
    if (const auto* v = o->if_contains(field)) {
      if (v->is_int64()) version = v->as_int64();
      if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
        version = static_cast<std::int64_t>(v->as_uint64());
      }
    }
  }
  return success(std::move(data), version);
}

fetch_result fetch_result::failure(std::string message) {
  fetch_result r;
  r.error = message.empty() ? std::string("fetch failed") : std::move(message);
  return r;
}

bool is_stale(const query_state& s, core::time_point now, std::chrono::milliseconds stale_time) noexcept {
  if (!s.data || s.invalidated || !s.data_updated_at) return true;
  return now - *s.data_updated_at >= stale_time;
}

// ------------------------------------------------------------------------------------------------ observer

struct query_observer::shared {
  query_cache* cache = nullptr;  // null once the cache is destroyed
};

query_observer::query_observer(query_observer&& other) noexcept
    : cache_(std::move(other.cache_)), key_(std::move(other.key_)), id_(std::exchange(other.id_, 0)) {}

query_observer& query_observer::operator=(query_observer&& other) noexcept {
  if (this != &other) {
    reset();
    cache_ = std::move(other.cache_);
    key_ = std::move(other.key_);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

query_observer::~query_observer() { reset(); }

void query_observer::reset() noexcept {
  if (id_ == 0) return;
  const std::uint64_t id = std::exchange(id_, 0);
  if (auto s = cache_.lock(); s && s->cache) s->cache->remove_observer(key_, id);
  cache_.reset();
}

// ------------------------------------------------------------------------------------------------ cache

struct query_cache::entry {
  query_state state;
  std::uint64_t generation = 0;  // the fetch in flight; completions of any other fetch are ignored
  std::map<std::uint64_t, std::shared_ptr<const query_listener>> listeners;
  std::optional<core::time_point> gc_at;  // set while unobserved
};

query_cache::query_cache(const core::clock& clock, fetcher fetch, query_cache_config config)
    : clock_(clock),
      fetch_(std::move(fetch)),
      config_(config),
      shared_(std::make_shared<query_observer::shared>()),
      entries_(std::make_unique<entry_map>()) {
  shared_->cache = this;
}

query_cache::~query_cache() { shared_->cache = nullptr; }

query_cache::entry& query_cache::ensure(const cache_key& key) {
  auto [it, inserted] = entries_->try_emplace(key);
  if (inserted) {
    it->second.gc_at = clock_.now() + config_.gc_time;
    enforce_bound();
  }
  return it->second;
}

void query_cache::enforce_bound() {
  while (entries_->size() > config_.max_entries) {
    auto victim = entries_->end();
    for (auto it = entries_->begin(); it != entries_->end(); ++it) {
      if (it->second.state.observers != 0 || !it->second.gc_at) continue;
      if (victim == entries_->end() || *it->second.gc_at < *victim->second.gc_at) victim = it;
    }
    // Overflow rule: only inactive entries are evicted (oldest gc deadline first); active ones stay even
    // beyond the bound, because a visible view must keep its data.
    if (victim == entries_->end()) return;
    entries_->erase(victim);
  }
}

void query_cache::mark_changed(const cache_key& key) {
  if (std::find(changed_.begin(), changed_.end(), key) == changed_.end()) changed_.push_back(key);
}

void query_cache::notify() {
  if (notifying_) return;  // the outer loop delivers what a listener changed
  notifying_ = true;
  while (!changed_.empty()) {
    const cache_key key = std::move(changed_.front());
    changed_.erase(changed_.begin());
    auto it = entries_->find(key);
    if (it == entries_->end()) continue;
    const query_state snapshot = it->second.state;
    std::vector<std::shared_ptr<const query_listener>> listeners;
    for (const auto& [id, l] : it->second.listeners) listeners.push_back(l);
    for (const auto& l : listeners) {
      if (*l) (*l)(key, snapshot);
    }
  }
  notifying_ = false;
}

void query_cache::start_fetch(const cache_key& key, entry& e) {
  e.state.fetch = fetch_status::fetching;
  e.state.refetch_after_fetch = false;
  ++e.state.fetches;
  const std::uint64_t generation = next_id_++;
  e.generation = generation;
  mark_changed(key);
  std::weak_ptr<query_observer::shared> weak = shared_;
  // `e` is not touched after this call: the fetcher may complete synchronously and change the store.
  fetch_(key, [weak, key, generation](fetch_result r) {
    if (auto s = weak.lock(); s && s->cache) s->cache->complete(key, generation, std::move(r));
  });
}

void query_cache::complete(const cache_key& key, std::uint64_t generation, fetch_result r) {
  auto it = entries_->find(key);
  if (it == entries_->end()) return;
  entry& e = it->second;
  if (e.generation != generation || e.state.fetch != fetch_status::fetching) return;  // superseded or repeated
  e.state.fetch = fetch_status::idle;
  if (r.ok()) {
    e.state.data = std::make_shared<const boost::json::value>(std::move(*r.data));
    e.state.data_version = r.version;
    e.state.data_updated_at = clock_.now();
    e.state.status = query_status::success;
    e.state.error.clear();
    e.state.invalidated = false;
  } else {
    e.state.status = query_status::error;
    e.state.error = std::move(r.error);
  }
  mark_changed(key);
  if (e.state.refetch_after_fetch) {
    // The result may predate an event that arrived during the fetch (TanStack/query#8530).
    e.state.refetch_after_fetch = false;
    e.state.invalidated = true;
    if (e.state.observers > 0) start_fetch(key, e);
  }
  notify();
}

query_observer query_cache::observe(const cache_key& key, query_listener listener, bool fetch_if_stale) {
  entry& e = ensure(key);
  const std::uint64_t id = next_id_++;
  e.listeners.emplace(id, std::make_shared<const query_listener>(std::move(listener)));
  ++e.state.observers;
  e.gc_at.reset();
  if (fetch_if_stale && e.state.fetch == fetch_status::idle && is_stale(e.state, clock_.now(), config_.stale_time)) {
    start_fetch(key, e);
  }
  notify();
  return query_observer(shared_, key, id);
}

bool query_cache::stale(const cache_key& key) const {
  const query_state* s = state(key);
  return s == nullptr || is_stale(*s, clock_.now(), config_.stale_time);
}

void query_cache::remove_observer(const cache_key& key, std::uint64_t id) noexcept {
  auto it = entries_->find(key);
  if (it == entries_->end()) return;
  entry& e = it->second;
  if (e.listeners.erase(id) == 0) return;
  if (--e.state.observers == 0) e.gc_at = clock_.now() + config_.gc_time;
}

void query_cache::fetch(const cache_key& key) {
  entry& e = ensure(key);
  if (e.state.fetch == fetch_status::idle) start_fetch(key, e);
  notify();
}

bool query_cache::invalidate(const cache_key& key) {
  auto it = entries_->find(key);
  if (it == entries_->end()) return false;
  entry& e = it->second;
  e.state.invalidated = true;
  mark_changed(key);
  if (e.state.fetch == fetch_status::fetching) {
    // Active or not: the in-flight result must not clear the invalidation it may predate.
    e.state.refetch_after_fetch = true;
  } else if (e.state.observers > 0) {
    start_fetch(key, e);
  }
  notify();
  return true;
}

bool query_cache::refetch_if_active(const cache_key& key) {
  auto it = entries_->find(key);
  if (it == entries_->end()) return false;
  const bool active = it->second.state.observers > 0;
  invalidate(key);
  return active;
}

std::size_t query_cache::refetch_all_active(const std::function<bool(const cache_key&)>& which) {
  std::vector<cache_key> keys;
  keys.reserve(entries_->size());
  for (const auto& [k, e] : *entries_) {
    if (!which || which(k)) keys.push_back(k);
  }
  std::size_t n = 0;
  for (const cache_key& k : keys) {
    auto it = entries_->find(k);
    if (it == entries_->end()) continue;
    entry& e = it->second;
    e.state.invalidated = true;
    mark_changed(k);
    if (e.state.fetch == fetch_status::fetching) {
      e.state.refetch_after_fetch = true;
      if (e.state.observers > 0) ++n;
    } else if (e.state.observers > 0) {
      ++n;
      start_fetch(k, e);
    }
  }
  notify();
  return n;
}

void query_cache::set_query_data(const cache_key& key, boost::json::value data, std::optional<std::int64_t> version) {
  entry& e = ensure(key);
  e.state.data = std::make_shared<const boost::json::value>(std::move(data));
  e.state.data_version = version;
  e.state.data_updated_at = clock_.now();
  e.state.status = query_status::success;
  e.state.error.clear();
  e.state.invalidated = false;
  mark_changed(key);
  notify();
}

bool query_cache::patch(const cache_key& key, const std::vector<core::patch_entry>& set,
                        std::optional<std::int64_t> version) {
  auto it = entries_->find(key);
  if (it == entries_->end() || !it->second.state.data || !it->second.state.data->is_object()) return false;
  entry& e = it->second;
  boost::json::value copy = *e.state.data;  // data is shared with listeners: copy on write
  boost::json::object& obj = copy.as_object();
  for (const core::patch_entry& p : set) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(p.json_value, ec);
    if (ec) return false;  // core guarantees canonical JSON; refuse rather than half-apply
    obj[p.column] = std::move(v);
  }
  // The object's own version column, where it has one, follows the version the doc now holds (the fetcher's
  // success_versioned read it from there; a view showing it must not show the version before the patch).
  if (version && obj.contains("version")) obj["version"] = *version;
  e.state.data = std::make_shared<const boost::json::value>(std::move(copy));
  if (version) e.state.data_version = version;
  e.state.data_updated_at = clock_.now();
  mark_changed(key);
  notify();
  return true;
}

std::size_t query_cache::collect_garbage(core::time_point now) {
  std::size_t removed = 0;
  for (auto it = entries_->begin(); it != entries_->end();) {
    const entry& e = it->second;
    if (e.state.observers == 0 && e.gc_at && *e.gc_at <= now) {
      it = entries_->erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  return removed;
}

std::optional<core::time_point> query_cache::next_gc_deadline() const {
  std::optional<core::time_point> next;
  for (const auto& [k, e] : *entries_) {
    if (e.state.observers == 0 && e.gc_at && (!next || *e.gc_at < *next)) next = e.gc_at;
  }
  return next;
}

const query_state* query_cache::state(const cache_key& key) const {
  auto it = entries_->find(key);
  return it == entries_->end() ? nullptr : &it->second.state;
}

std::shared_ptr<const boost::json::value> query_cache::data(const cache_key& key) const {
  const query_state* s = state(key);
  return s ? s->data : nullptr;
}

bool query_cache::is_active(const cache_key& key) const {
  const query_state* s = state(key);
  return s && s->observers > 0;
}

std::size_t query_cache::size() const noexcept { return entries_->size(); }

std::vector<cache_key> query_cache::active_keys() const {
  std::vector<cache_key> out;
  for (const auto& [k, e] : *entries_) {
    if (e.state.observers > 0) out.push_back(k);
  }
  return out;
}

std::optional<core::cached_doc_state> query_cache::doc(std::string_view type, std::string_view id) const {
  const query_state* s = state(core::key_doc(std::string(type), std::string(id)));
  if (!s) return std::nullopt;
  core::cached_doc_state out;
  out.version = s->data_version;
  out.fetching = s->fetch == fetch_status::fetching;
  out.has_data = s->data != nullptr;
  return out;
}

}  // namespace rtcache::client
