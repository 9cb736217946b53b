// Routed rows into the hub: contract messages to their channels (with the record attached), records to the
// internal per-table channels.
#include "ingest/hub_sink.hpp"

#include "ingest/relay.hpp"
#include "routing/mapping.hpp"
#include "rtcache/core/event_codec.hpp"

namespace rtcache::ingest {

std::string postgres_table_channel(std::string_view schema, std::string_view table) {
  std::string out(k_internal_channel_prefix);
  out.append("pg:").append(schema).append(".").append(table);
  return out;
}

bool is_internal_channel(std::string_view name) noexcept {
  return name.starts_with(k_internal_channel_prefix);
}

bool gap_touches(const routing::source_gap& gap, std::string_view name) noexcept {
  // postgres_table_channel()'s prefix.
  const std::string_view record_prefix = "\x01pg:";
  if (gap.all()) {
    return name.starts_with("doc:") || name.starts_with("list:") || name.starts_with("factory:") ||
           name.starts_with(record_prefix);
  }
  bool any_doc_type = false;
  for (const routing::gap_table& t : gap.tables) {
    if (name.starts_with(record_prefix)) {
      // "\x01pg:<schema>.<table>", compared without building the name.
      std::string_view rest = name.substr(record_prefix.size());
      if (rest.size() == t.schema.size() + 1 + t.table.size() && rest.starts_with(t.schema) &&
          rest[t.schema.size()] == '.' && rest.ends_with(t.table)) {
        return true;
      }
      continue;
    }
    if (t.doc_type.empty()) continue;
    any_doc_type = true;
    for (const std::string_view kind : {std::string_view("doc:"), std::string_view("list:")}) {
      if (name.size() > kind.size() + t.doc_type.size() + 1 && name.starts_with(kind) &&
          name.substr(kind.size()).starts_with(t.doc_type) && name[kind.size() + t.doc_type.size()] == ':') {
        return true;
      }
    }
  }
  return any_doc_type && name.starts_with("factory:");
}

void hub_sink::start_stream(std::function<void()> /*wake*/) {
  // Every call is durable when it returns: nothing to wake for.
  durable_.store(0, std::memory_order_release);
}

void hub_sink::on_gap(const routing::source_gap& gap) {
  const std::size_t views = hub_.reset([&gap](std::string_view name) { return gap_touches(gap, name); });
  gaps_.fetch_add(1, std::memory_order_relaxed);
  views_reset_.fetch_add(views, std::memory_order_relaxed);
  durable_.store(gap.position.sequence, std::memory_order_release);
}

void hub_sink::publish(routing::routed_batch batch) {
  publish_rows(batch.rows);
  durable_.store(batch.position.sequence, std::memory_order_release);
}

void hub_sink::publish(const routing::routed_rows& rows) {
  publish_rows(rows);
}

void hub_sink::publish_rows(const routing::routed_rows& rows) {
  // A transaction's messages reach each connection as one gathered write when publish() returns (the gateway's
  // scope).
  if (scope_) {
    scope_([&] { publish_in_scope(rows); });
  } else {
    publish_in_scope(rows);
  }
}

void hub_sink::publish_in_scope(const routing::routed_rows& rows) {
  // One registry lookup per channel of the transaction, not per message (its list: and record channels repeat).
  hub::hub_batch batch(hub_);
  std::uint64_t deliveries = 0;
  std::uint64_t messages = 0;
  std::uint64_t changes = 0;
  // A row's doc: and list: messages share one event: it is encoded once (without offset) for both, and the
  // encoder splices each channel's offset into that text.
  std::string encoded;
  const core::event* encoded_event = nullptr;
  for (const auto& m : rows.messages) {
    if (m.event.get() != encoded_event) {
      encoded.clear();
      core::encode_to(encoded, *m.event);
      encoded_event = m.event.get();
    }
    hub::hub_publish_options o;
    o.factory_id = m.event->factory_id;
    o.contract = m.event.get();
    o.change = m.change;
    o.attachment_bytes = m.change ? m.change->retained_bytes() : 0;
    try {
      deliveries += batch.publish(m.channel.format(), k_invalidate_event, encoded, o).subscribers;
    } catch (const core::error_exception&) {
      continue;  // unframeable channel name: that message only
    }
    ++messages;
  }
  // A transaction's records are mostly of one or two tables: the channel name is rebuilt only when the table
  // changes (it is longer than the small-string buffer, so each build is an allocation).
  std::string table_channel;
  const routing::postgres_change* named = nullptr;
  for (const auto& c : rows.changes) {
    if (!c.change) continue;
    if (named == nullptr || named->table != c.change->table || named->schema != c.change->schema) {
      table_channel = postgres_table_channel(c.change->schema, c.change->table);
      named = c.change.get();
    }
    hub::hub_publish_options o;
    if (c.factory_id) o.factory_id = *c.factory_id;
    o.change = c.change;
    o.retain = false;
    deliveries += batch.publish(table_channel, "postgres_changes", {}, o).subscribers;
    ++changes;
  }
  if (latencies_ && rows.commit_time && !rows.empty()) {
    const auto now = clock_ ? clock_() : std::chrono::system_clock::now();
    latencies_(std::chrono::duration_cast<std::chrono::nanoseconds>(now - *rows.commit_time));
  }
  // Counted once per transaction (they are read only by metrics()).
  messages_.fetch_add(messages, std::memory_order_relaxed);
  changes_.fetch_add(changes, std::memory_order_relaxed);
  deliveries_.fetch_add(deliveries, std::memory_order_relaxed);
}

hub_sink_metrics hub_sink::metrics() const noexcept {
  return {messages_.load(std::memory_order_relaxed), changes_.load(std::memory_order_relaxed),
          deliveries_.load(std::memory_order_relaxed), gaps_.load(std::memory_order_relaxed),
          views_reset_.load(std::memory_order_relaxed)};
}

}  // namespace rtcache::ingest
