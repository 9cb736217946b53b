// The network-free heart of the PostgreSQL source: one CopyData payload at a time, decoded (pgoutput), adapted
// (row_adapter), mapped, routed per transaction and handed to the sink in numbered calls, with the confirm
// bookkeeping (what was handled: confirm_tracker; what the sink made durable: durable_confirm) and the gaps it
// reports. The I/O client feeds it bytes from libpq and the clock; benchmarks and tests feed it recorded bytes.
#pragma once

#include "routing/mapping.hpp"
#include "routing/mapping_config.hpp"
#include "routing/routed_sink.hpp"
#include "routing/router.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/pg/confirm_tracker.hpp"
#include "rtcache/pg/durable_confirm.hpp"
#include "rtcache/pg/pgoutput.hpp"
#include "rtcache/pg/row_adapter.hpp"
#include "rtcache/pg/source_log.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
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
  routing::gap_counts gaps{};
  lsn server_wal_end;
  std::optional<pg_timestamp> last_commit_time;  // of the last Begin/Commit received
};

// What the I/O layer must do after a payload.
struct consume_outcome {
  bool reply_requested = false;  // a keepalive asked for a standby status update now
  bool committed = false;        // a transaction was handled
};

// Which PostgreSQL cluster and timeline a stream reads (IDENTIFY_SYSTEM): the first parts of every message's id.
struct stream_identity {
  std::uint64_t system_identifier = 0;
  std::uint32_t timeline = 0;
};

// Thread-safety: none; owned by the replication thread. The sink and log are called on that thread (but for
// durable_through(), which the sink may answer from any thread).
class replication_session {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  // `config`, `sink` and `log` must outlive the session. `confirmed`: where streaming resumes.
  replication_session(const routing::mapping_config& config, routing::routed_sink& sink, log_fn log, lsn confirmed = {},
                      durable_confirm_limits limits = {});

  // Starts (or restarts) a stream of `identity` from `from`, the position confirmed to the server (where it
  // resumes): forgets relations, types and any open transaction, restarts the sink's numbering
  // (routed_sink::start_stream with `wake`) and the confirm bookkeeping. What was published and is not durable
  // yet will come again from the server and is published again, with the same ids. Call before consuming.
  void start_stream(
      stream_identity identity, lsn from, std::function<void()> wake = [] {});

  // Consumes one CopyData payload from the server (XLogData or keepalive).
  // Errors (the stream cannot be trusted past them; the caller reconnects and resumes from confirmed()):
  // a payload or pgoutput message the decoder refuses, a change to an unknown relation, a Commit without
  // Begin. Rows the mapper refuses are not errors: they are logged ("row_unmapped") and counted.
  result<consume_outcome> consume(std::string_view payload);

  // Consumes one pgoutput message (the XLogData payload), as consume() does after unwrapping it.
  result<consume_outcome> consume_message(std::string_view pgoutput);

  // Reports a gap found before streaming (check_continuity): an error-level "source_gap" log line, a count, and
  // routed_sink::on_gap for every channel (scope all). `resume_at` is where the stream goes on from.
  void report_gap(routing::gap_reason reason, const std::string& detail, lsn resume_at);

  // Reads the sink's durable_through() and runs the stall clock at `now`.
  void poll_sink(time_point now);

  // Before a standby status update: when the stream moved past the last position handed to the sink and no
  // transaction is open (keepalives, WAL the mapping ignores), hands the sink that position (a batch without
  // rows), so that it is confirmed once the sink made it and everything before it durable; then polls the
  // sink. Returns the position to confirm: confirmed().
  lsn confirm_position(time_point now);

  // The connection ended: forget relations and types (the server resends them) and any open transaction.
  void reset_connection();

  // The position to confirm to the server: the newest one the sink made durable, never beyond.
  lsn confirmed() const noexcept { return durable_.confirmed(); }
  // The position the stream was handled through (commits and keepalives): confirmed once durable.
  lsn handled() const noexcept { return tracker_.confirmed(); }
  lsn received() const noexcept { return tracker_.received(); }
  bool in_transaction() const noexcept { return tracker_.in_transaction(); }
  // The backlog bound is reached: read nothing until the sink makes something durable (poll_sink).
  bool backlog_full() const noexcept { return durable_.backlog_full(); }
  // The sink acknowledged nothing for the stall bound while something is outstanding (as of poll_sink).
  bool stalled(time_point now) const noexcept { return durable_.stalled(now); }
  std::size_t unconfirmed_messages() const noexcept { return durable_.unconfirmed_messages(); }
  const stream_identity& identity() const noexcept { return identity_; }
  const session_counters& counters() const noexcept { return counters_; }

 private:
  template <class Change>
  result<void> on_change(const Change& change);
  result<consume_outcome> on_message(message& m);
  void log(log_level level, std::string_view event, std::initializer_list<log_field> fields) const;
  // Hands `rows` to the sink as the open transaction's next batch (the last one with `last`, confirming end_lsn).
  void publish(routing::routed_rows rows, bool last, lsn end_lsn = {});
  // Records the next sink call and says where it stands.
  routing::stream_position next_position(std::size_t messages, lsn confirm_to, std::uint64_t commit_lsn,
                                         std::uint32_t first_index);
  void count_gap(routing::gap_reason reason) noexcept;

  const routing::mapping_config* config_;
  routing::mapper mapper_;
  routing::routed_sink* sink_;
  log_fn log_;
  // The mapper's plan of each relation definition in use (mapper::plan), rebuilt when the Relation for its oid
  // is replaced, dropped with every Type message and on reconnect. At most one entry per cached relation.
  struct planned_relation {
    std::shared_ptr<const relation_message> relation;  // the definition the plan was made from
    routing::relation_plan_ptr plan;                   // null: a table the mapping does not name
  };
  const planned_relation& plan_for(const std::shared_ptr<const relation_message>& rel);

  relation_cache relations_;
  type_cache types_;
  std::unordered_map<std::uint32_t, planned_relation> plans_;
  row_view_builder views_;
  message decoded_;  // the last decoded message; its tuples' storage is reused by the next change
  routing::transaction_router router_;
  confirm_tracker tracker_;
  durable_confirm durable_;
  stream_identity identity_;
  change_context context_;
  std::optional<std::chrono::system_clock::time_point> commit_time_;  // the open transaction's (Begin's)
  // The open transaction: its commit record's LSN, the index of its next routed item, and whether a batch of it
  // went to the sink (then its last batch goes too, even empty).
  lsn tx_commit_lsn_;
  std::uint32_t tx_index_ = 0;
  bool tx_published_ = false;
  session_counters counters_;
};

}  // namespace rtcache::pg
