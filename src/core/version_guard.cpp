#include "rtcache/core/version_guard.hpp"

namespace rtcache::core {

version_verdict check_version(std::optional<std::int64_t> incoming, std::optional<std::int64_t> cached) noexcept {
  if (incoming && cached && *incoming < *cached) return version_verdict::stale;
  return version_verdict::apply;
}

}  // namespace rtcache::core
