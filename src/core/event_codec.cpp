// The event contract's JSON codec. Decoding: simdjson DOM, every field checked where it is read.
// Encoding: canonical field order, patch sorted by column, values minified.
#include "rtcache/core/event_codec.hpp"

#include "rtcache/core/identifier.hpp"
#include "rtcache/core/json_text.hpp"
#include "rtcache/core/json_type_name.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <limits>

namespace rtcache::core {

namespace {

namespace dom = simdjson::dom;

error field_error(errc code, std::string_view field, const std::string& what) {
  return error{code, "field '" + std::string(field) + "' " + what};
}

error wrong_type(std::string_view field, std::string_view want, dom::element value) {
  return field_error(errc::wrong_type, field,
                     "must be " + std::string(want) + ", not " + std::string(json_type_name(value.type())));
}

result<std::string_view> get_string(std::string_view field, dom::element value) {
  std::string_view s;
  if (value.get_string().get(s) != simdjson::SUCCESS) return wrong_type(field, "a string", value);
  return s;
}

// A non-negative integer that fits `max`; floats (even 5.0) are refused: versions and offsets are exact.
result<std::uint64_t> get_unsigned(std::string_view field, dom::element value, std::uint64_t max) {
  switch (value.type()) {
    case dom::element_type::INT64: {
      const std::int64_t v = value.get_int64().value_unsafe();
      if (v < 0) return field_error(errc::bad_value, field, "must not be negative, got " + std::to_string(v));
      if (static_cast<std::uint64_t>(v) > max) {
        return field_error(errc::bad_value, field, "must be at most " + std::to_string(max));
      }
      return static_cast<std::uint64_t>(v);
    }
    case dom::element_type::UINT64: {
      const std::uint64_t v = value.get_uint64().value_unsafe();
      if (v > max) return field_error(errc::bad_value, field, "must be at most " + std::to_string(max));
      return v;
    }
    case dom::element_type::DOUBLE:
      return field_error(errc::bad_value, field, "must be an integer, got a fractional or exponent number");
    default: return wrong_type(field, "an integer", value);
  }
}

// Column names as PostgreSQL allows them, minus control bytes; bounded like NAMEDATALEN.
result<void> check_column(std::string_view field, std::string_view column, const codec_limits& limits) {
  if (column.empty()) return field_error(errc::empty, field, "holds an empty column name");
  if (column.size() > limits.max_column_length) {
    return field_error(errc::too_long, field,
                       "holds a column name of " + std::to_string(column.size()) + " bytes; the limit is " +
                           std::to_string(limits.max_column_length));
  }
  for (char c : column) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return field_error(errc::bad_char, field, "holds a column name with a control character");
    }
  }
  return {};
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, int lo, int hi) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  return v >= lo && v <= hi;
}

int number_at(std::string_view s, std::size_t pos, std::size_t n) {
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

// REQUIRES: s[0..10) is a syntactically valid YYYY-MM-DD.
bool day_exists(std::string_view s) {
  const int year = number_at(s, 0, 4);
  const int month = number_at(s, 5, 2);
  const int day = number_at(s, 8, 2);
  constexpr int k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int last = month == 2 && leap ? 29 : k_days[month - 1];
  return day <= last;
}

// RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM).
bool is_rfc3339(std::string_view s) {
  if (!(digits(s, 0, 4, 0, 9999) && s.size() > 19 && s[4] == '-' && digits(s, 5, 2, 1, 12) && s[7] == '-' &&
        digits(s, 8, 2, 1, 31) && (s[10] == 'T' || s[10] == 't') && digits(s, 11, 2, 0, 23) && s[13] == ':' &&
        digits(s, 14, 2, 0, 59) && s[16] == ':' && digits(s, 17, 2, 0, 60))) {
    return false;
  }
  if (!day_exists(s)) return false;
  std::size_t pos = 19;
  if (s[pos] == '.') {
    const std::size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return false;
  }
  if (pos >= s.size()) return false;
  if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) return true;
  return (s[pos] == '+' || s[pos] == '-') && pos + 6 == s.size() && digits(s, pos + 1, 2, 0, 23) &&
         s[pos + 3] == ':' && digits(s, pos + 4, 2, 0, 59);
}

// True when the integer literal `text` (optional '-', digits) fits int64 (negative) or uint64.
bool fits_64_bits(std::string_view text) {
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (text.front() == '-') {
    std::int64_t v = 0;
    return std::from_chars(first, last, v).ec == std::errc{};
  }
  std::uint64_t v = 0;
  return std::from_chars(first, last, v).ec == std::errc{};
}

// Minified JSON of a patch value: object keys in input order, strings escaped as JSON.stringify does,
// integers exactly, other numbers in ECMAScript form. Depth is bounded by the parser. A nested object
// with a repeated key is refused: parsers disagree on which value wins, so no value is safe to forward.
result<void> append_canonical(std::string& out, dom::element v) {
  switch (v.type()) {
    case dom::element_type::OBJECT: {
      out += '{';
      std::vector<std::string_view> keys;
      for (dom::key_value_pair kv : dom::object(v)) {
        if (std::find(keys.begin(), keys.end(), kv.key) != keys.end()) {
          return error{errc::duplicate_key, "field 'patch' holds a value with key '" + printable(kv.key) + "' twice"};
        }
        if (!keys.empty()) out += ',';
        keys.push_back(kv.key);
        append_json_string(out, kv.key);
        out += ':';
        if (auto ok = append_canonical(out, kv.value); !ok) return ok;
      }
      out += '}';
      return {};
    }
    case dom::element_type::ARRAY: {
      out += '[';
      bool first = true;
      for (dom::element item : dom::array(v)) {
        if (!first) out += ',';
        first = false;
        if (auto ok = append_canonical(out, item); !ok) return ok;
      }
      out += ']';
      return {};
    }
    case dom::element_type::STRING: append_json_string(out, v.get_string().value_unsafe()); return {};
    case dom::element_type::INT64: out += std::to_string(v.get_int64().value_unsafe()); return {};
    case dom::element_type::UINT64: out += std::to_string(v.get_uint64().value_unsafe()); return {};
    case dom::element_type::DOUBLE: {
      // ECMAScript writes integral values below 1e21 as bare digits; beyond 64 bits no JSON parser of
      // ours (simdjson) reads those back, so such a value cannot travel and is refused, not mangled.
      const std::size_t start = out.size();
      append_es_number(out, v.get_double().value_unsafe());
      const std::string_view text = std::string_view(out).substr(start);
      if (text.find_first_of(".e") == std::string_view::npos && !fits_64_bits(text)) {
        return error{errc::bad_value, "field 'patch' holds the integer " + std::string(text) +
                                          ", beyond 64 bits; send it as a string"};
      }
      return {};
    }
    case dom::element_type::BOOL: out += v.get_bool().value_unsafe() ? "true" : "false"; return {};
    case dom::element_type::NULL_VALUE: out += "null"; return {};
  }
  return {};
}

enum field_bit : unsigned {
  f_type = 1U << 0U,
  f_id = 1U << 1U,
  f_factory = 1U << 2U,
  f_action = 1U << 3U,
  f_changed = 1U << 4U,
  f_version = 1U << 5U,
  f_ts = 1U << 6U,
  f_patch = 1U << 7U,
  f_offset = 1U << 8U,
  f_count = 1U << 9U,
};

struct field_desc {
  std::string_view name;
  field_bit bit;
};
constexpr field_desc k_fields[] = {
    {"type", f_type},     {"id", f_id},           {"factoryId", f_factory}, {"action", f_action},
    {"changedKeys", f_changed}, {"version", f_version}, {"ts", f_ts},   {"patch", f_patch},
    {"offset", f_offset}, {"count", f_count},
};

class element_decoder {
 public:
  element_decoder(const doc_type_registry& types, const codec_limits& limits) : types_(types), limits_(limits) {}

  result<event> decode(dom::element root) const {
    dom::object obj;
    if (root.get_object().get(obj) != simdjson::SUCCESS) {
      return error{errc::not_object, "an event must be a JSON object, not " + std::string(json_type_name(root.type()))};
    }
    event e;
    unsigned seen = 0;
    for (dom::key_value_pair kv : obj) {
      const auto* desc = std::find_if(std::begin(k_fields), std::end(k_fields),
                                      [&](const field_desc& f) { return f.name == kv.key; });
      if (desc == std::end(k_fields)) {
        return error{errc::unknown_field, "field '" + printable(kv.key) + "' is not part of the event contract"};
      }
      if ((seen & desc->bit) != 0U) return field_error(errc::duplicate_key, desc->name, "appears twice");
      seen |= desc->bit;
      if (auto ok = read_field(e, desc->bit, desc->name, kv.value); !ok) return ok.error();
    }
    for (const auto& f : {k_fields[0], k_fields[1], k_fields[2], k_fields[3]}) {
      if ((seen & f.bit) == 0U) return field_error(errc::missing_field, f.name, "is required");
    }
    if (e.count && !e.is_summary()) {
      return field_error(errc::bad_value, "count", "is only allowed on a summary (id \"*\")");
    }
    if (e.is_summary() && !e.count) {
      return field_error(errc::missing_field, "count", "is required for a summary (id \"*\")");
    }
    return e;
  }

 private:
  result<void> read_field(event& e, field_bit bit, std::string_view name, dom::element value) const {
    switch (bit) {
      case f_type: {
        auto s = get_string(name, value);
        if (!s) return s.error();
        if (auto ok = doc_type_registry::validate_name(*s); !ok) return field_error(ok.error().code, name, ok.error().message);
        if (!types_.contains(*s)) {
          return field_error(errc::unknown_doc_type, name, "'" + std::string(*s) + "' is not a configured doc type");
        }
        e.type = *s;
        return {};
      }
      case f_id: {
        auto s = get_string(name, value);
        if (!s) return s.error();
        if (*s != k_summary_id) {
          if (auto ok = validate_id(*s, "field 'id'"); !ok) return ok.error();
        }
        e.id = *s;
        return {};
      }
      case f_factory: {
        auto s = get_string(name, value);
        if (!s) return s.error();
        if (auto ok = validate_id(*s, "field 'factoryId'"); !ok) return ok.error();
        e.factory_id = *s;
        return {};
      }
      case f_action: {
        auto s = get_string(name, value);
        if (!s) return s.error();
        auto a = parse_action(*s);
        if (!a) return a.error();
        e.act = *a;
        return {};
      }
      case f_changed: return read_changed_keys(e, name, value);
      case f_version: {
        auto v = get_unsigned(name, value, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
        if (!v) return v.error();
        e.version = static_cast<std::int64_t>(*v);
        return {};
      }
      case f_ts: {
        auto s = get_string(name, value);
        if (!s) return s.error();
        if (s->size() > limits_.max_ts_length) {
          return field_error(errc::too_long, name, "is longer than " + std::to_string(limits_.max_ts_length) + " bytes");
        }
        if (!is_rfc3339(*s)) {
          return field_error(errc::bad_value, name, "'" + printable(*s) + "' is not an RFC 3339 timestamp");
        }
        e.ts = std::string(*s);
        return {};
      }
      case f_patch: return read_patch(e, name, value);
      case f_offset:
      case f_count: {
        auto v = get_unsigned(name, value, std::numeric_limits<std::uint64_t>::max());
        if (!v) return v.error();
        (bit == f_offset ? e.offset : e.count) = *v;
        return {};
      }
    }
    return {};
  }

  result<void> read_changed_keys(event& e, std::string_view name, dom::element value) const {
    dom::array arr;
    if (value.get_array().get(arr) != simdjson::SUCCESS) return wrong_type(name, "an array of strings", value);
    if (arr.size() > limits_.max_changed_keys) {
      return field_error(errc::too_many, name,
                         "has " + std::to_string(arr.size()) + " entries; the limit is " +
                             std::to_string(limits_.max_changed_keys));
    }
    std::vector<std::string> keys;
    keys.reserve(arr.size());
    for (dom::element item : arr) {
      auto s = get_string(name, item);
      if (!s) return s.error();
      if (auto ok = check_column(name, *s, limits_); !ok) return ok.error();
      if (std::find(keys.begin(), keys.end(), *s) != keys.end()) {
        return field_error(errc::duplicate_key, name, "lists '" + printable(*s) + "' twice");
      }
      keys.emplace_back(*s);
    }
    e.changed_keys = std::move(keys);
    return {};
  }

  result<void> read_patch(event& e, std::string_view name, dom::element value) const {
    dom::object obj;
    if (value.get_object().get(obj) != simdjson::SUCCESS) return wrong_type(name, "an object", value);
    if (obj.size() > limits_.max_patch_entries) {
      return field_error(errc::too_many, name,
                         "has " + std::to_string(obj.size()) + " columns; the limit is " +
                             std::to_string(limits_.max_patch_entries));
    }
    std::vector<patch_entry> entries;
    entries.reserve(obj.size());
    for (dom::key_value_pair kv : obj) {
      if (auto ok = check_column(name, kv.key, limits_); !ok) return ok.error();
      std::string value_text;
      if (auto ok = append_canonical(value_text, kv.value); !ok) return ok;
      entries.push_back({std::string(kv.key), std::move(value_text)});
    }
    std::sort(entries.begin(), entries.end(),
              [](const patch_entry& a, const patch_entry& b) { return a.column < b.column; });
    auto dup = std::adjacent_find(entries.begin(), entries.end(),
                                  [](const patch_entry& a, const patch_entry& b) { return a.column == b.column; });
    if (dup != entries.end()) return field_error(errc::duplicate_key, name, "sets '" + printable(dup->column) + "' twice");
    e.patch = std::move(entries);
    return {};
  }

  const doc_type_registry& types_;
  const codec_limits& limits_;
};

error parse_error(simdjson::error_code err, const codec_limits& limits) {
  if (err == simdjson::DEPTH_ERROR) {
    return error{errc::bad_json, "JSON is nested deeper than " + std::to_string(limits.max_depth) + " levels"};
  }
  return error{errc::bad_json, std::string("malformed JSON: ") + simdjson::error_message(err)};
}

// A batch item has no raw byte length of its own; its canonical encoding is bounded instead.
result<event> decode_bounded(const element_decoder& decoder, dom::element item, const codec_limits& limits) {
  auto decoded = decoder.decode(item);
  if (decoded && encode(*decoded).size() > limits.max_event_bytes) {
    return error{errc::too_long, "event encodes to more than " + std::to_string(limits.max_event_bytes) + " bytes"};
  }
  return decoded;
}

}  // namespace

struct event_decoder::impl {
  dom::parser single;  // one event: depth max_depth
  dom::parser batch;   // an array of events: one level more, so each item has the same bound
};

event_decoder::event_decoder(doc_type_registry types, codec_limits limits)
    : types_(std::move(types)), limits_(limits), impl_(std::make_unique<impl>()) {
  // Capacity grows on demand; the depth bound set here is kept when it does.
  if (impl_->single.allocate(4096, limits_.max_depth) != simdjson::SUCCESS ||
      impl_->batch.allocate(4096, limits_.max_depth + 1) != simdjson::SUCCESS) {
    throw std::bad_alloc();
  }
}

event_decoder::~event_decoder() = default;
event_decoder::event_decoder(event_decoder&&) noexcept = default;
event_decoder& event_decoder::operator=(event_decoder&&) noexcept = default;

result<event> event_decoder::decode(std::string_view json) {
  if (json.empty()) return error{errc::empty, "event is empty"};
  if (json.size() > limits_.max_event_bytes) {
    return error{errc::too_long, "event is " + std::to_string(json.size()) + " bytes; the limit is " +
                                     std::to_string(limits_.max_event_bytes)};
  }
  dom::element root;
  if (auto err = impl_->single.parse(json.data(), json.size(), true).get(root); err != simdjson::SUCCESS) {
    return parse_error(err, limits_);
  }
  return element_decoder(types_, limits_).decode(root);
}

result<std::vector<batch_item>> event_decoder::decode_batch(std::string_view json) {
  if (json.empty()) return error{errc::empty, "batch is empty"};
  if (json.size() > limits_.max_batch_bytes) {
    return error{errc::too_long, "batch is " + std::to_string(json.size()) + " bytes; the limit is " +
                                     std::to_string(limits_.max_batch_bytes)};
  }
  dom::element root;
  if (auto err = impl_->batch.parse(json.data(), json.size(), true).get(root); err != simdjson::SUCCESS) {
    return parse_error(err, limits_);
  }
  const element_decoder decoder(types_, limits_);
  std::vector<batch_item> items;
  dom::array arr;
  if (root.get_array().get(arr) != simdjson::SUCCESS) {
    if (root.type() != dom::element_type::OBJECT) {
      return error{errc::not_object, "a batch must be an event object or an array of them, not " +
                                         std::string(json_type_name(root.type()))};
    }
    items.push_back({0, decode(json)});  // the single-event parser keeps the depth bound exact
    return items;
  }
  if (arr.size() > limits_.max_batch_items) {
    return error{errc::too_many, "batch has " + std::to_string(arr.size()) + " events; the limit is " +
                                     std::to_string(limits_.max_batch_items)};
  }
  items.reserve(arr.size());
  std::size_t index = 0;
  for (dom::element item : arr) {
    items.push_back({index++, decode_bounded(decoder, item, limits_)});
  }
  return items;
}

void encode_to(std::string& out, const event& e) {
  out += "{\"type\":";
  append_json_string(out, e.type);
  out += ",\"id\":";
  append_json_string(out, e.id);
  out += ",\"factoryId\":";
  append_json_string(out, e.factory_id);
  out += ",\"action\":\"";
  out += to_string(e.act);
  out += '"';
  if (e.changed_keys) {
    out += ",\"changedKeys\":[";
    for (std::size_t i = 0; i < e.changed_keys->size(); ++i) {
      if (i != 0) out += ',';
      append_json_string(out, (*e.changed_keys)[i]);
    }
    out += ']';
  }
  if (e.version) {
    out += ",\"version\":";
    out += std::to_string(*e.version);
  }
  if (e.ts) {
    out += ",\"ts\":";
    append_json_string(out, *e.ts);
  }
  if (e.patch) {
    out += ",\"patch\":{";
    for (std::size_t i = 0; i < e.patch->size(); ++i) {
      if (i != 0) out += ',';
      append_json_string(out, (*e.patch)[i].column);
      out += ':';
      out += (*e.patch)[i].json_value;
    }
    out += '}';
  }
  if (e.offset) {
    out += ",\"offset\":";
    out += std::to_string(*e.offset);
  }
  if (e.count) {
    out += ",\"count\":";
    out += std::to_string(*e.count);
  }
  out += '}';
}

std::string encode(const event& e) {
  std::string out;
  out.reserve(128);
  encode_to(out, e);
  return out;
}

}  // namespace rtcache::core
