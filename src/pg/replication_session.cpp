// decode -> adapt -> map -> route -> sink, one CopyData payload at a time (see replication_session.hpp).
#include "rtcache/pg/replication_session.hpp"

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace rtcache::pg {

std::string_view to_string(log_level level) noexcept {
  switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
  }
  return "info";
}

replication_session::replication_session(const routing::mapping_config& config, routing::routed_sink& sink, log_fn log,
                                         lsn confirmed, durable_confirm_limits limits)
    : config_(&config),
      mapper_(config),
      sink_(&sink),
      log_(std::move(log)),
      router_(config.limits),
      tracker_(confirmed),
      durable_(limits, confirmed) {}

void replication_session::log(log_level level, std::string_view event, std::initializer_list<log_field> fields) const {
  if (log_) log_(level, event, std::span<const log_field>(fields.begin(), fields.size()));
}

void replication_session::reset_connection() {
  relations_.clear();
  types_.clear();
  plans_.clear();
  tracker_.abandon();
  router_.begin();  // discards the rows of an unfinished transaction; they are resent
  tx_published_ = false;
}

void replication_session::start_stream(stream_identity identity, lsn from, std::function<void()> wake) {
  reset_connection();
  identity_ = identity;
  // Resent transactions are recognised against the position the server resumes from, not against what was
  // handled: what was handled but is not durable must be published again.
  tracker_ = confirm_tracker(from);
  durable_.restart(from);
  sink_->start_stream(std::move(wake));
}

routing::stream_position replication_session::next_position(std::size_t messages, lsn confirm_to,
                                                            std::uint64_t commit_lsn, std::uint32_t first_index) {
  routing::stream_position p;
  p.sequence = durable_.record(messages, confirm_to);
  p.system_identifier = identity_.system_identifier;
  p.timeline = identity_.timeline;
  p.commit_lsn = commit_lsn;
  p.first_index = first_index;
  p.confirm_lsn = durable_.recorded().value;
  return p;
}

void replication_session::publish(routing::routed_rows rows, bool last, lsn end_lsn) {
  const std::size_t n = rows.messages.size() + rows.changes.size();
  rows.commit_time = commit_time_;
  routing::routed_batch batch;
  batch.position = next_position(n, last ? end_lsn : durable_.recorded(), tx_commit_lsn_.value, tx_index_);
  batch.last = last;
  batch.rows = std::move(rows);
  tx_index_ += static_cast<std::uint32_t>(n);
  tx_published_ = true;
  sink_->publish(std::move(batch));
  durable_.durable_through(sink_->durable_through());  // a synchronous sink (the hub) is durable already
}

void replication_session::count_gap(routing::gap_reason reason) noexcept {
  ++counters_.gaps[static_cast<std::size_t>(reason)];
}

void replication_session::report_gap(routing::gap_reason reason, const std::string& detail, lsn resume_at) {
  routing::source_gap gap;
  gap.position = next_position(0, resume_at, resume_at.value, 0);
  gap.reason = reason;
  gap.detail = detail;
  count_gap(reason);
  log(log_level::error, "source_gap",
      {{"reason", std::string(routing::to_string(reason))},
       {"scope", "all"},
       {"at", format_lsn(resume_at)},
       {"detail", detail}});
  sink_->on_gap(gap);
  durable_.durable_through(sink_->durable_through());
}

void replication_session::poll_sink(time_point now) {
  durable_.durable_through(sink_->durable_through());
  durable_.tick(now);
}

lsn replication_session::confirm_position(time_point now) {
  if (!tracker_.in_transaction() && tracker_.confirmed() > durable_.recorded()) {
    routing::routed_batch position;
    position.position = next_position(0, tracker_.confirmed(), 0, 0);
    sink_->publish(std::move(position));
  }
  poll_sink(now);
  return durable_.confirmed();
}

result<consume_outcome> replication_session::consume(std::string_view payload) {
  auto decoded = decode_copy_data(payload);
  if (!decoded) return decoded.error();
  if (const auto* k = std::get_if<primary_keepalive>(&*decoded)) {
    if (k->wal_end > counters_.server_wal_end) counters_.server_wal_end = k->wal_end;
    tracker_.keepalive(k->wal_end);
    consume_outcome out;
    out.reply_requested = k->reply_requested;
    return out;
  }
  const auto& x = std::get<xlog_data>(*decoded);
  if (x.wal_end > counters_.server_wal_end) counters_.server_wal_end = x.wal_end;
  tracker_.received(x.wal_start);
  return consume_message(x.payload);
}

result<consume_outcome> replication_session::consume_message(std::string_view pgoutput) {
  // A message larger than this is not kept for reuse: one huge value must not pin its buffer for the session.
  constexpr std::size_t k_max_reused_bytes = 64 * 1024;
  if (auto decoded = decode_message(pgoutput, decoded_); !decoded) return decoded.error();
  auto out = on_message(decoded_);
  if (pgoutput.size() > k_max_reused_bytes) decoded_ = message{};
  return out;
}

template <class Change>
result<void> replication_session::on_change(const Change& change) {
  if (!tracker_.in_transaction()) {
    return error{errc::bad_value, std::string(message_name(message{change})) + " outside a transaction"};
  }
  if (tracker_.skipping()) return {};
  ++counters_.rows;
  const auto rel = relations_.find(change.relation_oid);
  if (!rel) {
    return error{errc::bad_value, std::string(message_name(message{change})) + ": relation oid " +
                                      std::to_string(change.relation_oid) + " has no Relation message"};
  }
  auto row = views_.view(*rel, change, context_);
  if (!row) return row.error();
  const planned_relation& planned = plan_for(rel);
  if (!planned.plan) return {};  // a table the mapping does not name
  auto mapped = mapper_.map(planned.plan, *row);
  if (!mapped) {
    ++counters_.rows_failed;
    log(log_level::warn, "row_unmapped",
        {{"table", planned.plan->where()},
         {"xid", std::to_string(context_.xid)},
         {"code", std::string(core::to_string(mapped.error().code))},
         {"reason", mapped.error().message}});
    return {};
  }
  ++counters_.rows_mapped;
  for (const routing::mapping_warning& w : mapped->warnings) {
    log(log_level::debug, "mapping_warning",
        {{"table", planned.plan->where()}, {"column", w.column}, {"reason", w.message}});
  }
  if (router_.add(std::move(*mapped))) publish(router_.take_pending(), false);
  return {};
}

const replication_session::planned_relation& replication_session::plan_for(
    const std::shared_ptr<const relation_message>& rel) {
  planned_relation& slot = plans_[rel->oid];
  if (slot.relation != rel) {
    slot.relation = rel;
    slot.plan = mapper_.plan(schema_name(*rel), rel->name, row_columns(*rel, types_));
  }
  return slot;
}

result<consume_outcome> replication_session::on_message(message& m) {
  consume_outcome out;
  if (auto* b = std::get_if<begin_message>(&m)) {
    if (tracker_.in_transaction()) return error{errc::bad_value, "Begin inside an open transaction"};
    if (!tracker_.begin(b->final_lsn)) {
      ++counters_.skipped_transactions;
      log(log_level::debug, "transaction_skipped",
          {{"final_lsn", format_lsn(b->final_lsn)}, {"confirmed", format_lsn(tracker_.confirmed())}});
    }
    router_.begin();
    tx_commit_lsn_ = b->final_lsn;
    tx_index_ = 0;
    tx_published_ = false;
    auto ts = format_rfc3339(b->commit_time);
    context_.commit_ts = ts ? std::move(*ts) : std::string{};
    context_.xid = b->xid;
    commit_time_ = to_system_time(b->commit_time);
    counters_.last_commit_time = b->commit_time;
    return out;
  }
  if (auto* c = std::get_if<commit_message>(&m)) {
    if (!tracker_.in_transaction()) return error{errc::bad_value, "Commit without Begin"};
    const bool skipped = tracker_.skipping();
    const std::uint64_t rows = router_.rows();
    if (!skipped) {
      routing::routed_rows rest = router_.commit(context_.commit_ts);
      // The last batch confirms the commit once durable; a transaction without output confirms nothing here
      // (confirm_position hands its end to the sink with the next status update).
      if (!rest.empty() || tx_published_) publish(std::move(rest), true, c->end_lsn);
      ++counters_.transactions;
    }
    tracker_.committed(c->end_lsn);
    counters_.last_commit_time = c->commit_time;
    out.committed = true;
    if (!skipped) {
      log(log_level::debug, "commit",
          {{"end_lsn", format_lsn(c->end_lsn)}, {"xid", std::to_string(context_.xid)}, {"rows", std::to_string(rows)}});
    }
    return out;
  }
  if (auto* r = std::get_if<relation_message>(&m)) {
    const std::uint32_t oid = r->oid;
    auto applied = relations_.apply(std::move(*r));
    if (!applied) return applied.error();
    plans_.erase(oid);
    return out;
  }
  if (auto* y = std::get_if<type_message>(&m)) {
    auto applied = types_.apply(*y);
    if (!applied) return applied.error();
    plans_.clear();  // a type's name may have changed: the plans' `columns` text names it
    return out;
  }
  if (std::holds_alternative<origin_message>(m)) return out;
  if (auto* t = std::get_if<truncate_message>(&m)) {
    if (tracker_.skipping()) return out;
    ++counters_.truncates;
    auto tables = truncated_tables(*t, relations_, *config_);
    if (!tables) return tables.error();
    if (tables->empty()) return out;
    // A gap on these tables' channels, in its place: the transaction's rows before it go out first.
    if (router_.pending_messages() != 0) publish(router_.take_pending(), false);
    routing::source_gap gap;
    gap.position = next_position(0, durable_.recorded(), tx_commit_lsn_.value, tx_index_);
    ++tx_index_;
    tx_published_ = true;
    gap.reason = routing::gap_reason::truncate;
    std::string names;
    for (const routing::gap_table& table : *tables)
      names += (names.empty() ? "" : ", ") + table.schema + "." + table.table;
    gap.detail = "TRUNCATE " + names + ": no rows say which documents went";
    gap.tables = std::move(*tables);
    count_gap(gap.reason);
    log(log_level::error, "source_gap",
        {{"reason", "truncate"}, {"scope", names}, {"at", format_lsn(tx_commit_lsn_)}, {"detail", gap.detail}});
    sink_->on_gap(gap);
    durable_.durable_through(sink_->durable_through());
    return out;
  }
  result<void> done = std::visit(
      [this](const auto& change) -> result<void> {
        using T = std::decay_t<decltype(change)>;
        if constexpr (std::is_same_v<T, insert_message> || std::is_same_v<T, update_message> ||
                      std::is_same_v<T, delete_message>) {
          return on_change(change);
        } else {
          return {};
        }
      },
      m);
  if (!done) return done.error();
  return out;
}

}  // namespace rtcache::pg
