// The table of the serve config's keys: for each its section, name, type, bounds, RTCACHE_* variable, default
// and one doc line, and where it is stored in serve_config. The TOML reader, the environment reader, the
// "unknown key" lists and `rtcache config-keys` (docs/operations.md's key table) all walk this one table, so a
// key is named once. Keys whose value is structured (arrays of tables, key lists) bring readers of their own,
// which report in the same model (config_problem.hpp).
#pragma once

#include "gateway/config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <utility>
#include <variant>
#include <vector>

namespace rtcache::gateway::detail {

// Collects the problems of one reading: positioned ones (TOML) sorted into file order at flush(), and the
// directory relative file names are resolved against (the config file's; empty for the environment).
class key_reader {
 public:
  key_reader(std::string_view source, std::string base_dir, std::vector<core::config_problem>& problems)
      : source_(source), base_dir_(std::move(base_dir)), problems_(problems) {}
  key_reader(const key_reader&) = delete;
  key_reader& operator=(const key_reader&) = delete;
  ~key_reader() { flush(); }

  // "<source>:<line>:<col> <path>"
  std::string at(const toml::node& n, std::string_view path) const;
  void problem(const toml::node& n, std::string_view path, std::string message);
  // A problem without a file position ("env RTCACHE_LISTEN").
  void problem(std::string where, std::string message) { problems_.push_back({std::move(where), std::move(message)}); }
  // toml++ iterates keys in sorted order; this reports the positioned problems in file order.
  void flush();

  std::optional<std::string> str(const toml::node& n, std::string_view path);
  // `path` relative to the config file's directory (unchanged when absolute or read from the environment).
  std::string resolve(const std::string& path) const;

 private:
  std::string_view source_;
  std::string base_dir_;
  std::vector<core::config_problem>& problems_;
  std::vector<std::pair<std::pair<toml::source_index, toml::source_index>, core::config_problem>> found_;
};

enum class key_type {
  text,     // a string
  file,     // a string naming a file; in TOML relative to the config file
  integer,  // within [min, max]
  number,   // integer or float within [min, max]
  boolean,  // TOML true/false; environment true, false, 1, 0
  choice,   // a string among `values`
  listen,   // "host:port" (parse_listen)
  list,     // structured: read_toml / read_env
};

// A scalar value as read, of the key's type: text/file/choice/listen a string, integer an int64, number a double.
using key_value = std::variant<std::string, std::int64_t, double, bool>;

template <class T>
using field_of = T& (*)(serve_config&);
// Where a plain scalar key is stored.
using key_field =
    std::variant<std::monostate, field_of<std::string>, field_of<std::optional<std::string>>, field_of<std::size_t>,
                 field_of<double>, field_of<bool>, field_of<std::chrono::milliseconds>, field_of<std::chrono::seconds>>;

struct config_key {
  std::string_view section{};
  std::string_view name{};
  key_type type = key_type::text;
  double min = 0;  // integer, number: the bounds, both included
  double max = 0;
  std::string_view env{};  // the RTCACHE_* variable; empty: none
  std::string_view doc{};  // one line for docs/operations.md
  key_field field{};       // plain scalar keys: stored here
  // choice: the allowed values, as docs show them; list: the type, as docs show it.
  std::string_view values{};
  // Scalar keys that are more than a field: check the value and store it; the problem's message, if any.
  std::optional<std::string> (*set)(serve_config&, const key_value&) = nullptr;
  // The value as docs show it (the default column); plain fields show themselves.
  std::string (*show)(const serve_config&) = nullptr;
  // list keys: the TOML node (reported under `path`), and the variable's text (reported as `where`).
  void (*read_toml)(key_reader&, const toml::node&, const std::string& path, serve_config&) = nullptr;
  void (*read_env)(key_reader&, std::string_view text, const std::string& where, serve_config&) = nullptr;
};

// Every key, grouped by section in the order docs list them.
std::span<const config_key> config_keys();

// The sections of the table, in order ("server", "auth", ...).
std::vector<std::string_view> config_sections();

// The whole file, or nullopt when it cannot be opened.
std::optional<std::string> read_text_file(const std::string& path);

// The key's default, as the table in docs shows it ("10000", "\"info\"", "none").
std::string default_of(const config_key& key);

}  // namespace rtcache::gateway::detail
