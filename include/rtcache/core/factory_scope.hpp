// Factory scope: the set of factories a client or connection may see. Every event is checked against it
// before it touches a cache or a socket; service_role is unscoped.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::core {

// Thread-safety: immutable after construction.
class factory_scope {
 public:
  // Sees every factory (service_role).
  static factory_scope unscoped();
  // Sees exactly these factories; an empty list sees none.
  static factory_scope of(std::vector<std::string> factory_ids);
  static factory_scope of(std::initializer_list<std::string_view> factory_ids);

  bool is_unscoped() const noexcept { return unscoped_; }
  bool contains(std::string_view factory_id) const noexcept;
  const std::vector<std::string>& factory_ids() const noexcept { return ids_; }

 private:
  factory_scope(bool unscoped, std::vector<std::string> ids);
  bool unscoped_;
  std::vector<std::string> ids_;  // sorted, unique
};

}  // namespace rtcache::core
