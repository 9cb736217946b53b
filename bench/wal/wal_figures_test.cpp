// The WAL benchmark's arithmetic and report: the ratio is rtcache's row rate over PostgreSQL's, unknown
// durations give 0 rather than a division by zero, and every figure the docs quote is printed.
#include "wal_figures.hpp"

#include <gtest/gtest.h>

#include <string>

namespace rtcache::bench {
namespace {

using std::chrono::milliseconds;

wal_figures sample() {
  wal_figures f;
  f.row_changes = 300'000;
  f.transactions = 4'000;
  f.pg_messages = 308'000;
  f.pg_wall = milliseconds(600);  // 500,000 changes/s
  f.rt_rows = 300'000;
  f.rt_wall = milliseconds(1'200);  // 250,000 changes/s
  f.rt_streaming = milliseconds(1'000);
  f.rt_events = 900'000;
  f.null_rows = 300'000;
  f.null_wall = milliseconds(1'000);    // 300,000 changes/s
  f.walsender_cpu = milliseconds(750);  // 400,000 changes/s on a core of its own
  return f;
}

TEST(WalFigures, PerSecondDividesCountBySeconds) {
  EXPECT_DOUBLE_EQ(per_second(300'000, milliseconds(600)), 500'000.0);
  EXPECT_DOUBLE_EQ(per_second(7, milliseconds(0)), 0.0);
  EXPECT_DOUBLE_EQ(per_second(7, milliseconds(-5)), 0.0);
}

TEST(WalFigures, RatioIsRtcacheRowRateOverPostgresRate) {
  EXPECT_DOUBLE_EQ(rate_ratio(sample()), 0.5);
  wal_figures slower = sample();
  slower.rt_rows = 150'000;  // half the rows in the same time: half the rate
  EXPECT_DOUBLE_EQ(rate_ratio(slower), 0.25);
}

TEST(WalFigures, RatioIsZeroWhenEitherSideIsUnmeasured) {
  wal_figures f = sample();
  f.pg_wall = milliseconds(0);
  EXPECT_DOUBLE_EQ(rate_ratio(f), 0.0);
  f = sample();
  f.rt_rows = 0;
  EXPECT_DOUBLE_EQ(rate_ratio(f), 0.0);
}

TEST(WalFigures, NullConsumerIsComparedWithPostgresAndWithRtcache) {
  EXPECT_DOUBLE_EQ(null_ratio(sample()), 0.6);
  EXPECT_NEAR(ceiling_ratio(sample()), 250'000.0 / 300'000.0, 1e-12);
  wal_figures f = sample();
  f.null_wall = milliseconds(0);
  EXPECT_DOUBLE_EQ(null_ratio(f), 0.0);
  EXPECT_DOUBLE_EQ(ceiling_ratio(f), 0.0);
}

TEST(WalFigures, WalsenderBoundIsRowsOverTheWalsendersCpu) {
  EXPECT_DOUBLE_EQ(walsender_bound_rate(sample()), 400'000.0);
  wal_figures f = sample();
  f.walsender_cpu = milliseconds(0);  // not measured
  EXPECT_DOUBLE_EQ(walsender_bound_rate(f), 0.0);
  const std::string report = format_figures(f);
  EXPECT_NE(report.find("ratio_walsender_bound_to_pg 0.0 %\n"), std::string::npos) << report;
}

TEST(WalFigures, ReportPrintsBothRatesAndTheRatio) {
  const std::string report = format_figures(sample());
  EXPECT_NE(report.find("pg_decode_rate 500000 changes/s\n"), std::string::npos) << report;
  EXPECT_NE(report.find("rtcache_rate 250000 changes/s\n"), std::string::npos) << report;
  EXPECT_NE(report.find("rtcache_streaming_rate 300000 changes/s\n"), std::string::npos) << report;
  EXPECT_NE(report.find("rtcache_event_rate 750000 events/s\n"), std::string::npos) << report;
  EXPECT_NE(report.find("ratio_rtcache_to_pg 50.0 %\n"), std::string::npos) << report;
  EXPECT_NE(report.find("workload_row_changes 300000 changes\n"), std::string::npos) << report;
  EXPECT_NE(report.find("null_consumer_rate 300000 changes/s\n"), std::string::npos) << report;
  EXPECT_NE(report.find("ratio_null_consumer_to_pg 60.0 %\n"), std::string::npos) << report;
  EXPECT_NE(report.find("ratio_rtcache_to_null_consumer 83.3 %\n"), std::string::npos) << report;
  EXPECT_NE(report.find("walsender_bound_rate 400000 changes/s\n"), std::string::npos) << report;
  EXPECT_NE(report.find("ratio_walsender_bound_to_pg 80.0 %\n"), std::string::npos) << report;
}

}  // namespace
}  // namespace rtcache::bench
