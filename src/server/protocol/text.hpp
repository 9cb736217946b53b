// Byte-level text helpers shared by the protocol codec: UTF-8 validation of binary-frame fields and JSON
// string literals for the frames the encoder splices together.
#pragma once

#include <string>
#include <string_view>

namespace rtcache::protocol {

// Whether `s` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

// Appends `s` to `out` as a JSON string literal, quotes included. '"', '\' and control bytes are escaped;
// each maximal invalid UTF-8 subsequence becomes U+FFFD, so the output is always valid JSON and UTF-8.
void append_json_string(std::string& out, std::string_view s);

}  // namespace rtcache::protocol
