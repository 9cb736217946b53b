// The Phoenix / Supabase Realtime wire protocol as a pure codec: inbound frames (text or binary) decoded into
// typed messages, outbound frames encoded as bytes ready for the socket. No I/O, no clock, no state.
//
// Versions (the `vsn` query parameter of the WebSocket URL):
//   1.0.0  text only, object envelopes. Client: {"topic","event","payload","ref","join_ref"?};
//          server: {"topic","event","payload","ref"} (Phoenix's V1 serializer never sends join_ref).
//   2.0.0  text array envelopes [join_ref, ref, topic, event, payload]; binary kind 3 (client -> server
//          broadcast) decoded; binary kind 4 (server -> client broadcast) encoded. Binary length fields are
//          single bytes, so a topic, event, ref or meta longer than 255 bytes cannot be framed.
//
// Join payloads, join replies and postgres_changes bindings: protocol/join.hpp. Filters: protocol/filter.hpp.
#pragma once

#include "rtcache/core/error.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rtcache::protocol {

// ---- protocol version -----------------------------------------------------------------------------------

enum class protocol_version { v1_0_0, v2_0_0 };

// "1.0.0" or "2.0.0".
std::string_view to_string(protocol_version v) noexcept;

// Parses the value of the `vsn` query parameter. nullopt (parameter absent) -> 1.0.0, as Phoenix does.
// Errors: bad_value for any other value, including an empty one ("unsupported vsn '3.0.0'").
core::result<protocol_version> parse_vsn(std::optional<std::string_view> value);

// Finds `vsn` in a raw query string ("apikey=...&vsn=2.0.0&log_level=info", no leading '?') and parses it
// with parse_vsn. The first `vsn` parameter counts; values are not percent-decoded (no valid vsn needs it).
core::result<protocol_version> parse_vsn_from_query(std::string_view query);

// ---- inbound frames ---------------------------------------------------------------------------------------

// Bounds applied by decode_frame. Each overflow is refused with errc::too_long (or bad_json for depth).
struct decode_limits {
  std::size_t max_frame_bytes = 1024 * 1024;  // whole frame, text or binary
  std::size_t max_json_depth = 32;            // nesting depth of any JSON in the frame
  std::size_t max_field_bytes = 255;          // join_ref, ref, topic, event: the binary form's bound, everywhere
};

// How a broadcast's user payload is carried in a binary frame (the `enc` byte).
enum class payload_encoding : std::uint8_t { binary = 0, json = 1 };

// One client -> server message. Text frames and binary kind-3 frames decode to the same shape, so callers
// handle "broadcast" once:
//   payload  the envelope payload, always a JSON object. For a kind-3 frame it is rebuilt as realtime-js
//            would have sent it in text: {"type":"broadcast","event":<user event>,<meta keys>...,
//            "payload":<user payload>} ("payload" absent when the user payload is raw bytes).
//   raw_payload  kind-3 only: the user payload bytes exactly as sent (JSON text when encoding is json).
// join_ref and ref: nullopt when absent, null, or "" (realtime-js sends "" in kind-3 frames for a missing ref).
struct inbound_message {
  std::optional<std::string> join_ref;
  std::optional<std::string> ref;
  std::string topic;
  std::string event;
  boost::json::object payload;
  std::optional<std::string> raw_payload;
  payload_encoding encoding = payload_encoding::json;  // meaningful only when raw_payload is set
};

// Decodes one WebSocket message. `binary` is the frame's opcode (binary vs text).
// Strict: every refusal is an error value with a message naming the field and the bound:
//   too_long     frame over max_frame_bytes; join_ref/ref/topic/event over max_field_bytes
//   bad_json     not JSON, invalid UTF-8, trailing bytes, nesting deeper than max_json_depth
//   bad_value    a number that does not fit a double (1e400); binary frame on 1.0.0; binary kind other
//                than 3; enc byte not 0/1; kind-3 meta not a JSON object; truncated binary header/fields
//   not_object   1.0.0 envelope not an object; payload not an object
//   wrong_type   2.0.0 envelope not an array; a field of the wrong JSON type (topic not a string, ...)
//   bad_segment_count  2.0.0 array without exactly 5 elements
//   missing_field  1.0.0 envelope without topic, event or payload
//   bad_char     invalid UTF-8 in a binary frame's join_ref, ref, topic or event
//   empty        empty frame, empty topic or empty event
// Lenient where realtime-js requires it: join_ref may be missing, null or ""; ref may be null; unknown keys
// of a 1.0.0 envelope are ignored. Duplicate JSON keys: the last one wins.
core::result<inbound_message> decode_frame(protocol_version v, std::string_view frame, bool binary,
                                           const decode_limits& limits = {});

// The JSON rules every client input passes, whatever path it takes (WebSocket text frames, kind-3 meta and JSON
// payloads, REST broadcast bodies): well-formed JSON of valid UTF-8, nested at most limits.max_json_depth, and
// every number a finite double (Boost.JSON reads 1e400 as infinity and would write it back as `Infinity`, which is
// not JSON: JSON.parse in a subscriber throws on it). `what` names the input in messages ("frame", "body").
// Errors: bad_json (not JSON, too deep), bad_value (a number out of range).
core::result<boost::json::value> parse_client_json(std::string_view text, const decode_limits& limits,
                                                   std::string_view what);

// One message of a REST broadcast body ({"messages":[...]}): {"topic","event","payload"?,"private"?}, read by
// the WebSocket's rules: topic and event non-empty strings of at most limits.max_field_bytes; payload any JSON
// value (parse_client_json already checked it), re-serialised; "{}" when absent or null, as realtime-js sends.
struct rest_broadcast {
  std::string topic;  // as sent ("room1" or "realtime:room1")
  std::string event;
  std::string payload;  // JSON text
  bool is_private = false;
};
// Errors: not_object, missing_field, wrong_type, empty, too_long; the message names the field.
core::result<rest_broadcast> read_rest_broadcast(const boost::json::value& message, const decode_limits& limits = {});

// What an inbound message asks for, by topic and event.
enum class client_event { heartbeat, join, leave, access_token, broadcast, presence, other };
client_event classify(const inbound_message& m) noexcept;

// A client's broadcast (event "broadcast"), read from a text or kind-3 message.
//   payload  JSON text of the user payload (re-serialized for text frames, as sent for kind 3), or the raw
//            bytes when encoding is binary. A text broadcast without "payload" gets "{}" as realtime-js does.
struct client_broadcast {
  std::string event;
  payload_encoding encoding = payload_encoding::json;
  std::string payload;
};
// Errors: bad_value when m.event is not "broadcast"; not_object / wrong_type / missing_field when the payload
// lacks a string "event" or "type" is present and not "broadcast".
core::result<client_broadcast> read_client_broadcast(const inbound_message& m);

// ---- outbound frames --------------------------------------------------------------------------------------
// Every function returns a complete frame. All are text frames except broadcast_frames::v2_binary.
// REQUIRES for every `*_json` argument: well-formed JSON text (it is spliced, not re-encoded). String
// arguments are JSON-escaped; invalid UTF-8 in them is replaced by U+FFFD so the frame is always valid.

// The envelope in the version's form. join_ref is dropped for 1.0.0; nullopt encodes as null.
std::string encode_envelope(protocol_version v, std::optional<std::string_view> join_ref,
                            std::optional<std::string_view> ref, std::string_view topic, std::string_view event,
                            std::string_view payload_json);

// Who a reply answers: the topic, ref and join_ref of the inbound message.
struct reply_to {
  std::optional<std::string_view> join_ref;
  std::optional<std::string_view> ref;
  std::string_view topic;

  static reply_to of(const inbound_message& m) noexcept;
};

// phx_reply {"status":"ok","response":<response_json>}.
std::string encode_reply_ok(protocol_version v, const reply_to& to, std::string_view response_json = "{}");
// phx_reply {"status":"error","response":{"reason":<reason>}}.
std::string encode_reply_error(protocol_version v, const reply_to& to, std::string_view reason);
// The heartbeat's reply: topic "phoenix", phx_reply ok with an empty response, the heartbeat's ref.
std::string encode_heartbeat_reply(protocol_version v, std::optional<std::string_view> ref);

// system push {"extension","status":"ok"|"error","message","channel"}; channel is the name without
// "realtime:". A status:"error" system message must be followed by phx_close (encode_close).
std::string encode_system(protocol_version v, std::optional<std::string_view> join_ref, std::string_view topic,
                          std::string_view extension, bool ok, std::string_view message, std::string_view channel);
// The system push that follows a successful postgres_changes subscription.
std::string encode_postgres_subscribed(protocol_version v, std::optional<std::string_view> join_ref,
                                       std::string_view topic, std::string_view channel);
// phx_close and phx_error, payload {}, with ref = join_ref: realtime-js ignores either unless its ref is
// the channel's current join ref.
std::string encode_close(protocol_version v, std::optional<std::string_view> join_ref, std::string_view topic);
std::string encode_channel_error(protocol_version v, std::optional<std::string_view> join_ref, std::string_view topic);

// A postgres_changes push for one channel: {"ids":[...],"data":<data_json>}, join_ref and ref null (fan-out).
// The ids are the channel's matching binding ids (protocol/join.hpp); data_json is encoded once per change
// and shared by every channel.
std::string encode_postgres_changes(protocol_version v, std::string_view topic, std::span<const std::int64_t> ids,
                                    std::string_view data_json);

// One broadcast to fan out.
struct broadcast_message {
  std::string_view topic{};    // "realtime:<name>"
  std::string_view event{};    // the user event
  std::string_view payload{};  // JSON text (REQUIRES well-formed) when encoding is json, else raw bytes
  payload_encoding encoding = payload_encoding::json;
  std::string_view meta_json{};  // a JSON object, or empty for none (REQUIRES well-formed when present)
};

// A broadcast encoded once per wire format; the hub stores it and every session sends the form it speaks.
// Immutable after encode_broadcast: share it (e.g. through shared_ptr<const broadcast_frames>).
struct broadcast_frames {
  std::string v1_text;    // {"topic","event":"broadcast","payload":{"type","event","payload","meta"?},"ref":null}
  std::string v2_text;    // [null,null,topic,"broadcast",{...}]
  std::string v2_binary;  // kind 4: [4][topicLen][eventLen][metaLen][enc] topic event meta payload
  // v1_text and v2_text are empty when the payload is raw bytes: such a broadcast reaches 2.0.0 clients only,
  // as a binary frame.
  bool has_text() const noexcept { return !v1_text.empty(); }
};

// Errors: too_long when topic, event or meta exceeds 255 bytes (the kind-4 length bytes).
core::result<broadcast_frames> encode_broadcast(const broadcast_message& m);

}  // namespace rtcache::protocol
