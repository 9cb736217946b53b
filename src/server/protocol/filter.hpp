// postgres_changes filters (`id=eq.1`, `status=in.(open,closed),priority=gte.3`): parsed once at join time,
// evaluated per change as a pure function of the row.
//
// Grammar (what Supabase Realtime and realtime-js's postgresChangesFilter() builder produce):
//   filter     := condition ( ',' condition )*          -- conditions are ANDed
//   condition  := column '=' op                          -- spaces around parts are trimmed
//   op         := ('eq'|'neq'|'lt'|'lte'|'gt'|'gte') '.' value
//              |  'in' '.(' value ( ',' value )* ')'
//              |  'is.null' | 'not.is.null'
//   value      := '"' ( char | '\' char )* '"'           -- PostgREST quoting, as the builder emits
//              |  unquoted                               -- up to the next ',' outside quotes; '\,' is a
//                                                           literal comma; '(' and ')' are refused here
// A column is 1..63 bytes (PostgreSQL's identifier bound) without '=', ',', '(', ')', '"', '\' or space.
#pragma once

#include "rtcache/core/error.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::protocol {

enum class filter_op { eq, neq, lt, lte, gt, gte, in, is_null, not_null };

// "eq", ..., "in", "is.null", "not.is.null".
std::string_view to_string(filter_op op) noexcept;

struct filter_condition {
  std::string column;
  filter_op op = filter_op::eq;
  std::vector<std::string> values;  // unquoted; one for eq..gte, one or more for in, none for is/not.is null

  friend bool operator==(const filter_condition&, const filter_condition&) = default;
};

// All conditions must hold. Empty = no filter (every row matches).
struct postgres_filter {
  std::vector<filter_condition> conditions;

  friend bool operator==(const postgres_filter&, const postgres_filter&) = default;
};

struct filter_limits {
  std::size_t max_bytes = 1024;     // filter text
  std::size_t max_conditions = 16;  // comma-separated conditions
  std::size_t max_in_values = 256;  // items of one in.(...)
};

// Parses `text`. An empty text is an empty filter. Errors (message names the condition's position and text):
//   too_long   text over max_bytes; column over 63 bytes
//   too_many   more than max_conditions conditions or max_in_values items
//   empty_segment  empty condition (",,", trailing ','), empty column, empty in.() item
//   bad_value  missing '=' or '.', unknown operator ("like"), is.<not null>, unbalanced or misplaced
//              parentheses, unterminated quote, text after a closing quote or ')'
//   bad_char   a forbidden byte in a column
core::result<postgres_filter> parse_filter(std::string_view text, const filter_limits& limits = {});

// Whether `row` (column -> JSON value, as in a postgres_changes record) satisfies every condition.
// Semantics follow PostgreSQL's comparison after Supabase casts the filter value to the column's type:
//   - a column absent from the row never matches (any operator);
//   - null matches only is.null; every other operator, neq included, is false on null;
//   - number: the filter value is read as a number (integers exactly, otherwise as double); a value that is
//     not a number never matches;
//   - string: byte-wise lexicographic comparison (C collation);
//   - bool: the value must be true/t/false/f (any case); false < true;
//   - objects and arrays only match not.is.null.
// Pure: no allocation beyond temporaries, no state.
bool filter_matches(const postgres_filter& filter, const boost::json::object& row) noexcept;

}  // namespace rtcache::protocol
