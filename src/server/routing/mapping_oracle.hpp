// The mapping before issue 3's rewrite (a Boost.JSON DOM per record, then serialized), kept verbatim as the
// oracle that mapping_equivalence_test.cpp compares the direct JSON writer against, byte for byte.
// Test-only; not part of the library.
#pragma once

#include "rtcache/core/identifier.hpp"
#include "rtcache/net/mapping.hpp"
#include "rtcache/net/mapping_value.hpp"

#include <boost/json/object.hpp>

#include <algorithm>
#include <charconv>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rtcache::net::oracle {

using core::errc;
using core::error;
using core::result;

struct old_change {
  std::string schema;
  std::string table;
  change_type type = change_type::insert;
  boost::json::object record;
  boost::json::object old_record;
  std::string json;
};

struct old_mapped_row {
  std::optional<core::event> event;
  std::optional<std::string> old_factory_id;
  std::shared_ptr<old_change> change;
  std::shared_ptr<old_change> move_delete_change;
  bool is_public = false;
  std::vector<mapping_warning> warnings;
};

namespace detail {

// What core's decoder accepts in one event (core::codec_limits defaults); beyond these the optional field is
// left out rather than producing an event nobody can decode. Clients then invalidate.
inline constexpr std::size_t k_max_changed_keys = 256;
inline constexpr std::size_t k_max_patch_entries = 256;
inline constexpr std::size_t k_max_patch_bytes = 16 * 1024;  // keeps an event well under the 64 KiB event bound

inline std::string show(std::string_view s) {
  constexpr std::size_t k_max = 64;
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < k_max; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 || u == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4U];
      out += hex[u & 0xFU];
    } else {
      out += s[i];
    }
  }
  if (s.size() > k_max) out += "...";
  return out;
}

inline bool expects_non_string(std::uint32_t oid) {
  switch (oid) {
    case pg_oid::bool_:
    case pg_oid::int2:
    case pg_oid::int4:
    case pg_oid::int8:
    case pg_oid::oid:
    case pg_oid::float4:
    case pg_oid::float8:
    case pg_oid::numeric:
    case pg_oid::json:
    case pg_oid::jsonb: return true;
    default: return false;
  }
}

// The work of one map() call; holds views into the change and the table's configuration.
class old_row_mapper {
 public:
  old_row_mapper(const row_change& c, const table_mapping& t) : c_(c), t_(t) {}

  result<old_mapped_row> run() {
    if (auto ok = check_shape(); !ok) return ok.error();
    any_key_flag_ = std::any_of(c_.columns.begin(), c_.columns.end(), [](const row_column& col) { return col.is_key; });
    resolve_new_row();
    sendable_.resize(c_.columns.size());
    for (std::size_t i = 0; i < c_.columns.size(); ++i) {
      const std::string& name = c_.columns[i].name;
      // The identity columns travel as id/factoryId in every event anyway; the deny list cannot hide them.
      const bool identity = t_.mapped() && (name == t_.id_column || name == t_.factory_column);
      sendable_[i] = identity || (!std::binary_search(t_.never_send.begin(), t_.never_send.end(), name) &&
                                  !is_denied_column(name));
    }
    type_new_row();

    old_mapped_row out;
    out.is_public = t_.is_public;
    if (t_.mapped()) {
      auto e = build_event(out);
      if (!e) return e.error();
    }
    out.change = build_change(change_kind());
    if (out.old_factory_id) out.move_delete_change = build_change(change_type::del);
    out.warnings = std::move(warnings_);
    return out;
  }

 private:
  change_type change_kind() const {
    switch (c_.kind) {
      case row_kind::insert: return change_type::insert;
      case row_kind::update: return change_type::update;
      case row_kind::del: return change_type::del;
    }
    return change_type::update;
  }

  std::string where() const { return c_.schema + "." + c_.table; }

  result<void> check_shape() const {
    const std::size_t n = c_.columns.size();
    const bool wants_new = c_.kind != row_kind::del;
    if (wants_new ? c_.new_row.size() != n : !c_.new_row.empty()) {
      return error{errc::bad_value, where() + ": new row has " + std::to_string(c_.new_row.size()) +
                                        " values for " + std::to_string(n) + " columns"};
    }
    if (c_.old_kind == old_row_kind::none ? !c_.old_row.empty() : c_.old_row.size() != n) {
      return error{errc::bad_value, where() + ": old row has " + std::to_string(c_.old_row.size()) +
                                        " values for " + std::to_string(n) + " columns"};
    }
    if (c_.kind == row_kind::insert && c_.old_kind != old_row_kind::none) {
      return error{errc::bad_value, where() + ": an INSERT carries no old row"};
    }
    if (c_.kind == row_kind::del && c_.old_kind == old_row_kind::none) {
      return error{errc::bad_value, where() + ": a DELETE needs its old row (key or full)"};
    }
    return {};
  }

  // The old value of column i when the change tells it, else nullptr (no old row, a non-key column of a
  // key-only old row, or an unchanged TOAST value whose bytes were not sent).
  const row_value* known_old(std::size_t i) const {
    if (c_.old_kind == old_row_kind::none) return nullptr;
    if (c_.old_kind == old_row_kind::key && !in_key(i)) return nullptr;
    const row_value& v = c_.old_row[i];
    return v.state == value_state::unchanged_toast ? nullptr : &v;
  }

  // Key columns of a key-only old row: the flagged ones, or, when the source flagged none, the non-null ones.
  bool in_key(std::size_t i) const {
    if (any_key_flag_) return c_.columns[i].is_key;
    return c_.old_kind == old_row_kind::key ? c_.old_row[i].state != value_state::null : false;
  }

  // New values with unchanged TOAST taken from the full old row where it has them.
  void resolve_new_row() {
    resolved_ = c_.new_row;
    if (c_.old_kind != old_row_kind::full) return;
    for (std::size_t i = 0; i < resolved_.size(); ++i) {
      if (resolved_[i].state == value_state::unchanged_toast && c_.old_row[i].state == value_state::text) {
        resolved_[i] = c_.old_row[i];
      }
    }
  }

  typed_value typed(std::size_t i, const row_value& v) {
    if (v.state == value_state::null) return {nullptr, true};
    auto tv = type_text_value(c_.columns[i].type_oid, v.text);
    if (!tv.exact && tv.value.is_string() && expects_non_string(c_.columns[i].type_oid)) {
      warnings_.push_back({c_.columns[i].name, "value '" + show(v.text) + "' is not a valid " +
                                                   pg_type_name(c_.columns[i].type_oid) + "; sent as a string"});
    }
    return tv;
  }

  void type_new_row() {
    new_typed_.resize(resolved_.size());
    for (std::size_t i = 0; i < resolved_.size(); ++i) {
      if (sendable_[i] && resolved_[i].state != value_state::unchanged_toast) new_typed_[i] = typed(i, resolved_[i]);
    }
  }

  std::optional<std::size_t> column_index(std::string_view name) const {
    for (std::size_t i = 0; i < c_.columns.size(); ++i) {
      if (c_.columns[i].name == name) return i;
    }
    return std::nullopt;
  }

  // The id or factory text of the row: from the new row, or from the old row for a DELETE.
  result<std::string> identity_value(const std::string& column, std::string_view what) const {
    const auto idx = column_index(column);
    if (!idx) return error{errc::missing_field, where() + ": the relation has no column '" + column + "' (" +
                                                     std::string(what) + ")"};
    const row_value* v = nullptr;
    if (c_.kind == row_kind::del) {
      v = known_old(*idx);
      if (v == nullptr) {
        return error{errc::missing_field, where() + ": the DELETE's old row does not hold column '" + column +
                                              "' (" + std::string(what) +
                                              "); set REPLICA IDENTITY FULL or include it in the identity"};
      }
    } else {
      v = &resolved_[*idx];
      if (v->state == value_state::unchanged_toast) {
        return error{errc::missing_field, where() + ": column '" + column + "' (" + std::string(what) +
                                              ") is an unchanged TOAST value and no full old row holds it"};
      }
    }
    return checked_id(column, what, *v);
  }

  result<std::string> checked_id(const std::string& column, std::string_view what, const row_value& v) const {
    if (v.state == value_state::null) {
      return error{errc::empty, where() + ": column '" + column + "' (" + std::string(what) + ") is null"};
    }
    if (auto ok = core::validate_id(v.text, what); !ok) {
      return error{ok.error().code, where() + ": column '" + column + "' value '" + show(v.text) +
                                        "' is not a valid " + std::string(what) + ": " + ok.error().message};
    }
    return v.text;
  }

  result<void> build_event(old_mapped_row& out) {
    core::event e;
    e.type = *t_.doc_type;
    auto id = identity_value(t_.id_column, "id");
    if (!id) return id.error();
    auto factory = identity_value(t_.factory_column, "factoryId");
    if (!factory) return factory.error();
    e.id = std::move(*id);
    e.factory_id = std::move(*factory);
    if (!c_.commit_ts.empty()) e.ts = c_.commit_ts;

    switch (c_.kind) {
      case row_kind::insert: e.act = core::action::create; break;
      case row_kind::del: e.act = core::action::del; break;
      case row_kind::update: e.act = update_action(); break;
    }
    read_version(e);

    if (c_.kind == row_kind::update) {
      // A move: the factory column changed, as far as the old row tells.
      const auto fidx = column_index(t_.factory_column);
      if (const row_value* old = known_old(*fidx); old != nullptr && !(*old == resolved_[*fidx])) {
        auto old_factory = checked_id(t_.factory_column, "factoryId", *old);
        if (!old_factory) return old_factory.error();
        out.old_factory_id = std::move(*old_factory);
      }
      if (c_.old_kind == old_row_kind::full) fill_changes(e);
    }
    out.event = std::move(e);
    return {};
  }

  // approve/reject only when the status column CHANGED to a configured value, which needs its old value: an
  // UPDATE of another column of an approved row must not approve it again. Without the old value: update.
  core::action update_action() const {
    if (!t_.status) return core::action::update;
    const auto idx = column_index(t_.status->column);
    if (!idx) return core::action::update;
    const row_value& now = resolved_[*idx];
    const row_value* before = known_old(*idx);
    if (now.state != value_state::text || before == nullptr || *before == now) return core::action::update;
    const auto& s = *t_.status;
    if (std::find(s.approve_values.begin(), s.approve_values.end(), now.text) != s.approve_values.end()) {
      return core::action::approve;
    }
    if (std::find(s.reject_values.begin(), s.reject_values.end(), now.text) != s.reject_values.end()) {
      return core::action::reject;
    }
    return core::action::update;
  }

  void read_version(core::event& e) {
    if (!t_.version_column) return;
    const auto idx = column_index(*t_.version_column);
    if (!idx) {
      warnings_.push_back({*t_.version_column, "version column is not in the relation; no version sent"});
      return;
    }
    const row_value* v = c_.kind == row_kind::del ? known_old(*idx) : &resolved_[*idx];
    if (v == nullptr || v->state != value_state::text) return;
    std::int64_t version = 0;
    const auto r = std::from_chars(v->text.data(), v->text.data() + v->text.size(), version);
    if (r.ec != std::errc{} || r.ptr != v->text.data() + v->text.size() || version < 0) {
      warnings_.push_back({*t_.version_column, "version '" + show(v->text) +
                                                   "' is not a non-negative 64-bit integer; no version sent"});
      return;
    }
    e.version = version;
  }

  // changedKeys and patch, from a full old row. An old value that is unchanged TOAST while the new one was sent
  // counts as changed: it cannot be compared, and claiming a change only costs a refetch.
  void fill_changes(core::event& e) {
    std::vector<std::string> changed;
    std::vector<core::patch_entry> patch;
    std::size_t patch_bytes = 0;
    bool patch_ok = true;
    for (std::size_t i = 0; i < c_.columns.size(); ++i) {
      const row_value& now = c_.new_row[i];
      const row_value& before = c_.old_row[i];
      if (now.state == value_state::unchanged_toast) continue;
      if (before.state != value_state::unchanged_toast && before == now) continue;
      if (!sendable_[i]) continue;  // never-sent columns are not named either
      const std::string& name = c_.columns[i].name;
      changed.push_back(name);
      if (!std::binary_search(t_.patch.begin(), t_.patch.end(), name) || !new_typed_[i]) continue;
      if (!new_typed_[i]->exact) {
        patch_ok = false;  // a client patching with an approximate value would show a wrong one: refetch
        continue;
      }
      core::patch_entry p{name, {}};
      append_json(p.json_value, new_typed_[i]->value);
      patch_bytes += name.size() + p.json_value.size() + 4;
      patch.push_back(std::move(p));
    }
    if (changed.size() > k_max_changed_keys) return;  // absent: clients invalidate
    e.changed_keys = std::move(changed);
    if (patch.empty() || !patch_ok || patch.size() > k_max_patch_entries || patch_bytes > k_max_patch_bytes) return;
    std::sort(patch.begin(), patch.end(),
              [](const core::patch_entry& a, const core::patch_entry& b) { return a.column < b.column; });
    e.patch = std::move(patch);
  }

  // The old_record: the full old row, or the identity columns (of the key-only old row, or of the new row
  // when an UPDATE carried no old row because its key did not change, as Supabase reports it).
  boost::json::object old_record() {
    boost::json::object rec;
    for (std::size_t i = 0; i < c_.columns.size(); ++i) {
      if (!sendable_[i]) continue;
      if (c_.old_kind == old_row_kind::none) {
        if (c_.columns[i].is_key && new_typed_[i]) rec[c_.columns[i].name] = new_typed_[i]->value;
        continue;
      }
      if (const row_value* v = known_old(i); v != nullptr) rec[c_.columns[i].name] = typed(i, *v).value;
    }
    return rec;
  }

  std::shared_ptr<old_change> build_change(change_type type) {
    auto pc = std::make_shared<old_change>();
    pc->schema = c_.schema;
    pc->table = c_.table;
    pc->type = type;
    if (type != change_type::del) {
      for (std::size_t i = 0; i < c_.columns.size(); ++i) {
        if (new_typed_[i]) pc->record[c_.columns[i].name] = new_typed_[i]->value;
      }
    }
    if (type != change_type::insert) {
      if (!old_record_) old_record_ = old_record();
      pc->old_record = *old_record_;
    }

    std::string& j = pc->json;
    j += "{\"schema\":";
    append_json_string(j, c_.schema);
    j += ",\"table\":";
    append_json_string(j, c_.table);
    j += ",\"commit_timestamp\":";
    append_json_string(j, c_.commit_ts);
    j += ",\"type\":\"";
    j += to_string(type);
    j += "\",\"columns\":[";
    bool first = true;
    for (std::size_t i = 0; i < c_.columns.size(); ++i) {
      if (!sendable_[i]) continue;
      if (!first) j += ',';
      first = false;
      j += "{\"name\":";
      append_json_string(j, c_.columns[i].name);
      j += ",\"type\":";
      append_json_string(j, pg_type_name(c_.columns[i].type_oid, c_.columns[i].type_name));
      j += '}';
    }
    j += ']';
    if (type != change_type::del) {
      j += ",\"record\":";
      append_json(j, pc->record);
    }
    if (type != change_type::insert) {
      j += ",\"old_record\":";
      append_json(j, pc->old_record);
    }
    j += ",\"errors\":null}";
    return pc;
  }

  const row_change& c_;
  const table_mapping& t_;
  bool any_key_flag_ = false;  // whether the source flagged identity columns at all
  std::vector<row_value> resolved_;
  std::vector<bool> sendable_;
  std::vector<std::optional<typed_value>> new_typed_;  // sendable, sent new values
  std::optional<boost::json::object> old_record_;
  std::vector<mapping_warning> warnings_;
};

}  // namespace detail

// The old mapper::map.
inline result<std::optional<old_mapped_row>> old_map(const mapping_config& config, const row_change& change) {
  const table_mapping* t = config.find(change.schema, change.table);
  if (t == nullptr) return std::optional<old_mapped_row>{};
  auto row = detail::old_row_mapper(change, *t).run();
  if (!row) return row.error();
  return std::optional<old_mapped_row>(std::move(*row));
}

}  // namespace rtcache::net::oracle
