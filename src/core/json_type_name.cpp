// JSON type names for error messages (see json_type_name.hpp).
#include "rtcache/core/json_type_name.hpp"

namespace rtcache::core {

std::string_view json_type_name(simdjson::dom::element_type t) noexcept {
  switch (t) {
    case simdjson::dom::element_type::ARRAY: return "an array";
    case simdjson::dom::element_type::OBJECT: return "an object";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE: return "a number";
    case simdjson::dom::element_type::STRING: return "a string";
    case simdjson::dom::element_type::BOOL: return "a boolean";
    case simdjson::dom::element_type::NULL_VALUE: return "null";
  }
  return "unknown";
}

}  // namespace rtcache::core
