// Unit tests for the pgoutput and replication CopyData decoder, the relation cache, and LSN and timestamp
// formatting. Messages are built byte by byte with a test-local writer, independent of the decoder.
#include "rtcache/pg/pgoutput.hpp"

#include "pg_test_encoder.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace rtcache::pg {
namespace {

// Big-endian writer for building protocol messages in tests.
class writer {
 public:
  writer& u8(std::uint8_t v) {
    bytes_ += static_cast<char>(v);
    return *this;
  }
  writer& ch(char c) {
    bytes_ += c;
    return *this;
  }
  writer& u16(std::uint16_t v) { return be(v, 2); }
  writer& u32(std::uint32_t v) { return be(v, 4); }
  writer& i32(std::int32_t v) { return be(static_cast<std::uint32_t>(v), 4); }
  writer& u64(std::uint64_t v) { return be(v, 8); }
  writer& i64(std::int64_t v) { return be(static_cast<std::uint64_t>(v), 8); }
  // A NUL-terminated string.
  writer& str(std::string_view s) {
    bytes_ += s;
    bytes_ += '\0';
    return *this;
  }
  writer& raw(std::string_view s) {
    bytes_ += s;
    return *this;
  }
  // A Relation message up to its columns.
  writer& relation(std::uint32_t oid, std::string_view schema, std::string_view name, char identity,
                   std::uint16_t columns) {
    return ch('R').u32(oid).str(schema).str(name).ch(identity).u16(columns);
  }
  // One column of a Relation message.
  writer& column(std::uint8_t flags, std::string_view name, std::uint32_t type_oid, std::int32_t type_modifier) {
    return u8(flags).str(name).u32(type_oid).i32(type_modifier);
  }
  // TupleData columns.
  writer& null_col() { return ch('n'); }
  writer& toast_col() { return ch('u'); }
  writer& text_col(std::string_view v) { return ch('t').i32(static_cast<std::int32_t>(v.size())).raw(v); }
  writer& binary_col(std::string_view v) { return ch('b').i32(static_cast<std::int32_t>(v.size())).raw(v); }

  const std::string& bytes() const { return bytes_; }

 private:
  writer& be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) bytes_ += static_cast<char>((v >> (8 * i)) & 0xFFU);
    return *this;
  }
  std::string bytes_;
};

constexpr std::uint32_t k_wo_oid = 16385;

}  // namespace

// Readable gtest output for values (found by ADL).
void PrintTo(const column_value& v, std::ostream* os) {
  *os << to_string(v.kind);
  if (v.kind == value_kind::text || v.kind == value_kind::binary) *os << " \"" << v.bytes << '"';
}

namespace {

// Relation public.wo (id int4 key, status text, note text, total numeric(10,2)).
std::string wo_relation(char identity = 'd') {
  return writer{}
      .relation(k_wo_oid, "public", "wo", identity, 4)
      .column(1, "id", 23, -1)
      .column(0, "status", 25, -1)
      .column(0, "note", 25, -1)
      .column(0, "total", 1700, 655366)
      .bytes();
}

std::string wo_insert() {
  return writer{}
      .ch('I')
      .u32(k_wo_oid)
      .ch('N')
      .u16(4)
      .text_col("42")
      .text_col("open")
      .null_col()
      .text_col("9.50")
      .bytes();
}

std::string wo_update_full() {
  return writer{}
      .ch('U')
      .u32(k_wo_oid)
      .ch('O')
      .u16(4)
      .text_col("42")
      .text_col("open")
      .null_col()
      .text_col("9.50")
      .ch('N')
      .u16(4)
      .text_col("42")
      .text_col("approved")
      .toast_col()
      .text_col("9.50")
      .bytes();
}

std::string wo_delete_key() {
  return writer{}.ch('D').u32(k_wo_oid).ch('K').u16(4).text_col("42").null_col().null_col().null_col().bytes();
}

std::string begin_bytes() {
  return writer{}.ch('B').u64(0x16B374D848).i64(816826960877000).u32(771).bytes();
}

std::string commit_bytes() {
  return writer{}.ch('C').u8(0).u64(0x16B374D848).u64(0x16B374D878).i64(816826960877000).bytes();
}

std::string truncate_bytes() {
  return writer{}.ch('T').i32(2).u8(3).u32(k_wo_oid).u32(16390).bytes();
}

// One valid message of every kind, for the properties that hold for all of them.
std::vector<std::pair<std::string, std::string>> every_kind() {
  return {
      {"Begin", begin_bytes()},
      {"Commit", commit_bytes()},
      {"Origin", writer{}.ch('O').u64(0x10).str("node_a").bytes()},
      {"Relation", wo_relation()},
      {"Type", writer{}.ch('Y').u32(16400).str("public").str("wo_status").bytes()},
      {"Insert", wo_insert()},
      {"Update", wo_update_full()},
      {"Delete", wo_delete_key()},
      {"Truncate", truncate_bytes()},
  };
}

// The decoded message as a T, by value (the result is usually a temporary); a default T on failure.
template <class T>
T as(const result<message>& r) {
  if (!r) {
    ADD_FAILURE() << "refused: " << r.error().message;
    return T{};
  }
  if (!std::holds_alternative<T>(*r)) {
    ADD_FAILURE() << "decoded a " << message_name(*r);
    return T{};
  }
  return std::get<T>(*r);
}

::testing::AssertionResult refused_with(const result<message>& r, errc code, std::string_view fragment) {
  if (r) return ::testing::AssertionFailure() << "accepted " << message_name(*r);
  if (r.error().code != code) {
    return ::testing::AssertionFailure() << "refused with " << core::to_string(r.error().code) << " ("
                                         << r.error().message << "), expected " << core::to_string(code);
  }
  if (r.error().message.find(fragment) == std::string::npos) {
    return ::testing::AssertionFailure() << "message '" << r.error().message << "' lacks '" << fragment << "'";
  }
  return ::testing::AssertionSuccess();
}

template <class T>
::testing::AssertionResult refused(const result<T>& r, errc code, std::string_view fragment) {
  if (r) return ::testing::AssertionFailure() << "accepted";
  if (r.error().code != code) {
    return ::testing::AssertionFailure() << "refused with " << core::to_string(r.error().code) << " ("
                                         << r.error().message << "), expected " << core::to_string(code);
  }
  if (r.error().message.find(fragment) == std::string::npos) {
    return ::testing::AssertionFailure() << "message '" << r.error().message << "' lacks '" << fragment << "'";
  }
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------------------------------------
// Transaction framing

TEST(PgoutputDecode, DecodesBegin) {
  const auto r = decode_message(begin_bytes());
  const auto m = as<begin_message>(r);
  EXPECT_EQ(m.final_lsn, lsn{0x16B374D848});
  EXPECT_EQ(m.commit_time, pg_timestamp{816826960877000});
  EXPECT_EQ(m.xid, 771U);
  EXPECT_EQ(message_name(*r), "Begin");
}

TEST(PgoutputDecode, RefusesBeginWithZeroFinalLsn) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('B').u64(0).i64(1).u32(1).bytes()), errc::bad_value,
                           "final LSN at byte 1 is 0"));
}

TEST(PgoutputDecode, DecodesCommit) {
  const auto m = as<commit_message>(decode_message(commit_bytes()));
  EXPECT_EQ(m.flags, 0);
  EXPECT_EQ(m.commit_lsn, lsn{0x16B374D848});
  EXPECT_EQ(m.end_lsn, lsn{0x16B374D878});
  EXPECT_EQ(m.commit_time, pg_timestamp{816826960877000});
}

TEST(PgoutputDecode, RefusesCommitWithFlagsSet) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('C').u8(1).u64(1).u64(2).i64(3).bytes()), errc::bad_value,
                           "flags 0x01 at byte 1"));
}

TEST(PgoutputDecode, DecodesOrigin) {
  const auto m = as<origin_message>(decode_message(writer{}.ch('O').u64(0xABCDEF).str("node_a").bytes()));
  EXPECT_EQ(m.commit_lsn, lsn{0xABCDEF});
  EXPECT_EQ(m.name, "node_a");
}

// ---------------------------------------------------------------------------------------------------------
// Relation and Type

TEST(PgoutputDecode, DecodesRelationWithColumns) {
  const auto m = as<relation_message>(decode_message(wo_relation()));
  EXPECT_EQ(m.oid, k_wo_oid);
  EXPECT_EQ(m.schema, "public");
  EXPECT_EQ(m.name, "wo");
  EXPECT_EQ(m.identity, replica_identity::default_key);
  const std::vector<relation_column> expected = {
      {true, "id", 23, -1}, {false, "status", 25, -1}, {false, "note", 25, -1}, {false, "total", 1700, 655366}};
  EXPECT_EQ(m.columns, expected);
}

TEST(PgoutputDecode, KeepsEmptyNamespaceWhichMeansPgCatalog) {
  const auto m = as<relation_message>(decode_message(writer{}.relation(1259, "", "pg_class", 'n', 0).bytes()));
  EXPECT_EQ(m.schema, "");
  EXPECT_EQ(m.name, "pg_class");
  EXPECT_TRUE(m.columns.empty());
}

TEST(PgoutputDecode, DecodesEveryReplicaIdentity) {
  const std::vector<std::pair<char, replica_identity>> cases = {{'d', replica_identity::default_key},
                                                                {'n', replica_identity::nothing},
                                                                {'f', replica_identity::full},
                                                                {'i', replica_identity::index}};
  for (const auto& [c, identity] : cases) {
    const auto r = decode_message(wo_relation(c));
    EXPECT_EQ(as<relation_message>(r).identity, identity) << c;
  }
  EXPECT_EQ(to_string(replica_identity::full), "full");
}

TEST(PgoutputDecode, RefusesUnknownReplicaIdentity) {
  EXPECT_TRUE(refused_with(decode_message(wo_relation('x')), errc::bad_char, "unknown replica identity 'x'"));
}

TEST(PgoutputDecode, RefusesUndefinedColumnFlagBits) {
  const std::string bytes = writer{}.relation(1, "s", "t", 'd', 1).column(3, "a", 23, -1).bytes();
  EXPECT_TRUE(refused_with(decode_message(bytes), errc::bad_value, "flags 0x03 of column 1"));
}

TEST(PgoutputDecode, RefusesDuplicateColumnNames) {
  const std::string bytes = writer{}
                                .relation(1, "s", "t", 'd', 3)
                                .column(0, "a", 23, -1)
                                .column(0, "b", 23, -1)
                                .column(0, "a", 25, -1)
                                .bytes();
  EXPECT_TRUE(refused_with(decode_message(bytes), errc::duplicate_key, "column name 'a' appears more than once"));
}

// A name in a refusal is core::printable's: a whole 63-byte identifier (NAMEDATALEN - 1), each byte that is
// not printable ASCII, and the backslash, as \xNN; a longer name is cut after 64 bytes with "...".
TEST(PgoutputDecode, RefusalsShowAWholeIdentifierWithEveryOddByteEscaped) {
  const std::string name = "a\\b\xC3\xA9" + std::string(58, 'x');  // 63 bytes
  ASSERT_EQ(name.size(), 63U);
  const std::string shown = "a\\x5cb\\xc3\\xa9" + std::string(58, 'x');
  const auto duplicate = [](const std::string& column) {
    return writer{}.relation(1, "s", "t", 'd', 2).column(0, column, 23, -1).column(0, column, 23, -1).bytes();
  };
  EXPECT_TRUE(refused_with(decode_message(duplicate(name)), errc::duplicate_key,
                           "column name '" + shown + "' appears more than once"));
  EXPECT_TRUE(refused_with(decode_message(duplicate(std::string(70, 'y'))), errc::duplicate_key,
                           "column name '" + std::string(64, 'y') + "...' appears more than once"));
}

TEST(PgoutputDecode, RefusesEmptyRelationAndColumnNames) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.relation(1, "s", "", 'd', 0).bytes()), errc::empty,
                           "relation name at byte 7 is empty"));
  EXPECT_TRUE(refused_with(decode_message(writer{}.relation(1, "s", "t", 'd', 1).column(0, "", 23, -1).bytes()),
                           errc::empty, "name of column 1"));
}

std::string relation_with_columns(std::size_t n) {
  writer w;
  w.relation(7, "public", "wide", 'f', static_cast<std::uint16_t>(n));
  for (std::size_t i = 0; i < n; ++i) w.column(1, "c" + std::to_string(i), 23, -1);
  return w.bytes();
}

TEST(PgoutputDecode, AcceptsRelationAtTheColumnBound) {
  EXPECT_EQ(as<relation_message>(decode_message(relation_with_columns(k_max_columns))).columns.size(), k_max_columns);
}

TEST(PgoutputDecode, RefusesRelationOverTheColumnBound) {
  EXPECT_TRUE(refused_with(decode_message(relation_with_columns(k_max_columns + 1)), errc::too_many,
                           "column count 1601 at byte"));
}

TEST(PgoutputDecode, DecodesType) {
  const auto m = as<type_message>(decode_message(writer{}.ch('Y').u32(16400).str("public").str("wo_status").bytes()));
  EXPECT_EQ(m.oid, 16400U);
  EXPECT_EQ(m.schema, "public");
  EXPECT_EQ(m.name, "wo_status");
}

// ---------------------------------------------------------------------------------------------------------
// Names (NUL-terminated strings)

TEST(PgoutputDecode, AcceptsNameAtTheBound) {
  const std::string name(k_max_name_bytes, 'n');
  EXPECT_EQ(as<origin_message>(decode_message(writer{}.ch('O').u64(1).str(name).bytes())).name, name);
}

TEST(PgoutputDecode, RefusesNameOverTheBound) {
  const std::string name(k_max_name_bytes + 1, 'n');
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('O').u64(1).str(name).bytes()), errc::too_long,
                           "origin name at byte 9 is longer than 512 bytes"));
}

TEST(PgoutputDecode, RefusesUnterminatedString) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('O').u64(1).raw("node").bytes()), errc::bad_value,
                           "origin name at byte 9 has no terminating NUL in the remaining 4 bytes"));
}

// ---------------------------------------------------------------------------------------------------------
// Changes and TupleData

TEST(PgoutputDecode, DecodesInsertWithEveryColumnKind) {
  const std::string binary("\x00\x01\xFF\x00", 4);
  const std::string bytes = writer{}
                                .ch('I')
                                .u32(k_wo_oid)
                                .ch('N')
                                .u16(5)
                                .null_col()
                                .toast_col()
                                .text_col("héllo")
                                .binary_col(binary)
                                .text_col("")
                                .bytes();
  const auto m = as<insert_message>(decode_message(bytes));
  EXPECT_EQ(m.relation_oid, k_wo_oid);
  const tuple_data expected = {column_value::null(), column_value::unchanged_toast(), column_value::text("héllo"),
                               column_value::binary(binary), column_value::text("")};
  EXPECT_EQ(m.new_tuple, expected);
  EXPECT_EQ(to_string(m.new_tuple[1].kind), "unchanged_toast");
}

TEST(PgoutputDecode, DecodesInsertOfTableWithoutColumns) {
  EXPECT_TRUE(as<insert_message>(decode_message(writer{}.ch('I').u32(9).ch('N').u16(0).bytes())).new_tuple.empty());
}

TEST(PgoutputDecode, RefusesInsertWithoutNewTupleMarker) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('I').u32(9).ch('K').u16(0).bytes()), errc::bad_char,
                           "unexpected tuple marker 'K' (0x4b) at byte 5; expected 'N'"));
}

TEST(PgoutputDecode, DecodesUpdateWithoutOldTuple) {
  const auto& m =
      as<update_message>(decode_message(writer{}.ch('U').u32(k_wo_oid).ch('N').u16(1).text_col("x").bytes()));
  EXPECT_EQ(m.old_kind, old_tuple_kind::none);
  EXPECT_TRUE(m.old_tuple.empty());
  EXPECT_EQ(m.new_tuple, tuple_data{column_value::text("x")});
}

TEST(PgoutputDecode, DecodesUpdateWithOldKey) {
  const std::string bytes = writer{}
                                .ch('U')
                                .u32(k_wo_oid)
                                .ch('K')
                                .u16(2)
                                .text_col("41")
                                .null_col()
                                .ch('N')
                                .u16(2)
                                .text_col("42")
                                .text_col("open")
                                .bytes();
  const auto m = as<update_message>(decode_message(bytes));
  EXPECT_EQ(m.old_kind, old_tuple_kind::key);
  EXPECT_EQ(m.old_tuple, (tuple_data{column_value::text("41"), column_value::null()}));
  EXPECT_EQ(m.new_tuple, (tuple_data{column_value::text("42"), column_value::text("open")}));
}

TEST(PgoutputDecode, DecodesUpdateWithOldFullRow) {
  const auto m = as<update_message>(decode_message(wo_update_full()));
  EXPECT_EQ(m.old_kind, old_tuple_kind::full);
  EXPECT_EQ(m.old_tuple[1], column_value::text("open"));
  EXPECT_EQ(m.new_tuple[1], column_value::text("approved"));
  EXPECT_EQ(m.new_tuple[2], column_value::unchanged_toast());
}

TEST(PgoutputDecode, RefusesUpdateWithUnknownMarker) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('U').u32(1).ch('X').u16(0).bytes()), errc::bad_char,
                           "expected 'K', 'O' or 'N'"));
}

TEST(PgoutputDecode, RefusesUpdateWhoseOldTupleIsNotFollowedByNew) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('U').u32(1).ch('O').u16(0).ch('O').u16(0).bytes()),
                           errc::bad_char, "'O' (0x4f) at byte 8; expected 'N' after the old tuple"));
}

TEST(PgoutputDecode, DecodesDeleteWithOldKeyAndWithOldRow) {
  const auto key = as<delete_message>(decode_message(wo_delete_key()));
  EXPECT_EQ(key.relation_oid, k_wo_oid);
  EXPECT_EQ(key.old_kind, old_tuple_kind::key);
  EXPECT_EQ(key.old_tuple.size(), 4U);
  EXPECT_EQ(key.old_tuple[0], column_value::text("42"));

  const auto full =
      as<delete_message>(decode_message(writer{}.ch('D').u32(k_wo_oid).ch('O').u16(1).text_col("7").bytes()));
  EXPECT_EQ(full.old_kind, old_tuple_kind::full);
  EXPECT_EQ(full.old_tuple, tuple_data{column_value::text("7")});
}

TEST(PgoutputDecode, RefusesDeleteWithNewTuple) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('D').u32(1).ch('N').u16(0).bytes()), errc::bad_char,
                           "expected 'K' or 'O'"));
}

TEST(PgoutputDecode, RefusesUnknownColumnKind) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('I').u32(1).ch('N').u16(2).null_col().ch('x').bytes()),
                           errc::bad_char, "new tuple: unknown kind 'x' (0x78) of column 2 at byte 9"));
}

TEST(PgoutputDecode, RefusesNegativeValueLength) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('I').u32(1).ch('N').u16(1).ch('t').i32(-1).bytes()),
                           errc::bad_value, "negative value length -1 of column 1 at byte 9"));
}

TEST(PgoutputDecode, RefusesValueLengthOverTheBound) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('I').u32(1).ch('N').u16(1).ch('b').i32(0x4000'0000).bytes()),
                           errc::too_long, "value length 1073741824 of column 1 at byte 9 is over the bound"));
}

TEST(PgoutputDecode, RefusesValueLengthBeyondTheMessage) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('I').u32(1).ch('N').u16(1).ch('t').i32(10).raw("abc").bytes()),
                           errc::bad_value, "truncated at byte 13 reading value of column 1: needs 10 bytes, 3 left"));
}

TEST(PgoutputDecode, RefusesTupleOverTheColumnBound) {
  // 0xFFFF is -1 read as PostgreSQL's Int16.
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('I').u32(1).ch('N').u16(0xFFFF).bytes()), errc::too_many,
                           "new tuple: column count 65535 at byte 6 is over the bound of 1600"));
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('I').u32(1).ch('N').u16(1601).bytes()), errc::too_many,
                           "column count 1601"));
}

// ---------------------------------------------------------------------------------------------------------
// Truncate

TEST(PgoutputDecode, DecodesTruncateOptionsAndRelations) {
  const auto both = as<truncate_message>(decode_message(truncate_bytes()));
  EXPECT_TRUE(both.cascade);
  EXPECT_TRUE(both.restart_identity);
  EXPECT_EQ(both.relation_oids, (std::vector<std::uint32_t>{k_wo_oid, 16390}));

  const auto plain = as<truncate_message>(decode_message(writer{}.ch('T').i32(1).u8(0).u32(5).bytes()));
  EXPECT_FALSE(plain.cascade);
  EXPECT_FALSE(plain.restart_identity);
  const auto cascade = as<truncate_message>(decode_message(writer{}.ch('T').i32(1).u8(1).u32(5).bytes()));
  EXPECT_TRUE(cascade.cascade);
  EXPECT_FALSE(cascade.restart_identity);
  const auto restart = as<truncate_message>(decode_message(writer{}.ch('T').i32(1).u8(2).u32(5).bytes()));
  EXPECT_FALSE(restart.cascade);
  EXPECT_TRUE(restart.restart_identity);
}

TEST(PgoutputDecode, RefusesTruncateWithUndefinedOptionBits) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('T').i32(1).u8(4).u32(5).bytes()), errc::bad_value,
                           "options 0x04 at byte 5"));
}

TEST(PgoutputDecode, RefusesTruncateWithNonPositiveRelationCount) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('T').i32(0).u8(0).bytes()), errc::bad_value,
                           "relation count 0 at byte 1 is not positive"));
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('T').i32(-3).u8(0).u32(1).bytes()), errc::bad_value,
                           "relation count -3"));
}

TEST(PgoutputDecode, RefusesTruncateCountingMoreRelationsThanItHolds) {
  EXPECT_TRUE(refused_with(decode_message(writer{}.ch('T').i32(0x7FFF'FFFF).u8(0).u32(1).bytes()), errc::bad_value,
                           "truncated at byte 6: relation count 2147483647 needs 8589934588 bytes of oids, 4 left"));
}

// ---------------------------------------------------------------------------------------------------------
// Properties over every message kind

TEST(PgoutputDecode, RefusesTruncationAtEveryByteOffset) {
  for (const auto& [name, bytes] : every_kind()) {
    ASSERT_TRUE(decode_message(bytes).has_value()) << name;
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      const auto r = decode_message(std::string_view(bytes).substr(0, n));
      ASSERT_FALSE(r.has_value()) << name << " cut to " << n << " bytes was accepted";
      if (n == 0) {
        EXPECT_EQ(r.error().code, errc::empty);
      } else {
        EXPECT_EQ(r.error().code, errc::bad_value) << name << " cut to " << n << ": " << r.error().message;
        EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find("pgoutput " + name + " message"), std::string::npos) << r.error().message;
      }
    }
  }
}

TEST(PgoutputDecode, RefusesTrailingBytesAfterEveryKind) {
  for (const auto& [name, bytes] : every_kind()) {
    const auto r = decode_message(bytes + "\x01\x02");
    EXPECT_TRUE(refused_with(r, errc::bad_value,
                             "2 unexpected bytes after the end of the message at byte " + std::to_string(bytes.size())))
        << name;
  }
}

// The session decodes every change into one message object, reusing its tuples: whatever it held before, the
// result and any refusal must be those of a fresh decode.
TEST(PgoutputDecode, DecodingIntoAReusedMessageEqualsAFreshDecode) {
  auto kinds = every_kind();
  using test::encode;
  const tuple_data wide = {column_value::text("a much longer value than fits inline in a string"),
                           column_value::unchanged_toast(), column_value::null(), column_value::binary("\x01")};
  const tuple_data narrow = {column_value::text("b"), column_value::null()};
  kinds.emplace_back("Update", encode(update_message{16400, old_tuple_kind::full, wide, wide}));
  kinds.emplace_back("Update", encode(update_message{16400, old_tuple_kind::none, {}, narrow}));
  kinds.emplace_back("Update", encode(update_message{16400, old_tuple_kind::key, narrow, wide}));
  kinds.emplace_back("Insert", encode(insert_message{16400, narrow}));
  kinds.emplace_back("Delete", encode(delete_message{16400, old_tuple_kind::full, wide}));
  kinds.emplace_back("Delete", encode(delete_message{16400, old_tuple_kind::key, narrow}));
  message reused;
  for (const auto& [before_name, before] : kinds) {
    for (const auto& [name, bytes] : kinds) {
      ASSERT_TRUE(decode_message(before, reused)) << before_name;
      const auto fresh = decode_message(bytes);
      ASSERT_TRUE(fresh) << name;
      ASSERT_TRUE(decode_message(bytes, reused)) << name;
      EXPECT_EQ(reused, *fresh) << before_name << " then " << name;
      for (std::size_t n = 0; n < bytes.size(); n += 3) {  // refusals too, at a third of the cut points
        const auto cut = std::string_view(bytes).substr(0, n);
        const auto want = decode_message(cut);
        const auto got = decode_message(cut, reused);
        ASSERT_FALSE(want);
        ASSERT_FALSE(got) << name << " cut to " << n;
        EXPECT_EQ(got.error().code, want.error().code);
        EXPECT_EQ(got.error().message, want.error().message);
      }
    }
  }
}

TEST(PgoutputDecode, NamesEveryKind) {
  for (const auto& [name, bytes] : every_kind()) {
    const auto r = decode_message(bytes);
    ASSERT_TRUE(r.has_value()) << name;
    EXPECT_EQ(message_name(*r), name);
  }
}

TEST(PgoutputDecode, RefusesEmptyInput) {
  EXPECT_TRUE(refused_with(decode_message(""), errc::empty, "empty"));
}

TEST(PgoutputDecode, RefusesUnknownMessageType) {
  EXPECT_TRUE(refused_with(decode_message("Z"), errc::bad_char, "unknown message type 'Z' (0x5a) at byte 0"));
  EXPECT_TRUE(refused_with(decode_message(std::string(1, '\0')), errc::bad_char, "unknown message type 0x00"));
}

TEST(PgoutputDecode, RefusesStreamingAndTwoPhaseMessagesByName) {
  const std::vector<std::pair<char, std::string>> cases = {
      {'S', "Stream Start (protocol version 2"},
      {'E', "Stream Stop (protocol version 2"},
      {'c', "Stream Commit (protocol version 2"},
      {'A', "Stream Abort (protocol version 2"},
      {'b', "Begin Prepare (protocol version 3"},
      {'P', "Prepare (protocol version 3"},
      {'K', "Commit Prepared (protocol version 3"},
      {'r', "Rollback Prepared (protocol version 3"},
      {'p', "Stream Prepare"},
      {'M', "Message (logical decoding message"},
  };
  for (const auto& [type, fragment] : cases) {
    const std::string bytes = writer{}.ch(type).u32(1234).u8(1).bytes();
    EXPECT_TRUE(refused_with(decode_message(bytes), errc::bad_value, "is not supported: " + fragment)) << type;
  }
}

// ---------------------------------------------------------------------------------------------------------
// CopyData wrappers

TEST(CopyDataDecode, DecodesXLogDataWithPayloadView) {
  const std::string payload = wo_insert();
  const std::string bytes =
      writer{}.ch('w').u64(0x16B374D848).u64(0x16B3750000).i64(816826960877000).raw(payload).bytes();
  const auto r = decode_copy_data(bytes);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const auto& m = std::get<xlog_data>(*r);
  EXPECT_EQ(m.wal_start, lsn{0x16B374D848});
  EXPECT_EQ(m.wal_end, lsn{0x16B3750000});
  EXPECT_EQ(m.send_time, pg_timestamp{816826960877000});
  EXPECT_EQ(m.payload, payload);
  EXPECT_EQ(m.payload.data(), bytes.data() + 25);  // a view, not a copy

  const auto inner = decode_message(m.payload);
  EXPECT_EQ(as<insert_message>(inner).new_tuple.size(), 4U);
}

TEST(CopyDataDecode, DecodesXLogDataWithEmptyPayload) {
  const auto r = decode_copy_data(writer{}.ch('w').u64(1).u64(2).i64(3).bytes());
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(std::get<xlog_data>(*r).payload.empty());
}

TEST(CopyDataDecode, DecodesKeepalive) {
  for (const std::uint8_t reply : {std::uint8_t{0}, std::uint8_t{1}}) {
    const auto r = decode_copy_data(writer{}.ch('k').u64(0x2A).i64(-5).u8(reply).bytes());
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const auto& m = std::get<primary_keepalive>(*r);
    EXPECT_EQ(m.wal_end, lsn{0x2A});
    EXPECT_EQ(m.send_time, pg_timestamp{-5});
    EXPECT_EQ(m.reply_requested, reply == 1);
  }
}

TEST(CopyDataDecode, RefusesKeepaliveWithReplyFlagOtherThanZeroOrOne) {
  EXPECT_TRUE(refused(decode_copy_data(writer{}.ch('k').u64(1).i64(2).u8(2).bytes()), errc::bad_value,
                      "reply-requested flag 0x02 at byte 17 is neither 0 nor 1"));
}

TEST(CopyDataDecode, RefusesKeepaliveWithTrailingBytes) {
  EXPECT_TRUE(refused(decode_copy_data(writer{}.ch('k').u64(1).i64(2).u8(0).u8(0).bytes()), errc::bad_value,
                      "1 unexpected bytes after the end of the message at byte 18"));
}

TEST(CopyDataDecode, RefusesTruncationAtEveryByteOffset) {
  const std::vector<std::string> valid = {writer{}.ch('k').u64(1).i64(2).u8(1).bytes(),
                                          writer{}.ch('w').u64(1).u64(2).i64(3).bytes()};
  for (const std::string& bytes : valid) {
    ASSERT_TRUE(decode_copy_data(bytes).has_value());
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      const auto r = decode_copy_data(std::string_view(bytes).substr(0, n));
      ASSERT_FALSE(r.has_value()) << bytes[0] << " cut to " << n;
      EXPECT_EQ(r.error().code, n == 0 ? errc::empty : errc::bad_value) << r.error().message;
    }
  }
}

TEST(CopyDataDecode, RefusesUnknownType) {
  EXPECT_TRUE(
      refused(decode_copy_data("r"), errc::bad_char, "unknown message type 'r' (0x72) at byte 0; expected 'w'"));
  EXPECT_TRUE(refused(decode_copy_data(""), errc::empty, "empty"));
}

// ---------------------------------------------------------------------------------------------------------
// Relation cache

relation_message decode_relation(const std::string& bytes) {
  auto r = decode_message(bytes);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return std::get<relation_message>(std::move(*r));
}

tuple_data new_tuple_of(const std::string& insert_bytes) {
  auto r = decode_message(insert_bytes);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return std::get<insert_message>(std::move(*r)).new_tuple;
}

TEST(RelationCache, NamesTupleValuesByColumn) {
  relation_cache cache;
  ASSERT_TRUE(cache.apply(decode_relation(wo_relation())).has_value());
  EXPECT_EQ(cache.size(), 1U);
  const tuple_data tuple = new_tuple_of(wo_insert());
  const auto named = cache.name(k_wo_oid, tuple);
  ASSERT_TRUE(named.has_value()) << named.error().message;
  ASSERT_EQ(named->values.size(), 4U);
  EXPECT_EQ(named->values[0].column->name, "id");
  EXPECT_TRUE(named->values[0].column->is_key);
  EXPECT_EQ(*named->values[0].value, column_value::text("42"));
  EXPECT_EQ(named->values[3].column->type_oid, 1700U);
  EXPECT_EQ(*named->find("status"), column_value::text("open"));
  EXPECT_EQ(*named->find("note"), column_value::null());
  EXPECT_EQ(named->find("missing"), nullptr);
}

TEST(RelationCache, RefusesChangeToUnknownRelation) {
  relation_cache cache;
  const tuple_data tuple = new_tuple_of(wo_insert());
  EXPECT_TRUE(refused(cache.name(k_wo_oid, tuple), errc::bad_value, "no Relation message was received for oid 16385"));
}

TEST(RelationCache, RefusesTupleWhoseColumnCountDiffers) {
  relation_cache cache;
  ASSERT_TRUE(cache.apply(decode_relation(wo_relation())).has_value());
  const tuple_data three = {column_value::text("1"), column_value::null(), column_value::null()};
  EXPECT_TRUE(refused(cache.name(k_wo_oid, three), errc::bad_value,
                      "relation public.wo (oid 16385) has 4 columns but the tuple has 3"));
}

TEST(RelationCache, ReplacesRelationOnAlterTableMidStream) {
  relation_cache cache;
  ASSERT_TRUE(cache.apply(decode_relation(wo_relation())).has_value());
  const tuple_data before = new_tuple_of(wo_insert());
  const auto named_before = cache.name(k_wo_oid, before);
  ASSERT_TRUE(named_before.has_value());

  // ALTER TABLE wo DROP COLUMN note, ADD COLUMN due date: the server sends a new Relation for the same oid.
  const std::string altered = writer{}
                                  .relation(k_wo_oid, "public", "wo", 'f', 4)
                                  .column(1, "id", 23, -1)
                                  .column(1, "status", 25, -1)
                                  .column(1, "total", 1700, 655366)
                                  .column(1, "due", 1082, -1)
                                  .bytes();
  ASSERT_TRUE(cache.apply(decode_relation(altered)).has_value());
  EXPECT_EQ(cache.size(), 1U);
  EXPECT_EQ(cache.find(k_wo_oid)->identity, replica_identity::full);
  EXPECT_EQ(cache.find(k_wo_oid)->columns[3].name, "due");

  const tuple_data after = new_tuple_of(writer{}
                                            .ch('I')
                                            .u32(k_wo_oid)
                                            .ch('N')
                                            .u16(4)
                                            .text_col("43")
                                            .text_col("open")
                                            .text_col("1.00")
                                            .text_col("2025-12-01")
                                            .bytes());
  const auto named_after = cache.name(k_wo_oid, after);
  ASSERT_TRUE(named_after.has_value());
  EXPECT_EQ(*named_after->find("due"), column_value::text("2025-12-01"));
  EXPECT_EQ(named_after->find("note"), nullptr);

  // A change named before the ALTER keeps the definition it was decoded against.
  EXPECT_EQ(named_before->relation->columns[2].name, "note");
  EXPECT_EQ(*named_before->find("note"), column_value::null());
}

TEST(RelationCache, RefusesNewRelationWhenFullButReplacesExisting) {
  relation_cache cache(2);
  EXPECT_EQ(cache.max_relations(), 2U);
  relation_message a = decode_relation(wo_relation());
  relation_message b = a;
  b.oid = 2;
  relation_message c = a;
  c.oid = 3;
  ASSERT_TRUE(cache.apply(a).has_value());
  ASSERT_TRUE(cache.apply(b).has_value());
  EXPECT_TRUE(refused(cache.apply(c), errc::too_many, "Relation for oid 3 (public.wo) refused: the cache holds 2"));
  EXPECT_EQ(cache.size(), 2U);
  EXPECT_EQ(cache.find(3), nullptr);

  relation_message b2 = b;
  b2.name = "wo_renamed";
  ASSERT_TRUE(cache.apply(b2).has_value());
  EXPECT_EQ(cache.find(2)->name, "wo_renamed");
  EXPECT_EQ(cache.size(), 2U);
}

TEST(RelationCache, ClearForgetsEveryRelation) {
  relation_cache cache;
  ASSERT_TRUE(cache.apply(decode_relation(wo_relation())).has_value());
  cache.clear();
  EXPECT_EQ(cache.size(), 0U);
  EXPECT_EQ(cache.find(k_wo_oid), nullptr);
}

TEST(RelationCache, NameTupleRefusesMissingRelation) {
  EXPECT_TRUE(refused(name_tuple(nullptr, tuple_data{}), errc::bad_value, "no relation"));
}

TEST(RelationCache, NamesOldKeyTupleOfDelete) {
  relation_cache cache;
  ASSERT_TRUE(cache.apply(decode_relation(wo_relation())).has_value());
  const auto r = decode_message(wo_delete_key());
  const auto del = as<delete_message>(r);
  const auto named = cache.name(del.relation_oid, del.old_tuple);
  ASSERT_TRUE(named.has_value());
  EXPECT_EQ(*named->find("id"), column_value::text("42"));
}

// ---------------------------------------------------------------------------------------------------------
// LSN text

TEST(Lsn, FormatsAsPostgresDoes) {
  EXPECT_EQ(format_lsn(lsn{0x16B374D848}), "16/B374D848");
  EXPECT_EQ(format_lsn(lsn{0}), "0/0");
  EXPECT_EQ(format_lsn(lsn{1}), "0/1");
  EXPECT_EQ(format_lsn(lsn{0x1'0000'0000}), "1/0");
  EXPECT_EQ(format_lsn(lsn{0x0000'000A'0000'00F0}), "A/F0");
  EXPECT_EQ(format_lsn(lsn{std::numeric_limits<std::uint64_t>::max()}), "FFFFFFFF/FFFFFFFF");
}

TEST(Lsn, ParsesWhatItFormats) {
  std::uint64_t v = 1;
  for (int i = 0; i < 200; ++i) {
    v = v * 6364136223846793005ULL + 1442695040888963407ULL;  // deterministic spread over 64 bits
    for (const std::uint64_t x : {v, v >> 17U, v & 0xFFFF'FFFFU, v << 40U}) {
      const auto r = parse_lsn(format_lsn(lsn{x}));
      ASSERT_TRUE(r.has_value()) << format_lsn(lsn{x}) << ": " << r.error().message;
      EXPECT_EQ(r->value, x);
    }
  }
}

TEST(Lsn, ParsesLowerCaseAndLeadingZeros) {
  EXPECT_EQ(parse_lsn("16/b374d848")->value, 0x16B374D848U);
  EXPECT_EQ(parse_lsn("00000016/0000000A")->value, 0x160000000AU);
}

TEST(Lsn, RefusesMalformedText) {
  EXPECT_TRUE(refused(parse_lsn(""), errc::empty, "empty"));
  EXPECT_TRUE(refused(parse_lsn("16"), errc::bad_char, "expected '/' at position 2, got the end"));
  EXPECT_TRUE(refused(parse_lsn("16/"), errc::bad_char, "expected a hex digit at position 3, got the end"));
  EXPECT_TRUE(refused(parse_lsn("/1"), errc::bad_char, "expected a hex digit at position 0, got '/'"));
  EXPECT_TRUE(refused(parse_lsn(" 1/1"), errc::bad_char, "position 0"));
  EXPECT_TRUE(refused(parse_lsn("-1/1"), errc::bad_char, "position 0"));
  EXPECT_TRUE(refused(parse_lsn("1/1 "), errc::bad_char, "expected the end at position 3, got ' '"));
  EXPECT_TRUE(refused(parse_lsn("1/1/1"), errc::bad_char, "expected the end at position 3"));
  EXPECT_TRUE(refused(parse_lsn("1/G"), errc::bad_char, "position 2, got 'G'"));
  EXPECT_TRUE(refused(parse_lsn("123456789/0"), errc::too_long, "more than 8 hex digits in the high half"));
  EXPECT_TRUE(refused(parse_lsn("0/123456789"), errc::too_long, "more than 8 hex digits in the low half"));
}

// ---------------------------------------------------------------------------------------------------------
// Timestamps

std::string rfc3339(std::int64_t micros) {
  const auto r = format_rfc3339(pg_timestamp{micros});
  return r ? *r : "error: " + r.error().message;
}

TEST(Timestamp, FormatsKnownValues) {
  EXPECT_EQ(rfc3339(0), "2000-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc3339(816826960877000), "2025-11-19T00:22:40.877Z");
  EXPECT_EQ(rfc3339(762525296789123), "2024-02-29T12:34:56.789Z");  // leap day, sub-ms digits dropped
  EXPECT_EQ(rfc3339(-946684800000000), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc3339(999), "2000-01-01T00:00:00.000Z");
}

TEST(Timestamp, RoundsTowardThePastBeforeThe2000Epoch) {
  EXPECT_EQ(rfc3339(-1), "1999-12-31T23:59:59.999Z");
  EXPECT_EQ(rfc3339(-1000), "1999-12-31T23:59:59.999Z");
  EXPECT_EQ(rfc3339(-1001), "1999-12-31T23:59:59.998Z");
}

TEST(Timestamp, FormatsTheEdgesOfFourDigitYears) {
  EXPECT_EQ(rfc3339(252455615999999999), "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(rfc3339(-63113904000000000), "0000-01-01T00:00:00.000Z");
}

TEST(Timestamp, RefusesYearsOutsideRfc3339) {
  EXPECT_TRUE(refused(format_rfc3339(pg_timestamp{252455616000000000}), errc::bad_value, "year 10000"));
  EXPECT_TRUE(refused(format_rfc3339(pg_timestamp{-63113904000000001}), errc::bad_value, "year -1"));
  // PostgreSQL's 'infinity' and '-infinity'.
  EXPECT_TRUE(refused(format_rfc3339(pg_timestamp{std::numeric_limits<std::int64_t>::max()}), errc::bad_value,
                      "outside RFC 3339"));
  EXPECT_TRUE(refused(format_rfc3339(pg_timestamp{std::numeric_limits<std::int64_t>::min()}), errc::bad_value,
                      "outside RFC 3339"));
}

// std::chrono's calendar (pure arithmetic, no clock read) as an independent oracle for every day in 1800..2200.
TEST(Timestamp, AgreesWithChronoCalendarOnEveryDay) {
  using namespace std::chrono;
  constexpr std::int64_t k_day_us = 86'400'000'000;
  const sys_days pg_epoch = sys_days{year{2000} / January / 1};
  for (sys_days d = sys_days{year{1800} / January / 1}; d < sys_days{year{2200} / January / 1}; d += days{1}) {
    const year_month_day ymd{d};
    const std::int64_t micros = (d - pg_epoch).count() * k_day_us + k_day_us - 1;  // the day's last microsecond
    char expected[32];
    const int n = std::snprintf(expected, sizeof expected, "%04d-%02u-%02uT23:59:59.999Z", static_cast<int>(ymd.year()),
                                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
    ASSERT_EQ(rfc3339(micros), std::string(expected, static_cast<std::size_t>(n)));
  }
}

}  // namespace
}  // namespace rtcache::pg
