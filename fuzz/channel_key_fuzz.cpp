// Fuzz target for the channel key grammar (the unit of subscription and routing): untrusted bytes from a
// join request go through parse_channel_key, so every accepted key must be exactly the text that came in.
//
// Properties, each checked against two registries (the playbook's defaults and one with short,
// prefix-sharing names):
//   1. parse succeeds exactly when an independent reading of the grammar in channel_key.hpp and
//      identifier.hpp accepts the text (strict: nothing is half-parsed or normalised);
//   2. on success, format() reproduces the input byte for byte and parse(format()) == key;
//   3. on success, the fields match the kind (unused fields empty) and respect the bounds;
//   4. on failure, the error code is one of the channel key codes and the message is not empty.
// A violated property traps (libFuzzer then records the input as a crash).

#include "fuzz_check.hpp"
#include "rtcache/core/channel_key.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/identifier.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace rtcache::core;

// The id grammar, read from identifier.hpp rather than from the implementation: 1..64 of [A-Za-z0-9_.-].
bool is_id(std::string_view s) {
  if (s.empty() || s.size() > k_max_id_length) return false;
  for (const char c : s) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

// The grammar of channel_key.hpp: factory:<id> | doc:<type>:<id> | list:<type>:<factoryId>.
bool grammar_accepts(std::string_view text, const doc_type_registry& types) {
  const std::vector<std::string_view> parts = split(text, ':');
  if (parts[0] == "factory") return parts.size() == 2 && is_id(parts[1]);
  if (parts[0] == "doc" || parts[0] == "list") {
    return parts.size() == 3 && types.contains(parts[1]) && is_id(parts[2]);
  }
  return false;
}

bool is_channel_key_error(errc code) {
  switch (code) {
    case errc::empty:
    case errc::too_long:
    case errc::bad_prefix:
    case errc::bad_segment_count:
    case errc::empty_segment:
    case errc::bad_char:
    case errc::unknown_doc_type: return true;
    default: return false;
  }
}

void check_with(std::string_view text, const doc_type_registry& types) {
  const result<channel_key> parsed = parse_channel_key(text, types);
  const bool expected = grammar_accepts(text, types);

  if (!parsed) {
    FUZZ_CHECK(!expected, "a well-formed key was refused", text);
    FUZZ_CHECK(is_channel_key_error(parsed.error().code), "refused with a code that is not a channel key error", text);
    FUZZ_CHECK(!parsed.error().message.empty(), "refused without a message", text);
    return;
  }
  FUZZ_CHECK(expected, "an ill-formed key was accepted", text);

  const channel_key& key = *parsed;
  FUZZ_CHECK(text.size() <= k_max_channel_key_length, "accepted key over the length bound", text);
  switch (key.kind) {
    case channel_kind::factory:
      FUZZ_CHECK(key.type.empty() && key.id.empty() && is_id(key.factory_id), "factory key fields", text);
      break;
    case channel_kind::doc:
      FUZZ_CHECK(types.contains(key.type) && is_id(key.id) && key.factory_id.empty(), "doc key fields", text);
      break;
    case channel_kind::list:
      FUZZ_CHECK(types.contains(key.type) && key.id.empty() && is_id(key.factory_id), "list key fields", text);
      break;
    default: FUZZ_CHECK(false, "unknown channel_kind", text);
  }

  const std::string formatted = key.format();
  FUZZ_CHECK(formatted == text, "format() does not reproduce the input", text);

  const result<channel_key> reparsed = parse_channel_key(formatted, types);
  FUZZ_CHECK(reparsed.has_value(), "parse(format(k)) refused", text);
  FUZZ_CHECK(*reparsed == key, "parse(format(k)) != k", text);

  // The named constructors build the same key as the parser.
  channel_key built;
  switch (key.kind) {
    case channel_kind::factory: built = channel_key::factory(key.factory_id); break;
    case channel_kind::doc: built = channel_key::doc(key.type, key.id); break;
    case channel_kind::list: built = channel_key::list(key.type, key.factory_id); break;
  }
  FUZZ_CHECK(built == key, "named constructor builds a different key", text);
}

const doc_type_registry& short_names() {
  // Names that are prefixes of each other, to catch a match on a prefix of the type segment.
  static const doc_type_registry registry = doc_type_registry::from({"a", "a_1", "ab", "doc", "list", "z9"}).value();
  return registry;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const doc_type_registry defaults = doc_type_registry::defaults();
  check_with(text, defaults);
  check_with(text, short_names());
  return 0;
}
