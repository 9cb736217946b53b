// Routing mapped rows to doc:, list: and factory: channels, and per-transaction summaries (docs/design.md §3).
#include "routing/router.hpp"

#include <algorithm>
#include <cassert>
#include <memory>
#include <utility>

namespace rtcache::routing {

namespace {

// Summaries a transaction_router finds by scanning before it hashes a key (see router.hpp, index_).
constexpr std::size_t k_linear_summaries = 16;

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

void route_row_into(routed_rows& out, mapped_row&& row, bool with_list) {
  if (!row.event) {  // public-only table: postgres_changes for everyone
    if (row.change) out.changes.push_back({std::move(row.change), std::nullopt});
    return;
  }
  if (row.old_factory_id) {
    const core::event& e = *row.event;
    auto gone = std::make_shared<const core::event>(move_side(e, core::action::del, *row.old_factory_id));
    auto came = std::make_shared<const core::event>(move_side(e, core::action::create, e.factory_id));
    // Each side sees only its own half of the row: the old factory a DELETE of the old row, the new one an
    // INSERT of the new row (issue 11, finding 9: the UPDATE's old_record holds the old factory's values).
    const postgres_change_ptr& gone_change = row.move_delete_change ? row.move_delete_change : row.change;
    const postgres_change_ptr& came_change = row.move_insert_change ? row.move_insert_change : row.change;
    out.messages.push_back({core::channel_key::doc(e.type, e.id), gone, gone_change});
    if (with_list) out.messages.push_back({core::channel_key::list(e.type, gone->factory_id), gone, gone_change});
    out.messages.push_back({core::channel_key::doc(e.type, e.id), came, came_change});
    if (with_list) out.messages.push_back({core::channel_key::list(e.type, came->factory_id), came, came_change});
    if (row.is_public) {
      // A public table's records reach everyone whatever the factory: the UPDATE as Supabase sends it.
      if (row.change) out.changes.push_back({row.change, std::nullopt});
    } else {
      if (gone_change) out.changes.push_back({gone_change, gone->factory_id});
      if (came_change) out.changes.push_back({came_change, came->factory_id});
    }
    return;
  }

  // doc: and list: share the one event.
  auto e = std::make_shared<const core::event>(std::move(*row.event));
  out.messages.push_back({core::channel_key::doc(e->type, e->id), e, row.change});
  if (with_list) out.messages.push_back({core::channel_key::list(e->type, e->factory_id), e, row.change});
  if (row.change) {
    std::optional<std::string> scope;
    if (!row.is_public) scope = e->factory_id;
    out.changes.push_back({std::move(row.change), std::move(scope)});
  }
}

routed_rows route_row(const mapped_row& row, bool with_list) {
  routed_rows out;
  route_row_into(out, mapped_row(row), with_list);
  return out;
}

void transaction_router::begin() {
  pending_ = {};
  summaries_.clear();
  index_.clear();
  rows_ = 0;
  open_ = true;
}

bool transaction_router::add(mapped_row row) {
  assert(open_ && "transaction_router::add outside begin()/commit()");
  ++rows_;
  if (row.event) {
    const core::event& e = *row.event;
    if (row.old_factory_id) {
      count(*row.old_factory_id, e.type, core::action::del);
      count(e.factory_id, e.type, core::action::create);
    } else {
      count(e.factory_id, e.type, e.act);
    }
  }
  if (pending_.messages.capacity() == 0) {  // a fresh batch: skip the first doublings of a growing transaction
    pending_.messages.reserve(std::min<std::size_t>(limits_.flush_messages, 32));
    pending_.changes.reserve(std::min<std::size_t>(limits_.flush_messages, 16));
  }
  route_row_into(pending_, std::move(row), rows_ <= limits_.list_row_limit);
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
    out.messages.push_back({core::channel_key::factory(std::move(s.factory_id)),
                            std::make_shared<const core::event>(std::move(e)), nullptr});
  }
  summaries_.clear();
  index_.clear();
  rows_ = 0;
  open_ = false;
  return out;
}

void transaction_router::count(const std::string& factory_id, const std::string& type, core::action act) {
  if (summaries_.size() <= k_linear_summaries) {
    for (summary_slot& s : summaries_) {
      if (s.act == act && s.factory_id == factory_id && s.type == type) {
        ++s.count;
        return;
      }
    }
  }
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

}  // namespace rtcache::routing
