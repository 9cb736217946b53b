// The PostgreSQL change source (issue 3, issue 13): a libpq logical-replication client (replication=database,
// pgoutput protocol 1, a permanent slot and a publication it creates when missing) feeding replication_session,
// with standby status updates, capped jittered reconnects and a status snapshot. The only file of the pg layer
// that does I/O.
//
// One reader per slot (issue 13): PostgreSQL lets one walsender stream a slot at a time, so the slot is the lock.
// A source whose slot is held by another process is a standby: it keeps its connection, looks at the slot every
// `standby_retry` (jittered) and starts streaming from the slot's confirmed position as soon as it is free. The
// reader sets wal_sender_timeout for its own connection, so a reader that hangs loses the slot within it.
// Before streaming it checks continuity (continuity.hpp) and reports a gap to the sink when it cannot prove it.
#pragma once

#include "routing/mapping_config.hpp"
#include "routing/routed_sink.hpp"
#include "rtcache/core/backoff.hpp"
#include "rtcache/pg/durable_confirm.hpp"
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
  std::string conninfo;          // libpq connection string or URI; replication=database is added
  std::string slot = "rtcache";  // the logical replication slot (permanent)
  std::string publication = "rtcache";
  bool create_slot = true;         // CREATE_REPLICATION_SLOT ... LOGICAL pgoutput when missing (or invalidated)
  bool create_publication = true;  // CREATE PUBLICATION ... FOR TABLE <mapped tables> when missing
  std::chrono::milliseconds status_interval{1000};  // standby status updates at least this often (and at least
                                                    // three times per wal_sender_timeout)
  std::chrono::milliseconds poll_timeout{1000};     // longest wait for data before re-checking timers
  std::chrono::seconds connect_timeout{10};
  // The reader's own wal_sender_timeout (added to the connection's options): the server ends a walsender whose
  // client answered nothing for this long, which frees the slot of a reader that hangs. 0: the server's setting.
  std::chrono::milliseconds wal_sender_timeout{3000};
  // How often a standby looks whether the slot is free (each wait drawn uniformly in [0.5, 1.5) times this).
  std::chrono::milliseconds standby_retry{250};
  // Backlog and stall bounds of an acknowledging sink (durable_confirm.hpp). A reader that gives up the slot
  // because the sink stalled stands by for stall_timeout before it tries to take the slot again.
  durable_confirm_limits durability;
  core::backoff_policy backoff;
  // Uniform draws in [0, 1) for the back-off and standby jitter; empty: a seeded std::mt19937_64.
  std::function<double()> random;
};

// Thread-safety: run() on one thread; stop() and status() from any thread (stop() is async-signal-safe:
// an atomic store and a write(2) to an eventfd). check() on any thread that is not running run().
class source {
 public:
  // `mapping` and `sink` must outlive the source. Throws std::system_error if the wake-up eventfd cannot be
  // created (start-up only).
  source(source_config config, const routing::mapping_config& mapping, routing::routed_sink& sink, log_fn log);
  ~source();
  source(const source&) = delete;
  source& operator=(const source&) = delete;

  // Streams until stop(): connect, preflight, create what is missing, stand by while another process holds the
  // slot, check continuity, START_REPLICATION from the confirmed position, consume; on any error log it, back
  // off and reconnect. On stop, sends a final status update.
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
