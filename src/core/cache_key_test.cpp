// Unit tests for the query cache keys: the one source of truth both SDKs map events onto.
#include "rtcache/core/cache_key.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace rtcache::core {
namespace {

TEST(CacheKey, DocKeyHasDocKindTypeAndIdOnly) {
  const cache_key k = key_doc("wo", "123");
  EXPECT_EQ(k.kind, cache_key_kind::doc);
  EXPECT_EQ(k.type, "wo");
  EXPECT_EQ(k.id, "123");
  EXPECT_EQ(k.factory_id, "");
  EXPECT_EQ(k.page, 0u);
}

TEST(CacheKey, DocKeyJsonIsDocTypeIdArray) {
  EXPECT_EQ(key_doc("wo", "123").to_json(), R"(["doc","wo","123"])");
  EXPECT_EQ(key_doc("price_list", "a-1.b_2").to_json(), R"(["doc","price_list","a-1.b_2"])");
}

TEST(CacheKey, ListKeyDefaultsToPageOne) {
  const cache_key k = key_list("wo", "f1");
  EXPECT_EQ(k.kind, cache_key_kind::list);
  EXPECT_EQ(k.type, "wo");
  EXPECT_EQ(k.factory_id, "f1");
  EXPECT_EQ(k.id, "");
  EXPECT_EQ(k.page, 1u);
}

TEST(CacheKey, ListKeyJsonCarriesPageObject) {
  EXPECT_EQ(key_list("wo", "f1").to_json(), R"(["list","wo","f1",{"page":1}])");
  EXPECT_EQ(key_list("grn", "f-9", 3).to_json(), R"(["list","grn","f-9",{"page":3}])");
}

TEST(CacheKey, ListKeyJsonPrintsLargestPageExactly) {
  const std::uint32_t max_page = std::numeric_limits<std::uint32_t>::max();
  EXPECT_EQ(key_list("wo", "f1", max_page).to_json(), R"(["list","wo","f1",{"page":4294967295}])");
}

TEST(CacheKey, ListHeadsArePageOne) {
  EXPECT_EQ(key_list_heads("wo", "f1"), key_list("wo", "f1", 1));
  EXPECT_EQ(key_list_heads("wo", "f1"), key_list("wo", "f1"));
  EXPECT_EQ(key_list_heads("wo", "f1").page, 1u);
  EXPECT_EQ(key_list_heads("wo", "f1").to_json(), R"(["list","wo","f1",{"page":1}])");
}

// REQUIRES: page >= 1. A violated precondition is a bug: debug builds (the asan preset) stop on it.
TEST(CacheKeyDeathTest, ListPageZeroIsAPreconditionViolation) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEBUG_DEATH(static_cast<void>(key_list("wo", "f1", 0)), "page");
}

TEST(CacheKey, ListHeadsDifferFromOtherPages) {
  EXPECT_NE(key_list_heads("wo", "f1"), key_list("wo", "f1", 2));
}

TEST(CacheKey, KeysDifferByEveryField) {
  EXPECT_NE(key_doc("wo", "1"), key_doc("wo", "2"));
  EXPECT_NE(key_doc("wo", "1"), key_doc("pl", "1"));
  EXPECT_NE(key_list("wo", "f1"), key_list("wo", "f2"));
  EXPECT_NE(key_list("wo", "f1"), key_list("pl", "f1"));
  // A doc whose id equals a list's factory id is still a different key.
  EXPECT_NE(key_doc("wo", "f1"), key_list("wo", "f1"));
}

TEST(CacheKey, EqualInputsGiveEqualKeysAndEqualJson) {
  EXPECT_EQ(key_doc("wo", "1"), key_doc("wo", "1"));
  EXPECT_EQ(key_doc("wo", "1").to_json(), key_doc("wo", "1").to_json());
  EXPECT_EQ(key_list("wo", "f1", 4), key_list("wo", "f1", 4));
}

TEST(CacheKey, OrderingIsTotalAndConsistentWithEquality) {
  const cache_key a = key_doc("wo", "1");
  const cache_key b = key_doc("wo", "2");
  EXPECT_TRUE((a < b) != (b < a));
  EXPECT_FALSE(a < a);
  EXPECT_TRUE(key_list("wo", "f1", 1) < key_list("wo", "f1", 2));
}

TEST(CacheKey, JsonFormsParseAsJsonArrays) {
  for (const cache_key& k : {key_doc("wo", "123"), key_list("invoice", "f1", 7)}) {
    boost::json::error_code ec;
    const boost::json::value v = boost::json::parse(k.to_json(), ec);
    ASSERT_FALSE(ec) << k.to_json();
    ASSERT_TRUE(v.is_array()) << k.to_json();
  }
  const boost::json::array doc = boost::json::parse(key_doc("wo", "123").to_json()).as_array();
  ASSERT_EQ(doc.size(), 3u);
  EXPECT_EQ(doc[0].as_string(), "doc");
  EXPECT_EQ(doc[1].as_string(), "wo");
  EXPECT_EQ(doc[2].as_string(), "123");

  const boost::json::array list = boost::json::parse(key_list("invoice", "f1", 7).to_json()).as_array();
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[0].as_string(), "list");
  EXPECT_EQ(list[1].as_string(), "invoice");
  EXPECT_EQ(list[2].as_string(), "f1");
  ASSERT_TRUE(list[3].is_object());
  EXPECT_EQ(list[3].as_object().size(), 1u);
  EXPECT_EQ(list[3].as_object().at("page").to_number<std::int64_t>(), 7);
}

// cache_key accepts any strings; its JSON must stay JSON even for characters the id grammar refuses.
TEST(CacheKey, JsonEscapesQuotesAndBackslashes) {
  const std::string nasty = "a\"b\\c";
  boost::json::error_code ec;
  const boost::json::value v = boost::json::parse(key_doc("wo", nasty).to_json(), ec);
  ASSERT_FALSE(ec) << key_doc("wo", nasty).to_json();
  ASSERT_TRUE(v.is_array());
  EXPECT_EQ(v.as_array().at(2).as_string(), nasty);
}

}  // namespace
}  // namespace rtcache::core
