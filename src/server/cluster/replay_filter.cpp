// A source message the stream holds twice (replay_filter.hpp).
#include "cluster/replay_filter.hpp"

#include <variant>

namespace rtcache::cluster {

bool replay_filter::replayed(std::string_view msg_id) {
  const message_source source = parse_msg_id(msg_id);
  if (const auto* w = std::get_if<wal_message_id>(&source)) {
    if (wal_ && at_or_below(*w, *wal_)) return true;
    wal_ = *w;
    return false;
  }
  if (const auto* i = std::get_if<ingest_message_id>(&source)) {
    if (ingest_ && ingest_->ingest_created_ns == i->ingest_created_ns &&
        std::tie(i->ingest_seq, i->index) <= std::tie(ingest_->ingest_seq, ingest_->index)) {
      return true;
    }
    ingest_ = *i;
    return false;
  }
  return false;
}

}  // namespace rtcache::cluster
