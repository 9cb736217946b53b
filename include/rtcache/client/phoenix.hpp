// The client's half of the Phoenix vsn 2.0.0 protocol as rtcache and Supabase Realtime speak it: the frames a
// client sends (join with access token and resume position, leave, heartbeat, access_token) and the frames it
// receives (text arrays, and kind-4 binary broadcasts) decoded into one shape. Pure: no I/O, no state.
#pragma once

#include "rtcache/core/error.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtcache::client {

inline constexpr std::string_view k_topic_prefix = "realtime:";
inline constexpr std::string_view k_invalidate_event = "invalidate";

// Where a client is in one channel's stream: the server's epoch and the last offset it processed.
struct channel_position {
  std::string epoch;
  std::uint64_t offset = 0;
  friend bool operator==(const channel_position&, const channel_position&) = default;
};

// One server -> client message.
struct server_frame {
  std::optional<std::string> join_ref;
  std::optional<std::string> ref;
  std::string topic;
  std::string event;
  boost::json::object payload;  // text frames: the envelope payload; kind 4: {"type":"broadcast","event":...}
  // Broadcasts only (event "broadcast"): the user event and the user payload's JSON text (kind 4: the bytes as
  // sent; text frames: the payload re-serialized).
  std::optional<std::string> broadcast_event;
  std::optional<std::string> broadcast_payload;
};

// Decodes one WebSocket message. Errors: too_long (over max_bytes), bad_json / wrong_type /
// bad_segment_count / not_object for malformed text frames, bad_value for a binary kind other than 4, a
// truncated binary header, or an enc byte other than 0/1.
core::result<server_frame> decode_server_frame(std::string_view bytes, bool binary, std::size_t max_bytes = 1 << 20);

// The reply's {"status","response"} of a phx_reply.
struct reply_status {
  bool ok = false;
  std::string reason;                       // error replies: response.reason
  std::optional<channel_position> position;  // ok join replies from rtcache: response.rtcache.{epoch,offset}
  bool recovered = false;                   // response.rtcache.recovered
};
reply_status read_reply(const server_frame& f);

// [join_ref, ref, topic, event, payload] with payload JSON text spliced as is (REQUIRES well-formed).
std::string encode_frame(std::optional<std::string_view> join_ref, std::optional<std::string_view> ref,
                         std::string_view topic, std::string_view event, std::string_view payload_json);

// phx_join for "realtime:<channel>": no postgres_changes bindings, broadcast self off, the access token, and
// rtcache's resume position at the top level ({"rtcache":{"epoch","offset"}}) when given.
std::string encode_join(std::string_view join_ref, std::string_view channel, std::string_view access_token,
                        const std::optional<channel_position>& resume);
std::string encode_leave(std::string_view join_ref, std::string_view ref, std::string_view channel);
std::string encode_heartbeat(std::string_view ref);
std::string encode_access_token(std::string_view join_ref, std::string_view ref, std::string_view channel,
                                std::string_view access_token);

}  // namespace rtcache::client
