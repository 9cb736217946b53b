// Event + cache state -> cache operations, by the rules of docs/design.md §6 (see planner.hpp).
#include "rtcache/core/planner.hpp"

#include "rtcache/core/version_guard.hpp"

#include <set>
#include <tuple>

namespace rtcache::core {

std::string_view to_string(op_kind k) noexcept {
  switch (k) {
    case op_kind::invalidate: return "invalidate";
    case op_kind::patch: return "patch";
    case op_kind::refetch_list_head: return "refetch_list_head";
    case op_kind::resync: return "resync";
    case op_kind::drop: return "drop";
  }
  return "unknown";
}

std::string_view to_string(drop_reason r) noexcept {
  switch (r) {
    case drop_reason::out_of_scope: return "out_of_scope";
    case drop_reason::stale_version: return "stale_version";
    case drop_reason::not_cached: return "not_cached";
  }
  return "unknown";
}

void cache_snapshot::put(std::string type, std::string id, cached_doc_state state) {
  docs_[{std::move(type), std::move(id)}] = state;
}

std::optional<cached_doc_state> cache_snapshot::doc(std::string_view type, std::string_view id) const {
  auto it = docs_.find(std::pair<std::string_view, std::string_view>(type, id));
  if (it == docs_.end()) return std::nullopt;
  return it->second;
}

namespace {

operation drop(drop_reason r) {
  operation op;
  op.kind = op_kind::drop;
  op.reason = r;
  return op;
}

operation refetch_head(const event& e) {
  operation op;
  op.kind = op_kind::refetch_list_head;
  op.key = key_list_heads(e.type, e.factory_id);
  return op;
}

operation invalidate(const event& e, bool after_fetch) {
  operation op;
  op.kind = op_kind::invalidate;
  op.key = key_doc(e.type, e.id);
  op.after_fetch = after_fetch;
  return op;
}

}  // namespace

bool is_next_version(std::optional<std::int64_t> incoming, std::optional<std::int64_t> cached) noexcept {
  if (!incoming) return true;
  // incoming > *cached >= INT64_MIN, so incoming - 1 cannot overflow (cached + 1 could).
  return cached && *cached < *incoming && *incoming - 1 == *cached;
}

namespace {

// plan_event, for an event that may merge a run of versions: `run_first` points at the run's lowest
// version (nullopt: not a contiguous run), or is null when the event stands for its own version only.
plan plan_one(const event& e, const factory_scope& scope, const cache_view& cache,
              const std::optional<std::int64_t>* run_first) {
  plan p;
  if (!scope.contains(e.factory_id)) {
    p.ops.push_back(drop(drop_reason::out_of_scope));
    return p;
  }
  if (e.is_summary()) {
    p.ops.push_back(refetch_head(e));
    return p;
  }
  const auto cached = cache.doc(e.type, e.id);
  if (e.act == action::create || e.act == action::del) {
    p.ops.push_back(refetch_head(e));
    if (e.act == action::del && cached) p.ops.push_back(invalidate(e, cached->fetching));
    return p;
  }
  if (!cached || (!cached->has_data && !cached->fetching)) {
    p.ops.push_back(drop(drop_reason::not_cached));
    return p;
  }
  if (check_version(e.version, cached->version) == version_verdict::stale) {
    p.ops.push_back(drop(drop_reason::stale_version));
    return p;
  }
  if (cached->fetching) {
    p.ops.push_back(invalidate(e, true));
    return p;
  }
  // A merged run patches only when it is contiguous and starts just after the cached version.
  const bool next = run_first == nullptr || !e.version
                        ? is_next_version(e.version, cached->version)
                        : run_first->has_value() && is_next_version(**run_first, cached->version);
  if (e.patch_covers_changes() && next) {
    operation op;
    op.kind = op_kind::patch;
    op.key = key_doc(e.type, e.id);
    op.set = *e.patch;
    op.version = e.version;
    p.ops.push_back(std::move(op));
    return p;
  }
  p.ops.push_back(invalidate(e, false));
  return p;
}

}  // namespace

plan plan_event(const event& e, const factory_scope& scope, const cache_view& cache) {
  return plan_one(e, scope, cache, nullptr);
}

namespace {

// The cache as it will be once earlier ops of the same batch have run: a patch records its version,
// so a later event of the batch is judged against it, not against the state before the batch.
class overlay final : public cache_view {
 public:
  explicit overlay(const cache_view& base) : base_(base) {}
  std::optional<cached_doc_state> doc(std::string_view type, std::string_view id) const override {
    if (auto s = patched_.doc(type, id)) return s;
    return base_.doc(type, id);
  }
  void record_patch(const cache_key& key, std::optional<std::int64_t> version) {
    auto state = doc(key.type, key.id).value_or(cached_doc_state{});
    if (version) state.version = version;
    patched_.put(key.type, key.id, state);
  }

 private:
  const cache_view& base_;
  cache_snapshot patched_;
};

}  // namespace

plan plan_batch(const batch& b, const factory_scope& scope, const cache_view& cache) {
  plan out;
  if (b.resync) {
    operation op;
    op.kind = op_kind::resync;
    out.ops.push_back(std::move(op));
    return out;
  }
  overlay view(cache);
  // Refetches already planned in this batch: (kind, key, after_fetch).
  std::set<std::tuple<op_kind, cache_key, bool>> refetches;
  const bool has_runs = b.first_versions.size() == b.events.size();
  for (std::size_t i = 0; i < b.events.size(); ++i) {
    plan p = plan_one(b.events[i], scope, view, has_runs ? &b.first_versions[i] : nullptr);
    for (auto& op : p.ops) {
      if (op.kind == op_kind::refetch_list_head || op.kind == op_kind::invalidate) {
        if (!refetches.emplace(op.kind, *op.key, op.after_fetch).second) continue;
      } else if (op.kind == op_kind::patch) {
        view.record_patch(*op.key, op.version);
      }
      out.ops.push_back(std::move(op));
    }
  }
  return out;
}

}  // namespace rtcache::core
