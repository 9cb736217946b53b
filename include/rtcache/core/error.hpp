// Errors as values for the policy core: every refusal carries a code a program can branch on and a
// message a person can act on. Expected failures never throw; see result<T>.
#pragma once

#include <boost/system/result.hpp>

#include <string>
#include <string_view>

namespace rtcache::core {

// What went wrong, coarsely. Stable: tests, metrics and the wire (refusal reasons) use these names.
enum class errc {
  empty,             // input was empty
  too_long,          // input or a field exceeds its bound
  bad_prefix,        // channel key does not start with factory:, doc: or list:
  bad_segment_count, // channel key has too few or too many ':'-separated segments
  empty_segment,     // a channel key segment is empty
  bad_char,          // a character outside the allowed set
  unknown_doc_type,  // a doc type not in the registry
  bad_json,          // not well-formed JSON, or nested too deeply
  not_object,        // JSON where an object was required
  missing_field,     // a required field is absent
  wrong_type,        // a field has the wrong JSON type
  unknown_field,     // a field the contract does not define
  duplicate_key,     // the same key twice in one object or list
  unknown_action,    // action not one of create|update|delete|approve|reject
  bad_value,         // right type, invalid value (negative version, malformed timestamp, ...)
  too_many,          // a list or object has more entries than its bound
};

// Stable lower_snake name of a code ("unknown_doc_type").
std::string_view to_string(errc code) noexcept;

// A refusal: the code and a precise, human-readable message naming the field and the bound.
struct error {
  errc code;
  std::string message;

  friend bool operator==(const error&, const error&) = default;
};

// Thrown only by result<T>::value() on an error; expected paths test has_value() instead.
class error_exception : public std::exception {
 public:
  explicit error_exception(error e) : error_(std::move(e)) {}
  const char* what() const noexcept override { return error_.message.c_str(); }
  const error& err() const noexcept { return error_; }

 private:
  error error_;
};

// Found by boost::system::result through ADL when value() is called on an error.
[[noreturn]] void throw_exception_from_error(const error& e, const boost::source_location& loc);

template <class T>
using result = boost::system::result<T, error>;

}  // namespace rtcache::core
