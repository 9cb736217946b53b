// Fuzz target for the wire protocol codec: every client frame, join payload and filter is untrusted bytes, and
// the encoder's output is what realtime-js parses, so decode must be strict and encode always well-formed.
//
// The first input byte picks the surface; the rest is the input:
//   0 decode 1.0.0 text   1 decode 2.0.0 text   2 decode 2.0.0 binary   3 phx_join payload   4 filter
// Properties (a violation traps, and libFuzzer records the input as a crash):
//   1. a decoded message re-encoded with encode_envelope is well-formed JSON (judged by Boost.JSON) and decodes
//      back to the same topic, event, ref (and join_ref under 2.0.0);
//   2. a decoded broadcast re-encodes with encode_broadcast into text forms that are JSON and a kind-4 frame
//      whose header lengths add up to its size;
//   3. an accepted join's reply is JSON, lists one binding per request binding in order, every id non-zero and
//      equal ids exactly for equal (event, schema, table, filter);
//   4. an accepted filter has at least one condition per ',' outside values (never empty for non-empty text),
//      and evaluating it against rows of every JSON kind never crashes.

#include "fuzz_check.hpp"
#include "protocol/filter.hpp"
#include "protocol/frame.hpp"
#include "protocol/join.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace protocol = rtcache::protocol;

bool is_json(std::string_view text, boost::json::value* out = nullptr) {
  boost::json::parse_options options;
  options.max_depth = 4096;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec, {}, options);
  if (out != nullptr) *out = std::move(v);
  return !ec;
}

void check_message(protocol::protocol_version v, const protocol::inbound_message& m) {
  const std::string payload = boost::json::serialize(m.payload);
  FUZZ_CHECK(is_json(payload), "payload serializes to JSON");
  const std::string frame = protocol::encode_envelope(v, m.join_ref, m.ref, m.topic, m.event, payload);
  FUZZ_CHECK(is_json(frame), "re-encoded envelope is JSON");
  protocol::decode_limits roomy;
  roomy.max_frame_bytes = frame.size() + 1;
  roomy.max_json_depth = 64;
  auto again = protocol::decode_frame(v, frame, false, roomy);
  FUZZ_CHECK(again.has_value(), "re-encoded envelope decodes");
  FUZZ_CHECK(again->topic == m.topic && again->event == m.event && again->ref == m.ref, "round trip keeps fields");
  if (v == protocol::protocol_version::v2_0_0)
    FUZZ_CHECK(again->join_ref == m.join_ref, "2.0.0 round trip keeps join_ref");

  if (protocol::classify(m) != protocol::client_event::broadcast) return;
  auto b = protocol::read_client_broadcast(m);
  if (!b) return;
  auto f = protocol::encode_broadcast(
      {.topic = m.topic, .event = b->event, .payload = b->payload, .encoding = b->encoding, .meta_json = {}});
  if (!f) {
    FUZZ_CHECK(m.topic.size() > 255 || b->event.size() > 255, "kind-4 refusal only for long fields");
    return;
  }
  const std::string& k4 = f->v2_binary;
  FUZZ_CHECK(k4.size() >= 5 && k4[0] == 4, "kind-4 header");
  const auto u8 = [&](std::size_t i) { return static_cast<std::size_t>(static_cast<unsigned char>(k4[i])); };
  FUZZ_CHECK(5 + u8(1) + u8(2) + u8(3) + b->payload.size() == k4.size(), "kind-4 lengths add up");
  if (f->has_text()) {
    FUZZ_CHECK(is_json(f->v1_text) && is_json(f->v2_text), "broadcast text forms are JSON");
  }
}

void check_join(std::string_view data) {
  boost::json::value v;
  if (!is_json(data, &v) || !v.is_object()) return;
  auto j = protocol::parse_join("realtime:fuzz", v.get_object());
  if (!j) return;
  // Any bytes as the epoch (the hub's are hex, the encoder escapes whatever it gets).
  const protocol::join_position position{data.substr(0, 64), data.size(), (data.size() & 1U) != 0};
  boost::json::value reply;
  FUZZ_CHECK(is_json(protocol::join_response_json(j->postgres_changes, position), &reply), "join reply is JSON");
  FUZZ_CHECK(reply.at("rtcache").at("offset").as_int64() == static_cast<std::int64_t>(data.size()), "offset echoed");
  const auto& list = reply.at("postgres_changes").as_array();
  FUZZ_CHECK(list.size() == j->postgres_changes.size(), "one reply binding per request binding");
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& a = j->postgres_changes[i];
    FUZZ_CHECK(a.id != 0 && list[i].at("id").as_int64() == a.id, "ids non-zero and echoed");
    FUZZ_CHECK(list[i].at("event").as_string() == a.event_text, "event echoed verbatim");
    for (std::size_t k = 0; k < i; ++k) {
      const auto& b = j->postgres_changes[k];
      const bool same =
          a.event_text == b.event_text && a.schema == b.schema && a.table == b.table && a.filter == b.filter;
      FUZZ_CHECK(same == (a.id == b.id), "equal ids exactly for equal bindings");
    }
  }
  std::string dummy = protocol::encode_join_reply(protocol::protocol_version::v2_0_0, {"1", "1", "realtime:fuzz"},
                                                  j->postgres_changes, position);
  FUZZ_CHECK(is_json(dummy), "join reply frame is JSON");
}

void check_filter(std::string_view text) {
  auto f = protocol::parse_filter(text);
  if (!f) return;
  FUZZ_CHECK(text.empty() == f->conditions.empty(), "non-empty text has conditions");
  static const boost::json::object rows[] = {
      boost::json::parse(R"({"a":1,"b":"x","c":null,"d":true,"e":1.5,"f":[1],"g":{},"h":18446744073709551615})")
          .as_object()};
  for (const auto& c : f->conditions) {
    boost::json::object row;
    for (const boost::json::value& v : {boost::json::value(nullptr), boost::json::value(-3), boost::json::value(2.5),
                                        boost::json::value("s"), boost::json::value(false)}) {
      row[c.column] = v;
      (void)protocol::filter_matches(*f, row);
    }
  }
  for (const auto& row : rows) (void)protocol::filter_matches(*f, row);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest = rtcache::fuzz::fuzz_input(data, size).substr(1);
  switch (data[0] % 5) {
    case 0:
    case 1:
    case 2: {
      const auto v = data[0] % 5 == 0 ? protocol::protocol_version::v1_0_0 : protocol::protocol_version::v2_0_0;
      auto m = protocol::decode_frame(v, rest, data[0] % 5 == 2);
      if (m) check_message(v, *m);
      break;
    }
    case 3: check_join(rest); break;
    default: check_filter(rest); break;
  }
  return 0;
}
