// Mapping: one committed row change -> the contract event (design.md §2) and the Supabase postgres_changes
// record, with never-sent and denied columns removed. Pure: no I/O, no clock; the source feeds it rows.
#pragma once

#include "rtcache/core/error.hpp"
#include "rtcache/core/event.hpp"
#include "rtcache/net/mapping_config.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::net {

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

// One postgres_changes `data` object, encoded once and shared by every subscriber that receives it.
// `record` / `old_record` are the same values as objects, for filter evaluation (DELETE filters read the
// old row). Immutable once built.
struct postgres_change {
  std::string schema;
  std::string table;
  change_type type = change_type::insert;
  boost::json::object record;      // empty for DELETE
  boost::json::object old_record;  // empty for INSERT
  // {"schema","table","commit_timestamp","type","columns":[{"name","type"}],"record"?,"old_record"?,"errors":null}
  std::string json;
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
  // The postgres_changes record of the row as Supabase would send it.
  postgres_change_ptr change;
  // For a move only: what the old factory's subscribers get, a DELETE carrying only the old row.
  postgres_change_ptr move_delete_change;
  bool is_public = false;  // the table's `public` flag: records served without factory scope
  std::vector<mapping_warning> warnings;
};

// Maps row changes of one configuration.
// Thread-safety: immutable after construction; map() is const and may run concurrently.
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
  core::result<std::optional<mapped_row>> map(const row_change& change) const;

 private:
  const mapping_config* config_;
};

}  // namespace rtcache::net
