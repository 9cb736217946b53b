// Mapping: one committed row change -> the contract event (docs/design.md §2) and the Supabase postgres_changes
// record, with never-sent and denied columns removed. Pure: no I/O, no clock; the source feeds it rows.
#pragma once

#include "routing/mapping_config.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/event.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::routing {

// ---------------------------------------------------------------------------------------------------------
// Input: a row change in plain terms (the pgoutput adapter converts to this; mapping does not depend on it).

enum class row_kind { insert, update, del };

// What the change carries of the old row (UPDATE and DELETE).
enum class old_row_kind {
  none,  // no old row: an UPDATE that did not touch the replica identity, or REPLICA IDENTITY NOTHING
  key,   // the replica identity columns only (REPLICA IDENTITY DEFAULT/INDEX); other values are null
  full,  // every column (REPLICA IDENTITY FULL); unchanged TOASTed values may still be unchanged_toast
};

enum class value_state { null, unchanged_toast, text };

struct row_value {
  value_state state = value_state::null;
  std::string text;  // PostgreSQL's text output; empty unless state == text

  static row_value null() { return {}; }
  static row_value unchanged_toast() { return {value_state::unchanged_toast, {}}; }
  static row_value of(std::string v) { return {value_state::text, std::move(v)}; }
  friend bool operator==(const row_value&, const row_value&) = default;
};

struct row_column {
  std::string name;
  std::uint32_t type_oid = 0;
  std::string type_name;  // from a Type message for non-built-in types; may be empty
  bool is_key = false;    // part of the replica identity

  friend bool operator==(const row_column&, const row_column&) = default;
};

// REQUIRES: new_row.size() == columns.size() for insert and update (empty for delete);
//           old_row.size() == columns.size() when old_kind != none (empty otherwise);
//           delete has old_kind key or full.
struct row_change {
  std::string schema;
  std::string table;
  row_kind kind = row_kind::insert;
  std::vector<row_column> columns;
  std::vector<row_value> new_row;
  old_row_kind old_kind = old_row_kind::none;
  std::vector<row_value> old_row;
  std::string commit_ts;  // RFC 3339, e.g. "2025-11-19T00:22:40.877Z"
  std::uint32_t xid = 0;  // informational: carried into errors
};

// ---------------------------------------------------------------------------------------------------------
// Output.

enum class change_type { insert, update, del };
std::string_view to_string(change_type t) noexcept;  // "INSERT", "UPDATE", "DELETE"

// A value of a row without its bytes: a view into storage the caller keeps alive for the call (the decoded
// pgoutput message on the source's path). What mapper::map(plan, row_view) reads.
struct row_value_view {
  value_state state = value_state::null;
  std::string_view text;  // empty unless state == text

  static row_value_view of(const row_value& v) noexcept { return {v.state, v.text}; }
  friend bool operator==(const row_value_view&, const row_value_view&) = default;
};

// A row_change without owned data; the relation (schema, table, columns) is the plan's.
// REQUIRES: as row_change's, with columns = the plan's columns.
struct row_view {
  row_kind kind = row_kind::insert;
  std::span<const row_value_view> new_row;
  old_row_kind old_kind = old_row_kind::none;
  std::span<const row_value_view> old_row;
  std::string_view commit_ts;
  std::uint32_t xid = 0;
};

class relation_plan;
using relation_plan_ptr = std::shared_ptr<const relation_plan>;

// One postgres_changes `data` object, encoded once and shared by every subscriber that receives it.
// record() / old_record() are the same values as objects, for filter evaluation (DELETE filters read the
// old row); they are built on first use (most records are never filtered), thread-safely. Immutable once
// published.
struct postgres_change {
  std::string schema;
  std::string table;
  change_type type = change_type::insert;
  // {"schema","table","commit_timestamp","type","columns":[{"name","type"}],"record"?,"old_record"?,"errors":null}
  std::string json;

  const boost::json::object& record() const;      // empty for DELETE
  const boost::json::object& old_record() const;  // empty for INSERT

  // The memory this record holds for as long as it is retained (hub_publish_options::attachment_bytes),
  // without the objects above, which only a filter evaluation builds.
  std::size_t retained_bytes() const noexcept {
    return sizeof(postgres_change) + json.capacity() + entries_.capacity();
  }

  // A record received as its JSON text, as the mapper writes it (a cluster node applying the shared stream
  // attaches records the node that read the WAL mapped; issue 13). schema, table and type are read from it;
  // record()/old_record() are its "record" and "old_record" members, parsed on first use, so a filter sees the
  // same objects as on the node that mapped it. `json` is kept as it is. Errors, each naming the member: bad_json
  // (not JSON, or nested deeper than a record can be), not_object, missing_field / wrong_type (schema, table or
  // type not a non-empty string; record or old_record not an object), bad_value (type not INSERT, UPDATE or
  // DELETE; record present for a DELETE or missing otherwise; old_record present for an INSERT or missing
  // otherwise).
  static core::result<std::shared_ptr<const postgres_change>> from_json(std::string json);

 private:
  friend class row_mapper;  // mapping.cpp: fills the fields below
  void build_objects() const;
  bool from_text_ = false;  // from_json: the objects come from `json`, not from a plan and entries

  // What record()/old_record() are typed from: entries {column index u32, value_state u8, length u32, bytes},
  // first `record_entries_` for the record, then the old_record's. Null plan: both objects empty.
  relation_plan_ptr plan_;
  std::string entries_;
  std::uint32_t record_entries_ = 0;
  std::uint32_t old_entries_ = 0;
  mutable std::once_flag built_;
  mutable boost::json::object record_;
  mutable boost::json::object old_record_;
};

using postgres_change_ptr = std::shared_ptr<const postgres_change>;

// Something odd but survivable about one value: logged and counted by the source, never fatal.
struct mapping_warning {
  std::string column;
  std::string message;
  friend bool operator==(const mapping_warning&, const mapping_warning&) = default;
};

// One mapped row.
struct mapped_row {
  // The contract event: absent for a public-only table. For a move it describes the new side (action is
  // that of the UPDATE before move handling: update/approve/reject); the router splits it.
  std::optional<core::event> event;
  // Set when the row moved between factories: the factory it left.
  std::optional<std::string> old_factory_id;
  // The postgres_changes record of the row as Supabase would send it. For a move it is an UPDATE whose
  // old_record holds the old factory's values: only subscribers who may see both factories (records of
  // public tables) receive it.
  postgres_change_ptr change;
  // For a move only: what the old factory's subscribers get, a DELETE carrying only the old row.
  postgres_change_ptr move_delete_change;
  // For a move only: what the new factory's subscribers get, an INSERT carrying only the new row (the
  // old values belong to the factory the row left; issue 11, finding 9).
  postgres_change_ptr move_insert_change;
  bool is_public = false;  // the table's `public` flag: records served without factory scope
  std::vector<mapping_warning> warnings;
};

// What mapping works out once per relation definition (a pgoutput Relation message) instead of per row: the
// table's configuration, which columns may travel, where the id/factory/version/status columns are, and the
// record's constant JSON text (schema, table, `columns`). Immutable; shared by the records built from it.
class relation_plan {
 public:
  const table_mapping& table() const noexcept { return *table_; }
  const std::vector<row_column>& columns() const noexcept { return columns_; }
  const std::string& where() const noexcept { return where_; }  // "schema.table"

 private:
  friend class mapper;
  friend class row_mapper;
  friend struct postgres_change;

  const table_mapping* table_ = nullptr;
  std::string schema_;
  std::string table_name_;
  std::string where_;
  std::vector<row_column> columns_;
  std::vector<std::uint8_t> sendable_;   // 1: the column may travel (identity, or neither never_send nor denied)
  std::vector<std::uint8_t> patchable_;  // 1: in the table's patch list
  std::vector<std::string> json_keys_;   // "\"name\":" per column
  bool any_key_flag_ = false;            // whether the source flagged identity columns at all
  std::optional<std::size_t> id_index_;
  std::optional<std::size_t> factory_index_;
  std::optional<std::size_t> version_index_;
  std::optional<std::size_t> status_index_;
  std::string prefix_json_;   // {"schema":..,"table":..,"commit_timestamp":
  std::string columns_json_;  // ,"columns":[...]
};

// Maps row changes of one configuration.
// Thread-safety: immutable after construction; every member is const and may run concurrently.
class mapper {
 public:
  // `config` must outlive the mapper.
  explicit mapper(const mapping_config& config) : config_(&config) {}

  // Maps one change. Returns nullopt for a table the configuration does not name (not routed at all).
  // Errors (the message names schema.table, column and value, so the source can log and count them):
  //   empty / too_long / bad_char  the id or factory value fails core::validate_id (also when null)
  //   missing_field  the relation lacks a configured id/factory column, or a DELETE's old row does not
  //                  hold them (REPLICA IDENTITY must cover them), or they are unchanged TOAST with no old row
  //   bad_value      the row_change breaks its REQUIRES (tuple sizes)
  // Equivalent to map(*plan(...), view of change); the source uses those two to plan once per relation.
  core::result<std::optional<mapped_row>> map(const row_change& change) const;

  // The plan of a relation definition; nullptr when the configuration does not name the table. The plan
  // refers to the configuration: it must not outlive it. Build a new one when the relation's definition
  // (columns, their types or type names) changes.
  relation_plan_ptr plan(std::string_view schema, std::string_view table, std::vector<row_column> columns) const;

  // Maps one change of the planned relation, as map(row_change) does. `row`'s views need only last the call.
  core::result<mapped_row> map(const relation_plan_ptr& plan, const row_view& row) const;

 private:
  const mapping_config* config_;
};

}  // namespace rtcache::routing
