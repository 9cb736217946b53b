// The gateway's counters and their Prometheus text exposition (GET /metrics). Counters are relaxed atomics:
// each is exact on its own; a scrape is not one atomic snapshot.
#pragma once

#include "rtcache/net/hub.hpp"
#include "rtcache/net/routed_sink.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace rtcache::net {

// Thread-safety: every member may be read and incremented concurrently.
struct gateway_metrics {
  std::atomic<std::int64_t> connections{0};                       // open WebSocket connections (gauge)
  std::atomic<std::uint64_t> connections_total{0};                // accepted WebSocket upgrades
  std::atomic<std::uint64_t> connections_refused_total{0};        // upgrades refused (auth, limits, bad vsn)
  std::atomic<std::uint64_t> messages_in_total{0};                // WebSocket messages received
  std::atomic<std::uint64_t> messages_out_total{0};               // WebSocket messages written
  std::atomic<std::uint64_t> bytes_out_total{0};                  // WebSocket payload bytes written
  std::atomic<std::uint64_t> frames_refused_total{0};             // inbound messages that failed to decode
  std::atomic<std::uint64_t> queue_overflow_closes_total{0};      // connections closed with 4008
  std::atomic<std::uint64_t> idle_closes_total{0};                // connections dropped by the idle/handshake timeout
  std::atomic<std::uint64_t> auth_refusals_total{0};              // refused tokens: upgrade, join, access_token, REST
  std::atomic<std::uint64_t> joins_total{0};                      // successful phx_join
  std::atomic<std::uint64_t> joins_refused_total{0};              // refused phx_join (auth, scope, limits, syntax)
  std::atomic<std::uint64_t> joins_recovered_total{0};            // joins whose resume position was recovered
  std::atomic<std::uint64_t> events_accepted_total{0};            // contract events accepted by POST /v1/events
  std::atomic<std::uint64_t> events_refused_total{0};             // items refused by POST /v1/events
  std::atomic<std::uint64_t> broadcasts_total{0};                 // broadcasts published (client and REST)
  std::atomic<std::uint64_t> http_requests_total{0};              // HTTP requests answered (upgrades excluded)
  std::atomic<std::uint64_t> address_refusals_total{0};           // upgrades refused by limits.max_connections_per_ip
  std::atomic<std::int64_t> connection_addresses{0};              // client addresses (IPv6: /64s) with open WebSockets
  std::atomic<std::uint64_t> client_broadcasts_refused_total{0};  // client broadcasts refused (not allowed, untagged)
  std::atomic<std::uint64_t> client_broadcasts_limited_total{0};  // client broadcasts over the per-connection rate
  std::atomic<std::uint64_t> metrics_refusals_total{0};           // /metrics requests refused (token, address)

  static void inc(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.fetch_add(n, std::memory_order_relaxed);
  }
};

// The change source's replication state as /metrics exposes it (docs/design.md §5: what is confirmed to
// PostgreSQL and how far behind it is). Plain values, so the gateway does not depend on the pg layer: main()
// fills them from the source's status snapshot (include/rtcache/pg/source_status.hpp).
struct replication_status {
  bool connected = false;          // streaming
  std::uint64_t received_lsn = 0;  // start of the last XLogData received
  std::uint64_t confirmed_lsn = 0; // flush position confirmed to the server
  std::uint64_t lag_bytes = 0;     // server WAL end - confirmed
  double lag_seconds = 0;          // now - commit time of the last commit received, while behind
  std::uint64_t reconnects = 0;    // connection attempts after the first
  gap_counts gaps{};               // gaps the source reported, by reason (index: gap_reason)
  bool reader = false;             // this process holds the replication slot (issue 13: one reader at a time)
  std::uint64_t reader_starts = 0;  // times this process took the slot and started streaming
  std::uint64_t sink_stalls = 0;    // times it gave the slot up because the sink made nothing durable
};

// Called on every scrape (any io thread). REQUIRES: thread-safe and non-blocking (copy a snapshot).
using replication_status_provider = std::function<replication_status()>;

// Prometheus text exposition format 0.0.4: every metric with # HELP and # TYPE, names prefixed `rtcache_`.
// With `source`, the rtcache_replication_* gauges and rtcache_source_gaps_total{reason} (one series per
// gap_reason, 0 included) follow; without (relay mode) they are absent.
std::string prometheus_text(const gateway_metrics& g, const hub_metrics& h,
                            const replication_status* source = nullptr);

}  // namespace rtcache::net
