// A subscriber's position derived from a channel's state (positions.hpp): the offset of a view, and its epoch as
// an HMAC under the cluster's secret, the same on every node and telling a subscriber nothing but "your view
// started over" (docs/cluster.md, (c) and (f); docs/security.md). Pure apart from OpenSSL's HMAC.
#pragma once

#include "cluster/positions.hpp"
#include "rtcache/core/factory_scope.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rtcache::cluster {

// The view class as text: "*" for the unscoped view, otherwise "=" followed by its factory ids, sorted, comma
// separated ("=" alone for the empty scope). Ids cannot hold ',' or '=' (core::validate_id).
std::string view_class_text(const core::factory_scope& view);

// Whether a view of class `view` holds the messages of partition `factory` (empty: untagged), as the hub
// decides (src/server/hub/hub.hpp): the unscoped view holds everything, a scoped view the partitions of its
// factories.
bool view_admits(const core::factory_scope& view, std::string_view factory) noexcept;

// What a node knows of one partition when it answers for a view: live (its state), or in limbo (its latest message
// left the stream, so only its generation is known: from the ledger, or from a node's memory). A partition a view
// admits but that never started has no fact at all: it counts as a live partition of generation 0 with no
// messages, so a partition's first message is no reset of the views that admit it. Callers pass one fact per
// partition.
struct partition_fact {
  std::string factory;  // empty: untagged
  std::uint64_t generation = 0;
  std::optional<std::uint64_t> counter;  // nullopt: in limbo

  friend bool operator==(const partition_fact&, const partition_fact&) = default;
};

// The fact of a partition held in memory as `state`, given the stream's first sequence.
partition_fact fact_of(std::string_view factory, const partition_state& state, std::uint64_t first_seq);

// The view's offset: the sum of the counters of the live partitions it admits (a partition in limbo adds 0).
// Facts of partitions the view does not admit are ignored, so a caller may pass what it has.
std::uint64_t view_offset(std::span<const partition_fact> facts, const core::factory_scope& view) noexcept;

// What an epoch is derived from besides the view and its partitions: which incarnation of the stream, the channel,
// and the last gap marker covering the channel (0: none).
struct epoch_basis {
  std::string_view stream_identity;  // stream_identity::to_string() of the main stream (and the ledger's)
  std::string_view channel;          // the hub channel name
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

  // HMAC-SHA256(secret, "rtcache-epoch-v2" 0 identity 0 channel 0 view class 0 gap 0 partitions), its first 16
  // bytes as 32 lower-case hex digits: the format of the hub's random epochs. `partitions` lists, sorted by
  // factory, each partition the view admits that is in limbo ("limbo:<generation>") or in a generation other than
  // 0: a function of the view's own partitions only. A live partition of generation 0 and one that never started
  // add nothing, so neither a partition's birth nor anything of a partition the view does not admit changes it.
  std::string epoch(const epoch_basis& basis, std::span<const partition_fact> facts,
                    const core::factory_scope& view) const;

  // An epoch for a view whose state a node cannot know (a malformed header): derived the same way with a marker in
  // place of the partitions, so every node gives the same one, and it never equals an epoch of a known state.
  // `what` names the unknown state.
  std::string unknown_epoch(const epoch_basis& basis, const core::factory_scope& view, std::string_view what) const;

 private:
  std::string digest(std::string_view data) const;
  std::string secret_;
};

}  // namespace rtcache::cluster
