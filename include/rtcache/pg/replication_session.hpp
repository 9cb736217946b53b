// The network-free heart of the PostgreSQL source: one CopyData payload at a time, decoded (pgoutput), adapted
// (row_adapter), mapped, routed per transaction and handed to the sink, with the confirm bookkeeping. The I/O
// client feeds it bytes from libpq; benchmarks and tests feed it recorded bytes.
#pragma once

#include "rtcache/core/error.hpp"
#include "rtcache/net/mapping.hpp"
#include "rtcache/net/mapping_config.hpp"
#include "rtcache/net/routed_sink.hpp"
#include "rtcache/net/router.hpp"
#include "rtcache/pg/confirm_tracker.hpp"
#include "rtcache/pg/pgoutput.hpp"
#include "rtcache/pg/row_adapter.hpp"
#include "rtcache/pg/source_log.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rtcache::pg {

// Counters and positions of one session (see source_status for their meaning).
struct session_counters {
  std::uint64_t transactions = 0;
  std::uint64_t rows = 0;
  std::uint64_t rows_mapped = 0;
  std::uint64_t rows_failed = 0;
  std::uint64_t truncates = 0;
  std::uint64_t skipped_transactions = 0;  // resent transactions already confirmed (not delivered again)
  lsn server_wal_end;
  std::optional<pg_timestamp> last_commit_time;  // of the last Begin/Commit received
};

// What the I/O layer must do after a payload.
struct consume_outcome {
  bool reply_requested = false;  // a keepalive asked for a standby status update now
  bool committed = false;        // a transaction was confirmed
};

// Thread-safety: none; owned by the replication thread. The sink and log are called on that thread.
class replication_session {
 public:
  // `config`, `sink` and `log` must outlive the session. `confirmed`: where streaming resumes.
  replication_session(const net::mapping_config& config, net::routed_sink& sink, log_fn log, lsn confirmed = {});

  // Consumes one CopyData payload from the server (XLogData or keepalive).
  // Errors (the stream cannot be trusted past them; the caller reconnects and resumes from confirmed()):
  // a payload or pgoutput message the decoder refuses, a change to an unknown relation, a Commit without
  // Begin. Rows the mapper refuses are not errors: they are logged ("row_unmapped") and counted.
  result<consume_outcome> consume(std::string_view payload);

  // Consumes one pgoutput message (the XLogData payload), as consume() does after unwrapping it.
  result<consume_outcome> consume_message(std::string_view pgoutput);

  // The connection ended: forget relations and types (the server resends them) and any open transaction.
  void reset_connection();

  lsn confirmed() const noexcept { return tracker_.confirmed(); }
  lsn received() const noexcept { return tracker_.received(); }
  bool in_transaction() const noexcept { return tracker_.in_transaction(); }
  const session_counters& counters() const noexcept { return counters_; }

 private:
  template <class Change>
  result<void> on_change(const Change& change);
  result<consume_outcome> on_message(message& m);
  void log(log_level level, std::string_view event, std::initializer_list<log_field> fields) const;

  const net::mapping_config* config_;
  net::mapper mapper_;
  net::routed_sink* sink_;
  log_fn log_;
  // The mapper's plan of each relation definition in use (mapper::plan), rebuilt when the Relation for its oid
  // is replaced, dropped with every Type message and on reconnect. At most one entry per cached relation.
  struct planned_relation {
    std::shared_ptr<const relation_message> relation;  // the definition the plan was made from
    net::relation_plan_ptr plan;                       // null: a table the mapping does not name
  };
  const planned_relation& plan_for(const std::shared_ptr<const relation_message>& rel);

  relation_cache relations_;
  type_cache types_;
  std::unordered_map<std::uint32_t, planned_relation> plans_;
  row_view_builder views_;
  message decoded_;  // the last decoded message; its tuples' storage is reused by the next change
  net::transaction_router router_;
  confirm_tracker tracker_;
  change_context context_;
  std::optional<std::chrono::system_clock::time_point> commit_time_;  // the open transaction's (Begin's)
  session_counters counters_;
};

}  // namespace rtcache::pg
