// Test-only: a small mapping (work_orders mapped, announcements public) and row changes through the real
// mapper and router, so gateway tests publish exactly what the PostgreSQL source would.
#pragma once

#include "routing/mapping.hpp"
#include "routing/mapping_config.hpp"
#include "routing/mapping_value.hpp"
#include "routing/router.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcache::testing {

inline constexpr std::string_view k_test_mapping = R"(
[tables."public.work_orders"]
doc_type = "wo"
id_column = "id"
factory_column = "factory_id"
version_column = "version"
never_send = ["internal_notes"]

[tables."public.announcements"]
public = true
)";

inline std::shared_ptr<const routing::mapping_config> test_mapping() {
  return std::make_shared<const routing::mapping_config>(
      routing::parse_mapping_config(k_test_mapping, "test.toml").value());
}

// work_orders(id int8 key, factory_id text, status text, version int8, internal_notes text)
inline routing::row_change wo_change(routing::row_kind kind, std::string id, std::string factory, std::string status,
                                     std::string old_status = "open", std::string old_factory = {}) {
  routing::row_change c;
  c.schema = "public";
  c.table = "work_orders";
  c.kind = kind;
  c.columns = {{"id", routing::pg_oid::int8, "", true},
               {"factory_id", routing::pg_oid::text, "", false},
               {"status", routing::pg_oid::text, "", false},
               {"version", routing::pg_oid::int8, "", false},
               {"internal_notes", routing::pg_oid::text, "", false}};
  c.commit_ts = "2025-11-19T00:22:40.877Z";
  auto row = [&](const std::string& f, const std::string& s) {
    return std::vector<routing::row_value>{routing::row_value::of(id), routing::row_value::of(f),
                                           routing::row_value::of(s), routing::row_value::of("2"),
                                           routing::row_value::of("secret notes")};
  };
  if (old_factory.empty()) old_factory = factory;
  if (kind != routing::row_kind::del) c.new_row = row(factory, status);
  if (kind != routing::row_kind::insert) {
    c.old_kind = routing::old_row_kind::full;
    c.old_row = row(old_factory, old_status);
  }
  return c;
}

inline routing::row_change announcement(std::string id, std::string text) {
  routing::row_change c;
  c.schema = "public";
  c.table = "announcements";
  c.kind = routing::row_kind::insert;
  c.columns = {{"id", routing::pg_oid::int8, "", true}, {"text", routing::pg_oid::text, "", false}};
  c.new_row = {routing::row_value::of(std::move(id)), routing::row_value::of(std::move(text))};
  c.commit_ts = "2025-11-19T00:22:40.877Z";
  return c;
}

// The routed output of one row (per-row messages and records, no summaries).
inline routing::routed_rows routed(const routing::mapping_config& config, const routing::row_change& change) {
  routing::mapper m(config);
  auto mapped = m.map(change).value();
  return routing::route_row(*mapped);
}

}  // namespace rtcache::testing
