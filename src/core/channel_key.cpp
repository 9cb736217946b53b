// Channel key grammar:  factory:<id> | doc:<type>:<id> | list:<type>:<factoryId>
#include "rtcache/core/channel_key.hpp"

#include "rtcache/core/json_text.hpp"
#include "rtcache/core/identifier.hpp"

#include <array>
#include <vector>

namespace rtcache::core {

std::string_view to_string(channel_kind kind) noexcept {
  switch (kind) {
    case channel_kind::factory: return "factory";
    case channel_kind::doc: return "doc";
    case channel_kind::list: return "list";
  }
  return "unknown";
}

channel_key channel_key::factory(std::string factory_id) {
  return {channel_kind::factory, {}, {}, std::move(factory_id)};
}
channel_key channel_key::doc(std::string type, std::string id) {
  return {channel_kind::doc, std::move(type), std::move(id), {}};
}
channel_key channel_key::list(std::string type, std::string factory_id) {
  return {channel_kind::list, std::move(type), {}, std::move(factory_id)};
}

std::string channel_key::format() const {
  switch (kind) {
    case channel_kind::factory: return "factory:" + factory_id;
    case channel_kind::doc: return "doc:" + type + ":" + id;
    case channel_kind::list: return "list:" + type + ":" + factory_id;
  }
  return {};
}

namespace {

// Splits on ':' into at most 4 parts (one more than any kind needs, so extras are detected).
std::vector<std::string_view> split(std::string_view text) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (parts.size() < 3) {
    const auto pos = text.find(':', start);
    if (pos == std::string_view::npos) break;
    parts.push_back(text.substr(start, pos - start));
    start = pos + 1;
  }
  parts.push_back(text.substr(start));
  return parts;
}

error with_context(error e, std::string_view text) {
  e.message = "channel key '" + printable(text) + "': " + e.message;
  return e;
}

// Validates an id segment that starts at byte `offset` of the key; a bad character is reported by its
// position in the whole key, which is what a person reading the key counts.
result<void> check_id_segment(std::string_view text, std::size_t offset, std::size_t len, std::string_view what) {
  const std::string_view id = text.substr(offset, len);
  auto ok = validate_id(id, what);
  if (ok || ok.error().code != errc::bad_char) return ok;
  std::size_t bad = 0;
  while (bad < id.size() && validate_id(id.substr(bad, 1), what)) ++bad;
  return error{errc::bad_char, std::string(what) + " has a character outside [A-Za-z0-9_.-] at position " +
                                   std::to_string(offset + bad) + " of the key: '" + printable(id.substr(bad, 1)) + "'"};
}

}  // namespace

result<channel_key> parse_channel_key(std::string_view text, const doc_type_registry& types) {
  if (text.empty()) return error{errc::empty, "channel key is empty"};
  if (text.size() > k_max_channel_key_length) {
    return error{errc::too_long, "channel key is " + std::to_string(text.size()) + " bytes; the limit is " +
                                     std::to_string(k_max_channel_key_length)};
  }
  const auto parts = split(text);
  const std::string_view prefix = parts[0];
  std::size_t want = 0;
  channel_kind kind{};
  if (prefix == "factory") {
    kind = channel_kind::factory;
    want = 2;
  } else if (prefix == "doc") {
    kind = channel_kind::doc;
    want = 3;
  } else if (prefix == "list") {
    kind = channel_kind::list;
    want = 3;
  } else {
    return with_context({errc::bad_prefix, "must start with factory:, doc: or list:"}, text);
  }
  // With fewer than 4 parts the last one holds no ':'; a 4th part means at least one ':' too many.
  if (parts.size() != want) {
    return with_context({errc::bad_segment_count, std::string(to_string(kind)) + " keys have " +
                                                      std::to_string(want) + " ':'-separated segments, not " +
                                                      (parts.size() > want ? "more" : "fewer")},
                        text);
  }
  for (std::size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].empty()) {
      return with_context({errc::empty_segment, "segment " + std::to_string(i + 1) + " is empty"}, text);
    }
  }
  if (kind == channel_kind::factory) {
    if (auto ok = check_id_segment(text, prefix.size() + 1, parts[1].size(), "factory id"); !ok) {
      return with_context(ok.error(), text);
    }
    return channel_key::factory(std::string(parts[1]));
  }
  if (auto ok = doc_type_registry::validate_name(parts[1]); !ok) return with_context(ok.error(), text);
  if (!types.contains(parts[1])) {
    return with_context({errc::unknown_doc_type, "doc type '" + std::string(parts[1]) + "' is not configured"}, text);
  }
  const std::size_t id_offset = prefix.size() + 1 + parts[1].size() + 1;
  if (kind == channel_kind::doc) {
    if (auto ok = check_id_segment(text, id_offset, parts[2].size(), "doc id"); !ok) return with_context(ok.error(), text);
    return channel_key::doc(std::string(parts[1]), std::string(parts[2]));
  }
  if (auto ok = check_id_segment(text, id_offset, parts[2].size(), "factory id"); !ok) {
    return with_context(ok.error(), text);
  }
  return channel_key::list(std::string(parts[1]), std::string(parts[2]));
}

}  // namespace rtcache::core
