// Names of the cluster layer's error codes and the throw hook of result<T>::value().
#include "cluster/error.hpp"

namespace rtcache::cluster {

std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::invalid_settings: return "invalid_settings";
    case errc::connect_failed: return "connect_failed";
    case errc::connection_closed: return "connection_closed";
    case errc::timeout: return "timeout";
    case errc::stream_not_found: return "stream_not_found";
    case errc::stream_conflict: return "stream_conflict";
    case errc::publish_rejected: return "publish_rejected";
    case errc::too_many_in_flight: return "too_many_in_flight";
    case errc::buffer_full: return "buffer_full";
    case errc::consumer_failed: return "consumer_failed";
    case errc::too_many: return "too_many";
    case errc::nats: return "nats";
  }
  return "unknown";
}

void throw_exception_from_error(const error& e, const boost::source_location& /*loc*/) {
  throw error_exception(e);
}

}  // namespace rtcache::cluster
