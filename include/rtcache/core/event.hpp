// The event contract: what one row change (or one bulk summary) means to a cache.
// {type, id, factoryId, action, changedKeys?, version?, ts?} plus rtcache's patch?, offset? and count?.
#pragma once

#include "rtcache/core/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcache::core {

enum class action { create, update, del, approve, reject };

// "create", "update", "delete", "approve", "reject".
std::string_view to_string(action a) noexcept;
result<action> parse_action(std::string_view text);

// The id of a per-transaction factory summary ({type, id:"*", factoryId, action, count}).
inline constexpr std::string_view k_summary_id = "*";

// One column's new value, as canonical (minified) JSON text: "42", "\"approved\"", "null", "{\"a\":1}".
struct patch_entry {
  std::string column;
  std::string json_value;

  friend bool operator==(const patch_entry&, const patch_entry&) = default;
};

struct event {
  std::string type;        // a registered doc type
  std::string id;          // a document id, or "*" for a summary
  std::string factory_id;  // the owning factory
  action act{action::update};
  std::optional<std::vector<std::string>> changed_keys;  // absent: unknown, clients must invalidate
  std::optional<std::int64_t> version;                    // absent: no version guard
  std::optional<std::string> ts;                          // RFC 3339 commit timestamp
  std::optional<std::vector<patch_entry>> patch;          // new values of allowed columns, sorted by column
  std::optional<std::uint64_t> offset;                    // position in the channel, set by the hub
  std::optional<std::uint64_t> count;                     // rows summarised; only when id == "*"

  bool is_summary() const noexcept { return id == k_summary_id; }

  // True when `patch` holds a value for every changed key (and both are present and non-empty):
  // the only case in which a client may patch instead of refetching.
  bool patch_covers_changes() const;

  friend bool operator==(const event&, const event&) = default;
};

}  // namespace rtcache::core
