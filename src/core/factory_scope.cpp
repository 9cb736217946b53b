#include "rtcache/core/factory_scope.hpp"

#include <algorithm>

namespace rtcache::core {

factory_scope::factory_scope(bool unscoped, std::vector<std::string> ids) : unscoped_(unscoped), ids_(std::move(ids)) {
  std::sort(ids_.begin(), ids_.end());
  ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
}

factory_scope factory_scope::unscoped() { return {true, {}}; }

factory_scope factory_scope::of(std::vector<std::string> factory_ids) { return {false, std::move(factory_ids)}; }

factory_scope factory_scope::of(std::initializer_list<std::string_view> factory_ids) {
  return {false, std::vector<std::string>(factory_ids.begin(), factory_ids.end())};
}

bool factory_scope::contains(std::string_view factory_id) const noexcept {
  return unscoped_ || std::binary_search(ids_.begin(), ids_.end(), factory_id);
}

}  // namespace rtcache::core
