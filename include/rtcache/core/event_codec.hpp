// The JSON codec of the event contract. Decoding treats input as untrusted bytes (simdjson, strict);
// encoding is canonical: fixed field order, sorted patch, no whitespace, so equal events encode equal.
#pragma once

#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/event.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::core {

struct codec_limits {
  std::size_t max_event_bytes = 64 * 1024;   // one encoded event
  std::size_t max_batch_bytes = 4 << 20;     // one decode_batch input
  std::size_t max_batch_items = 1000;        // events in one batch
  std::size_t max_changed_keys = 256;        // entries in changedKeys
  std::size_t max_patch_entries = 256;       // columns in patch
  std::size_t max_column_length = 63;        // PostgreSQL's NAMEDATALEN - 1
  std::size_t max_ts_length = 40;
  std::size_t max_depth = 32;                // JSON nesting (patch values may be objects)
};

// One item of a batch: its index in the input array and either the event or why it was refused.
struct batch_item {
  std::size_t index;
  result<event> outcome;
};

// Decodes contract events. Refuses: malformed JSON, non-objects, unknown or duplicate fields, wrong
// types, unknown actions, unregistered types, ids outside the id grammar, negative or non-integer
// versions, malformed timestamps, duplicate or oversize changedKeys/patch entries, count without a
// summary id, and anything over `limits`.
// Thread-safety: not thread-safe (owns a reusable parser); use one decoder per thread.
class event_decoder {
 public:
  explicit event_decoder(doc_type_registry types, codec_limits limits = {});
  ~event_decoder();
  event_decoder(event_decoder&&) noexcept;
  event_decoder& operator=(event_decoder&&) noexcept;

  result<event> decode(std::string_view json);

  // Decodes one event object or an array of them. A malformed document as a whole is an error;
  // otherwise each item is judged on its own, so one bad item never loses the good ones.
  result<std::vector<batch_item>> decode_batch(std::string_view json);

  const codec_limits& limits() const noexcept { return limits_; }

 private:
  struct impl;
  doc_type_registry types_;
  codec_limits limits_;
  std::unique_ptr<impl> impl_;
};

// Canonical JSON: {"type","id","factoryId","action","changedKeys"?,"version"?,"ts"?,"patch"?,"offset"?,"count"?}.
// REQUIRES: `e` is valid (as produced by decode or built from validated parts).
std::string encode(const event& e);

// Appends the canonical encoding to `out` (for writers that batch into one buffer).
void encode_to(std::string& out, const event& e);

}  // namespace rtcache::core
