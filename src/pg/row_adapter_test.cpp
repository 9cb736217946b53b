// Unit tests for the pgoutput -> routing::row_change adapter and the Truncate decision.
#include "rtcache/pg/row_adapter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rtcache::pg {
namespace {

relation_message work_orders(replica_identity identity = replica_identity::full) {
  relation_message r;
  r.oid = 16400;
  r.schema = "public";
  r.name = "work_orders";
  r.identity = identity;
  r.columns = {{true, "id", 25, -1},
               {identity == replica_identity::full, "factory_id", 25, -1},
               {identity == replica_identity::full, "notes", 25, -1},
               {identity == replica_identity::full, "mood", 70000, -1}};
  return r;
}

const change_context k_context{"2025-11-19T00:22:40.877Z", 742};

TEST(RowAdapter, InsertNamesColumnsTypesAndCarriesCommitContext) {
  type_cache types;
  ASSERT_TRUE(types.apply(type_message{70000, "public", "mood"}));
  const insert_message ins{
      16400, {column_value::text("w1"), column_value::text("f1"), column_value::null(), column_value::text("happy")}};
  const auto c = adapt(work_orders(), ins, types, k_context);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->schema, "public");
  EXPECT_EQ(c->table, "work_orders");
  EXPECT_EQ(c->kind, routing::row_kind::insert);
  ASSERT_EQ(c->columns.size(), 4U);
  EXPECT_EQ(c->columns[0], (routing::row_column{"id", 25, "", true}));
  EXPECT_EQ(c->columns[3].type_name, "public.mood");
  EXPECT_EQ(c->new_row[0], routing::row_value::of("w1"));
  EXPECT_EQ(c->new_row[2], routing::row_value::null());
  EXPECT_EQ(c->old_kind, routing::old_row_kind::none);
  EXPECT_TRUE(c->old_row.empty());
  EXPECT_EQ(c->commit_ts, "2025-11-19T00:22:40.877Z");
  EXPECT_EQ(c->xid, 742U);
}

TEST(RowAdapter, UpdateKeepsUnchangedToastDistinctFromNullAndFullOldRow) {
  const update_message upd{
      16400,
      old_tuple_kind::full,
      {column_value::text("w1"), column_value::text("f1"), column_value::unchanged_toast(), column_value::null()},
      {column_value::text("w1"), column_value::text("f2"), column_value::unchanged_toast(), column_value::null()}};
  const auto c = adapt(work_orders(), upd, type_cache{}, k_context);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->kind, routing::row_kind::update);
  EXPECT_EQ(c->old_kind, routing::old_row_kind::full);
  EXPECT_EQ(c->new_row[2], routing::row_value::unchanged_toast());
  EXPECT_EQ(c->old_row[2], routing::row_value::unchanged_toast());
  EXPECT_EQ(c->new_row[3], routing::row_value::null());
  EXPECT_EQ(c->old_row[1], routing::row_value::of("f1"));
}

TEST(RowAdapter, UpdateWithoutOldTupleHasNoOldRow) {
  const update_message upd{
      16400,
      old_tuple_kind::none,
      {},
      {column_value::text("w1"), column_value::text("f1"), column_value::text("n"), column_value::null()}};
  const auto c = adapt(work_orders(replica_identity::default_key), upd, type_cache{}, k_context);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->old_kind, routing::old_row_kind::none);
  EXPECT_TRUE(c->old_row.empty());
}

TEST(RowAdapter, DeleteKeepsKeyVersusFullOldRow) {
  const delete_message key{
      16400,
      old_tuple_kind::key,
      {column_value::text("w1"), column_value::null(), column_value::null(), column_value::null()}};
  const auto k = adapt(work_orders(replica_identity::default_key), key, type_cache{}, k_context);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->kind, routing::row_kind::del);
  EXPECT_EQ(k->old_kind, routing::old_row_kind::key);
  EXPECT_TRUE(k->new_row.empty());
  EXPECT_TRUE(k->columns[0].is_key);
  EXPECT_FALSE(k->columns[1].is_key);

  const delete_message full{
      16400,
      old_tuple_kind::full,
      {column_value::text("w1"), column_value::text("f1"), column_value::text("x"), column_value::null()}};
  const auto f = adapt(work_orders(), full, type_cache{}, k_context);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->old_kind, routing::old_row_kind::full);
  EXPECT_EQ(f->old_row[1], routing::row_value::of("f1"));
}

TEST(RowAdapter, RefusesTupleWhoseColumnCountDiffersFromRelation) {
  const insert_message ins{16400, {column_value::text("w1")}};
  const auto c = adapt(work_orders(), ins, type_cache{}, k_context);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, errc::bad_value);
  EXPECT_NE(c.error().message.find("public.work_orders"), std::string::npos);
}

TEST(RowAdapter, RefusesBinaryValuesNamingTheColumn) {
  const insert_message ins{
      16400, {column_value::text("w1"), column_value::binary("\x01"), column_value::null(), column_value::null()}};
  const auto c = adapt(work_orders(), ins, type_cache{}, k_context);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("factory_id"), std::string::npos);
}

TEST(RowAdapter, EmptySchemaMeansPgCatalog) {
  relation_message r = work_orders();
  r.schema = "";
  const insert_message ins{
      16400, {column_value::text("w1"), column_value::text("f1"), column_value::null(), column_value::null()}};
  const auto c = adapt(r, ins, type_cache{}, k_context);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->schema, "pg_catalog");
}

// The hot path's views must hold what adapt() copies, and refuse what it refuses with the same words.
TEST(RowViewBuilder, ViewsHoldWhatAdaptCopiesAndRefuseTheSame) {
  const update_message upd{
      16400,
      old_tuple_kind::full,
      {column_value::text("w1"), column_value::text("f1"), column_value::unchanged_toast(), column_value::null()},
      {column_value::text("w1"), column_value::text("f2"), column_value::unchanged_toast(), column_value::text("sad")}};
  const auto copied = adapt(work_orders(), upd, type_cache{}, k_context);
  ASSERT_TRUE(copied) << copied.error().message;
  row_view_builder builder;
  const auto view = builder.view(work_orders(), upd, k_context);
  ASSERT_TRUE(view) << view.error().message;
  EXPECT_EQ(view->kind, copied->kind);
  EXPECT_EQ(view->old_kind, copied->old_kind);
  EXPECT_EQ(view->commit_ts, copied->commit_ts);
  EXPECT_EQ(view->xid, copied->xid);
  ASSERT_EQ(view->new_row.size(), copied->new_row.size());
  ASSERT_EQ(view->old_row.size(), copied->old_row.size());
  for (std::size_t i = 0; i < view->new_row.size(); ++i) {
    EXPECT_EQ(view->new_row[i], routing::row_value_view::of(copied->new_row[i])) << i;
    EXPECT_EQ(view->old_row[i], routing::row_value_view::of(copied->old_row[i])) << i;
  }

  const delete_message del{
      16400,
      old_tuple_kind::key,
      {column_value::text("w1"), column_value::null(), column_value::null(), column_value::null()}};
  const auto del_view = builder.view(work_orders(replica_identity::default_key), del, k_context);
  ASSERT_TRUE(del_view);
  EXPECT_EQ(del_view->old_kind, routing::old_row_kind::key);
  EXPECT_TRUE(del_view->new_row.empty());
  EXPECT_EQ(del_view->old_row[0].text, "w1");

  const insert_message short_row{16400, {column_value::text("w1")}};
  const auto short_view = builder.view(work_orders(), short_row, k_context);
  const auto short_copy = adapt(work_orders(), short_row, type_cache{}, k_context);
  ASSERT_FALSE(short_view);
  ASSERT_FALSE(short_copy);
  EXPECT_EQ(short_view.error().message, short_copy.error().message);
  const insert_message binary{
      16400, {column_value::text("w1"), column_value::binary("\x01"), column_value::null(), column_value::null()}};
  const auto binary_view = builder.view(work_orders(), binary, k_context);
  ASSERT_FALSE(binary_view);
  EXPECT_EQ(binary_view.error().message, adapt(work_orders(), binary, type_cache{}, k_context).error().message);
}

TEST(TypeCache, NamesBuiltinsWithoutSchemaAndRefusesBeyondBound) {
  type_cache types(1);
  ASSERT_TRUE(types.apply(type_message{1, "", "citext"}));
  EXPECT_EQ(types.find(1), "citext");
  EXPECT_EQ(types.find(2), "");
  ASSERT_TRUE(types.apply(type_message{1, "public", "citext"}));  // replacing an entry needs no room
  const auto refused = types.apply(type_message{2, "public", "mood"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, errc::too_many);
}

routing::mapping_config mapping_of_work_orders() {
  auto config = routing::parse_mapping_config(R"(
[tables."public.work_orders"]
doc_type = "wo"
id_column = "id"
factory_column = "factory_id"
)");
  return std::move(config).value();
}

TEST(TruncatedTables, ListsOnlyMappedTablesInMessageOrder) {
  relation_cache relations;
  ASSERT_TRUE(relations.apply(work_orders()));
  relation_message other = work_orders();
  other.oid = 16500;
  other.name = "audit_log";
  ASSERT_TRUE(relations.apply(other));
  const auto tables =
      truncated_tables(truncate_message{false, false, {16500, 16400}}, relations, mapping_of_work_orders());
  ASSERT_TRUE(tables);
  EXPECT_EQ(*tables, (std::vector<routing::gap_table>{{"public", "work_orders", "wo"}}));
}

TEST(TruncatedTables, RefusesAnOidWithoutRelation) {
  const auto tables =
      truncated_tables(truncate_message{false, false, {99}}, relation_cache{}, mapping_of_work_orders());
  ASSERT_FALSE(tables);
  EXPECT_EQ(tables.error().code, errc::bad_value);
}

}  // namespace
}  // namespace rtcache::pg
