// Channel keys, the unit of subscription and routing: factory:<id>, doc:<type>:<id>, list:<type>:<factoryId>.
// A strict grammar: anything else is refused with a reason, never half-parsed.
#pragma once

#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/error.hpp"

#include <compare>
#include <cstddef>
#include <string>
#include <string_view>

namespace rtcache::core {

enum class channel_kind { factory, doc, list };

std::string_view to_string(channel_kind kind) noexcept;

// The longest well-formed key: "list:" + type + ":" + id, or "doc:" + type + ":" + id.
inline constexpr std::size_t k_max_channel_key_length = 5 + k_max_doc_type_length + 1 + 64;

// A parsed, valid channel key. Fields not used by a kind are empty:
//   factory -> factory_id;  doc -> type, id;  list -> type, factory_id.
struct channel_key {
  channel_kind kind{};
  std::string type;
  std::string id;
  std::string factory_id;

  static channel_key factory(std::string factory_id);
  static channel_key doc(std::string type, std::string id);
  static channel_key list(std::string type, std::string factory_id);

  // The canonical text form; parse(format(k)) == k for every valid k.
  std::string format() const;

  friend auto operator<=>(const channel_key&, const channel_key&) = default;
};

// Parses `text` against the grammar and the registry. Errors: empty, too_long, bad_prefix,
// bad_segment_count, empty_segment, bad_char (with the offending byte's position), unknown_doc_type.
result<channel_key> parse_channel_key(std::string_view text, const doc_type_registry& types);

}  // namespace rtcache::core
