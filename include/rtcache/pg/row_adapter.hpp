// pgoutput changes -> routing::row_change, the plain form mapping reads: columns named from the relation cache,
// type names from Type messages, 'u' (unchanged TOAST) kept as such, key vs full old tuples told apart.
// Pure: no I/O. Also decides what a Truncate becomes (see truncated_tables).
#pragma once

#include "routing/mapping.hpp"
#include "routing/routed_sink.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/pg/pgoutput.hpp"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace rtcache::pg {

// oid -> "schema.name" of non-built-in types, from Type messages. Bounded like the relation cache: a Type
// for a new oid beyond max_types is refused (errc::too_many).
// Thread-safety: none; owned by the replication session's thread.
class type_cache {
 public:
  explicit type_cache(std::size_t max_types = k_default_max_relations) : max_types_(max_types) {}
  result<void> apply(const type_message& type);
  // The type's name ("public.mood", or "mood" in pg_catalog), or empty when no Type message named it.
  std::string find(std::uint32_t oid) const;
  void clear() noexcept { names_.clear(); }
  std::size_t size() const noexcept { return names_.size(); }

 private:
  std::size_t max_types_;
  std::unordered_map<std::uint32_t, std::string> names_;
};

// What every change of one transaction shares.
struct change_context {
  std::string commit_ts;  // RFC 3339 (format_rfc3339 of Begin's commit time)
  std::uint32_t xid = 0;
};

// Each returns the row_change for `rel` (the Relation the change's oid names; REQUIRES rel.oid ==
// change.relation_oid). Errors: bad_value when a tuple's column count differs from rel's, or a value is
// binary (the source never asks for binary), naming the table and column.
result<routing::row_change> adapt(const relation_message& rel, const insert_message& change, const type_cache& types,
                                  const change_context& context);
result<routing::row_change> adapt(const relation_message& rel, const update_message& change, const type_cache& types,
                                  const change_context& context);
result<routing::row_change> adapt(const relation_message& rel, const delete_message& change, const type_cache& types,
                                  const change_context& context);

// The relation's columns in mapping's terms (names, type oids, type names from `types`, identity flags), and
// its schema ("pg_catalog" for pgoutput's empty namespace): what mapper::plan takes once per Relation.
std::vector<routing::row_column> row_columns(const relation_message& rel, const type_cache& types);
std::string schema_name(const relation_message& rel);

// The hot path's adapt: a change's values as views for mapper::map(plan, row_view), without copying them.
// Refuses exactly what adapt() refuses, with the same errors. The returned view points into the builder's
// buffers (reused from call to call) and into `change`: valid until the next call or until `change` goes.
// Thread-safety: none; one per replication session.
class row_view_builder {
 public:
  result<routing::row_view> view(const relation_message& rel, const insert_message& change,
                                 const change_context& context);
  result<routing::row_view> view(const relation_message& rel, const update_message& change,
                                 const change_context& context);
  result<routing::row_view> view(const relation_message& rel, const delete_message& change,
                                 const change_context& context);

 private:
  std::vector<routing::row_value_view> new_row_;
  std::vector<routing::row_value_view> old_row_;
};

// A Truncate has no row images: the mapper cannot name the documents or factories it removed, so no contract
// event can say what went. The decision made here: it is a gap on the truncated tables the mapping configures
// (routing::gap_reason::truncate, scope: those tables), which the sink turns into new epochs of their channels so
// clients refetch. This function returns those tables with their doc types, in the message's order. Errors:
// bad_value when an oid has no Relation in `relations` (the server sends each first, so the stream is out of
// step).
result<std::vector<routing::gap_table>> truncated_tables(const truncate_message& truncate,
                                                         const relation_cache& relations,
                                                         const routing::mapping_config& config);

}  // namespace rtcache::pg
