// Structured logs for the server: one line per event on stderr, `ts=... level=... event=... key=value ...`.
// Owned by main() and passed by reference; no global logger.
#pragma once

#include "rtcache/core/error.hpp"

#include <concepts>
#include <cstdio>
#include <initializer_list>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

namespace rtcache::gateway {

enum class log_level { debug, info, warn, error, off };

// "debug", "info", "warn", "error", "off".
std::string_view to_string(log_level l) noexcept;
// Errors: bad_value for any other text.
core::result<log_level> parse_log_level(std::string_view text);

// One key=value pair. Values holding a space, '"', '=' or a control byte are quoted with escapes, so a line
// always splits unambiguously.
struct log_field {
  log_field(std::string_view k, std::string_view v) : key(k), value(v) {}
  log_field(std::string_view k, const std::string& v) : key(k), value(v) {}
  log_field(std::string_view k, const char* v) : key(k), value(v) {}
  log_field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  template <std::integral T>
  log_field(std::string_view k, T v) : key(k), value(std::to_string(v)) {}

  std::string_view key;
  std::string value;
};

// Thread-safety: write() may be called concurrently; each line is written whole.
class logger {
 public:
  // `out` is not owned and must outlive the logger.
  explicit logger(log_level min_level, std::FILE* out = stderr) : min_(min_level), out_(out) {}

  bool enabled(log_level l) const noexcept { return l >= min_ && l != log_level::off; }
  void write(log_level l, std::string_view event, std::initializer_list<log_field> fields = {}) {
    write(l, event, std::span<const log_field>(fields.begin(), fields.size()));
  }
  // For fields built at run time (e.g. the PostgreSQL source's log seam).
  void write(log_level l, std::string_view event, std::span<const log_field> fields);

  void debug(std::string_view event, std::initializer_list<log_field> f = {}) { write(log_level::debug, event, f); }
  void info(std::string_view event, std::initializer_list<log_field> f = {}) { write(log_level::info, event, f); }
  void warn(std::string_view event, std::initializer_list<log_field> f = {}) { write(log_level::warn, event, f); }
  void error(std::string_view event, std::initializer_list<log_field> f = {}) { write(log_level::error, event, f); }

  // The line write() would print, without the timestamp and newline (for tests).
  static std::string format(log_level l, std::string_view event, std::initializer_list<log_field> fields) {
    return format(l, event, std::span<const log_field>(fields.begin(), fields.size()));
  }
  static std::string format(log_level l, std::string_view event, std::span<const log_field> fields);

 private:
  const log_level min_;
  std::FILE* const out_;
  std::mutex mu_;  // serializes lines
};

}  // namespace rtcache::gateway
