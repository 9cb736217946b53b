// Mapping one committed row change to the contract event and the postgres_changes record (docs/design.md §2, §4).
#include "routing/mapping.hpp"

#include "routing/mapping_value.hpp"
#include "rtcache/core/identifier.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <span>

namespace rtcache::routing {

using core::errc;
using core::error;
using core::result;

namespace {

// What core's decoder accepts in one event (core::codec_limits defaults); beyond these the optional field is
// left out rather than producing an event nobody can decode. Clients then invalidate.
constexpr std::size_t k_max_changed_keys = 256;
constexpr std::size_t k_max_patch_entries = 256;
constexpr std::size_t k_max_patch_bytes = 16 * 1024;  // keeps an event well under the 64 KiB event bound

std::string show(std::string_view s) {
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

bool expects_non_string(std::uint32_t oid) {
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

}  // namespace

// The work of one map() call: the record's JSON written straight from the row's text values (no DOM), the
// event read from the same values. Holds views into the row and the plan.
class row_mapper {
 public:
  row_mapper(const relation_plan_ptr& plan, const row_view& c) : plan_(plan), p_(*plan), t_(*p_.table_), c_(c) {}

  result<mapped_row> run() {
    if (auto ok = check_shape(); !ok) return ok.error();
    const std::size_t n = p_.columns_.size();
    if (n <= inline_.size()) {
      cols_ = std::span<column_state>(inline_.data(), n);
    } else {
      heap_.resize(n);
      cols_ = std::span<column_state>(heap_);
    }
    resolve_new_row();

    mapped_row out;
    out.is_public = t_.is_public;
    auto pc = std::make_shared<postgres_change>();
    pc->plan_ = plan_;
    start_change(*pc, change_kind());
    pc->entries_.reserve(row_bytes(9));
    std::size_t record_at = 0;
    std::size_t record_len = 0;
    if (c_.kind != row_kind::del) {
      record_at = pc->json.size();
      write_record(*pc);
      record_len = pc->json.size() - record_at;
    }
    if (t_.mapped()) {
      auto e = build_event(out, pc->json);
      if (!e) return e.error();
    }
    std::size_t old_at = 0;
    std::size_t old_len = 0;
    if (c_.kind != row_kind::insert) {
      pc->json += ",\"old_record\":";
      old_at = pc->json.size();
      write_old_record(*pc);
      old_len = pc->json.size() - old_at;
    }
    pc->json += ",\"errors\":null}";
    if (out.old_factory_id) {
      auto del = std::make_shared<postgres_change>();
      del->plan_ = plan_;
      start_change(*del, change_type::del);
      del->json += ",\"old_record\":";
      del->json.append(pc->json, old_at, old_len);
      del->json += ",\"errors\":null}";
      const std::size_t old_bytes = pc->entries_.size() - record_entry_bytes_;
      del->entries_.assign(pc->entries_, record_entry_bytes_, old_bytes);
      del->old_entries_ = pc->old_entries_;
      out.move_delete_change = std::move(del);
      // The new owner sees the row arrive: the record alone, as if inserted, without the old factory's values.
      auto ins = std::make_shared<postgres_change>();
      ins->plan_ = plan_;
      start_change(*ins, change_type::insert);
      ins->json.append(pc->json, record_at, record_len);
      ins->json += ",\"errors\":null}";
      ins->entries_.assign(pc->entries_, 0, record_entry_bytes_);
      ins->record_entries_ = pc->record_entries_;
      out.move_insert_change = std::move(ins);
    }
    out.change = std::move(pc);
    out.warnings = std::move(warnings_);
    return out;
  }

 private:
  // Per column: the new value with unchanged TOAST resolved, and where its JSON sits in the record's text.
  struct column_state {
    row_value_view resolved;
    std::uint32_t json_at = 0;
    std::uint32_t json_len = 0;
    bool typed = false;  // sendable and sent: has JSON in the record
    bool exact = true;
  };

  change_type change_kind() const {
    switch (c_.kind) {
      case row_kind::insert: return change_type::insert;
      case row_kind::update: return change_type::update;
      case row_kind::del: return change_type::del;
    }
    return change_type::update;
  }

  const std::string& where() const { return p_.where_; }

  result<void> check_shape() const {
    const std::size_t n = p_.columns_.size();
    const bool wants_new = c_.kind != row_kind::del;
    if (wants_new ? c_.new_row.size() != n : !c_.new_row.empty()) {
      return error{errc::bad_value, where() + ": new row has " + std::to_string(c_.new_row.size()) + " values for " +
                                        std::to_string(n) + " columns"};
    }
    if (c_.old_kind == old_row_kind::none ? !c_.old_row.empty() : c_.old_row.size() != n) {
      return error{errc::bad_value, where() + ": old row has " + std::to_string(c_.old_row.size()) + " values for " +
                                        std::to_string(n) + " columns"};
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
  const row_value_view* known_old(std::size_t i) const {
    if (c_.old_kind == old_row_kind::none) return nullptr;
    if (c_.old_kind == old_row_kind::key && !in_key(i)) return nullptr;
    const row_value_view& v = c_.old_row[i];
    return v.state == value_state::unchanged_toast ? nullptr : &v;
  }

  // Key columns of a key-only old row: the flagged ones, or, when the source flagged none, the non-null ones.
  bool in_key(std::size_t i) const {
    if (p_.any_key_flag_) return p_.columns_[i].is_key;
    return c_.old_kind == old_row_kind::key ? c_.old_row[i].state != value_state::null : false;
  }

  // New values with unchanged TOAST taken from the full old row where it has them.
  void resolve_new_row() {
    if (c_.kind == row_kind::del) return;
    const bool full = c_.old_kind == old_row_kind::full;
    for (std::size_t i = 0; i < cols_.size(); ++i) {
      cols_[i].resolved = c_.new_row[i];
      if (full && c_.new_row[i].state == value_state::unchanged_toast && c_.old_row[i].state == value_state::text) {
        cols_[i].resolved = c_.old_row[i];
      }
    }
  }

  // Writes column i's value as typed JSON (exactly type_text_value + append_json); warns as before.
  bool write_value(std::string& out, std::size_t i, const row_value_view& v) {
    if (v.state == value_state::null) {
      out += "null";
      return true;
    }
    const std::uint32_t oid = p_.columns_[i].type_oid;
    const json_written w = append_typed_json(out, oid, v.text);
    if (!w.exact && w.string && expects_non_string(oid)) {
      warnings_.push_back({p_.columns_[i].name,
                           "value '" + show(v.text) + "' is not a valid " + pg_type_name(oid) + "; sent as a string"});
    }
    return w.exact;
  }

  static void add_entry(std::string& entries, std::size_t i, const row_value_view& v) {
    const auto index = static_cast<std::uint32_t>(i);
    const auto state = static_cast<std::uint8_t>(v.state);
    const auto len = static_cast<std::uint32_t>(v.text.size());
    char head[9];
    std::memcpy(head, &index, 4);
    std::memcpy(head + 4, &state, 1);
    std::memcpy(head + 5, &len, 4);
    entries.append(head, sizeof head);
    entries.append(v.text);
  }

  void start_change(postgres_change& pc, change_type type) const {
    pc.schema = p_.schema_;
    pc.table = p_.table_name_;
    pc.type = type;
    std::string& j = pc.json;
    j.reserve(p_.prefix_json_.size() + p_.columns_json_.size() + c_.commit_ts.size() + 64 + row_bytes(24));
    j += p_.prefix_json_;
    append_json_string(j, c_.commit_ts);
    j += ",\"type\":\"";
    j += to_string(type);
    j += '"';
    j += p_.columns_json_;
  }

  // The row's text values, each counted with `per_value` bytes of overhead: what the record's JSON (about 24
  // per value) and its entries (add_entry's 9-byte header) take, so each is allocated once instead of doubling.
  std::size_t row_bytes(std::size_t per_value) const {
    std::size_t bytes = 0;
    for (const auto& v : c_.new_row) bytes += v.text.size() + per_value;
    for (const auto& v : c_.old_row) bytes += v.text.size() + per_value;
    return bytes;
  }

  void write_record(postgres_change& pc) {
    std::string& j = pc.json;
    j += ",\"record\":{";
    bool first = true;
    std::size_t entries = 0;
    for (std::size_t i = 0; i < cols_.size(); ++i) {
      column_state& s = cols_[i];
      if (!p_.sendable_[i] || s.resolved.state == value_state::unchanged_toast) continue;
      if (!first) j += ',';
      first = false;
      j += p_.json_keys_[i];
      s.json_at = static_cast<std::uint32_t>(j.size());
      s.exact = write_value(j, i, s.resolved);
      s.json_len = static_cast<std::uint32_t>(j.size() - s.json_at);
      s.typed = true;
      add_entry(pc.entries_, i, s.resolved);
      ++entries;
    }
    j += '}';
    pc.record_entries_ = static_cast<std::uint32_t>(entries);
    record_entry_bytes_ = pc.entries_.size();
  }

  // The old_record: the full old row, or the identity columns (of the key-only old row, or of the new row
  // when an UPDATE carried no old row because its key did not change, as Supabase reports it).
  void write_old_record(postgres_change& pc) {
    std::string& j = pc.json;
    record_entry_bytes_ = pc.entries_.size();
    j += '{';
    bool first = true;
    std::size_t entries = 0;
    for (std::size_t i = 0; i < cols_.size(); ++i) {
      if (!p_.sendable_[i]) continue;
      const row_value_view* v = nullptr;
      if (c_.old_kind == old_row_kind::none) {
        if (!p_.columns_[i].is_key || !cols_[i].typed) continue;
        v = &cols_[i].resolved;
        if (!first) j += ',';
        j += p_.json_keys_[i];
        j.append(j, cols_[i].json_at, cols_[i].json_len);  // the same value, already typed (and warned about)
      } else {
        v = known_old(i);
        if (v == nullptr) continue;
        if (!first) j += ',';
        j += p_.json_keys_[i];
        write_value(j, i, *v);
      }
      first = false;
      add_entry(pc.entries_, i, *v);
      ++entries;
    }
    j += '}';
    pc.old_entries_ = static_cast<std::uint32_t>(entries);
  }

  // The id or factory text of the row: from the new row, or from the old row for a DELETE.
  result<std::string> identity_value(const std::optional<std::size_t>& idx, const std::string& column,
                                     std::string_view what) const {
    if (!idx)
      return error{errc::missing_field,
                   where() + ": the relation has no column '" + column + "' (" + std::string(what) + ")"};
    const row_value_view* v = nullptr;
    if (c_.kind == row_kind::del) {
      v = known_old(*idx);
      if (v == nullptr) {
        return error{errc::missing_field, where() + ": the DELETE's old row does not hold column '" + column + "' (" +
                                              std::string(what) +
                                              "); set REPLICA IDENTITY FULL or include it in the identity"};
      }
    } else {
      v = &cols_[*idx].resolved;
      if (v->state == value_state::unchanged_toast) {
        return error{errc::missing_field, where() + ": column '" + column + "' (" + std::string(what) +
                                              ") is an unchanged TOAST value and no full old row holds it"};
      }
    }
    return checked_id(column, what, *v);
  }

  result<std::string> checked_id(const std::string& column, std::string_view what, const row_value_view& v) const {
    if (v.state == value_state::null) {
      return error{errc::empty, where() + ": column '" + column + "' (" + std::string(what) + ") is null"};
    }
    if (auto ok = core::validate_id(v.text, what); !ok) {
      return error{ok.error().code, where() + ": column '" + column + "' value '" + show(v.text) + "' is not a valid " +
                                        std::string(what) + ": " + ok.error().message};
    }
    return std::string(v.text);
  }

  result<void> build_event(mapped_row& out, const std::string& record_json) {
    core::event e;
    auto id = identity_value(p_.id_index_, t_.id_column, "id");
    if (!id) return id.error();
    auto factory = identity_value(p_.factory_index_, t_.factory_column, "factoryId");
    if (!factory) return factory.error();
    e.type = *t_.doc_type;
    e.id = std::move(*id);
    e.factory_id = std::move(*factory);
    if (!c_.commit_ts.empty()) e.ts = std::string(c_.commit_ts);

    switch (c_.kind) {
      case row_kind::insert: e.act = core::action::create; break;
      case row_kind::del: e.act = core::action::del; break;
      case row_kind::update: e.act = update_action(); break;
    }
    read_version(e);

    if (c_.kind == row_kind::update) {
      // A move: the factory column changed, as far as the old row tells.
      const std::size_t fidx = *p_.factory_index_;
      if (const row_value_view* old = known_old(fidx); old != nullptr && !(*old == cols_[fidx].resolved)) {
        auto old_factory = checked_id(t_.factory_column, "factoryId", *old);
        if (!old_factory) return old_factory.error();
        out.old_factory_id = std::move(*old_factory);
      }
      if (c_.old_kind == old_row_kind::full) fill_changes(e, record_json);
    }
    out.event = std::move(e);
    return {};
  }

  // approve/reject only when the status column CHANGED to a configured value, which needs its old value: an
  // UPDATE of another column of an approved row must not approve it again. Without the old value: update.
  core::action update_action() const {
    if (!t_.status || !p_.status_index_) return core::action::update;
    const std::size_t idx = *p_.status_index_;
    const row_value_view& now = cols_[idx].resolved;
    const row_value_view* before = known_old(idx);
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
    if (!p_.version_index_) {
      warnings_.push_back({*t_.version_column, "version column is not in the relation; no version sent"});
      return;
    }
    const std::size_t idx = *p_.version_index_;
    const row_value_view* v = c_.kind == row_kind::del ? known_old(idx) : &cols_[idx].resolved;
    if (v == nullptr || v->state != value_state::text) return;
    std::int64_t version = 0;
    const auto r = std::from_chars(v->text.data(), v->text.data() + v->text.size(), version);
    if (r.ec != std::errc{} || r.ptr != v->text.data() + v->text.size() || version < 0) {
      warnings_.push_back({*t_.version_column,
                           "version '" + show(v->text) + "' is not a non-negative 64-bit integer; no version sent"});
      return;
    }
    e.version = version;
  }

  // changedKeys and patch, from a full old row. An old value that is unchanged TOAST while the new one was sent
  // counts as changed: it cannot be compared, and claiming a change only costs a refetch.
  void fill_changes(core::event& e, const std::string& record_json) {
    std::vector<std::string> changed;
    std::vector<core::patch_entry> patch;
    changed.reserve(cols_.size());  // one allocation each, not one per doubling
    std::size_t patch_bytes = 0;
    bool patch_ok = true;
    for (std::size_t i = 0; i < cols_.size(); ++i) {
      const row_value_view& now = c_.new_row[i];
      const row_value_view& before = c_.old_row[i];
      if (now.state == value_state::unchanged_toast) continue;
      if (before.state != value_state::unchanged_toast && before == now) continue;
      if (!p_.sendable_[i]) continue;  // never-sent columns are not named either
      const std::string& name = p_.columns_[i].name;
      changed.push_back(name);
      if (!p_.patchable_[i] || !cols_[i].typed) continue;
      if (!cols_[i].exact) {
        patch_ok = false;  // a client patching with an approximate value would show a wrong one: refetch
        continue;
      }
      if (patch.empty()) patch.reserve(cols_.size() - i);
      core::patch_entry p{name, record_json.substr(cols_[i].json_at, cols_[i].json_len)};
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

  const relation_plan_ptr& plan_;
  const relation_plan& p_;
  const table_mapping& t_;
  const row_view& c_;
  std::array<column_state, 32> inline_{};
  std::vector<column_state> heap_;
  std::span<column_state> cols_;
  std::size_t record_entry_bytes_ = 0;  // where the old_record's entries start in entries_
  std::vector<mapping_warning> warnings_;
};

namespace {

std::vector<row_value_view> views_of(const std::vector<row_value>& row) {
  std::vector<row_value_view> out;
  out.reserve(row.size());
  for (const row_value& v : row) out.push_back(row_value_view::of(v));
  return out;
}

}  // namespace

std::string_view to_string(change_type t) noexcept {
  switch (t) {
    case change_type::insert: return "INSERT";
    case change_type::update: return "UPDATE";
    case change_type::del: return "DELETE";
  }
  return "UPDATE";
}

relation_plan_ptr mapper::plan(std::string_view schema, std::string_view table, std::vector<row_column> columns) const {
  const table_mapping* t = config_->find(schema, table);
  if (t == nullptr) return nullptr;
  auto p = std::make_shared<relation_plan>();
  p->table_ = t;
  p->schema_ = std::string(schema);
  p->table_name_ = std::string(table);
  p->where_ = p->schema_ + "." + p->table_name_;
  p->columns_ = std::move(columns);
  const std::size_t n = p->columns_.size();
  p->sendable_.resize(n);
  p->patchable_.resize(n);
  p->json_keys_.resize(n);
  p->columns_json_ = ",\"columns\":[";
  bool first = true;
  for (std::size_t i = 0; i < n; ++i) {
    const row_column& col = p->columns_[i];
    const std::string& name = col.name;
    if (col.is_key) p->any_key_flag_ = true;
    // The identity columns travel as id/factoryId in every event anyway; the deny list cannot hide them.
    const bool identity = t->mapped() && (name == t->id_column || name == t->factory_column);
    const bool sendable =
        identity || (!std::binary_search(t->never_send.begin(), t->never_send.end(), name) && !is_denied_column(name));
    p->sendable_[i] = sendable ? 1 : 0;
    p->patchable_[i] = std::binary_search(t->patch.begin(), t->patch.end(), name) ? 1 : 0;
    append_json_string(p->json_keys_[i], name);
    p->json_keys_[i] += ':';
    // The first column of a name is the one lookups by name find.
    auto first_named = [&](std::optional<std::size_t>& slot, std::string_view want) {
      if (!slot && name == want) slot = i;
    };
    if (t->mapped()) {
      first_named(p->id_index_, t->id_column);
      first_named(p->factory_index_, t->factory_column);
    }
    if (t->version_column) first_named(p->version_index_, *t->version_column);
    if (t->status) first_named(p->status_index_, t->status->column);
    if (!sendable) continue;
    if (!first) p->columns_json_ += ',';
    first = false;
    p->columns_json_ += "{\"name\":";
    append_json_string(p->columns_json_, name);
    p->columns_json_ += ",\"type\":";
    append_json_string(p->columns_json_, pg_type_name(col.type_oid, col.type_name));
    p->columns_json_ += '}';
  }
  p->columns_json_ += ']';
  p->prefix_json_ = "{\"schema\":";
  append_json_string(p->prefix_json_, p->schema_);
  p->prefix_json_ += ",\"table\":";
  append_json_string(p->prefix_json_, p->table_name_);
  p->prefix_json_ += ",\"commit_timestamp\":";
  return p;
}

result<mapped_row> mapper::map(const relation_plan_ptr& plan, const row_view& row) const {
  return row_mapper(plan, row).run();
}

result<std::optional<mapped_row>> mapper::map(const row_change& change) const {
  const relation_plan_ptr p = plan(change.schema, change.table, change.columns);
  if (!p) return std::optional<mapped_row>{};
  const std::vector<row_value_view> new_row = views_of(change.new_row);
  const std::vector<row_value_view> old_row = views_of(change.old_row);
  row_view view;
  view.kind = change.kind;
  view.new_row = new_row;
  view.old_kind = change.old_kind;
  view.old_row = old_row;
  view.commit_ts = change.commit_ts;
  view.xid = change.xid;
  auto row = map(p, view);
  if (!row) return row.error();
  return std::optional<mapped_row>(std::move(*row));
}

const boost::json::object& postgres_change::record() const {
  std::call_once(built_, [this] { build_objects(); });
  return record_;
}

const boost::json::object& postgres_change::old_record() const {
  std::call_once(built_, [this] { build_objects(); });
  return old_record_;
}

namespace {

// A record's JSON nests a json/jsonb value (at most 32 deep: type_text_value) two levels down.
boost::json::parse_options record_parse_options() {
  boost::json::parse_options opts;
  opts.max_depth = 40;
  return opts;
}

}  // namespace

result<std::shared_ptr<const postgres_change>> postgres_change::from_json(std::string json) {
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(json, ec, {}, record_parse_options());
  if (ec) return error{errc::bad_json, "postgres_changes record: not JSON (" + ec.message() + ")"};
  if (!doc.is_object()) return error{errc::not_object, "postgres_changes record: not a JSON object"};
  const auto& o = doc.get_object();
  std::string_view fields[3];
  const char* const names[3] = {"schema", "table", "type"};
  for (int i = 0; i < 3; ++i) {
    const auto* v = o.if_contains(names[i]);
    if (v == nullptr)
      return error{errc::missing_field, std::string("postgres_changes record: no \"") + names[i] + "\""};
    if (!v->is_string() || v->get_string().empty()) {
      return error{errc::wrong_type,
                   std::string("postgres_changes record: \"") + names[i] + "\" must be a non-empty string"};
    }
    fields[i] = v->get_string();
  }
  auto pc = std::make_shared<postgres_change>();
  if (fields[2] == "INSERT") {
    pc->type = change_type::insert;
  } else if (fields[2] == "UPDATE") {
    pc->type = change_type::update;
  } else if (fields[2] == "DELETE") {
    pc->type = change_type::del;
  } else {
    return error{errc::bad_value, "postgres_changes record: \"type\" must be INSERT, UPDATE or DELETE, not \"" +
                                      std::string(fields[2].substr(0, 32)) + "\""};
  }
  // As the mapper writes them: a record unless deleted, an old record unless inserted.
  const bool wants[2] = {pc->type != change_type::del, pc->type != change_type::insert};
  const char* const members[2] = {"record", "old_record"};
  for (int i = 0; i < 2; ++i) {
    const auto* v = o.if_contains(members[i]);
    if (v != nullptr && !v->is_object()) {
      return error{errc::wrong_type, std::string("postgres_changes record: \"") + members[i] + "\" must be an object"};
    }
    if ((v != nullptr) != wants[i]) {
      return error{errc::bad_value, std::string("postgres_changes record: a ") + std::string(fields[2]) +
                                        (wants[i] ? " needs \"" : " has no \"") + members[i] + "\""};
    }
  }
  pc->schema = std::string(fields[0]);
  pc->table = std::string(fields[1]);
  pc->json = std::move(json);
  pc->from_text_ = true;
  return std::shared_ptr<const postgres_change>(std::move(pc));
}

// The objects the eager mapper used to build: each entry typed as the record's JSON was (type_text_value). A
// record read back from its JSON (from_json, which checked it) takes its members as they are.
void postgres_change::build_objects() const {
  if (from_text_) {
    boost::system::error_code ec;
    boost::json::value doc = boost::json::parse(json, ec, {}, record_parse_options());
    if (ec || !doc.is_object()) return;
    auto& o = doc.get_object();
    if (auto* r = o.if_contains("record"); r != nullptr && r->is_object()) record_ = std::move(r->get_object());
    if (auto* r = o.if_contains("old_record"); r != nullptr && r->is_object()) {
      old_record_ = std::move(r->get_object());
    }
    return;
  }
  if (!plan_) return;
  const auto& columns = plan_->columns_;
  std::size_t at = 0;
  auto read = [&](boost::json::object& into, std::uint32_t count) {
    for (std::uint32_t k = 0; k < count; ++k) {
      std::uint32_t index = 0;
      std::uint8_t state = 0;
      std::uint32_t len = 0;
      std::memcpy(&index, entries_.data() + at, 4);
      std::memcpy(&state, entries_.data() + at + 4, 1);
      std::memcpy(&len, entries_.data() + at + 5, 4);
      const std::string_view text(entries_.data() + at + 9, len);
      at += 9 + len;
      const row_column& col = columns[index];
      if (static_cast<value_state>(state) == value_state::null) {
        into[col.name] = nullptr;
      } else {
        into[col.name] = type_text_value(col.type_oid, text).value;
      }
    }
  };
  read(record_, record_entries_);
  read(old_record_, old_entries_);
}

}  // namespace rtcache::routing
