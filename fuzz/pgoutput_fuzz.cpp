// Fuzz target for the PostgreSQL change source's decoder: replication CopyData and pgoutput bytes come from
// the network, so every input must decode to a message or a refusal, never a crash, and the relation cache
// the decoded Relations feed must stay consistent.
//
// Input: a sequence of frames, each a 2-byte big-endian length and that many bytes (the last frame takes what
// is left). Each frame is decoded as a pgoutput message and as a CopyData payload (an XLogData's payload is
// decoded as pgoutput too). Properties:
//   1. a refusal has one of the decoder's codes and a non-empty message;
//   2. an accepted message re-encodes, by the tests' independent encoder, to exactly the input bytes: nothing
//      is half-parsed, skipped or normalised; its proper prefixes are refused (truncation is detected);
//   3. accepted messages respect the bounds: column counts, name lengths, non-empty identifiers, no bytes
//      for null or unchanged values;
//   4. a relation_cache (bound 4) agrees with a model map after every Relation: apply succeeds exactly when
//      the oid is held or there is room, find() returns the latest Relation, size() is the model's; naming a
//      change's tuple succeeds exactly when the model holds the oid with the same column count, and pairs
//      values with columns in order; a tuple named earlier keeps the definition it was named with.
// A violated property traps (libFuzzer then records the input as a crash).

#include "fuzz_check.hpp"
#include "pg_test_encoder.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/pg/pgoutput.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace {

using namespace rtcache::pg;

// ---------------------------------------------------------------------------------------------------------
// The encoder the unit tests use (tests/support/pg_test_encoder.hpp), written from the protocol documentation,
// independent of the decoder. CopyData is encoded here with every field, send times included.

using test::encode;

std::string encode(const copy_data& c) {
  test::encoder e;
  if (const auto* x = std::get_if<xlog_data>(&c)) {
    e.ch('w');
    e.be(x->wal_start.value, 8);
    e.be(x->wal_end.value, 8);
    e.be(static_cast<std::uint64_t>(x->send_time.micros), 8);
    return e.bytes() + std::string(x->payload);
  }
  const auto& k = std::get<primary_keepalive>(c);
  e.ch('k');
  e.be(k.wal_end.value, 8);
  e.be(static_cast<std::uint64_t>(k.send_time.micros), 8);
  e.be(k.reply_requested ? 1 : 0, 1);
  return e.bytes();
}

// ---------------------------------------------------------------------------------------------------------

bool is_decoder_error(rtcache::core::errc code) {
  using rtcache::core::errc;
  switch (code) {
    case errc::empty:
    case errc::bad_char:
    case errc::bad_value:
    case errc::too_long:
    case errc::too_many:
    case errc::duplicate_key: return true;
    default: return false;
  }
}

bool name_ok(const std::string& s, bool may_be_empty) {
  return (may_be_empty || !s.empty()) && s.size() <= k_max_name_bytes && s.find('\0') == std::string::npos;
}

bool tuple_ok(const tuple_data& t) {
  if (t.size() > k_max_columns) return false;
  for (const column_value& v : t) {
    const bool has_bytes = v.kind == value_kind::text || v.kind == value_kind::binary;
    if (!has_bytes && !v.bytes.empty()) return false;
    if (v.bytes.size() > k_max_value_bytes) return false;
  }
  return true;
}

// Property 3.
bool within_bounds(const message& m) {
  if (const auto* r = std::get_if<relation_message>(&m)) {
    if (!name_ok(r->schema, true) || !name_ok(r->name, false) || r->columns.size() > k_max_columns) return false;
    for (const relation_column& c : r->columns) {
      if (!name_ok(c.name, false)) return false;
    }
    return true;
  }
  if (const auto* t = std::get_if<type_message>(&m)) return name_ok(t->schema, true) && name_ok(t->name, false);
  if (const auto* o = std::get_if<origin_message>(&m)) return name_ok(o->name, true);
  if (const auto* b = std::get_if<begin_message>(&m)) return b->final_lsn.value != 0;
  if (const auto* c = std::get_if<commit_message>(&m)) return c->flags == 0;
  if (const auto* i = std::get_if<insert_message>(&m)) return tuple_ok(i->new_tuple);
  if (const auto* u = std::get_if<update_message>(&m)) {
    return tuple_ok(u->new_tuple) && tuple_ok(u->old_tuple) &&
           (u->old_kind != old_tuple_kind::none || u->old_tuple.empty());
  }
  if (const auto* d = std::get_if<delete_message>(&m)) {
    return tuple_ok(d->old_tuple) && d->old_kind != old_tuple_kind::none;
  }
  if (const auto* t = std::get_if<truncate_message>(&m)) return !t->relation_oids.empty();
  return false;
}

// The cache under test, a model of it, and a tuple named earlier with the relation it was named with.
struct session {
  static constexpr std::size_t k_bound = 4;
  relation_cache cache{k_bound};
  std::map<std::uint32_t, relation_message> model;
  std::unique_ptr<tuple_data> kept_tuple;
  std::optional<named_tuple> kept_named;
  relation_message kept_relation;
};

void check_cache_matches_model(const session& s, std::string_view frame) {
  FUZZ_CHECK(s.cache.size() == s.model.size(), "", frame);
  FUZZ_CHECK(s.cache.size() <= session::k_bound, "", frame);
  for (const auto& [oid, rel] : s.model) {
    const auto found = s.cache.find(oid);
    FUZZ_CHECK(found != nullptr && *found == rel, "", frame);
  }
  if (s.kept_named) {
    // Property 4, last clause: replacement in the cache does not reach an already named tuple.
    FUZZ_CHECK(*s.kept_named->relation == s.kept_relation, "", frame);
    FUZZ_CHECK(s.kept_named->values.size() == s.kept_tuple->size(), "", frame);
    for (std::size_t i = 0; i < s.kept_named->values.size(); ++i) {
      FUZZ_CHECK(s.kept_named->values[i].column == &s.kept_named->relation->columns[i], "", frame);
      FUZZ_CHECK(s.kept_named->values[i].value == &(*s.kept_tuple)[i], "", frame);
    }
  }
}

void check_naming(session& s, std::uint32_t oid, const tuple_data& tuple, std::string_view frame) {
  const auto named = s.cache.name(oid, tuple);
  const auto it = s.model.find(oid);
  const bool expected = it != s.model.end() && it->second.columns.size() == tuple.size();
  if (!named) {
    FUZZ_CHECK(!expected, "", frame);
    FUZZ_CHECK(named.error().code == rtcache::core::errc::bad_value && !named.error().message.empty(), "", frame);
    return;
  }
  FUZZ_CHECK(expected, "", frame);
  FUZZ_CHECK(*named->relation == it->second, "", frame);
  FUZZ_CHECK(named->values.size() == tuple.size(), "", frame);
  for (std::size_t i = 0; i < tuple.size(); ++i) {
    FUZZ_CHECK(named->values[i].column->name == it->second.columns[i].name, "", frame);
    FUZZ_CHECK(named->values[i].value == &tuple[i], "", frame);
    FUZZ_CHECK(named->find(it->second.columns[i].name) != nullptr, "", frame);
  }
  // Keep this one to check, after later Relations, that it still names the values as it did.
  s.kept_tuple = std::make_unique<tuple_data>(tuple);
  auto renamed = s.cache.name(oid, *s.kept_tuple);
  FUZZ_CHECK(renamed.has_value(), "", frame);
  s.kept_named = std::move(*renamed);
  s.kept_relation = it->second;
}

void check_message(session& s, std::string_view frame) {
  const auto decoded = decode_message(frame);
  if (!decoded) {
    FUZZ_CHECK(is_decoder_error(decoded.error().code), "", frame);
    FUZZ_CHECK(!decoded.error().message.empty(), "", frame);
    return;
  }
  const message& m = *decoded;
  FUZZ_CHECK(within_bounds(m), "", frame);
  FUZZ_CHECK(encode(m) == frame, "", frame);  // property 2
  // Two proper prefixes: all of them would cost quadratic time per input (the unit tests cut every kind at
  // every offset). One byte short, and one picked by the frame's content, so that across runs every offset
  // is tried.
  std::size_t hash = 0;
  for (const char c : frame) hash = hash * 31 + static_cast<std::uint8_t>(c);
  for (const std::size_t n : {frame.size() - 1, hash % frame.size()}) {
    FUZZ_CHECK(!decode_message(frame.substr(0, n)).has_value(), "", frame);
  }

  if (const auto* r = std::get_if<relation_message>(&m)) {
    const bool room = s.model.count(r->oid) != 0 || s.model.size() < session::k_bound;
    const auto applied = s.cache.apply(*r);
    FUZZ_CHECK(applied.has_value() == room, "", frame);
    if (applied) {
      s.model[r->oid] = *r;
    } else {
      FUZZ_CHECK(applied.error().code == rtcache::core::errc::too_many, "", frame);
    }
  } else if (const auto* i = std::get_if<insert_message>(&m)) {
    check_naming(s, i->relation_oid, i->new_tuple, frame);
  } else if (const auto* u = std::get_if<update_message>(&m)) {
    if (u->old_kind != old_tuple_kind::none) check_naming(s, u->relation_oid, u->old_tuple, frame);
    check_naming(s, u->relation_oid, u->new_tuple, frame);
  } else if (const auto* d = std::get_if<delete_message>(&m)) {
    check_naming(s, d->relation_oid, d->old_tuple, frame);
  }
  check_cache_matches_model(s, frame);

  // The text forms of positions and times never crash; an LSN's round-trips.
  if (const auto* c = std::get_if<commit_message>(&m)) {
    const auto parsed = parse_lsn(format_lsn(c->end_lsn));
    FUZZ_CHECK(parsed.has_value() && *parsed == c->end_lsn, "", frame);
    const auto text = format_rfc3339(c->commit_time);
    FUZZ_CHECK(!text || text->size() == 24, "", frame);
  }
}

void check_copy_data(session& s, std::string_view frame) {
  const auto decoded = decode_copy_data(frame);
  if (!decoded) {
    FUZZ_CHECK(is_decoder_error(decoded.error().code), "", frame);
    FUZZ_CHECK(!decoded.error().message.empty(), "", frame);
    return;
  }
  FUZZ_CHECK(encode(*decoded) == frame, "", frame);
  if (const auto* x = std::get_if<xlog_data>(&*decoded)) {
    FUZZ_CHECK(x->payload.data() == frame.data() + 25 && x->payload.size() == frame.size() - 25, "", frame);
    check_message(s, x->payload);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  session s;
  std::size_t pos = 0;
  while (pos < input.size()) {
    std::size_t length = input.size() - pos;
    if (length >= 2) {
      const std::size_t declared = (static_cast<std::size_t>(static_cast<std::uint8_t>(input[pos])) << 8U) |
                                   static_cast<std::uint8_t>(input[pos + 1]);
      pos += 2;
      length = std::min(declared, input.size() - pos);
    } else {
      ++pos;
      length = 0;
    }
    const std::string_view frame = input.substr(pos, length);
    pos += length;
    check_message(s, frame);
    check_copy_data(s, frame);
  }
  return 0;
}
