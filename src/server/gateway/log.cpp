// key=value log lines on stderr: one event per line, quoted only when a value needs it.
#include "gateway/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace rtcache::gateway {

std::string_view to_string(log_level l) noexcept {
  switch (l) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    case log_level::off: return "off";
  }
  return "info";
}

core::result<log_level> parse_log_level(std::string_view text) {
  for (auto l : {log_level::debug, log_level::info, log_level::warn, log_level::error, log_level::off}) {
    if (text == to_string(l)) return l;
  }
  return core::error{core::errc::bad_value,
                     "log level '" + std::string(text) + "' is not one of debug, info, warn, error, off"};
}

namespace {

bool needs_quotes(std::string_view v) noexcept {
  if (v.empty()) return true;
  for (const char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= ' ' || c == '"' || c == '=' || c == 0x7f) return true;
  }
  return false;
}

void append_value(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (const char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out.append(buf);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

}  // namespace

std::string logger::format(log_level l, std::string_view event, std::span<const log_field> fields) {
  std::string line = "level=";
  line.append(to_string(l));
  line.append(" event=");
  append_value(line, event);
  for (const auto& f : fields) {
    line.push_back(' ');
    line.append(f.key);
    line.push_back('=');
    append_value(line, f.value);
  }
  return line;
}

void logger::write(log_level l, std::string_view event, std::span<const log_field> fields) {
  if (!enabled(l)) return;
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  std::string line = ts;
  line.append(format(l, event, fields));
  line.push_back('\n');
  std::lock_guard lock(mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace rtcache::gateway
