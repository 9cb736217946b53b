// Writing JSON text by hand where the core needs canonical output (the event codec, cache keys).
#pragma once

#include <string>
#include <string_view>

namespace rtcache::core {

// Appends `s` as a JSON string literal: quotes, backslash and control bytes escaped, other bytes as is.
void append_json_string(std::string& out, std::string_view s);

// Printable form of untrusted input for an error message: at most 40 bytes, non-printables as \xNN.
std::string printable(std::string_view s);

}  // namespace rtcache::core
