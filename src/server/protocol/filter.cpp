// postgres_changes filters: the `col=op.value[,...]` grammar parsed once per binding, and its evaluation
// against a row with PostgreSQL's comparison semantics.
#include "protocol/filter.hpp"

#include <boost/json/value.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace rtcache::protocol {
namespace {

using core::errc;
using core::error;

constexpr std::size_t k_max_column_bytes = 63;
constexpr std::string_view k_supported = "supported: eq, neq, lt, lte, gt, gte, in, is.null, not.is.null";

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// A cursor over the filter text; every error names the condition (1-based) it occurred in.
class filter_parser {
 public:
  filter_parser(std::string_view text, const filter_limits& limits) : text_(text), limits_(limits) {}

  core::result<postgres_filter> run() {
    postgres_filter f;
    if (text_.empty()) return f;
    for (;;) {
      ++condition_;
      if (condition_ > limits_.max_conditions) {
        return core::error{core::errc::too_many,
                           "filter has more than " + std::to_string(limits_.max_conditions) + " conditions"};
      }
      auto c = condition();
      if (!c) return c.error();
      f.conditions.push_back(std::move(*c));
      skip_space();
      if (at_end()) return f;
      if (peek() != ',')
        return fail(core::errc::bad_value, "unexpected '" + std::string(1, peek()) + "' after the value");
      ++pos_;
    }
  }

 private:
  bool at_end() const noexcept { return pos_ >= text_.size(); }
  char peek() const noexcept { return text_[pos_]; }
  void skip_space() noexcept {
    while (!at_end() && is_space(peek())) ++pos_;
  }

  core::error fail(core::errc code, std::string what) const {
    return core::error{code, "filter condition " + std::to_string(condition_) + " (at byte " + std::to_string(pos_) +
                                 "): " + std::move(what)};
  }

  core::result<filter_condition> condition() {
    filter_condition c;
    skip_space();
    if (at_end() || peek() == ',') return fail(core::errc::empty_segment, "empty condition");
    const std::size_t start = pos_;
    while (!at_end() && peek() != '=' && !is_space(peek()) && peek() != ',') {
      const char ch = peek();
      if (ch == '(' || ch == ')' || ch == '"' || ch == '\\') {
        return fail(core::errc::bad_char, "column name contains '" + std::string(1, ch) + "'");
      }
      ++pos_;
    }
    c.column = std::string(text_.substr(start, pos_ - start));
    skip_space();
    if (at_end() || peek() != '=') {
      if (c.column.empty()) return fail(core::errc::empty_segment, "empty column");
      return fail(core::errc::bad_value, "missing '=' after column '" + c.column.substr(0, 63) + "'");
    }
    if (c.column.empty()) return fail(core::errc::empty_segment, "empty column");
    if (c.column.size() > k_max_column_bytes) {
      return fail(core::errc::too_long, "column name is " + std::to_string(c.column.size()) +
                                            " bytes, over the bound of " + std::to_string(k_max_column_bytes));
    }
    ++pos_;  // '='
    skip_space();
    const std::string_view op = word();
    if (op == "is" || op == "not") {
      const std::string_view rest = op == "is" ? std::string_view(".null") : std::string_view(".is.null");
      if (text_.substr(pos_, rest.size()) != rest || !ends_value(pos_ + rest.size())) {
        return fail(core::errc::bad_value,
                    std::string(op) + " supports only " + (op == "is" ? "is.null" : "not.is.null"));
      }
      pos_ += rest.size();
      c.op = op == "is" ? filter_op::is_null : filter_op::not_null;
      return c;
    }
    std::optional<filter_op> known;
    for (const filter_op k :
         {filter_op::eq, filter_op::neq, filter_op::lt, filter_op::lte, filter_op::gt, filter_op::gte, filter_op::in}) {
      if (op == to_string(k)) known = k;
    }
    if (!known) {
      if (op.empty()) return fail(core::errc::bad_value, "missing operator after '='");
      return fail(core::errc::bad_value,
                  "unknown operator '" + std::string(op.substr(0, 16)) + "' (" + std::string(k_supported) + ")");
    }
    c.op = *known;
    if (at_end() || peek() != '.')
      return fail(core::errc::bad_value, "missing '.' after operator '" + std::string(op) + "'");
    ++pos_;
    if (c.op != filter_op::in) {
      auto v = value(false);
      if (!v) return v.error();
      c.values.push_back(std::move(*v));
      return c;
    }
    if (at_end() || peek() != '(') return fail(core::errc::bad_value, "in needs a parenthesized list: in.(a,b)");
    ++pos_;
    for (;;) {
      if (c.values.size() == limits_.max_in_values) {
        return fail(core::errc::too_many, "in list has more than " + std::to_string(limits_.max_in_values) + " values");
      }
      skip_space();
      if (at_end()) return fail(core::errc::bad_value, "unbalanced parentheses: in.( is never closed");
      if (peek() == ',' || peek() == ')') return fail(core::errc::empty_segment, "empty value in in.(...)");
      auto v = value(true);
      if (!v) return v.error();
      c.values.push_back(std::move(*v));
      skip_space();
      if (at_end()) return fail(core::errc::bad_value, "unbalanced parentheses: in.( is never closed");
      if (peek() == ')') {
        ++pos_;
        return c;
      }
      ++pos_;  // ','
    }
  }

  // Letters up to the next '.', ',' or end.
  std::string_view word() noexcept {
    const std::size_t start = pos_;
    while (!at_end() && peek() != '.' && peek() != ',' && !is_space(peek())) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  // Whether the value ends at `i`: end of text, or a ',' after optional spaces.
  bool ends_value(std::size_t i) const noexcept {
    while (i < text_.size() && is_space(text_[i])) ++i;
    return i == text_.size() || text_[i] == ',';
  }

  // A quoted or unquoted value. In a list, ',' and ')' end it; outside, ',' ends it and parentheses are refused.
  core::result<std::string> value(bool in_list) {
    std::string out;
    if (!at_end() && peek() == '"') {
      ++pos_;
      for (;;) {
        if (at_end()) return fail(core::errc::bad_value, "unterminated quoted value");
        char ch = peek();
        ++pos_;
        if (ch == '"') break;
        if (ch == '\\') {
          if (at_end()) return fail(core::errc::bad_value, "unterminated quoted value");
          ch = peek();
          ++pos_;
        }
        out.push_back(ch);
      }
      skip_space();
      if (!at_end() && peek() != ',' && !(in_list && peek() == ')')) {
        return fail(core::errc::bad_value, "text after a closing quote");
      }
      return out;
    }
    while (!at_end()) {
      const char ch = peek();
      if (ch == ',' || (in_list && ch == ')')) break;
      if (ch == '(' || ch == ')') {
        return fail(core::errc::bad_value, "unbalanced parentheses: '" + std::string(1, ch) + "' outside in.(...) " +
                                               "(quote the value to use it literally)");
      }
      if (ch == '"') return fail(errc::bad_value, "a quote inside an unquoted value");
      if (ch == '\\' && pos_ + 1 < text_.size() && text_[pos_ + 1] == ',') {
        out.push_back(',');  // Supabase's escaped comma
        pos_ += 2;
        continue;
      }
      out.push_back(ch);
      ++pos_;
    }
    while (!out.empty() && is_space(out.back())) out.pop_back();
    return out;
  }

  std::string_view text_;
  const filter_limits& limits_;
  std::size_t pos_ = 0;
  std::size_t condition_ = 0;
};

// ---- evaluation ---------------------------------------------------------------------------------------------

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

int sign(auto a, auto b) noexcept {
  return a < b ? -1 : (b < a ? 1 : 0);
}

std::optional<double> to_double(std::string_view t) noexcept {
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  double d = 0;
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
  if (ec != std::errc{} || p != t.data() + t.size() || t.empty() || !std::isfinite(d)) return std::nullopt;
  return d;
}

template <class Int>
std::optional<Int> to_int(std::string_view t) noexcept {
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  Int i = 0;
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), i);
  if (ec != std::errc{} || p != t.data() + t.size() || t.empty()) return std::nullopt;
  return i;
}

// <0, 0, >0 comparing the row value with the filter text, or nullopt when they cannot be compared.
std::optional<int> compare(const boost::json::value& v, std::string_view text) noexcept {
  switch (v.kind()) {
    case boost::json::kind::string: {
      const int c = std::string_view(v.get_string()).compare(text);
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case boost::json::kind::int64: {
      if (auto i = to_int<std::int64_t>(text)) return sign(v.get_int64(), *i);
      if (to_int<std::uint64_t>(text).has_value()) return -1;  // text above INT64_MAX
      if (auto d = to_double(text)) return sign(static_cast<double>(v.get_int64()), *d);
      return std::nullopt;
    }
    case boost::json::kind::uint64: {
      if (auto u = to_int<std::uint64_t>(text)) return sign(v.get_uint64(), *u);
      if (to_int<std::int64_t>(text).has_value()) return 1;  // a negative integer
      if (auto d = to_double(text)) return sign(static_cast<double>(v.get_uint64()), *d);
      return std::nullopt;
    }
    case boost::json::kind::double_: {
      if (auto d = to_double(text)) return sign(v.get_double(), *d);
      return std::nullopt;
    }
    case boost::json::kind::bool_: {
      int b = -1;
      for (std::string_view t : {"true", "t", "yes", "y", "on", "1"})
        if (iequals(text, t)) b = 1;
      for (std::string_view f : {"false", "f", "no", "n", "off", "0"})
        if (iequals(text, f)) b = 0;
      if (b < 0) return std::nullopt;
      return sign(v.get_bool() ? 1 : 0, b);
    }
    default: return std::nullopt;  // null, object, array
  }
}

bool holds(const filter_condition& c, const boost::json::value& v) noexcept {
  if (c.op == filter_op::is_null) return v.is_null();
  if (c.op == filter_op::not_null) return !v.is_null();
  if (v.is_null()) return false;
  if (c.op == filter_op::in) {
    for (const std::string& item : c.values) {
      const auto r = compare(v, item);
      if (r && *r == 0) return true;
    }
    return false;
  }
  if (c.values.empty()) return false;
  const auto r = compare(v, c.values.front());
  if (!r) return false;
  switch (c.op) {
    case filter_op::eq: return *r == 0;
    case filter_op::neq: return *r != 0;
    case filter_op::lt: return *r < 0;
    case filter_op::lte: return *r <= 0;
    case filter_op::gt: return *r > 0;
    case filter_op::gte: return *r >= 0;
    default: return false;
  }
}

}  // namespace

std::string_view to_string(filter_op op) noexcept {
  switch (op) {
    case filter_op::eq: return "eq";
    case filter_op::neq: return "neq";
    case filter_op::lt: return "lt";
    case filter_op::lte: return "lte";
    case filter_op::gt: return "gt";
    case filter_op::gte: return "gte";
    case filter_op::in: return "in";
    case filter_op::is_null: return "is.null";
    case filter_op::not_null: return "not.is.null";
  }
  return "unknown";
}

core::result<postgres_filter> parse_filter(std::string_view text, const filter_limits& limits) {
  if (text.size() > limits.max_bytes) {
    return core::error{core::errc::too_long, "filter is " + std::to_string(text.size()) + " bytes, over the bound of " +
                                                 std::to_string(limits.max_bytes)};
  }
  return filter_parser(text, limits).run();
}

bool filter_matches(const postgres_filter& filter, const boost::json::object& row) noexcept {
  for (const filter_condition& c : filter.conditions) {
    const boost::json::value* v = row.if_contains(c.column);
    if (v == nullptr || !holds(c, *v)) return false;
  }
  return true;
}

}  // namespace rtcache::protocol
