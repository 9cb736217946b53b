#include "routing/mapping_value.hpp"

#include <gtest/gtest.h>

#include <string>

namespace rtcache::routing {
namespace {

std::string json_of(std::uint32_t oid, std::string_view text) {
  std::string out;
  append_json(out, type_text_value(oid, text).value);
  return out;
}

bool exact(std::uint32_t oid, std::string_view text) {
  return type_text_value(oid, text).exact;
}

TEST(MappingValue, BoolsBecomeTrueAndFalse) {
  EXPECT_EQ(json_of(pg_oid::bool_, "t"), "true");
  EXPECT_EQ(json_of(pg_oid::bool_, "f"), "false");
  EXPECT_EQ(json_of(pg_oid::bool_, "yes"), "\"yes\"");
  EXPECT_FALSE(exact(pg_oid::bool_, "yes"));
}

TEST(MappingValue, IntegersBecomeNumbersExactly) {
  EXPECT_EQ(json_of(pg_oid::int2, "-32768"), "-32768");
  EXPECT_EQ(json_of(pg_oid::int4, "42"), "42");
  EXPECT_EQ(json_of(pg_oid::int8, "9223372036854775807"), "9223372036854775807");
  EXPECT_EQ(json_of(pg_oid::oid, "4294967295"), "4294967295");
  EXPECT_EQ(json_of(pg_oid::int4, "4x"), "\"4x\"");
  EXPECT_FALSE(exact(pg_oid::int4, "4x"));
}

TEST(MappingValue, FloatsAndNumericsBecomeNumbersInEcmaScriptForm) {
  EXPECT_EQ(json_of(pg_oid::numeric, "12.50"), "12.5");
  EXPECT_TRUE(exact(pg_oid::numeric, "12.50"));
  EXPECT_EQ(json_of(pg_oid::numeric, "100"), "100");
  EXPECT_EQ(json_of(pg_oid::numeric, "-0.000001"), "-0.000001");
  EXPECT_EQ(json_of(pg_oid::float8, "1e+21"), "1e+21");
  EXPECT_EQ(json_of(pg_oid::float8, "1.5e-07"), "1.5e-7");
  EXPECT_EQ(json_of(pg_oid::float4, "3.14"), "3.14");
  EXPECT_EQ(json_of(pg_oid::float8, "-0"), "0");
  EXPECT_TRUE(exact(pg_oid::float8, "0.1"));
}

TEST(MappingValue, NumericsBeyondDoublePrecisionAreMarkedInexact) {
  EXPECT_FALSE(exact(pg_oid::numeric, "12345678901234567890.123"));
  EXPECT_FALSE(exact(pg_oid::numeric, "0.12345678901234567890123"));
  EXPECT_TRUE(exact(pg_oid::numeric, "123456789012345678"));  // fits int64
  EXPECT_EQ(json_of(pg_oid::numeric, "1e400"), "\"1e400\"");  // beyond double: the text
  EXPECT_FALSE(exact(pg_oid::numeric, "1e400"));
}

TEST(MappingValue, NaNAndInfinityBecomeStrings) {
  EXPECT_EQ(json_of(pg_oid::float8, "NaN"), "\"NaN\"");
  EXPECT_EQ(json_of(pg_oid::float4, "Infinity"), "\"Infinity\"");
  EXPECT_EQ(json_of(pg_oid::numeric, "-Infinity"), "\"-Infinity\"");
}

TEST(MappingValue, JsonAndJsonbBecomeTheirValueMinified) {
  EXPECT_EQ(json_of(pg_oid::jsonb, R"({"a": 1, "b": [true, null, "x"], "c": 1.50})"),
            R"({"a":1,"b":[true,null,"x"],"c":1.5})");
  EXPECT_EQ(json_of(pg_oid::json, "\"text\""), "\"text\"");
  EXPECT_EQ(json_of(pg_oid::json, "[1, {\"k\": \"\\u00e9\"}]"), "[1,{\"k\":\"\xc3\xa9\"}]");
  EXPECT_TRUE(exact(pg_oid::jsonb, "{}"));
}

TEST(MappingValue, InvalidOrTooDeepJsonBecomesAString) {
  EXPECT_EQ(json_of(pg_oid::json, "{bad"), "\"{bad\"");
  EXPECT_FALSE(exact(pg_oid::json, "{bad"));
  const std::string deep = std::string(40, '[') + std::string(40, ']');
  EXPECT_FALSE(exact(pg_oid::jsonb, deep));
}

// PostgreSQL's jsonb keeps a number as a numeric, so 1e999 is a valid jsonb value; as a double it is an infinity,
// which JSON cannot carry (clang's UBSan found it reaching the number writer from MappingEquivalence's rows).
TEST(MappingValue, JsonWithANumberBeyondDoubleBecomesItsText) {
  EXPECT_EQ(json_of(pg_oid::jsonb, R"({"a": [1, 1e999]})"), R"("{\"a\": [1, 1e999]}")");
  EXPECT_FALSE(exact(pg_oid::jsonb, R"({"a": [1, 1e999]})"));
  EXPECT_EQ(json_of(pg_oid::json, "-1e999"), "\"-1e999\"");
  EXPECT_EQ(json_of(pg_oid::jsonb, R"({"a": 1e300})"), R"({"a":1e+300})");
}

TEST(MappingValue, EverythingElseStaysTheTextOutput) {
  EXPECT_EQ(json_of(pg_oid::uuid, "0b8f7c4e-1d2a-4f0e-9a55-6c1f3e2d4b5a"), "\"0b8f7c4e-1d2a-4f0e-9a55-6c1f3e2d4b5a\"");
  EXPECT_EQ(json_of(pg_oid::timestamptz, "2025-11-19 00:22:40.877+00"), "\"2025-11-19 00:22:40.877+00\"");
  EXPECT_EQ(json_of(pg_oid::text, "line\n\"quoted\"\x01"), "\"line\\n\\\"quoted\\\"\\u0001\"");
  EXPECT_EQ(json_of(pg_oid::date, "2025-01-31"), "\"2025-01-31\"");
  EXPECT_EQ(json_of(1007, "{1,2}"), "\"{1,2}\"");  // arrays: their text form
}

TEST(MappingValue, TypeNamesFollowPgType) {
  EXPECT_EQ(pg_type_name(pg_oid::bool_), "bool");
  EXPECT_EQ(pg_type_name(pg_oid::int8), "int8");
  EXPECT_EQ(pg_type_name(pg_oid::bpchar), "bpchar");
  EXPECT_EQ(pg_type_name(pg_oid::timestamptz), "timestamptz");
  EXPECT_EQ(pg_type_name(pg_oid::jsonb), "jsonb");
  EXPECT_EQ(pg_type_name(1007), "_int4");
  EXPECT_EQ(pg_type_name(16385, "work_state"), "work_state");
  EXPECT_EQ(pg_type_name(16385), "16385");
}

}  // namespace
}  // namespace rtcache::routing
