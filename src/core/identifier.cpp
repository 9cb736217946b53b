// The id grammar: 1..64 bytes of [A-Za-z0-9_.-].
#include "rtcache/core/identifier.hpp"

#include "rtcache/core/json_text.hpp"

#include <string>

namespace rtcache::core {

namespace {
constexpr bool is_id_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}
}  // namespace

result<void> validate_id(std::string_view id, std::string_view what) {
  if (id.empty()) return error{errc::empty, std::string(what) + " is empty"};
  if (id.size() > k_max_id_length) {
    return error{errc::too_long, std::string(what) + " is " + std::to_string(id.size()) +
                                     " bytes; the limit is " + std::to_string(k_max_id_length)};
  }
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (!is_id_char(id[i])) {
      return error{errc::bad_char, std::string(what) + " has a character outside [A-Za-z0-9_.-] at position " +
                                       std::to_string(i) + ": '" + printable(id.substr(i, 1)) + "'"};
    }
  }
  return {};
}

}  // namespace rtcache::core
