// Log lines split unambiguously: values that need it are quoted and escaped.
#include "gateway/log.hpp"

#include <gtest/gtest.h>

namespace rtcache::gateway {
namespace {

TEST(GatewayLog, FormatsKeyValuePairsAndQuotesOnlyWhenNeeded) {
  EXPECT_EQ(logger::format(log_level::info, "ws.open", {{"conn", 12}, {"peer", "1.2.3.4:5"}, {"ok", true}}),
            "level=info event=ws.open conn=12 peer=1.2.3.4:5 ok=true");
  EXPECT_EQ(logger::format(log_level::warn, "x", {{"reason", "a b=\"c\"\n"}, {"empty", ""}}),
            R"(level=warn event=x reason="a b=\"c\"\x0a" empty="")");
}

TEST(GatewayLog, ParsesLevelsAndRefusesOthers) {
  EXPECT_EQ(parse_log_level("debug").value(), log_level::debug);
  EXPECT_EQ(parse_log_level("off").value(), log_level::off);
  EXPECT_FALSE(parse_log_level("verbose").has_value());
  logger l(log_level::warn);
  EXPECT_FALSE(l.enabled(log_level::info));
  EXPECT_TRUE(l.enabled(log_level::error));
}

}  // namespace
}  // namespace rtcache::gateway
