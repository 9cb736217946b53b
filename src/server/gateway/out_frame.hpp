// Internal to the gateway: one WebSocket message waiting to be written to a connection, as the send queue
// holds it and the frame writer frames it. Encode once, send many: a hub message's frame is shared, not copied.
#pragma once

#include "hub/message.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace rtcache::gateway {

// Either one of a shared hub message's frames, or a frame built for this connection (a reply, a system push,
// a postgres_changes push with this channel's binding ids).
struct out_frame {
  // Which latency histogram the frame's write completes (write_latency.hpp), measured from `since`.
  enum class timed : std::uint8_t {
    no,          // a push, a heartbeat reply, a replayed message
    delivery,    // a live hub delivery: since = the message's publish (rtcache_fanout_publish_to_write_seconds)
    join_reply,  // a phx_join's reply: since = the join's receipt (rtcache_join_reply_seconds)
  };

  hub::hub_message_ptr message;         // keeps *shared alive
  const std::string* shared = nullptr;  // points into message->frames
  std::string owned;
  std::chrono::steady_clock::time_point since{};
  bool binary = false;
  timed latency = timed::no;

  std::string_view bytes() const noexcept { return shared != nullptr ? std::string_view(*shared) : owned; }

  // A text frame of this connection.
  static out_frame text(std::string payload) {
    out_frame f;
    f.owned = std::move(payload);
    return f;
  }
};

// What one hub message becomes on one channel (session_logic::frames_for): up to its shared broadcast frame
// and a postgres_changes push. Fixed size: deciding a delivery allocates nothing for the set itself.
struct frame_set {
  std::array<out_frame, 2> f;
  std::size_t n = 0;
};

}  // namespace rtcache::gateway
