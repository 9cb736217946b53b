// The demo's eight document tables (db/schema.sql) as static data.
#include "doc_catalog.hpp"

#include <algorithm>
#include <array>

namespace rtcache::demo {
namespace {

constexpr std::array<std::string_view, 7> k_wo_cols{"status",   "number",   "product",       "quantity",
                                                    "priority", "due_date", "internal_notes"};
constexpr std::array<std::string_view, 5> k_pl_cols{"status", "number", "customer", "cartons", "weight_kg"};
constexpr std::array<std::string_view, 5> k_dn_cols{"status", "number", "carrier", "destination", "ship_date"};
constexpr std::array<std::string_view, 5> k_grn_cols{"status", "number", "supplier", "received_qty", "inspected"};
constexpr std::array<std::string_view, 5> k_lot_cols{"status", "code", "product", "quantity", "expiry_date"};
constexpr std::array<std::string_view, 5> k_pu_cols{"status", "number", "supplier", "amount", "currency"};
constexpr std::array<std::string_view, 7> k_inv_cols{"status",   "number",   "customer",    "amount",
                                                     "currency", "due_date", "bank_account"};
constexpr std::array<std::string_view, 5> k_price_cols{"status", "name", "currency", "valid_from", "item_count"};

const std::array<doc_table, 8> k_tables{{
    {"wo", "work_orders", "number", k_wo_cols, "quantity = quantity + 1 + (id % 7)::int",
     "(factory_id, number, product, quantity) SELECT $1, 'WO-SIM-' || floor(random() * 1e6)::bigint, 'Gearbox G7', 25"},
    {"pl", "packing_lists", "number", k_pl_cols, "cartons = cartons + 1",
     "(factory_id, number, customer) SELECT $1, 'PL-SIM-' || floor(random() * 1e6)::bigint, 'Acme GmbH'"},
    {"dn", "delivery_notes", "number", k_dn_cols, "ship_date = coalesce(ship_date, current_date) + 1",
     "(factory_id, number, carrier, destination) SELECT $1, 'DN-SIM-' || floor(random() * 1e6)::bigint, 'DHL', "
     "'Hamburg'"},
    {"grn", "goods_received_notes", "number", k_grn_cols, "received_qty = received_qty + 5",
     "(factory_id, number, supplier) SELECT $1, 'GRN-SIM-' || floor(random() * 1e6)::bigint, 'SteelCo'"},
    {"lot", "lots", "code", k_lot_cols, "quantity = quantity + 10",
     "(factory_id, code, product) SELECT $1, 'LOT-SIM-' || floor(random() * 1e6)::bigint, 'Resin R1'"},
    {"pu", "purchases", "number", k_pu_cols, "amount = amount + 12.50",
     "(factory_id, number, supplier) SELECT $1, 'PU-SIM-' || floor(random() * 1e6)::bigint, 'PolyChem'"},
    {"invoice", "invoices", "number", k_inv_cols, "amount = amount + 99.90",
     "(factory_id, number, customer) SELECT $1, 'INV-SIM-' || floor(random() * 1e6)::bigint, 'Sol SA'"},
    {"price_list", "price_lists", "name", k_price_cols, "item_count = item_count + 1",
     "(factory_id, name) SELECT $1, 'Simulated list ' || floor(random() * 1e6)::bigint"},
}};

}  // namespace

std::span<const doc_table> doc_tables() noexcept {
  return k_tables;
}

const doc_table* find_doc_table(std::string_view type) noexcept {
  const auto it = std::find_if(k_tables.begin(), k_tables.end(), [&](const doc_table& t) { return t.type == type; });
  return it == k_tables.end() ? nullptr : &*it;
}

bool is_writable(const doc_table& t, std::string_view column) noexcept {
  return std::find(t.writable.begin(), t.writable.end(), column) != t.writable.end();
}

}  // namespace rtcache::demo
