// Tests for channel keys: the strict grammar of factory:, doc: and list: keys and their canonical text form.
#include "rtcache/core/channel_key.hpp"

#include "rtcache/core/identifier.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

namespace rtcache::core {
namespace {

::testing::AssertionResult refused_any(const result<channel_key>& r, std::initializer_list<errc> codes,
                                       std::string_view needle = {}) {
  if (r.has_value()) return ::testing::AssertionFailure() << "accepted as " << r->format();
  const error& err = r.error();
  bool code_ok = false;
  for (errc c : codes) code_ok = code_ok || c == err.code;
  if (!code_ok) {
    auto f = ::testing::AssertionFailure();
    f << "refused with " << to_string(err.code) << " (\"" << err.message << "\"); expected one of";
    for (errc c : codes) f << ' ' << to_string(c);
    return f;
  }
  if (!needle.empty() && err.message.find(needle) == std::string::npos) {
    return ::testing::AssertionFailure() << "message \"" << err.message << "\" does not mention \"" << needle << "\"";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult refused(const result<channel_key>& r, errc code, std::string_view needle = {}) {
  return refused_any(r, {code}, needle);
}

::testing::AssertionResult accepted(const result<channel_key>& r) {
  if (r.has_value()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "refused with " << to_string(r.error().code) << ": " << r.error().message;
}

const doc_type_registry& defaults() {
  static const doc_type_registry reg = doc_type_registry::defaults();
  return reg;
}

result<channel_key> parse(std::string_view text) {
  return parse_channel_key(text, defaults());
}

// A registry holding a type of exactly the maximum length, for keys at the length bound.
const std::string& long_type() {
  static const std::string t = "t" + std::string(k_max_doc_type_length - 1, 'y');
  return t;
}
doc_type_registry long_registry() {
  return doc_type_registry::from({"wo", long_type()}).value();
}

// ---- kinds, factories and format -----------------------------------------------------------------------

TEST(ChannelKind, ToStringNamesEachKind) {
  EXPECT_EQ(to_string(channel_kind::factory), "factory");
  EXPECT_EQ(to_string(channel_kind::doc), "doc");
  EXPECT_EQ(to_string(channel_kind::list), "list");
}

TEST(ChannelKey, FactoryMethodsFillOnlyTheFieldsOfTheirKind) {
  const auto f = channel_key::factory("f1");
  EXPECT_EQ(f.kind, channel_kind::factory);
  EXPECT_EQ(f.factory_id, "f1");
  EXPECT_TRUE(f.type.empty());
  EXPECT_TRUE(f.id.empty());

  const auto d = channel_key::doc("wo", "123");
  EXPECT_EQ(d.kind, channel_kind::doc);
  EXPECT_EQ(d.type, "wo");
  EXPECT_EQ(d.id, "123");
  EXPECT_TRUE(d.factory_id.empty());

  const auto l = channel_key::list("wo", "f1");
  EXPECT_EQ(l.kind, channel_kind::list);
  EXPECT_EQ(l.type, "wo");
  EXPECT_EQ(l.factory_id, "f1");
  EXPECT_TRUE(l.id.empty());
}

TEST(ChannelKey, FormatsTheCanonicalTextOfEachKind) {
  EXPECT_EQ(channel_key::factory("f1").format(), "factory:f1");
  EXPECT_EQ(channel_key::doc("wo", "123").format(), "doc:wo:123");
  EXPECT_EQ(channel_key::list("price_list", "plant-7").format(), "list:price_list:plant-7");
}

TEST(ChannelKey, EqualityComparesKindAndFields) {
  EXPECT_EQ(channel_key::doc("wo", "1"), channel_key::doc("wo", "1"));
  EXPECT_NE(channel_key::doc("wo", "1"), channel_key::doc("wo", "2"));
  EXPECT_NE(channel_key::doc("wo", "1"), channel_key::doc("pl", "1"));
  EXPECT_NE(channel_key::list("wo", "1"), channel_key::doc("wo", "1"));
  EXPECT_NE(channel_key::factory("1"), channel_key::list("wo", "1"));
}

// ---- parse: success ------------------------------------------------------------------------------------

TEST(ChannelKey, ParsesFactoryKey) {
  const auto r = parse("factory:f1");
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(*r, channel_key::factory("f1"));
}

TEST(ChannelKey, ParsesDocKey) {
  const auto r = parse("doc:wo:123");
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(r->kind, channel_kind::doc);
  EXPECT_EQ(r->type, "wo");
  EXPECT_EQ(r->id, "123");
  EXPECT_EQ(r->factory_id, "");
  EXPECT_EQ(*r, channel_key::doc("wo", "123"));
}

TEST(ChannelKey, ParsesListKey) {
  const auto r = parse("list:invoice:f-9");
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(*r, channel_key::list("invoice", "f-9"));
}

TEST(ChannelKey, ParsesUuidAndDottedIds) {
  EXPECT_EQ(parse("doc:lot:550e8400-e29b-41d4-a716-446655440000").value(),
            channel_key::doc("lot", "550e8400-e29b-41d4-a716-446655440000"));
  EXPECT_EQ(parse("factory:plant_1.eu").value(), channel_key::factory("plant_1.eu"));
}

TEST(ChannelKey, ParsesAgainstTheGivenRegistry) {
  const auto reg = doc_type_registry::from({"ticket"}).value();
  EXPECT_TRUE(accepted(parse_channel_key("doc:ticket:1", reg)));
  EXPECT_TRUE(refused(parse_channel_key("doc:wo:1", reg), errc::unknown_doc_type, "wo"));
}

TEST(ChannelKey, RoundTripsEveryKindThroughFormat) {
  const auto reg = long_registry();
  const std::string max_id(k_max_id_length, 'i');
  for (const auto& k :
       {channel_key::factory("f1"), channel_key::doc("wo", "123"), channel_key::list("wo", "f1"),
        channel_key::factory(max_id), channel_key::doc(long_type(), max_id), channel_key::list(long_type(), max_id)}) {
    const auto r = parse_channel_key(k.format(), reg);
    ASSERT_TRUE(accepted(r)) << k.format();
    EXPECT_EQ(*r, k) << k.format();
  }
}

// ---- parse: length bounds ------------------------------------------------------------------------------

TEST(ChannelKey, AcceptsKeyOfExactlyMaxLength) {
  EXPECT_EQ(k_max_channel_key_length, 102u);
  const std::string text = "list:" + long_type() + ":" + std::string(k_max_id_length, 'f');
  ASSERT_EQ(text.size(), k_max_channel_key_length);
  const auto r = parse_channel_key(text, long_registry());
  ASSERT_TRUE(accepted(r));
  EXPECT_EQ(*r, channel_key::list(long_type(), std::string(k_max_id_length, 'f')));
}

TEST(ChannelKey, RefusesKeyOneOverMaxLength) {
  const std::string text = "list:" + long_type() + ":" + std::string(k_max_id_length + 1, 'f');
  ASSERT_EQ(text.size(), k_max_channel_key_length + 1);
  EXPECT_TRUE(refused(parse_channel_key(text, long_registry()), errc::too_long));
}

TEST(ChannelKey, AcceptsIdsOfExactlyMaxLengthInEveryKind) {
  const std::string id(k_max_id_length, '9');
  EXPECT_TRUE(accepted(parse("factory:" + id)));
  EXPECT_TRUE(accepted(parse("doc:wo:" + id)));
  EXPECT_TRUE(accepted(parse("list:wo:" + id)));
}

TEST(ChannelKey, RefusesIdOneOverMaxLengthEvenWhenTheKeyFitsTheBound) {
  const std::string id(k_max_id_length + 1, '9');
  EXPECT_TRUE(refused(parse("factory:" + id), errc::too_long));
  EXPECT_TRUE(refused(parse("doc:wo:" + id), errc::too_long));
  EXPECT_TRUE(refused(parse("list:wo:" + id), errc::too_long));
}

TEST(ChannelKey, RefusesHugeInputAsTooLong) {
  EXPECT_TRUE(refused(parse("doc:wo:" + std::string(1 << 20, 'a')), errc::too_long));
}

TEST(ChannelKey, AcceptsDocTypeOfExactlyMaxLength) {
  EXPECT_TRUE(accepted(parse_channel_key("doc:" + long_type() + ":1", long_registry())));
}

TEST(ChannelKey, RefusesDocTypeOneOverMaxLength) {
  // Such a type can never be registered; either refusal names the problem.
  const std::string type = long_type() + "y";
  EXPECT_TRUE(
      refused_any(parse_channel_key("doc:" + type + ":1", long_registry()), {errc::too_long, errc::unknown_doc_type}));
}

// ---- parse: refusals -----------------------------------------------------------------------------------

TEST(ChannelKey, RefusesEmptyText) {
  EXPECT_TRUE(refused(parse(""), errc::empty));
}

TEST(ChannelKey, RefusesUnknownPrefix) {
  for (std::string_view t : {"foo:1", "DOC:wo:1", "Doc:wo:1", "docs:wo:1", "lists:wo:f1", "fact:f1", "Factory:f1",
                             "doc-wo-1", "channel:doc:wo:1", "realtime:public:wo"}) {
    EXPECT_TRUE(refused(parse(t), errc::bad_prefix)) << t;
  }
}

TEST(ChannelKey, RefusesBarePrefixWord) {
  // "doc" is both not prefixed by "doc:" and a single segment; either reason is a refusal with a reason.
  for (std::string_view t : {"doc", "list", "factory"}) {
    EXPECT_TRUE(refused_any(parse(t), {errc::bad_prefix, errc::bad_segment_count})) << t;
  }
}

TEST(ChannelKey, RefusesWrongSegmentCount) {
  for (std::string_view t : {"factory:f1:x", "factory:wo:f1", "doc:wo", "doc:123", "doc:wo:1:2", "list:wo",
                             "list:wo:f1:p2", "doc:wo:1:2:3"}) {
    EXPECT_TRUE(refused(parse(t), errc::bad_segment_count)) << t;
  }
}

TEST(ChannelKey, RefusesEmptySegment) {
  for (std::string_view t : {"factory:", "doc::1", "doc:wo:", "doc::", "list::f1", "list:wo:"}) {
    EXPECT_TRUE(refused(parse(t), errc::empty_segment)) << t;
  }
}

TEST(ChannelKey, RefusesUnknownDocTypeWithItsName) {
  EXPECT_TRUE(refused(parse("doc:ticket:1"), errc::unknown_doc_type, "ticket"));
  EXPECT_TRUE(refused(parse("list:purchase_order:f1"), errc::unknown_doc_type, "purchase_order"));
}

TEST(ChannelKey, RefusesDocTypeOutsideTheNameGrammar) {
  // Never registered, so either the grammar or the registry refuses it.
  for (std::string_view t : {"doc:WO:1", "doc:w o:1", "doc:w*:1", "list:w\xc3\xb6:f1", "doc:1wo:1"}) {
    EXPECT_TRUE(refused_any(parse(t), {errc::bad_char, errc::unknown_doc_type})) << t;
  }
}

TEST(ChannelKey, RefusesSummaryStarAsDocIdOrFactoryId) {
  EXPECT_TRUE(refused(parse("doc:wo:*"), errc::bad_char));
  EXPECT_TRUE(refused(parse("list:wo:*"), errc::bad_char));
  EXPECT_TRUE(refused(parse("factory:*"), errc::bad_char));
}

TEST(ChannelKey, RefusesWhitespaceInIds) {
  for (std::string_view t : {"doc:wo:1 2", "doc:wo: 1", "doc:wo:1 ", "factory:f\t1", "list:wo:f1\n", "doc:wo:1\r\n"}) {
    EXPECT_TRUE(refused(parse(t), errc::bad_char)) << t;
  }
}

TEST(ChannelKey, RefusesNonAsciiQuotesAndControlBytesInIds) {
  for (std::string_view t : {"doc:wo:caf\xc3\xa9", "factory:\xff", "doc:wo:a\"b", "doc:wo:a/b", "doc:wo:a\x01"}) {
    EXPECT_TRUE(refused(parse(t), errc::bad_char)) << t;
  }
  EXPECT_TRUE(refused(parse(std::string_view("doc:wo:1\0", 9)), errc::bad_char));
  EXPECT_TRUE(refused(parse(std::string_view("factory:a\0b", 11)), errc::bad_char));
}

TEST(ChannelKey, BadCharMessageGivesTheOffendingBytesPosition) {
  // '*' is byte 11 of the key, byte 3 of the factory id segment (12 and 4 counting from one). The header does not
  // say which the position is relative to; it must be one of them, and the message must show the key.
  const auto r = parse("factory:abc*def");
  ASSERT_TRUE(refused(r, errc::bad_char, "factory:abc*def"));
  const std::string& msg = r.error().message;
  bool has_position = false;
  for (std::string_view p : {"position 11", "position 12", "position 3", "position 4"}) {
    has_position = has_position || msg.find(p) != std::string::npos;
  }
  EXPECT_TRUE(has_position) << msg;
}

TEST(ChannelKey, RefusalsNameTheSegmentAtFault) {
  EXPECT_TRUE(refused(parse("doc:wo:a b"), errc::bad_char, "doc id"));
  EXPECT_TRUE(refused(parse("list:wo:a b"), errc::bad_char, "factory id"));
  EXPECT_TRUE(refused(parse("factory:a b"), errc::bad_char, "factory id"));
}

}  // namespace
}  // namespace rtcache::core
