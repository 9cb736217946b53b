// Column values from PostgreSQL text output to typed JSON, and the canonical JSON writer routing shares.
#include "routing/mapping_value.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <optional>
#include <system_error>
#include <utility>

namespace rtcache::routing {

namespace {

struct oid_name {
  std::uint32_t oid;
  std::string_view name;
};

// pg_type.typname of the built-in types Supabase reports; arrays carry the element name with a '_' prefix.
constexpr std::array k_type_names = {
    oid_name{16, "bool"},           oid_name{17, "bytea"},
    oid_name{18, "char"},           oid_name{19, "name"},
    oid_name{20, "int8"},           oid_name{21, "int2"},
    oid_name{23, "int4"},           oid_name{24, "regproc"},
    oid_name{25, "text"},           oid_name{26, "oid"},
    oid_name{114, "json"},          oid_name{142, "xml"},
    oid_name{199, "_json"},         oid_name{600, "point"},
    oid_name{650, "cidr"},          oid_name{700, "float4"},
    oid_name{701, "float8"},        oid_name{774, "macaddr8"},
    oid_name{790, "money"},         oid_name{829, "macaddr"},
    oid_name{869, "inet"},          oid_name{1000, "_bool"},
    oid_name{1001, "_bytea"},       oid_name{1005, "_int2"},
    oid_name{1007, "_int4"},        oid_name{1009, "_text"},
    oid_name{1014, "_bpchar"},      oid_name{1015, "_varchar"},
    oid_name{1016, "_int8"},        oid_name{1021, "_float4"},
    oid_name{1022, "_float8"},      oid_name{1028, "_oid"},
    oid_name{1041, "_inet"},        oid_name{1042, "bpchar"},
    oid_name{1043, "varchar"},      oid_name{1082, "date"},
    oid_name{1083, "time"},         oid_name{1114, "timestamp"},
    oid_name{1115, "_timestamp"},   oid_name{1182, "_date"},
    oid_name{1183, "_time"},        oid_name{1184, "timestamptz"},
    oid_name{1185, "_timestamptz"}, oid_name{1186, "interval"},
    oid_name{1187, "_interval"},    oid_name{1231, "_numeric"},
    oid_name{1266, "timetz"},       oid_name{1270, "_timetz"},
    oid_name{1560, "bit"},          oid_name{1562, "varbit"},
    oid_name{1700, "numeric"},      oid_name{2950, "uuid"},
    oid_name{2951, "_uuid"},        oid_name{3220, "pg_lsn"},
    oid_name{3614, "tsvector"},     oid_name{3802, "jsonb"},
    oid_name{3807, "_jsonb"},       oid_name{3904, "int4range"},
    oid_name{3906, "numrange"},     oid_name{3908, "tsrange"},
    oid_name{3910, "tstzrange"},    oid_name{3912, "daterange"},
    oid_name{3926, "int8range"},
};

// A finite decimal as sign, significant digits (no leading or trailing zeros) and the power of ten of the
// first digit, so that equal values compare equal whatever their spelling ("12.50" == "1.25e1").
struct decimal {
  bool negative = false;
  std::string digits;  // empty for zero
  long exponent = 0;
  friend bool operator==(const decimal&, const decimal&) = default;
};

std::optional<decimal> parse_decimal(std::string_view s) {
  decimal d;
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) d.negative = s[i++] == '-';
  long point = -1;  // digits before the decimal point
  long seen = 0;
  bool any = false;
  std::string raw;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      raw.push_back(c);
      ++seen;
      any = true;
    } else if (c == '.' && point < 0) {
      point = seen;
    } else {
      break;
    }
  }
  if (!any) return std::nullopt;
  if (point < 0) point = seen;
  long exp10 = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    const char* first = s.data() + i;
    if (i < s.size() && s[i] == '+') ++first;
    const auto r = std::from_chars(first, s.data() + s.size(), exp10);
    if (r.ec != std::errc{} || r.ptr != s.data() + s.size()) return std::nullopt;
    i = s.size();
  }
  if (i != s.size()) return std::nullopt;
  const auto lead = raw.find_first_not_of('0');
  if (lead == std::string::npos) return decimal{};  // zero, any sign
  const auto trail = raw.find_last_not_of('0');
  d.digits = raw.substr(lead, trail - lead + 1);
  d.exponent = point - static_cast<long>(lead) - 1 + exp10;
  return d;
}

typed_value as_string(std::string_view text, bool exact) {
  return {boost::json::string(text), exact};
}

typed_value integer_value(std::string_view text) {
  std::int64_t v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc{} || r.ptr != text.data() + text.size()) return as_string(text, false);
  return {v, true};
}

typed_value number_value(std::string_view text) {
  if (text == "NaN" || text == "Infinity" || text == "-Infinity") return as_string(text, true);
  const auto dec = parse_decimal(text);
  if (!dec) return as_string(text, false);
  // Integers that fit int64 stay integers (numeric ids, counts); JSON has no integer/float distinction.
  if (text.find_first_of(".eE") == std::string_view::npos) {
    std::int64_t i = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), i);
    if (r.ec == std::errc{} && r.ptr == text.data() + text.size()) return {i, true};
  }
  double d = 0;
  const auto r = std::from_chars(text.data() + (text.front() == '+' ? 1 : 0), text.data() + text.size(), d);
  if (r.ec != std::errc{} || r.ptr != text.data() + text.size() || !std::isfinite(d)) {
    return as_string(text, false);  // beyond double's range: only the text carries it
  }
  std::array<char, 64> buf{};
  const auto w = std::to_chars(buf.data(), buf.data() + buf.size(), d);
  const auto back = parse_decimal(std::string_view(buf.data(), static_cast<std::size_t>(w.ptr - buf.data())));
  auto want = *dec;
  if (want.digits.empty()) want.negative = false;  // -0 == 0
  auto got = back.value_or(decimal{});
  if (got.digits.empty()) got.negative = false;
  return {d, got == want};
}

// Whether every number in `v` is finite. Boost.JSON parses a number beyond double's range (PostgreSQL's jsonb
// keeps 1e999 as a numeric) as an infinity, which JSON cannot carry.
bool all_numbers_finite(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::double_: return std::isfinite(v.get_double());
    case boost::json::kind::array:
      for (const auto& item : v.get_array()) {
        if (!all_numbers_finite(item)) return false;
      }
      return true;
    case boost::json::kind::object:
      for (const auto& member : v.get_object()) {
        if (!all_numbers_finite(member.value())) return false;
      }
      return true;
    default: return true;
  }
}

typed_value json_value(std::string_view text) {
  boost::json::parse_options opts;
  opts.max_depth = 32;
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec, {}, opts);
  // A number beyond double's range: only the text carries it, as for a numeric column.
  if (ec || !all_numbers_finite(v)) return as_string(text, false);
  return {std::move(v), true};
}

}  // namespace

std::string pg_type_name(std::uint32_t type_oid, std::string_view fallback_name) {
  for (const auto& t : k_type_names) {
    if (t.oid == type_oid) return std::string(t.name);
  }
  if (!fallback_name.empty()) return std::string(fallback_name);
  return std::to_string(type_oid);
}

typed_value type_text_value(std::uint32_t type_oid, std::string_view text) {
  switch (type_oid) {
    case pg_oid::bool_:
      if (text == "t") return {true, true};
      if (text == "f") return {false, true};
      return as_string(text, false);
    case pg_oid::int2:
    case pg_oid::int4:
    case pg_oid::int8:
    case pg_oid::oid: return integer_value(text);
    case pg_oid::float4:
    case pg_oid::float8:
    case pg_oid::numeric: return number_value(text);
    case pg_oid::json:
    case pg_oid::jsonb: return json_value(text);
    default: return as_string(text, true);
  }
}

json_written append_typed_json(std::string& out, std::uint32_t type_oid, std::string_view text) {
  switch (type_oid) {
    case pg_oid::bool_:
      if (text == "t") {
        out += "true";
        return {true, false};
      }
      if (text == "f") {
        out += "false";
        return {true, false};
      }
      append_json_string(out, text);
      return {false, true};
    case pg_oid::int2:
    case pg_oid::int4:
    case pg_oid::int8:
    case pg_oid::oid: {
      std::int64_t v = 0;
      const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
      if (r.ec != std::errc{} || r.ptr != text.data() + text.size()) {
        append_json_string(out, text);
        return {false, true};
      }
      std::array<char, 24> buf{};
      const auto w = std::to_chars(buf.data(), buf.data() + buf.size(), v);
      out.append(buf.data(), w.ptr);
      return {true, false};
    }
    case pg_oid::float4:
    case pg_oid::float8:
    case pg_oid::numeric:
    case pg_oid::json:
    case pg_oid::jsonb: {
      const typed_value tv = type_text_value(type_oid, text);
      append_json(out, tv.value);
      return {tv.exact, tv.value.is_string()};
    }
    default: append_json_string(out, text); return {true, true};
  }
}

void append_json(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; return;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; return;
    case boost::json::kind::int64: out += std::to_string(v.get_int64()); return;
    case boost::json::kind::uint64: out += std::to_string(v.get_uint64()); return;
    case boost::json::kind::double_: core::append_es_number(out, v.get_double()); return;
    case boost::json::kind::string: {
      const auto& s = v.get_string();
      append_json_string(out, std::string_view(s.data(), s.size()));
      return;
    }
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out += ',';
        first = false;
        append_json(out, item);
      }
      out += ']';
      return;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, std::string_view(kv.key().data(), kv.key().size()));
        out += ':';
        append_json(out, kv.value());
      }
      out += '}';
      return;
    }
  }
}

}  // namespace rtcache::routing
