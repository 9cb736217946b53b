// The doc type registry: configured names, validated once, looked up on every key and event.
#include "rtcache/core/doc_types.hpp"

#include "rtcache/core/json_text.hpp"

#include <algorithm>

namespace rtcache::core {

result<void> doc_type_registry::validate_name(std::string_view name) {
  if (name.empty()) return error{errc::empty, "doc type is empty"};
  if (name.size() > k_max_doc_type_length) {
    return error{errc::too_long, "doc type '" + printable(name) + "' is " + std::to_string(name.size()) +
                                     " bytes; the limit is " + std::to_string(k_max_doc_type_length)};
  }
  if (name[0] < 'a' || name[0] > 'z') {
    return error{errc::bad_char, "doc type '" + printable(name) + "' must start with a lowercase letter"};
  }
  for (std::size_t i = 1; i < name.size(); ++i) {
    const char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return error{errc::bad_char, "doc type '" + printable(name) + "' has a character outside [a-z0-9_] at position " +
                                       std::to_string(i)};
    }
  }
  return {};
}

doc_type_registry doc_type_registry::defaults() {
  return from({"wo", "pl", "dn", "grn", "lot", "pu", "invoice", "price_list"}).value();
}

result<doc_type_registry> doc_type_registry::from(const std::vector<std::string>& names) {
  if (names.empty()) return error{errc::empty, "the doc type list is empty"};
  std::vector<std::string> sorted;
  sorted.reserve(names.size());
  for (const auto& n : names) {
    if (auto ok = validate_name(n); !ok) return ok.error();
    sorted.push_back(n);
  }
  std::sort(sorted.begin(), sorted.end());
  if (auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end()) {
    return error{errc::duplicate_key, "doc type '" + *dup + "' is listed twice"};
  }
  return doc_type_registry(std::move(sorted));
}

bool doc_type_registry::contains(std::string_view type) const noexcept {
  return std::binary_search(names_.begin(), names_.end(), type);
}

}  // namespace rtcache::core
