// The registry of document types a deployment routes: the `type` in doc:<type>:<id>, list:<type>:<f>
// and in every contract event. Configured once at start-up, then read-only.
#pragma once

#include "rtcache/core/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::core {

inline constexpr std::size_t k_max_doc_type_length = 32;

// Thread-safety: immutable after construction; safe to share between threads.
class doc_type_registry {
 public:
  // The playbook's types: wo pl dn grn lot pu invoice price_list.
  static doc_type_registry defaults();

  // Builds a registry from configured names. Each name must match [a-z][a-z0-9_]{0,31};
  // duplicates and an empty list are refused.
  static result<doc_type_registry> from(const std::vector<std::string>& names);

  bool contains(std::string_view type) const noexcept;
  const std::vector<std::string>& names() const noexcept { return names_; }

  // Syntax check of one name, independent of any registry.
  static result<void> validate_name(std::string_view name);

 private:
  explicit doc_type_registry(std::vector<std::string> sorted_names) : names_(std::move(sorted_names)) {}
  std::vector<std::string> names_;  // sorted, unique
};

}  // namespace rtcache::core
