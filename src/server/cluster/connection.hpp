// One connection to NATS (nats.c's natsConnection plus a JetStream context for stream management), built from
// nats_settings. It reconnects by itself forever (settings.max_reconnects < 0); what happens to the link is
// surfaced as events. Publishers, ordered consumers and range fetches are made from it and must be destroyed
// before it.
#pragma once

#include "cluster/error.hpp"
#include "cluster/settings.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace rtcache::cluster {

enum class connection_event_kind {
  connected,     // the first connection, made late (settings.retry_on_failed_connect)
  disconnected,  // the link dropped; nats.c is reconnecting (publishes go to the reconnect buffer)
  reconnected,   // a server accepted us again; subscriptions and ordered consumers resume by themselves
  closed,        // the connection is closed for good (close(), or max_reconnects exhausted)
  async_error,   // an asynchronous error: slow consumer, missed heartbeats, permission violation (detail says)
};

std::string_view to_string(connection_event_kind kind) noexcept;

struct connection_event {
  connection_event_kind kind;
  std::string detail;  // the server URL for (re)connects, nats.c's text for errors
};

// Called on nats.c's callback thread, one event at a time, in the order nats.c saw them. It must not block and
// must not destroy the connection.
using connection_event_handler = std::function<void(const connection_event&)>;

struct connection_stats {
  std::uint64_t disconnects = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t async_errors = 0;
};

namespace detail {
struct connection_handles;  // nats.c handles, shared with the publisher, consumer and fetch (nats_handles.hpp)
}

// Thread-safety: every member may be called from any thread; the connection outlives what is made from it.
class connection {
 public:
  // Validates the settings (errc::invalid_settings lists every problem), connects to one of settings.urls and
  // creates the JetStream context. errc::connect_failed when no server accepts the connection within
  // connect_timeout per URL (unless retry_on_failed_connect).
  static result<std::unique_ptr<connection>> connect(const nats_settings& settings,
                                                     connection_event_handler on_event = {});

  ~connection();  // closes the connection and waits (bounded) for nats.c's last callback
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // True while a server link is up (false while reconnecting and after close).
  bool connected() const;
  // The URL of the server currently connected to, empty when none.
  std::string connected_url() const;
  // Round trip to the server (PING/PONG), bounded by `timeout`.
  result<void> flush(std::chrono::milliseconds timeout) const;
  connection_stats stats() const;

  detail::connection_handles& handles() const noexcept { return *handles_; }

 private:
  explicit connection(std::unique_ptr<detail::connection_handles> handles);
  std::unique_ptr<detail::connection_handles> handles_;
};

}  // namespace rtcache::cluster
