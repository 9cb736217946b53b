// Inbound side of the wire protocol: the vsn query parameter, and frames (1.0.0 objects, 2.0.0 arrays,
// 2.0.0 binary kind 3) decoded into inbound_message values.
#include "protocol/frame.hpp"

#include "protocol/text.hpp"

#include <boost/json/error.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cmath>
#include <cstddef>
#include <string>
#include <utility>

namespace rtcache::protocol {
namespace {

core::error fail(core::errc code, std::string message) {
  return core::error{code, std::move(message)};
}

// A short, printable excerpt of untrusted text for an error message.
std::string excerpt(std::string_view s) {
  constexpr std::size_t k_max = 40;
  std::string out(s.substr(0, k_max));
  if (s.size() > k_max) out += "...";
  return out;
}

// Rejects numbers a double cannot hold (Boost.JSON turns 1e400 into infinity, which it would then
// serialize as the non-JSON token "Infinity"). Depth is already bounded by the parser.
bool all_numbers_finite(const boost::json::value& v) noexcept {
  switch (v.kind()) {
    case boost::json::kind::double_: return std::isfinite(v.get_double());
    case boost::json::kind::array:
      for (const auto& e : v.get_array())
        if (!all_numbers_finite(e)) return false;
      return true;
    case boost::json::kind::object:
      for (const auto& kv : v.get_object())
        if (!all_numbers_finite(kv.value())) return false;
      return true;
    default: return true;
  }
}

}  // namespace

core::result<boost::json::value> parse_client_json(std::string_view text, const decode_limits& limits,
                                                   std::string_view what) {
  boost::json::parse_options options;
  options.max_depth = limits.max_json_depth;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec, {}, options);
  if (ec == boost::json::error::too_deep) {
    return fail(core::errc::bad_json,
                std::string(what) + ": JSON nested deeper than " + std::to_string(limits.max_json_depth) + " levels");
  }
  if (ec) return fail(core::errc::bad_json, std::string(what) + ": not well-formed JSON (" + ec.message() + ")");
  if (!all_numbers_finite(v)) return fail(core::errc::bad_value, std::string(what) + ": a number is out of range");
  return v;
}

namespace {

// A ref or join_ref: absent, null and "" are all "no ref".
core::result<std::optional<std::string>> read_ref(const boost::json::value* v, std::string_view name,
                                                  const decode_limits& limits) {
  if (v == nullptr || v->is_null()) return std::optional<std::string>{};
  if (!v->is_string()) return fail(core::errc::wrong_type, std::string(name) + " must be a string or null");
  const auto& s = v->get_string();
  if (s.size() > limits.max_field_bytes) {
    return fail(core::errc::too_long, std::string(name) + " is " + std::to_string(s.size()) +
                                          " bytes, over the bound of " + std::to_string(limits.max_field_bytes));
  }
  if (s.empty()) return std::optional<std::string>{};
  return std::optional<std::string>{std::string(s)};
}

core::result<std::string> read_name(const boost::json::value* v, std::string_view name, const decode_limits& limits,
                                    std::string_view container = "envelope") {
  if (v == nullptr)
    return fail(core::errc::missing_field, std::string(container) + " has no \"" + std::string(name) + "\"");
  if (!v->is_string()) return fail(core::errc::wrong_type, std::string(name) + " must be a string");
  const auto& s = v->get_string();
  if (s.empty()) return fail(core::errc::empty, std::string(name) + " is empty");
  if (s.size() > limits.max_field_bytes) {
    return fail(core::errc::too_long, std::string(name) + " is " + std::to_string(s.size()) +
                                          " bytes, over the bound of " + std::to_string(limits.max_field_bytes));
  }
  return std::string(s);
}

core::result<inbound_message> from_fields(const boost::json::value* join_ref, const boost::json::value* ref,
                                          const boost::json::value* topic, const boost::json::value* event,
                                          const boost::json::value* payload, const decode_limits& limits) {
  inbound_message m;
  auto jr = read_ref(join_ref, "join_ref", limits);
  if (!jr) return jr.error();
  m.join_ref = std::move(*jr);
  auto r = read_ref(ref, "ref", limits);
  if (!r) return r.error();
  m.ref = std::move(*r);
  auto t = read_name(topic, "topic", limits);
  if (!t) return t.error();
  m.topic = std::move(*t);
  auto e = read_name(event, "event", limits);
  if (!e) return e.error();
  m.event = std::move(*e);
  if (payload == nullptr) return fail(core::errc::missing_field, "envelope has no \"payload\"");
  if (!payload->is_object()) return fail(core::errc::not_object, "payload must be a JSON object");
  m.payload = payload->get_object();
  return m;
}

core::result<inbound_message> decode_text(protocol_version v, std::string_view frame, const decode_limits& limits) {
  auto parsed = parse_client_json(frame, limits, "frame");
  if (!parsed) return parsed.error();
  const boost::json::value& root = *parsed;
  if (v == protocol_version::v1_0_0) {
    if (!root.is_object()) return fail(core::errc::not_object, "a vsn 1.0.0 envelope must be a JSON object");
    const auto& o = root.get_object();
    return from_fields(o.if_contains("join_ref"), o.if_contains("ref"), o.if_contains("topic"), o.if_contains("event"),
                       o.if_contains("payload"), limits);
  }
  if (!root.is_array()) {
    return fail(core::errc::wrong_type,
                "a vsn 2.0.0 envelope must be a JSON array [join_ref, ref, topic, event, payload]");
  }
  const auto& a = root.get_array();
  if (a.size() != 5) {
    return fail(
        core::errc::bad_segment_count,
        "a vsn 2.0.0 envelope has 5 elements [join_ref, ref, topic, event, payload], got " + std::to_string(a.size()));
  }
  return from_fields(&a[0], &a[1], &a[2], &a[3], &a[4], limits);
}

// kind 3: [3][joinRefLen][refLen][topicLen][eventLen][metaLen][enc] joinRef ref topic event meta payload
core::result<inbound_message> decode_binary(std::string_view frame, const decode_limits& limits) {
  const auto u8 = [&](std::size_t i) { return static_cast<std::size_t>(static_cast<unsigned char>(frame[i])); };
  const std::size_t kind = u8(0);
  if (kind != 3) {
    return fail(core::errc::bad_value, "binary frame kind " + std::to_string(kind) +
                                           " is not a client broadcast (only kind 3 is accepted from clients)");
  }
  constexpr std::size_t k_header = 7;
  if (frame.size() < k_header) {
    return fail(core::errc::bad_value,
                "binary kind-3 frame of " + std::to_string(frame.size()) + " bytes is shorter than its 7-byte header");
  }
  const std::size_t lengths[5] = {u8(1), u8(2), u8(3), u8(4), u8(5)};
  const std::size_t enc = u8(6);
  if (enc > 1)
    return fail(core::errc::bad_value, "binary kind-3 payload encoding " + std::to_string(enc) + " is not 0 or 1");
  std::size_t fields = 0;
  for (std::size_t n : lengths) fields += n;
  if (frame.size() - k_header < fields) {
    return fail(core::errc::bad_value, "binary kind-3 frame is truncated: its header announces " +
                                           std::to_string(fields) + " bytes of fields, " +
                                           std::to_string(frame.size() - k_header) + " follow");
  }
  static constexpr std::string_view names[5] = {"join_ref", "ref", "topic", "event", "meta"};
  std::string_view parts[5];
  std::size_t at = k_header;
  for (std::size_t i = 0; i < 5; ++i) {
    parts[i] = frame.substr(at, lengths[i]);
    at += lengths[i];
    if (i < 4 && parts[i].size() > limits.max_field_bytes) {
      return fail(core::errc::too_long, std::string(names[i]) + " is " + std::to_string(parts[i].size()) +
                                            " bytes, over the bound of " + std::to_string(limits.max_field_bytes));
    }
    if (i < 4 && !is_valid_utf8(parts[i])) {
      return fail(core::errc::bad_char, "binary kind-3 " + std::string(names[i]) + " is not valid UTF-8");
    }
  }
  const std::string_view payload = frame.substr(at);

  inbound_message m;
  if (!parts[0].empty()) m.join_ref = std::string(parts[0]);
  if (!parts[1].empty()) m.ref = std::string(parts[1]);
  if (parts[2].empty()) return fail(core::errc::empty, "topic is empty");
  if (parts[3].empty()) return fail(core::errc::empty, "broadcast event is empty");
  m.topic = std::string(parts[2]);
  m.event = "broadcast";
  m.payload["type"] = "broadcast";
  m.payload["event"] = parts[3];
  if (!parts[4].empty()) {
    auto meta = parse_client_json(parts[4], limits, "binary kind-3 meta");
    if (!meta) return meta.error();
    if (!meta->is_object()) return fail(core::errc::bad_value, "binary kind-3 meta must be a JSON object");
    for (const auto& kv : meta->get_object()) {
      if (kv.key() == "type" || kv.key() == "event" || kv.key() == "payload") continue;  // the frame's own win
      m.payload[kv.key()] = kv.value();
    }
  }
  m.encoding = enc == 1 ? payload_encoding::json : payload_encoding::binary;
  if (m.encoding == payload_encoding::json) {
    auto p = parse_client_json(payload, limits, "binary kind-3 payload");
    if (!p) return p.error();
    m.payload["payload"] = std::move(*p);
  }
  m.raw_payload = std::string(payload);
  return m;
}

}  // namespace

std::string_view to_string(protocol_version v) noexcept {
  return v == protocol_version::v2_0_0 ? "2.0.0" : "1.0.0";
}

core::result<protocol_version> parse_vsn(std::optional<std::string_view> value) {
  if (!value) return protocol_version::v1_0_0;
  if (*value == "1.0.0") return protocol_version::v1_0_0;
  if (*value == "2.0.0") return protocol_version::v2_0_0;
  return fail(core::errc::bad_value, "unsupported vsn '" + excerpt(*value) + "': expected 1.0.0 or 2.0.0");
}

core::result<protocol_version> parse_vsn_from_query(std::string_view query) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = param.find('=');
    const std::string_view key = param.substr(0, eq);
    if (key != "vsn") continue;
    return parse_vsn(eq == std::string_view::npos ? std::string_view{} : param.substr(eq + 1));
  }
  return parse_vsn(std::nullopt);
}

core::result<inbound_message> decode_frame(protocol_version v, std::string_view frame, bool binary,
                                           const decode_limits& limits) {
  if (frame.size() > limits.max_frame_bytes) {
    return fail(core::errc::too_long, "frame of " + std::to_string(frame.size()) + " bytes is over the bound of " +
                                          std::to_string(limits.max_frame_bytes));
  }
  if (frame.empty()) return fail(core::errc::empty, "empty frame");
  if (!binary) return decode_text(v, frame, limits);
  if (v == protocol_version::v1_0_0) return fail(core::errc::bad_value, "binary frames are not part of vsn 1.0.0");
  return decode_binary(frame, limits);
}

client_event classify(const inbound_message& m) noexcept {
  if (m.topic == "phoenix") return m.event == "heartbeat" ? client_event::heartbeat : client_event::other;
  if (m.event == "phx_join") return client_event::join;
  if (m.event == "phx_leave") return client_event::leave;
  if (m.event == "access_token") return client_event::access_token;
  if (m.event == "broadcast") return client_event::broadcast;
  if (m.event == "presence") return client_event::presence;
  return client_event::other;
}

core::result<client_broadcast> read_client_broadcast(const inbound_message& m) {
  if (m.event != "broadcast") return fail(core::errc::bad_value, "event '" + excerpt(m.event) + "' is not a broadcast");
  const boost::json::value* type = m.payload.if_contains("type");
  if (type != nullptr && !(type->is_string() && type->get_string() == "broadcast")) {
    return fail(core::errc::bad_value, "broadcast payload.type must be \"broadcast\"");
  }
  const boost::json::value* event = m.payload.if_contains("event");
  if (event == nullptr) return fail(core::errc::missing_field, "broadcast payload has no \"event\"");
  if (!event->is_string()) return fail(core::errc::wrong_type, "broadcast payload.event must be a string");
  client_broadcast b;
  b.event = std::string(event->get_string());
  if (m.raw_payload) {
    b.encoding = m.encoding;
    b.payload = *m.raw_payload;
    return b;
  }
  const boost::json::value* payload = m.payload.if_contains("payload");
  b.payload = payload == nullptr ? std::string("{}") : boost::json::serialize(*payload);
  return b;
}

core::result<rest_broadcast> read_rest_broadcast(const boost::json::value& message, const decode_limits& limits) {
  if (!message.is_object()) return fail(core::errc::not_object, "must be an object {topic, event, payload, private}");
  const auto& o = message.get_object();
  rest_broadcast b;
  auto topic = read_name(o.if_contains("topic"), "topic", limits, "message");
  if (!topic) return topic.error();
  b.topic = std::move(*topic);
  auto event = read_name(o.if_contains("event"), "event", limits, "message");
  if (!event) return event.error();
  b.event = std::move(*event);
  const boost::json::value* priv = o.if_contains("private");
  if (priv != nullptr && !priv->is_bool() && !priv->is_null())
    return fail(core::errc::wrong_type, "private must be a boolean");
  b.is_private = priv != nullptr && priv->is_bool() && priv->get_bool();
  const boost::json::value* payload = o.if_contains("payload");
  b.payload = payload == nullptr || payload->is_null() ? std::string("{}") : boost::json::serialize(*payload);
  return b;
}

reply_to reply_to::of(const inbound_message& m) noexcept {
  reply_to to;
  if (m.join_ref) to.join_ref = *m.join_ref;
  if (m.ref) to.ref = *m.ref;
  to.topic = m.topic;
  return to;
}

}  // namespace rtcache::protocol
