// Relay mode's source (docs/design.md §1): contract events POSTed by a backend and REST broadcasts, validated, routed
// to channels and put into a relay_target: the hub on a single node, the messages a cluster node publishes to its
// ingest stream (gateway/cluster_node.hpp) on a cluster node; and the hub encoder that turns a published message into
// its wire frames once, for every subscriber.
#pragma once

#include "auth/auth.hpp"
#include "auth/channel_access.hpp"
#include "hub/hub.hpp"
#include "ingest/rate_limit.hpp"
#include "rtcache/core/channel_key.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/event.hpp"
#include "rtcache/core/event_codec.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::ingest {

// The broadcast event name under which contract events reach clients (docs/design.md §3).
inline constexpr std::string_view k_invalidate_event = "invalidate";

// The hub encoder of the gateway: every message becomes a Supabase broadcast on topic "realtime:<channel>":
// a JSON payload as v1 text and v2 text (sessions of both versions send those; no kind-4 frame is built for
// it), a raw payload only as kind-4 binary. A contract message's payload is the canonical event JSON with
// `offset` set to the message's channel offset, spliced into the publisher's encoding of the event when the
// request carries one (payload_json) and encoded from the event otherwise; the frames are byte for byte what
// protocol's encode_broadcast builds. Throws core::error_exception (too_long) when the topic or event cannot
// be framed (over 255 bytes, the kind-4 bound, as encode_broadcast); the publish then fails.
hub::hub_encoder make_broadcast_encoder();

// The channels a contract event is published to: a summary (id "*") to factory:<factoryId>; any other event
// to doc:<type>:<id> and list:<type>:<factoryId> (via the router's route_row).
std::vector<std::string> channels_for(const core::event& e);

// The hub channel of a private channel (channel_access.hpp): the name behind a control byte, which channel_name_of
// refuses in a client's topic, so the private and the public channel of one name are distinct hub channels and no
// client can name the private one directly. The encoder frames it under the plain topic "realtime:<name>".
inline constexpr std::string_view k_private_channel_prefix = "\x02";
std::string private_hub_channel(std::string_view name);
// A hub channel name as clients know it: without k_private_channel_prefix.
std::string_view client_channel_name(std::string_view hub_channel) noexcept;

// Whether a broadcast on `hub_channel` named `event` can be framed: the topic "realtime:<name>" and the event each
// fit a kind-4 frame's 255 bytes. The encoder refuses what fails this (throws its error); the relay checks it before
// it puts a message anywhere, so a cluster node refuses such a message as a single node does. Error: too_long.
core::result<void> check_frameable(std::string_view hub_channel, std::string_view event);

// Whether `name` is a contract channel's (doc:, list:, factory:), by its prefix.
bool is_contract_name(std::string_view name) noexcept;

// The factory a broadcast on a contract channel carries: every message on a contract channel is tagged with
// one, whatever path published it, and subscribers filter on it (issue 11, finding 1). list:<type>:<F> and
// factory:<F> imply F; on doc: the sender names it. It is read from the payload's "factoryId" member (the
// field of the contract event, so a payload shaped like an event names its factory already); when present on
// list:/factory: it must equal the implied factory. `raw`: the payload is opaque bytes (a kind-3 binary
// broadcast), which cannot name a factory. Errors: missing_field (doc: payload without factoryId, or raw),
// wrong_type (factoryId not a string), bad_value (not a valid id, or not the channel's factory).
core::result<std::string> contract_broadcast_factory(const core::channel_key& key, std::string_view payload_json,
                                                     bool raw);

// One refused item of a batch.
struct relay_refusal {
  std::size_t index = 0;
  std::string code;    // core::errc name ("unknown_action"), or "not_allowed"
  std::string reason;  // precise message
};

// The answer to a POST: how many items were accepted (put into the target) and why the others were not.
struct relay_outcome {
  std::size_t accepted = 0;
  std::vector<relay_refusal> refused;
  std::uint64_t deliveries = 0;  // subscriber deliveries caused (informational; 0 where delivery happens later)
  // Set when the admission callback refused the batch: nothing was published (the caller answers 429 / 413).
  std::optional<broadcast_limiter::verdict> limited;

  // {"accepted":N,"refused":[{"index":i,"code":"...","reason":"..."}]}
  std::string to_json() const;
};

// One message relay input publishes, validated: what a hub publish of it needs, and what a cluster node's ingest
// stream carries of it (cluster::channel_message). The views are valid during relay_target::put only.
struct relay_message {
  std::string_view channel;  // the hub channel (a private channel behind k_private_channel_prefix)
  std::string_view event;    // k_invalidate_event for a contract event
  std::string_view payload;  // JSON text, raw bytes when `raw`; empty for a contract event (`contract` holds it)
  std::string_view factory;  // the partition: the factory the message carries, empty for none
  bool raw = false;
  const core::event* contract = nullptr;  // a contract event (without offset: the hub assigns offsets)
  std::uint64_t origin = 0;               // the sending connection's id (client broadcasts; self:false), 0 for none
};

// Where validated relay messages go, in order.
class relay_target {
 public:
  virtual ~relay_target() = default;
  // Takes `m` (check_frameable holds). Returns the subscriber deliveries it made now (0 where delivery happens
  // later). Throws core::error_exception when it cannot take the message: that item is refused with the error.
  virtual std::uint64_t put(const relay_message& m) = 0;
};

// A single node's target: every message published into the hub as it is put (one hub_batch: a POSTed batch's
// events share their list: and factory: channels). One thread uses it, for the duration of one request.
class hub_target final : public relay_target {
 public:
  explicit hub_target(hub::hub& h) noexcept : batch_(h) {}
  std::uint64_t put(const relay_message& m) override;

 private:
  hub::hub_batch batch_;
};

// The path every relay message takes into a target: check_frameable, then relay_target::put. Errors: too_long, or
// what put() threw. Returns the deliveries put() made.
core::result<std::uint64_t> put_message(relay_target& to, const relay_message& m);

// Validates relay input and puts what it accepts into a relay_target (the hub by default).
// Thread-safety: all members may be called concurrently (each call decodes with its own decoder).
class relay {
 public:
  // `h` must outlive the relay.
  relay(hub::hub& h, core::doc_type_registry types, core::codec_limits limits = {});

  // Publishes one contract event into the hub, to channels_for(e), with the event's factory as the messages'
  // scope. Returns the deliveries made. REQUIRES: e is valid (decoded or built from validated parts).
  std::uint64_t publish_event(const core::event& e);

  // POST /v1/events: one event object or an array of them, strict (core::event_decoder::decode_batch). Each good
  // event is put into `to` once per channel of channels_for(e) (event k_invalidate_event, the event's factory),
  // even when others are refused. Errors: the document as a whole is malformed (nothing is put).
  core::result<relay_outcome> publish_events(relay_target& to, std::string_view body);
  // The same into the hub.
  core::result<relay_outcome> publish_events(std::string_view body);

  // POST /api/broadcast: {"messages":[{"topic","event","payload","private"?}]}, sent by `who`. The body passes
  // the WebSocket's JSON rules (protocol/frame.hpp: parse_client_json: depth, finite numbers) and each message its name
  // rules (read_rest_broadcast). `topic` is the channel name ("room1"; a leading "realtime:" is stripped).
  // Contract channels (doc:, list:, factory:) need service_role and a factory (contract_broadcast_factory);
  // `private` does not apply to them (they are authorised by the factory scope). Other channels: `access` decides
  // (channel_access::may_send), and private:true goes to the private channel of that name. Each refused message
  // is reported with its index and reason; the others are put into `to` (a contract channel's with its factory).
  // Errors (the whole body, nothing put): not JSON, a number out of range, too deep, not an object, no "messages"
  // array, too many messages.
  // `admit`, when given, is asked once the body is read and before anything is put whether this many
  // messages and payload bytes may go now (the per-address bound on client broadcasts); unless it answers ok,
  // nothing is put and relay_outcome::limited holds its answer.
  core::result<relay_outcome> publish_broadcasts(
      relay_target& to, std::string_view body, const auth::principal& who, const auth::channel_access& access,
      const std::function<broadcast_limiter::verdict(std::size_t messages, std::size_t bytes)>& admit = {});
  // The same into the hub.
  core::result<relay_outcome> publish_broadcasts(
      std::string_view body, const auth::principal& who, const auth::channel_access& access,
      const std::function<broadcast_limiter::verdict(std::size_t messages, std::size_t bytes)>& admit = {});

  const core::doc_type_registry& types() const noexcept { return types_; }

 private:
  hub::hub& hub_;
  const core::doc_type_registry types_;
  const core::codec_limits limits_;
};

}  // namespace rtcache::ingest
