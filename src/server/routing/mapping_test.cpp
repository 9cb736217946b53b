#include "routing/mapping.hpp"

#include "routing/mapping_value.hpp"
#include "rtcache/core/event_codec.hpp"

#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace rtcache::routing {
namespace {

using core::action;
using core::errc;

constexpr std::string_view k_config = R"(
[tables."public.work_orders"]
doc_type = "wo"
id_column = "id"
factory_column = "factory_id"
version_column = "version"
status_column = "status"
approve_values = ["approved"]
reject_values = ["rejected"]
patch = ["status", "due_date", "quantity", "spec", "urgent"]
never_send = ["internal_notes"]

[tables."public.announcements"]
public = true
never_send = ["author_email"]
)";

constexpr std::string_view k_ts = "2025-11-19T00:22:40.877Z";

// Column order of work_orders in every test.
enum col : std::size_t { c_id, c_factory, c_status, c_version, c_due, c_qty, c_spec, c_urgent, c_notes, c_key, c_body };

std::vector<row_column> wo_columns() {
  return {{"id", pg_oid::int8, "", true},
          {"factory_id", pg_oid::text, "", false},
          {"status", pg_oid::text, "", false},
          {"version", pg_oid::int8, "", false},
          {"due_date", pg_oid::date, "", false},
          {"quantity", pg_oid::numeric, "", false},
          {"spec", pg_oid::jsonb, "", false},
          {"urgent", pg_oid::bool_, "", false},
          {"internal_notes", pg_oid::text, "", false},
          {"api_key", pg_oid::text, "", false},
          {"body", pg_oid::text, "", false}};
}

std::vector<row_value> wo_row(std::string id = "123", std::string factory = "F7", std::string status = "open") {
  return {row_value::of(std::move(id)),     row_value::of(std::move(factory)),
          row_value::of(std::move(status)), row_value::of("3"),
          row_value::of("2025-12-01"),      row_value::of("12.50"),
          row_value::of(R"({"w": 2})"),     row_value::of("f"),
          row_value::of("call Bob"),        row_value::of("sk_live_1"),
          row_value::of("long text")};
}

row_change wo_change(row_kind kind) {
  row_change c;
  c.schema = "public";
  c.table = "work_orders";
  c.kind = kind;
  c.columns = wo_columns();
  c.commit_ts = std::string(k_ts);
  return c;
}

row_change insert_row() {
  auto c = wo_change(row_kind::insert);
  c.new_row = wo_row();
  return c;
}

row_change update_full(std::vector<row_value> before, std::vector<row_value> after) {
  auto c = wo_change(row_kind::update);
  c.old_kind = old_row_kind::full;
  c.old_row = std::move(before);
  c.new_row = std::move(after);
  return c;
}

row_change key_only(row_change c) {
  for (std::size_t i = 0; i < c.old_row.size(); ++i) {
    if (!c.columns[i].is_key) c.old_row[i] = row_value::null();
  }
  c.old_kind = old_row_kind::key;
  return c;
}

class Mapping : public ::testing::Test {
 protected:
  Mapping() : config_(parse_mapping_config(k_config).value()), mapper_(config_) {}

  mapped_row map(const row_change& c) {
    auto r = mapper_.map(c);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    if (!r.has_value() || !*r) {
      ADD_FAILURE() << "not mapped";
      return {};
    }
    return std::move(**r);
  }

  core::error refusal(const row_change& c) {
    auto r = mapper_.map(c);
    EXPECT_FALSE(r.has_value());
    return r.has_value() ? core::error{errc::empty, ""} : r.error();
  }

  // Every mapped event must survive core's strict decoder unchanged: what the hub encodes, clients decode.
  void expect_round_trip(const core::event& e) {
    core::event_decoder decoder(config_.doc_types);
    auto back = decoder.decode(core::encode(e));
    ASSERT_TRUE(back.has_value()) << back.error().message << "\n" << core::encode(e);
    EXPECT_EQ(*back, e) << core::encode(e);
  }

  mapping_config config_;
  mapper mapper_;
};

TEST_F(Mapping, InsertIsACreateWithVersionAndTs) {
  const auto row = map(insert_row());
  ASSERT_TRUE(row.event);
  const core::event& e = *row.event;
  EXPECT_EQ(
      core::encode(e),
      R"({"type":"wo","id":"123","factoryId":"F7","action":"create","version":3,"ts":"2025-11-19T00:22:40.877Z"})");
  EXPECT_FALSE(row.old_factory_id);
  EXPECT_TRUE(row.warnings.empty());
  expect_round_trip(e);
}

TEST_F(Mapping, InsertRecordHasTheSupabaseShapeWithoutSecrets) {
  const auto row = map(insert_row());
  ASSERT_TRUE(row.change);
  EXPECT_EQ(row.change->type, change_type::insert);
  EXPECT_EQ(
      row.change->json,
      R"({"schema":"public","table":"work_orders","commit_timestamp":"2025-11-19T00:22:40.877Z","type":"INSERT",)"
      R"("columns":[{"name":"id","type":"int8"},{"name":"factory_id","type":"text"},{"name":"status","type":"text"},)"
      R"({"name":"version","type":"int8"},{"name":"due_date","type":"date"},{"name":"quantity","type":"numeric"},)"
      R"({"name":"spec","type":"jsonb"},{"name":"urgent","type":"bool"},{"name":"body","type":"text"}],)"
      R"("record":{"id":123,"factory_id":"F7","status":"open","version":3,"due_date":"2025-12-01",)"
      R"("quantity":12.5,"spec":{"w":2},"urgent":false,"body":"long text"},"errors":null})");
  EXPECT_TRUE(row.change->old_record().empty());
  EXPECT_EQ(row.change->record().at("id").as_int64(), 123);
}

TEST_F(Mapping, DeleteIsADeleteWithOnlyTheOldRecord) {
  auto c = wo_change(row_kind::del);
  c.old_kind = old_row_kind::full;
  c.old_row = wo_row();
  const auto row = map(c);
  ASSERT_TRUE(row.event);
  EXPECT_EQ(row.event->act, action::del);
  EXPECT_EQ(row.event->version, 3);
  EXPECT_FALSE(row.event->changed_keys);
  EXPECT_FALSE(row.event->patch);
  EXPECT_EQ(row.change->type, change_type::del);
  EXPECT_EQ(row.change->json.find("\"record\""), std::string::npos);
  EXPECT_NE(row.change->json.find(R"("type":"DELETE")"), std::string::npos);
  EXPECT_NE(row.change->json.find(R"("old_record":{"id":123,"factory_id":"F7","status":"open")"), std::string::npos)
      << row.change->json;
  EXPECT_TRUE(row.change->record().empty());
  expect_round_trip(*row.event);
}

TEST_F(Mapping, DeleteWithAKeyOnlyOldRowNeedsTheFactoryInTheIdentity) {
  auto c = wo_change(row_kind::del);
  c.old_kind = old_row_kind::full;
  c.old_row = wo_row();
  auto e = refusal(key_only(c));
  EXPECT_EQ(e.code, errc::missing_field);
  EXPECT_NE(e.message.find("public.work_orders: the DELETE's old row does not hold column 'factory_id'"),
            std::string::npos)
      << e.message;

  c.columns[c_factory].is_key = true;  // a composite identity (id, factory_id)
  const auto row = map(key_only(c));
  ASSERT_TRUE(row.event);
  EXPECT_EQ(row.event->factory_id, "F7");
  EXPECT_FALSE(row.event->version);  // not in the identity
  EXPECT_EQ(row.change->json.substr(row.change->json.find("\"old_record\"")),
            R"("old_record":{"id":123,"factory_id":"F7"},"errors":null})");
}

TEST_F(Mapping, UpdateWithFullOldRowListsChangedKeysAndPatchesAllowedColumns) {
  auto after = wo_row();
  after[c_due] = row_value::of("2026-01-15");
  after[c_qty] = row_value::of("7");
  after[c_urgent] = row_value::of("t");
  after[c_version] = row_value::of("4");
  after[c_body] = row_value::of("other");  // changed, not patchable
  const auto row = map(update_full(wo_row(), after));
  ASSERT_TRUE(row.event);
  const core::event& e = *row.event;
  EXPECT_EQ(e.act, action::update);
  EXPECT_EQ(e.version, 4);
  EXPECT_EQ(e.changed_keys, (std::vector<std::string>{"version", "due_date", "quantity", "urgent", "body"}));
  ASSERT_TRUE(e.patch);
  EXPECT_EQ(*e.patch,
            (std::vector<core::patch_entry>{{"due_date", "\"2026-01-15\""}, {"quantity", "7"}, {"urgent", "true"}}));
  EXPECT_FALSE(e.patch_covers_changes());
  expect_round_trip(e);
}

TEST_F(Mapping, PatchCarriesTypedJsonForEveryAllowedType) {
  auto after = wo_row();
  after[c_status] = row_value::of("in_progress");
  after[c_qty] = row_value::of("0.25");
  after[c_spec] = row_value::of(R"({"w": 2.50, "tags": ["a", "b"]})");
  after[c_due] = row_value::null();
  const auto row = map(update_full(wo_row(), after));
  ASSERT_TRUE(row.event && row.event->patch);
  EXPECT_EQ(*row.event->patch, (std::vector<core::patch_entry>{{"due_date", "null"},
                                                               {"quantity", "0.25"},
                                                               {"spec", R"({"w":2.5,"tags":["a","b"]})"},
                                                               {"status", "\"in_progress\""}}));
  EXPECT_TRUE(row.event->patch_covers_changes());
  expect_round_trip(*row.event);
}

TEST_F(Mapping, JsonPatchValuesWithRepeatedKeysOrHugeIntegersStillDecode) {
  auto after = wo_row();
  after[c_spec] = row_value::of(R"({"a": 1, "a": 2, "n": 9007199254740993, "s": "\u0001"})");
  const auto row = map(update_full(wo_row(), after));
  ASSERT_TRUE(row.event && row.event->patch);
  expect_round_trip(*row.event);
}

TEST_F(Mapping, NeverSendAndDeniedColumnsAreNotPatchedNamedOrRecorded) {
  auto after = wo_row();
  after[c_notes] = row_value::of("secret plan");
  after[c_key] = row_value::of("sk_live_2");
  const auto row = map(update_full(wo_row(), after));
  ASSERT_TRUE(row.event);
  EXPECT_EQ(row.event->changed_keys, std::vector<std::string>{});
  EXPECT_FALSE(row.event->patch);
  for (const char* leaked : {"internal_notes", "api_key", "secret plan", "sk_live"}) {
    EXPECT_EQ(row.change->json.find(leaked), std::string::npos) << leaked;
  }
  EXPECT_FALSE(row.change->record().contains("api_key"));
  EXPECT_FALSE(row.change->old_record().contains("internal_notes"));
  expect_round_trip(*row.event);
}

TEST_F(Mapping, UpdateWithoutOldRowHasNoChangedKeysAndAKeyOnlyOldRecord) {
  auto c = wo_change(row_kind::update);
  c.new_row = wo_row();
  c.new_row[c_status] = row_value::of("approved");  // without the old value: update, not approve
  const auto row = map(c);
  ASSERT_TRUE(row.event);
  EXPECT_EQ(row.event->act, action::update);
  EXPECT_FALSE(row.event->changed_keys);
  EXPECT_FALSE(row.event->patch);
  EXPECT_EQ(row.change->json.substr(row.change->json.find("\"old_record\"")),
            R"("old_record":{"id":123},"errors":null})");
}

TEST_F(Mapping, UpdateWithKeyOnlyOldRowHasNoChangedKeys) {
  auto after = wo_row();
  after[c_id] = row_value::of("124");  // the key changed: pgoutput sends the old key
  const auto row = map(key_only(update_full(wo_row(), after)));
  ASSERT_TRUE(row.event);
  EXPECT_EQ(row.event->id, "124");
  EXPECT_FALSE(row.event->changed_keys);
  EXPECT_EQ(row.change->old_record().size(), 1U);
  EXPECT_EQ(row.change->old_record().at("id").as_int64(), 123);
}

TEST_F(Mapping, StatusChangedToAnApproveValueIsApprove) {
  auto after = wo_row();
  after[c_status] = row_value::of("approved");
  const auto row = map(update_full(wo_row(), after));
  ASSERT_TRUE(row.event);
  EXPECT_EQ(row.event->act, action::approve);
  EXPECT_EQ(row.event->changed_keys, std::vector<std::string>{"status"});
  EXPECT_TRUE(row.event->patch_covers_changes());
  expect_round_trip(*row.event);
}

TEST_F(Mapping, StatusChangedToARejectValueIsReject) {
  auto after = wo_row();
  after[c_status] = row_value::of("rejected");
  EXPECT_EQ(map(update_full(wo_row(), after)).event->act, action::reject);
}

TEST_F(Mapping, AnApprovedRowEditedElsewhereIsAnUpdateNotAnotherApprove) {
  auto before = wo_row("123", "F7", "approved");
  auto after = before;
  after[c_due] = row_value::of("2026-02-01");
  EXPECT_EQ(map(update_full(before, after)).event->act, action::update);
}

TEST_F(Mapping, StatusChangedToAnotherValueIsAnUpdate) {
  auto after = wo_row();
  after[c_status] = row_value::of("in_progress");
  EXPECT_EQ(map(update_full(wo_row(), after)).event->act, action::update);
}

TEST_F(Mapping, UnchangedToastIsNotAChangeAndIsFilledFromTheOldRow) {
  auto after = wo_row();
  after[c_body] = row_value::unchanged_toast();
  after[c_due] = row_value::of("2026-03-03");
  const auto row = map(update_full(wo_row(), after));
  ASSERT_TRUE(row.event);
  EXPECT_EQ(row.event->changed_keys, std::vector<std::string>{"due_date"});
  EXPECT_EQ(row.change->record().at("body").as_string(), "long text");
}

TEST_F(Mapping, UnchangedToastWithoutAFullOldValueIsOmittedFromTheRecord) {
  auto before = wo_row();
  before[c_body] = row_value::unchanged_toast();
  auto after = wo_row();
  after[c_body] = row_value::unchanged_toast();
  const auto row = map(update_full(before, after));
  ASSERT_TRUE(row.event);
  EXPECT_EQ(row.event->changed_keys, std::vector<std::string>{});
  EXPECT_FALSE(row.change->record().contains("body"));
  EXPECT_FALSE(row.change->old_record().contains("body"));

  auto c = wo_change(row_kind::update);  // no old row at all
  c.new_row = after;
  EXPECT_FALSE(map(c).change->record().contains("body"));
}

TEST_F(Mapping, AnOldToastValueAgainstASentNewValueCountsAsChanged) {
  auto before = wo_row();
  before[c_body] = row_value::unchanged_toast();
  auto after = wo_row();
  after[c_body] = row_value::of("rewritten");
  EXPECT_EQ(map(update_full(before, after)).event->changed_keys, std::vector<std::string>{"body"});
}

TEST_F(Mapping, UpdateRecordAndOldRecordShape) {
  auto after = wo_row();
  after[c_status] = row_value::of("approved");
  const auto row = map(update_full(wo_row(), after));
  EXPECT_EQ(row.change->type, change_type::update);
  const std::string& j = row.change->json;
  EXPECT_NE(j.find(R"("type":"UPDATE")"), std::string::npos);
  EXPECT_NE(j.find(R"("record":{"id":123,"factory_id":"F7","status":"approved")"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("old_record":{"id":123,"factory_id":"F7","status":"open")"), std::string::npos) << j;
  EXPECT_TRUE(j.ends_with(R"("errors":null})"));
  EXPECT_EQ(row.change->old_record().at("status").as_string(), "open");
}

// Filters read the record objects from every session's thread; they are built on first use, once.
TEST_F(Mapping, RecordObjectsBuiltOnFirstUseAreTheSameForConcurrentReaders) {
  auto after = wo_row();
  after[c_status] = row_value::of("approved");
  const auto row = map(update_full(wo_row(), after));
  const postgres_change_ptr change = row.change;
  std::vector<std::string> seen(4);
  std::vector<std::thread> readers;
  for (std::size_t t = 0; t < seen.size(); ++t) {
    readers.emplace_back([&change, &seen, t] {
      seen[t] = boost::json::serialize(change->record()) + boost::json::serialize(change->old_record());
    });
  }
  for (auto& r : readers) r.join();
  for (const std::string& s : seen) EXPECT_EQ(s, seen.front());
  EXPECT_EQ(change->record().at("status").as_string(), "approved");
  EXPECT_EQ(change->record().at("quantity").as_double(), 12.5);
  EXPECT_EQ(change->record().at("spec").at("w").as_int64(), 2);
  EXPECT_FALSE(change->record().at("urgent").as_bool());
  EXPECT_EQ(change->old_record().at("status").as_string(), "open");
}

TEST_F(Mapping, UnparsableVersionIsAbsentWithAWarning) {
  auto c = insert_row();
  c.new_row[c_version] = row_value::of("v3");
  const auto row = map(c);
  ASSERT_TRUE(row.event);
  EXPECT_FALSE(row.event->version);
  ASSERT_EQ(row.warnings.size(), 2U);  // the version, and the int8 value sent as a string
  EXPECT_EQ(row.warnings[0].column, "version");
  EXPECT_NE(row.warnings[0].message.find("value 'v3' is not a valid int8; sent as a string"), std::string::npos);
  EXPECT_EQ(row.warnings[1].column, "version");
  EXPECT_NE(row.warnings[1].message.find("version 'v3' is not a non-negative 64-bit integer"), std::string::npos);

  c.new_row[c_version] = row_value::of("-1");
  EXPECT_FALSE(map(c).event->version);
  c.new_row[c_version] = row_value::null();
  const auto null_version = map(c);
  EXPECT_FALSE(null_version.event->version);
  EXPECT_TRUE(null_version.warnings.empty());
}

TEST_F(Mapping, InexactNumericKeepsThePatchOut) {
  auto after = wo_row();
  after[c_qty] = row_value::of("12345678901234567890.123");
  const auto row = map(update_full(wo_row(), after));
  ASSERT_TRUE(row.event);
  EXPECT_EQ(row.event->changed_keys, std::vector<std::string>{"quantity"});
  EXPECT_FALSE(row.event->patch);  // clients refetch rather than show a rounded value
}

TEST_F(Mapping, InvalidIdOrFactoryIsAnErrorNamingTableColumnAndValue) {
  auto c = insert_row();
  c.new_row[c_factory] = row_value::of("F 7");
  auto e = refusal(c);
  EXPECT_EQ(e.code, errc::bad_char);
  EXPECT_NE(e.message.find("public.work_orders: column 'factory_id' value 'F 7' is not a valid factoryId"),
            std::string::npos)
      << e.message;

  c = insert_row();
  c.new_row[c_id] = row_value::null();
  e = refusal(c);
  EXPECT_EQ(e.code, errc::empty);
  EXPECT_NE(e.message.find("column 'id' (id) is null"), std::string::npos) << e.message;

  c = insert_row();
  c.new_row[c_id] = row_value::of(std::string(65, '1'));
  EXPECT_EQ(refusal(c).code, errc::too_long);
}

TEST_F(Mapping, MissingConfiguredColumnIsAnError) {
  auto c = insert_row();
  c.columns[c_factory].name = "plant";
  auto e = refusal(c);
  EXPECT_EQ(e.code, errc::missing_field);
  EXPECT_NE(e.message.find("the relation has no column 'factory_id'"), std::string::npos) << e.message;
}

TEST_F(Mapping, MalformedRowShapeIsAnError) {
  auto c = insert_row();
  c.new_row.pop_back();
  EXPECT_EQ(refusal(c).code, errc::bad_value);
  auto d = wo_change(row_kind::del);
  EXPECT_EQ(refusal(d).code, errc::bad_value);
}

TEST_F(Mapping, FactoryColumnChangeIsAMoveReportingTheOldFactory) {
  auto after = wo_row("123", "F9");
  const auto row = map(update_full(wo_row(), after));
  ASSERT_TRUE(row.event);
  EXPECT_EQ(row.event->factory_id, "F9");
  EXPECT_EQ(row.old_factory_id, "F7");
  ASSERT_TRUE(row.move_delete_change);
  EXPECT_EQ(row.move_delete_change->type, change_type::del);
  EXPECT_TRUE(row.move_delete_change->record().empty());
  EXPECT_EQ(row.move_delete_change->old_record().at("factory_id").as_string(), "F7");
  EXPECT_EQ(row.change->record().at("factory_id").as_string(), "F9");
}

// issue 11, finding 9: the new owner of a moved row must not see the values it had under the old factory.
TEST_F(Mapping, MoveGivesTheNewFactoryAnInsertOfTheNewRowWithoutTheOldValues) {
  auto before = wo_row("123", "F7", "open");
  before[c_body] = row_value::of("F7's confidential text");
  auto after = wo_row("123", "F9", "open");
  after[c_body] = row_value::of("moved");
  const auto row = map(update_full(before, after));
  ASSERT_TRUE(row.move_insert_change);
  const postgres_change& ins = *row.move_insert_change;
  EXPECT_EQ(ins.type, change_type::insert);
  EXPECT_EQ(ins.json.find("old_record"), std::string::npos) << ins.json;
  EXPECT_EQ(ins.json.find("F7"), std::string::npos) << ins.json;
  EXPECT_NE(ins.json.find(R"("type":"INSERT")"), std::string::npos) << ins.json;
  EXPECT_TRUE(ins.old_record().empty());
  EXPECT_EQ(ins.record().at("factory_id").as_string(), "F9");
  EXPECT_EQ(ins.record().at("body").as_string(), "moved");
  EXPECT_FALSE(ins.record().contains("internal_notes"));  // never_send still holds
  // The same record the UPDATE carries, minus old_record: what an insert of the new row would have produced.
  auto inserted = wo_change(row_kind::insert);
  inserted.new_row = after;
  EXPECT_EQ(ins.json, map(inserted).change->json);
  // The old owner's DELETE carries the old row only.
  ASSERT_TRUE(row.move_delete_change);
  EXPECT_EQ(row.move_delete_change->json.find("F9"), std::string::npos) << row.move_delete_change->json;
  // A plain update has neither.
  const auto plain = map(update_full(wo_row(), wo_row("123", "F7", "done")));
  EXPECT_FALSE(plain.move_insert_change);
  EXPECT_FALSE(plain.move_delete_change);
}

TEST_F(Mapping, MoveIsDetectedFromAKeyOnlyOldRowHoldingTheFactory) {
  auto before = wo_row();
  auto after = wo_row("123", "F9");
  auto c = update_full(before, after);
  c.columns[c_factory].is_key = true;
  EXPECT_EQ(map(key_only(c)).old_factory_id, "F7");
  // Without the factory in the old row the move is invisible: an update in the new factory.
  auto plain = wo_change(row_kind::update);
  plain.new_row = after;
  EXPECT_FALSE(map(plain).old_factory_id);
}

TEST_F(Mapping, UnconfiguredTablesAreNotMapped) {
  auto c = insert_row();
  c.table = "audit_log";
  auto r = mapper_.map(c);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
}

TEST_F(Mapping, PublicTablesGetARecordButNoEvent) {
  row_change c;
  c.schema = "public";
  c.table = "announcements";
  c.kind = row_kind::insert;
  c.columns = {{"id", pg_oid::uuid, "", true},
               {"title", pg_oid::text, "", false},
               {"author_email", pg_oid::text, "", false},
               {"level", 16500, "alert_level", false}};
  c.new_row = {row_value::of("0b8f7c4e-1d2a-4f0e-9a55-6c1f3e2d4b5a"), row_value::of("Shutdown Friday"),
               row_value::of("boss@example.com"), row_value::of("high")};
  c.commit_ts = std::string(k_ts);
  const auto row = map(c);
  EXPECT_FALSE(row.event);
  EXPECT_TRUE(row.is_public);
  ASSERT_TRUE(row.change);
  EXPECT_EQ(row.change->json,
            R"({"schema":"public","table":"announcements","commit_timestamp":"2025-11-19T00:22:40.877Z",)"
            R"("type":"INSERT","columns":[{"name":"id","type":"uuid"},{"name":"title","type":"text"},)"
            R"({"name":"level","type":"alert_level"}],"record":{"id":"0b8f7c4e-1d2a-4f0e-9a55-6c1f3e2d4b5a",)"
            R"("title":"Shutdown Friday","level":"high"},"errors":null})");
}

// issue 13: a cluster node attaches records it did not map, read back from their JSON; filters must see the same
// fields and objects as on the node that mapped them.
TEST_F(Mapping, ARecordReadBackFromItsJsonHasTheSameFieldsAndObjects) {
  auto after = wo_row();
  after[c_qty] = row_value::of("0.25");
  // Nested as deep as a jsonb value may be (32) inside the record: still readable back.
  after[c_spec] = row_value::of(std::string(30, '[') + R"({"w": 2.50, "tags": ["a", "b"]})" + std::string(30, ']'));
  after[c_due] = row_value::null();
  after[c_version] = row_value::of("4");
  auto del = wo_change(row_kind::del);
  del.old_kind = old_row_kind::full;
  del.old_row = wo_row();
  const auto moved = map(update_full(wo_row(), wo_row("123", "F9")));
  std::vector<postgres_change_ptr> changes = {
      map(update_full(wo_row(), after)).change,           map(insert_row()).change, map(del).change,
      map(key_only(update_full(wo_row(), after))).change, moved.move_delete_change, moved.move_insert_change};
  for (const auto& change : changes) {
    ASSERT_TRUE(change);
    auto back = postgres_change::from_json(change->json);
    ASSERT_TRUE(back) << back.error().message << "\n" << change->json;
    EXPECT_EQ((*back)->schema, change->schema);
    EXPECT_EQ((*back)->table, change->table);
    EXPECT_EQ((*back)->type, change->type);
    EXPECT_EQ((*back)->json, change->json);
    EXPECT_EQ((*back)->record(), change->record()) << change->json;
    EXPECT_EQ((*back)->old_record(), change->old_record()) << change->json;
  }
  EXPECT_FALSE(changes[0]->record().at("spec").is_string());  // the deep jsonb really is a JSON value
}

TEST_F(Mapping, AMalformedRecordIsRefusedWithAReasonNamingWhatIsWrong) {
  const std::string ok = map(update_full(wo_row(), wo_row("123", "F7", "done"))).change->json;
  ASSERT_TRUE(postgres_change::from_json(ok));
  struct bad_case {
    std::string json;
    errc code;
    std::string_view names;  // what the message must mention
  };
  const std::vector<bad_case> cases = {
      {"", errc::bad_json, "not JSON"},
      {R"({"schema":"public")", errc::bad_json, "not JSON"},
      {std::string(64, '[') + std::string(64, ']'), errc::bad_json, "not JSON"},
      {"[]", errc::not_object, "object"},
      {R"({"schema":"public","table":"t"})", errc::missing_field, "type"},
      {R"({"schema":1,"table":"t","type":"INSERT","record":{}})", errc::wrong_type, "schema"},
      {R"({"schema":"public","table":"","type":"INSERT","record":{}})", errc::wrong_type, "table"},
      {R"({"schema":"p","table":"t","type":"MERGE","record":{}})", errc::bad_value, "MERGE"},
      {R"({"schema":"p","table":"t","type":"INSERT","record":[]})", errc::wrong_type, "record"},
      {R"({"schema":"p","table":"t","type":"INSERT"})", errc::bad_value, "record"},
      {R"({"schema":"p","table":"t","type":"INSERT","record":{},"old_record":{}})", errc::bad_value, "old_record"},
      {R"({"schema":"p","table":"t","type":"DELETE","record":{},"old_record":{}})", errc::bad_value, "record"},
      {R"({"schema":"p","table":"t","type":"UPDATE","record":{}})", errc::bad_value, "old_record"},
      {R"({"schema":"p","table":"t","type":"UPDATE","record":{},"old_record":"x"})", errc::wrong_type, "old_record"},
  };
  for (const auto& c : cases) {
    const auto r = postgres_change::from_json(c.json);
    ASSERT_FALSE(r) << c.json;
    EXPECT_EQ(r.error().code, c.code) << c.json << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(c.names), std::string::npos) << c.json << ": " << r.error().message;
  }
}

}  // namespace
}  // namespace rtcache::routing
