#include "rtcache/core/json_text.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <string>

namespace rtcache::core {

namespace {
constexpr std::array<char, 16> k_hex = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
}

void append_json_string(std::string& out, std::string_view s) {
  // Runs of bytes that need no escape are appended whole: most values have none (a per-byte append was the
  // WAL path's largest cost after the DOM went, issue 3).
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  std::size_t run = 0;  // start of the bytes not yet appended
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const auto u = static_cast<std::uint8_t>(c);
    if (u >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out.push_back(k_hex[u >> 4U]);
        out.push_back(k_hex[u & 0xFU]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

void append_es_number(std::string& out, double v) {
  if (v == 0) {  // also -0
    out += '0';
    return;
  }
  std::array<char, 64> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::scientific);
  std::string_view sci(buf.data(), static_cast<std::size_t>(r.ptr - buf.data()));  // -d.ddde+XX
  if (sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  const auto e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits.push_back(c);
  }
  int exp10 = 0;
  std::from_chars(sci.data() + e_pos + (sci[e_pos + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exp10);
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<std::size_t>(n));
    out += '.';
    out.append(digits, static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += n - 1 >= 0 ? "e+" : "e-";
    out += std::to_string(n - 1 >= 0 ? n - 1 : 1 - n);
  }
}

std::string printable(std::string_view s, std::size_t max_bytes) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max_bytes; ++i) {
    const auto u = static_cast<std::uint8_t>(s[i]);
    if (u >= 0x20 && u < 0x7f && u != '\\') {
      out.push_back(s[i]);
    } else {
      out += "\\x";
      out.push_back(k_hex[u >> 4U]);
      out.push_back(k_hex[u & 0xFU]);
    }
  }
  if (s.size() > max_bytes) out += "...";
  return out;
}

}  // namespace rtcache::core
