// Relay mode: contract events and REST broadcasts -> channels -> hub, and the encoder that frames each
// published message once per wire format.
#include "rtcache/net/gateway_relay.hpp"

#include "rtcache/core/channel_key.hpp"
#include "rtcache/net/hub_sink.hpp"
#include "rtcache/net/protocol.hpp"
#include "rtcache/net/protocol_join.hpp"
#include "rtcache/net/protocol_text.hpp"
#include "rtcache/net/router.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace rtcache::net {

hub_encoder make_broadcast_encoder() {
  return [](const hub_encode_request& r) -> hub_frames {
    // Internal channels (per-table postgres_changes records) have no frames of their own: every subscriber
    // frames the attached record with its channel's binding ids.
    if (is_internal_channel(r.channel)) return {};
    std::string topic(k_topic_prefix);
    topic.append(r.channel);
    std::string contract_payload;
    broadcast_message m;
    m.topic = topic;
    m.event = r.event;
    if (r.contract != nullptr) {
      core::event e = *r.contract;
      e.offset = r.offset;
      contract_payload = core::encode(e);
      m.payload = contract_payload;
    } else {
      m.payload = r.payload_json;
      m.encoding = r.raw_payload ? payload_encoding::binary : payload_encoding::json;
    }
    auto frames = encode_broadcast(m);
    if (!frames) throw core::error_exception(frames.error());
    return hub_frames{std::move(frames->v1_text), std::move(frames->v2_text), std::move(frames->v2_binary)};
  };
}

std::vector<std::string> channels_for(const core::event& e) {
  std::vector<std::string> out;
  if (e.is_summary()) {
    out.push_back(core::channel_key::factory(e.factory_id).format());
    return out;
  }
  mapped_row row;
  row.event = e;
  for (const auto& m : route_row(row).messages) out.push_back(m.channel.format());
  return out;
}

std::string relay_outcome::to_json() const {
  std::string out = R"({"accepted":)" + std::to_string(accepted) + R"(,"refused":[)";
  for (std::size_t i = 0; i < refused.size(); ++i) {
    if (i != 0) out.push_back(',');
    out.append(R"({"index":)").append(std::to_string(refused[i].index)).append(R"(,"code":)");
    append_json_string(out, refused[i].code);
    out.append(R"(,"reason":)");
    append_json_string(out, refused[i].reason);
    out.push_back('}');
  }
  out.append("]}");
  return out;
}

relay::relay(hub& h, core::doc_type_registry types, core::codec_limits limits)
    : hub_(h), types_(std::move(types)), limits_(limits) {}

std::uint64_t relay::publish_event(const core::event& e) {
  std::uint64_t deliveries = 0;
  for (const auto& channel : channels_for(e)) {
    deliveries += hub_.publish(channel, k_invalidate_event, {}, hub_publish_options{e.factory_id, 0, &e, false})
                      .subscribers;
  }
  return deliveries;
}

core::result<relay_outcome> relay::publish_events(std::string_view body) {
  core::event_decoder decoder(types_, limits_);
  auto items = decoder.decode_batch(body);
  if (!items) return items.error();
  relay_outcome out;
  for (const auto& item : *items) {
    if (!item.outcome) {
      out.refused.push_back({item.index, std::string(core::to_string(item.outcome.error().code)),
                             item.outcome.error().message});
      continue;
    }
    if (item.outcome->offset) {  // offsets are the hub's to assign
      out.refused.push_back({item.index, "bad_value", "offset: assigned by the server, must not be sent"});
      continue;
    }
    out.deliveries += publish_event(*item.outcome);
    ++out.accepted;
  }
  return out;
}

namespace {

bool is_contract_name(std::string_view name) noexcept {
  return name.starts_with("doc:") || name.starts_with("list:") || name.starts_with("factory:");
}

}  // namespace

core::result<relay_outcome> relay::publish_broadcasts(std::string_view body, bool privileged) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(body, ec);
  if (ec) return core::error{core::errc::bad_json, "body is not JSON: " + ec.message()};
  if (!doc.is_object()) return core::error{core::errc::not_object, "body must be an object with \"messages\""};
  const auto* messages = doc.as_object().if_contains("messages");
  if (messages == nullptr) return core::error{core::errc::missing_field, "messages: required"};
  if (!messages->is_array()) return core::error{core::errc::wrong_type, "messages: must be an array"};
  if (messages->as_array().size() > limits_.max_batch_items) {
    return core::error{core::errc::too_many,
                       "messages: more than " + std::to_string(limits_.max_batch_items) + " items"};
  }
  relay_outcome out;
  std::size_t index = 0;
  for (const auto& m : messages->as_array()) {
    const std::size_t i = index++;
    auto refuse = [&](std::string_view code, std::string reason) {
      out.refused.push_back({i, std::string(code), std::move(reason)});
    };
    if (!m.is_object()) {
      refuse("not_object", "messages[" + std::to_string(i) + "]: must be an object");
      continue;
    }
    const auto& o = m.as_object();
    const auto* topic = o.if_contains("topic");
    const auto* event = o.if_contains("event");
    const auto* payload = o.if_contains("payload");
    const auto* priv = o.if_contains("private");
    if (topic == nullptr || !topic->is_string() || event == nullptr || !event->is_string()) {
      refuse("missing_field", "messages[" + std::to_string(i) + "]: topic and event must be strings");
      continue;
    }
    if (priv != nullptr && !priv->is_bool() && !priv->is_null()) {
      refuse("wrong_type", "messages[" + std::to_string(i) + "].private: must be a boolean");
      continue;
    }
    std::string_view name = topic->as_string();
    if (name.starts_with(k_topic_prefix)) name.remove_prefix(k_topic_prefix.size());
    auto checked = channel_name_of(std::string(k_topic_prefix) + std::string(name));
    if (!checked) {
      refuse(core::to_string(checked.error().code), "messages[" + std::to_string(i) + "].topic: " +
                                                        checked.error().message);
      continue;
    }
    const bool is_private = priv != nullptr && priv->is_bool() && priv->as_bool();
    if ((is_contract_name(name) || is_private) && !privileged) {
      refuse("not_allowed", "messages[" + std::to_string(i) +
                                "]: contract channels and private broadcasts need a service_role token");
      continue;
    }
    const std::string payload_json = payload == nullptr ? std::string("{}") : boost::json::serialize(*payload);
    try {
      out.deliveries += hub_.publish(name, event->as_string(), payload_json).subscribers;
      ++out.accepted;
    } catch (const core::error_exception& e) {
      refuse(core::to_string(e.err().code), "messages[" + std::to_string(i) + "]: " + e.err().message);
    }
  }
  return out;
}

}  // namespace rtcache::net
