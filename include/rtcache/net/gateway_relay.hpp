// Relay mode's source (design.md §1): contract events POSTed by a backend and REST broadcasts, routed to
// channels and published into the hub; and the hub encoder that turns a published message into its wire
// frames once, for every subscriber.
#pragma once

#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/event.hpp"
#include "rtcache/core/event_codec.hpp"
#include "rtcache/net/hub.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::net {

// The broadcast event name under which contract events reach clients (design.md §3).
inline constexpr std::string_view k_invalidate_event = "invalidate";

// The hub encoder of the gateway: every message becomes a Supabase broadcast on topic "realtime:<channel>":
// a JSON payload as v1 text and v2 text (sessions of both versions send those; no kind-4 frame is built for
// it), a raw payload only as kind-4 binary. A contract message's payload is the canonical event JSON with
// `offset` set to the message's channel offset, spliced into the publisher's encoding of the event when the
// request carries one (payload_json) and encoded from the event otherwise; the frames are byte for byte what
// protocol's encode_broadcast builds. Throws core::error_exception (too_long) when the topic or event cannot
// be framed (over 255 bytes, the kind-4 bound, as encode_broadcast); the publish then fails.
hub_encoder make_broadcast_encoder();

// The channels a contract event is published to: a summary (id "*") to factory:<factoryId>; any other event
// to doc:<type>:<id> and list:<type>:<factoryId> (via the router's route_row).
std::vector<std::string> channels_for(const core::event& e);

// One refused item of a batch.
struct relay_refusal {
  std::size_t index = 0;
  std::string code;    // core::errc name ("unknown_action"), or "not_allowed"
  std::string reason;  // precise message
};

// The answer to a POST: how many items were accepted (published) and why the others were not.
struct relay_outcome {
  std::size_t accepted = 0;
  std::vector<relay_refusal> refused;
  std::uint64_t deliveries = 0;  // subscriber deliveries caused (informational)

  // {"accepted":N,"refused":[{"index":i,"code":"...","reason":"..."}]}
  std::string to_json() const;
};

// Publishes relay input into the hub.
// Thread-safety: all members may be called concurrently (each call decodes with its own decoder).
class relay {
 public:
  // `h` must outlive the relay.
  relay(hub& h, core::doc_type_registry types, core::codec_limits limits = {});

  // Publishes one contract event to channels_for(e), with the event's factory as the messages' scope.
  // Returns the deliveries made. REQUIRES: e is valid (decoded or built from validated parts).
  std::uint64_t publish_event(const core::event& e);

  // POST /v1/events: one event object or an array of them, strict (core::event_decoder::decode_batch). Good
  // items are published even when others are refused. Errors: the document as a whole is malformed.
  core::result<relay_outcome> publish_events(std::string_view body);

  // POST /api/broadcast: {"messages":[{"topic","event","payload","private"?}]}. `topic` is the channel name
  // ("room1"; a leading "realtime:" is stripped). Contract channel topics (doc:, list:, factory:) and
  // private:true need `privileged` (service_role): rtcache has no RLS policies to consult. Errors: not JSON,
  // not an object, no "messages" array.
  core::result<relay_outcome> publish_broadcasts(std::string_view body, bool privileged);

  const core::doc_type_registry& types() const noexcept { return types_; }

 private:
  hub& hub_;
  const core::doc_type_registry types_;
  const core::codec_limits limits_;
};

}  // namespace rtcache::net
