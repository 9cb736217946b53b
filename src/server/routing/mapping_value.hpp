// Column values from PostgreSQL's text output to JSON, typed by the column's type OID, and the one JSON
// writer routing uses (canonical: the bytes core's event codec produces for the same value).
#pragma once

#include "rtcache/core/json_text.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace rtcache::routing {

// Built-in type OIDs (pg_type.h) that typing and naming know.
namespace pg_oid {
inline constexpr std::uint32_t bool_ = 16, bytea = 17, char_ = 18, name = 19, int8 = 20, int2 = 21, int4 = 23,
                               text = 25, oid = 26, json = 114, xml = 142, float4 = 700, float8 = 701, money = 790,
                               bpchar = 1042, varchar = 1043, date = 1082, time = 1083, timestamp = 1114,
                               timestamptz = 1184, interval = 1186, timetz = 1266, numeric = 1700, uuid = 2950,
                               jsonb = 3802;
}  // namespace pg_oid

// The type's name as Supabase reports it in `columns` ("int4", "timestamptz", "_int4" for int4[]).
// Unknown OIDs: `fallback_name` when not empty (the name from a pgoutput Type message), else the OID as text.
std::string pg_type_name(std::uint32_t type_oid, std::string_view fallback_name = {});

// A typed value. `exact` is false when the JSON value does not carry the text's value exactly (a numeric
// with more digits than a double holds) or the text was not what the type promises (then `value` is the
// text as a string); such values are fine for a postgres_changes record but never ride in a patch.
struct typed_value {
  boost::json::value value;
  bool exact = true;
};

// Types a text value:
//   bool (t/f)                    -> true / false
//   int2, int4, int8, oid         -> integer
//   float4, float8, numeric       -> number; NaN, Infinity, -Infinity -> that string
//   json, jsonb                   -> the parsed JSON value (depth <= 32; invalid -> string, exact=false)
//   anything else                 -> string (the text output unchanged)
typed_value type_text_value(std::uint32_t type_oid, std::string_view text);

// What append_typed_json wrote: whether the value is exact (typed_value::exact) and whether it went out as a
// JSON string.
struct json_written {
  bool exact = true;
  bool string = false;
};

// Appends the JSON of type_text_value(type_oid, text).value, byte for byte as append_json writes it, without
// building the value for the common types (text-like, bool, integers).
json_written append_typed_json(std::string& out, std::uint32_t type_oid, std::string_view text);

// Appends `v` as minified JSON: object keys in their order, strings escaped as JSON.stringify does, integers
// exactly, doubles in ECMAScript Number form (shortest round trip). Equal to core::encode's patch bytes.
void append_json(std::string& out, const boost::json::value& v);
using core::append_json_string;  // one escaper for every producer of JSON text

}  // namespace rtcache::routing
