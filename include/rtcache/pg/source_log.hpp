// The source's log seam: level, a stable event name and key/values. The owner (the gateway, a tool, a test)
// decides where lines go; the source never depends on a logger.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace rtcache::pg {

enum class log_level { debug, info, warn, error };
std::string_view to_string(log_level level) noexcept;

struct log_field {
  std::string_view key;
  std::string value;
};

// Called on the source's thread; must not call back into the source. An empty function discards.
using log_fn = std::function<void(log_level, std::string_view event, std::span<const log_field> fields)>;

}  // namespace rtcache::pg
