// Routed rows into the hub: contract messages to their channels (with the record attached), records to the
// internal per-table channels.
#include "rtcache/net/hub_sink.hpp"

#include "rtcache/core/event_codec.hpp"
#include "rtcache/net/gateway_relay.hpp"
#include "rtcache/net/mapping.hpp"
#include "state.hpp"

namespace rtcache::net {

std::string postgres_table_channel(std::string_view schema, std::string_view table) {
  std::string out(k_internal_channel_prefix);
  out.append("pg:").append(schema).append(".").append(table);
  return out;
}

bool is_internal_channel(std::string_view name) noexcept {
  return name.starts_with(k_internal_channel_prefix);
}

void hub_sink::publish(routed_rows rows) {
  // A transaction's messages reach each connection as one gathered write when publish() returns.
  const detail::flush_scope batch;
  std::uint64_t deliveries = 0;
  for (const auto& m : rows.messages) {
    // No payload text: with `contract` set the broadcast encoder encodes the event itself, with the channel's
    // offset (encoding it here too cost a second encode per message; docs/benchmarks-wal.md).
    hub_publish_options o;
    o.factory_id = m.event.factory_id;
    o.contract = &m.event;
    o.change = m.change;
    try {
      deliveries += hub_.publish(m.channel.format(), k_invalidate_event, {}, o).subscribers;
    } catch (const core::error_exception&) {
      continue;  // unframeable channel name: that message only
    }
    messages_.fetch_add(1, std::memory_order_relaxed);
  }
  for (const auto& c : rows.changes) {
    if (!c.change) continue;
    hub_publish_options o;
    if (c.factory_id) o.factory_id = *c.factory_id;
    o.change = c.change;
    o.retain = false;
    deliveries += hub_.publish(postgres_table_channel(c.change->schema, c.change->table), "postgres_changes", {}, o)
                      .subscribers;
    changes_.fetch_add(1, std::memory_order_relaxed);
  }
  deliveries_.fetch_add(deliveries, std::memory_order_relaxed);
}

hub_sink_metrics hub_sink::metrics() const noexcept {
  return {messages_.load(std::memory_order_relaxed), changes_.load(std::memory_order_relaxed),
          deliveries_.load(std::memory_order_relaxed)};
}

}  // namespace rtcache::net
