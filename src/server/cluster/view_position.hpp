// A subscriber's position derived from a channel's state (positions.hpp): the offset of a view, and its epoch as
// an HMAC under the cluster's secret, the same on every node and telling a subscriber nothing but "your view
// started over" (docs/cluster.md, (c) and (f); docs/security.md). Pure apart from OpenSSL's HMAC.
#pragma once

#include "cluster/positions.hpp"
#include "rtcache/core/factory_scope.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rtcache::cluster {

// The view class as text: "*" for the unscoped view, otherwise "=" followed by its factory ids, sorted, comma
// separated ("=" alone for the empty scope). Ids cannot hold ',' or '=' (core::validate_id).
std::string view_class_text(const core::factory_scope& view);

// Whether a view of class `view` holds the messages of partition `factory` (empty: untagged), as the hub
// decides (include/rtcache/net/hub.hpp): the unscoped view holds everything, a scoped view the partitions of its
// factories.
bool view_admits(const core::factory_scope& view, std::string_view factory) noexcept;

// The view's offset: the sum of the counters of the partitions it admits.
std::uint64_t view_offset(const channel_state& state, const core::factory_scope& view) noexcept;

// What an epoch is derived from besides the view: which incarnation of the stream, of the channel, and the last
// gap marker covering the channel (0: none).
struct epoch_basis {
  std::string_view stream_identity;  // stream_identity::to_string() of the main stream (and the ledger's)
  std::string_view channel;          // the hub channel name
  std::uint64_t generation = 0;      // channel_state::generation
  std::uint64_t gap = 0;             // stream sequence of the last gap marker covering the channel
};

// The shortest cluster secret an epoch_deriver takes (the JWT secret's bound): 256 bits, HMAC-SHA256's key size.
inline constexpr std::size_t k_min_secret_bytes = 32;

// Derives epochs. The key is the cluster's secret ([cluster] secret): without it nobody can compute or
// recognise an epoch, and epochs of different channels, views or generations are unrelated.
// Thread-safety: immutable; epoch() may run concurrently.
class epoch_deriver {
 public:
  // Throws std::invalid_argument (a start-up error) for a secret shorter than k_min_secret_bytes: epochs under
  // an empty or short key would be guessable, which issue 11 forbids.
  explicit epoch_deriver(std::string secret);

  // HMAC-SHA256(secret, "rtcache-epoch-v1" 0 identity 0 channel 0 view class 0 generation 0 gap), its first 16
  // bytes as 32 lower-case hex digits: the format of the hub's random epochs.
  std::string epoch(const epoch_basis& basis, const core::factory_scope& view) const;

  // An epoch for a channel whose state a node cannot know (a malformed header, a channel in limbo whose
  // messages all left the stream): derived the same way with a marker in place of the generation, so every node
  // gives the same one, and it never equals an epoch of a known state. `what` names the unknown state.
  std::string unknown_epoch(const epoch_basis& basis, const core::factory_scope& view, std::string_view what) const;

 private:
  std::string digest(std::string_view data) const;
  std::string secret_;
};

}  // namespace rtcache::cluster
