// Names of error codes and the throw hook of result<T>::value().
#include "rtcache/core/error.hpp"

namespace rtcache::core {

std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::empty: return "empty";
    case errc::too_long: return "too_long";
    case errc::bad_prefix: return "bad_prefix";
    case errc::bad_segment_count: return "bad_segment_count";
    case errc::empty_segment: return "empty_segment";
    case errc::bad_char: return "bad_char";
    case errc::unknown_doc_type: return "unknown_doc_type";
    case errc::bad_json: return "bad_json";
    case errc::not_object: return "not_object";
    case errc::missing_field: return "missing_field";
    case errc::wrong_type: return "wrong_type";
    case errc::unknown_field: return "unknown_field";
    case errc::duplicate_key: return "duplicate_key";
    case errc::unknown_action: return "unknown_action";
    case errc::bad_value: return "bad_value";
    case errc::too_many: return "too_many";
  }
  return "unknown";
}

void throw_exception_from_error(const error& e, const boost::source_location& /*loc*/) {
  throw error_exception(e);
}

}  // namespace rtcache::core
