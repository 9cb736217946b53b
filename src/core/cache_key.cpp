// Cache keys in TanStack Query's array form; the only place that spells them.
#include "rtcache/core/cache_key.hpp"

#include "rtcache/core/json_text.hpp"

#include <cassert>

namespace rtcache::core {

std::string cache_key::to_json() const {
  std::string out = kind == cache_key_kind::doc ? "[\"doc\"," : "[\"list\",";
  append_json_string(out, type);
  out += ',';
  if (kind == cache_key_kind::doc) {
    append_json_string(out, id);
  } else {
    append_json_string(out, factory_id);
    out += ",{\"page\":" + std::to_string(page) + "}";
  }
  out += ']';
  return out;
}

cache_key key_doc(std::string type, std::string id) {
  return {cache_key_kind::doc, std::move(type), std::move(id), {}, 0};
}

cache_key key_list(std::string type, std::string factory_id, std::uint32_t page) {
  assert(page >= 1 && "list pages start at 1");
  return {cache_key_kind::list, std::move(type), {}, std::move(factory_id), page};
}

cache_key key_list_heads(std::string type, std::string factory_id) {
  return key_list(std::move(type), std::move(factory_id), 1);
}

}  // namespace rtcache::core
