// What the hub stores and fans out: one published message, encoded once per wire format by an injected
// encoder and shared, immutable, by the channel's history and every subscriber's send queue.
#pragma once

#include "rtcache/core/event.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace rtcache::routing {
// A postgres_changes record (routing/mapping.hpp). Declared here so that a hub message can carry one without the
// hub depending on routing: the hub only stores and hands out the pointer.
struct postgres_change;
}  // namespace rtcache::routing

namespace rtcache::hub {

class hub_view_positions;  // hub.hpp

using postgres_change_ptr = std::shared_ptr<const routing::postgres_change>;

// The wire frames of one message. The hub treats each as opaque bytes: the protocol component builds them
// and the gateway picks the one its connection speaks. A format nobody needs may be left empty.
struct hub_frames {
  std::string v1_text;    // Phoenix vsn 1.0.0 text frame
  std::string v2_text;    // Phoenix vsn 2.0.0 text frame
  std::string v2_binary;  // Phoenix vsn 2.0.0 binary broadcast frame

  // The frames' bytes (allocation overhead not counted).
  std::size_t size_bytes() const noexcept { return v1_text.size() + v2_text.size() + v2_binary.size(); }
};

// What a subscriber needs to decide, without parsing the frames, whether a message may be written to its
// connection (docs/design.md §4: no event of a factory outside a connection's scope is ever written to it).
struct hub_message_meta {
  std::string factory_id;    // the factory whose data the message carries; empty for none (plain broadcast)
  std::uint64_t origin = 0;  // the publishing connection's id, 0 for server-side publishes (`self:false`)
};

// One message of one channel. Immutable once published; shared via hub_message_ptr.
struct hub_message {
  std::uint64_t offset = 0;  // position in its channel's epoch; the first message of an epoch is 1
  hub_frames frames;
  hub_message_meta meta;
  // The postgres_changes record this message stands for, when it has one (hub_publish_options::change): a
  // subscriber with postgres_changes bindings evaluates them against it and frames its own push (the ids
  // differ per channel, so that frame cannot be shared). Null for plain broadcasts and summaries.
  postgres_change_ptr change;
  // What the message counts against the history bounds (hub_config): its frames' bytes plus the bytes its
  // publisher declared for the attached record (hub_publish_options::attachment_bytes).
  std::size_t retained_bytes = 0;
  // When the hub published it, by the hub's clock (hub_clock): the start of the fan-out latency
  // (rtcache_fanout_publish_to_write_seconds).
  std::chrono::steady_clock::time_point published_at{};
};

using hub_message_ptr = std::shared_ptr<const hub_message>;

// Everything an encoder needs to build the frames of one message. Views are valid only during the call.
struct hub_encode_request {
  std::string_view channel;       // the channel name (its topic text, e.g. "doc:wo:123")
  std::uint64_t offset;           // the offset the message will have; the encoder puts it in the payload
  std::string_view event;         // the event name, e.g. "invalidate"
  std::string_view payload_json;  // the payload, already valid JSON (raw bytes when raw_payload). With
                                  // `contract`: its canonical encoding without offset (so one encoding serves
                                  // every channel of an event), or empty and the encoder encodes the contract
  // Passed through from hub_publish_options; nullptr / false when the publisher gave none.
  const core::event* contract = nullptr;  // the contract event payload_json encodes (offset unset)
  bool raw_payload = false;               // payload_json is opaque bytes, not JSON
};

// Optional extras of one publish: metadata stored with the message, and context for the encoder.
// Views are read during the call only.
struct hub_publish_options {
  std::string_view factory_id;            // copied into hub_message_meta::factory_id
  std::uint64_t origin = 0;               // copied into hub_message_meta::origin
  const core::event* contract = nullptr;  // handed to the encoder (hub_encode_request::contract)
  bool raw_payload = false;               // handed to the encoder (hub_encode_request::raw_payload)
  postgres_change_ptr change{};           // stored as hub_message::change (shared, immutable)
  // The memory `change` holds, counted with the frames against the history bounds while the message is
  // retained (hub_message::retained_bytes). A record shared by several messages is counted by each: the
  // bounds err on the side of holding less.
  std::size_t attachment_bytes = 0;
  // false: the message is delivered live but not kept in the channel's history, and the history is emptied
  // (offsets stay contiguous: a later resume into it is not recovered). For channels nobody resumes, such
  // as the internal per-table postgres_changes topics, whose records the frame bytes would not account for.
  bool retain = true;
  // Cluster mode: the message's position in each view it reaches, named from outside (hub.hpp, "Positions from
  // outside"; hub::publish). Null: each view counts its own offsets (the single-node default).
  const hub_view_positions* positions = nullptr;
};

// Builds the frames of one message. Called exactly once per accepted publish, never per subscriber.
// REQUIRES: callable concurrently from several threads (for different channels), does not block, and does
// not call into the hub. It may throw; the publish then has no effect (no offset is consumed).
using hub_encoder = std::function<hub_frames(const hub_encode_request&)>;

}  // namespace rtcache::hub
