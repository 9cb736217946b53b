// Unit tests for the version guard: stale events must never overwrite a newer cached doc.
#include "rtcache/core/version_guard.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>

namespace rtcache::core {
namespace {

constexpr std::optional<std::int64_t> k_none = std::nullopt;

TEST(VersionGuard, AppliesWhenNeitherSideHasAVersion) {
  EXPECT_EQ(check_version(k_none, k_none), version_verdict::apply);
}

TEST(VersionGuard, AppliesWhenOnlyTheEventHasAVersion) {
  EXPECT_EQ(check_version(0, k_none), version_verdict::apply);
  EXPECT_EQ(check_version(7, k_none), version_verdict::apply);
}

TEST(VersionGuard, AppliesWhenOnlyTheCacheHasAVersion) {
  EXPECT_EQ(check_version(k_none, 0), version_verdict::apply);
  EXPECT_EQ(check_version(k_none, 7), version_verdict::apply);
}

TEST(VersionGuard, DropsIncomingOlderThanCached) {
  EXPECT_EQ(check_version(4, 5), version_verdict::stale);
  EXPECT_EQ(check_version(0, 1), version_verdict::stale);
}

TEST(VersionGuard, AppliesEqualVersionsAsIdempotent) {
  EXPECT_EQ(check_version(5, 5), version_verdict::apply);
  EXPECT_EQ(check_version(0, 0), version_verdict::apply);
}

TEST(VersionGuard, AppliesIncomingNewerThanCached) {
  EXPECT_EQ(check_version(6, 5), version_verdict::apply);
  EXPECT_EQ(check_version(1, 0), version_verdict::apply);
}

TEST(VersionGuard, ComparesAtTheExtremesWithoutOverflow) {
  constexpr std::int64_t k_max = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t k_min = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(check_version(k_max - 1, k_max), version_verdict::stale);
  EXPECT_EQ(check_version(k_max, k_max - 1), version_verdict::apply);
  EXPECT_EQ(check_version(k_max, k_max), version_verdict::apply);
  EXPECT_EQ(check_version(k_min, k_max), version_verdict::stale);
  EXPECT_EQ(check_version(k_max, k_min), version_verdict::apply);
}

TEST(VersionGuard, IsNoexcept) {
  // noexcept is part of the declared contract: the guard runs on every event and never fails.
  static_assert(noexcept(check_version(std::optional<std::int64_t>{1}, std::optional<std::int64_t>{2})));
  SUCCEED();
}

}  // namespace
}  // namespace rtcache::core
