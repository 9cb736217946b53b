// Messages as the NATS layer hands them in and out: owning, independent of nats.c's natsMsg.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::cluster {

struct header {
  std::string name;  // case-sensitive, as nats.c 3.x keeps them
  std::string value;
  friend bool operator==(const header&, const header&) = default;
};

// The message id JetStream de-duplicates on, within the stream's duplicate window.
inline constexpr std::string_view msg_id_header = "Nats-Msg-Id";

// What publish() sends. The views must stay valid for the duration of the call only.
struct outgoing_message {
  std::string_view subject;
  std::string_view msg_id;  // empty: no de-duplication
  std::span<const header> headers;
  std::string_view data;
};

// A message read back from the stream, in stream order.
struct stream_message {
  std::uint64_t seq = 0;     // the stream sequence
  std::int64_t time_ns = 0;  // when the server stored it (ns since the Unix epoch)
  std::string subject;
  std::vector<header> headers;  // as published (Nats-Msg-Id included)
  std::string data;

  // The first value of `name`, if present.
  std::optional<std::string_view> header_value(std::string_view name) const {
    for (const auto& h : headers) {
      if (h.name == name) return std::string_view(h.value);
    }
    return std::nullopt;
  }
};

}  // namespace rtcache::cluster
