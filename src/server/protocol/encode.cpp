// Outbound side of the wire protocol: replies, system pushes, closes, postgres_changes pushes and broadcasts,
// each built by splicing already-encoded JSON so a fan-out payload is serialized once and shared.
#include "protocol/frame.hpp"
#include "protocol/text.hpp"

#include <cstddef>
#include <string>

namespace rtcache::protocol {
namespace {

void append_opt(std::string& out, std::optional<std::string_view> s) {
  if (s) {
    append_json_string(out, *s);
  } else {
    out.append("null");
  }
}

std::string reply_payload(bool ok, std::string_view response_json) {
  std::string p;
  p.reserve(32 + response_json.size());
  p.append(ok ? R"({"status":"ok","response":)" : R"({"status":"error","response":)");
  p.append(response_json);
  p.push_back('}');
  return p;
}

// The broadcast payload object {"type":"broadcast","event":E,"payload":P,"meta":M?} (JSON payloads only).
std::string broadcast_payload(const broadcast_message& m) {
  std::string p;
  p.reserve(48 + m.event.size() + m.payload.size() + m.meta_json.size());
  p.append(R"({"type":"broadcast","event":)");
  append_json_string(p, m.event);
  p.append(R"(,"payload":)");
  p.append(m.payload);
  if (!m.meta_json.empty()) {
    p.append(R"(,"meta":)");
    p.append(m.meta_json);
  }
  p.push_back('}');
  return p;
}

}  // namespace

std::string encode_envelope(protocol_version v, std::optional<std::string_view> join_ref,
                            std::optional<std::string_view> ref, std::string_view topic, std::string_view event,
                            std::string_view payload_json) {
  std::string out;
  out.reserve(48 + topic.size() + event.size() + payload_json.size());
  if (v == protocol_version::v1_0_0) {
    // Phoenix's V1 serializer: {"topic","event","payload","ref"}, no join_ref.
    out.append(R"({"topic":)");
    append_json_string(out, topic);
    out.append(R"(,"event":)");
    append_json_string(out, event);
    out.append(R"(,"payload":)");
    out.append(payload_json);
    out.append(R"(,"ref":)");
    append_opt(out, ref);
    out.push_back('}');
    return out;
  }
  out.push_back('[');
  append_opt(out, join_ref);
  out.push_back(',');
  append_opt(out, ref);
  out.push_back(',');
  append_json_string(out, topic);
  out.push_back(',');
  append_json_string(out, event);
  out.push_back(',');
  out.append(payload_json);
  out.push_back(']');
  return out;
}

std::string encode_reply_ok(protocol_version v, const reply_to& to, std::string_view response_json) {
  return encode_envelope(v, to.join_ref, to.ref, to.topic, "phx_reply", reply_payload(true, response_json));
}

std::string encode_reply_error(protocol_version v, const reply_to& to, std::string_view reason) {
  std::string response = R"({"reason":)";
  append_json_string(response, reason);
  response.push_back('}');
  return encode_envelope(v, to.join_ref, to.ref, to.topic, "phx_reply", reply_payload(false, response));
}

std::string encode_heartbeat_reply(protocol_version v, std::optional<std::string_view> ref) {
  return encode_envelope(v, std::nullopt, ref, "phoenix", "phx_reply", reply_payload(true, "{}"));
}

std::string encode_system(protocol_version v, std::optional<std::string_view> join_ref, std::string_view topic,
                          std::string_view extension, bool ok, std::string_view message, std::string_view channel) {
  std::string p = R"({"extension":)";
  append_json_string(p, extension);
  p.append(ok ? R"(,"status":"ok","message":)" : R"(,"status":"error","message":)");
  append_json_string(p, message);
  p.append(R"(,"channel":)");
  append_json_string(p, channel);
  p.push_back('}');
  return encode_envelope(v, join_ref, std::nullopt, topic, "system", p);
}

std::string encode_postgres_subscribed(protocol_version v, std::optional<std::string_view> join_ref,
                                       std::string_view topic, std::string_view channel) {
  return encode_system(v, join_ref, topic, "postgres_changes", true, "Subscribed to PostgreSQL", channel);
}

std::string encode_close(protocol_version v, std::optional<std::string_view> join_ref, std::string_view topic) {
  return encode_envelope(v, join_ref, join_ref, topic, "phx_close", "{}");
}

std::string encode_channel_error(protocol_version v, std::optional<std::string_view> join_ref, std::string_view topic) {
  return encode_envelope(v, join_ref, join_ref, topic, "phx_error", "{}");
}

std::string encode_postgres_changes(protocol_version v, std::string_view topic, std::span<const std::int64_t> ids,
                                    std::string_view data_json) {
  std::string p;
  p.reserve(24 + ids.size() * 11 + data_json.size());
  p.append(R"({"ids":[)");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i != 0) p.push_back(',');
    p.append(std::to_string(ids[i]));
  }
  p.append(R"(],"data":)");
  p.append(data_json);
  p.push_back('}');
  return encode_envelope(v, std::nullopt, std::nullopt, topic, "postgres_changes", p);
}

core::result<broadcast_frames> encode_broadcast(const broadcast_message& m) {
  const struct {
    std::string_view name;
    std::size_t size;
  } fields[] = {{"topic", m.topic.size()}, {"event", m.event.size()}, {"meta", m.meta_json.size()}};
  for (const auto& f : fields) {
    if (f.size > 255) {
      return core::error{core::errc::too_long, "broadcast " + std::string(f.name) + " is " + std::to_string(f.size) +
                                                   " bytes; a kind-4 frame holds at most 255"};
    }
  }
  broadcast_frames frames;
  if (m.encoding == payload_encoding::json) {
    const std::string payload = broadcast_payload(m);
    frames.v1_text =
        encode_envelope(protocol_version::v1_0_0, std::nullopt, std::nullopt, m.topic, "broadcast", payload);
    frames.v2_text =
        encode_envelope(protocol_version::v2_0_0, std::nullopt, std::nullopt, m.topic, "broadcast", payload);
  }
  std::string& b = frames.v2_binary;
  b.reserve(5 + m.topic.size() + m.event.size() + m.meta_json.size() + m.payload.size());
  b.push_back(static_cast<char>(4));
  b.push_back(static_cast<char>(static_cast<unsigned char>(m.topic.size())));
  b.push_back(static_cast<char>(static_cast<unsigned char>(m.event.size())));
  b.push_back(static_cast<char>(static_cast<unsigned char>(m.meta_json.size())));
  b.push_back(static_cast<char>(static_cast<unsigned char>(m.encoding)));
  b.append(m.topic);
  b.append(m.event);
  b.append(m.meta_json);
  b.append(m.payload);
  return frames;
}

}  // namespace rtcache::protocol
