// postgres_changes bindings against records (event, schema/table wildcards, filters on the right row) and
// against the configured tables (expansion, refusal of tables rtcache does not serve).
#include "gateway/postgres_delivery.hpp"

#include "test_rows.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

namespace rtcache::gateway {
namespace {

using testing::routed;
using testing::test_mapping;
using testing::wo_change;

std::vector<protocol::postgres_binding> bindings(std::string_view json_array) {
  auto payload = boost::json::parse(R"({"config":{"postgres_changes":)" + std::string(json_array) + "}}").as_object();
  return protocol::parse_join("realtime:room1", payload).value().postgres_changes;
}

routing::postgres_change_ptr record_of(const routing::row_change& c) {
  return routed(*test_mapping(), c).changes.at(0).change;
}

TEST(PostgresDelivery, SchemaBindingWithoutTableMatchesEveryTableOfThatSchemaOnly) {
  const auto b = bindings(R"([{"event":"*","schema":"public"},{"event":"*","schema":"other"}])");
  const auto rec = record_of(wo_change(routing::row_kind::update, "1", "f1", "done"));
  EXPECT_TRUE(binding_matches(b[0], *rec));
  EXPECT_FALSE(binding_matches(b[1], *rec));
  EXPECT_EQ(matching_binding_ids(b, *rec), std::vector<std::int64_t>{b[0].id});
}

TEST(PostgresDelivery, EventMustBeStarOrTheRecordsTypeInAnyCase) {
  const auto b = bindings(R"([{"event":"insert","schema":"public"},{"event":"UPDATE","schema":"public"},
                             {"event":"DELETE","schema":"*","table":"*"}])");
  const auto upd = record_of(wo_change(routing::row_kind::update, "1", "f1", "done"));
  const auto ins = record_of(wo_change(routing::row_kind::insert, "1", "f1", "done"));
  const auto del = record_of(wo_change(routing::row_kind::del, "1", "f1", "done"));
  EXPECT_EQ(matching_binding_ids(b, *upd), std::vector<std::int64_t>{b[1].id});
  EXPECT_EQ(matching_binding_ids(b, *ins), std::vector<std::int64_t>{b[0].id});
  EXPECT_EQ(matching_binding_ids(b, *del), std::vector<std::int64_t>{b[2].id});
}

TEST(PostgresDelivery, FilterReadsTheNewRowForUpdatesAndTheOldRowForDeletes) {
  const auto b = bindings(R"([{"event":"*","schema":"public","table":"work_orders","filter":"status=eq.open"}])");
  EXPECT_TRUE(binding_matches(b[0], *record_of(wo_change(routing::row_kind::update, "1", "f1", "open", "done"))));
  EXPECT_FALSE(binding_matches(b[0], *record_of(wo_change(routing::row_kind::update, "1", "f1", "done", "open"))));
  EXPECT_TRUE(binding_matches(b[0], *record_of(wo_change(routing::row_kind::del, "1", "f1", "ignored", "open"))));
  EXPECT_FALSE(binding_matches(b[0], *record_of(wo_change(routing::row_kind::del, "1", "f1", "ignored", "done"))));
}

TEST(PostgresDelivery, CommaSeparatedConditionsAreAnded) {
  const auto b =
      bindings(R"([{"event":"*","schema":"public","table":"work_orders","filter":"status=eq.open,id=gt.5"}])");
  EXPECT_TRUE(binding_matches(b[0], *record_of(wo_change(routing::row_kind::insert, "6", "f1", "open"))));
  EXPECT_FALSE(binding_matches(b[0], *record_of(wo_change(routing::row_kind::insert, "5", "f1", "open"))));
  EXPECT_FALSE(binding_matches(b[0], *record_of(wo_change(routing::row_kind::insert, "6", "f1", "done"))));
}

TEST(PostgresDelivery, IdenticalBindingsContributeTheirSharedIdOnce) {
  const auto b = bindings(R"([{"event":"*","schema":"public"},{"event":"UPDATE","schema":"public"},
                             {"event":"*","schema":"public"}])");
  ASSERT_EQ(b[0].id, b[2].id);
  const auto ids = matching_binding_ids(b, *record_of(wo_change(routing::row_kind::update, "1", "f1", "done")));
  EXPECT_EQ(ids, (std::vector<std::int64_t>{b[0].id, b[1].id}));
}

TEST(PostgresDelivery, WildcardsExpandAgainstTheConfiguredTables) {
  const auto m = test_mapping();
  const auto b = bindings(R"([{"event":"*","schema":"public"},{"event":"*","schema":"*","table":"announcements"},
                             {"event":"*","schema":"other"}])");
  auto names = [](const std::vector<const routing::table_mapping*>& ts) {
    std::vector<std::string> out;
    for (const auto* t : ts) out.push_back(t->qualified_name());
    return out;
  };
  EXPECT_EQ(names(binding_tables(b[0], m.get())),
            (std::vector<std::string>{"public.announcements", "public.work_orders"}));
  EXPECT_EQ(names(binding_tables(b[1], m.get())), std::vector<std::string>{"public.announcements"});
  EXPECT_TRUE(binding_tables(b[2], m.get()).empty());
  EXPECT_TRUE(binding_tables(b[0], nullptr).empty());
}

TEST(PostgresDelivery, ConcreteTableThatIsNeitherMappedNorPublicIsRefusedWithSupabasesWording) {
  const auto m = test_mapping();
  EXPECT_FALSE(refuse_bindings(bindings(R"([{"event":"*","schema":"public","table":"work_orders"},
                                            {"event":"*","schema":"public","table":"announcements"},
                                            {"event":"*","schema":"public"}])"),
                               m.get()));
  const auto reason = refuse_bindings(
      bindings(R"([{"event":"INSERT","schema":"public","table":"users","filter":"id=eq.1"}])"), m.get());
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason,
            "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given "
            "connect parameters: [event: INSERT, schema: public, table: users, filters: [id=eq.1]]");
  EXPECT_TRUE(refuse_bindings(bindings(R"([{"event":"*","schema":"public","table":"work_orders"}])"), nullptr));
}

}  // namespace
}  // namespace rtcache::gateway
