// The demo's document catalogue: which table holds each doc type, which columns a client may write, and how
// the activity simulator changes a row. The single place the API maps a URL's type to SQL identifiers, so
// no identifier from a request ever reaches a statement unchecked.
#pragma once

#include <span>
#include <string_view>

namespace rtcache::demo {

struct doc_table {
  std::string_view type;                       // contract doc type ("wo")
  std::string_view table;                      // table in schema public ("work_orders")
  std::string_view number_column;              // human reference shown in lists ("number", "code", "name")
  std::span<const std::string_view> writable;  // columns PATCH/POST may set (never id, factory_id, version)
  std::string_view sim_update;                 // SET clause the simulator applies ("quantity = quantity + 1")
  std::string_view sim_insert;                 // column list and SELECT values for a simulated create; $1 = factory id
};

// Every doc type, in the playbook's order.
std::span<const doc_table> doc_tables() noexcept;

// The entry for `type`, or nullptr when the demo has no such type.
const doc_table* find_doc_table(std::string_view type) noexcept;

// Whether `column` may be written through the API for this table.
bool is_writable(const doc_table& t, std::string_view column) noexcept;

}  // namespace rtcache::demo
