// The gateway's metrics on prometheus-cpp, and their text exposition with the state read at scrape time.
#include "gateway/metrics.hpp"

#include "gateway/build_info.hpp"

#include <algorithm>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>
#include <vector>

namespace rtcache::gateway {

namespace {

prometheus::Counter& counter(prometheus::Registry& r, const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name("rtcache_" + name).Help(help).Register(r).Add({});
}

prometheus::Histogram& histogram(prometheus::Registry& r, const std::string& name, const std::string& help) {
  return prometheus::BuildHistogram()
      .Name("rtcache_" + name)
      .Help(help)
      .Register(r)
      .Add({}, prometheus::Histogram::BucketBoundaries(k_latency_buckets.begin(), k_latency_buckets.end()));
}

// rtcache_build_info{commit,version} 1: which build is running (the usual Prometheus idiom for an info metric).
std::shared_ptr<prometheus::Registry> registry_with_build_info() {
  auto r = std::make_shared<prometheus::Registry>();
  const build_info& b = this_build();
  prometheus::BuildGauge()
      .Name("rtcache_build_info")
      .Help("Version and git commit of the running binary.")
      .Register(*r)
      .Add({{"version", std::string(b.version)}, {"commit", std::string(b.commit)}})
      .Set(1);
  return r;
}

// One unlabelled sample of state read at scrape time.
prometheus::MetricFamily sample(const std::string& name, const std::string& help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return prometheus::MetricFamily{"rtcache_" + name, help, type, {std::move(m)}};
}

double as_double(std::uint64_t v) noexcept {
  return static_cast<double>(v);
}

}  // namespace

void latency_tally::add(std::chrono::nanoseconds d) noexcept {
  const double s = d.count() > 0 ? std::chrono::duration<double>(d).count() : 0.0;
  const auto bound = std::lower_bound(k_latency_buckets.begin(), k_latency_buckets.end(), s);  // first bound >= s
  buckets_[static_cast<std::size_t>(bound - k_latency_buckets.begin())] += 1;
  sum_ += s;
  ++count_;
}

void latency_tally::flush(prometheus::Histogram& h) {
  if (count_ == 0) return;
  // ObserveMultiple takes a std::vector; one per thread, reused, so a flush allocates nothing.
  thread_local std::vector<double> increments;
  increments.assign(buckets_.begin(), buckets_.end());
  h.ObserveMultiple(increments, sum_);
  buckets_.fill(0);
  sum_ = 0;
  count_ = 0;
}

std::function<void(std::chrono::nanoseconds)> commit_to_publish_observer(const gateway_metrics& g) {
  return [&g](std::chrono::nanoseconds d) {
    latency_tally t;
    t.add(d);
    t.flush(g.replication_commit_to_publish);
  };
}

gateway_metrics::gateway_metrics()
    : registry(registry_with_build_info()),
      connections_total(counter(*registry, "connections_total", "WebSocket upgrades accepted.")),
      connections_refused_total(counter(*registry, "connections_refused_total", "WebSocket upgrades refused.")),
      messages_in_total(counter(*registry, "messages_in_total", "WebSocket messages received.")),
      messages_out_total(counter(*registry, "messages_out_total", "WebSocket messages written.")),
      bytes_out_total(counter(*registry, "bytes_out_total", "WebSocket payload bytes written.")),
      frames_refused_total(
          counter(*registry, "frames_refused_total", "Inbound WebSocket messages that failed to decode.")),
      queue_overflow_closes_total(
          counter(*registry, "queue_overflow_closes_total", "Connections closed with 4008 send queue overflow.")),
      idle_closes_total(
          counter(*registry, "idle_closes_total", "Connections dropped by the idle or handshake timeout.")),
      auth_refusals_total(
          counter(*registry, "auth_refusals_total", "Tokens refused (upgrade, join, access_token, REST).")),
      joins_total(counter(*registry, "joins_total", "Channel joins accepted.")),
      joins_refused_total(counter(*registry, "joins_refused_total", "Channel joins refused.")),
      joins_recovered_total(counter(*registry, "joins_recovered_total", "Joins whose resume position was recovered.")),
      events_accepted_total(
          counter(*registry, "events_accepted_total", "Contract events accepted by POST /v1/events.")),
      events_refused_total(
          counter(*registry, "events_refused_total", "Contract event items refused by POST /v1/events.")),
      broadcasts_total(counter(*registry, "broadcasts_total", "Broadcasts published (client and REST).")),
      http_requests_total(counter(*registry, "http_requests_total", "HTTP requests answered (upgrades excluded).")),
      address_refusals_total(
          counter(*registry, "address_refusals_total", "WebSocket upgrades refused by max_connections_per_ip.")),
      client_broadcasts_refused_total(
          counter(*registry, "client_broadcasts_refused_total",
                  "Client broadcasts refused (not allowed, contract channel without a factory, too large).")),
      client_broadcasts_limited_total(counter(*registry, "client_broadcasts_limited_total",
                                              "Client broadcasts over the per-connection rate (the channel is "
                                              "closed).")),
      metrics_refusals_total(
          counter(*registry, "metrics_refusals_total", "GET /metrics refused (bearer token, client address).")),
      replication_commit_to_publish(histogram(*registry, "replication_commit_to_publish_seconds",
                                              "PostgreSQL commit timestamp to the transaction published into the "
                                              "hub, in seconds (wall clocks of two hosts).")),
      fanout_publish_to_write(histogram(*registry, "fanout_publish_to_write_seconds",
                                        "Hub publish to the socket write of the delivered frame completing, in "
                                        "seconds.")),
      join_reply(histogram(*registry, "join_reply_seconds", "phx_join received to its reply written, in seconds.")) {}

std::string prometheus_text(const gateway_metrics& g, const hub::hub_metrics& h, const replication_status* source,
                            const cluster_status* cluster) {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> families = g.registry->Collect();
  const auto conns = g.connections.load(std::memory_order_relaxed);
  const auto addresses = g.connection_addresses.load(std::memory_order_relaxed);
  const auto gauge = MetricType::Gauge;
  const auto counter_type = MetricType::Counter;
  families.push_back(
      sample("connections", "Open WebSocket connections.", gauge, conns < 0 ? 0.0 : static_cast<double>(conns)));
  families.push_back(sample("connection_addresses", "Client addresses (IPv6: /64 prefixes) with open WebSockets.",
                            gauge, addresses < 0 ? 0.0 : static_cast<double>(addresses)));
  families.push_back(sample("channels", "Hub channel views alive (a doc channel has one per factory scope).", gauge,
                            as_double(h.channels)));
  families.push_back(sample("subscriptions", "Hub subscriptions (joined channels over all connections).", gauge,
                            as_double(h.subscribers)));
  families.push_back(sample("hub_messages_published_total", "Messages published into the hub (each encoded once).",
                            counter_type, as_double(h.messages_published)));
  families.push_back(sample("hub_messages_dropped_total", "Publishes to channels without subscribers.", counter_type,
                            as_double(h.messages_dropped)));
  families.push_back(
      sample("hub_deliveries_total", "Hub deliveries to subscriptions.", counter_type, as_double(h.deliveries)));
  families.push_back(
      sample("hub_history_messages", "Messages held in channel histories.", gauge, as_double(h.history_messages)));
  families.push_back(sample("hub_history_bytes", "Bytes (frames and attached records) held in channel histories.",
                            gauge, as_double(h.history_bytes)));
  families.push_back(sample("hub_history_evicted_total",
                            "Retained messages evicted by the budget over all histories (max_total_history_bytes).",
                            counter_type, as_double(h.history_evicted)));
  families.push_back(sample("hub_idle_channels", "Channels without subscribers kept for their linger.", gauge,
                            as_double(h.idle_channels)));
  families.push_back(sample("hub_idle_history_bytes", "Bytes held in idle channels' histories.", gauge,
                            as_double(h.idle_history_bytes)));
  families.push_back(sample("hub_channels_expired_total", "Idle channels freed after their linger.", counter_type,
                            as_double(h.channels_expired)));
  families.push_back(sample("hub_channels_evicted_total",
                            "Idle channels freed early (idle byte and count budgets, views per channel).", counter_type,
                            as_double(h.channels_evicted)));
  families.push_back(sample("hub_views_refused_total", "Joins refused by max_views_per_channel.", counter_type,
                            as_double(h.views_refused)));
  families.push_back(sample("hub_views_reset_total",
                            "Channel views started over by a gap in the source (new epoch; idle ones freed).",
                            counter_type, as_double(h.views_reset)));
  if (source != nullptr) {
    families.push_back(sample("replication_connected", "1 while the PostgreSQL source is streaming.", gauge,
                              source->connected ? 1.0 : 0.0));
    families.push_back(sample("replication_received_lsn", "WAL position of the last XLogData received.", gauge,
                              as_double(source->received_lsn)));
    families.push_back(sample("replication_confirmed_lsn", "WAL position confirmed to PostgreSQL.", gauge,
                              as_double(source->confirmed_lsn)));
    families.push_back(sample("replication_lag_bytes", "Server WAL end minus the confirmed position.", gauge,
                              as_double(source->lag_bytes)));
    families.push_back(
        sample("replication_lag_seconds", "Age of the last commit received while behind.", gauge, source->lag_seconds));
    families.push_back(sample("replication_reconnects_total", "Source connection attempts after the first.",
                              counter_type, as_double(source->reconnects)));
    families.push_back(sample("replication_reader",
                              "1 while this process holds the replication slot; 0 on a standby (another "
                              "process streams it).",
                              gauge, source->reader ? 1.0 : 0.0));
    families.push_back(sample("replication_reader_starts_total",
                              "Times this process took the replication slot and started streaming (take-overs "
                              "included).",
                              counter_type, as_double(source->reader_starts)));
    families.push_back(sample("replication_sink_stalls_total",
                              "Times the source gave up the slot because its sink made nothing durable for "
                              "publish_stall_ms.",
                              counter_type, as_double(source->sink_stalls)));
    prometheus::MetricFamily gaps{"rtcache_source_gaps_total",
                                  "Gaps the PostgreSQL source could not bridge, by reason: the channels they touch "
                                  "started new epochs and their clients refetch.",
                                  counter_type,
                                  {}};
    for (const routing::gap_reason reason : routing::k_gap_reasons) {
      prometheus::ClientMetric m;
      m.label.push_back({"reason", std::string(to_string(reason))});
      m.counter.value = as_double(source->gaps[static_cast<std::size_t>(reason)]);
      gaps.metric.push_back(std::move(m));
    }
    families.push_back(std::move(gaps));
  }
  if (cluster != nullptr) {
    const cluster_status& c = *cluster;
    families.push_back(
        sample("cluster_connected", "1 while the node's NATS connection is up.", gauge, c.connected ? 1.0 : 0.0));
    families.push_back(sample("cluster_ready",
                              "1 while the node is connected and caught up with the stream since its start or last "
                              "reconnect (/readyz answers 200); joins wait for it.",
                              gauge, c.ready ? 1.0 : 0.0));
    families.push_back(sample("cluster_last_applied_sequence", "Stream sequence of the last message the node applied.",
                              gauge, as_double(c.last_applied)));
    families.push_back(sample("cluster_lag_messages",
                              "Stream messages the server still had to deliver to the node when it applied the last "
                              "one.",
                              gauge, as_double(c.lag_messages)));
    families.push_back(sample("cluster_lag_seconds",
                              "0 while the node is ready; otherwise seconds since it stopped being ready (its start, "
                              "a NATS cut or reconnect).",
                              gauge, c.lag_seconds));
    {
      prometheus::ClientMetric m;
      m.histogram = c.stored_to_applied;
      families.push_back(prometheus::MetricFamily{
          "rtcache_cluster_stored_to_applied_seconds",
          "JetStream storing a stream message to this node applying it (its hub publish), in seconds (wall clocks "
          "of the nats-server host and this node).",
          prometheus::MetricType::Histogram,
          {std::move(m)}});
    }
    families.push_back(sample("cluster_catch_up_seconds",
                              "Seconds from the node's last start or reconnect to caught up with the stream (0 before "
                              "the first catch-up).",
                              gauge, c.catch_up_seconds));
    families.push_back(sample("cluster_catch_ups_total", "Times the node became ready (its start's included).",
                              counter_type, as_double(c.catch_ups)));
    families.push_back(sample("cluster_applied_total",
                              "Stream messages the node took in order (refused ones included).", counter_type,
                              as_double(c.applied)));
    families.push_back(sample("cluster_published_total", "Channel messages the node's applier published into its hub.",
                              counter_type, as_double(c.published)));
    families.push_back(sample("cluster_gaps_applied_total",
                              "Gap markers the node applied (the channels they touch started new epochs).",
                              counter_type, as_double(c.gaps)));
    families.push_back(sample("cluster_refused_total", "Stream messages that did not decode, skipped by the node.",
                              counter_type, as_double(c.refused)));
    families.push_back(sample("cluster_replays_dropped_total",
                              "Stream messages repeating a WAL or relay message the node applied before, dropped "
                              "(the writer let a replay into the stream).",
                              counter_type, as_double(c.replays)));
    families.push_back(sample("cluster_losses_total",
                              "Times the stream dropped messages before the node applied them (every view started "
                              "over).",
                              counter_type, as_double(c.losses)));
    families.push_back(sample("cluster_streams_recreated_total",
                              "Times the stream was deleted and created again under the node (every view started "
                              "over).",
                              counter_type, as_double(c.streams_recreated)));
    families.push_back(sample("cluster_resume_fetches_total",
                              "Joins whose resume the node's hub could not answer (it held no such view), so the "
                              "view's messages were fetched from the stream.",
                              counter_type, as_double(c.resume_fetches)));
    families.push_back(sample("cluster_resume_recovered_total",
                              "Joins answered recovered:true from messages fetched from the stream.", counter_type,
                              as_double(c.resume_recovered)));
    families.push_back(sample("cluster_resume_too_many_total",
                              "Resume fetches refused (recovered:false): the view's messages in the stream were more "
                              "than the bound.",
                              counter_type, as_double(c.resume_too_many)));
    families.push_back(sample("cluster_resume_failed_total",
                              "Resume fetches that failed or timed out, or raced the node starting over "
                              "(recovered:false).",
                              counter_type, as_double(c.resume_failed)));
    families.push_back(sample("cluster_forgotten_lookups_total",
                              "Channels the node's book forgot (its bound of 100,000) looked up in the stream before "
                              "their next message.",
                              counter_type, as_double(c.forgotten_lookups)));
    families.push_back(sample("cluster_forgotten_lookups_failed_total",
                              "Of those, lookups that failed or timed out: the message was applied without them.",
                              counter_type, as_double(c.forgotten_lookups_failed)));
    families.push_back(sample("cluster_ingest_published_total",
                              "Relay ingest messages (POST /v1/events, REST and client broadcasts) this node published "
                              "to the ingest stream, acknowledged by JetStream.",
                              counter_type, as_double(c.ingest_published)));
    families.push_back(sample("cluster_ingest_failed_total",
                              "Relay ingest messages this node could not publish to the ingest stream (cut from NATS, "
                              "not acknowledged in time, refused): their requests were answered 503 or an error.",
                              counter_type, as_double(c.ingest_failed)));
    families.push_back(sample("cluster_blocking_calls",
                              "Calls that may wait on NATS (joins resuming by a range fetch, relay ingest) admitted to "
                              "the node's blocking threads and not finished.",
                              gauge, as_double(c.blocking_calls)));
    families.push_back(sample("cluster_blocking_refused_total",
                              "Such calls refused at [cluster] max_blocking_calls: joins refused busy (the client "
                              "retries), relay ingest answered 503.",
                              counter_type, as_double(c.blocking_refused)));
    if (c.writer) {
      families.push_back(
          sample("cluster_writer_messages_total",
                 "Channel messages of the WAL this node's writer published to the stream (while it read the WAL).",
                 counter_type, as_double(c.writer_messages)));
      families.push_back(sample("cluster_writer_records_total",
                                "postgres_changes records this node's writer published.", counter_type,
                                as_double(c.writer_records)));
      families.push_back(sample("cluster_writer_gaps_total", "Gap markers this node's writer published.", counter_type,
                                as_double(c.writer_gaps)));
      families.push_back(sample("cluster_writer_skipped_total",
                                "Replayed messages this node's writer did not publish again because the stream "
                                "already held them (de-duplicated publishes).",
                                counter_type, as_double(c.writer_skipped)));
      families.push_back(sample("cluster_writer_resyncs_total",
                                "Times this node's writer started from the stream's tail (the first included).",
                                counter_type, as_double(c.writer_resyncs)));
      families.push_back(
          sample("cluster_writer_active",
                 "1 while this node's writer writes the stream (it holds the replication slot, or without "
                 "[postgres] the writer lease); 0 while it stands by.",
                 gauge, c.writer_active ? 1.0 : 0.0));
      families.push_back(
          sample("cluster_writer_ingest_items_total",
                 "Relay ingest items this node's writer republished from the ingest stream into the stream.",
                 counter_type, as_double(c.writer_ingest_items)));
      families.push_back(
          sample("cluster_writer_ingest_lost_total",
                 "Ingest messages that left the ingest stream before this node's writer republished them "
                 "(each run a gap marker: every contract channel starts over).",
                 counter_type, as_double(c.writer_ingest_lost)));
      families.push_back(sample("cluster_writers_fenced_total",
                                "This node's writers found fenced (another writer appended to the stream) and "
                                "replaced.",
                                counter_type, as_double(c.writers_fenced)));
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace rtcache::gateway
