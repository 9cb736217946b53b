// Prometheus text exposition of the gateway's and the hub's counters.
#include "rtcache/net/build_info.hpp"
#include "rtcache/net/gateway_metrics.hpp"

#include <cstdio>

namespace rtcache::net {

namespace {

void metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            std::uint64_t value) {
  out.append("# HELP rtcache_").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE rtcache_").append(name).append(" ").append(type).append("\n");
  out.append("rtcache_").append(name).append(" ").append(std::to_string(value)).append("\n");
}

void metric_double(std::string& out, std::string_view name, std::string_view help, double value) {
  char buf[64];
  const int n = std::snprintf(buf, sizeof buf, "%.6g", value);
  out.append("# HELP rtcache_").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE rtcache_").append(name).append(" gauge\n");
  out.append("rtcache_").append(name).append(" ").append(buf, static_cast<std::size_t>(n > 0 ? n : 0)).append("\n");
}

// A label value as the exposition format quotes it: backslash, double quote and newline escaped.
void label_value(std::string& out, std::string_view v) {
  for (const char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
}

// rtcache_build_info{version,commit} 1: which build is running (the usual Prometheus idiom for an info metric).
void build_info_metric(std::string& out) {
  const build_info& b = this_build();
  out.append("# HELP rtcache_build_info Version and git commit of the running binary.\n");
  out.append("# TYPE rtcache_build_info gauge\n");
  out.append("rtcache_build_info{version=\"");
  label_value(out, b.version);
  out.append("\",commit=\"");
  label_value(out, b.commit);
  out.append("\"} 1\n");
}

std::uint64_t load(const std::atomic<std::uint64_t>& c) noexcept {
  return c.load(std::memory_order_relaxed);
}

}  // namespace

std::string prometheus_text(const gateway_metrics& g, const hub_metrics& h, const replication_status* source) {
  std::string out;
  out.reserve(4096);
  build_info_metric(out);
  const auto conns = g.connections.load(std::memory_order_relaxed);
  metric(out, "connections", "gauge", "Open WebSocket connections.", conns < 0 ? 0 : static_cast<std::uint64_t>(conns));
  metric(out, "connections_total", "counter", "WebSocket upgrades accepted.", load(g.connections_total));
  metric(out, "connections_refused_total", "counter", "WebSocket upgrades refused.", load(g.connections_refused_total));
  metric(out, "channels", "gauge", "Hub channel views alive (a doc channel has one per factory scope).", h.channels);
  metric(out, "subscriptions", "gauge", "Hub subscriptions (joined channels over all connections).", h.subscribers);
  metric(out, "messages_in_total", "counter", "WebSocket messages received.", load(g.messages_in_total));
  metric(out, "messages_out_total", "counter", "WebSocket messages written.", load(g.messages_out_total));
  metric(out, "bytes_out_total", "counter", "WebSocket payload bytes written.", load(g.bytes_out_total));
  metric(out, "frames_refused_total", "counter", "Inbound WebSocket messages that failed to decode.",
         load(g.frames_refused_total));
  metric(out, "queue_overflow_closes_total", "counter", "Connections closed with 4008 send queue overflow.",
         load(g.queue_overflow_closes_total));
  metric(out, "idle_closes_total", "counter", "Connections dropped by the idle or handshake timeout.",
         load(g.idle_closes_total));
  metric(out, "auth_refusals_total", "counter", "Tokens refused (upgrade, join, access_token, REST).",
         load(g.auth_refusals_total));
  metric(out, "joins_total", "counter", "Channel joins accepted.", load(g.joins_total));
  metric(out, "joins_refused_total", "counter", "Channel joins refused.", load(g.joins_refused_total));
  metric(out, "joins_recovered_total", "counter", "Joins whose resume position was recovered.",
         load(g.joins_recovered_total));
  metric(out, "events_accepted_total", "counter", "Contract events accepted by POST /v1/events.",
         load(g.events_accepted_total));
  metric(out, "events_refused_total", "counter", "Contract event items refused by POST /v1/events.",
         load(g.events_refused_total));
  metric(out, "broadcasts_total", "counter", "Broadcasts published (client and REST).", load(g.broadcasts_total));
  metric(out, "http_requests_total", "counter", "HTTP requests answered (upgrades excluded).",
         load(g.http_requests_total));
  metric(out, "address_refusals_total", "counter", "WebSocket upgrades refused by max_connections_per_ip.",
         load(g.address_refusals_total));
  const auto addresses = g.connection_addresses.load(std::memory_order_relaxed);
  metric(out, "connection_addresses", "gauge", "Client addresses (IPv6: /64 prefixes) with open WebSockets.",
         addresses < 0 ? 0 : static_cast<std::uint64_t>(addresses));
  metric(out, "client_broadcasts_refused_total", "counter",
         "Client broadcasts refused (not allowed, contract channel without a factory, too large).",
         load(g.client_broadcasts_refused_total));
  metric(out, "client_broadcasts_limited_total", "counter",
         "Client broadcasts over the per-connection rate (the channel is closed).",
         load(g.client_broadcasts_limited_total));
  metric(out, "metrics_refusals_total", "counter", "GET /metrics refused (bearer token, client address).",
         load(g.metrics_refusals_total));
  metric(out, "hub_messages_published_total", "counter", "Messages published into the hub (each encoded once).",
         h.messages_published);
  metric(out, "hub_messages_dropped_total", "counter", "Publishes to channels without subscribers.",
         h.messages_dropped);
  metric(out, "hub_deliveries_total", "counter", "Hub deliveries to subscriptions.", h.deliveries);
  metric(out, "hub_history_messages", "gauge", "Messages held in channel histories.", h.history_messages);
  metric(out, "hub_history_bytes", "gauge", "Bytes (frames and attached records) held in channel histories.",
         h.history_bytes);
  metric(out, "hub_history_evicted_total", "counter",
         "Retained messages evicted by the budget over all histories (max_total_history_bytes).", h.history_evicted);
  metric(out, "hub_idle_channels", "gauge", "Channels without subscribers kept for their linger.", h.idle_channels);
  metric(out, "hub_idle_history_bytes", "gauge", "Bytes held in idle channels' histories.",
         h.idle_history_bytes);
  metric(out, "hub_channels_expired_total", "counter", "Idle channels freed after their linger.", h.channels_expired);
  metric(out, "hub_channels_evicted_total", "counter",
         "Idle channels freed early (idle byte and count budgets, views per channel).", h.channels_evicted);
  metric(out, "hub_views_refused_total", "counter", "Joins refused by max_views_per_channel.", h.views_refused);
  metric(out, "hub_views_reset_total", "counter",
         "Channel views started over by a gap in the source (new epoch; idle ones freed).", h.views_reset);
  if (source != nullptr) {
    metric(out, "replication_connected", "gauge", "1 while the PostgreSQL source is streaming.",
           source->connected ? 1 : 0);
    metric(out, "replication_received_lsn", "gauge", "WAL position of the last XLogData received.",
           source->received_lsn);
    metric(out, "replication_confirmed_lsn", "gauge", "WAL position confirmed to PostgreSQL.",
           source->confirmed_lsn);
    metric(out, "replication_lag_bytes", "gauge", "Server WAL end minus the confirmed position.", source->lag_bytes);
    metric_double(out, "replication_lag_seconds", "Age of the last commit received while behind.",
                  source->lag_seconds);
    metric(out, "replication_reconnects_total", "counter", "Source connection attempts after the first.",
           source->reconnects);
    metric(out, "replication_reader", "gauge",
           "1 while this process holds the replication slot; 0 on a standby (another process streams it).",
           source->reader ? 1 : 0);
    metric(out, "replication_reader_starts_total", "counter",
           "Times this process took the replication slot and started streaming (take-overs included).",
           source->reader_starts);
    metric(out, "replication_sink_stalls_total", "counter",
           "Times the source gave up the slot because its sink made nothing durable for publish_stall_ms.",
           source->sink_stalls);
    out.append("# HELP rtcache_source_gaps_total Gaps the PostgreSQL source could not bridge, by reason: the "
               "channels they touch started new epochs and their clients refetch.\n");
    out.append("# TYPE rtcache_source_gaps_total counter\n");
    for (const gap_reason reason : k_gap_reasons) {
      out.append("rtcache_source_gaps_total{reason=\"").append(to_string(reason)).append("\"} ");
      out.append(std::to_string(source->gaps[static_cast<std::size_t>(reason)])).append("\n");
    }
  }
  return out;
}

}  // namespace rtcache::net
