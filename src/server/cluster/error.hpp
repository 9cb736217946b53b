// Errors of the NATS JetStream layer as values: a code a program branches on, the nats.c status and JetStream
// error code behind it (for logs and for tests that pin server behaviour), and a message a person can act on.
#pragma once

#include <boost/system/result.hpp>

#include <exception>
#include <string>
#include <string_view>

namespace rtcache::cluster {

// What went wrong, coarsely. Stable names (to_string) for logs and metrics.
enum class errc {
  invalid_settings,    // a setting is out of range or contradicts another (the message names it)
  connect_failed,      // no server of nats_urls accepted the connection (or authentication/TLS failed)
  connection_closed,   // the connection is closed for good (not merely reconnecting)
  timeout,             // the server did not answer in time (includes: no ack for a publish within ack_timeout)
  stream_not_found,    // the stream does not exist
  stream_conflict,     // the stream exists with a setting that cannot be changed in place (storage)
  publish_rejected,    // JetStream refused a message (wrong stream, expected-sequence check, limits)
  too_many_in_flight,  // the publisher's window stayed full for stall_timeout
  buffer_full,         // the reconnect buffer (nats_settings::reconnect_buffer_bytes) is full
  consumer_failed,     // an ordered consumer or a range fetch could not be (re)started
  too_many,            // a range fetch holds more than its bound
  nats,                // any other failure reported by nats.c or the server (see nats_status/js_code)
};

std::string_view to_string(errc code) noexcept;

struct error {
  errc code = errc::nats;
  int nats_status = 0;  // natsStatus (0 = NATS_OK when the failure is ours, not nats.c's)
  int js_code = 0;      // jsErrCode from the server's API error, 0 when none
  std::string message;  // "<what we tried>: <nats.c's text>", never credentials
};

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

}  // namespace rtcache::cluster
