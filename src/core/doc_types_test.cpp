// Tests for the doc type registry: the playbook defaults, configured registries and the name grammar.
#include "rtcache/core/doc_types.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace rtcache::core {
namespace {

template <class T>
::testing::AssertionResult refused(const result<T>& r, errc code, std::string_view needle = {}) {
  if (r.has_value()) return ::testing::AssertionFailure() << "accepted; expected " << to_string(code);
  const error& err = r.error();
  if (err.code != code) {
    return ::testing::AssertionFailure() << "refused with " << to_string(err.code) << " (\"" << err.message
                                         << "\"); expected " << to_string(code);
  }
  if (!needle.empty() && err.message.find(needle) == std::string::npos) {
    return ::testing::AssertionFailure() << "message \"" << err.message << "\" does not mention \"" << needle << "\"";
  }
  return ::testing::AssertionSuccess();
}

template <class T>
::testing::AssertionResult accepted(const result<T>& r) {
  if (r.has_value()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "refused with " << to_string(r.error().code) << ": " << r.error().message;
}

// ---- defaults ------------------------------------------------------------------------------------------

TEST(DocTypeRegistry, DefaultsHoldExactlyThePlaybookTypesSorted) {
  const auto reg = doc_type_registry::defaults();
  const std::vector<std::string> expected{"dn", "grn", "invoice", "lot", "pl", "price_list", "pu", "wo"};
  EXPECT_EQ(reg.names(), expected);
  for (const auto& name : expected) EXPECT_TRUE(reg.contains(name)) << name;
}

TEST(DocTypeRegistry, DefaultsDoNotContainNearMisses) {
  const auto reg = doc_type_registry::defaults();
  for (std::string_view t : {"", "w", "WO", "Wo", "wo ", " wo", "wo\n", "invoices", "price-list", "pricelist",
                             "price_list_", "po", "doc", "list", "factory", "*"}) {
    EXPECT_FALSE(reg.contains(t)) << "type: '" << t << "'";
  }
  EXPECT_FALSE(reg.contains(std::string_view("wo\0", 3)));
}

// ---- from: success -------------------------------------------------------------------------------------

TEST(DocTypeRegistry, FromKeepsConfiguredNamesSortedAndContainsOnlyThem) {
  const auto reg = doc_type_registry::from({"wo", "ticket", "asset_2", "a"});
  ASSERT_TRUE(accepted(reg));
  const std::vector<std::string> expected{"a", "asset_2", "ticket", "wo"};
  EXPECT_EQ(reg->names(), expected);
  EXPECT_TRUE(reg->contains("ticket"));
  EXPECT_TRUE(reg->contains("a"));
  EXPECT_FALSE(reg->contains("invoice"));  // a configured registry does not inherit the defaults
}

TEST(DocTypeRegistry, FromAcceptsNameOfExactlyMaxLength) {
  EXPECT_EQ(k_max_doc_type_length, 32u);
  const std::string name = "t" + std::string(k_max_doc_type_length - 1, 'x');
  const auto reg = doc_type_registry::from({name});
  ASSERT_TRUE(accepted(reg));
  EXPECT_TRUE(reg->contains(name));
  EXPECT_FALSE(reg->contains(name.substr(0, 31)));
}

TEST(DocTypeRegistry, FromAcceptsTheDefaultNamesAsConfiguration) {
  const auto reg = doc_type_registry::from({"wo", "pl", "dn", "grn", "lot", "pu", "invoice", "price_list"});
  ASSERT_TRUE(accepted(reg));
  EXPECT_EQ(reg->names(), doc_type_registry::defaults().names());
}

// ---- from: refusals ------------------------------------------------------------------------------------

TEST(DocTypeRegistry, FromRefusesEmptyList) {
  EXPECT_TRUE(refused(doc_type_registry::from({}), errc::empty));
}

TEST(DocTypeRegistry, FromRefusesDuplicateNamesNamingTheName) {
  EXPECT_TRUE(refused(doc_type_registry::from({"wo", "ticket", "wo"}), errc::duplicate_key, "wo"));
  EXPECT_TRUE(refused(doc_type_registry::from({"ticket", "ticket"}), errc::duplicate_key, "ticket"));
}

TEST(DocTypeRegistry, FromRefusesNameOneOverMaxLengthNamingTheBound) {
  const std::string name = "t" + std::string(k_max_doc_type_length, 'x');  // 33
  EXPECT_TRUE(refused(doc_type_registry::from({"wo", name}), errc::too_long, "32"));
}

TEST(DocTypeRegistry, FromRefusesBadNameNamingIt) {
  EXPECT_TRUE(refused(doc_type_registry::from({"wo", "Work_Order"}), errc::bad_char, "Work_Order"));
  EXPECT_TRUE(refused(doc_type_registry::from({"1st"}), errc::bad_char, "1st"));
  EXPECT_TRUE(refused(doc_type_registry::from({"wo", "price-list"}), errc::bad_char, "price-list"));
}

TEST(DocTypeRegistry, FromRefusesEmptyName) {
  EXPECT_TRUE(refused(doc_type_registry::from({"wo", ""}), errc::empty));
}

// ---- validate_name ------------------------------------------------------------------------------------

TEST(DocTypeName, AcceptsLowercaseLetterThenLettersDigitsUnderscores) {
  for (std::string_view n : {"a", "z", "wo", "price_list", "a1", "a_", "a__b", "grn2", "abcdefghijklmnopqrstuvwxyz"}) {
    EXPECT_TRUE(accepted(doc_type_registry::validate_name(n))) << n;
  }
}

TEST(DocTypeName, AcceptsNameOfExactlyMaxLength) {
  EXPECT_TRUE(accepted(doc_type_registry::validate_name("a" + std::string(31, '_'))));
  EXPECT_TRUE(accepted(doc_type_registry::validate_name(std::string(32, 'z'))));
}

TEST(DocTypeName, RefusesNameOneOverMaxLength) {
  EXPECT_TRUE(refused(doc_type_registry::validate_name(std::string(33, 'z')), errc::too_long, "32"));
}

TEST(DocTypeName, RefusesVeryLongNameAsTooLong) {
  EXPECT_TRUE(refused(doc_type_registry::validate_name(std::string(10000, 'a')), errc::too_long));
}

TEST(DocTypeName, RefusesEmptyName) {
  EXPECT_TRUE(refused(doc_type_registry::validate_name(""), errc::empty));
}

TEST(DocTypeName, RefusesNameNotStartingWithALowercaseLetter) {
  for (std::string_view n : {"1wo", "_wo", "Wo", "9", "_", "-wo"}) {
    EXPECT_TRUE(refused(doc_type_registry::validate_name(n), errc::bad_char)) << n;
  }
}

TEST(DocTypeName, RefusesCharactersOutsideTheGrammar) {
  for (std::string_view n : {"wO", "w-o", "w o", "w:o", "w*o", "w.o", "wo\n", "w\"o", "w\xc3\xb6"}) {
    EXPECT_TRUE(refused(doc_type_registry::validate_name(n), errc::bad_char)) << n;
  }
  EXPECT_TRUE(refused(doc_type_registry::validate_name(std::string_view("w\0o", 3)), errc::bad_char));
}

TEST(DocTypeName, EveryByteIsJudgedByTheGrammarInFirstAndLaterPositions) {
  for (int b = 0; b < 256; ++b) {
    const auto c = static_cast<unsigned char>(b);
    const bool lower = c >= 'a' && c <= 'z';
    const bool later_ok = lower || (c >= '0' && c <= '9') || c == '_';
    const std::string first{static_cast<char>(c)};
    const std::string later{'a', static_cast<char>(c)};
    if (lower) {
      EXPECT_TRUE(accepted(doc_type_registry::validate_name(first))) << "first byte " << b;
    } else {
      EXPECT_TRUE(refused(doc_type_registry::validate_name(first), errc::bad_char)) << "first byte " << b;
    }
    if (later_ok) {
      EXPECT_TRUE(accepted(doc_type_registry::validate_name(later))) << "later byte " << b;
    } else {
      EXPECT_TRUE(refused(doc_type_registry::validate_name(later), errc::bad_char)) << "later byte " << b;
    }
  }
}

}  // namespace
}  // namespace rtcache::core
