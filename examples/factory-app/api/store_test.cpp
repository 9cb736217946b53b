// The API against a real PostgreSQL: scope filtering, versions bumped by the schema's trigger, writes, bulk
// operations, the request log and the simulator. Needs RTCACHE_TEST_PG_CONNINFO (key=value form; a superuser
// or a role that may create databases) or RTCACHE_PG_CLUSTER (a scripts/pg_cluster.sh directory, as the
// replication source's integration tests use); each run loads db/schema.sql and db/seed.sql into a fresh
// database of its own.
#include "api_handler.hpp"
#include "demo_token.hpp"
#include "http_server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <libpq-fe.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace rtcache::demo {
namespace {

constexpr std::string_view k_secret = "factory-api-test-secret-0123456789abcdef";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void admin_exec(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);  // "does not exist, skipping"
  PGresult* r = PQexec(c, sql.c_str());
  EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
}

class FactoryApi : public ::testing::Test {
 protected:
  static std::string base_conninfo() {
    if (const char* c = std::getenv("RTCACHE_TEST_PG_CONNINFO"); c != nullptr && *c != '\0') return c;
    if (const char* dir = std::getenv("RTCACHE_PG_CLUSTER"); dir != nullptr && *dir != '\0') {
      std::string c = read_file(std::string(dir) + "/conninfo");
      while (!c.empty() && (c.back() == '\n' || c.back() == ' ')) c.pop_back();
      return c;
    }
    return {};
  }

  static void SetUpTestSuite() {
    base_ = base_conninfo();
    if (base_.empty()) return;
    db_name_ = "rtcache_api_test_" + std::to_string(::getpid());
    admin_exec(base_, "DROP DATABASE IF EXISTS " + db_name_);
    admin_exec(base_, "CREATE DATABASE " + db_name_);
    conninfo_ = base_ + " dbname=" + db_name_;
    auto db = store::connect(conninfo_);
    ASSERT_TRUE(db.has_value()) << db.error().message;
    const std::string dir = std::string(RTCACHE_SOURCE_DIR) + "/examples/factory-app/db/";
    auto schema = db->execute_script(read_file(dir + "schema.sql"));
    ASSERT_TRUE(schema.has_value()) << schema.error().message;
    auto seed = db->execute_script(read_file(dir + "seed.sql"));
    ASSERT_TRUE(seed.has_value()) << seed.error().message;
  }

  static void TearDownTestSuite() {
    if (base_.empty()) return;
    admin_exec(base_, "DROP DATABASE IF EXISTS " + db_name_ + " WITH (FORCE)");
  }

  void SetUp() override {
    if (base_.empty()) {
      GTEST_SKIP() << "no database: set RTCACHE_TEST_PG_CONNINFO or RTCACHE_PG_CLUSTER (scripts/e2e.sh does)";
    }
    auto db = store::connect(conninfo_);
    ASSERT_TRUE(db.has_value()) << db.error().message;
    db_.emplace(std::move(*db));
    verifier_.emplace(auth::jwt_verifier::create({auth::verification_key::hs256(k_secret).value()}).value());
    handler_.emplace(*db_, *verifier_, std::string(k_secret), [] { return std::chrono::system_clock::now(); });
  }

  static std::string token(std::vector<std::string> factories, std::string role = "authenticated") {
    token_request req;
    req.role = std::move(role);
    req.factory_ids = std::move(factories);
    req.expires_at = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) + std::chrono::hours(1);
    return "Bearer " + mint_demo_token(k_secret, req);
  }

  api_response call(std::string_view method, std::string_view target, const std::string& auth,
                    std::string_view body = {}) {
    return handler_->handle(method, target, auth, body);
  }

  static boost::json::value json(const api_response& r) { return boost::json::parse(r.body); }

  // The id of the newest document of `type` in `factory`.
  std::int64_t first_id(std::string_view type, std::string_view factory) {
    const auto r =
        call("GET", "/api/" + std::string(type) + "?factory=" + std::string(factory), token({std::string(factory)}));
    EXPECT_EQ(r.status, 200) << r.body;
    return json(r).at("items").as_array().at(0).at("id").as_int64();
  }

  static inline std::string base_;
  static inline std::string db_name_;
  static inline std::string conninfo_;
  std::optional<store> db_;
  std::optional<auth::jwt_verifier> verifier_;
  std::optional<api_handler> handler_;
};

TEST_F(FactoryApi, ListAnswersTheFactorysNewestPage) {
  const auto r = call("GET", "/api/wo?factory=f1&size=20", token({"f1"}));
  ASSERT_EQ(r.status, 200) << r.body;
  const auto v = json(r);
  const auto& items = v.at("items").as_array();
  ASSERT_EQ(items.size(), 20u);
  EXPECT_GE(v.at("total").as_int64(), 20);
  EXPECT_EQ(v.at("page").as_int64(), 1);
  std::int64_t last = INT64_MAX;
  for (const auto& it : items) {
    EXPECT_EQ(it.at("factory_id").as_string(), "f1");
    EXPECT_LT(it.at("id").as_int64(), last);
    last = it.at("id").as_int64();
  }
}

TEST_F(FactoryApi, SecondPageContinuesWhereTheFirstEnds) {
  const auto p1 = json(call("GET", "/api/lot?factory=f2&page=1&size=5", token({"f2"})));
  const auto p2 = json(call("GET", "/api/lot?factory=f2&page=2&size=5", token({"f2"})));
  EXPECT_GT(p1.at("items").as_array().back().at("id").as_int64(),
            p2.at("items").as_array().front().at("id").as_int64());
}

TEST_F(FactoryApi, ListOfAFactoryOutsideTheScopeIsForbidden) {
  EXPECT_EQ(call("GET", "/api/wo?factory=f2", token({"f1"})).status, 403);
}

TEST_F(FactoryApi, DocumentOutsideTheScopeIsNotFound) {
  const auto f2_doc = first_id("invoice", "f2");
  EXPECT_EQ(call("GET", "/api/invoice/" + std::to_string(f2_doc), token({"f1"})).status, 404);
  EXPECT_EQ(call("PATCH", "/api/invoice/" + std::to_string(f2_doc), token({"f1"}), R"({"amount":1})").status, 404);
  EXPECT_EQ(call("POST", "/api/invoice/" + std::to_string(f2_doc) + "/approve", token({"f1"})).status, 404);
  EXPECT_EQ(call("DELETE", "/api/invoice/" + std::to_string(f2_doc), token({"f1"})).status, 404);
  EXPECT_EQ(call("GET", "/api/invoice/" + std::to_string(f2_doc), token({"f2"})).status, 200);
}

TEST_F(FactoryApi, UpdateSetsColumnsAndTheTriggerBumpsTheVersion) {
  const auto id = std::to_string(first_id("wo", "f1"));
  const auto before = json(call("GET", "/api/wo/" + id, token({"f1"})));
  const auto r = call("PATCH", "/api/wo/" + id, token({"f1"}), R"({"quantity":777,"priority":1})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto after = json(r);
  EXPECT_EQ(after.at("quantity").as_int64(), 777);
  EXPECT_EQ(after.at("priority").as_int64(), 1);
  EXPECT_EQ(after.at("version").as_int64(), before.at("version").as_int64() + 1);
}

TEST_F(FactoryApi, UpdateOfOneColumnWorks) {
  const auto id = std::to_string(first_id("pl", "f1"));
  const auto r = call("PATCH", "/api/pl/" + id, token({"f1"}), R"({"customer":"Nordwind AB"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json(r).at("customer").as_string(), "Nordwind AB");
}

TEST_F(FactoryApi, UpdateRefusesReadOnlyColumnsAndBadValues) {
  const auto id = std::to_string(first_id("wo", "f1"));
  EXPECT_EQ(call("PATCH", "/api/wo/" + id, token({"f1"}), R"({"version":1})").status, 400);
  EXPECT_EQ(call("PATCH", "/api/wo/" + id, token({"f1"}), R"({"factory_id":"f2"})").status, 400);
  EXPECT_EQ(call("PATCH", "/api/wo/" + id, token({"f1"}), R"({"quantity":"many"})").status, 400);
  EXPECT_EQ(call("PATCH", "/api/wo/" + id, token({"f1"}), R"([1])").status, 400);
  EXPECT_EQ(call("PATCH", "/api/wo/" + id, token({"f1"}), R"({})").status, 400);
}

TEST_F(FactoryApi, ApproveAndRejectSetTheStatus) {
  const auto id = std::to_string(first_id("grn", "f3"));
  auto r = call("POST", "/api/grn/" + id + "/approve", token({"f3"}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json(r).at("status").as_string(), "approved");
  r = call("POST", "/api/grn/" + id + "/reject", token({"f3"}));
  EXPECT_EQ(json(r).at("status").as_string(), "rejected");
}

TEST_F(FactoryApi, CreateThenDelete) {
  auto r =
      call("POST", "/api/pu", token({"f1"}), R"({"factory_id":"f1","number":"PU-T-1","supplier":"T","amount":12.5})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto created = json(r);
  EXPECT_EQ(created.at("version").as_int64(), 1);
  const auto id = std::to_string(created.at("id").as_int64());
  EXPECT_EQ(first_id("pu", "f1"), created.at("id").as_int64());
  r = call("DELETE", "/api/pu/" + id, token({"f1"}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(call("GET", "/api/pu/" + id, token({"f1"})).status, 404);
}

TEST_F(FactoryApi, CreateRequiresAFactoryInScope) {
  EXPECT_EQ(call("POST", "/api/pu", token({"f1"}), R"({"number":"X","supplier":"T"})").status, 400);
  EXPECT_EQ(call("POST", "/api/pu", token({"f1"}), R"({"factory_id":"f2","number":"X","supplier":"T"})").status, 403);
  EXPECT_EQ(call("POST", "/api/pu", token({"f1"}), R"({"factory_id":"f1"})").status, 400);  // NOT NULL columns
}

TEST_F(FactoryApi, BulkTouchesOnlyRowsInScope) {
  const auto f1 = first_id("dn", "f1");
  const auto f2 = first_id("dn", "f2");
  const std::string body = R"({"action":"approve","ids":[)" + std::to_string(f1) + "," + std::to_string(f2) + "]}";
  const auto r = call("POST", "/api/dn/_bulk", token({"f1"}), body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"affected":1})");
  EXPECT_EQ(json(call("GET", "/api/dn/" + std::to_string(f1), token({"f1"}))).at("status").as_string(), "approved");
}

TEST_F(FactoryApi, BulkUpdateAndDelete) {
  const auto a = json(call("POST", "/api/price_list", token({"f2"}), R"({"factory_id":"f2","name":"B1"})"));
  const auto b = json(call("POST", "/api/price_list", token({"f2"}), R"({"factory_id":"f2","name":"B2"})"));
  const std::string ids = std::to_string(a.at("id").as_int64()) + "," + std::to_string(b.at("id").as_int64());
  auto r = call("POST", "/api/price_list/_bulk", token({"f2"}),
                R"({"action":"update","ids":[)" + ids + R"(],"set":{"item_count":5}})");
  EXPECT_EQ(r.body, R"({"affected":2})");
  r = call("POST", "/api/price_list/_bulk", token({"f2"}), R"({"action":"delete","ids":[)" + ids + "]}");
  EXPECT_EQ(r.body, R"({"affected":2})");
  EXPECT_EQ(call("POST", "/api/price_list/_bulk", token({"f2"}), R"({"action":"ship","ids":[1]})").status, 400);
  EXPECT_EQ(call("POST", "/api/price_list/_bulk", token({"f2"}), R"({"action":"delete","ids":[]})").status, 400);
}

TEST_F(FactoryApi, TokensAreRequiredAndAnonIsReadOnly) {
  EXPECT_EQ(call("GET", "/api/wo?factory=f1", "").status, 401);
  EXPECT_EQ(call("GET", "/api/wo?factory=f1", "Bearer nope").status, 401);
  const auto id = std::to_string(first_id("wo", "f1"));
  EXPECT_EQ(call("POST", "/api/wo/" + id + "/approve", token({"f1"}, "anon")).status, 403);
}

TEST_F(FactoryApi, ServiceRoleSeesEveryFactory) {
  EXPECT_EQ(call("GET", "/api/wo?factory=f2", token({}, "service_role")).status, 200);
  EXPECT_EQ(call("GET", "/api/wo/" + std::to_string(first_id("wo", "f3")), token({}, "service_role")).status, 200);
}

TEST_F(FactoryApi, RequestLogCountsDocumentRequests) {
  call("DELETE", "/api/_requests", "");
  call("GET", "/api/wo?factory=f1&page=1", token({"f1"}));
  call("GET", "/api/wo?factory=f1&page=2", token({"f1"}));
  call("GET", "/api/wo/1", token({"f1"}));
  const auto log = json(call("GET", "/api/_requests", ""));
  const auto& entries = log.at("entries").as_array();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].at("kind").as_string(), "list");
  EXPECT_EQ(entries[0].at("page").as_int64(), 1);
  EXPECT_EQ(entries[1].at("page").as_int64(), 2);
  EXPECT_EQ(entries[2].at("kind").as_string(), "detail");
}

TEST_F(FactoryApi, MintedTokensCarryTheRequestedScope) {
  const auto r = call("POST", "/api/_token", "", R"({"factories":["f2"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string t = "Bearer " + std::string(json(r).at("token").as_string());
  EXPECT_EQ(call("GET", "/api/wo?factory=f2", t).status, 200);
  EXPECT_EQ(call("GET", "/api/wo?factory=f1", t).status, 403);
  EXPECT_EQ(call("POST", "/api/_token", "", R"({"factories":["bad id"]})").status, 400);
  EXPECT_EQ(call("POST", "/api/_token", "", R"({"role":"root"})").status, 400);
}

TEST_F(FactoryApi, DevEndpointsAreOffWithoutADevSecret) {
  api_handler prod(*db_, *verifier_, std::nullopt, [] { return std::chrono::system_clock::now(); });
  EXPECT_EQ(prod.handle("POST", "/api/_token", "", "{}").status, 404);
  EXPECT_EQ(prod.handle("GET", "/api/_requests", "", "").status, 404);
}

TEST_F(FactoryApi, EverySimulatedActivityRuns) {
  activity_planner planner(99, {"f3"});
  for (int i = 0; i < 120; ++i) {
    const auto a = planner.next();
    auto rows = db_->simulate(a);
    ASSERT_TRUE(rows.has_value()) << to_string(a.kind) << " " << a.table->type << ": " << rows.error().message;
  }
}

TEST_F(FactoryApi, SimulatedBurstBumpsOneDocumentsVersionPerUpdate) {
  activity a;
  a.kind = activity_kind::burst;
  a.table = find_doc_table("lot");
  a.factory = "f2";
  a.count = 10;
  auto rows = db_->simulate(a);
  ASSERT_TRUE(rows.has_value()) << rows.error().message;
  EXPECT_EQ(*rows, 10);
}

TEST_F(FactoryApi, ServesTheHandlerOverHttpWithKeepAlive) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  asio::io_context io(1);
  const auto endpoint = start_http_server(io, {asio::ip::make_address("127.0.0.1"), 0}, *handler_);
  std::thread server([&] { io.run(); });

  asio::io_context client_io;
  asio::ip::tcp::socket socket(client_io);
  socket.connect(endpoint);
  boost::beast::flat_buffer buffer;
  const auto get = [&](const std::string& target, const std::string& auth) {
    http::request<http::string_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!auth.empty()) req.set(http::field::authorization, auth);
    http::write(socket, req);
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    return res;
  };
  const auto health = get("/api/_health", "");
  EXPECT_EQ(health.result_int(), 200u);
  EXPECT_EQ(health[http::field::content_type], "application/json");
  const auto list = get("/api/lot?factory=f1&size=3", token({"f1"}));  // same connection
  EXPECT_EQ(list.result_int(), 200u);
  EXPECT_EQ(boost::json::parse(list.body()).at("items").as_array().size(), 3u);
  EXPECT_EQ(get("/api/lot?factory=f1", "").result_int(), 401u);

  socket.close();
  asio::post(io, [&] { io.stop(); });
  server.join();
}

}  // namespace
}  // namespace rtcache::demo
