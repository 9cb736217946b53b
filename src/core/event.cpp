// Actions and the patch-coverage rule of the event contract.
#include "rtcache/core/event.hpp"

#include "rtcache/core/json_text.hpp"

#include <algorithm>

namespace rtcache::core {

std::string_view to_string(action a) noexcept {
  switch (a) {
    case action::create: return "create";
    case action::update: return "update";
    case action::del: return "delete";
    case action::approve: return "approve";
    case action::reject: return "reject";
  }
  return "unknown";
}

result<action> parse_action(std::string_view text) {
  if (text == "create") return action::create;
  if (text == "update") return action::update;
  if (text == "delete") return action::del;
  if (text == "approve") return action::approve;
  if (text == "reject") return action::reject;
  return error{errc::unknown_action,
               "action '" + printable(text) + "' is not one of create, update, delete, approve, reject"};
}

bool event::patch_covers_changes() const {
  if (!changed_keys || !patch || changed_keys->empty()) return false;
  return std::all_of(changed_keys->begin(), changed_keys->end(), [this](const std::string& key) {
    return std::any_of(patch->begin(), patch->end(), [&](const patch_entry& p) { return p.column == key; });
  });
}

}  // namespace rtcache::core
