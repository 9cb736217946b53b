// The stream's writer of a relay-only cluster (docs/cluster.md, "Relay ingest"): without [postgres] no node holds a
// replication slot, so the nodes elect the writer with a lease (lease.hpp). Every node runs one; the one holding the
// lease runs a cluster::writer and an ingest_pump on this object's thread and republishes the ingest stream into the
// main stream; the others retry the lease every ttl/3. A holder that dies stops renewing, its lease expires and a
// standby takes over from the main stream's tail (the writer's ingest anchor), so nothing accepted is lost or
// republished twice. A writer fenced by another writer (a holder that paused past its lease) gives the lease up.
#pragma once

#include "cluster/connection.hpp"
#include "cluster/ingest_pump.hpp"
#include "cluster/lease.hpp"
#include "cluster/writer.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace rtcache::cluster {

struct relay_writer_settings {
  writer_settings writer;
  std::string node_id;
  // The lease: bucket "<stream>_lease" unless set; a dead holder is replaced within about ttl + ttl/3.
  std::string lease_bucket;
  std::chrono::milliseconds lease_ttl = 3s;
  // How long the thread sleeps when nothing wakes it (it renews the lease every ttl/3 regardless).
  std::chrono::milliseconds idle_poll = 100ms;
  std::function<void(std::string_view event, std::string_view detail)> log;
};

struct relay_writer_status {
  bool writer = false;            // holds the lease and writes now
  std::uint64_t activations = 0;  // times this node became the writer
  std::uint64_t fenced = 0;       // writers of this node fenced by another
  writer_stats stats;             // of every writer this node ran, summed
};

// Thread-safety: status() from any thread; start/stop from the owner.
class relay_writer {
 public:
  // REQUIRES: `conn` outlives the relay writer. Errors: the lease bucket could not be opened.
  static result<std::unique_ptr<relay_writer>> start(const connection& conn, relay_writer_settings settings);
  ~relay_writer();  // stop()
  relay_writer(const relay_writer&) = delete;
  relay_writer& operator=(const relay_writer&) = delete;

  // Ends the thread; a held lease is released so a standby takes over at once. Idempotent.
  void stop();
  relay_writer_status status() const;

 private:
  relay_writer(const connection& conn, relay_writer_settings settings, std::unique_ptr<lease> l);
  void run();
  bool become_writer();  // the thread: a writer settled on the stream's tail, the pump reading from its anchor
  void step_down(std::string_view why);
  void wait(std::chrono::milliseconds bound);
  void wake();  // any thread: the writer's outcomes and the pump's reads end wait() at once

  const connection& conn_;
  relay_writer_settings settings_;
  std::unique_ptr<lease> lease_;
  ingest_pump pump_;
  std::unique_ptr<writer> writer_;  // the thread's
  bool writing_ = false;            // the thread's

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  bool stop_ = false;
  relay_writer_status status_;
  writer_stats retired_;  // counters of writers replaced
  std::thread thread_;
};

}  // namespace rtcache::cluster
