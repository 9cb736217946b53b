// check-config's look at NATS: connect, read the stream's state, and name the kind of failure from nats.c's status.
#include "cluster/probe.hpp"

#include "cluster/connection.hpp"

#include <nats/nats.h>

namespace rtcache::cluster {

std::string_view to_string(probe_outcome outcome) noexcept {
  switch (outcome) {
    case probe_outcome::stream_exists: return "stream_exists";
    case probe_outcome::stream_missing: return "stream_missing";
    case probe_outcome::invalid_settings: return "invalid_settings";
    case probe_outcome::unreachable: return "unreachable";
    case probe_outcome::auth_refused: return "auth_refused";
    case probe_outcome::tls_failed: return "tls_failed";
    case probe_outcome::jetstream_unavailable: return "jetstream_unavailable";
    case probe_outcome::failed: return "failed";
  }
  return "failed";
}

namespace {

// A failed connect: nats.c's status says which step refused (measured against nats-server 2.9 in probe_test.cpp:
// a closed port is NATS_NO_SERVER, a wrong password NATS_CONNECTION_AUTH_FAILED, plain to a TLS-only server
// NATS_SECURE_CONNECTION_REQUIRED, an untrusted certificate NATS_SSL_ERROR).
probe_outcome connect_failure(const error& e) {
  if (e.code == errc::invalid_settings) return probe_outcome::invalid_settings;
  switch (static_cast<natsStatus>(e.nats_status)) {
    case NATS_NO_SERVER:
    case NATS_TIMEOUT:
    case NATS_IO_ERROR:
    case NATS_ADDRESS_MISSING: return probe_outcome::unreachable;
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_NOT_PERMITTED: return probe_outcome::auth_refused;
    case NATS_SECURE_CONNECTION_WANTED:
    case NATS_SECURE_CONNECTION_REQUIRED:
    case NATS_SSL_ERROR: return probe_outcome::tls_failed;
    default: return probe_outcome::failed;
  }
}

}  // namespace

probe_report probe_stream(const nats_settings& settings, const std::string& stream) {
  probe_report r;
  nats_settings once = settings;
  once.retry_on_failed_connect = false;
  once.max_reconnects = 0;
  auto conn = connection::connect(once);
  if (!conn) {
    r.outcome = connect_failure(conn.error());
    r.detail = conn.error().message;
    return r;
  }
  r.server = (*conn)->connected_url();
  auto state = get_stream_state(**conn, stream);
  if (state) {
    r.outcome = probe_outcome::stream_exists;
    r.state = *state;
    return r;
  }
  const error& e = state.error();
  r.detail = e.message;
  if (e.code == errc::stream_not_found) {
    r.outcome = probe_outcome::stream_missing;
  } else if (e.nats_status == NATS_NO_RESPONDERS || e.js_code == JSNotEnabledErr ||
             e.js_code == JSNotEnabledForAccountErr) {
    r.outcome = probe_outcome::jetstream_unavailable;
  } else {
    r.outcome = probe_outcome::failed;
  }
  return r;
}

std::string describe(const probe_report& r, std::string_view stream) {
  const std::string reachable = "reachable (" + r.server + ")";
  const std::string name(stream);
  switch (r.outcome) {
    case probe_outcome::stream_exists: {
      const auto& s = *r.state;
      std::string out = reachable + ", stream " + name + " exists with " + std::to_string(s.messages) +
                        (s.messages == 1 ? " message" : " messages");
      if (s.messages > 0) {
        out += " (sequences " + std::to_string(s.first_seq) + ".." + std::to_string(s.last_seq) + ")";
      }
      return out;
    }
    case probe_outcome::stream_missing:
      return reachable + ", stream " + name + " does not exist: a node creates it when it starts";
    case probe_outcome::invalid_settings: return "invalid settings: " + r.detail;
    case probe_outcome::unreachable: return "unreachable: " + r.detail;
    case probe_outcome::auth_refused: return "authentication refused: " + r.detail;
    case probe_outcome::tls_failed: return "TLS failed: " + r.detail;
    case probe_outcome::jetstream_unavailable:
      return reachable + ", but JetStream does not answer (is it enabled for this account?): " + r.detail;
    case probe_outcome::failed: return "failed: " + r.detail;
  }
  return r.detail;
}

}  // namespace rtcache::cluster
