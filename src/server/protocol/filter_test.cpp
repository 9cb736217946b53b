// Tests for postgres_changes filters: the grammar, every refusal, and evaluation against rows.
#include "protocol/filter.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace rtcache::protocol {
namespace {

using core::errc;

postgres_filter parse(std::string_view text) {
  auto f = parse_filter(text);
  EXPECT_TRUE(f.has_value()) << text << ": " << f.error().message;
  return f.has_value() ? *f : postgres_filter{};
}

::testing::AssertionResult refused(std::string_view text, core::errc code, std::string_view needle = {},
                                   const filter_limits& limits = {}) {
  auto f = parse_filter(text, limits);
  if (f.has_value()) return ::testing::AssertionFailure() << "accepted " << text;
  if (f.error().code != code) {
    return ::testing::AssertionFailure() << text << ": refused with " << core::to_string(f.error().code) << " (\""
                                         << f.error().message << "\"), expected " << core::to_string(code);
  }
  if (!needle.empty() && f.error().message.find(needle) == std::string::npos) {
    return ::testing::AssertionFailure() << "message \"" << f.error().message << "\" lacks \"" << needle << "\"";
  }
  return ::testing::AssertionSuccess();
}

bool matches(std::string_view filter, std::string_view row_json) {
  return filter_matches(parse(filter), boost::json::parse(row_json).as_object());
}

// ---- grammar -----------------------------------------------------------------------------------------------------

TEST(ProtocolFilterParse, ReadsEveryOperator) {
  for (auto [text, op] : std::vector<std::pair<std::string_view, filter_op>>{{"a=eq.1", filter_op::eq},
                                                                             {"a=neq.1", filter_op::neq},
                                                                             {"a=lt.1", filter_op::lt},
                                                                             {"a=lte.1", filter_op::lte},
                                                                             {"a=gt.1", filter_op::gt},
                                                                             {"a=gte.1", filter_op::gte},
                                                                             {"a=in.(1)", filter_op::in},
                                                                             {"a=is.null", filter_op::is_null},
                                                                             {"a=not.is.null", filter_op::not_null}}) {
    const auto f = parse(text);
    ASSERT_EQ(f.conditions.size(), 1u) << text;
    EXPECT_EQ(f.conditions[0].op, op) << text;
    EXPECT_EQ(f.conditions[0].column, "a");
  }
}

TEST(ProtocolFilterParse, EmptyTextIsNoFilter) {
  EXPECT_TRUE(parse("").conditions.empty());
}

TEST(ProtocolFilterParse, SeveralConditionsAndInLists) {
  const auto f = parse("status=in.(open, closed ,\"a,b\"),priority=gte.3, name=eq.O'Brien");
  ASSERT_EQ(f.conditions.size(), 3u);
  EXPECT_EQ(f.conditions[0].values, (std::vector<std::string>{"open", "closed", "a,b"}));
  EXPECT_EQ(f.conditions[1].column, "priority");
  EXPECT_EQ(f.conditions[1].values, std::vector<std::string>{"3"});
  EXPECT_EQ(f.conditions[2].values, std::vector<std::string>{"O'Brien"});
}

TEST(ProtocolFilterParse, ValuesKeepDotsAndMayBeEmpty) {
  EXPECT_EQ(parse("v=eq.1.5.2").conditions[0].values[0], "1.5.2");
  EXPECT_EQ(parse("v=eq.").conditions[0].values[0], "");
}

TEST(ProtocolFilterParse, UnquotesWhatTheRealtimeJsBuilderQuotes) {
  // postgresChangesFilter().eq('area', 'Oslo, Norway').eq('q', 'say "hi" \\ (x)')
  const auto f = parse(R"x(area=eq."Oslo, Norway",q=eq."say \"hi\" \\ (x)")x");
  ASSERT_EQ(f.conditions.size(), 2u);
  EXPECT_EQ(f.conditions[0].values[0], "Oslo, Norway");
  EXPECT_EQ(f.conditions[1].values[0], R"x(say "hi" \ (x))x");
}

TEST(ProtocolFilterParse, AcceptsSupabasesEscapedComma) {
  EXPECT_EQ(parse(R"(area=eq.Oslo\, Norway)").conditions[0].values[0], "Oslo, Norway");
}

TEST(ProtocolFilterParse, RefusesUnknownOperators) {
  EXPECT_TRUE(refused("a=like.x%", core::errc::bad_value, "unknown operator 'like'"));
  EXPECT_TRUE(refused("a=ilike.x", core::errc::bad_value, "supported: eq"));
  EXPECT_TRUE(refused("a=is.true", core::errc::bad_value, "is.null"));
  EXPECT_TRUE(refused("a=not.eq.1", core::errc::bad_value, "not.is.null"));
  EXPECT_TRUE(refused("a=.1", core::errc::bad_value, "missing operator"));
}

TEST(ProtocolFilterParse, RefusesMissingSeparators) {
  EXPECT_TRUE(refused("a", core::errc::bad_value, "missing '='"));
  EXPECT_TRUE(refused("a eq.1", core::errc::bad_value, "missing '='"));
  EXPECT_TRUE(refused("a=eq", core::errc::bad_value, "missing '.'"));
  EXPECT_TRUE(refused("a=eq.1,b=gt.2,c", core::errc::bad_value, "condition 3"));
}

TEST(ProtocolFilterParse, RefusesEmptyPieces) {
  EXPECT_TRUE(refused("=eq.1", core::errc::empty_segment, "empty column"));
  EXPECT_TRUE(refused("a=eq.1,", core::errc::empty_segment, "empty condition"));
  EXPECT_TRUE(refused("a=eq.1,,b=eq.2", core::errc::empty_segment, "condition 2"));
  EXPECT_TRUE(refused(",a=eq.1", core::errc::empty_segment));
  EXPECT_TRUE(refused("a=in.()", core::errc::empty_segment, "empty value"));
  EXPECT_TRUE(refused("a=in.(1,,2)", core::errc::empty_segment));
}

TEST(ProtocolFilterParse, RefusesUnbalancedParentheses) {
  EXPECT_TRUE(refused("a=in.(1,2", core::errc::bad_value, "never closed"));
  EXPECT_TRUE(refused("a=in.1,2", core::errc::bad_value, "parenthesized"));
  EXPECT_TRUE(refused("a=in.(1))", core::errc::bad_value, "unexpected ')'"));
  EXPECT_TRUE(refused("a=eq.(1)", core::errc::bad_value, "unbalanced parentheses"));
  EXPECT_TRUE(refused("a=eq.1)", core::errc::bad_value, "unbalanced parentheses"));
  EXPECT_TRUE(refused("a=in.(1,(2))", core::errc::bad_value, "unbalanced parentheses"));
}

TEST(ProtocolFilterParse, RefusesBadQuotesAndColumns) {
  EXPECT_TRUE(refused(R"(a=eq."open)", errc::bad_value, "unterminated"));
  EXPECT_TRUE(refused(R"(a=eq."x"y)", core::errc::bad_value, "after a closing quote"));
  EXPECT_TRUE(refused(R"(a=eq.x"y)", errc::bad_value, "quote inside"));
  EXPECT_TRUE(refused("a(b=eq.1", core::errc::bad_char, "column"));
  EXPECT_TRUE(refused(std::string(64, 'c') + "=eq.1", core::errc::too_long, "column"));
  EXPECT_TRUE(parse_filter(std::string(63, 'c') + "=eq.1").has_value());
}

TEST(ProtocolFilterParse, EnforcesItsBounds) {
  filter_limits limits;
  limits.max_bytes = 10;
  EXPECT_TRUE(refused("abcdef=eq.1", core::errc::too_long, "bound of 10", limits));
  EXPECT_TRUE(parse_filter("abcde=eq.1", limits).has_value());
  limits = {};
  limits.max_conditions = 2;
  EXPECT_TRUE(parse_filter("a=eq.1,b=eq.2", limits).has_value());
  EXPECT_TRUE(refused("a=eq.1,b=eq.2,c=eq.3", core::errc::too_many, "2 conditions", limits));
  limits = {};
  limits.max_in_values = 3;
  EXPECT_TRUE(parse_filter("a=in.(1,2,3)", limits).has_value());
  EXPECT_TRUE(refused("a=in.(1,2,3,4)", core::errc::too_many, "3 values", limits));
}

// ---- evaluation ---------------------------------------------------------------------------------------------------

TEST(ProtocolFilterMatch, NumbersCompareNumerically) {
  EXPECT_TRUE(matches("id=eq.1", R"({"id":1})"));
  EXPECT_TRUE(matches("id=eq.1.0", R"({"id":1})"));
  EXPECT_FALSE(matches("id=eq.2", R"({"id":1})"));
  EXPECT_TRUE(matches("n=gt.9", R"({"n":10})"));  // "10" < "9" as text, 10 > 9 as numbers
  EXPECT_TRUE(matches("n=lt.10", R"({"n":9.5})"));
  EXPECT_TRUE(matches("n=lte.-3", R"({"n":-3})"));
  EXPECT_TRUE(matches("n=gte.18446744073709551615", R"({"n":18446744073709551615})"));
  EXPECT_TRUE(matches("n=lt.18446744073709551615", R"({"n":9223372036854775807})"));
  EXPECT_TRUE(matches("n=gt.-1", R"({"n":18446744073709551615})"));
  EXPECT_TRUE(matches("n=neq.7", R"({"n":8})"));
  EXPECT_FALSE(matches("n=eq.abc", R"({"n":1})"));  // not a number: never matches
  EXPECT_FALSE(matches("n=neq.abc", R"({"n":1})"));
  EXPECT_FALSE(matches("n=eq.inf", R"({"n":1})"));
}

TEST(ProtocolFilterMatch, StringsCompareLexicographically) {
  EXPECT_TRUE(matches("s=eq.open", R"({"s":"open"})"));
  EXPECT_TRUE(matches("s=lt.b", R"({"s":"abc"})"));
  EXPECT_TRUE(matches("s=gt.10", R"({"s":"9"})"));  // text, not numbers
  EXPECT_FALSE(matches("s=eq.Open", R"({"s":"open"})"));
}

TEST(ProtocolFilterMatch, NullNeverMatchesExceptIsNull) {
  for (auto f : {"v=eq.1", "v=neq.1", "v=lt.1", "v=gt.1", "v=in.(1,null)", "v=not.is.null"}) {
    EXPECT_FALSE(matches(f, R"({"v":null})")) << f;
  }
  EXPECT_TRUE(matches("v=is.null", R"({"v":null})"));
  EXPECT_FALSE(matches("v=is.null", R"({"v":0})"));
  EXPECT_TRUE(matches("v=not.is.null", R"({"v":0})"));
}

TEST(ProtocolFilterMatch, MissingColumnNeverMatches) {
  EXPECT_FALSE(matches("other=eq.1", R"({"id":1})"));
  EXPECT_FALSE(matches("other=is.null", R"({"id":1})"));
}

TEST(ProtocolFilterMatch, InMatchesAnyItem) {
  EXPECT_TRUE(matches("id=in.(1,2,3)", R"({"id":2})"));
  EXPECT_FALSE(matches("id=in.(1,2,3)", R"({"id":4})"));
  EXPECT_TRUE(matches("s=in.(open,\"a,b\")", R"({"s":"a,b"})"));
}

TEST(ProtocolFilterMatch, BooleansAndCompositeValues) {
  EXPECT_TRUE(matches("b=eq.true", R"({"b":true})"));
  EXPECT_TRUE(matches("b=eq.F", R"({"b":false})"));
  EXPECT_TRUE(matches("b=lt.true", R"({"b":false})"));
  EXPECT_FALSE(matches("b=eq.maybe", R"({"b":true})"));
  EXPECT_FALSE(matches("o=eq.{}", R"({"o":{}})"));
  EXPECT_TRUE(matches("o=not.is.null", R"({"o":[1]})"));
}

TEST(ProtocolFilterMatch, AllConditionsMustHold) {
  EXPECT_TRUE(matches("a=eq.1,b=eq.x", R"({"a":1,"b":"x"})"));
  EXPECT_FALSE(matches("a=eq.1,b=eq.x", R"({"a":1,"b":"y"})"));
  EXPECT_TRUE(matches("", R"({"a":1})"));
}

}  // namespace
}  // namespace rtcache::protocol
