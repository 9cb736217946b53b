// Routing (docs/design.md §3): mapped rows -> messages for channel keys, and per transaction one summary per
// (factory, type, action) on factory:<factoryId>. The server decides who gets what; clients never filter.
#pragma once

#include "routing/mapping.hpp"
#include "routing/mapping_config.hpp"
#include "rtcache/core/channel_key.hpp"
#include "rtcache/core/event.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rtcache::routing {

using event_ptr = std::shared_ptr<const core::event>;

// One message for one contract channel. `event` is never null; a row's doc: and list: messages share one
// event object (immutable once routed). `change` is the postgres_changes record a binding on that channel
// may receive (scoped to the channel's rows); null for summaries and public-only tables.
struct routed_message {
  core::channel_key channel;
  event_ptr event;
  postgres_change_ptr change;
};

// A postgres_changes record for bindings on any channel. `factory_id` is the scope a connection must hold
// to receive it; nullopt for public tables (no scope).
struct scoped_change {
  postgres_change_ptr change;
  std::optional<std::string> factory_id;
};

// The per-row part of routing, in order.
struct routed_rows {
  std::vector<routed_message> messages;
  std::vector<scoped_change> changes;
  // The commit time of the transaction the rows belong to, when the source knows it (pgoutput's Begin): the
  // start of rtcache_replication_commit_to_publish_seconds.
  std::optional<std::chrono::system_clock::time_point> commit_time;

  bool empty() const noexcept { return messages.empty() && changes.empty(); }
};

// Routes one mapped row, without summaries:
//   doc:<type>:<id>          every action. A move is a delete (factoryId = old factory) then a create
//                            (factoryId = new), so scope filtering hands each side only to its factory.
//   list:<type>:<factoryId>  create, update, approve, reject, delete; a move is delete in the old factory's
//                            list then create in the new one's. Omitted when `with_list` is false.
// A move's events carry version and ts but no changedKeys or patch: both sides refetch. Its records follow the
// events: the old factory's messages and scoped record carry mapped_row::move_delete_change (a DELETE of the old
// row), the new factory's carry move_insert_change (an INSERT of the new row); a public table's unscoped
// record stays the UPDATE.
routed_rows route_row(const mapped_row& row, bool with_list = true);

// As route_row, appending to `out` and taking the row's event and records instead of copying them.
void route_row_into(routed_rows& out, mapped_row&& row, bool with_list = true);

// Accumulates the rows of one transaction between Begin and Commit.
//
// Bounds (routing_limits):
//   - list_row_limit: rows after the first `list_row_limit` of a transaction get no list: messages; the
//     factory summary at commit (which every list view subscribes to) stands for them. doc: messages and
//     postgres_changes records still flow for every row.
//   - flush_messages: add() returns true once the pending per-row output holds that many messages; the
//     source then calls take_pending() and publishes them before the commit. That is safe with pgoutput
//     protocol v1 (no streaming): a transaction is sent only after it committed. The WAL position is still
//     confirmed only after commit()'s output is in the hub. Memory is then bounded by flush_messages plus
//     one summary counter per distinct (factory, type, action).
//
// Thread-safety: not thread-safe; one per replication session.
class transaction_router {
 public:
  explicit transaction_router(routing_limits limits = {}) : limits_(limits) {}

  // Starts a transaction, discarding anything left of an unfinished one (a reconnect mid-transaction).
  void begin();

  // Adds one row in commit order. Returns true when the caller should drain with take_pending().
  // Rows of public-only tables contribute postgres_changes only. The row is consumed (pass an rvalue to
  // avoid a copy).
  bool add(mapped_row row);

  // The per-row output accumulated so far, in commit order; leaves the transaction open.
  routed_rows take_pending();

  std::size_t pending_messages() const noexcept { return pending_.messages.size() + pending_.changes.size(); }
  std::size_t rows() const noexcept { return rows_; }
  bool in_transaction() const noexcept { return open_; }

  // Ends the transaction: the remaining per-row output, then the summaries (first-seen order) with
  // ts = `commit_ts`. A move counts as delete in the old factory and create in the new one.
  routed_rows commit(std::string_view commit_ts);

 private:
  struct summary_slot {
    std::string factory_id;
    std::string type;
    core::action act;
    std::uint64_t count;
  };
  void count(const std::string& factory_id, const std::string& type, core::action act);

  routing_limits limits_;
  bool open_ = false;
  std::size_t rows_ = 0;
  routed_rows pending_;
  std::vector<summary_slot> summaries_;  // first-seen order
  // "factory\0type\0action" -> summaries_ slot; consulted only past k_linear_summaries slots (a transaction
  // usually touches a handful of (factory, type, action), found faster by a scan than by hashing a key).
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace rtcache::routing
