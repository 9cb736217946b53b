// The narrow interface between a change source and the hub (docs/design.md §1, §5): the source hands over the
// routed output of a transaction; the sink publishes it. The PostgreSQL source confirms a WAL position only
// after publish() has returned for every message up to that position, so publish() must not return before
// the messages are in the hub (or known to have no subscriber to reach). Tests use a recording sink.
#pragma once

#include "rtcache/net/router.hpp"

namespace rtcache::net {

class routed_sink {
 public:
  routed_sink() = default;
  routed_sink(const routed_sink&) = delete;
  routed_sink& operator=(const routed_sink&) = delete;
  virtual ~routed_sink() = default;

  // Publishes `rows` in order: contract messages to their channels, postgres_changes records to the
  // connections whose bindings and scope admit them. Called from the source's thread only.
  virtual void publish(routed_rows rows) = 0;
};

}  // namespace rtcache::net
