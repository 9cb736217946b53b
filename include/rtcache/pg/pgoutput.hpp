// The first step of the PostgreSQL change source: bytes from the replication connection decoded into
// typed messages (pgoutput protocol version 1 inside the streaming-replication CopyData wrappers). Pure: no I/O.
#pragma once

#include "rtcache/core/error.hpp"

#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace rtcache::pg {

using core::errc;
using core::error;
using core::result;

// ---------------------------------------------------------------------------------------------------------
// Bounds. Input beyond a bound is refused (an error value); nothing is truncated or skipped.

// Columns in a Relation message or a TupleData (MaxHeapAttributeNumber): errc::too_many beyond it.
inline constexpr std::size_t k_max_columns = 1600;
// Bytes of a namespace, relation, column, type or origin name, without its NUL. PostgreSQL's own limit is
// NAMEDATALEN - 1 = 63 bytes, and 512 for replication origin names (MAX_RONAME_LEN, enforced since 16).
// errc::too_long beyond it.
inline constexpr std::size_t k_max_name_bytes = 512;
// Bytes of one column value (PostgreSQL's MaxAllocSize, 1 GiB - 1): errc::too_long beyond it.
inline constexpr std::size_t k_max_value_bytes = 0x3FFF'FFFF;
// Relations a relation_cache holds by default; a Relation message for one more oid is refused (errc::too_many).
inline constexpr std::size_t k_default_max_relations = 65'536;

// ---------------------------------------------------------------------------------------------------------
// Positions and times as PostgreSQL writes them.

// A WAL position (XLogRecPtr). 0 is PostgreSQL's InvalidXLogRecPtr.
struct lsn {
  std::uint64_t value = 0;
  friend auto operator<=>(const lsn&, const lsn&) = default;
};

// A PostgreSQL TimestampTz: microseconds since 2000-01-01T00:00:00Z (the PostgreSQL epoch), may be negative.
struct pg_timestamp {
  std::int64_t micros = 0;
  friend auto operator<=>(const pg_timestamp&, const pg_timestamp&) = default;
};

// The same instant on the system clock (the PostgreSQL epoch is 946,684,800 s after the Unix epoch).
inline std::chrono::system_clock::time_point to_system_time(pg_timestamp t) noexcept {
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::microseconds(t.micros) + std::chrono::seconds(946'684'800)));
}

// "16/B374D848": the high and low 32 bits in upper-case hex without leading zeros, as pg_lsn prints.
std::string format_lsn(lsn position);

// Parses the pg_lsn text form: 1..8 hex digits (either case), '/', 1..8 hex digits, nothing else.
// Errors: empty, too_long (a half over 8 digits), bad_char (with the offending byte's position).
result<lsn> parse_lsn(std::string_view text);

// RFC 3339 UTC with millisecond precision, "2025-11-19T00:22:40.877Z". Sub-millisecond digits are dropped
// (rounded toward the past, also for times before 2000), so a formatted time never lies after the real one.
// Pure arithmetic, no time library. Errors: bad_value outside years 0000..9999 (RFC 3339 has four-digit
// years; PostgreSQL's +-infinity fall here too).
result<std::string> format_rfc3339(pg_timestamp time);

// ---------------------------------------------------------------------------------------------------------
// pgoutput messages (https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html), protocol
// version 1. Oids are PostgreSQL's unsigned 32-bit object ids.

// 'B': a transaction starts; every change until the matching Commit belongs to it.
struct begin_message {
  lsn final_lsn;             // the commit record's LSN; never 0
  pg_timestamp commit_time;  // the commit timestamp
  std::uint32_t xid = 0;
  friend bool operator==(const begin_message&, const begin_message&) = default;
};

// 'C': the transaction committed. Confirm end_lsn to the server once its events are in the hub.
struct commit_message {
  std::uint8_t flags = 0;  // unused by protocol v1, always 0 (anything else is refused)
  lsn commit_lsn;
  lsn end_lsn;  // the end of the commit record
  pg_timestamp commit_time;
  friend bool operator==(const commit_message&, const commit_message&) = default;
};

// 'O': the transaction was replicated from another node (sent after Begin when the origin is not local).
struct origin_message {
  lsn commit_lsn;  // the commit LSN on the origin server
  std::string name;
  friend bool operator==(const origin_message&, const origin_message&) = default;
};

// REPLICA IDENTITY of a table: what an Update or Delete carries of the old row.
enum class replica_identity : char {
  default_key = 'd',  // the primary key ('K' old tuples)
  nothing = 'n',      // no old row
  full = 'f',         // every column ('O' old tuples)
  index = 'i',        // the columns of a chosen unique index ('K' old tuples)
};

std::string_view to_string(replica_identity identity) noexcept;

struct relation_column {
  bool is_key = false;  // part of the replica identity (flags bit 1; every column under REPLICA IDENTITY FULL)
  std::string name;
  std::uint32_t type_oid = 0;
  std::int32_t type_modifier = -1;  // atttypmod; -1 when the type has none
  friend bool operator==(const relation_column&, const relation_column&) = default;
};

// 'R': describes a table before the first change to it in a session, and again after its definition
// changes (ALTER TABLE). Columns are in the order tuple values use.
struct relation_message {
  std::uint32_t oid = 0;
  std::string schema;  // the namespace; empty means pg_catalog, as pgoutput abbreviates it
  std::string name;
  replica_identity identity = replica_identity::default_key;
  std::vector<relation_column> columns;  // distinct, non-empty names; at most k_max_columns
  friend bool operator==(const relation_message&, const relation_message&) = default;
};

// 'Y': names a non-built-in data type used by a following Relation's columns.
struct type_message {
  std::uint32_t oid = 0;
  std::string schema;  // empty means pg_catalog
  std::string name;
  friend bool operator==(const type_message&, const type_message&) = default;
};

// How one column of a TupleData is sent.
enum class value_kind : std::uint8_t {
  null,             // 'n': SQL NULL
  unchanged_toast,  // 'u': a TOASTed value the change did not touch; its bytes are not sent
  text,             // 't': the type's text output
  binary,           // 'b': the type's binary send format (only with the `binary` option)
};

std::string_view to_string(value_kind kind) noexcept;

struct column_value {
  value_kind kind = value_kind::null;
  std::string bytes;  // the value for text and binary; empty for null and unchanged_toast

  static column_value null() { return {}; }
  static column_value unchanged_toast() { return {value_kind::unchanged_toast, {}}; }
  static column_value text(std::string v) { return {value_kind::text, std::move(v)}; }
  static column_value binary(std::string v) { return {value_kind::binary, std::move(v)}; }
  friend bool operator==(const column_value&, const column_value&) = default;
};

// One row: values in the relation's column order, at most k_max_columns.
using tuple_data = std::vector<column_value>;

// What an Update or Delete carries of the old row.
enum class old_tuple_kind : std::uint8_t {
  none,  // Update only: no old row (the key did not change, or REPLICA IDENTITY NOTHING)
  key,   // 'K': the replica identity columns; the other columns are null
  full,  // 'O': the whole old row (REPLICA IDENTITY FULL); TOASTed columns may still be unchanged_toast
};

// 'I'
struct insert_message {
  std::uint32_t relation_oid = 0;
  tuple_data new_tuple;
  friend bool operator==(const insert_message&, const insert_message&) = default;
};

// 'U'
struct update_message {
  std::uint32_t relation_oid = 0;
  old_tuple_kind old_kind = old_tuple_kind::none;
  tuple_data old_tuple;  // empty when old_kind is none
  tuple_data new_tuple;
  friend bool operator==(const update_message&, const update_message&) = default;
};

// 'D'
struct delete_message {
  std::uint32_t relation_oid = 0;
  old_tuple_kind old_kind = old_tuple_kind::key;  // key or full, never none
  tuple_data old_tuple;
  friend bool operator==(const delete_message&, const delete_message&) = default;
};

// 'T': one TRUNCATE statement, possibly of several tables.
struct truncate_message {
  bool cascade = false;                      // option bit 1
  bool restart_identity = false;             // option bit 2
  std::vector<std::uint32_t> relation_oids;  // at least one
  friend bool operator==(const truncate_message&, const truncate_message&) = default;
};

using message = std::variant<begin_message, commit_message, origin_message, relation_message, type_message,
                             insert_message, update_message, delete_message, truncate_message>;

// "Begin", "Insert", ...: the protocol documentation's name of the message.
std::string_view message_name(const message& m) noexcept;

// Decodes one pgoutput message: the whole of `bytes` (an XLogData payload) must be exactly one message.
// The result owns its data; `bytes` may be released afterwards.
// Errors, each with a message naming the message kind, the field and the byte offset:
//   empty      – no bytes; an empty name where PostgreSQL never sends one (relation, column, type)
//   bad_char   – an unknown message type byte, tuple marker ('K'/'O'/'N'), column kind or replica identity
//   bad_value  – truncated input, a negative length, flag bits protocol v1 does not define, a zero final LSN,
//                an unterminated string, bytes left after the message, and messages this decoder refuses:
//                protocol v2+ streaming ('S', 'E', 'c', 'A'), two-phase ('b', 'P', 'K', 'r', 'p') and
//                logical decoding messages ('M')
//   too_long   – a name over k_max_name_bytes or a value length over k_max_value_bytes
//   too_many   – a column count over k_max_columns
//   duplicate_key – two columns of one Relation with the same name
result<message> decode_message(std::string_view bytes);

// As decode_message(bytes), into `into`: an Insert, Update or Delete decoded into a message of the same kind
// reuses its tuples' storage (value strings keep their capacity), so a session that decodes every change into
// one object allocates nothing per value once warm. Same errors; on error `into` holds some valid message.
result<void> decode_message(std::string_view bytes, message& into);

// ---------------------------------------------------------------------------------------------------------
// The streaming replication protocol's CopyData payloads from the server
// (https://www.postgresql.org/docs/15/protocol-replication.html).

// 'w': WAL data; for logical replication the payload is one pgoutput message.
struct xlog_data {
  lsn wal_start;  // where the payload's data starts in the WAL
  lsn wal_end;    // the current end of WAL on the server
  pg_timestamp send_time;
  std::string_view payload;  // a view into the decoded bytes: valid only while they are
  friend bool operator==(const xlog_data&, const xlog_data&) = default;
};

// 'k': the server's heartbeat.
struct primary_keepalive {
  lsn wal_end;  // the current end of WAL on the server
  pg_timestamp send_time;
  bool reply_requested = false;  // reply with a standby status update now, or be disconnected on timeout
  friend bool operator==(const primary_keepalive&, const primary_keepalive&) = default;
};

using copy_data = std::variant<xlog_data, primary_keepalive>;

// Decodes one CopyData payload. Errors: empty; bad_char (a type byte other than 'w' or 'k'); bad_value
// (truncated, a reply-requested byte other than 0 or 1, bytes after a keepalive).
result<copy_data> decode_copy_data(std::string_view bytes);

// ---------------------------------------------------------------------------------------------------------
// Relations seen in a replication session, so changes (which carry only an oid) can be read by column name.

// One column of a tuple with the column it belongs to. Pointers into a relation and a tuple_data; they stay
// valid while both do (a named_tuple keeps its relation alive).
struct named_value {
  const relation_column* column = nullptr;
  const column_value* value = nullptr;
};

// A tuple paired with its relation: values[i] is column i.
struct named_tuple {
  std::shared_ptr<const relation_message> relation;  // shared: survives a later Relation for the same oid
  std::vector<named_value> values;

  // The value of the column called `name`, or nullptr if the relation has no such column.
  const column_value* find(std::string_view name) const;
};

// Pairs `tuple` with `rel`'s columns. REQUIRES: `tuple` outlives the result.
// Errors: bad_value when rel is null, or when the tuple's column count differs from the relation's (the
// change does not belong to that definition of the table).
result<named_tuple> name_tuple(std::shared_ptr<const relation_message> rel, const tuple_data& tuple);

// oid -> the latest Relation message for it. pgoutput sends a Relation before the first change to a table in
// a session and again when its definition changes, so a new Relation replaces the old entry; a change decoded
// earlier keeps the definition it was named with (named_tuple shares it). Bounded: a Relation for an oid not
// yet held is refused when max_relations are held.
// Thread-safety: none; owned by the replication session's thread.
class relation_cache {
 public:
  // REQUIRES: max_relations > 0.
  explicit relation_cache(std::size_t max_relations = k_default_max_relations);

  // Records `rel`, replacing any entry for rel.oid. Errors: too_many when the cache is full and rel.oid is
  // new; the cache is then unchanged.
  result<void> apply(relation_message rel);

  // The relation for `oid`, or nullptr if no Relation for it was applied since construction or clear().
  std::shared_ptr<const relation_message> find(std::uint32_t oid) const;

  // Names the values of `tuple`, a tuple of a change to relation `oid`. REQUIRES: `tuple` outlives the result.
  // Errors: bad_value when no Relation for `oid` was applied (the server sends one first, so the stream is
  // out of step) or the column counts differ.
  result<named_tuple> name(std::uint32_t oid, const tuple_data& tuple) const;

  std::size_t size() const noexcept { return relations_.size(); }
  std::size_t max_relations() const noexcept { return max_relations_; }

  // Forgets every relation: a new session starts, and the server resends each Relation.
  void clear() noexcept { relations_.clear(); }

 private:
  // Constant after construction.
  std::size_t max_relations_;

  std::unordered_map<std::uint32_t, std::shared_ptr<const relation_message>> relations_;
};

}  // namespace rtcache::pg
