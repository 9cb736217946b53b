// Who may write the stream when no node reads the WAL (a relay-only cluster, docs/cluster.md "Relay ingest"): a lease
// in a JetStream key-value bucket whose entries expire (its TTL). Taking it is a compare-and-set (create the key, or
// update it at the revision that freed it); holding it is renewing it at the revision it was last set to, before the
// TTL ends; a holder that dies stops renewing and the key expires. The lease only decides who tries: what keeps two
// writers from both appending is the writer's own fencing (writer.hpp, Nats-Expected-Last-Sequence), so a lease
// believed held a little too long costs a fenced writer, never a wrong stream.
#pragma once

#include "cluster/connection.hpp"
#include "cluster/error.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace rtcache::cluster {

struct lease_settings {
  std::string bucket;  // e.g. "<stream>_lease"; created with `ttl` when missing
  std::string key = "writer";
  std::string holder;  // this node's id: the key's value while it holds the lease
  std::chrono::milliseconds ttl = 3s;
  std::chrono::milliseconds timeout = 1s;  // each request
};

// Thread-safety: one thread at a time.
class lease {
 public:
  // REQUIRES: `conn` outlives the lease. Errors: invalid_settings (empty names, ttl < 100 ms), or the bucket could
  // not be opened or created.
  static result<std::unique_ptr<lease>> open(const connection& conn, lease_settings settings);
  ~lease();
  lease(const lease&) = delete;
  lease& operator=(const lease&) = delete;

  // Takes the lease when it is free (no live value, or an empty one) or this holder's, and renews it when held.
  // true: held for `ttl` from the call (less the request's own time); false: another holder has it (holder() says
  // who). An error (NATS unreachable) means not held.
  result<bool> hold();
  // Frees the lease if this holder still holds it (set empty at its revision), so a standby takes it at once.
  void release();
  // The holder the key named at the last hold(), empty when free.
  const std::string& holder() const noexcept { return seen_holder_; }

 private:
  struct impl;
  explicit lease(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
  std::string seen_holder_;
};

}  // namespace rtcache::cluster
