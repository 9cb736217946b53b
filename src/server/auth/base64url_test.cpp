// Strict base64url: one accepted text per byte string, everything else refused.
#include "base64url.hpp"

#include <gtest/gtest.h>

#include <string>

namespace rtcache::auth::detail {
namespace {

TEST(Base64url, RoundTripsEveryLengthAndByte) {
  std::string bytes;
  for (int len = 0; len <= 70; ++len) {
    const std::string encoded = base64url_encode(bytes);
    EXPECT_EQ(encoded.find_first_of("=+/"), std::string::npos) << encoded;
    const auto decoded = base64url_decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, bytes);
    bytes.push_back(static_cast<char>((len * 37 + 11) & 0xff));
  }
}

TEST(Base64url, DecodesKnownVectors) {
  EXPECT_EQ(base64url_decode("eyJhbGciOiJIUzI1NiJ9").value(), R"({"alg":"HS256"})");
  EXPECT_EQ(base64url_decode("-_8").value(), "\xfb\xff");
  EXPECT_EQ(base64url_decode("").value(), "");
}

TEST(Base64url, RefusesPaddingAndStandardAlphabet) {
  EXPECT_FALSE(base64url_decode("Zg==").has_value());
  EXPECT_FALSE(base64url_decode("Zg=").has_value());
  EXPECT_FALSE(base64url_decode("+/8").has_value());
  EXPECT_FALSE(base64url_decode("ab/c").has_value());
}

TEST(Base64url, RefusesWhitespaceControlAndNonAscii) {
  EXPECT_FALSE(base64url_decode("Zm9v YmFy").has_value());
  EXPECT_FALSE(base64url_decode("Zm9v\nYmFy").has_value());
  EXPECT_FALSE(base64url_decode(std::string("Zm9v\0YmFy", 9)).has_value());
  EXPECT_FALSE(base64url_decode("Zm9v\xc3\xa9").has_value());
  EXPECT_FALSE(base64url_decode(".").has_value());
}

TEST(Base64url, RefusesImpossibleLength) {
  EXPECT_FALSE(base64url_decode("A").has_value());
  EXPECT_FALSE(base64url_decode("AAAAA").has_value());
}

TEST(Base64url, RefusesNonZeroTrailingBitsSoEncodingsAreUnique) {
  // "Zg" is the canonical "f"; "Zh".."Zv" carry the same byte with garbage in the unused 4 bits.
  EXPECT_EQ(base64url_decode("Zg").value(), "f");
  EXPECT_FALSE(base64url_decode("Zh").has_value());
  EXPECT_FALSE(base64url_decode("Zv").has_value());
  EXPECT_EQ(base64url_decode("Zm8").value(), "fo");
  EXPECT_FALSE(base64url_decode("Zm9").has_value());
}

}  // namespace
}  // namespace rtcache::auth::detail
