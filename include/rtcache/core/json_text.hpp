// Writing JSON text by hand where output must be canonical: the event codec, cache keys, and the server's
// postgres_changes records, so that every producer writes the same bytes as JSON.stringify would.
#pragma once

#include <string>
#include <string_view>

namespace rtcache::core {

// Appends `s` as a JSON string literal: quotes, backslash and control bytes escaped, other bytes as is.
void append_json_string(std::string& out, std::string_view s);

// Appends `v` as ECMAScript's Number::toString writes it (JSON.stringify): shortest round-trip digits,
// fixed notation for 1e-7 <= |x| < 1e21, "0" for -0. REQUIRES: v is finite.
void append_es_number(std::string& out, double v);

// Printable form of untrusted input for an error message: at most 40 bytes, non-printables as \xNN.
std::string printable(std::string_view s);

}  // namespace rtcache::core
