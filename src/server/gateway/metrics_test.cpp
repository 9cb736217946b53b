// The /metrics exposition on prometheus-cpp: every metric the hand-written exposition had is still there with
// its type and labels, the hub and replication state read at scrape time, and the latency histograms.
#include "gateway/metrics.hpp"

#include "gateway/build_info.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace rtcache::gateway {
namespace {

// Every metric and its type as the hand-written exposition (before prometheus-cpp, issue 15) rendered them,
// listed from that code. Each must still be exported with the same name and type.
const std::vector<std::pair<std::string, std::string>> k_hand_written_metrics = {
    {"rtcache_build_info", "gauge"},
    {"rtcache_connections", "gauge"},
    {"rtcache_connections_total", "counter"},
    {"rtcache_connections_refused_total", "counter"},
    {"rtcache_channels", "gauge"},
    {"rtcache_subscriptions", "gauge"},
    {"rtcache_messages_in_total", "counter"},
    {"rtcache_messages_out_total", "counter"},
    {"rtcache_bytes_out_total", "counter"},
    {"rtcache_frames_refused_total", "counter"},
    {"rtcache_queue_overflow_closes_total", "counter"},
    {"rtcache_idle_closes_total", "counter"},
    {"rtcache_auth_refusals_total", "counter"},
    {"rtcache_joins_total", "counter"},
    {"rtcache_joins_refused_total", "counter"},
    {"rtcache_joins_recovered_total", "counter"},
    {"rtcache_events_accepted_total", "counter"},
    {"rtcache_events_refused_total", "counter"},
    {"rtcache_broadcasts_total", "counter"},
    {"rtcache_http_requests_total", "counter"},
    {"rtcache_address_refusals_total", "counter"},
    {"rtcache_connection_addresses", "gauge"},
    {"rtcache_client_broadcasts_refused_total", "counter"},
    {"rtcache_client_broadcasts_limited_total", "counter"},
    {"rtcache_metrics_refusals_total", "counter"},
    {"rtcache_hub_messages_published_total", "counter"},
    {"rtcache_hub_messages_dropped_total", "counter"},
    {"rtcache_hub_deliveries_total", "counter"},
    {"rtcache_hub_history_messages", "gauge"},
    {"rtcache_hub_history_bytes", "gauge"},
    {"rtcache_hub_history_evicted_total", "counter"},
    {"rtcache_hub_idle_channels", "gauge"},
    {"rtcache_hub_idle_history_bytes", "gauge"},
    {"rtcache_hub_channels_expired_total", "counter"},
    {"rtcache_hub_channels_evicted_total", "counter"},
    {"rtcache_hub_views_refused_total", "counter"},
    {"rtcache_replication_connected", "gauge"},
    {"rtcache_replication_received_lsn", "gauge"},
    {"rtcache_replication_confirmed_lsn", "gauge"},
    {"rtcache_replication_lag_bytes", "gauge"},
    {"rtcache_replication_lag_seconds", "gauge"},
    {"rtcache_replication_reconnects_total", "counter"},
    // Added by issue 13 while the move was under way.
    {"rtcache_hub_views_reset_total", "counter"},
    {"rtcache_replication_reader", "gauge"},
    {"rtcache_replication_reader_starts_total", "counter"},
    {"rtcache_replication_sink_stalls_total", "counter"},
    {"rtcache_source_gaps_total", "counter"},  // one series per gap_reason, label `reason`
};

const std::vector<std::string> k_histograms = {"rtcache_replication_commit_to_publish_seconds",
                                               "rtcache_fanout_publish_to_write_seconds", "rtcache_join_reply_seconds"};

// name -> type from the "# TYPE" lines, and the sample lines (name{labels} value) of a text exposition.
struct exposition {
  std::map<std::string, std::string> types;
  std::vector<std::string> samples;

  explicit exposition(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.starts_with("# TYPE ")) {
        std::istringstream t(line.substr(7));
        std::string name;
        std::string type;
        t >> name >> type;
        types[name] = type;
      } else if (!line.empty() && line[0] != '#') {
        samples.push_back(line);
      }
    }
  }
  // The sample lines of series `name` (exact name, any labels).
  std::vector<std::string> series(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& s : samples) {
      if (s.starts_with(name + " ") || s.starts_with(name + "{")) out.push_back(s);
    }
    return out;
  }
};

replication_status a_source() {
  replication_status s;
  s.connected = true;
  s.received_lsn = 0x16B3748;
  s.confirmed_lsn = 0x16B3700;
  s.lag_bytes = 72;
  s.lag_seconds = 0.25;
  s.reconnects = 3;
  return s;
}

// issue 15: the move to prometheus-cpp keeps every name, type and label set.
TEST(PrometheusText, EveryMetricOfTheHandWrittenExpositionIsStillExported) {
  gateway_metrics g;
  hub::hub_metrics h;
  const replication_status s = a_source();
  const exposition e(prometheus_text(g, h, &s));
  for (const auto& [name, type] : k_hand_written_metrics) {
    ASSERT_TRUE(e.types.contains(name)) << name;
    EXPECT_EQ(e.types.at(name), type) << name;
    const auto lines = e.series(name);
    if (name == "rtcache_source_gaps_total") {
      ASSERT_EQ(lines.size(), std::size(routing::k_gap_reasons));
      for (const routing::gap_reason r : routing::k_gap_reasons) {
        EXPECT_NE(std::find(lines.begin(), lines.end(),
                            "rtcache_source_gaps_total{reason=\"" + std::string(to_string(r)) + "\"} 0"),
                  lines.end())
            << to_string(r);
      }
      continue;
    }
    ASSERT_EQ(lines.size(), 1U) << name;
    // Unlabelled, except build_info.
    if (name != "rtcache_build_info") {
      EXPECT_TRUE(lines[0].starts_with(name + " ")) << lines[0];
    }
  }
}

TEST(PrometheusText, ReplicationGaugesAppearOnlyWithASourceStatus) {
  gateway_metrics g;
  hub::hub_metrics h;
  const exposition relay(prometheus_text(g, h));
  for (const auto& [name, type] : k_hand_written_metrics) {
    if (name.starts_with("rtcache_replication_") || name.starts_with("rtcache_source_")) {
      EXPECT_FALSE(relay.types.contains(name)) << name;
    }
  }

  const replication_status s = a_source();
  const std::string text = prometheus_text(g, h, &s);
  EXPECT_NE(text.find("# TYPE rtcache_replication_connected gauge\nrtcache_replication_connected 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("rtcache_replication_received_lsn 23803720\n"), std::string::npos);
  EXPECT_NE(text.find("rtcache_replication_confirmed_lsn 23803648\n"), std::string::npos);
  EXPECT_NE(text.find("rtcache_replication_lag_bytes 72\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE rtcache_replication_lag_seconds gauge\nrtcache_replication_lag_seconds 0.25\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE rtcache_replication_reconnects_total counter\nrtcache_replication_reconnects_total 3\n"),
            std::string::npos);
  EXPECT_FALSE(relay.types.contains("rtcache_source_gaps_total"));
}

// issue 13: whether this process is the slot's reader, how often it took the slot, and how often a stalled sink
// made it give the slot up.
TEST(PrometheusText, TheReaderFlagTakeOversAndSinkStallsAreExposed) {
  gateway_metrics g;
  hub::hub_metrics h;
  replication_status s;
  EXPECT_NE(prometheus_text(g, h, &s).find("# TYPE rtcache_replication_reader gauge\nrtcache_replication_reader 0\n"),
            std::string::npos);
  s.reader = true;
  s.reader_starts = 4;
  s.sink_stalls = 1;
  const std::string text = prometheus_text(g, h, &s);
  EXPECT_NE(text.find("rtcache_replication_reader 1\n"), std::string::npos);
  EXPECT_NE(
      text.find("# TYPE rtcache_replication_reader_starts_total counter\nrtcache_replication_reader_starts_total 4\n"),
      std::string::npos);
  EXPECT_NE(text.find("rtcache_replication_sink_stalls_total 1\n"), std::string::npos);
}

// issue 13, "Metrics": a single node's exposition has no rtcache_cluster_* metric; a cluster node's has each with
// its type and value, and the writer's only when the node has one (with [postgres]).
const std::vector<std::pair<std::string, std::string>> k_cluster_metrics = {
    {"rtcache_cluster_connected", "gauge"},
    {"rtcache_cluster_ready", "gauge"},
    {"rtcache_cluster_last_applied_sequence", "gauge"},
    {"rtcache_cluster_lag_messages", "gauge"},
    {"rtcache_cluster_lag_seconds", "gauge"},
    {"rtcache_cluster_catch_up_seconds", "gauge"},
    {"rtcache_cluster_catch_ups_total", "counter"},
    {"rtcache_cluster_applied_total", "counter"},
    {"rtcache_cluster_published_total", "counter"},
    {"rtcache_cluster_gaps_applied_total", "counter"},
    {"rtcache_cluster_refused_total", "counter"},
    {"rtcache_cluster_replays_dropped_total", "counter"},
    {"rtcache_cluster_losses_total", "counter"},
    {"rtcache_cluster_streams_recreated_total", "counter"},
    {"rtcache_cluster_resume_fetches_total", "counter"},
    {"rtcache_cluster_resume_recovered_total", "counter"},
    {"rtcache_cluster_resume_too_many_total", "counter"},
    {"rtcache_cluster_resume_failed_total", "counter"},
    {"rtcache_cluster_ingest_published_total", "counter"},
    {"rtcache_cluster_ingest_failed_total", "counter"},
    {"rtcache_cluster_blocking_calls", "gauge"},
    {"rtcache_cluster_blocking_refused_total", "counter"},
    {"rtcache_cluster_forgotten_lookups_total", "counter"},
    {"rtcache_cluster_forgotten_lookups_failed_total", "counter"},
};
const std::vector<std::pair<std::string, std::string>> k_cluster_writer_metrics = {
    {"rtcache_cluster_writer_messages_total", "counter"},
    {"rtcache_cluster_writer_records_total", "counter"},
    {"rtcache_cluster_writer_gaps_total", "counter"},
    {"rtcache_cluster_writer_skipped_total", "counter"},
    {"rtcache_cluster_writer_resyncs_total", "counter"},
    {"rtcache_cluster_writers_fenced_total", "counter"},
    {"rtcache_cluster_writer_ingest_items_total", "counter"},
    {"rtcache_cluster_writer_ingest_lost_total", "counter"},
    {"rtcache_cluster_writer_active", "gauge"},
};

TEST(PrometheusText, ClusterMetricsAppearOnlyOnAClusterNode) {
  gateway_metrics g;
  hub::hub_metrics h;
  const replication_status source = a_source();
  for (const std::string& text : {prometheus_text(g, h), prometheus_text(g, h, &source)}) {
    EXPECT_EQ(text.find("rtcache_cluster_"), std::string::npos) << text;
  }
  cluster_status c;
  const exposition without_writer(prometheus_text(g, h, nullptr, &c));
  for (const auto& [name, type] : k_cluster_metrics) {
    ASSERT_TRUE(without_writer.types.contains(name)) << name;
    EXPECT_EQ(without_writer.types.at(name), type) << name;
    EXPECT_EQ(without_writer.series(name), std::vector<std::string>{name + " 0"}) << name;
  }
  for (const auto& [name, type] : k_cluster_writer_metrics) EXPECT_FALSE(without_writer.types.contains(name)) << name;
  ASSERT_TRUE(without_writer.types.contains("rtcache_cluster_stored_to_applied_seconds"));
  EXPECT_EQ(without_writer.types.at("rtcache_cluster_stored_to_applied_seconds"), "histogram");
  EXPECT_EQ(without_writer.series("rtcache_cluster_stored_to_applied_seconds_count"),
            std::vector<std::string>{"rtcache_cluster_stored_to_applied_seconds_count 0"});
  c.writer = true;
  const exposition with_writer(prometheus_text(g, h, nullptr, &c));
  for (const auto& [name, type] : k_cluster_writer_metrics) {
    ASSERT_TRUE(with_writer.types.contains(name)) << name;
    EXPECT_EQ(with_writer.types.at(name), type) << name;
  }
}

TEST(PrometheusText, ClusterMetricsCarryTheNodesValues) {
  gateway_metrics g;
  hub::hub_metrics h;
  cluster_status c;
  c.connected = true;
  c.ready = false;
  c.last_applied = 41;
  c.lag_messages = 7;
  c.lag_seconds = 1.5;
  c.catch_up_seconds = 0.25;
  c.catch_ups = 2;
  c.applied = 41;
  c.published = 30;
  c.gaps = 1;
  c.refused = 3;
  c.replays = 23;
  c.losses = 4;
  c.streams_recreated = 5;
  c.resume_fetches = 6;
  c.resume_recovered = 7;
  c.resume_too_many = 8;
  c.resume_failed = 9;
  c.ingest_published = 17;
  c.ingest_failed = 18;
  c.blocking_calls = 24;
  c.blocking_refused = 25;
  c.forgotten_lookups = 21;
  c.forgotten_lookups_failed = 22;
  c.writer = true;
  c.writer_messages = 11;
  c.writer_records = 12;
  c.writer_gaps = 13;
  c.writer_skipped = 14;
  c.writer_resyncs = 15;
  c.writers_fenced = 16;
  c.writer_ingest_items = 19;
  c.writer_ingest_lost = 20;
  c.writer_active = true;
  prometheus::Histogram delays(
      prometheus::Histogram::BucketBoundaries(k_latency_buckets.begin(), k_latency_buckets.end()));
  for (double d : {0.0007, 0.003, 0.004, 0.2}) delays.Observe(d);
  c.stored_to_applied = delays.Collect().histogram;
  const exposition e(prometheus_text(g, h, nullptr, &c));
  const std::vector<std::string> expected = {
      "rtcache_cluster_connected 1",
      "rtcache_cluster_ready 0",
      "rtcache_cluster_last_applied_sequence 41",
      "rtcache_cluster_lag_messages 7",
      "rtcache_cluster_lag_seconds 1.5",
      "rtcache_cluster_catch_up_seconds 0.25",
      "rtcache_cluster_catch_ups_total 2",
      "rtcache_cluster_applied_total 41",
      "rtcache_cluster_published_total 30",
      "rtcache_cluster_gaps_applied_total 1",
      "rtcache_cluster_refused_total 3",
      "rtcache_cluster_replays_dropped_total 23",
      "rtcache_cluster_losses_total 4",
      "rtcache_cluster_streams_recreated_total 5",
      "rtcache_cluster_resume_fetches_total 6",
      "rtcache_cluster_resume_recovered_total 7",
      "rtcache_cluster_resume_too_many_total 8",
      "rtcache_cluster_resume_failed_total 9",
      "rtcache_cluster_ingest_published_total 17",
      "rtcache_cluster_ingest_failed_total 18",
      "rtcache_cluster_blocking_calls 24",
      "rtcache_cluster_blocking_refused_total 25",
      "rtcache_cluster_forgotten_lookups_total 21",
      "rtcache_cluster_forgotten_lookups_failed_total 22",
      "rtcache_cluster_writer_messages_total 11",
      "rtcache_cluster_writer_records_total 12",
      "rtcache_cluster_writer_gaps_total 13",
      "rtcache_cluster_writer_skipped_total 14",
      "rtcache_cluster_writer_resyncs_total 15",
      "rtcache_cluster_writers_fenced_total 16",
      "rtcache_cluster_writer_ingest_items_total 19",
      "rtcache_cluster_writer_ingest_lost_total 20",
      "rtcache_cluster_writer_active 1",
      "rtcache_cluster_stored_to_applied_seconds_count 4",
      "rtcache_cluster_stored_to_applied_seconds_bucket{le=\"0.0005\"} 0",
      "rtcache_cluster_stored_to_applied_seconds_bucket{le=\"0.001\"} 1",
      "rtcache_cluster_stored_to_applied_seconds_bucket{le=\"0.005\"} 3",
      "rtcache_cluster_stored_to_applied_seconds_bucket{le=\"0.25\"} 4",
      "rtcache_cluster_stored_to_applied_seconds_bucket{le=\"+Inf\"} 4",
  };
  for (const auto& line : expected) {
    EXPECT_NE(std::find(e.samples.begin(), e.samples.end(), line), e.samples.end()) << line;
  }
}

// issue 13: every gap reason is a series of rtcache_source_gaps_total, zeros included, so alerts can use rate().
TEST(PrometheusText, SourceGapsAreCountedPerReason) {
  gateway_metrics g;
  hub::hub_metrics h;
  h.views_reset = 12;
  replication_status s;
  s.gaps[static_cast<std::size_t>(routing::gap_reason::slot_created)] = 2;
  s.gaps[static_cast<std::size_t>(routing::gap_reason::truncate)] = 5;
  const std::string text = prometheus_text(g, h, &s);
  EXPECT_NE(text.find("# TYPE rtcache_source_gaps_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("rtcache_source_gaps_total{reason=\"slot_created\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("rtcache_source_gaps_total{reason=\"truncate\"} 5\n"), std::string::npos);
  for (const routing::gap_reason reason : routing::k_gap_reasons) {
    EXPECT_NE(text.find("rtcache_source_gaps_total{reason=\"" + std::string(to_string(reason)) + "\"}"),
              std::string::npos)
        << to_string(reason);
  }
  EXPECT_NE(text.find("rtcache_hub_views_reset_total 12\n"), std::string::npos);
}

TEST(PrometheusText, HubLingerGaugesAreExposed) {
  gateway_metrics g;
  hub::hub_metrics h;
  h.idle_channels = 4;
  h.idle_history_bytes = 1024;
  h.channels_expired = 9;
  h.channels_evicted = 2;
  h.history_evicted = 17;
  const std::string text = prometheus_text(g, h);
  EXPECT_NE(text.find("rtcache_hub_idle_channels 4\n"), std::string::npos);
  EXPECT_NE(text.find("rtcache_hub_idle_history_bytes 1024\n"), std::string::npos);
  EXPECT_NE(text.find("rtcache_hub_channels_expired_total 9\n"), std::string::npos);
  EXPECT_NE(text.find("rtcache_hub_channels_evicted_total 2\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE rtcache_hub_history_evicted_total counter\nrtcache_hub_history_evicted_total 17\n"),
            std::string::npos);
}

TEST(PrometheusText, CountersAndConnectionGaugesCarryTheirValues) {
  gateway_metrics g;
  hub::hub_metrics h;
  g.connections = 3;
  g.connection_addresses = 2;
  g.joins_total.Increment();
  gateway_metrics::add(g.bytes_out_total, 1234);
  const std::string text = prometheus_text(g, h);
  EXPECT_NE(text.find("\nrtcache_connections 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nrtcache_connection_addresses 2\n"), std::string::npos);
  EXPECT_NE(text.find("\nrtcache_joins_total 1\n"), std::string::npos);
  EXPECT_NE(text.find("\nrtcache_bytes_out_total 1234\n"), std::string::npos);
}

// issue 15: /metrics names the running build, as `rtcache --version` does.
TEST(PrometheusText, BuildInfoNamesVersionAndCommit) {
  gateway_metrics g;
  hub::hub_metrics h;
  const build_info& b = this_build();
  ASSERT_FALSE(b.version.empty());
  ASSERT_FALSE(b.commit.empty());
  const exposition e(prometheus_text(g, h));
  const auto lines = e.series("rtcache_build_info");
  ASSERT_EQ(lines.size(), 1U);
  // prometheus-cpp orders labels by name.
  EXPECT_EQ(lines[0], "rtcache_build_info{commit=\"" + std::string(b.commit) + "\",version=\"" +
                          std::string(b.version) + "\"} 1");
}

// issue 15: the latency histograms, with _bucket (every bound and +Inf), _sum and _count.
TEST(PrometheusText, LatencyHistogramsAreExportedWithBucketsSumAndCount) {
  gateway_metrics g;
  hub::hub_metrics h;
  g.join_reply.Observe(0.003);
  const exposition e(prometheus_text(g, h));
  for (const auto& name : k_histograms) {
    ASSERT_TRUE(e.types.contains(name)) << name;
    EXPECT_EQ(e.types.at(name), "histogram");
    EXPECT_EQ(e.series(name + "_bucket").size(), k_latency_buckets.size() + 1) << name;
    EXPECT_EQ(e.series(name + "_sum").size(), 1U) << name;
    EXPECT_EQ(e.series(name + "_count").size(), 1U) << name;
  }
  const auto buckets = e.series("rtcache_join_reply_seconds_bucket");
  EXPECT_EQ(buckets.front(), "rtcache_join_reply_seconds_bucket{le=\"0.0005\"} 0");
  EXPECT_EQ(buckets.back(), "rtcache_join_reply_seconds_bucket{le=\"+Inf\"} 1");
  EXPECT_EQ(e.series("rtcache_join_reply_seconds_count").front(), "rtcache_join_reply_seconds_count 1");
}

// The histogram's count, sum and cumulative bucket counts.
prometheus::ClientMetric::Histogram collected(const prometheus::Histogram& h) {
  return h.Collect().histogram;
}

TEST(LatencyTally, AddsItsObservationsToTheHistogramAtOnceAndResets) {
  gateway_metrics g;
  latency_tally t;
  t.add(std::chrono::microseconds(300));  // <= 0.5 ms
  t.add(std::chrono::microseconds(500));  // == 0.5 ms: le is inclusive
  t.add(std::chrono::milliseconds(3));    // <= 5 ms
  t.add(std::chrono::seconds(20));        // +Inf
  t.add(-std::chrono::milliseconds(1));   // clock skew: counts as 0
  EXPECT_EQ(t.count(), 5U);
  EXPECT_EQ(collected(g.fanout_publish_to_write).sample_count, 0U);  // nothing until flushed
  t.flush(g.fanout_publish_to_write);
  EXPECT_EQ(t.count(), 0U);
  const auto c = collected(g.fanout_publish_to_write);
  EXPECT_EQ(c.sample_count, 5U);
  EXPECT_NEAR(c.sample_sum, 20.0038, 1e-9);
  ASSERT_EQ(c.bucket.size(), k_latency_buckets.size() + 1);
  EXPECT_EQ(c.bucket[0].cumulative_count, 3U);   // 0.5 ms: 0.3 ms, 0.5 ms and the clamped one
  EXPECT_EQ(c.bucket[2].cumulative_count, 3U);   // 2.5 ms
  EXPECT_EQ(c.bucket[3].cumulative_count, 4U);   // 5 ms
  EXPECT_EQ(c.bucket[13].cumulative_count, 4U);  // 10 s
  EXPECT_EQ(c.bucket[14].cumulative_count, 5U);  // +Inf
  t.flush(g.fanout_publish_to_write);            // empty: adds nothing
  EXPECT_EQ(collected(g.fanout_publish_to_write).sample_count, 5U);
}

// issue 15: the hub_sink's commit-to-publish observations land in rtcache_replication_commit_to_publish_seconds
// (ingest's HubSinkLatency test pins what the sink observes; this pins where the gateway puts it).
TEST(LatencyTally, TheCommitToPublishObserverFillsTheReplicationHistogram) {
  gateway_metrics g;
  const auto observe = commit_to_publish_observer(g);
  observe(std::chrono::milliseconds(40));
  const auto c = collected(g.replication_commit_to_publish);
  EXPECT_EQ(c.sample_count, 1U);
  EXPECT_NEAR(c.sample_sum, 0.040, 1e-9);
  EXPECT_EQ(c.bucket[5].cumulative_count, 0U);  // <= 25 ms
  EXPECT_EQ(c.bucket[6].cumulative_count, 1U);  // <= 50 ms
  EXPECT_EQ(collected(g.fanout_publish_to_write).sample_count, 0U);
}

}  // namespace
}  // namespace rtcache::gateway
