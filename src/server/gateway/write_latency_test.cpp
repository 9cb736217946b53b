// The latencies a completed write ends: live deliveries from their publish, join replies from the join.
#include "write_latency.hpp"

#include <gtest/gtest.h>

namespace rtcache::gateway {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

out_frame timed(out_frame::timed kind, steady::time_point since) {
  out_frame f = out_frame::text("x");
  f.latency = kind;
  f.since = since;
  return f;
}

// issue 15: hub publish -> socket write and phx_join -> reply written, each into its own histogram.
TEST(WriteLatency, DeliveriesAndJoinRepliesAreTimedFromTheirStartWhenTheWriteCompletes) {
  const steady::time_point t0{std::chrono::seconds(100)};  // a manual clock
  std::vector<out_frame> batch;
  batch.push_back(timed(out_frame::timed::delivery, t0));
  batch.push_back(timed(out_frame::timed::join_reply, t0 + 10ms));
  batch.push_back(timed(out_frame::timed::delivery, t0 + 18ms));
  batch.push_back(timed(out_frame::timed::no, t0));  // a push or a replayed message: not timed
  write_latencies l;
  tally_written(batch, t0 + 20ms, l);
  EXPECT_EQ(l.fanout.count(), 2U);
  EXPECT_NEAR(l.fanout.sum_seconds(), 0.022, 1e-12);
  EXPECT_EQ(l.join_reply.count(), 1U);
  EXPECT_NEAR(l.join_reply.sum_seconds(), 0.010, 1e-12);

  gateway_metrics g;
  l.flush(g);
  const auto fanout = g.fanout_publish_to_write.Collect().histogram;
  EXPECT_EQ(fanout.sample_count, 2U);
  EXPECT_NEAR(fanout.sample_sum, 0.022, 1e-12);
  EXPECT_EQ(fanout.bucket[2].cumulative_count, 1U);  // <= 2.5 ms: the 2 ms one
  EXPECT_EQ(fanout.bucket[5].cumulative_count, 2U);  // <= 25 ms: the 20 ms one
  const auto join = g.join_reply.Collect().histogram;
  EXPECT_EQ(join.sample_count, 1U);
  EXPECT_NEAR(join.sample_sum, 0.010, 1e-12);
  EXPECT_EQ(g.replication_commit_to_publish.Collect().histogram.sample_count, 0U);
}

}  // namespace
}  // namespace rtcache::gateway
