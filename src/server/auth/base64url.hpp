// Strict base64url (RFC 4648 §5) for JWS segments: the only way token bytes become data.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rtcache::auth::detail {

// Decodes unpadded base64url. Refuses (nullopt) '=', whitespace, '+', '/', any other byte outside
// [A-Za-z0-9_-], a length of 1 mod 4, and non-zero unused trailing bits, so every byte string has exactly one
// accepted encoding (no malleable signatures or payloads). The empty text decodes to the empty string.
std::optional<std::string> base64url_decode(std::string_view text);

// Encodes without padding; base64url_decode(base64url_encode(s)) == s.
std::string base64url_encode(std::string_view bytes);

}  // namespace rtcache::auth::detail
