#include "routing/mapping_config.hpp"

#include <gtest/gtest.h>

#include <string>

namespace rtcache::routing {
namespace {

using core::errc;

constexpr std::string_view k_valid = R"(
[tables."public.work_orders"]
doc_type = "wo"
id_column = "id"
factory_column = "factory_id"
version_column = "version"
status_column = "status"
approve_values = ["approved"]
reject_values = ["rejected"]
patch = ["status", "due_date"]
never_send = ["internal_notes"]
)";

core::error refusal(std::string_view text, mapping_load_options options = {}) {
  auto r = parse_mapping_config(text, "test.toml", options);
  EXPECT_FALSE(r.has_value()) << "accepted:\n" << text;
  return r.has_value() ? core::error{errc::empty, ""} : r.error();
}

TEST(MappingConfig, LoadsAMappedTable) {
  auto r = parse_mapping_config(k_valid, "test.toml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->tables.size(), 1U);
  const table_mapping& t = r->tables[0];
  EXPECT_EQ(t.schema, "public");
  EXPECT_EQ(t.table, "work_orders");
  EXPECT_EQ(t.doc_type, "wo");
  EXPECT_EQ(t.id_column, "id");
  EXPECT_EQ(t.factory_column, "factory_id");
  EXPECT_EQ(t.version_column, "version");
  ASSERT_TRUE(t.status);
  EXPECT_EQ(t.status->column, "status");
  EXPECT_EQ(t.status->approve_values, std::vector<std::string>{"approved"});
  EXPECT_EQ(t.status->reject_values, std::vector<std::string>{"rejected"});
  EXPECT_EQ(t.patch, (std::vector<std::string>{"due_date", "status"}));  // sorted
  EXPECT_EQ(t.never_send, std::vector<std::string>{"internal_notes"});
  EXPECT_FALSE(t.is_public);
  EXPECT_EQ(r->find("public", "work_orders"), &r->tables[0]);
  EXPECT_EQ(r->find("public", "other"), nullptr);
  EXPECT_EQ(r->doc_types.names(), core::doc_type_registry::defaults().names());
  EXPECT_EQ(r->limits, routing_limits{});
}

TEST(MappingConfig, LoadsTheExampleFile) {
  auto r = load_mapping_config(std::string(RTCACHE_SOURCE_DIR) + "/examples/config/rtcache.example.toml");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->tables.size(), 4U);
  const table_mapping* pub = r->find("public", "announcements");
  ASSERT_NE(pub, nullptr);
  EXPECT_FALSE(pub->mapped());
  EXPECT_TRUE(pub->is_public);
}

TEST(MappingConfig, BareTableNameMeansSchemaPublic) {
  auto r = parse_mapping_config("[tables.lots]\ndoc_type='lot'\nid_column='id'\nfactory_column='f'\n");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_NE(r->find("public", "lots"), nullptr);
}

TEST(MappingConfig, ReadsConfiguredDocTypesAndRoutingLimits) {
  auto r = parse_mapping_config(R"(
[tables."ops.jobs"]
doc_type = "job"
id_column = "id"
factory_column = "site"
[routing]
list_row_limit = 5
flush_messages = 7
doc_types = ["job"]
)");
  // doc_types after a table header belongs to that table: refused as an unknown key there.
  ASSERT_FALSE(r.has_value());
  r = parse_mapping_config(R"(
doc_types = ["job"]
[routing]
list_row_limit = 5
flush_messages = 7
[tables."ops.jobs"]
doc_type = "job"
id_column = "id"
factory_column = "site"
)");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->doc_types.names(), std::vector<std::string>{"job"});
  EXPECT_EQ(r->limits.list_row_limit, 5U);
  EXPECT_EQ(r->limits.flush_messages, 7U);
  EXPECT_NE(r->find("ops", "jobs"), nullptr);
}

TEST(MappingConfig, RefusesTomlSyntaxErrorsWithPosition) {
  auto e = refusal("[tables.\"public.wo\"]\ndoc_type = \n");
  EXPECT_EQ(e.code, errc::bad_value);
  EXPECT_NE(e.message.find("test.toml:2:"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("TOML syntax error"), std::string::npos) << e.message;
}

TEST(MappingConfig, RefusesATableDefinedTwiceInToml) {
  auto e = refusal("[tables.\"public.wo\"]\npublic = true\n[tables.\"public.wo\"]\npublic = true\n");
  EXPECT_EQ(e.code, errc::bad_value);
  EXPECT_NE(e.message.find("test.toml:3:"), std::string::npos) << e.message;
}

TEST(MappingConfig, RefusesUnknownTopLevelKeysButSkipsForeignSections) {
  auto e = refusal("[server]\nport = 4000\n");
  EXPECT_EQ(e.code, errc::unknown_field);
  EXPECT_NE(e.message.find("test.toml:1:2: 'server'"), std::string::npos) << e.message;
  auto ok = parse_mapping_config("[server]\nport = 4000\n", "t", {{"server"}});
  EXPECT_TRUE(ok.has_value());
}

TEST(MappingConfig, RefusesUnknownTableKeysNamingPositionAndPath) {
  auto e = refusal("[tables.\"public.wo\"]\npublic = true\nid_colum = 'id'\n");
  EXPECT_EQ(e.code, errc::unknown_field);
  EXPECT_NE(e.message.find("test.toml:3:1: tables.'public.wo'.id_colum: unknown key"), std::string::npos) << e.message;
}

TEST(MappingConfig, RefusesWrongTypes) {
  auto e = refusal(std::string(k_valid) + "public = 'yes'\n");
  EXPECT_EQ(e.code, errc::wrong_type);
  EXPECT_NE(e.message.find("tables.'public.work_orders'.public: must be a boolean, not a string"), std::string::npos)
      << e.message;

  e = refusal("[tables.\"public.wo\"]\npublic = true\nnever_send = 'secret_col'\n");
  EXPECT_EQ(e.code, errc::wrong_type);
  EXPECT_NE(e.message.find("never_send: must be an array of strings"), std::string::npos) << e.message;

  e = refusal("[tables.\"public.wo\"]\npublic = true\nnever_send = ['a', 3]\n");
  EXPECT_EQ(e.code, errc::wrong_type);
  EXPECT_NE(e.message.find("never_send[1]: must be a string, not an integer"), std::string::npos) << e.message;

  e = refusal("tables = 3\n");
  EXPECT_EQ(e.code, errc::wrong_type);
  e = refusal("[routing]\nlist_row_limit = 'many'\n");
  EXPECT_EQ(e.code, errc::wrong_type);
}

TEST(MappingConfig, RefusesDottedTableKeysThatNest) {
  auto e = refusal("[tables.public.wo]\npublic = true\n");
  EXPECT_EQ(e.code, errc::unknown_field);
  EXPECT_NE(e.message.find("tables.'public'.wo: unknown key holding a table"), std::string::npos) << e.message;
  auto e2 = refusal("[tables.\"a.b.c\"]\npublic = true\n");
  EXPECT_EQ(e2.code, errc::bad_value);
  EXPECT_NE(e2.message.find("single '.'"), std::string::npos) << e2.message;
}

TEST(MappingConfig, RefusesTheSameTableTwice) {
  auto e = refusal("[tables.wo]\npublic = true\n[tables.\"public.wo\"]\npublic = true\n");
  EXPECT_EQ(e.code, errc::duplicate_key);
  EXPECT_NE(e.message.find("test.toml:3:9"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("table public.wo is configured twice"), std::string::npos) << e.message;
}

TEST(MappingConfig, RefusesADocTypeMappedByTwoTables) {
  auto e =
      refusal(std::string(k_valid) + "[tables.\"public.wo2\"]\ndoc_type='wo'\nid_column='id'\nfactory_column='f'\n");
  EXPECT_EQ(e.code, errc::duplicate_key);
  EXPECT_NE(e.message.find("doc type 'wo' is already mapped by table public.work_orders"), std::string::npos)
      << e.message;
}

TEST(MappingConfig, RefusesAColumnBothInPatchAndNeverSend) {
  auto e = refusal(
      "[tables.wo]\ndoc_type='wo'\nid_column='id'\nfactory_column='f'\npatch=['notes']\nnever_send=['notes']\n");
  EXPECT_EQ(e.code, errc::duplicate_key);
  EXPECT_NE(e.message.find("test.toml:5:7: tables.'wo'.patch: column 'notes' is both in patch and in never_send"),
            std::string::npos)
      << e.message;
}

TEST(MappingConfig, RefusesAnUnregisteredDocType) {
  auto e = refusal("[tables.wo]\ndoc_type='workorder'\nid_column='id'\nfactory_column='f'\n");
  EXPECT_EQ(e.code, errc::unknown_doc_type);
  EXPECT_NE(e.message.find("test.toml:2:10"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("'workorder' is not registered"), std::string::npos) << e.message;
}

TEST(MappingConfig, RefusesInvalidDocTypeLists) {
  EXPECT_EQ(refusal("doc_types = []\n").code, errc::empty);
  EXPECT_EQ(refusal("doc_types = ['Bad Type']\n").code, errc::bad_char);
  EXPECT_EQ(refusal("doc_types = ['wo', 'wo']\n").code, errc::duplicate_key);
}

TEST(MappingConfig, RefusesADeniedColumnInPatch) {
  auto e = refusal("[tables.users]\ndoc_type='pu'\nid_column='id'\nfactory_column='f'\npatch=['api_key']\n");
  EXPECT_EQ(e.code, errc::bad_value);
  EXPECT_NE(e.message.find("'api_key' matches the default deny list"), std::string::npos) << e.message;
}

TEST(MappingConfig, RefusesMappedTablesWithoutIdOrFactoryColumn) {
  auto e = refusal("[tables.wo]\ndoc_type='wo'\nfactory_column='f'\n");
  EXPECT_EQ(e.code, errc::missing_field);
  EXPECT_NE(e.message.find("needs id_column"), std::string::npos) << e.message;
  e = refusal("[tables.wo]\ndoc_type='wo'\nid_column='id'\n");
  EXPECT_EQ(e.code, errc::missing_field);
  EXPECT_NE(e.message.find("needs factory_column"), std::string::npos) << e.message;
}

TEST(MappingConfig, RefusesIdentityColumnsInNeverSend) {
  auto e = refusal("[tables.wo]\ndoc_type='wo'\nid_column='id'\nfactory_column='f'\nnever_send=['f']\n");
  EXPECT_EQ(e.code, errc::bad_value);
  EXPECT_NE(e.message.find("identifies the document"), std::string::npos) << e.message;
}

TEST(MappingConfig, RefusesInconsistentStatusRules) {
  auto e = refusal("[tables.wo]\ndoc_type='wo'\nid_column='id'\nfactory_column='f'\nstatus_column='s'\n");
  EXPECT_EQ(e.code, errc::missing_field);
  EXPECT_NE(e.message.find("needs approve_values or reject_values"), std::string::npos) << e.message;

  e = refusal("[tables.wo]\ndoc_type='wo'\nid_column='id'\nfactory_column='f'\napprove_values=['ok']\n");
  EXPECT_EQ(e.code, errc::missing_field);
  EXPECT_NE(e.message.find("approve_values: needs status_column"), std::string::npos) << e.message;

  e = refusal(
      "[tables.wo]\ndoc_type='wo'\nid_column='id'\nfactory_column='f'\nstatus_column='s'\n"
      "approve_values=['ok']\nreject_values=['no','ok']\n");
  EXPECT_EQ(e.code, errc::duplicate_key);
  EXPECT_NE(e.message.find("'ok' is also in approve_values"), std::string::npos) << e.message;

  e = refusal(
      "[tables.wo]\ndoc_type='wo'\nid_column='id'\nfactory_column='f'\nstatus_column='s'\n"
      "approve_values=['ok','ok']\n");
  EXPECT_EQ(e.code, errc::duplicate_key);
  EXPECT_NE(e.message.find("approve_values[1]: 'ok' is listed twice"), std::string::npos) << e.message;
}

TEST(MappingConfig, RefusesATableThatIsNeitherMappedNorPublic) {
  auto e = refusal("[tables.wo]\nnever_send=['x']\n");
  EXPECT_EQ(e.code, errc::missing_field);
  EXPECT_NE(e.message.find("needs doc_type (a mapped table) or public = true"), std::string::npos) << e.message;
  e = refusal("[tables.wo]\npublic=true\nid_column='id'\n");
  EXPECT_EQ(e.code, errc::bad_value);
}

TEST(MappingConfig, RefusesBadIdentifiers) {
  EXPECT_EQ(refusal("[tables.\"public.\"]\npublic=true\n").code, errc::empty);
  EXPECT_EQ(refusal("[tables.\"" + std::string(64, 'x') + "\"]\npublic=true\n").code, errc::too_long);
  EXPECT_EQ(refusal("[tables.wo]\npublic=true\nnever_send=[\"a\\tb\"]\n").code, errc::bad_char);
  EXPECT_EQ(refusal("[tables.wo]\ndoc_type='wo'\nid_column=''\nfactory_column='f'\n").code, errc::empty);
}

TEST(MappingConfig, RefusesOutOfRangeRoutingLimits) {
  auto e = refusal("[routing]\nlist_row_limit = 0\n");
  EXPECT_EQ(e.code, errc::bad_value);
  EXPECT_NE(e.message.find("routing.list_row_limit: must be in 1..100000000, not 0"), std::string::npos) << e.message;
  EXPECT_EQ(refusal("[routing]\nbatch = 3\n").code, errc::unknown_field);
}

// issue 14, item 3: every problem at once, in file order, each with its position; the code is the first one's.
TEST(MappingConfig, ReportsEveryProblemAtOnceInFileOrder) {
  constexpr std::string_view text = R"([tables.wo]
doc_type = 'wo'
id_column = 'id'
factory_column = 'f'
never_send = ['a', 'a']
colour = 'red'
[routing]
flush_messages = 0
[tables.news]
public = 'yes'
)";
  auto e = refusal(text);
  EXPECT_EQ(e.code, errc::duplicate_key);
  EXPECT_EQ(e.message,
            "test.toml:5:20: tables.'wo'.never_send[1]: 'a' is listed twice\n"
            "test.toml:6:1: tables.'wo'.colour: unknown key; expected doc_type, id_column, factory_column, "
            "version_column, status_column, approve_values, reject_values, patch, never_send or public\n"
            "test.toml:8:18: routing.flush_messages: must be in 1..100000000, not 0\n"
            "test.toml:10:10: tables.'news'.public: must be a boolean, not a string");
  std::vector<core::config_problem> problems;
  read_mapping_config(text, "test.toml", {}, problems);
  ASSERT_EQ(problems.size(), 4U);
  EXPECT_EQ(problems[0], (core::config_problem{"test.toml:5:20 tables.'wo'.never_send[1]", "'a' is listed twice"}));
  EXPECT_EQ(problems[2].where, "test.toml:8:18 routing.flush_messages");
  EXPECT_EQ(problems[3].where, "test.toml:10:10 tables.'news'.public");
}

// A table's own problem is reported once: the checks across its keys (here: needs id_column) wait for it.
TEST(MappingConfig, ATableWithAProblemSkipsTheChecksAcrossItsKeys) {
  std::vector<core::config_problem> problems;
  read_mapping_config("[tables.wo]\ndoc_type = 3\n[tables.x]\ndoc_type = 'lot'\n", "t.toml", {}, problems);
  ASSERT_EQ(problems.size(), 3U);
  EXPECT_EQ(problems[0].where, "t.toml:2:12 tables.'wo'.doc_type");
  EXPECT_EQ(problems[1].message, "doc_type 'lot' needs id_column");
  EXPECT_EQ(problems[2].message, "doc_type 'lot' needs factory_column");
}

TEST(MappingConfig, ReportsAnUnreadableFile) {
  auto r = load_mapping_config("/nonexistent/rtcache.toml");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("/nonexistent/rtcache.toml: cannot be read"), std::string::npos);
}

TEST(DenyList, DeniesColumnsWithASecretWord) {
  for (const char* name : {"password", "password_hash", "api_key", "apiKey", "APIKEY", "reset_token", "pw_salt",
                           "client_secret", "SessionToken", "totp_seed", "user-pin"}) {
    EXPECT_TRUE(is_denied_column(name)) << name;
  }
  for (const char* name : {"status", "monkey", "keyboard_layout", "tokenizer", "hashtag", "shipping", "pinned",
                           "factory_id", "due_date"}) {
    EXPECT_FALSE(is_denied_column(name)) << name;
  }
}

}  // namespace
}  // namespace rtcache::routing
