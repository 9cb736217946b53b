// Relay mode: contract events and REST broadcasts -> channels -> hub, and the encoder that frames each
// published message once per wire format.
#include "ingest/relay.hpp"

#include "ingest/hub_sink.hpp"
#include "protocol/frame.hpp"
#include "protocol/join.hpp"
#include "protocol/text.hpp"
#include "routing/router.hpp"
#include "rtcache/core/channel_key.hpp"
#include "rtcache/core/identifier.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cassert>
#include <charconv>
#include <optional>

namespace rtcache::ingest {

namespace {

// Bytes that a JSON string literal carries verbatim: printable ASCII other than '"' and '\\'. A topic or event
// made only of them is spliced as is; anything else goes through append_json_string (escapes, U+FFFD).
bool is_plain_json_text(std::string_view s) noexcept {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

// The contract event's canonical JSON with `offset` set, without copying the event: core's canonical field
// order puts `offset` right before `count`, the last field, so it goes in front of `,"count":` when there is
// one and before the closing brace otherwise. `count` is a number and the last field, so the last
// `,"count":` of the text is that field (a patch value, which comes earlier, may hold the same bytes).
struct offset_field {
  explicit offset_field(std::uint64_t offset) noexcept {
    const auto [end, ec] = std::to_chars(buf + k_key.size(), buf + sizeof buf, offset);
    size = static_cast<std::size_t>(end - buf);
  }
  std::string_view text() const noexcept { return {buf, size}; }

  static constexpr std::string_view k_key = ",\"offset\":";
  char buf[32] = ",\"offset\":";
  std::size_t size = 0;
};

constexpr std::string_view k_count_key = ",\"count\":";

// Appends the canonical encoding of `e` with `offset` set. REQUIRES: !e.offset.
void append_contract_with_offset(std::string& out, const core::event& e, std::uint64_t offset) {
  const std::size_t start = out.size();
  core::encode_to(out, e);
  const offset_field field(offset);
  if (!e.count) {
    out.insert(out.size() - 1, field.text());  // before the closing '}'
    return;
  }
  const std::size_t at = out.rfind(k_count_key);
  assert(at != std::string::npos && at > start);
  (void)start;
  out.insert(at, field.text());
}

// The canonical encoding of a contract message's event without offset: the publisher's when it gave one
// (hub_sink encodes an event once for all of its channels), else encoded into `scratch`.
std::string_view contract_text(const hub::hub_encode_request& r, std::string& scratch) {
  if (!r.payload_json.empty()) return r.payload_json;
  scratch.clear();
  core::encode_to(scratch, *r.contract);
  return scratch;
}

constexpr std::size_t k_max_broadcast_field = 255;  // a kind-4 frame's length bytes

core::error too_long(std::string_view what, std::size_t size) {
  return core::error{core::errc::too_long, "broadcast " + std::string(what) + " is " + std::to_string(size) +
                                               " bytes; a kind-4 frame holds at most 255"};
}

// The general path (raw payloads, topics or events that need escaping): protocol's encode_broadcast.
hub::hub_frames encode_generic(const hub::hub_encode_request& r) {
  std::string topic(protocol::k_topic_prefix);
  topic.append(client_channel_name(r.channel));
  std::string contract_payload;
  protocol::broadcast_message m;
  m.topic = topic;
  m.event = r.event;
  if (r.contract != nullptr && r.contract->offset) {
    core::event e = *r.contract;  // rare: a publisher that set an offset of its own; the channel's wins
    e.offset = r.offset;
    contract_payload = core::encode(e);
    m.payload = contract_payload;
  } else if (r.contract != nullptr) {
    append_contract_with_offset(contract_payload, *r.contract, r.offset);
    m.payload = contract_payload;
  } else {
    m.payload = r.payload_json;
    m.encoding = r.raw_payload ? protocol::payload_encoding::binary : protocol::payload_encoding::json;
  }
  auto frames = protocol::encode_broadcast(m);
  if (!frames) throw core::error_exception(frames.error());
  hub::hub_frames out{std::move(frames->v1_text), std::move(frames->v2_text), {}};
  // Sessions send a JSON broadcast as text in both versions; only a raw payload needs the kind-4 frame.
  if (m.encoding == protocol::payload_encoding::binary) out.v2_binary = std::move(frames->v2_binary);
  return out;
}

// The gateway's encoder. JSON broadcasts (contract events included) take a fast path when the topic and event
// need no escaping, which every contract channel name satisfies.
hub::hub_frames encode_broadcast_frames(const hub::hub_encode_request& r) {
  // Internal channels (per-table postgres_changes records) have no frames of their own: every subscriber
  // frames the attached record with its channel's binding ids.
  if (is_internal_channel(r.channel)) return {};
  // A private channel is framed under its plain name: the client joined "realtime:<name>" with private:true.
  if (auto ok = check_frameable(r.channel, r.event); !ok) throw core::error_exception(ok.error());
  const std::string_view channel = client_channel_name(r.channel);
  const std::size_t topic_size = protocol::k_topic_prefix.size() + channel.size();
  if (r.raw_payload || !is_plain_json_text(channel) || !is_plain_json_text(r.event) ||
      (r.contract != nullptr && r.contract->offset)) {
    return encode_generic(r);
  }
  // The two text frames share the topic literal and the broadcast object {"type","event","payload"}: the
  // v2 frame is built first, in place, and the v1 frame copies those two spans out of it.
  //   v2: [null,null,"realtime:<channel>","broadcast",{"type":"broadcast","event":"<event>","payload":<P>}]
  //   v1: {"topic":"realtime:<channel>","event":"broadcast","payload":{...},"ref":null}
  constexpr std::string_view k_v2_head = "[null,null,";
  constexpr std::string_view k_v2_mid = ",\"broadcast\",";
  constexpr std::string_view k_inner_head = "{\"type\":\"broadcast\",\"event\":\"";
  constexpr std::string_view k_inner_mid = "\",\"payload\":";
  constexpr std::string_view k_v1_head = "{\"topic\":";
  constexpr std::string_view k_v1_mid = ",\"event\":\"broadcast\",\"payload\":";
  constexpr std::string_view k_v1_tail = ",\"ref\":null}";
  // Sized exactly (the frames are retained in history, so slack is memory held per message).
  thread_local std::string scratch;  // reused: encoding a contract here allocates nothing once warm
  std::string_view payload = r.payload_json;
  std::optional<offset_field> offset;
  if (r.contract != nullptr) {
    payload = contract_text(r, scratch);
    offset.emplace(r.offset);
  }
  const std::size_t payload_size = payload.size() + (offset ? offset->text().size() : 0);
  hub::hub_frames f;
  std::string& v2 = f.v2_text;
  v2.reserve(k_v2_head.size() + topic_size + 2 + k_v2_mid.size() + k_inner_head.size() + r.event.size() +
             k_inner_mid.size() + payload_size + 2);
  v2.append(k_v2_head);
  const std::size_t topic_at = v2.size();
  v2.push_back('"');
  v2.append(protocol::k_topic_prefix);
  v2.append(channel);
  v2.push_back('"');
  const std::size_t topic_end = v2.size();
  v2.append(k_v2_mid);
  const std::size_t inner_at = v2.size();
  v2.append(k_inner_head);
  v2.append(r.event);
  v2.append(k_inner_mid);
  if (offset) {
    // `offset` goes right before `count` (the last field) when there is one, else before the closing brace.
    const std::size_t at = r.contract->count ? payload.rfind(k_count_key) : payload.size() - 1;
    assert(at != std::string_view::npos);
    v2.append(payload.substr(0, at));
    v2.append(offset->text());
    v2.append(payload.substr(at));
  } else {
    v2.append(payload);
  }
  v2.push_back('}');
  const std::size_t inner_end = v2.size();
  v2.push_back(']');

  const std::string_view topic_json(v2.data() + topic_at, topic_end - topic_at);
  const std::string_view inner(v2.data() + inner_at, inner_end - inner_at);
  std::string& v1 = f.v1_text;
  v1.reserve(k_v1_head.size() + topic_json.size() + k_v1_mid.size() + inner.size() + k_v1_tail.size());
  v1.append(k_v1_head);
  v1.append(topic_json);
  v1.append(k_v1_mid);
  v1.append(inner);
  v1.append(k_v1_tail);
  return f;
}

}  // namespace

core::result<void> check_frameable(std::string_view hub_channel, std::string_view event) {
  const std::size_t topic_size = protocol::k_topic_prefix.size() + client_channel_name(hub_channel).size();
  if (topic_size > k_max_broadcast_field) return too_long("topic", topic_size);
  if (event.size() > k_max_broadcast_field) return too_long("event", event.size());
  return {};
}

hub::hub_encoder make_broadcast_encoder() {
  return [](const hub::hub_encode_request& r) -> hub::hub_frames { return encode_broadcast_frames(r); };
}

std::string private_hub_channel(std::string_view name) {
  std::string out(k_private_channel_prefix);
  out.append(name);
  return out;
}

std::string_view client_channel_name(std::string_view hub_channel) noexcept {
  if (hub_channel.starts_with(k_private_channel_prefix)) hub_channel.remove_prefix(k_private_channel_prefix.size());
  return hub_channel;
}

bool is_contract_name(std::string_view name) noexcept {
  return name.starts_with("doc:") || name.starts_with("list:") || name.starts_with("factory:");
}

core::result<std::string> contract_broadcast_factory(const core::channel_key& key, std::string_view payload_json,
                                                     bool raw) {
  const std::string name = key.format();
  std::optional<std::string> named;
  if (!raw) {
    boost::system::error_code ec;
    const boost::json::value payload = boost::json::parse(payload_json, ec);
    const boost::json::value* f = ec || !payload.is_object() ? nullptr : payload.get_object().if_contains("factoryId");
    if (f != nullptr && !f->is_null()) {
      if (!f->is_string()) return core::error{core::errc::wrong_type, name + ": payload factoryId must be a string"};
      named = std::string(f->get_string());
      if (auto ok = core::validate_id(*named, "payload factoryId"); !ok) {
        return core::error{ok.error().code, name + ": " + ok.error().message};
      }
    }
  }
  if (key.kind == core::channel_kind::doc) {
    if (named) return *named;
    return core::error{core::errc::missing_field,
                       name +
                           ": a broadcast on a doc channel must name its factory: put \"factoryId\" in a JSON "
                           "payload (every message on a contract channel is filtered by factory)"};
  }
  if (named && *named != key.factory_id) {
    return core::error{core::errc::bad_value, name + ": payload factoryId '" + *named +
                                                  "' is not the channel's factory '" + key.factory_id + "'"};
  }
  return key.factory_id;
}

std::vector<std::string> channels_for(const core::event& e) {
  std::vector<std::string> out;
  if (e.is_summary()) {
    out.push_back(core::channel_key::factory(e.factory_id).format());
    return out;
  }
  routing::mapped_row row;
  row.event = e;
  for (const auto& m : routing::route_row(row).messages) out.push_back(m.channel.format());
  return out;
}

std::string relay_outcome::to_json() const {
  std::string out = R"({"accepted":)" + std::to_string(accepted) + R"(,"refused":[)";
  for (std::size_t i = 0; i < refused.size(); ++i) {
    if (i != 0) out.push_back(',');
    out.append(R"({"index":)").append(std::to_string(refused[i].index)).append(R"(,"code":)");
    protocol::append_json_string(out, refused[i].code);
    out.append(R"(,"reason":)");
    protocol::append_json_string(out, refused[i].reason);
    out.push_back('}');
  }
  out.append("]}");
  return out;
}

std::uint64_t hub_target::put(const relay_message& m) {
  return batch_.publish(m.channel, m.event, m.payload, hub::hub_publish_options{m.factory, m.origin, m.contract, m.raw})
      .subscribers;
}

core::result<std::uint64_t> put_message(relay_target& to, const relay_message& m) {
  if (auto ok = check_frameable(m.channel, m.event); !ok) return ok.error();
  try {
    return to.put(m);
  } catch (const core::error_exception& e) {
    return e.err();
  }
}

relay::relay(hub::hub& h, core::doc_type_registry types, core::codec_limits limits)
    : hub_(h), types_(std::move(types)), limits_(limits) {}

namespace {

// One contract event to each of its channels. Errors: the first message `to` refused (the channels before it
// took theirs; contract channel names always frame, so only a target that cannot take anything refuses).
core::result<std::uint64_t> put_event(relay_target& to, const core::event& e) {
  std::uint64_t deliveries = 0;
  for (const auto& channel : channels_for(e)) {
    auto put = put_message(to, relay_message{channel, k_invalidate_event, {}, e.factory_id, false, &e, 0});
    if (!put) return put;
    deliveries += *put;
  }
  return deliveries;
}

}  // namespace

std::uint64_t relay::publish_event(const core::event& e) {
  hub_target to(hub_);
  auto put = put_event(to, e);
  if (!put) throw core::error_exception(put.error());  // as the hub publish it replaces threw
  return *put;
}

core::result<relay_outcome> relay::publish_events(std::string_view body) {
  hub_target to(hub_);
  return publish_events(to, body);
}

core::result<relay_outcome> relay::publish_events(relay_target& to, std::string_view body) {
  core::event_decoder decoder(types_, limits_);
  auto items = decoder.decode_batch(body);
  if (!items) return items.error();
  relay_outcome out;
  for (const auto& item : *items) {
    if (!item.outcome) {
      out.refused.push_back(
          {item.index, std::string(core::to_string(item.outcome.error().code)), item.outcome.error().message});
      continue;
    }
    if (item.outcome->offset) {  // offsets are the hub's to assign
      out.refused.push_back({item.index, "bad_value", "offset: assigned by the server, must not be sent"});
      continue;
    }
    auto put = put_event(to, *item.outcome);
    if (!put) {
      out.refused.push_back({item.index, std::string(core::to_string(put.error().code)), put.error().message});
      continue;
    }
    out.deliveries += *put;
    ++out.accepted;
  }
  return out;
}

core::result<relay_outcome> relay::publish_broadcasts(
    std::string_view body, const auth::principal& who, const auth::channel_access& access,
    const std::function<broadcast_limiter::verdict(std::size_t messages, std::size_t bytes)>& admit) {
  hub_target to(hub_);
  return publish_broadcasts(to, body, who, access, admit);
}

core::result<relay_outcome> relay::publish_broadcasts(
    relay_target& to, std::string_view body, const auth::principal& who, const auth::channel_access& access,
    const std::function<broadcast_limiter::verdict(std::size_t messages, std::size_t bytes)>& admit) {
  const protocol::decode_limits limits;  // the WebSocket's rules: JSON depth and numbers, name lengths
  auto doc = protocol::parse_client_json(body, limits, "body");
  if (!doc) return doc.error();
  if (!doc->is_object()) return core::error{core::errc::not_object, "body must be an object with \"messages\""};
  const auto* messages = doc->as_object().if_contains("messages");
  if (messages == nullptr) return core::error{core::errc::missing_field, "messages: required"};
  if (!messages->is_array()) return core::error{core::errc::wrong_type, "messages: must be an array"};
  if (messages->as_array().size() > limits_.max_batch_items) {
    return core::error{core::errc::too_many,
                       "messages: more than " + std::to_string(limits_.max_batch_items) + " items"};
  }
  relay_outcome out;
  std::vector<core::result<protocol::rest_broadcast>> read;
  read.reserve(messages->as_array().size());
  std::size_t payload_bytes = 0;
  for (const auto& m : messages->as_array()) {
    read.push_back(protocol::read_rest_broadcast(m, limits));
    if (read.back()) payload_bytes += read.back()->payload.size();
  }
  if (admit) {
    const auto verdict = admit(read.size(), payload_bytes);
    if (verdict != broadcast_limiter::verdict::ok) {
      out.limited = verdict;
      return out;
    }
  }
  for (std::size_t i = 0; i < read.size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    auto refuse = [&](std::string_view code, std::string reason) {
      out.refused.push_back({i, std::string(code), at + ": " + std::move(reason)});
    };
    auto& b = read[i];
    if (!b) {
      refuse(core::to_string(b.error().code), b.error().message);
      continue;
    }
    std::string_view name = b->topic;
    if (name.starts_with(protocol::k_topic_prefix)) name.remove_prefix(protocol::k_topic_prefix.size());
    auto checked = protocol::channel_name_of(std::string(protocol::k_topic_prefix) + std::string(name));
    if (!checked) {
      refuse(core::to_string(checked.error().code), "topic: " + checked.error().message);
      continue;
    }
    std::string factory;
    std::string hub_name;
    if (is_contract_name(name)) {
      if (who.role != auth::auth_role::service_role) {
        refuse("not_allowed", "contract channels (doc:, list:, factory:) need a service_role token");
        continue;
      }
      auto key = core::parse_channel_key(name, types_);
      if (!key) {
        refuse(core::to_string(key.error().code), "topic: " + key.error().message);
        continue;
      }
      auto f = contract_broadcast_factory(*key, b->payload, false);
      if (!f) {
        refuse(core::to_string(f.error().code), f.error().message);
        continue;
      }
      factory = std::move(*f);
      hub_name = std::string(name);
    } else {
      const auth::access_decision d = access.may_send(who, name, b->is_private);
      if (!d.allowed) {
        refuse("not_allowed", d.reason);
        continue;
      }
      hub_name = b->is_private ? private_hub_channel(name) : std::string(name);
    }
    auto put = put_message(to, relay_message{hub_name, b->event, b->payload, factory, false, nullptr, 0});
    if (!put) {
      refuse(core::to_string(put.error().code), put.error().message);
      continue;
    }
    out.deliveries += *put;
    ++out.accepted;
  }
  return out;
}

}  // namespace rtcache::ingest
