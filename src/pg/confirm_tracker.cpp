// Confirm bookkeeping (see confirm_tracker.hpp).
#include "rtcache/pg/confirm_tracker.hpp"

namespace rtcache::pg {

bool confirm_tracker::begin(lsn final_lsn) {
  open_ = true;
  // A commit record that starts before the confirmed position ended at or before it: already delivered.
  skip_ = final_lsn < confirmed_;
  return !skip_;
}

void confirm_tracker::committed(lsn end_lsn) {
  open_ = false;
  skip_ = false;
  if (end_lsn > confirmed_) confirmed_ = end_lsn;
  if (end_lsn > received_) received_ = end_lsn;
}

void confirm_tracker::received(lsn wal_start) {
  if (wal_start > received_) received_ = wal_start;
}

void confirm_tracker::keepalive(lsn wal_end) {
  if (open_) return;
  if (wal_end > confirmed_) confirmed_ = wal_end;
  if (wal_end > received_) received_ = wal_end;
}

}  // namespace rtcache::pg
