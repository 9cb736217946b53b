// The demo API's database side: every read and write of the document tables, through one libpq connection,
// each statement parameterised and each identifier taken from the doc catalogue. Answers are JSON text built
// by PostgreSQL (row_to_json), so the API never re-shapes rows. Scope: every statement filters by the caller's
// factory scope, so a document outside it is "not found", never "forbidden" (its existence does not leak).
#pragma once

#include "activity.hpp"
#include "doc_catalog.hpp"
#include "routes.hpp"
#include "rtcache/core/factory_scope.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct pg_conn;

namespace rtcache::demo {

// Thread-safety: none; one store per thread (libpq connections are not shared).
class store {
 public:
  // Errors: 503 when the connection fails (the message is libpq's).
  static api_result<store> connect(const std::string& conninfo);

  store(store&&) noexcept;
  store& operator=(store&&) noexcept;
  ~store();

  // {"items":[row...],"page":p,"pageSize":n,"total":t}, newest first. 403 when `factory` is outside scope.
  api_result<std::string> list(const doc_table& t, const core::factory_scope& scope, const std::string& factory,
                               std::int64_t page, std::int64_t page_size);
  // The row as JSON; 404 when absent or outside scope.
  api_result<std::string> get(const doc_table& t, const core::factory_scope& scope, std::int64_t id);
  // Sets the columns of `body` (a JSON object of writable columns); answers the new row. 400 on an unknown or
  // read-only column or a value PostgreSQL refuses, 404 when absent or outside scope.
  api_result<std::string> update(const doc_table& t, const core::factory_scope& scope, std::int64_t id,
                                 std::string_view body);
  // Inserts `body` (factory_id required and in scope, plus writable columns); answers the new row.
  api_result<std::string> create(const doc_table& t, const core::factory_scope& scope, std::string_view body);
  // {"deleted":id}; 404 when absent or outside scope.
  api_result<std::string> remove(const doc_table& t, const core::factory_scope& scope, std::int64_t id);
  // status := approved | rejected; answers the new row.
  api_result<std::string> set_status(const doc_table& t, const core::factory_scope& scope, std::int64_t id,
                                     bool approve);
  // body {"action":"approve"|"reject"|"delete"|"update","ids":[...],"set":{...}} in one transaction;
  // answers {"affected":n}. Rows outside scope are skipped (not counted).
  api_result<std::string> bulk(const doc_table& t, const core::factory_scope& scope, std::string_view body);

  // Runs one simulated activity (no scope: the simulator is the factory floor). Returns rows touched.
  api_result<std::int64_t> simulate(const activity& a);

  // Runs SQL text (schema or seed files) as one simple query.
  api_result<void> execute_script(const std::string& sql);

 private:
  explicit store(pg_conn* c);
  struct closer {
    void operator()(pg_conn* c) const noexcept;
  };
  std::unique_ptr<pg_conn, closer> conn_;
};

}  // namespace rtcache::demo
