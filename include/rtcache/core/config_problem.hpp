// One problem found in configuration, the model every config reader reports in (gateway/config.hpp's serve
// config, mapping_config.hpp's table mapping): where it is and what is wrong, every problem at once, never just
// the first. `rtcache check-config` prints each as "error: WHERE: MESSAGE".
#pragma once

#include <string>

namespace rtcache::core {

// `where`: "config.toml:12:5 limits.max_frame_bytes" (file:line:column, then the key path) for a value in a
// file, "env RTCACHE_LISTEN" for a variable, or a key path alone ("auth.jwt_secret") for a cross-field check.
struct config_problem {
  std::string where;
  std::string message;
  friend bool operator==(const config_problem&, const config_problem&) = default;
};

}  // namespace rtcache::core
