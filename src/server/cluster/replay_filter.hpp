// The applier's second line against a source message the stream holds twice (docs/cluster.md (b)): every node keeps
// the newest source id it took and drops a message whose id is at or below it. JetStream de-duplicates a replayed
// id within the stream's duplicate window and the writer fences itself with expected last sequences, so a replay
// should never be stored; this filter is what keeps one out of the hub if it were (a writer bug, a message
// published by hand). It follows the writer's own rule (writer.hpp: what it skips as already in the stream), so a
// message the writer would have published is never dropped. Pure.
#pragma once

#include "cluster/source_ids.hpp"

#include <optional>
#include <string_view>

namespace rtcache::cluster {

class replay_filter {
 public:
  // Whether the message whose Nats-Msg-Id is `msg_id` repeats a source message taken before: a WAL message at or
  // below the newest (rewind generation, commit LSN, index) taken of the same PostgreSQL cluster and timeline (a
  // later generation, after the server was restored from a copy, starts below the old LSNs), or an ingest item at or
  // below the newest (ingest sequence, item) taken of the same ingest stream. Otherwise the message is taken: it is
  // the newest of its source from now on (another cluster, timeline or ingest stream replaces the old one, as the
  // writer's anchor does). Ids of any other form (control messages, gap markers found at a stream's start, none)
  // are never replays.
  bool replayed(std::string_view msg_id);

  // Forgets every source: the stream was created again, and its writer starts from the slot's confirmed position.
  void reset() { *this = {}; }

 private:
  std::optional<wal_message_id> wal_;
  std::optional<ingest_message_id> ingest_;
};

}  // namespace rtcache::cluster
