// The PostgreSQL change source (issue 3): a libpq logical-replication client (replication=database, pgoutput
// protocol 1, a permanent slot and a publication it creates when missing) feeding replication_session, with
// standby status updates, capped jittered reconnects and a status snapshot. The only file of the pg layer
// that does I/O.
#pragma once

#include "rtcache/net/mapping_config.hpp"
#include "rtcache/net/routed_sink.hpp"
#include "rtcache/pg/backoff.hpp"
#include "rtcache/pg/source_log.hpp"
#include "rtcache/pg/source_problem.hpp"
#include "rtcache/pg/source_status.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace rtcache::pg {

struct source_config {
  std::string conninfo;             // libpq connection string or URI; replication=database is added
  std::string slot = "rtcache";     // the logical replication slot (permanent)
  std::string publication = "rtcache";
  bool create_slot = true;          // CREATE_REPLICATION_SLOT ... LOGICAL pgoutput when missing
  bool create_publication = true;   // CREATE PUBLICATION ... FOR TABLE <mapped tables> when missing
  std::chrono::milliseconds status_interval{1000};  // standby status updates at least this often
  std::chrono::milliseconds poll_timeout{1000};     // longest wait for data before re-checking timers
  std::chrono::seconds connect_timeout{10};
  backoff_policy backoff;
  // Uniform draws in [0, 1) for the back-off jitter; empty: a seeded std::mt19937_64.
  std::function<double()> random;
};

// Thread-safety: run() on one thread; stop() and status() from any thread (stop() is async-signal-safe:
// an atomic store and a write(2) to an eventfd). check() on any thread that is not running run().
class source {
 public:
  // `mapping` and `sink` must outlive the source. Throws std::system_error if the wake-up eventfd cannot be
  // created (start-up only).
  source(source_config config, const net::mapping_config& mapping, net::routed_sink& sink, log_fn log);
  ~source();
  source(const source&) = delete;
  source& operator=(const source&) = delete;

  // Streams until stop(): connect, preflight, create what is missing, START_REPLICATION from the confirmed
  // position, consume; on any error log it, back off and reconnect. On stop, sends a final status update.
  void run();

  // Asks run() to return; wakes it if it waits for data or backs off. Idempotent.
  void stop() noexcept;

  source_status status() const;

  // One connection: the preflight checks only (no slot or publication is created). An empty list: ready.
  // A connection failure is reported as one problem of kind connection (or missing_privilege).
  std::vector<problem> check();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace rtcache::pg
