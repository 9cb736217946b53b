// postgres_changes bindings against records and against the configured tables: pure functions the session
// calls per delivery (matching) and per join (table expansion, refusal).
#include "gateway/postgres_delivery.hpp"

#include <algorithm>

namespace rtcache::gateway {

namespace {

bool event_matches(protocol::change_event e, routing::change_type t) noexcept {
  switch (e) {
    case protocol::change_event::all: return true;
    case protocol::change_event::insert: return t == routing::change_type::insert;
    case protocol::change_event::update: return t == routing::change_type::update;
    case protocol::change_event::delete_: return t == routing::change_type::del;
  }
  return false;
}

bool table_named(const protocol::postgres_binding& b, std::string_view schema, std::string_view table) noexcept {
  if (b.schema != "*" && b.schema != schema) return false;
  return !b.table || *b.table == "*" || *b.table == table;
}

bool is_wildcard(const protocol::postgres_binding& b) noexcept {
  return b.schema == "*" || !b.table || *b.table == "*";
}

}  // namespace

bool binding_matches(const protocol::postgres_binding& binding, const routing::postgres_change& change) noexcept {
  if (!event_matches(binding.event, change.type)) return false;
  if (!table_named(binding, change.schema, change.table)) return false;
  if (binding.parsed_filter.conditions.empty()) return true;
  // A DELETE carries only the old row (REPLICA IDENTITY FULL for columns beyond the key), as in Supabase.
  return protocol::filter_matches(binding.parsed_filter,
                                  change.type == routing::change_type::del ? change.old_record() : change.record());
}

std::vector<std::int64_t> matching_binding_ids(std::span<const protocol::postgres_binding> bindings,
                                               const routing::postgres_change& change) {
  std::vector<std::int64_t> ids;
  for (const auto& b : bindings) {
    if (!binding_matches(b, change)) continue;
    if (std::find(ids.begin(), ids.end(), b.id) == ids.end()) ids.push_back(b.id);
  }
  return ids;
}

std::vector<const routing::table_mapping*> binding_tables(const protocol::postgres_binding& binding,
                                                          const routing::mapping_config* mapping) {
  std::vector<const routing::table_mapping*> out;
  if (mapping == nullptr) return out;
  for (const auto& t : mapping->tables) {
    if (table_named(binding, t.schema, t.table)) out.push_back(&t);
  }
  return out;
}

std::optional<std::string> refuse_bindings(std::span<const protocol::postgres_binding> bindings,
                                           const routing::mapping_config* mapping) {
  for (const auto& b : bindings) {
    if (is_wildcard(b)) continue;
    if (mapping != nullptr && mapping->find(b.schema, *b.table) != nullptr) continue;
    std::string filters = b.filter ? *b.filter : std::string();
    return "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given "
           "connect parameters: [event: " +
           b.event_text + ", schema: " + b.schema + ", table: " + *b.table + ", filters: [" + filters + "]]";
  }
  return std::nullopt;
}

}  // namespace rtcache::gateway
