// libpq statements of the demo API. Every identifier comes from the doc catalogue or is checked against its
// writable columns; every value is a statement parameter.
#include "store.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <libpq-fe.h>

#include <array>
#include <optional>
#include <vector>

namespace rtcache::demo {
namespace {

struct result_free {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using pg_result = std::unique_ptr<PGresult, result_free>;

constexpr std::size_t k_max_bulk_ids = 500;

// NULL for unscoped (service_role), else a text[] literal. Scope ids are validated contract ids
// ([A-Za-z0-9_.-]), so they need no quoting inside the literal.
std::optional<std::string> scope_param(const core::factory_scope& scope) {
  if (scope.is_unscoped()) return std::nullopt;
  std::string lit = "{";
  for (const auto& id : scope.factory_ids()) {
    if (lit.size() > 1) lit += ',';
    lit += id;
  }
  lit += '}';
  return lit;
}

std::string scope_clause(int param) {
  const std::string p = "$" + std::to_string(param) + "::text[]";
  return "(" + p + " IS NULL OR factory_id = ANY(" + p + "))";
}

api_error from_result(PGconn* c, const PGresult* r) {
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(c);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (PQstatus(c) == CONNECTION_BAD) return {503, "database unavailable: " + msg};
  if (state != nullptr && (state[0] == '2' && (state[1] == '2' || state[1] == '3'))) return {400, msg};
  return {500, msg};
}

// The columns of a JSON object body, each checked against the table's writable set.
api_result<std::vector<std::string>> writable_columns(const doc_table& t, const boost::json::object& body,
                                                      bool allow_factory) {
  std::vector<std::string> cols;
  for (const auto& kv : body) {
    const std::string_view k = kv.key();
    if (allow_factory && k == "factory_id") continue;
    if (!is_writable(t, k)) return api_error{400, "column '" + std::string(k) + "' cannot be written"};
    cols.emplace_back(k);
  }
  return cols;
}

std::string join(const std::vector<std::string>& cols) {
  std::string out;
  for (const auto& c : cols) {
    if (!out.empty()) out += ", ";
    out += c;
  }
  return out;
}

api_result<boost::json::object> parse_object(std::string_view body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return api_error{400, "body must be a JSON object"};
  return std::move(v.as_object());
}

}  // namespace

void store::closer::operator()(pg_conn* c) const noexcept {
  PQfinish(c);
}

store::store(pg_conn* c) : conn_(c) {}
store::store(store&&) noexcept = default;
store& store::operator=(store&&) noexcept = default;
store::~store() = default;

api_result<store> store::connect(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    PQfinish(c);
    return api_error{503, "database unavailable: " + msg};
  }
  return store(c);
}

namespace {

// Runs a parameterised statement (text parameters, nullopt = NULL). One retry after a lost connection.
api_result<pg_result> run(PGconn* c, const std::string& sql, const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  for (int attempt = 0; attempt < 2; ++attempt) {
    pg_result r(
        PQexecParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
    const auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return r;
    if (attempt == 0 && PQstatus(c) == CONNECTION_BAD) {
      PQreset(c);
      continue;
    }
    return from_result(c, r.get());
  }
  return api_error{503, "database unavailable"};
}

// The single text cell of a one-row answer, or 404.
api_result<std::string> single_text(api_result<pg_result> r, std::string_view what) {
  if (!r) return r.error();
  if (PQntuples(r->get()) == 0) return api_error{404, std::string(what) + " not found"};
  return std::string(PQgetvalue(r->get(), 0, 0));
}

}  // namespace

api_result<std::string> store::list(const doc_table& t, const core::factory_scope& scope, const std::string& factory,
                                    std::int64_t page, std::int64_t page_size) {
  if (!scope.contains(factory)) return api_error{403, "factory '" + factory + "' is outside your scope"};
  const std::string tbl(t.table);
  const std::string sql =
      "SELECT json_build_object('items', coalesce((SELECT json_agg(row_to_json(r) ORDER BY r.id DESC) FROM "
      "(SELECT * FROM " +
      tbl +
      " WHERE factory_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3) r), '[]'::json), "
      "'page', $4::bigint, 'pageSize', $2::bigint, 'total', (SELECT count(*) FROM " +
      tbl + " WHERE factory_id = $1))::text";
  return single_text(
      run(conn_.get(), sql,
          {factory, std::to_string(page_size), std::to_string((page - 1) * page_size), std::to_string(page)}),
      "page");
}

api_result<std::string> store::get(const doc_table& t, const core::factory_scope& scope, std::int64_t id) {
  const std::string tbl(t.table);
  const std::string sql = "SELECT row_to_json(d)::text FROM " + tbl + " d WHERE id = $1 AND " + scope_clause(2);
  return single_text(run(conn_.get(), sql, {std::to_string(id), scope_param(scope)}), "document");
}

api_result<std::string> store::update(const doc_table& t, const core::factory_scope& scope, std::int64_t id,
                                      std::string_view body) {
  auto obj = parse_object(body);
  if (!obj) return obj.error();
  auto cols = writable_columns(t, *obj, false);
  if (!cols) return cols.error();
  if (cols->empty()) return api_error{400, "nothing to update"};
  const std::string tbl(t.table);
  const std::string c = join(*cols);
  const std::string sql = "UPDATE " + tbl + " SET (" + c + ") = (SELECT " + c +
                          " FROM json_populate_record(NULL::" + tbl + ", $1::json)) WHERE id = $2 AND " +
                          scope_clause(3) + " RETURNING row_to_json(" + tbl + ".*)::text";
  return single_text(run(conn_.get(), sql, {std::string(body), std::to_string(id), scope_param(scope)}), "document");
}

api_result<std::string> store::create(const doc_table& t, const core::factory_scope& scope, std::string_view body) {
  auto obj = parse_object(body);
  if (!obj) return obj.error();
  const auto* f = obj->if_contains("factory_id");
  if (f == nullptr || !f->is_string()) return api_error{400, "factory_id (a string) is required"};
  if (!scope.contains(f->as_string())) return api_error{403, "factory_id is outside your scope"};
  auto cols = writable_columns(t, *obj, true);
  if (!cols) return cols.error();
  cols->insert(cols->begin(), "factory_id");
  const std::string tbl(t.table);
  const std::string c = join(*cols);
  const std::string sql = "INSERT INTO " + tbl + " (" + c + ") SELECT " + c +
                          " FROM json_populate_record(NULL::" + tbl + ", $1::json) RETURNING row_to_json(" + tbl +
                          ".*)::text";
  return single_text(run(conn_.get(), sql, {std::string(body)}), "document");
}

api_result<std::string> store::remove(const doc_table& t, const core::factory_scope& scope, std::int64_t id) {
  const std::string sql = "DELETE FROM " + std::string(t.table) + " WHERE id = $1 AND " + scope_clause(2) +
                          " RETURNING json_build_object('deleted', id)::text";
  return single_text(run(conn_.get(), sql, {std::to_string(id), scope_param(scope)}), "document");
}

api_result<std::string> store::set_status(const doc_table& t, const core::factory_scope& scope, std::int64_t id,
                                          bool approve) {
  const std::string tbl(t.table);
  const std::string sql = "UPDATE " + tbl + " SET status = $1 WHERE id = $2 AND " + scope_clause(3) +
                          " RETURNING row_to_json(" + tbl + ".*)::text";
  return single_text(
      run(conn_.get(), sql, {std::string(approve ? "approved" : "rejected"), std::to_string(id), scope_param(scope)}),
      "document");
}

api_result<std::string> store::bulk(const doc_table& t, const core::factory_scope& scope, std::string_view body) {
  auto obj = parse_object(body);
  if (!obj) return obj.error();
  const auto* action = obj->if_contains("action");
  const auto* ids = obj->if_contains("ids");
  if (action == nullptr || !action->is_string()) return api_error{400, "action (a string) is required"};
  if (ids == nullptr || !ids->is_array() || ids->as_array().empty() || ids->as_array().size() > k_max_bulk_ids) {
    return api_error{400, "ids must be an array of 1.." + std::to_string(k_max_bulk_ids) + " ids"};
  }
  std::string id_lit = "{";
  for (const auto& v : ids->as_array()) {
    if (!v.is_int64() || v.as_int64() < 1) return api_error{400, "ids must be positive integers"};
    if (id_lit.size() > 1) id_lit += ',';
    id_lit += std::to_string(v.as_int64());
  }
  id_lit += '}';

  const std::string tbl(t.table);
  const std::string_view a = action->as_string();
  api_result<pg_result> r = api_error{400, "action must be approve, reject, delete or update"};
  if (a == "approve" || a == "reject") {
    r = run(conn_.get(), "UPDATE " + tbl + " SET status = $1 WHERE id = ANY($2::bigint[]) AND " + scope_clause(3),
            {std::string(a == "approve" ? "approved" : "rejected"), id_lit, scope_param(scope)});
  } else if (a == "delete") {
    r = run(conn_.get(), "DELETE FROM " + tbl + " WHERE id = ANY($1::bigint[]) AND " + scope_clause(2),
            {id_lit, scope_param(scope)});
  } else if (a == "update") {
    const auto* set = obj->if_contains("set");
    if (set == nullptr || !set->is_object()) return api_error{400, "update needs a set object"};
    auto cols = writable_columns(t, set->as_object(), false);
    if (!cols) return cols.error();
    if (cols->empty()) return api_error{400, "nothing to update"};
    const std::string c = join(*cols);
    r = run(conn_.get(),
            "UPDATE " + tbl + " SET (" + c + ") = (SELECT " + c + " FROM json_populate_record(NULL::" + tbl +
                ", $1::json)) WHERE id = ANY($2::bigint[]) AND " + scope_clause(3),
            {boost::json::serialize(*set), id_lit, scope_param(scope)});
  }
  if (!r) return r.error();
  return std::string(R"({"affected":)") + PQcmdTuples(r->get()) + "}";
}

api_result<std::int64_t> store::simulate(const activity& a) {
  const std::string tbl(a.table->table);
  const std::string pick = "(SELECT id FROM " + tbl + " WHERE factory_id = $1 ORDER BY random() LIMIT 1)";
  const auto affected = [](const api_result<pg_result>& r) -> api_result<std::int64_t> {
    if (!r) return r.error();
    return api_result<std::int64_t>(boost::system::in_place_value,
                                    std::stoll(std::string("0") + PQcmdTuples(r->get())));
  };
  switch (a.kind) {
    case activity_kind::update:
      return affected(run(conn_.get(),
                          "UPDATE " + tbl + " SET " + std::string(a.table->sim_update) + " WHERE id = " + pick,
                          {a.factory}));
    case activity_kind::approve:
    case activity_kind::reject:
      return affected(run(conn_.get(),
                          "UPDATE " + tbl + " SET status = $2 WHERE id = (SELECT id FROM " + tbl +
                              " WHERE factory_id = $1 AND status NOT IN ('approved', 'rejected') ORDER BY random() "
                              "LIMIT 1)",
                          {a.factory, std::string(a.kind == activity_kind::approve ? "approved" : "rejected")}));
    case activity_kind::create:
      return affected(run(conn_.get(), "INSERT INTO " + tbl + " " + std::string(a.table->sim_insert), {a.factory}));
    case activity_kind::remove:
      return affected(run(conn_.get(), "DELETE FROM " + tbl + " WHERE id = " + pick, {a.factory}));
    case activity_kind::bulk_approve:
      return affected(run(conn_.get(),
                          "UPDATE " + tbl + " SET status = 'approved' WHERE id IN (SELECT id FROM " + tbl +
                              " WHERE factory_id = $1 ORDER BY random() LIMIT $2)",
                          {a.factory, std::to_string(a.count)}));
    case activity_kind::burst: {
      auto id =
          run(conn_.get(), "SELECT id FROM " + tbl + " WHERE factory_id = $1 ORDER BY random() LIMIT 1", {a.factory});
      if (!id) return id.error();
      if (PQntuples(id->get()) == 0) return api_result<std::int64_t>(boost::system::in_place_value, 0);
      const std::string doc = PQgetvalue(id->get(), 0, 0);
      std::int64_t n = 0;
      for (int i = 0; i < a.count; ++i) {
        auto r = affected(
            run(conn_.get(), "UPDATE " + tbl + " SET " + std::string(a.table->sim_update) + " WHERE id = $1", {doc}));
        if (!r) return r.error();
        n += *r;
      }
      return api_result<std::int64_t>(boost::system::in_place_value, n);
    }
  }
  return api_result<std::int64_t>(boost::system::in_place_value, 0);
}

api_result<void> store::execute_script(const std::string& sql) {
  pg_result r(PQexec(conn_.get(), sql.c_str()));
  const auto st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return {};
  return from_result(conn_.get(), r.get());
}

}  // namespace rtcache::demo
