// Gap or continuity (see continuity.hpp).
#include "rtcache/pg/continuity.hpp"

#include <string>

namespace rtcache::pg {

bool slot_is_invalidated(std::string_view wal_status, std::string_view invalidation_reason) noexcept {
  return wal_status == "lost" || !invalidation_reason.empty();
}

continuity_verdict check_continuity(const std::optional<routing::wal_anchor>& remembered, const server_identity& server,
                                    const slot_facts& slot) {
  continuity_verdict v;
  if (slot.invalidated) {
    v.gap = routing::gap_reason::slot_invalidated;
    v.detail =
        "the slot was invalidated (the server removed WAL it still needed: max_slot_wal_keep_size) and "
        "was created again at " +
        format_lsn(slot.confirmed);
    return v;
  }
  if (!remembered) return v;
  const routing::wal_anchor& r = *remembered;
  const std::string confirmed = format_lsn(lsn{r.confirm_lsn});
  if (r.system_identifier != server.system_identifier) {
    v.gap = routing::gap_reason::system_changed;
    v.detail = "system identifier " + std::to_string(server.system_identifier) + ", was " +
               std::to_string(r.system_identifier) + " (another PostgreSQL cluster answers the conninfo)";
  } else if (r.timeline != server.timeline) {
    v.gap = routing::gap_reason::timeline_changed;
    v.detail = "timeline " + std::to_string(server.timeline) + ", was " + std::to_string(r.timeline) +
               " (a standby was promoted or the server was restored)";
  } else if (slot.created) {
    v.gap = routing::gap_reason::slot_created;
    v.detail = "the slot did not exist and was created at " + format_lsn(slot.confirmed) + "; rtcache had confirmed " +
               confirmed + " on the slot before";
  } else if (server.wal_end.value < r.confirm_lsn) {
    v.gap = routing::gap_reason::wal_rewound;
    v.detail = "the server's WAL ends at " + format_lsn(server.wal_end) + ", before " + confirmed +
               " which rtcache confirmed (the server was restored from a copy)";
  } else if (slot.confirmed.value > r.confirm_lsn) {
    v.gap = routing::gap_reason::slot_advanced;
    v.detail = "the slot's confirmed position " + format_lsn(slot.confirmed) + " is past " + confirmed +
               ", the last position rtcache confirmed (the slot was re-created or advanced by someone else)";
  }
  return v;
}

}  // namespace rtcache::pg
