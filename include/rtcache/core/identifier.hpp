// The id grammar shared by channel keys and events: factory ids and document ids.
#pragma once

#include "rtcache/core/error.hpp"

#include <cstddef>
#include <string_view>

namespace rtcache::core {

inline constexpr std::size_t k_max_id_length = 64;

// An id is 1..64 characters from [A-Za-z0-9_.-]: integers, UUIDs, slugs and codes fit; ':' (the channel key
// separator), '*' (the summary id), whitespace, quotes and control bytes do not.
// `what` names the field in the error message ("factoryId", "id").
result<void> validate_id(std::string_view id, std::string_view what);

}  // namespace rtcache::core
