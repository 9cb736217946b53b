// Routing mapped rows to doc:, list: and factory: channels, and per-transaction summaries (design.md §3).
#include "rtcache/net/router.hpp"

#include <cassert>
#include <utility>

namespace rtcache::net {

namespace {

// One side of a move: both sides refetch, so changedKeys and patch would only mislead.
core::event move_side(const core::event& e, core::action act, std::string factory_id) {
  core::event side = e;
  side.act = act;
  side.factory_id = std::move(factory_id);
  side.changed_keys.reset();
  side.patch.reset();
  return side;
}

}  // namespace

routed_rows route_row(const mapped_row& row, bool with_list) {
  routed_rows out;
  if (!row.event) {  // public-only table: postgres_changes for everyone
    if (row.change) out.changes.push_back({row.change, std::nullopt});
    return out;
  }
  const core::event& e = *row.event;
  auto scope = [&](const std::string& factory) -> std::optional<std::string> {
    if (row.is_public) return std::nullopt;
    return factory;
  };

  if (row.old_factory_id) {
    core::event gone = move_side(e, core::action::del, *row.old_factory_id);
    core::event came = move_side(e, core::action::create, e.factory_id);
    const postgres_change_ptr& gone_change = row.move_delete_change ? row.move_delete_change : row.change;
    out.messages.push_back({core::channel_key::doc(e.type, e.id), gone, gone_change});
    if (with_list) out.messages.push_back({core::channel_key::list(e.type, gone.factory_id), gone, gone_change});
    out.messages.push_back({core::channel_key::doc(e.type, e.id), came, row.change});
    if (with_list) out.messages.push_back({core::channel_key::list(e.type, came.factory_id), came, row.change});
    if (row.is_public) {
      if (row.change) out.changes.push_back({row.change, std::nullopt});
    } else {
      if (gone_change) out.changes.push_back({gone_change, gone.factory_id});
      if (row.change) out.changes.push_back({row.change, came.factory_id});
    }
    return out;
  }

  out.messages.push_back({core::channel_key::doc(e.type, e.id), e, row.change});
  if (with_list) out.messages.push_back({core::channel_key::list(e.type, e.factory_id), e, row.change});
  if (row.change) out.changes.push_back({row.change, scope(e.factory_id)});
  return out;
}

void transaction_router::begin() {
  pending_ = {};
  summaries_.clear();
  index_.clear();
  rows_ = 0;
  open_ = true;
}

bool transaction_router::add(const mapped_row& row) {
  assert(open_ && "transaction_router::add outside begin()/commit()");
  ++rows_;
  routed_rows routed = route_row(row, rows_ <= limits_.list_row_limit);
  for (auto& m : routed.messages) pending_.messages.push_back(std::move(m));
  for (auto& c : routed.changes) pending_.changes.push_back(std::move(c));
  if (row.event) {
    const core::event& e = *row.event;
    if (row.old_factory_id) {
      count(*row.old_factory_id, e.type, core::action::del);
      count(e.factory_id, e.type, core::action::create);
    } else {
      count(e.factory_id, e.type, e.act);
    }
  }
  return pending_messages() >= limits_.flush_messages;
}

routed_rows transaction_router::take_pending() {
  routed_rows out = std::move(pending_);
  pending_ = {};
  return out;
}

routed_rows transaction_router::commit(std::string_view commit_ts) {
  assert(open_ && "transaction_router::commit without begin()");
  routed_rows out = take_pending();
  out.messages.reserve(out.messages.size() + summaries_.size());
  for (auto& s : summaries_) {
    core::event e;
    e.type = std::move(s.type);
    e.id = std::string(core::k_summary_id);
    e.factory_id = s.factory_id;
    e.act = s.act;
    e.count = s.count;
    if (!commit_ts.empty()) e.ts = std::string(commit_ts);
    out.messages.push_back({core::channel_key::factory(std::move(s.factory_id)), std::move(e), nullptr});
  }
  summaries_.clear();
  index_.clear();
  rows_ = 0;
  open_ = false;
  return out;
}

void transaction_router::count(const std::string& factory_id, const std::string& type, core::action act) {
  std::string key = factory_id;
  key += '\0';
  key += type;
  key += '\0';
  key += core::to_string(act);
  auto [it, inserted] = index_.try_emplace(std::move(key), summaries_.size());
  if (inserted) {
    summaries_.push_back({factory_id, type, act, 1});
  } else {
    ++summaries_[it->second].count;
  }
}

}  // namespace rtcache::net
