// Fuzz target for the event codec: POST /v1/events bodies and relay payloads are untrusted bytes, and the
// encoder's output is what every subscriber receives, so decode must be strict and encode canonical.
//
// Properties (a violation traps, and libFuzzer records the input as a crash):
//   1. decode succeeds => the event satisfies the contract (registered type, ids in the id grammar,
//      version >= 0, count only on a summary, changedKeys unique, patch sorted and unique, bounds held,
//      patch values are JSON);
//   2. decode succeeds => encode is canonical: encode(e) is JSON, decode(encode(e)) == e and
//      encode(decode(encode(e))) == encode(e); encode_to appends exactly encode(e);
//   3. an input that is not well-formed JSON (judged by an independent parser, Boost.JSON) is refused by
//      decode and by decode_batch;
//   4. decode_batch never loses items: on success with an array at the top level, one item per element,
//      indices 0..n-1 in order; with an object at the top level, one item that agrees with decode();
//      every accepted item satisfies 1 and 2.

#include "fuzz_check.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/event.hpp"
#include "rtcache/core/event_codec.hpp"
#include "rtcache/core/identifier.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace rtcache::core;

// How an independent parser judges a text.
enum class verdict { object, array, other_value, malformed, inconclusive };

verdict reference_parse(std::string_view text, boost::json::value* out = nullptr) {
  boost::json::parse_options options;
  options.max_depth = 4096;  // depth is the codec's bound to enforce, not the reference's
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec, {}, options);
  if (ec) {
    using boost::json::error;
    // Errors on which JSON parsers legitimately differ (number range, lone surrogate escapes, sizes):
    // no conclusion is drawn from them.
    if (ec == error::exponent_overflow || ec == error::illegal_leading_surrogate ||
        ec == error::illegal_trailing_surrogate || ec == error::too_deep || ec == error::object_too_large ||
        ec == error::array_too_large || ec == error::key_too_large || ec == error::string_too_large) {
      return verdict::inconclusive;
    }
    return verdict::malformed;
  }
  verdict result = v.is_object() ? verdict::object : v.is_array() ? verdict::array : verdict::other_value;
  if (out != nullptr) *out = std::move(v);
  return result;
}

bool is_id(std::string_view s) {
  if (s.empty() || s.size() > k_max_id_length) return false;
  for (const char c : s) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void check_contract(const event& e, const doc_type_registry& types, const codec_limits& limits) {
  FUZZ_CHECK(types.contains(e.type), "unregistered type accepted");
  FUZZ_CHECK(e.is_summary() || is_id(e.id), "id outside the id grammar accepted");
  FUZZ_CHECK(is_id(e.factory_id), "factoryId outside the id grammar accepted");
  FUZZ_CHECK(!e.version || *e.version >= 0, "negative version accepted");
  FUZZ_CHECK(!e.count || e.is_summary(), "count without a summary id accepted");
  FUZZ_CHECK(!e.ts || (!e.ts->empty() && e.ts->size() <= limits.max_ts_length), "ts empty or over its bound");
  if (e.changed_keys) {
    FUZZ_CHECK(e.changed_keys->size() <= limits.max_changed_keys, "changedKeys over its bound");
    std::set<std::string_view> seen;
    for (const std::string& k : *e.changed_keys) {
      FUZZ_CHECK(k.size() <= limits.max_column_length, "changedKeys column over its bound");
      FUZZ_CHECK(seen.insert(k).second, "duplicate changedKeys entry accepted");
    }
  }
  if (e.patch) {
    FUZZ_CHECK(e.patch->size() <= limits.max_patch_entries, "patch over its bound");
    for (std::size_t i = 0; i < e.patch->size(); ++i) {
      const patch_entry& p = (*e.patch)[i];
      FUZZ_CHECK(p.column.size() <= limits.max_column_length, "patch column over its bound");
      if (i > 0) FUZZ_CHECK((*e.patch)[i - 1].column < p.column, "patch not sorted by column or not unique");
      const verdict v = reference_parse(p.json_value);
      FUZZ_CHECK(v != verdict::malformed, "patch value is not JSON text");
    }
  }
}

void check_canonical(const event& e, event_decoder& decoder, const doc_type_registry& types) {
  check_contract(e, types, decoder.limits());

  const std::string encoded = encode(e);
  FUZZ_CHECK(reference_parse(encoded) == verdict::object, "encode(e) is not a JSON object");

  std::string appended = "prefix";
  encode_to(appended, e);
  FUZZ_CHECK(appended.size() == 6 + encoded.size() && appended.compare(6, std::string::npos, encoded) == 0,
             "encode_to does not append exactly encode(e)");

  const result<event> again = decoder.decode(encoded);
  FUZZ_CHECK(again.has_value(), "decode(encode(e)) refused");
  FUZZ_CHECK(*again == e, "decode(encode(e)) != e");
  FUZZ_CHECK(encode(*again) == encoded, "encode(decode(encode(e))) != encode(e)");
}

bool is_codec_error(errc code) {
  switch (code) {
    case errc::empty:
    case errc::too_long:
    case errc::bad_char:
    case errc::unknown_doc_type:
    case errc::bad_json:
    case errc::not_object:
    case errc::missing_field:
    case errc::wrong_type:
    case errc::unknown_field:
    case errc::duplicate_key:
    case errc::unknown_action:
    case errc::bad_value:
    case errc::too_many: return true;
    default: return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const doc_type_registry types = doc_type_registry::defaults();
  static event_decoder decoder(types);
  const std::string_view input = rtcache::fuzz::fuzz_input(data, size);

  boost::json::value reference;
  const verdict shape = reference_parse(input, &reference);

  // One event.
  const result<event> single = decoder.decode(input);
  if (single) {
    FUZZ_CHECK(shape != verdict::malformed, "decode accepted malformed JSON");
    check_canonical(*single, decoder, types);
  } else {
    FUZZ_CHECK(is_codec_error(single.error().code), "decode refused with a code that is not a codec error");
    FUZZ_CHECK(!single.error().message.empty(), "decode refused without a message");
  }

  // A batch.
  const result<std::vector<batch_item>> batch = decoder.decode_batch(input);
  if (!batch) {
    FUZZ_CHECK(!batch.error().message.empty(), "decode_batch refused without a message");
    return 0;
  }
  FUZZ_CHECK(shape != verdict::malformed, "decode_batch accepted a malformed document");
  const std::vector<batch_item>& items = *batch;
  if (shape == verdict::array) {
    FUZZ_CHECK(items.size() == reference.as_array().size(), "decode_batch lost or invented items");
  } else if (shape == verdict::object) {
    FUZZ_CHECK(items.size() == 1, "decode_batch of one object did not yield one item");
    if (input.size() <= decoder.limits().max_event_bytes) {
      // The same object judged alone or as a batch of one gets the same answer.
      FUZZ_CHECK(items[0].outcome.has_value() == single.has_value(), "decode and decode_batch disagree on one object");
      if (single) FUZZ_CHECK(*items[0].outcome == *single, "decode and decode_batch decode one object differently");
    }
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    FUZZ_CHECK(items[i].index == i, "batch item indices out of order");
    if (items[i].outcome) {
      check_canonical(*items[i].outcome, decoder, types);
    } else {
      FUZZ_CHECK(is_codec_error(items[i].outcome.error().code),
                 "batch item refused with a code that is not a codec error");
    }
  }
  return 0;
}
