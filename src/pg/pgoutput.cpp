// pgoutput (protocol v1) and replication CopyData decoding: untrusted bytes in, typed messages or a precise
// refusal out. Every read is bounds-checked by `reader`; the first failure wins and later reads are no-ops.
#include "rtcache/pg/pgoutput.hpp"

#include "rtcache/core/json_text.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcache::pg {

namespace {

constexpr std::size_t k_no_column = std::numeric_limits<std::size_t>::max();

// A byte for an error message: 'K' (0x4b) when printable, 0x05 otherwise.
std::string describe_byte(std::uint8_t b) {
  constexpr std::string_view k_digits = "0123456789abcdef";
  std::string hex = "0x";
  hex += k_digits[b >> 4U];
  hex += k_digits[b & 0xFU];
  if (b >= 0x20 && b < 0x7F) return "'" + std::string(1, static_cast<char>(b)) + "' (" + hex + ")";
  return hex;
}

// A name for an error message (core::printable): 64 bytes shown, so a whole PostgreSQL identifier (at most
// NAMEDATALEN - 1 = 63 bytes) is never cut.
std::string printable(std::string_view s) {
  return core::printable(s, 64);
}

// A cursor over one message. Reads past the end, bad lengths and unterminated strings record an error
// (the first one wins) and return a zero value; callers check ok() before acting on what they read.
class reader {
 public:
  explicit reader(std::string_view bytes, std::string_view context) : bytes_(bytes), context_(context) {}

  bool ok() const noexcept { return !failed_; }
  std::size_t offset() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return bytes_.size() - pos_; }

  // What is being decoded, for error messages: "pgoutput Insert message", and the part within it.
  // REQUIRES: the views outlive the reader (string literals).
  void set_context(std::string_view context) noexcept { context_ = context; }
  void set_part(std::string_view part) noexcept { part_ = part; }

  std::uint8_t u8(std::string_view what, std::size_t column = k_no_column) {
    return static_cast<std::uint8_t>(big_endian(1, what, column));
  }
  std::uint16_t u16(std::string_view what, std::size_t column = k_no_column) {
    return static_cast<std::uint16_t>(big_endian(2, what, column));
  }
  std::uint32_t u32(std::string_view what, std::size_t column = k_no_column) {
    return static_cast<std::uint32_t>(big_endian(4, what, column));
  }
  // Two's complement, as PostgreSQL sends signed integers.
  std::int32_t i32(std::string_view what, std::size_t column = k_no_column) {
    return static_cast<std::int32_t>(u32(what, column));
  }
  std::uint64_t u64(std::string_view what) { return big_endian(8, what, k_no_column); }
  std::int64_t i64(std::string_view what) { return static_cast<std::int64_t>(u64(what)); }

  // `n` raw bytes. REQUIRES: n <= k_max_value_bytes (checked by the caller, who names the bound).
  std::string bytes(std::size_t n, std::string_view what, std::size_t column = k_no_column) {
    return std::string(view(n, what, column));
  }

  // As bytes(), without the copy: a view into the input.
  std::string_view view(std::size_t n, std::string_view what, std::size_t column = k_no_column) {
    if (!need(n, what, column)) return {};
    const std::string_view out = bytes_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  // A NUL-terminated string of at most k_max_name_bytes bytes before the NUL.
  std::string name(std::string_view what, std::size_t column = k_no_column) {
    if (!ok()) return {};
    const std::string_view rest = bytes_.substr(pos_);
    const std::size_t nul = rest.substr(0, k_max_name_bytes + 1).find('\0');
    if (nul == std::string_view::npos) {
      if (rest.size() > k_max_name_bytes) {
        fail(errc::too_long, describe(what, column) + " at byte " + std::to_string(pos_) + " is longer than " +
                                 std::to_string(k_max_name_bytes) + " bytes");
      } else {
        fail(errc::bad_value, "truncated: " + describe(what, column) + " at byte " + std::to_string(pos_) +
                                  " has no terminating NUL in the remaining " + std::to_string(rest.size()) + " bytes");
      }
      return {};
    }
    std::string out(rest.substr(0, nul));
    pos_ += nul + 1;
    return out;
  }

  // Refuses bytes after the end of the message.
  void expect_end() {
    if (ok() && remaining() != 0) {
      fail(errc::bad_value, std::to_string(remaining()) + " unexpected bytes after the end of the message at byte " +
                                std::to_string(pos_));
    }
  }

  // Records an error unless one is recorded already: the first failure is the one worth reporting.
  void fail(errc code, const std::string& detail) {
    if (failed_) return;
    failed_ = true;
    std::string message(context_);
    if (!part_.empty()) {
      message += ", ";
      message += part_;
    }
    message += ": ";
    message += detail;
    error_ = error{code, std::move(message)};
  }

  // REQUIRES: !ok().
  error take_error() { return std::move(error_); }

  static std::string describe(std::string_view what, std::size_t column) {
    std::string out(what);
    if (column != k_no_column) out += " of column " + std::to_string(column + 1);
    return out;
  }

 private:
  bool need(std::size_t n, std::string_view what, std::size_t column) {
    if (!ok()) return false;
    if (remaining() >= n) return true;
    fail(errc::bad_value, "truncated at byte " + std::to_string(pos_) + " reading " + describe(what, column) +
                              ": needs " + std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left");
    return false;
  }

  std::uint64_t big_endian(std::size_t n, std::string_view what, std::size_t column) {
    if (!need(n, what, column)) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8U) | static_cast<std::uint8_t>(bytes_[pos_ + i]);
    pos_ += n;
    return v;
  }

  std::string_view bytes_;
  std::size_t pos_ = 0;
  std::string_view context_;
  std::string_view part_;
  bool failed_ = false;
  error error_;
};

// Reads a column count and checks its bound; 0 on failure.
std::size_t column_count(reader& in, std::string_view what) {
  const std::size_t at = in.offset();
  const std::size_t count = in.u16(what);
  if (in.ok() && count > k_max_columns) {
    in.fail(errc::too_many, std::string(what) + " " + std::to_string(count) + " at byte " + std::to_string(at) +
                                " is over the bound of " + std::to_string(k_max_columns));
    return 0;
  }
  return count;
}

// A non-empty name: PostgreSQL identifiers are never empty, so an empty one means a corrupt message.
std::string identifier(reader& in, std::string_view what, std::size_t column = k_no_column) {
  const std::size_t at = in.offset();
  std::string s = in.name(what, column);
  if (in.ok() && s.empty())
    in.fail(errc::empty, reader::describe(what, column) + " at byte " + std::to_string(at) + " is empty");
  return s;
}

// Reads a TupleData into `tuple`, reusing its elements and their string capacity (a decode into a message that
// already held a tuple allocates nothing for values that fit).
void read_tuple_into(reader& in, std::string_view part, tuple_data& tuple) {
  in.set_part(part);
  const std::size_t count = column_count(in, "column count");
  // Every column takes at least one byte, so a count the buffer cannot hold reserves no more than it holds.
  if (tuple.capacity() < count) tuple.reserve(std::min(count, in.remaining()));
  std::size_t used = 0;
  auto next = [&]() -> column_value& {
    if (used == tuple.size()) tuple.emplace_back();
    return tuple[used++];
  };
  for (std::size_t i = 0; i < count && in.ok(); ++i) {
    const std::size_t kind_at = in.offset();
    const std::uint8_t kind = in.u8("kind", i);
    if (!in.ok()) break;
    switch (kind) {
      case 'n':
      case 'u': {
        column_value& v = next();
        v.kind = kind == 'n' ? value_kind::null : value_kind::unchanged_toast;
        v.bytes.clear();
        break;
      }
      case 't':
      case 'b': {
        const std::size_t length_at = in.offset();
        const std::int32_t length = in.i32("value length", i);
        if (!in.ok()) break;
        if (length < 0) {
          in.fail(errc::bad_value, "negative value length " + std::to_string(length) + " of column " +
                                       std::to_string(i + 1) + " at byte " + std::to_string(length_at));
          break;
        }
        const auto n = static_cast<std::size_t>(length);
        if (n > k_max_value_bytes) {
          in.fail(errc::too_long, "value length " + std::to_string(n) + " of column " + std::to_string(i + 1) +
                                      " at byte " + std::to_string(length_at) + " is over the bound of " +
                                      std::to_string(k_max_value_bytes) + " bytes");
          break;
        }
        const std::string_view value = in.view(n, "value", i);
        if (!in.ok()) break;
        column_value& v = next();
        v.kind = kind == 't' ? value_kind::text : value_kind::binary;
        v.bytes.assign(value);
        break;
      }
      default:
        in.fail(errc::bad_char, "unknown kind " + describe_byte(kind) + " of column " + std::to_string(i + 1) +
                                    " at byte " + std::to_string(kind_at) + "; expected 'n', 'u', 't' or 'b'");
    }
  }
  tuple.resize(used);
  in.set_part({});
}

begin_message read_begin(reader& in) {
  begin_message m;
  const std::size_t at = in.offset();
  m.final_lsn.value = in.u64("final LSN");
  m.commit_time.micros = in.i64("commit timestamp");
  m.xid = in.u32("xid");
  if (in.ok() && m.final_lsn.value == 0) {
    in.fail(errc::bad_value, "final LSN at byte " + std::to_string(at) + " is 0 (InvalidXLogRecPtr)");
  }
  return m;
}

commit_message read_commit(reader& in) {
  commit_message m;
  const std::size_t at = in.offset();
  m.flags = in.u8("flags");
  if (in.ok() && m.flags != 0) {
    in.fail(errc::bad_value, "flags " + describe_byte(m.flags) + " at byte " + std::to_string(at) +
                                 " are not defined by protocol version 1 (expected 0)");
  }
  m.commit_lsn.value = in.u64("commit LSN");
  m.end_lsn.value = in.u64("end LSN");
  m.commit_time.micros = in.i64("commit timestamp");
  return m;
}

origin_message read_origin(reader& in) {
  origin_message m;
  m.commit_lsn.value = in.u64("origin commit LSN");
  m.name = in.name("origin name");
  return m;
}

bool is_replica_identity(std::uint8_t b) {
  switch (b) {
    case 'd':
    case 'n':
    case 'f':
    case 'i': return true;
    default: return false;
  }
}

relation_message read_relation(reader& in) {
  relation_message m;
  m.oid = in.u32("relation oid");
  m.schema = in.name("namespace");
  m.name = identifier(in, "relation name");
  const std::size_t identity_at = in.offset();
  const std::uint8_t identity = in.u8("replica identity");
  if (in.ok() && !is_replica_identity(identity)) {
    in.fail(errc::bad_char, "unknown replica identity " + describe_byte(identity) + " at byte " +
                                std::to_string(identity_at) + "; expected 'd', 'n', 'f' or 'i'");
  }
  m.identity = static_cast<replica_identity>(identity);
  const std::size_t count = column_count(in, "column count");
  // A column takes at least 10 bytes (flags, an empty name's NUL, type oid, typmod).
  m.columns.reserve(std::min(count, in.remaining() / 10));
  for (std::size_t i = 0; i < count && in.ok(); ++i) {
    relation_column c;
    const std::size_t flags_at = in.offset();
    const std::uint8_t flags = in.u8("flags", i);
    if (in.ok() && (flags & ~std::uint8_t{1}) != 0) {
      in.fail(errc::bad_value, "flags " + describe_byte(flags) + " of column " + std::to_string(i + 1) + " at byte " +
                                   std::to_string(flags_at) +
                                   " set bits protocol version 1 does not define (only 0x01, replica identity)");
    }
    c.is_key = (flags & 1U) != 0;
    c.name = identifier(in, "name", i);
    c.type_oid = in.u32("type oid", i);
    c.type_modifier = in.i32("type modifier", i);
    if (in.ok()) m.columns.push_back(std::move(c));
  }
  if (in.ok()) {
    // Distinct names: changes are read by column name, and a duplicate would make that ambiguous.
    std::vector<std::string_view> names;
    names.reserve(m.columns.size());
    for (const relation_column& c : m.columns) names.emplace_back(c.name);
    std::sort(names.begin(), names.end());
    const auto dup = std::adjacent_find(names.begin(), names.end());
    if (dup != names.end()) {
      in.fail(errc::duplicate_key, "column name '" + printable(*dup) + "' appears more than once");
    }
  }
  return m;
}

type_message read_type(reader& in) {
  type_message m;
  m.oid = in.u32("type oid");
  m.schema = in.name("namespace");
  m.name = identifier(in, "type name");
  return m;
}

// Reads a tuple marker and checks it is one of `allowed` (each a char); 0 on failure.
std::uint8_t marker(reader& in, std::string_view allowed, std::string_view expected) {
  const std::size_t at = in.offset();
  const std::uint8_t b = in.u8("tuple marker");
  if (!in.ok()) return 0;
  if (allowed.find(static_cast<char>(b)) == std::string_view::npos) {
    in.fail(errc::bad_char, "unexpected tuple marker " + describe_byte(b) + " at byte " + std::to_string(at) +
                                "; expected " + std::string(expected));
    return 0;
  }
  return b;
}

void read_insert_into(reader& in, insert_message& m) {
  m.relation_oid = in.u32("relation oid");
  marker(in, "N", "'N'");
  read_tuple_into(in, "new tuple", m.new_tuple);
}

insert_message read_insert(reader& in) {
  insert_message m;
  read_insert_into(in, m);
  return m;
}

void read_update_into(reader& in, update_message& m) {
  m.relation_oid = in.u32("relation oid");
  m.old_kind = old_tuple_kind::none;
  std::uint8_t next = marker(in, "KON", "'K', 'O' or 'N'");
  if (next == 'K' || next == 'O') {
    m.old_kind = next == 'K' ? old_tuple_kind::key : old_tuple_kind::full;
    read_tuple_into(in, next == 'K' ? "old key tuple" : "old tuple", m.old_tuple);
    next = marker(in, "N", "'N' after the old tuple");
  } else {
    m.old_tuple.clear();
  }
  if (next == 'N') {
    read_tuple_into(in, "new tuple", m.new_tuple);
  } else {
    m.new_tuple.clear();
  }
}

update_message read_update(reader& in) {
  update_message m;
  read_update_into(in, m);
  return m;
}

void read_delete_into(reader& in, delete_message& m) {
  m.relation_oid = in.u32("relation oid");
  const std::uint8_t kind = marker(in, "KO", "'K' or 'O'");
  m.old_kind = kind == 'O' ? old_tuple_kind::full : old_tuple_kind::key;
  if (kind != 0) {
    read_tuple_into(in, kind == 'K' ? "old key tuple" : "old tuple", m.old_tuple);
  } else {
    m.old_tuple.clear();
  }
}

delete_message read_delete(reader& in) {
  delete_message m;
  read_delete_into(in, m);
  return m;
}

truncate_message read_truncate(reader& in) {
  truncate_message m;
  const std::size_t count_at = in.offset();
  const std::int32_t count = in.i32("relation count");
  const std::size_t options_at = in.offset();
  const std::uint8_t options = in.u8("options");
  if (!in.ok()) return m;
  if (count <= 0) {
    in.fail(errc::bad_value,
            "relation count " + std::to_string(count) + " at byte " + std::to_string(count_at) + " is not positive");
    return m;
  }
  if ((options & ~std::uint8_t{3}) != 0) {
    in.fail(errc::bad_value, "options " + describe_byte(options) + " at byte " + std::to_string(options_at) +
                                 " set bits protocol version 1 does not define (only 0x01 cascade, 0x02 restart "
                                 "identity)");
    return m;
  }
  m.cascade = (options & 1U) != 0;
  m.restart_identity = (options & 2U) != 0;
  const auto n = static_cast<std::size_t>(count);
  if (n > in.remaining() / 4) {
    in.fail(errc::bad_value, "truncated at byte " + std::to_string(in.offset()) + ": relation count " +
                                 std::to_string(n) + " needs " + std::to_string(n * 4) + " bytes of oids, " +
                                 std::to_string(in.remaining()) + " left");
    return m;
  }
  m.relation_oids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) m.relation_oids.push_back(in.u32("relation oid"));
  return m;
}

// Message types pgoutput defines but this decoder refuses, with the reason.
std::string_view refused(std::uint8_t type) {
  switch (type) {
    case 'S': return "Stream Start (protocol version 2 streaming; start replication with proto_version '1')";
    case 'E': return "Stream Stop (protocol version 2 streaming; start replication with proto_version '1')";
    case 'c': return "Stream Commit (protocol version 2 streaming; start replication with proto_version '1')";
    case 'A': return "Stream Abort (protocol version 2 streaming; start replication with proto_version '1')";
    case 'b': return "Begin Prepare (protocol version 3 two-phase; start replication with proto_version '1')";
    case 'P': return "Prepare (protocol version 3 two-phase; start replication with proto_version '1')";
    case 'K': return "Commit Prepared (protocol version 3 two-phase; start replication with proto_version '1')";
    case 'r': return "Rollback Prepared (protocol version 3 two-phase; start replication with proto_version '1')";
    case 'p': return "Stream Prepare (protocol version 3 two-phase; start replication without two_phase)";
    case 'M': return "Message (logical decoding message; start replication without messages 'true')";
    default: return {};
  }
}

template <class Read>
result<message> decode_body(reader& in, std::string_view context, Read read) {
  in.set_context(context);
  message m = read(in);
  in.expect_end();
  if (!in.ok()) return in.take_error();
  return m;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------

std::string format_lsn(lsn position) {
  constexpr std::string_view k_digits = "0123456789ABCDEF";
  auto hex = [&](std::uint32_t v) {
    std::string out;
    do {
      out.insert(out.begin(), k_digits[v & 0xFU]);
      v >>= 4U;
    } while (v != 0);
    return out;
  };
  return hex(static_cast<std::uint32_t>(position.value >> 32U)) + "/" +
         hex(static_cast<std::uint32_t>(position.value & 0xFFFF'FFFFU));
}

result<lsn> parse_lsn(std::string_view text) {
  if (text.empty()) return error{errc::empty, "LSN: empty text (expected e.g. 16/B374D848)"};
  auto fail_at = [&](std::size_t pos, std::string_view expected) {
    const std::string got = pos < text.size() ? describe_byte(static_cast<std::uint8_t>(text[pos])) : "the end";
    return error{errc::bad_char, "LSN '" + printable(text) + "': expected " + std::string(expected) + " at position " +
                                     std::to_string(pos) + ", got " + got};
  };
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::size_t pos = 0;
  std::array<std::uint64_t, 2> halves{};
  for (std::size_t h = 0; h < 2; ++h) {
    const std::size_t start = pos;
    std::uint64_t v = 0;
    while (pos < text.size() && digit(text[pos]) >= 0) {
      if (pos - start == 8) {
        return error{errc::too_long, "LSN '" + printable(text) + "': more than 8 hex digits in the " +
                                         (h == 0 ? "high" : "low") + " half"};
      }
      v = (v << 4U) | static_cast<std::uint64_t>(digit(text[pos]));
      ++pos;
    }
    if (pos == start) return fail_at(pos, "a hex digit");
    halves[h] = v;
    if (h == 0) {
      if (pos >= text.size() || text[pos] != '/') return fail_at(pos, "'/'");
      ++pos;
    }
  }
  if (pos != text.size()) return fail_at(pos, "the end");
  return lsn{(halves[0] << 32U) | halves[1]};
}

namespace {

constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = floor_div(y, 400);
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct civil_date {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

// The inverse of days_from_civil.
constexpr civil_date civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = floor_div(z, 146097);
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

constexpr std::int64_t k_pg_epoch_days = days_from_civil(2000, 1, 1);
static_assert(k_pg_epoch_days == 10957);
static_assert(civil_from_days(k_pg_epoch_days).year == 2000);

void append_digits(std::string& out, std::int64_t v, int width) {
  std::array<char, 8> buf{};
  for (int i = width - 1; i >= 0; --i) {
    buf[static_cast<std::size_t>(i)] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf.data(), static_cast<std::size_t>(width));
}

}  // namespace

result<std::string> format_rfc3339(pg_timestamp time) {
  // Dividing before adding the epoch offset keeps every int64 input free of overflow.
  const std::int64_t millis = floor_div(time.micros, 1000);
  const std::int64_t seconds = floor_div(millis, 1000);
  const std::int64_t days = floor_div(seconds, 86400);
  const civil_date date = civil_from_days(days + k_pg_epoch_days);
  if (date.year < 0 || date.year > 9999) {
    return error{errc::bad_value, "timestamp " + std::to_string(time.micros) + " us after 2000-01-01 falls in year " +
                                      std::to_string(date.year) + ", outside RFC 3339's 0000..9999"};
  }
  const std::int64_t second_of_day = seconds - days * 86400;
  std::string out;
  out.reserve(24);
  append_digits(out, date.year, 4);
  out += '-';
  append_digits(out, date.month, 2);
  out += '-';
  append_digits(out, date.day, 2);
  out += 'T';
  append_digits(out, second_of_day / 3600, 2);
  out += ':';
  append_digits(out, second_of_day / 60 % 60, 2);
  out += ':';
  append_digits(out, second_of_day % 60, 2);
  out += '.';
  append_digits(out, millis - seconds * 1000, 3);
  out += 'Z';
  return out;
}

// ---------------------------------------------------------------------------------------------------------

std::string_view to_string(replica_identity identity) noexcept {
  switch (identity) {
    case replica_identity::default_key: return "default";
    case replica_identity::nothing: return "nothing";
    case replica_identity::full: return "full";
    case replica_identity::index: return "index";
  }
  return "unknown";
}

std::string_view to_string(value_kind kind) noexcept {
  switch (kind) {
    case value_kind::null: return "null";
    case value_kind::unchanged_toast: return "unchanged_toast";
    case value_kind::text: return "text";
    case value_kind::binary: return "binary";
  }
  return "unknown";
}

std::string_view message_name(const message& m) noexcept {
  constexpr std::array<std::string_view, std::variant_size_v<message>> k_names = {
      "Begin", "Commit", "Origin", "Relation", "Type", "Insert", "Update", "Delete", "Truncate"};
  return k_names[m.index()];
}

result<message> decode_message(std::string_view bytes) {
  reader in(bytes, "pgoutput message");
  const std::uint8_t type = in.u8("message type");
  if (!in.ok()) return error{errc::empty, "pgoutput message: empty (no message type byte)"};
  switch (type) {
    case 'B': return decode_body(in, "pgoutput Begin message", read_begin);
    case 'C': return decode_body(in, "pgoutput Commit message", read_commit);
    case 'O': return decode_body(in, "pgoutput Origin message", read_origin);
    case 'R': return decode_body(in, "pgoutput Relation message", read_relation);
    case 'Y': return decode_body(in, "pgoutput Type message", read_type);
    case 'I': return decode_body(in, "pgoutput Insert message", read_insert);
    case 'U': return decode_body(in, "pgoutput Update message", read_update);
    case 'D': return decode_body(in, "pgoutput Delete message", read_delete);
    case 'T': return decode_body(in, "pgoutput Truncate message", read_truncate);
    default: break;
  }
  if (const std::string_view why = refused(type); !why.empty()) {
    return error{errc::bad_value,
                 "pgoutput message type " + describe_byte(type) + " is not supported: " + std::string(why)};
  }
  return error{errc::bad_char, "pgoutput message: unknown message type " + describe_byte(type) + " at byte 0"};
}

namespace {

template <class M, class Read>
result<void> decode_change_into(reader& in, std::string_view context, message& into, Read read) {
  in.set_context(context);
  M* m = std::get_if<M>(&into);
  if (m == nullptr) m = &into.emplace<M>();
  read(in, *m);
  in.expect_end();
  if (!in.ok()) return in.take_error();
  return {};
}

}  // namespace

result<void> decode_message(std::string_view bytes, message& into) {
  if (!bytes.empty()) {
    reader in(bytes, "pgoutput message");
    switch (in.u8("message type")) {
      case 'I': return decode_change_into<insert_message>(in, "pgoutput Insert message", into, read_insert_into);
      case 'U': return decode_change_into<update_message>(in, "pgoutput Update message", into, read_update_into);
      case 'D': return decode_change_into<delete_message>(in, "pgoutput Delete message", into, read_delete_into);
      default: break;
    }
  }
  auto m = decode_message(bytes);
  if (!m) return m.error();
  into = std::move(*m);
  return {};
}

result<copy_data> decode_copy_data(std::string_view bytes) {
  reader in(bytes, "replication CopyData");
  const std::uint8_t type = in.u8("message type");
  if (!in.ok()) return error{errc::empty, "replication CopyData: empty (no message type byte)"};
  if (type == 'w') {
    in.set_context("replication XLogData");
    xlog_data m;
    m.wal_start.value = in.u64("WAL start");
    m.wal_end.value = in.u64("WAL end");
    m.send_time.micros = in.i64("send time");
    if (!in.ok()) return in.take_error();
    m.payload = bytes.substr(in.offset());
    return m;
  }
  if (type == 'k') {
    in.set_context("replication primary keepalive");
    primary_keepalive m;
    m.wal_end.value = in.u64("WAL end");
    m.send_time.micros = in.i64("send time");
    const std::size_t reply_at = in.offset();
    const std::uint8_t reply = in.u8("reply-requested flag");
    if (in.ok() && reply > 1) {
      in.fail(errc::bad_value, "reply-requested flag " + describe_byte(reply) + " at byte " + std::to_string(reply_at) +
                                   " is neither 0 nor 1");
    }
    m.reply_requested = reply == 1;
    in.expect_end();
    if (!in.ok()) return in.take_error();
    return m;
  }
  return error{errc::bad_char, "replication CopyData: unknown message type " + describe_byte(type) +
                                   " at byte 0; expected 'w' (XLogData) or 'k' (primary keepalive)"};
}

// ---------------------------------------------------------------------------------------------------------

const column_value* named_tuple::find(std::string_view name) const {
  for (const named_value& v : values) {
    if (v.column->name == name) return v.value;
  }
  return nullptr;
}

result<named_tuple> name_tuple(std::shared_ptr<const relation_message> rel, const tuple_data& tuple) {
  if (!rel) return error{errc::bad_value, "naming a tuple: no relation"};
  if (rel->columns.size() != tuple.size()) {
    return error{errc::bad_value, "relation " + printable(rel->schema) + "." + printable(rel->name) + " (oid " +
                                      std::to_string(rel->oid) + ") has " + std::to_string(rel->columns.size()) +
                                      " columns but the tuple has " + std::to_string(tuple.size())};
  }
  named_tuple out;
  out.values.reserve(tuple.size());
  for (std::size_t i = 0; i < tuple.size(); ++i) out.values.push_back({&rel->columns[i], &tuple[i]});
  out.relation = std::move(rel);
  return out;
}

relation_cache::relation_cache(std::size_t max_relations) : max_relations_(max_relations) {}

result<void> relation_cache::apply(relation_message rel) {
  const std::uint32_t oid = rel.oid;
  auto it = relations_.find(oid);
  if (it != relations_.end()) {
    it->second = std::make_shared<const relation_message>(std::move(rel));
    return {};
  }
  if (relations_.size() >= max_relations_) {
    return error{errc::too_many, "relation cache: Relation for oid " + std::to_string(oid) + " (" +
                                     printable(rel.schema) + "." + printable(rel.name) + ") refused: the cache holds " +
                                     std::to_string(relations_.size()) + " relations, its bound"};
  }
  relations_.emplace(oid, std::make_shared<const relation_message>(std::move(rel)));
  return {};
}

std::shared_ptr<const relation_message> relation_cache::find(std::uint32_t oid) const {
  const auto it = relations_.find(oid);
  return it == relations_.end() ? nullptr : it->second;
}

result<named_tuple> relation_cache::name(std::uint32_t oid, const tuple_data& tuple) const {
  std::shared_ptr<const relation_message> rel = find(oid);
  if (!rel) {
    return error{errc::bad_value, "relation cache: no Relation message was received for oid " + std::to_string(oid) +
                                      " before a change to it"};
  }
  return name_tuple(std::move(rel), tuple);
}

}  // namespace rtcache::pg
