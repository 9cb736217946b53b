// Writing JSON text by hand where output must be canonical: the event codec, cache keys, and the server's
// postgres_changes records, so that every producer writes the same bytes as JSON.stringify would.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rtcache::core {

// Appends `s` as a JSON string literal: quotes, backslash and control bytes escaped, other bytes as is.
void append_json_string(std::string& out, std::string_view s);

// Appends `v` as ECMAScript's Number::toString writes it (JSON.stringify): shortest round-trip digits,
// fixed notation for 1e-7 <= |x| < 1e21, "0" for -0. REQUIRES: v is finite.
void append_es_number(std::string& out, double v);

// Printable form of untrusted input for an error message: the first `max_bytes` bytes (then "..."), printable
// ASCII as is, every other byte and the backslash itself as \xNN, so each \xNN shown stands for one byte.
inline constexpr std::size_t k_printable_bytes = 40;
std::string printable(std::string_view s, std::size_t max_bytes = k_printable_bytes);

}  // namespace rtcache::core
