// Loading the mapping configuration from TOML: every key checked, every refusal naming file:line:column and
// the key path, all of them at once. toml++ throws on syntax errors; that exception stops here and becomes a
// problem.
#include "routing/mapping_config.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <toml++/toml.h>
#include <tuple>
#include <utility>

namespace rtcache::routing {

using core::errc;
using core::error;
using core::result;

namespace {

constexpr std::size_t k_max_identifier = 63;  // PostgreSQL's NAMEDATALEN - 1

std::string quote_text(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4U];
      out += hex[u & 0xFU];
    } else {
      out += c;
    }
  }
  return out + "'";
}

// One refusal: its code (parse_mapping_config's error code is the first one's), where and what.
struct finding {
  errc code;
  toml::source_position pos;
  std::string path;
  std::string what;
};

// Collects every problem of one parse, keeping on after each: a bad key is reported and the next one read. A
// table with a problem of its own skips the checks across its keys (which would only repeat it).
class loader {
 public:
  loader(std::string_view source, const mapping_load_options& options) : source_(source), options_(options) {}

  mapping_config load(std::string_view text) {
    mapping_config config;
    toml::table root;
    try {
      root = toml::parse(text, source_);
    } catch (const toml::parse_error& e) {
      report(errc::bad_value, e.source(), "", "TOML syntax error: " + std::string(e.description()));
      return config;
    }
    // doc_types first: tables are checked against it whatever the key order in the file.
    bool doc_types_ok = true;
    if (const auto* node = root.get("doc_types")) doc_types_ok = read_doc_types(*node, config);
    for (auto&& [key, node] : root) {
      const std::string_view name = key.str();
      if (name == "doc_types") continue;
      if (name == "routing") {
        read_routing(node, config.limits);
      } else if (name == "tables") {
        read_tables(node, config, doc_types_ok);
      } else if (std::find(options_.foreign_sections.begin(), options_.foreign_sections.end(), name) ==
                 options_.foreign_sections.end()) {
        report(errc::unknown_field, key.source(), quote_text(name),
               "unknown key; expected doc_types, routing or tables");
      }
    }
    std::sort(config.tables.begin(), config.tables.end(), [](const table_mapping& a, const table_mapping& b) {
      return std::tie(a.schema, a.table) < std::tie(b.schema, b.table);
    });
    // toml++ iterates keys sorted; report in file order.
    std::stable_sort(findings_.begin(), findings_.end(), [](const finding& a, const finding& b) {
      return std::tie(a.pos.line, a.pos.column) < std::tie(b.pos.line, b.pos.column);
    });
    return config;
  }

  const std::vector<finding>& findings() const noexcept { return findings_; }

  // "<source>:<line>:<col>" (or the source alone when the position is unknown).
  std::string at(const toml::source_position& pos) const {
    std::string out(source_);
    if (pos.line != 0) out += ':' + std::to_string(pos.line) + ':' + std::to_string(pos.column);
    return out;
  }

 private:
  void report(errc code, const toml::source_region& where, std::string path, std::string what) {
    findings_.push_back({code, where.begin, std::move(path), std::move(what)});
  }

  static std::string_view type_name(const toml::node& n) {
    switch (n.type()) {
      case toml::node_type::table: return "a table";
      case toml::node_type::array: return "an array";
      case toml::node_type::string: return "a string";
      case toml::node_type::integer: return "an integer";
      case toml::node_type::floating_point: return "a float";
      case toml::node_type::boolean: return "a boolean";
      default: return "a date/time";
    }
  }

  void wrong_type(const toml::node& n, const std::string& path, std::string_view want) {
    report(errc::wrong_type, n.source(), path, "must be " + std::string(want) + ", not " + std::string(type_name(n)));
  }

  // 1..63 bytes without control characters: what PostgreSQL identifiers and core's column check allow.
  bool check_identifier(std::string_view id, const toml::source_region& where, const std::string& path,
                        std::string_view what) {
    if (id.empty()) {
      report(errc::empty, where, path, std::string(what) + " is empty");
      return false;
    }
    if (id.size() > k_max_identifier) {
      report(errc::too_long, where, path,
             std::string(what) + " " + quote_text(id) + " is " + std::to_string(id.size()) +
                 " bytes; PostgreSQL's limit is 63");
      return false;
    }
    for (char c : id) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) {
        report(errc::bad_char, where, path, std::string(what) + " " + quote_text(id) + " has a control character");
        return false;
      }
    }
    return true;
  }

  std::optional<std::string> read_string(const toml::node& n, const std::string& path) {
    if (!n.is_string()) {
      wrong_type(n, path, "a string");
      return std::nullopt;
    }
    return std::string(n.as_string()->get());
  }

  // An array of distinct strings; each checked as an identifier when `identifiers`. Every bad item is reported;
  // nullopt when there was one.
  std::optional<std::vector<std::string>> read_string_list(const toml::node& n, const std::string& path,
                                                           bool identifiers) {
    const auto* arr = n.as_array();
    if (arr == nullptr) {
      wrong_type(n, path, "an array of strings");
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::node& item = *arr->get(i);
      const std::string item_path = path + "[" + std::to_string(i) + "]";
      if (!item.is_string()) {
        wrong_type(item, item_path, "a string");
        ok = false;
        continue;
      }
      std::string s(item.as_string()->get());
      if (identifiers && !check_identifier(s, item.source(), item_path, "column")) {
        ok = false;
        continue;
      }
      if (std::find(out.begin(), out.end(), s) != out.end()) {
        report(errc::duplicate_key, item.source(), item_path, quote_text(s) + " is listed twice");
        ok = false;
        continue;
      }
      out.push_back(std::move(s));
    }
    if (!ok) return std::nullopt;
    return out;
  }

  bool read_doc_types(const toml::node& n, mapping_config& config) {
    auto names = read_string_list(n, "doc_types", false);
    if (!names) return false;
    if (names->empty()) {
      report(errc::empty, n.source(), "doc_types", "must list at least one type");
      return false;
    }
    auto registry = core::doc_type_registry::from(*names);
    if (!registry) {
      report(registry.error().code, n.source(), "doc_types", registry.error().message);
      return false;
    }
    config.doc_types = std::move(*registry);
    return true;
  }

  void read_routing(const toml::node& n, routing_limits& limits) {
    const auto* tbl = n.as_table();
    if (tbl == nullptr) return wrong_type(n, "routing", "a table");
    for (auto&& [k, v] : *tbl) {
      const std::string path = "routing." + std::string(k.str());
      std::size_t* target = nullptr;
      if (k.str() == "list_row_limit") {
        target = &limits.list_row_limit;
      } else if (k.str() == "flush_messages") {
        target = &limits.flush_messages;
      } else {
        report(errc::unknown_field, k.source(), path, "unknown key; expected list_row_limit or flush_messages");
        continue;
      }
      if (!v.is_integer()) {
        wrong_type(v, path, "an integer");
        continue;
      }
      const std::int64_t value = v.as_integer()->get();
      if (value < 1 || value > 100'000'000) {
        report(errc::bad_value, v.source(), path, "must be in 1..100000000, not " + std::to_string(value));
        continue;
      }
      *target = static_cast<std::size_t>(value);
    }
  }

  void read_tables(const toml::node& n, mapping_config& config, bool doc_types_ok) {
    const auto* tbl = n.as_table();
    if (tbl == nullptr) return wrong_type(n, "tables", "a table");
    // toml++ iterates keys sorted; walk them in file order so "twice" names the later occurrence.
    std::vector<std::pair<const toml::key*, const toml::node*>> entries;
    for (auto&& [k, v] : *tbl) entries.emplace_back(&k, &v);
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      const auto& pa = a.first->source().begin;
      const auto& pb = b.first->source().begin;
      return std::tie(pa.line, pa.column) < std::tie(pb.line, pb.column);
    });
    for (const auto& [kp, vp] : entries) {
      const toml::key& k = *kp;
      auto t = read_table(k, *vp, config, doc_types_ok);
      if (!t) continue;
      bool unique = true;
      for (const auto& other : config.tables) {
        if (other.schema == t->schema && other.table == t->table) {
          report(errc::duplicate_key, k.source(), "tables." + quote_text(k.str()),
                 "table " + t->qualified_name() + " is configured twice");
          unique = false;
        } else if (t->doc_type && other.doc_type == t->doc_type) {
          report(errc::duplicate_key, k.source(), "tables." + quote_text(k.str()),
                 "doc type '" + *t->doc_type + "' is already mapped by table " + other.qualified_name());
          unique = false;
        }
      }
      if (unique) config.tables.push_back(std::move(*t));
    }
  }

  // The table's entry, or nullopt when it has a problem (every one reported).
  std::optional<table_mapping> read_table(const toml::key& key, const toml::node& n, const mapping_config& config,
                                          bool doc_types_ok) {
    const std::string name(key.str());
    const std::string path = "tables." + quote_text(name);
    const auto* tbl = n.as_table();
    if (tbl == nullptr) {
      report(errc::wrong_type, n.source(), path,
             "must be a table (write [tables.\"schema.table\"], quoted: a dotted key nests tables)");
      return std::nullopt;
    }
    const std::size_t before = findings_.size();
    table_mapping t;
    const auto dot = name.find('.');
    if (dot == std::string::npos) {
      t.schema = "public";
      t.table = name;
    } else {
      t.schema = name.substr(0, dot);
      t.table = name.substr(dot + 1);
    }
    if (dot != std::string::npos && t.table.find('.') != std::string::npos) {
      report(errc::bad_value, key.source(), path, "must be \"schema.table\" with a single '.'");
    } else if (check_identifier(t.schema, key.source(), path, "schema")) {
      check_identifier(t.table, key.source(), path, "table");
    }

    const toml::node* status_column_node = nullptr;
    const toml::node* approve_node = nullptr;
    const toml::node* reject_node = nullptr;
    const toml::node* patch_node = nullptr;
    for (auto&& [k, v] : *tbl) {
      const std::string_view field = k.str();
      const std::string fpath = path + "." + std::string(field);
      if (field == "doc_type") {
        auto s = read_string(v, fpath);
        if (!s) continue;
        if (doc_types_ok && !config.doc_types.contains(*s)) {
          std::string known;
          for (const auto& d : config.doc_types.names()) known += (known.empty() ? "" : " ") + d;
          report(errc::unknown_doc_type, v.source(), fpath,
                 "doc type " + quote_text(*s) + " is not registered (doc_types: " + known + ")");
          continue;
        }
        t.doc_type = std::move(*s);
      } else if (field == "id_column" || field == "factory_column" || field == "version_column" ||
                 field == "status_column") {
        auto s = read_string(v, fpath);
        if (!s || !check_identifier(*s, v.source(), fpath, "column")) continue;
        if (field == "id_column") {
          t.id_column = std::move(*s);
        } else if (field == "factory_column") {
          t.factory_column = std::move(*s);
        } else if (field == "version_column") {
          t.version_column = std::move(*s);
        } else {
          status_column_node = &v;
          t.status = status_rule{std::move(*s), {}, {}};
        }
      } else if (field == "approve_values" || field == "reject_values") {
        (field == "approve_values" ? approve_node : reject_node) = &v;
      } else if (field == "patch") {
        patch_node = &v;
        if (auto list = read_string_list(v, fpath, true)) t.patch = std::move(*list);
      } else if (field == "never_send") {
        if (auto list = read_string_list(v, fpath, true)) t.never_send = std::move(*list);
      } else if (field == "public") {
        if (!v.is_boolean()) {
          wrong_type(v, fpath, "a boolean");
          continue;
        }
        t.is_public = v.as_boolean()->get();
      } else if (v.is_table()) {
        report(errc::unknown_field, k.source(), fpath,
               "unknown key holding a table; a dotted table name nests: quote it, [tables.\"schema.table\"]");
      } else {
        report(errc::unknown_field, k.source(), fpath,
               "unknown key; expected doc_type, id_column, factory_column, version_column, status_column, "
               "approve_values, reject_values, patch, never_send or public");
      }
    }

    // Status values are read after the loop: they need the status column, whatever the key order.
    std::vector<std::string> approve;
    std::vector<std::string> reject;
    if (approve_node != nullptr) {
      if (auto list = read_string_list(*approve_node, path + ".approve_values", false)) approve = std::move(*list);
    }
    if (reject_node != nullptr) {
      if (auto list = read_string_list(*reject_node, path + ".reject_values", false)) reject = std::move(*list);
    }
    // The checks across keys: only on keys that read cleanly, so that no problem is reported twice.
    if (findings_.size() != before) return std::nullopt;
    if (t.status) {
      if (approve.empty() && reject.empty()) {
        report(errc::missing_field, status_column_node->source(), path + ".status_column",
               "needs approve_values or reject_values (non-empty)");
      }
      for (const auto& a : approve) {
        if (std::find(reject.begin(), reject.end(), a) != reject.end()) {
          report(errc::duplicate_key, reject_node->source(), path + ".reject_values",
                 quote_text(a) + " is also in approve_values");
        }
      }
      t.status->approve_values = std::move(approve);
      t.status->reject_values = std::move(reject);
    } else if (approve_node != nullptr || reject_node != nullptr) {
      const toml::node& where = approve_node != nullptr ? *approve_node : *reject_node;
      report(errc::missing_field, where.source(),
             path + (approve_node != nullptr ? ".approve_values" : ".reject_values"),
             "needs status_column: the column whose change to these values is detected");
    }

    if (t.doc_type) {
      if (t.id_column.empty()) {
        report(errc::missing_field, n.source(), path, "doc_type " + quote_text(*t.doc_type) + " needs id_column");
      }
      if (t.factory_column.empty()) {
        report(errc::missing_field, n.source(), path, "doc_type " + quote_text(*t.doc_type) + " needs factory_column");
      }
    } else if (!t.is_public) {
      report(errc::missing_field, n.source(), path,
             "needs doc_type (a mapped table) or public = true (postgres_changes only)");
    } else if (!t.id_column.empty() || !t.factory_column.empty() || t.version_column || t.status || !t.patch.empty()) {
      report(errc::bad_value, n.source(), path,
             "id_column, factory_column, version_column, status_column and patch need a doc_type");
    }

    for (const auto& col : t.patch) {
      if (std::find(t.never_send.begin(), t.never_send.end(), col) != t.never_send.end()) {
        report(errc::duplicate_key, patch_node->source(), path + ".patch",
               "column " + quote_text(col) + " is both in patch and in never_send");
      } else if (is_denied_column(col)) {
        report(errc::bad_value, patch_node->source(), path + ".patch",
               "column " + quote_text(col) + " matches the default deny list and is never sent");
      }
    }
    // Identity columns travel as id/factoryId in every event; refusing to send them makes no sense.
    for (const auto* col : {&t.id_column, &t.factory_column}) {
      if (!col->empty() && std::find(t.never_send.begin(), t.never_send.end(), *col) != t.never_send.end()) {
        report(errc::bad_value, n.source(), path + ".never_send",
               "column " + quote_text(*col) + " identifies the document and is always sent");
      }
    }
    if (findings_.size() != before) return std::nullopt;
    std::sort(t.patch.begin(), t.patch.end());
    std::sort(t.never_send.begin(), t.never_send.end());
    return t;
  }

  std::string source_;
  const mapping_load_options& options_;
  std::vector<finding> findings_;
};

bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_lower_or_digit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
  return is_upper(c) || is_lower_or_digit(c);
}

}  // namespace

const table_mapping* mapping_config::find(std::string_view schema, std::string_view table) const noexcept {
  const auto it = std::lower_bound(tables.begin(), tables.end(), std::pair{schema, table},
                                   [](const table_mapping& t, const std::pair<std::string_view, std::string_view>& k) {
                                     return std::pair<std::string_view, std::string_view>(t.schema, t.table) < k;
                                   });
  if (it == tables.end() || it->schema != schema || it->table != table) return nullptr;
  return &*it;
}

bool is_denied_column(std::string_view column) noexcept {
  std::size_t i = 0;
  while (i < column.size()) {
    while (i < column.size() && !is_alnum(column[i])) ++i;
    const std::size_t start = i;
    // A word ends at a non-alphanumeric byte or where a lower-case letter or digit is followed by an upper-case
    // one ("apiKey" -> api, Key).
    while (i < column.size() && is_alnum(column[i])) {
      if (i > start && is_upper(column[i]) && is_lower_or_digit(column[i - 1])) break;
      ++i;
    }
    const std::string_view word = column.substr(start, i - start);
    if (word.empty()) continue;
    for (std::string_view denied : k_denied_words) {
      if (denied.size() != word.size()) continue;
      bool same = true;
      for (std::size_t j = 0; j < word.size() && same; ++j) {
        same = std::tolower(static_cast<unsigned char>(word[j])) == denied[j];
      }
      if (same) return true;
    }
  }
  return false;
}

mapping_config read_mapping_config(std::string_view toml_text, std::string_view source_name,
                                   const mapping_load_options& options, std::vector<core::config_problem>& problems) {
  loader l(source_name, options);
  mapping_config config = l.load(toml_text);
  for (const auto& f : l.findings()) {
    problems.push_back({l.at(f.pos) + (f.path.empty() ? "" : " " + f.path), f.what});
  }
  return config;
}

result<mapping_config> parse_mapping_config(std::string_view toml_text, std::string_view source_name,
                                            const mapping_load_options& options) {
  loader l(source_name, options);
  mapping_config config = l.load(toml_text);
  if (l.findings().empty()) return config;
  // One line per problem, in file order; the code is the first problem's.
  std::string message;
  for (const auto& f : l.findings()) {
    if (!message.empty()) message += '\n';
    message += l.at(f.pos) + ": " + (f.path.empty() ? "" : f.path + ": ") + f.what;
  }
  return error{l.findings().front().code, std::move(message)};
}

result<mapping_config> load_mapping_config(const std::filesystem::path& path, const mapping_load_options& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error{errc::empty, path.string() + ": cannot be read"};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return error{errc::empty, path.string() + ": read failed"};
  return parse_mapping_config(text.str(), path.string(), options);
}

}  // namespace rtcache::routing
