// What this binary was built from: the project version, the git commit and the build type. Generated at
// build time (cmake/rtcache_build_info.cmake); `rtcache --version` prints it and /metrics exposes it as
// rtcache_build_info{version,commit} 1.
#pragma once

#include <string_view>

namespace rtcache::gateway {

struct build_info {
  std::string_view version;     // the CMake project version, e.g. "0.1.0"
  std::string_view commit;      // 12 hex digits, "-dirty" appended for uncommitted changes; "unknown" without git
  std::string_view build_type;  // CMAKE_BUILD_TYPE, e.g. "Release"
};

// Constant for the life of the process.
const build_info& this_build() noexcept;

}  // namespace rtcache::gateway
