#include "json_text.hpp"

#include <array>
#include <cstdint>

namespace rtcache::core {

namespace {
constexpr std::array<char, 16> k_hex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                        '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    const auto u = static_cast<std::uint8_t>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out.push_back(k_hex[u >> 4U]);
          out.push_back(k_hex[u & 0xFU]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string printable(std::string_view s) {
  constexpr std::size_t k_max = 40;
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < k_max; ++i) {
    const auto u = static_cast<std::uint8_t>(s[i]);
    if (u >= 0x20 && u < 0x7f) {
      out.push_back(s[i]);
    } else {
      out += "\\x";
      out.push_back(k_hex[u >> 4U]);
      out.push_back(k_hex[u & 0xFU]);
    }
  }
  if (s.size() > k_max) out += "...";
  return out;
}

}  // namespace rtcache::core
