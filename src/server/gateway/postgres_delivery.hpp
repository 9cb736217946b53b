// Which postgres_changes bindings of a channel a record satisfies, and which configured tables a binding can
// ever receive (docs/design.md §3, §4). Pure: the gateway evaluates these per delivery and per join.
//
// A binding {event, schema, table?, filter?} matches a record when:
//   schema  equals the record's schema, or is "*";
//   table   is absent, "*", or equals the record's table;
//   event   is "*" or the record's type (INSERT / UPDATE / DELETE, any case);
//   filter  holds on the record's new row (INSERT, UPDATE) or old row (DELETE), see protocol/filter.hpp.
// Scope is not decided here: the hub message's meta factory is checked with may_deliver before any binding.
#pragma once

#include "protocol/join.hpp"
#include "routing/mapping.hpp"
#include "routing/mapping_config.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace rtcache::gateway {

bool binding_matches(const protocol::postgres_binding& binding, const routing::postgres_change& change) noexcept;

// The ids of the bindings that match, in binding order, each id once (identical bindings share an id).
// Empty: the record is not for this channel.
std::vector<std::int64_t> matching_binding_ids(std::span<const protocol::postgres_binding> bindings,
                                               const routing::postgres_change& change);

// The configured tables a binding names: schema and table wildcards ("*", or no table) expanded against
// `mapping`'s tables, in the mapping's order. nullptr mapping: none.
std::vector<const routing::table_mapping*> binding_tables(const protocol::postgres_binding& binding,
                                                          const routing::mapping_config* mapping);

// The join refusal for bindings that name a table rtcache does not serve: a concrete schema.table that the
// mapping does not configure (neither mapped nor public). Worded as Supabase words a subscription it cannot
// serve. nullopt: every binding is servable (wildcards that match nothing are servable: they receive nothing).
std::optional<std::string> refuse_bindings(std::span<const protocol::postgres_binding> bindings,
                                           const routing::mapping_config* mapping);

}  // namespace rtcache::gateway
