// A gap is never continuity (issue 13): before it streams, the source decides from what the server reports and
// what it remembers whether the WAL it is about to read continues what it delivered before. When it cannot prove
// it, the answer is a gap (routing::gap_reason), which the sink turns into new epochs. Pure: the I/O client gathers
// the facts.
#pragma once

#include "routing/routed_sink.hpp"
#include "rtcache/pg/pgoutput.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtcache::pg {

// What IDENTIFY_SYSTEM says.
struct server_identity {
  std::uint64_t system_identifier = 0;
  std::uint32_t timeline = 0;
  lsn wal_end;  // xlogpos: the server's current WAL flush position
};

// The slot the source is about to stream from.
struct slot_facts {
  bool created = false;      // it did not exist (or was dropped, below) and the source created it just now
  bool invalidated = false;  // it existed invalidated (the server removed WAL it needed); the source dropped it
  lsn confirmed;             // confirmed_flush_lsn; after creation, the consistent point
};

// Whether pg_replication_slots says the slot can no longer be streamed: wal_status 'lost' (PostgreSQL 13+,
// max_slot_wal_keep_size), or a non-empty invalidation_reason (PostgreSQL 17+; empty when the column is absent).
bool slot_is_invalidated(std::string_view wal_status, std::string_view invalidation_reason) noexcept;

struct continuity_verdict {
  std::optional<routing::gap_reason> gap;  // nullopt: continuous (or nothing to be continuous with)
  std::string detail;                      // what was found, for the log line
};

// `remembered`: the newest (system identifier, timeline, confirmed position) the source confirmed to a slot,
// by this process or (the sink's durable_anchor) by an earlier one or another node's reader; nullopt when
// nothing was ever delivered downstream. First reason that holds, in this order:
//   slot_invalidated   the slot was invalidated (a gap whatever was remembered: WAL is known lost)
//   system_changed     remembered, and the system identifier differs
//   timeline_changed   remembered, and the timeline differs
//   slot_created       remembered, and the slot had to be created
//   wal_rewound        remembered, and the server's WAL ends before the remembered position
//   slot_advanced      remembered, and the slot's confirmed position is past the remembered one (someone
//                      re-created or advanced it: positions in between were never delivered by rtcache)
// With nothing remembered there is nothing to be continuous with: no gap (a first start). A slot whose confirmed
// position lags the remembered one is continuous: the server resends from it (after a crash its on-disk state
// lags), and what was delivered twice is harmless.
continuity_verdict check_continuity(const std::optional<routing::wal_anchor>& remembered, const server_identity& server,
                                    const slot_facts& slot);

}  // namespace rtcache::pg
