// Client-side Phoenix vsn 2.0.0 frames (phoenix.hpp). Input is untrusted bytes: every shape is checked.
#include "rtcache/client/phoenix.hpp"

#include "rtcache/core/json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace rtcache::client {

namespace json = boost::json;
using core::errc;

namespace {

core::error fail(errc code, std::string message) { return core::error{code, std::move(message)}; }

core::result<std::optional<std::string>> opt_string(const json::value& v, std::string_view what) {
  if (v.is_null()) return std::optional<std::string>();
  if (!v.is_string()) return fail(errc::wrong_type, std::string(what) + " must be a string or null");
  return std::optional<std::string>(std::string(v.as_string()));
}

core::result<server_frame> decode_binary(std::string_view b) {
  // [4][topicLen][eventLen][metaLen][enc] topic event meta payload
  if (b.size() < 5) return fail(errc::bad_value, "binary frame shorter than its 5-byte header");
  const auto byte = [&](std::size_t i) { return static_cast<std::size_t>(static_cast<unsigned char>(b[i])); };
  if (byte(0) != 4) return fail(errc::bad_value, "binary frame kind " + std::to_string(byte(0)) + " is not 4");
  const std::size_t topic_len = byte(1), event_len = byte(2), meta_len = byte(3);
  if (byte(4) > 1) return fail(errc::bad_value, "binary frame enc byte is not 0 or 1");
  if (b.size() < 5 + topic_len + event_len + meta_len) return fail(errc::bad_value, "binary frame truncated");
  server_frame f;
  f.topic = std::string(b.substr(5, topic_len));
  f.event = "broadcast";
  f.broadcast_event = std::string(b.substr(5 + topic_len, event_len));
  f.broadcast_payload = std::string(b.substr(5 + topic_len + event_len + meta_len));
  f.payload["type"] = "broadcast";
  f.payload["event"] = *f.broadcast_event;
  return f;
}

}  // namespace

core::result<server_frame> decode_server_frame(std::string_view bytes, bool binary, std::size_t max_bytes) {
  if (bytes.size() > max_bytes) {
    return fail(errc::too_long, "frame of " + std::to_string(bytes.size()) + " bytes exceeds " + std::to_string(max_bytes));
  }
  if (binary) return decode_binary(bytes);
  boost::system::error_code ec;
  json::value root = json::parse(bytes, ec);
  if (ec) return fail(errc::bad_json, "frame is not JSON: " + ec.message());
  json::array* arr = root.if_array();
  if (!arr) return fail(errc::wrong_type, "a vsn 2.0.0 frame is an array");
  if (arr->size() != 5) return fail(errc::bad_segment_count, "a vsn 2.0.0 frame has 5 elements");
  server_frame f;
  auto join_ref = opt_string((*arr)[0], "join_ref");
  if (!join_ref) return join_ref.error();
  auto ref = opt_string((*arr)[1], "ref");
  if (!ref) return ref.error();
  if (!(*arr)[2].is_string() || !(*arr)[3].is_string()) return fail(errc::wrong_type, "topic and event are strings");
  if (!(*arr)[4].is_object()) return fail(errc::not_object, "payload is an object");
  f.join_ref = std::move(*join_ref);
  f.ref = std::move(*ref);
  f.topic = std::string((*arr)[2].as_string());
  f.event = std::string((*arr)[3].as_string());
  f.payload = std::move((*arr)[4].as_object());
  if (f.event == "broadcast") {
    if (const json::value* e = f.payload.if_contains("event"); e && e->is_string()) {
      f.broadcast_event = std::string(e->as_string());
    }
    const json::value* p = f.payload.if_contains("payload");
    f.broadcast_payload = p ? json::serialize(*p) : std::string("{}");
  }
  return f;
}

reply_status read_reply(const server_frame& f) {
  reply_status r;
  const json::value* status = f.payload.if_contains("status");
  r.ok = status && status->is_string() && status->as_string() == "ok";
  const json::value* response = f.payload.if_contains("response");
  const json::object* resp = response ? response->if_object() : nullptr;
  if (!resp) return r;
  if (const json::value* reason = resp->if_contains("reason"); reason && reason->is_string()) {
    r.reason = std::string(reason->as_string());
  }
  const json::value* rt = resp->if_contains("rtcache");
  const json::object* rto = rt ? rt->if_object() : nullptr;
  if (!rto) return r;
  const json::value* epoch = rto->if_contains("epoch");
  const json::value* offset = rto->if_contains("offset");
  if (epoch && epoch->is_string() && offset && (offset->is_int64() || offset->is_uint64())) {
    const bool negative = offset->is_int64() && offset->as_int64() < 0;
    if (!negative) {
      r.position = channel_position{std::string(epoch->as_string()),
                                    offset->is_uint64() ? offset->as_uint64()
                                                        : static_cast<std::uint64_t>(offset->as_int64())};
    }
  }
  if (const json::value* rec = rto->if_contains("recovered"); rec && rec->is_bool()) r.recovered = rec->as_bool();
  return r;
}

std::string encode_frame(std::optional<std::string_view> join_ref, std::optional<std::string_view> ref,
                         std::string_view topic, std::string_view event, std::string_view payload_json) {
  std::string out = "[";
  const auto opt = [&](std::optional<std::string_view> s) {
    if (s) {
      core::append_json_string(out, *s);
    } else {
      out += "null";
    }
  };
  opt(join_ref);
  out += ',';
  opt(ref);
  out += ',';
  core::append_json_string(out, topic);
  out += ',';
  core::append_json_string(out, event);
  out += ',';
  out += payload_json;
  out += ']';
  return out;
}

std::string encode_join(std::string_view join_ref, std::string_view channel, std::string_view access_token,
                        const std::optional<channel_position>& resume) {
  std::string payload =
      R"({"config":{"broadcast":{"ack":false,"self":false},"presence":{"key":"","enabled":false},)"
      R"("postgres_changes":[],"private":false})";
  if (!access_token.empty()) {
    payload += ",\"access_token\":";
    core::append_json_string(payload, access_token);
  }
  if (resume) {
    payload += ",\"rtcache\":{\"epoch\":";
    core::append_json_string(payload, resume->epoch);
    payload += ",\"offset\":" + std::to_string(resume->offset) + "}";
  }
  payload += "}";
  return encode_frame(join_ref, join_ref, std::string(k_topic_prefix) + std::string(channel), "phx_join", payload);
}

std::string encode_leave(std::string_view join_ref, std::string_view ref, std::string_view channel) {
  return encode_frame(join_ref, ref, std::string(k_topic_prefix) + std::string(channel), "phx_leave", "{}");
}

std::string encode_heartbeat(std::string_view ref) {
  return encode_frame(std::nullopt, ref, "phoenix", "heartbeat", "{}");
}

std::string encode_access_token(std::string_view join_ref, std::string_view ref, std::string_view channel,
                                std::string_view access_token) {
  std::string payload = "{\"access_token\":";
  core::append_json_string(payload, access_token);
  payload += "}";
  return encode_frame(join_ref, ref, std::string(k_topic_prefix) + std::string(channel), "access_token", payload);
}

}  // namespace rtcache::client
