// The mapping configuration: which tables become which documents, and which of their columns may travel.
// Loaded once at start-up from TOML (the only place in routing that may throw internally), then read-only.
//
// Format (every key optional unless marked; unknown keys are refused):
//   doc_types = ["wo", "pl", ...]            # default: the playbook's (core::doc_type_registry::defaults())
//   [routing]
//   list_row_limit = 1000                     # see router.hpp
//   flush_messages = 4096
//   [tables."public.work_orders"]             # "schema.table"; a bare "work_orders" means schema public
//   doc_type = "wo"                           # required unless public = true; must be in doc_types
//   id_column = "id"                          # required with doc_type
//   factory_column = "factory_id"             # required with doc_type
//   version_column = "version"
//   status_column = "status"                  # with approve_values and/or reject_values
//   approve_values = ["approved"]
//   reject_values = ["rejected"]
//   patch = ["status", "due_date"]            # columns whose new values may ride in the event's patch
//   never_send = ["internal_notes"]           # removed from events and postgres_changes records
//   public = false                            # postgres_changes of this table served without factory scope
#pragma once

#include "rtcache/core/config_problem.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/error.hpp"

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::routing {

// Approve/reject detection: an UPDATE whose `column` changed to one of these values (text form).
struct status_rule {
  std::string column;
  std::vector<std::string> approve_values;
  std::vector<std::string> reject_values;

  friend bool operator==(const status_rule&, const status_rule&) = default;
};

// One configured table. A table with a doc type is "mapped": its rows become contract events.
// A table without one is public-only: its rows become postgres_changes records and nothing else.
struct table_mapping {
  std::string schema;
  std::string table;
  std::optional<std::string> doc_type;  // absent: public-only table
  std::string id_column;                // set iff doc_type is
  std::string factory_column;           // set iff doc_type is
  std::optional<std::string> version_column;
  std::optional<status_rule> status;
  std::vector<std::string> patch;       // sorted, unique, disjoint from never_send, none denied
  std::vector<std::string> never_send;  // sorted, unique
  bool is_public = false;

  bool mapped() const noexcept { return doc_type.has_value(); }
  std::string qualified_name() const { return schema + "." + table; }

  friend bool operator==(const table_mapping&, const table_mapping&) = default;
};

// Bounds of the per-transaction router (router.hpp states their overflow behaviour).
struct routing_limits {
  std::size_t list_row_limit = 1000;  // rows per transaction that still get per-row list: messages
  std::size_t flush_messages = 4096;  // pending per-row messages at which the source should drain

  friend bool operator==(const routing_limits&, const routing_limits&) = default;
};

// Thread-safety: immutable after load; safe to share between threads.
struct mapping_config {
  core::doc_type_registry doc_types = core::doc_type_registry::defaults();
  std::vector<table_mapping> tables;  // sorted by (schema, table)
  routing_limits limits;

  // The table's entry, or nullptr when the table is not configured. The pointer lives as long as *this.
  const table_mapping* find(std::string_view schema, std::string_view table) const noexcept;
};

struct mapping_load_options {
  // Top-level keys owned by other components of the same file (e.g. "server", "auth", "source");
  // they are skipped instead of refused as unknown.
  std::vector<std::string> foreign_sections;
};

// Parses and validates TOML text. `source_name` prefixes every problem ("rtcache.toml:12:3: ..."). Every problem
// is found, not just the first: the error's message has one line per problem, in file order, and the code of
// the first. Codes (each line names file:line:column and the key path):
//   bad_value        TOML syntax error; invalid value (empty list, bad identifier, conflicting settings)
//   unknown_field    a key this format does not define
//   wrong_type       a key holding the wrong TOML type
//   missing_field    doc_type without id_column / factory_column, status_column without values, ...
//   duplicate_key    the same table twice ("t" and "public.t"), a doc type mapped by two tables, a value
//                    listed twice, a column both in patch and never_send
//   unknown_doc_type a doc_type not in doc_types
//   bad_char / too_long / empty  an identifier (schema, table, column) outside 1..63 printable bytes
//   (a column in patch that the default deny list covers is bad_value: it would never be sent)
core::result<mapping_config> parse_mapping_config(std::string_view toml_text, std::string_view source_name = "<config>",
                                                  const mapping_load_options& options = {});

// The same reading, reporting in config_problem.hpp's model (as gateway/config.hpp's reader does): one problem
// per refusal, `where` = "<source>:<line>:<col> <path>", in file order, appended to `problems`. The result is
// usable only when nothing was appended.
mapping_config read_mapping_config(std::string_view toml_text, std::string_view source_name,
                                   const mapping_load_options& options, std::vector<core::config_problem>& problems);

// Reads `path` and parses it as above; an unreadable file is errc::empty with the OS reason.
core::result<mapping_config> load_mapping_config(const std::filesystem::path& path,
                                                 const mapping_load_options& options = {});

// The default deny list: a column is denied when one of its words (the name split at every
// non-alphanumeric byte and at lower-to-upper case changes, compared case-insensitively) is one of
// k_denied_words. Denied columns never travel, whatever the configuration says.
inline constexpr std::string_view k_denied_words[] = {
    "password", "passwd", "pwd",  "passphrase", "secret",    "secrets", "token",      "tokens",      "key",
    "keys",     "apikey", "salt", "hash",       "hashed",    "digest",  "credential", "credentials", "otp",
    "totp",     "mfa",    "pin",  "ssn",        "signature", "cookie",  "jwt",        "nonce"};

bool is_denied_column(std::string_view column) noexcept;

}  // namespace rtcache::routing
