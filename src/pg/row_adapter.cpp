// pgoutput change -> routing::row_change (see row_adapter.hpp).
#include "rtcache/pg/row_adapter.hpp"

#include <utility>

namespace rtcache::pg {

result<void> type_cache::apply(const type_message& type) {
  if (names_.count(type.oid) == 0 && names_.size() >= max_types_) {
    return error{errc::too_many, "Type: more than " + std::to_string(max_types_) + " types in one session (oid " +
                                     std::to_string(type.oid) + ")"};
  }
  names_[type.oid] = type.schema.empty() ? type.name : type.schema + "." + type.name;
  return {};
}

std::string type_cache::find(std::uint32_t oid) const {
  const auto it = names_.find(oid);
  return it == names_.end() ? std::string{} : it->second;
}

namespace {

std::string table_name(const relation_message& rel) {
  return (rel.schema.empty() ? std::string("pg_catalog") : rel.schema) + "." + rel.name;
}

// Views of `tuple`'s values into `out` (cleared first); the one place that decides what a tuple may hold.
result<void> view_values(const relation_message& rel, const tuple_data& tuple, std::string_view what,
                         std::vector<routing::row_value_view>& out) {
  out.clear();
  if (tuple.size() != rel.columns.size()) {
    return error{errc::bad_value, std::string(what) + " of " + table_name(rel) + ": " + std::to_string(tuple.size()) +
                                      " values for " + std::to_string(rel.columns.size()) + " columns"};
  }
  out.reserve(tuple.size());
  for (std::size_t i = 0; i < tuple.size(); ++i) {
    const column_value& v = tuple[i];
    switch (v.kind) {
      case value_kind::null: out.push_back({routing::value_state::null, {}}); break;
      case value_kind::unchanged_toast: out.push_back({routing::value_state::unchanged_toast, {}}); break;
      case value_kind::text: out.push_back({routing::value_state::text, v.bytes}); break;
      case value_kind::binary:
        return error{errc::bad_value, std::string(what) + " of " + table_name(rel) + ": column " + rel.columns[i].name +
                                          " is binary; the source reads text values only"};
    }
  }
  return {};
}

result<std::vector<routing::row_value>> convert(const relation_message& rel, const tuple_data& tuple,
                                                std::string_view what) {
  std::vector<routing::row_value_view> views;
  if (auto ok = view_values(rel, tuple, what, views); !ok) return ok.error();
  std::vector<routing::row_value> out;
  out.reserve(views.size());
  for (const auto& v : views) out.push_back({v.state, std::string(v.text)});
  return out;
}

routing::row_change skeleton(const relation_message& rel, routing::row_kind kind, const type_cache& types,
                             const change_context& context) {
  routing::row_change c;
  c.schema = schema_name(rel);
  c.table = rel.name;
  c.kind = kind;
  c.columns = row_columns(rel, types);
  c.commit_ts = context.commit_ts;
  c.xid = context.xid;
  return c;
}

routing::old_row_kind old_kind(old_tuple_kind kind) {
  switch (kind) {
    case old_tuple_kind::none: return routing::old_row_kind::none;
    case old_tuple_kind::key: return routing::old_row_kind::key;
    case old_tuple_kind::full: return routing::old_row_kind::full;
  }
  return routing::old_row_kind::none;
}

}  // namespace

std::vector<routing::row_column> row_columns(const relation_message& rel, const type_cache& types) {
  std::vector<routing::row_column> out;
  out.reserve(rel.columns.size());
  for (const relation_column& col : rel.columns) {
    out.push_back(routing::row_column{col.name, col.type_oid, types.find(col.type_oid), col.is_key});
  }
  return out;
}

std::string schema_name(const relation_message& rel) {
  return rel.schema.empty() ? "pg_catalog" : rel.schema;
}

result<routing::row_view> row_view_builder::view(const relation_message& rel, const insert_message& change,
                                                 const change_context& context) {
  old_row_.clear();
  if (auto ok = view_values(rel, change.new_tuple, "Insert", new_row_); !ok) return ok.error();
  return routing::row_view{routing::row_kind::insert, new_row_,   routing::old_row_kind::none, {},
                           context.commit_ts,         context.xid};
}

result<routing::row_view> row_view_builder::view(const relation_message& rel, const update_message& change,
                                                 const change_context& context) {
  old_row_.clear();
  if (auto ok = view_values(rel, change.new_tuple, "Update", new_row_); !ok) return ok.error();
  if (change.old_kind != old_tuple_kind::none) {
    if (auto ok = view_values(rel, change.old_tuple, "Update (old row)", old_row_); !ok) return ok.error();
  }
  return routing::row_view{routing::row_kind::update, new_row_,   old_kind(change.old_kind), old_row_,
                           context.commit_ts,         context.xid};
}

result<routing::row_view> row_view_builder::view(const relation_message& rel, const delete_message& change,
                                                 const change_context& context) {
  new_row_.clear();
  const auto kind = change.old_kind == old_tuple_kind::full ? routing::old_row_kind::full : routing::old_row_kind::key;
  if (auto ok = view_values(rel, change.old_tuple, "Delete", old_row_); !ok) return ok.error();
  return routing::row_view{routing::row_kind::del, {}, kind, old_row_, context.commit_ts, context.xid};
}

result<routing::row_change> adapt(const relation_message& rel, const insert_message& change, const type_cache& types,
                                  const change_context& context) {
  routing::row_change c = skeleton(rel, routing::row_kind::insert, types, context);
  auto values = convert(rel, change.new_tuple, "Insert");
  if (!values) return values.error();
  c.new_row = std::move(*values);
  return c;
}

result<routing::row_change> adapt(const relation_message& rel, const update_message& change, const type_cache& types,
                                  const change_context& context) {
  routing::row_change c = skeleton(rel, routing::row_kind::update, types, context);
  auto values = convert(rel, change.new_tuple, "Update");
  if (!values) return values.error();
  c.new_row = std::move(*values);
  c.old_kind = old_kind(change.old_kind);
  if (change.old_kind != old_tuple_kind::none) {
    auto old_values = convert(rel, change.old_tuple, "Update (old row)");
    if (!old_values) return old_values.error();
    c.old_row = std::move(*old_values);
  }
  return c;
}

result<routing::row_change> adapt(const relation_message& rel, const delete_message& change, const type_cache& types,
                                  const change_context& context) {
  routing::row_change c = skeleton(rel, routing::row_kind::del, types, context);
  c.old_kind = change.old_kind == old_tuple_kind::full ? routing::old_row_kind::full : routing::old_row_kind::key;
  auto old_values = convert(rel, change.old_tuple, "Delete");
  if (!old_values) return old_values.error();
  c.old_row = std::move(*old_values);
  return c;
}

result<std::vector<routing::gap_table>> truncated_tables(const truncate_message& truncate,
                                                         const relation_cache& relations,
                                                         const routing::mapping_config& config) {
  std::vector<routing::gap_table> out;
  for (const std::uint32_t oid : truncate.relation_oids) {
    const auto rel = relations.find(oid);
    if (!rel) {
      return error{errc::bad_value, "Truncate: relation oid " + std::to_string(oid) + " has no Relation message"};
    }
    const std::string schema = rel->schema.empty() ? "pg_catalog" : rel->schema;
    if (const routing::table_mapping* t = config.find(schema, rel->name)) {
      out.push_back({t->schema, t->table, t->doc_type.value_or(std::string{})});
    }
  }
  return out;
}

}  // namespace rtcache::pg
