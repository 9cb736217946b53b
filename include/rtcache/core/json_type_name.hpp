// How an error message names a JSON value's type ("must be a string, not an array"), for every reader of
// untrusted JSON through simdjson's DOM: the event codec and JWT headers and claims. Including it needs
// simdjson's headers, so only targets that link simdjson include it.
#pragma once

#include <simdjson.h>

#include <string_view>

namespace rtcache::core {

// "an array", "an object", "a number" (any integer or float), "a string", "a boolean", "null".
std::string_view json_type_name(simdjson::dom::element_type t) noexcept;

}  // namespace rtcache::core
