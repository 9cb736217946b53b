// printable(): how untrusted input appears in error messages (channel keys, events, JWTs, pgoutput names).
#include "rtcache/core/json_text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace rtcache::core {
namespace {

TEST(Printable, KeepsPrintableAsciiAndShowsEveryOtherByteAsHex) {
  EXPECT_EQ(printable("doc:wo:1"), "doc:wo:1");
  EXPECT_EQ(printable(std::string("a\0b\n\x7f\xff", 6)), "a\\x00b\\x0a\\x7f\\xff");
}

// A backslash is escaped too, so "\x41" in a message always stands for one byte 0x41, never for four bytes.
TEST(Printable, EscapesTheBackslashSoEachEscapeStandsForOneByte) {
  EXPECT_EQ(printable("\\x41"), "\\x5cx41");
  EXPECT_NE(printable("\\x41"), printable("A"));
}

TEST(Printable, ShowsFortyBytesByDefaultThenAnEllipsis) {
  EXPECT_EQ(printable(std::string(40, 'k')), std::string(40, 'k'));
  EXPECT_EQ(printable(std::string(41, 'k')), std::string(40, 'k') + "...");
}

TEST(Printable, ShowsAsManyBytesAsAsked) {
  EXPECT_EQ(printable(std::string(64, 'n'), 64), std::string(64, 'n'));
  EXPECT_EQ(printable(std::string(65, 'n'), 64), std::string(64, 'n') + "...");
  EXPECT_EQ(printable("abc", 0), "...");
}

}  // namespace
}  // namespace rtcache::core
