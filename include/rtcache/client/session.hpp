// The realtime session as a reducer: socket and channel events in, frames to send and requests for the
// transport out. It decides when to connect, reconnect (capped, jittered), heartbeat, join, rejoin with the
// resume position, leave and push a new access token, and which received events reach the policy. No I/O and
// no clock reads: `now` is a parameter, randomness is injected.
#pragma once

#include "rtcache/client/phoenix.hpp"
#include "rtcache/core/backoff.hpp"
#include "rtcache/core/channel_key.hpp"
#include "rtcache/core/clock.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/event.hpp"
#include "rtcache/core/event_codec.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::client {

struct session_config {
  std::chrono::milliseconds heartbeat_interval{25000};  // a heartbeat unanswered by the next tick drops the socket
  std::chrono::milliseconds join_timeout{10000};        // a join unanswered this long is retried
  // Socket reconnect delays, and channel rejoin delays after a refusal or a close: 1 s doubling to 10 s.
  core::backoff_policy reconnect{.initial = std::chrono::milliseconds(1000), .max = std::chrono::milliseconds(10'000)};
  core::backoff_policy rejoin{.initial = std::chrono::milliseconds(1000), .max = std::chrono::milliseconds(10'000)};
  std::size_t max_channels = 100;                       // watched channels; beyond: watch() refuses too_many
  std::size_t max_remembered_positions = 1024;          // positions kept for channels no longer watched
  std::size_t max_frame_bytes = 1 << 20;                // inbound frames above are refused
  core::codec_limits codec{};                           // limits of invalidate payloads
};

enum class connection_state { idle, connecting, open, waiting, stopped };
enum class channel_state { closed, joining, joined };

std::string_view to_string(connection_state s) noexcept;
std::string_view to_string(channel_state s) noexcept;

// A contract event received on a channel.
struct received_event {
  std::string channel;
  core::event event;
};

// Something the application may want to log: a refused join, an undecodable frame or event, a server close.
struct session_problem {
  std::string channel;  // empty for connection-level problems
  std::string what;     // "join_refused", "bad_frame", "bad_event", "channel_closed", "system_error", ...
  std::optional<core::errc> code;
  std::string message;
};

// What one call asks of the transport and the policy. Append-only; the caller drains it.
struct session_output {
  std::vector<std::string> send;        // text frames, in order
  bool connect = false;                 // open the socket now
  bool disconnect = false;              // drop the socket now (heartbeat timeout, stop)
  std::vector<received_event> events;   // in arrival order
  std::vector<std::string> not_recovered;  // channels rejoined without recovery: refetch what they show
  std::vector<std::string> joined;         // channels whose join (first or rejoin) the server accepted
  std::vector<session_problem> problems;

  bool empty() const noexcept {
    return send.empty() && !connect && !disconnect && events.empty() && not_recovered.empty() && joined.empty() &&
           problems.empty();
  }
};

// Thread-safety: not thread-safe; owned by one event loop (realtime_client's io_context).
class session {
 public:
  // `random01` returns values in [0, 1) for back-off jitter (tests pass a fixed sequence).
  session(core::doc_type_registry types, session_config config, std::function<double()> random01);

  // The token sent in every join and pushed to every joined channel when it changes.
  void set_access_token(std::string token, session_output& out);
  const std::string& access_token() const noexcept { return token_; }

  // Reference-counted interest in a channel; the first watch joins it (now or once connected). Errors: the
  // channel key grammar's (parse_channel_key), too_many beyond max_channels.
  core::result<void> watch(std::string_view channel, core::time_point now, session_output& out);
  // The last unwatch leaves the channel; its position is remembered for a later watch.
  void unwatch(std::string_view channel, session_output& out);

  // Starts connecting (idempotent). stop() leaves every channel and drops the socket for good.
  void start(session_output& out);
  void stop(session_output& out);

  // Transport events.
  void on_open(core::time_point now, session_output& out);
  void on_closed(core::time_point now, session_output& out);  // also a failed connect
  void on_frame(std::string_view bytes, bool binary, core::time_point now, session_output& out);
  // Runs what is due at `now`: reconnect, heartbeat (or heartbeat timeout), join retries.
  void tick(core::time_point now, session_output& out);
  std::optional<core::time_point> next_wake() const;

  connection_state state() const noexcept { return state_; }
  std::optional<channel_state> channel_status(std::string_view channel) const;
  std::optional<channel_position> position(std::string_view channel) const;
  std::vector<std::string> channels() const;  // watched, in name order
  std::uint32_t reconnect_attempt() const noexcept { return attempt_; }
  std::uint64_t connects() const noexcept { return connects_; }  // connect requests made so far

 private:
  struct channel {
    std::size_t refs = 0;
    channel_state state = channel_state::closed;
    std::string join_ref;
    core::time_point join_sent{};
    std::optional<core::time_point> rejoin_at;
    std::uint32_t attempts = 0;
    bool resume_sent = false;  // the last join carried a position
    bool ever_joined = false;  // joined before in this session: a later join is a rejoin
  };

  std::string next_ref();
  void join(const std::string& name, channel& ch, core::time_point now, session_output& out);
  void schedule_rejoin(channel& ch, core::time_point now);
  void lost_connection(core::time_point now, session_output& out);
  void remember(const std::string& name, channel_position p);
  void on_channel_frame(const std::string& name, channel& ch, const server_frame& f, core::time_point now,
                        session_output& out);
  void on_invalidate(const std::string& name, const std::string& payload, session_output& out);
  double draw();

  core::doc_type_registry types_;
  session_config config_;
  std::function<double()> random01_;
  core::event_decoder decoder_;
  std::string token_;
  connection_state state_ = connection_state::idle;
  std::uint32_t attempt_ = 0;
  std::uint64_t connects_ = 0;
  std::optional<core::time_point> reconnect_at_;
  std::optional<core::time_point> next_heartbeat_;
  std::optional<std::string> pending_heartbeat_;
  std::uint64_t next_ref_ = 1;
  std::map<std::string, channel, std::less<>> channels_;
  struct remembered {
    channel_position position;
    std::uint64_t seq = 0;
  };
  std::map<std::string, remembered, std::less<>> positions_;  // bounded by max_remembered_positions
  std::uint64_t position_seq_ = 0;
};

}  // namespace rtcache::client
