// The bodies of the cluster's stream messages: what a node needs to publish a message into its hub exactly as the
// node that produced it would have (channel, event, payload, factory, origin, the postgres_changes record), the
// control messages, and the batches relay ingest hands to the writer. A compact binary form, decoded strictly:
// bodies come from the stream, which any holder of NATS credentials can write to, so every length is bounded
// and anything malformed is refused with a reason, never trusted in part. Pure.
#pragma once

#include "rtcache/core/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rtcache::cluster {

struct wire_limits {
  std::size_t max_channel_bytes = 1024;     // hub channel names (topics are bounded well below)
  std::size_t max_event_bytes = 255;        // a broadcast event (the kind-4 frame bound)
  std::size_t max_factory_bytes = 64;       // core::k_max_id_length
  std::size_t max_node_bytes = 255;         // [cluster] node_id
  std::size_t max_payload_bytes = 4 << 20;  // payloads and records; NATS's max_payload (1 MiB default) is lower
  std::size_t max_text_bytes = 4096;        // gap details
  std::size_t max_items = 1000;             // ingest batch items and gap tables (core's max_batch_items)
};

// A message for one channel (kind 1): published by every node into its hub, at the positions of its header.
struct channel_message {
  std::string channel;            // hub channel name (private channels with their control byte)
  std::string event;              // "invalidate" for contract events
  std::string payload;            // JSON text; raw bytes when `raw`; for `contract`, the event's canonical JSON
                                  // without offset (the hub's encoder splices each view's offset in)
  std::string factory;            // the partition: the factory the message carries, empty for none
  std::string origin_node;        // the node whose connection sent it (client broadcasts), empty for none
  std::uint64_t origin_conn = 0;  // that connection's id on its node (self:false), 0 for none
  bool raw = false;
  bool contract = false;
  std::optional<std::string> record;  // the postgres_changes record attached (its JSON)

  friend bool operator==(const channel_message&, const channel_message&) = default;
};

// A postgres_changes record for a per-table channel (kind 2): delivered live, never kept, no positions.
struct record_message {
  std::string channel;                 // the internal per-table channel
  std::optional<std::string> factory;  // the scope a subscriber needs; nullopt: a public table
  std::string record;

  friend bool operator==(const record_message&, const record_message&) = default;
};

// A table a gap touches (net/routed_sink.hpp's gap_table).
struct gap_table_ref {
  std::string schema;
  std::string table;
  std::string doc_type;

  friend bool operator==(const gap_table_ref&, const gap_table_ref&) = default;
};

// The reason of a gap marker for relay ingest the ingest stream lost before the writer republished it: what it
// carried is unknown, so it covers every channel relay ingest feeds, public and private broadcast topics too.
inline constexpr std::string_view k_ingest_lost_reason = "ingest_lost";

// Continuity lost (kind 3): every channel it covers starts a new epoch at this message.
struct gap_message {
  std::string reason;                 // routing::gap_reason's name, or a cluster reason ("collapse", "ingest_lost")
  std::vector<gap_table_ref> tables;  // empty: every contract channel
  std::string detail;

  bool all() const noexcept { return tables.empty(); }
  bool ingest_lost() const noexcept { return reason == k_ingest_lost_reason; }
  friend bool operator==(const gap_message&, const gap_message&) = default;
};

// A node became the stream's writer (kind 4).
struct writer_message {
  std::string node_id;
  friend bool operator==(const writer_message&, const writer_message&) = default;
};

// A WAL position the source may confirm, with no routed message of its own (kind 5); its anchor header says it.
struct position_message {
  friend bool operator==(const position_message&, const position_message&) = default;
};

// Relay ingest (kind 6): what one POST, REST broadcast or client broadcast publishes, in order.
struct ingest_batch {
  std::vector<channel_message> items;
  friend bool operator==(const ingest_batch&, const ingest_batch&) = default;
};

using stream_body =
    std::variant<channel_message, record_message, gap_message, writer_message, position_message, ingest_batch>;

std::string encode_body(const stream_body& body);

// Errors (bad_value, too_long, too_many) say what is wrong and where. A channel name holding a NUL byte is
// refused (epochs are derived from NUL-separated fields).
core::result<stream_body> decode_body(std::string_view bytes, const wire_limits& limits = {});

}  // namespace rtcache::cluster
