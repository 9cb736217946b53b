// The version guard: an event older than what the cache holds must not overwrite it.
#pragma once

#include <cstdint>
#include <optional>

namespace rtcache::core {

enum class version_verdict {
  apply,  // newer, equal (idempotent re-apply), or no version on either side: no guard
  stale,  // incoming < cached: drop
};

// Compares an event's version with the cached doc's. Equal versions apply: the event is idempotent and
// dropping it could lose a change made without a version bump.
version_verdict check_version(std::optional<std::int64_t> incoming,
                              std::optional<std::int64_t> cached) noexcept;

}  // namespace rtcache::core
