// Join and delivery decisions against a principal's factory scope (docs/design.md §4). Decided once per
// subscription; per event only may_deliver runs, a binary search in a small sorted vector.
#include "auth/auth.hpp"

namespace rtcache::auth {

join_decision authorize_join(const principal& who, const core::channel_key& key) {
  if (who.scope.is_unscoped()) return {join_verdict::allowed, {}};
  switch (key.kind) {
    case core::channel_kind::doc:
      // The doc's factory is a property of the row, not of the key: the channel is open, its events filtered.
      return {join_verdict::allowed_filtered, {}};
    case core::channel_kind::list:
    case core::channel_kind::factory:
      if (who.scope.contains(key.factory_id)) return {join_verdict::allowed, {}};
      return {join_verdict::refused,
              "Unauthorized: You do not have permissions to read from this Channel topic: " + key.format()};
  }
  return {join_verdict::refused, "Unauthorized: unknown channel kind"};
}

bool may_deliver(const principal& who, std::string_view factory_id) noexcept {
  return who.scope.contains(factory_id);
}

std::string revoked_message(const core::channel_key& key) {
  return "You no longer have permission to read from this Channel topic: " + key.format();
}

}  // namespace rtcache::auth
