// phx_join: the join payload realtime-js sends, parsed into a typed request, and the join reply whose
// postgres_changes bindings the client checks one by one against its own (any difference and it leaves with
// "mismatch between server and client bindings for postgres changes").
//
// Payload read (realtime-js RealtimeChannel.subscribe + channel.updateJoinPayload):
//   {"config":{"broadcast":{"ack":bool,"self":bool,"replay":{"since":int,"limit":int}?},
//              "presence":{"key":string,"enabled":bool},
//              "postgres_changes":[{"event":"*"|"INSERT"|"UPDATE"|"DELETE","schema":s,"table":s?,"filter":s?}],
//              "private":bool},
//    "access_token":"<jwt>",
//    "rtcache":{"epoch":"<opaque string>","offset":<int>}}       <- rtcache's resume position
// The resume position sits at the TOP level because realtime-js rebuilds `config` from known keys only,
// while channel.updateJoinPayload({rtcache:{epoch,offset}}) shallow-merges into the top level of every later
// (re)join. Unknown keys are ignored everywhere (realtime-js adds "version", "postgres_changes_options", ...);
// known keys with the wrong type are refused. null counts as absent.
#pragma once

#include "protocol/filter.hpp"
#include "protocol/frame.hpp"
#include "rtcache/core/error.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::protocol {

// "realtime:".
inline constexpr std::string_view k_topic_prefix = "realtime:";

// The channel name of a topic: "realtime:room1" -> "room1". Errors: bad_prefix (not "realtime:..."),
// empty_segment (bare "realtime:", refused as Supabase does), too_long (topic over 255 bytes: it could not
// travel in a kind-4 frame), bad_char (a control byte).
core::result<std::string> channel_name_of(std::string_view topic);

enum class change_event { all, insert, update, delete_ };

struct broadcast_replay {
  std::optional<std::int64_t> since;  // epoch milliseconds
  std::optional<std::int64_t> limit;
};

struct broadcast_config {
  bool ack = false;
  bool self = false;
  std::optional<broadcast_replay> replay;  // Supabase allows it on private channels; the caller decides
};

struct presence_config {
  std::string key;
  bool enabled = false;
};

// One postgres_changes binding as the client sent it.
struct postgres_binding {
  change_event event = change_event::all;  // matched case-insensitively, as realtime-js does on delivery
  std::string event_text;                  // exactly as sent: echoed verbatim
  std::string schema;
  std::optional<std::string> table;   // absent or null -> nullopt
  std::optional<std::string> filter;  // absent or null -> nullopt
  postgres_filter parsed_filter;      // parse_filter(*filter), empty when filter is nullopt
  std::int64_t id = 0;                // 1 .. 2^31-1: stable, equal for identical bindings (see binding_id)
  boost::json::object echo;           // the client's object, key order kept, without any "id" key
};

// rtcache's resume position, sent by rtcache SDKs at the top level of the join payload.
struct resume_position {
  std::string epoch;         // opaque, 1..64 bytes, printable ASCII (a string: JS numbers stop at 2^53)
  std::uint64_t offset = 0;  // 0 .. 2^53-1

  friend bool operator==(const resume_position&, const resume_position&) = default;
};

struct join_request {
  std::string channel;  // the name after "realtime:"
  broadcast_config broadcast;
  presence_config presence;
  std::vector<postgres_binding> postgres_changes;  // in the client's order
  bool is_private = false;
  std::optional<std::string> access_token;
  std::optional<resume_position> resume;
};

struct join_limits {
  std::size_t max_bindings = 32;
  std::size_t max_name_bytes = 63;  // schema and table (PostgreSQL identifiers)
  std::size_t max_token_bytes = 16 * 1024;
  std::size_t max_presence_key_bytes = 255;
  filter_limits filter;
};

// Parses a phx_join. Errors name the path of the offending field ("config.postgres_changes[1].filter: ..."):
//   channel_name_of's errors for the topic; not_object / wrong_type for wrong shapes;
//   missing_field for a binding without event or schema; bad_value for an unknown event, a negative or
//   fractional offset, a negative replay bound; empty_segment for an empty schema/table/epoch;
//   too_long / too_many for the bounds in join_limits; parse_filter's errors for a filter.
core::result<join_request> parse_join(std::string_view topic, const boost::json::object& payload,
                                      const join_limits& limits = {});

// The id of a binding: a hash of (event text, schema, table, filter) mapped to 1 .. 2^31-1 (never 0:
// realtime-js treats id 0 as "no id" and would drop every change). The same binding always gets the same id,
// on every server and after every reconnect. parse_join assigns it, stepping to the next free value when two
// different bindings of one join collide, so ids within a join are unique per distinct binding.
std::int64_t binding_id(std::string_view event_text, std::string_view schema, std::optional<std::string_view> table,
                        std::optional<std::string_view> filter) noexcept;

// rtcache's field of a join reply: where the joined channel's view stands at the join (the hub's answer) and
// whether the client's resume position was recovered. The SDKs keep it and send it back as the next join's
// resume position (join_request::resume); recovered:false tells them to refetch.
struct join_position {
  std::string_view epoch;  // opaque: escaped as a JSON string
  std::uint64_t offset = 0;
  bool recovered = false;
};

// The ok reply's response: {"postgres_changes":[{<client keys verbatim, in order>,"id":N},...],
// "rtcache":{"epoch":<epoch>,"offset":N,"recovered":true|false}}. `bindings`: the join's postgres_changes as
// parse_join returned them (ids assigned).
std::string join_response_json(std::span<const postgres_binding> bindings, const join_position& position);
// phx_reply ok carrying join_response_json.
std::string encode_join_reply(protocol_version v, const reply_to& to, std::span<const postgres_binding> bindings,
                              const join_position& position);

}  // namespace rtcache::protocol
