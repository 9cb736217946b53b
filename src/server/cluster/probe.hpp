// What `rtcache check-config` asks of NATS for a [cluster] section: can this node connect with these settings,
// and what state is the shared stream in. It reads and never creates or changes anything, and it says which
// kind of failure it met, so an operator knows whether to look at the network, the credentials, TLS or the
// stream.
#pragma once

#include "cluster/settings.hpp"
#include "cluster/stream.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace rtcache::cluster {

enum class probe_outcome {
  stream_exists,          // connected; the stream exists (state holds it)
  stream_missing,         // connected; no such stream (a node creates it with ensure_stream when it starts)
  invalid_settings,       // the settings are refused before any network use (validate())
  unreachable,            // no server of the URLs answered (refused, timed out, no route)
  auth_refused,           // a server answered and refused the credentials (or their absence)
  tls_failed,             // TLS could not be agreed: the server wants TLS or does not offer it, or a certificate
                          // was not trusted (CA, expected host name)
  jetstream_unavailable,  // connected, but nobody answers JetStream's API (JetStream off, or not permitted)
  failed,                 // anything else (detail says)
};

std::string_view to_string(probe_outcome outcome) noexcept;

struct probe_report {
  probe_outcome outcome = probe_outcome::failed;
  std::string server;                 // the URL connected to, when connected
  std::optional<stream_state> state;  // with stream_exists
  std::string detail;                 // the layer's error message (never credentials)

  bool ok() const noexcept {
    return outcome == probe_outcome::stream_exists || outcome == probe_outcome::stream_missing;
  }
};

// Connects with `settings` (once: no retry, no reconnect), reads the stream's state and closes. Bounded by the
// settings' connect_timeout per URL plus JetStream's request timeout (5 s) for the stream's state.
probe_report probe_stream(const nats_settings& settings, const std::string& stream);

// One line for a person: "reachable (nats://h:4222), stream rtcache exists with 12 messages (sequences 1..12)",
// "reachable (...), stream rtcache does not exist: a node creates it when it starts", "unreachable: ...".
std::string describe(const probe_report& report, std::string_view stream);

}  // namespace rtcache::cluster
