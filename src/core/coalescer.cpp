// Bursts -> one batch per window, de-duplicated by (type, id, action).
#include "rtcache/core/coalescer.hpp"

#include <algorithm>
#include <limits>

namespace rtcache::core {

namespace {

// The merged event keeps the newer one's scalar fields; "newer" is the higher version, or on a tie or
// without versions, the later arrival.
void merge_into(event& kept, event incoming) {
  const bool incoming_newer = !(kept.version && incoming.version && *incoming.version < *kept.version);
  event& newer = incoming_newer ? incoming : kept;
  event& older = incoming_newer ? kept : incoming;

  // Patch first: it reads the newer event's changedKeys before they are merged.
  std::optional<std::vector<patch_entry>> patch;
  if (newer.patch || older.patch) {
    patch = newer.patch ? std::move(*newer.patch) : std::vector<patch_entry>{};
    if (older.patch) {
      // An older value survives only for a column the newer event did not change: if the newer one
      // changed it without carrying its value, the old value is wrong and the merge must not cover it.
      for (auto& p : *older.patch) {
        const auto& changed = newer.changed_keys;
        const bool changed_later = !changed || std::find(changed->begin(), changed->end(), p.column) != changed->end();
        const bool shadowed = std::any_of(patch->begin(), patch->end(),
                                          [&](const patch_entry& q) { return q.column == p.column; });
        if (!changed_later && !shadowed) patch->push_back(std::move(p));
      }
      std::sort(patch->begin(), patch->end(),
                [](const patch_entry& a, const patch_entry& b) { return a.column < b.column; });
    }
    if (patch->empty() && !newer.patch) patch.reset();  // nothing survived: no patch, as in the newer event
  }

  std::optional<std::vector<std::string>> keys;
  if (kept.changed_keys && incoming.changed_keys) {
    keys = std::move(kept.changed_keys);
    for (auto& k : *incoming.changed_keys) {
      if (std::find(keys->begin(), keys->end(), k) == keys->end()) keys->push_back(std::move(k));
    }
  }

  std::optional<std::uint64_t> count;
  if (kept.count || incoming.count) count = kept.count.value_or(0) + incoming.count.value_or(0);
  std::optional<std::uint64_t> offset = kept.offset;
  if (incoming.offset && (!offset || *incoming.offset > *offset)) offset = incoming.offset;
  // The highest known version survives a newer arrival that carries none.
  std::optional<std::int64_t> version = kept.version;
  if (incoming.version && (!version || *incoming.version > *version)) version = incoming.version;

  if (incoming_newer) kept = std::move(incoming);
  kept.changed_keys = std::move(keys);
  kept.patch = std::move(patch);
  kept.count = count;
  kept.offset = offset;
  kept.version = version;
}

}  // namespace

coalescer::coalescer(coalescer_config config)
    : window_(std::clamp(config.window, k_min_window, k_max_window)), max_pending_(std::max<std::size_t>(1, config.max_pending)) {}

void coalescer::doc_key(const event& e, std::string& out) {
  out.assign(e.type);
  out.push_back('\0');
  out.append(e.id);
}

void coalescer::entry_key(const event& e, std::string& out) {
  doc_key(e, out);
  out.push_back('\0');
  out.push_back(static_cast<char>('0' + static_cast<int>(e.act)));
}

void coalescer::offer(event e, time_point now) {
  if (!deadline_) deadline_ = now + window_;
  if (resync_) {
    ++absorbed_;
    return;
  }
  entry_key(e, key_scratch_);
  if (auto it = entry_index_.find(key_scratch_); it != entry_index_.end()) {
    entry& x = entries_[it->second];
    auto& v = x.versions;
    if (v && e.version && v->size() < k_max_tracked_versions &&
        std::find(v->begin(), v->end(), *e.version) == v->end()) {
      v->push_back(*e.version);
    } else {
      v.reset();
    }
    merge_into(x.ev, std::move(e));
    ++absorbed_;
    return;
  }
  if (entries_.size() >= max_pending_) {
    // Overflow rule: the whole window degrades to one resync (see batch::resync).
    absorbed_ += entries_.size() + 1;
    entries_.clear();
    entry_index_.clear();
    doc_ranks_.clear();
    resync_ = true;
    return;
  }
  entry_index_.emplace(key_scratch_, entries_.size());
  doc_key(e, key_scratch_);
  const std::uint64_t rank = doc_ranks_.try_emplace(key_scratch_, next_doc_rank_).first->second;
  if (rank == next_doc_rank_) ++next_doc_rank_;
  std::optional<std::vector<std::int64_t>> versions;
  if (e.version) versions.emplace(1, *e.version);
  entries_.push_back({std::move(e), rank, std::move(versions)});
}

batch coalescer::take_due(time_point now) {
  if (!deadline_ || now < *deadline_) return {};
  return flush();
}

batch coalescer::flush() {
  batch out;
  out.resync = resync_;
  out.absorbed = absorbed_;
  std::stable_sort(entries_.begin(), entries_.end(), [](const entry& a, const entry& b) {
    constexpr auto k_last = std::numeric_limits<std::int64_t>::max();
    if (a.doc_order != b.doc_order) return a.doc_order < b.doc_order;
    return a.ev.version.value_or(k_last) < b.ev.version.value_or(k_last);
  });
  out.events.reserve(entries_.size());
  out.first_versions.reserve(entries_.size());
  for (auto& x : entries_) {
    out.events.push_back(std::move(x.ev));
    std::optional<std::int64_t> first;
    if (x.versions && !x.versions->empty()) {
      const auto [lo, hi] = std::minmax_element(x.versions->begin(), x.versions->end());
      // Distinct versions with no gap: hi - lo + 1 == count (hi - lo compared unsigned: no overflow).
      if (static_cast<std::uint64_t>(*hi) - static_cast<std::uint64_t>(*lo) == x.versions->size() - 1) first = *lo;
    }
    out.first_versions.push_back(first);
  }
  entries_.clear();
  entry_index_.clear();
  doc_ranks_.clear();
  deadline_.reset();
  resync_ = false;
  absorbed_ = 0;
  next_doc_rank_ = 0;
  return out;
}

}  // namespace rtcache::core
