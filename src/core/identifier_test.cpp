// Tests for the id grammar shared by channel keys and events, and for the error values every refusal carries.
#include "rtcache/core/identifier.hpp"

#include "rtcache/core/error.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace rtcache::core {
namespace {

// Passes when `r` was refused with `code` and its message mentions `needle` (when given).
::testing::AssertionResult refused(const result<void>& r, errc code, std::string_view needle = {}) {
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

::testing::AssertionResult accepted(const result<void>& r) {
  if (r.has_value()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "refused with " << to_string(r.error().code) << ": " << r.error().message;
}

bool in_id_charset(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

// ---- errc and error -------------------------------------------------------------------------------------

TEST(Errc, ToStringGivesTheStableLowerSnakeNameOfEveryCode) {
  EXPECT_EQ(to_string(errc::empty), "empty");
  EXPECT_EQ(to_string(errc::too_long), "too_long");
  EXPECT_EQ(to_string(errc::bad_prefix), "bad_prefix");
  EXPECT_EQ(to_string(errc::bad_segment_count), "bad_segment_count");
  EXPECT_EQ(to_string(errc::empty_segment), "empty_segment");
  EXPECT_EQ(to_string(errc::bad_char), "bad_char");
  EXPECT_EQ(to_string(errc::unknown_doc_type), "unknown_doc_type");
  EXPECT_EQ(to_string(errc::bad_json), "bad_json");
  EXPECT_EQ(to_string(errc::not_object), "not_object");
  EXPECT_EQ(to_string(errc::missing_field), "missing_field");
  EXPECT_EQ(to_string(errc::wrong_type), "wrong_type");
  EXPECT_EQ(to_string(errc::unknown_field), "unknown_field");
  EXPECT_EQ(to_string(errc::duplicate_key), "duplicate_key");
  EXPECT_EQ(to_string(errc::unknown_action), "unknown_action");
  EXPECT_EQ(to_string(errc::bad_value), "bad_value");
  EXPECT_EQ(to_string(errc::too_many), "too_many");
}

TEST(Error, ComparesByCodeAndMessage) {
  EXPECT_EQ((error{errc::bad_value, "x"}), (error{errc::bad_value, "x"}));
  EXPECT_NE((error{errc::bad_value, "x"}), (error{errc::bad_value, "y"}));
  EXPECT_NE((error{errc::bad_value, "x"}), (error{errc::too_long, "x"}));
}

TEST(Error, ValueOfARefusedResultThrowsErrorExceptionCarryingTheError) {
  const result<int> r = error{errc::too_many, "changedKeys has 257 entries; at most 256"};
  ASSERT_TRUE(r.has_error());
  try {
    (void)r.value();
    FAIL() << "value() on an error did not throw";
  } catch (const error_exception& ex) {
    EXPECT_EQ(ex.err().code, errc::too_many);
    EXPECT_EQ(ex.err().message, "changedKeys has 257 entries; at most 256");
    EXPECT_STREQ(ex.what(), "changedKeys has 257 entries; at most 256");
  }
}

TEST(Error, ValueOfARefusedVoidResultThrowsErrorException) {
  const result<void> r = error{errc::empty, "id is empty"};
  EXPECT_THROW(r.value(), error_exception);
}

// ---- validate_id: success ------------------------------------------------------------------------------

TEST(Identifier, AcceptsIntegersUuidsSlugsAndCodes) {
  for (std::string_view id : {"1", "0", "123", "9223372036854775807", "550e8400-e29b-41d4-a716-446655440000",
                              "WO-2024.001", "price_list_7", "a", "Z", "-", "_", "."}) {
    EXPECT_TRUE(accepted(validate_id(id, "id"))) << "id: " << id;
  }
}

TEST(Identifier, AcceptsEveryCharacterOfTheAllowedSet) {
  EXPECT_TRUE(accepted(validate_id("ABCDEFGHIJKLMNOPQRSTUVWXYZ_.-", "id")));
  EXPECT_TRUE(accepted(validate_id("abcdefghijklmnopqrstuvwxyz0123456789", "id")));
}

TEST(Identifier, AcceptsIdOfExactlyMaxLength) {
  EXPECT_EQ(k_max_id_length, 64u);
  EXPECT_TRUE(accepted(validate_id(std::string(k_max_id_length, 'a'), "id")));
}

// ---- validate_id: refusals -----------------------------------------------------------------------------

TEST(Identifier, RefusesIdOneOverMaxLengthNamingFieldAndBound) {
  const std::string id(k_max_id_length + 1, 'a');
  EXPECT_TRUE(refused(validate_id(id, "factoryId"), errc::too_long, "factoryId"));
  EXPECT_TRUE(refused(validate_id(id, "factoryId"), errc::too_long, "64"));
}

TEST(Identifier, RefusesVeryLongIdAsTooLong) {
  EXPECT_TRUE(refused(validate_id(std::string(100000, '7'), "id"), errc::too_long, "id"));
}

TEST(Identifier, RefusesEmptyIdNamingField) {
  EXPECT_TRUE(refused(validate_id("", "factoryId"), errc::empty, "factoryId"));
  EXPECT_TRUE(refused(validate_id(std::string_view{}, "id"), errc::empty, "id"));
}

TEST(Identifier, RefusesChannelKeySeparatorColon) {
  EXPECT_TRUE(refused(validate_id(":", "id"), errc::bad_char, "id"));
  EXPECT_TRUE(refused(validate_id("wo:123", "id"), errc::bad_char, "id"));
  EXPECT_TRUE(refused(validate_id("123:", "id"), errc::bad_char, "id"));
}

TEST(Identifier, RefusesSummaryStarAnywhere) {
  EXPECT_TRUE(refused(validate_id("*", "factoryId"), errc::bad_char, "factoryId"));
  EXPECT_TRUE(refused(validate_id("a*", "id"), errc::bad_char, "id"));
  EXPECT_TRUE(refused(validate_id("*a", "id"), errc::bad_char, "id"));
}

TEST(Identifier, RefusesWhitespace) {
  for (std::string_view id : {" ", "a b", " a", "a ", "a\tb", "a\nb", "a\rb", "a\vb", "a\fb"}) {
    EXPECT_TRUE(refused(validate_id(id, "id"), errc::bad_char, "id")) << "id: " << id;
  }
}

TEST(Identifier, RefusesQuotesBackslashAndPunctuation) {
  for (std::string_view id : {"a\"b", "a'b", "a\\b", "a/b", "a,b", "a;b", "a{b", "a}b", "a%b", "a+b", "a@b"}) {
    EXPECT_TRUE(refused(validate_id(id, "id"), errc::bad_char, "id")) << "id: " << id;
  }
}

TEST(Identifier, RefusesControlBytesIncludingNul) {
  EXPECT_TRUE(refused(validate_id(std::string_view("a\0b", 3), "id"), errc::bad_char, "id"));
  EXPECT_TRUE(refused(validate_id(std::string_view("\0", 1), "id"), errc::bad_char, "id"));
  EXPECT_TRUE(refused(validate_id("a\x01", "id"), errc::bad_char, "id"));
  EXPECT_TRUE(refused(validate_id("a\x1f", "id"), errc::bad_char, "id"));
  EXPECT_TRUE(refused(validate_id("a\x7f", "id"), errc::bad_char, "id"));
}

TEST(Identifier, RefusesNonAsciiBytes) {
  EXPECT_TRUE(refused(validate_id("caf\xc3\xa9", "id"), errc::bad_char, "id"));         // UTF-8 e-acute
  EXPECT_TRUE(refused(validate_id("\xe6\x97\xa5\xe6\x9c\xac", "id"), errc::bad_char));  // UTF-8 CJK
  EXPECT_TRUE(refused(validate_id("a\x80", "id"), errc::bad_char));
  EXPECT_TRUE(refused(validate_id("\xff", "id"), errc::bad_char));
}

TEST(Identifier, RefusesEveryByteOutsideTheAllowedSet) {
  for (int b = 0; b < 256; ++b) {
    const auto c = static_cast<unsigned char>(b);
    const std::string id{'a', static_cast<char>(c), 'z'};
    const auto r = validate_id(id, "id");
    if (in_id_charset(c)) {
      EXPECT_TRUE(accepted(r)) << "byte " << b;
    } else {
      EXPECT_TRUE(refused(r, errc::bad_char)) << "byte " << b;
    }
  }
}

TEST(Identifier, NamesTheGivenFieldInEveryRefusal) {
  EXPECT_TRUE(refused(validate_id("", "documentId"), errc::empty, "documentId"));
  EXPECT_TRUE(refused(validate_id("a b", "documentId"), errc::bad_char, "documentId"));
  EXPECT_TRUE(refused(validate_id(std::string(65, 'x'), "documentId"), errc::too_long, "documentId"));
}

}  // namespace
}  // namespace rtcache::core
