// The /metrics exposition: hub linger gauges, and the replication gauges present only with a source.
#include "rtcache/net/build_info.hpp"
#include "rtcache/net/gateway_metrics.hpp"

#include <gtest/gtest.h>

namespace rtcache::net {
namespace {

TEST(PrometheusText, ReplicationGaugesAppearOnlyWithASourceStatus) {
  gateway_metrics g;
  hub_metrics h;
  const std::string relay = prometheus_text(g, h);
  EXPECT_EQ(relay.find("rtcache_replication_"), std::string::npos);

  replication_status s;
  s.connected = true;
  s.received_lsn = 0x16B3748;
  s.confirmed_lsn = 0x16B3700;
  s.lag_bytes = 72;
  s.lag_seconds = 0.25;
  s.reconnects = 3;
  const std::string text = prometheus_text(g, h, &s);
  EXPECT_NE(text.find("# TYPE rtcache_replication_connected gauge\nrtcache_replication_connected 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("rtcache_replication_received_lsn 23803720\n"), std::string::npos);
  EXPECT_NE(text.find("rtcache_replication_confirmed_lsn 23803648\n"), std::string::npos);
  EXPECT_NE(text.find("rtcache_replication_lag_bytes 72\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE rtcache_replication_lag_seconds gauge\nrtcache_replication_lag_seconds 0.25\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE rtcache_replication_reconnects_total counter\nrtcache_replication_reconnects_total 3\n"),
            std::string::npos);
  EXPECT_EQ(relay.find("rtcache_source_gaps_total"), std::string::npos);
}

// issue 13: whether this process is the slot's reader, how often it took the slot, and how often a stalled sink
// made it give the slot up.
TEST(PrometheusText, TheReaderFlagTakeOversAndSinkStallsAreExposed) {
  gateway_metrics g;
  hub_metrics h;
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

// issue 13: every gap reason is a series of rtcache_source_gaps_total, zeros included, so alerts can use rate().
TEST(PrometheusText, SourceGapsAreCountedPerReason) {
  gateway_metrics g;
  hub_metrics h;
  h.views_reset = 12;
  replication_status s;
  s.gaps[static_cast<std::size_t>(gap_reason::slot_created)] = 2;
  s.gaps[static_cast<std::size_t>(gap_reason::truncate)] = 5;
  const std::string text = prometheus_text(g, h, &s);
  EXPECT_NE(text.find("# TYPE rtcache_source_gaps_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("rtcache_source_gaps_total{reason=\"slot_created\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("rtcache_source_gaps_total{reason=\"truncate\"} 5\n"), std::string::npos);
  for (const gap_reason reason : k_gap_reasons) {
    EXPECT_NE(text.find("rtcache_source_gaps_total{reason=\"" + std::string(to_string(reason)) + "\"}"),
              std::string::npos)
        << to_string(reason);
  }
  EXPECT_NE(text.find("rtcache_hub_views_reset_total 12\n"), std::string::npos);
}

TEST(PrometheusText, HubLingerGaugesAreExposed) {
  gateway_metrics g;
  hub_metrics h;
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

// issue 15: /metrics names the running build, as `rtcache --version` does.
TEST(PrometheusText, BuildInfoNamesVersionAndCommit) {
  gateway_metrics g;
  hub_metrics h;
  const build_info& b = this_build();
  ASSERT_FALSE(b.version.empty());
  ASSERT_FALSE(b.commit.empty());
  const std::string line =
      "rtcache_build_info{version=\"" + std::string(b.version) + "\",commit=\"" + std::string(b.commit) + "\"} 1\n";
  const std::string text = prometheus_text(g, h);
  EXPECT_NE(text.find("# TYPE rtcache_build_info gauge\n" + line), std::string::npos) << text.substr(0, 300);
}

}  // namespace
}  // namespace rtcache::net
