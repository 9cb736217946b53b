// Internal to the gateway: the latencies a completed write ends. A live hub delivery's frame is timed from the
// hub's publish (rtcache_fanout_publish_to_write_seconds), a join reply from the join's receipt
// (rtcache_join_reply_seconds); out_frame::latency says which. Tallied per write without a lock, then added to
// the histograms once per write. Pure: the caller passes the write's completion time.
#pragma once

#include "gateway/metrics.hpp"
#include "out_frame.hpp"

#include <chrono>
#include <vector>

namespace rtcache::gateway {

struct write_latencies {
  latency_tally fanout;
  latency_tally join_reply;

  // Adds the tallies to g's histograms (one lock each when non-empty) and resets them.
  void flush(const gateway_metrics& g) {
    fanout.flush(g.fanout_publish_to_write);
    join_reply.flush(g.join_reply);
  }
};

// Tallies the timed frames of `batch`, whose write completed at `now`.
inline void tally_written(const std::vector<out_frame>& batch, std::chrono::steady_clock::time_point now,
                          write_latencies& into) noexcept {
  for (const out_frame& f : batch) {
    switch (f.latency) {
      case out_frame::timed::no: break;
      case out_frame::timed::delivery: into.fanout.add(now - f.since); break;
      case out_frame::timed::join_reply: into.join_reply.add(now - f.since); break;
    }
  }
}

}  // namespace rtcache::gateway
