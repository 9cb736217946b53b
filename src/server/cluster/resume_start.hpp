// Where an exact resume's range fetch starts (docs/cluster.md (h)): near the client's position rather than at the
// stream's first sequence, so that a client that missed a few messages of a busy view is answered from those few
// however many messages of the view the stream's retention holds. Pure: the stream is reached through a probe the
// caller gives (a direct get by subject), so the search is tested without a server.
//
// Why the search is sound: a view's offset is the sum of the counters of the live partitions it admits
// (view_position.hpp), and a resume position in the view's current epoch has every partition in its current
// generation. A client `missed` offsets behind the current offset therefore lacks, in each partition, at most that
// partition's last `missed` messages: none with a counter below (current counter - missed + 1). A fetch from the
// first stream sequence holding such a message, in any partition, holds everything the client lacks; whether it
// really does is still proved by the walk over the fetched messages (stream_applier::join_replayed), which refuses
// a position the fetch does not pass through.
#pragma once

#include "cluster/error.hpp"
#include "cluster/partition_search.hpp"
#include "cluster/positions.hpp"
#include "rtcache/core/factory_scope.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rtcache::cluster {

// Partitions a resume searches at most; a view admitting more live partitions on the channel (an unscoped view of a
// channel many factories write) is fetched from the stream's first sequence, as before the search existed.
inline constexpr std::size_t k_max_searched_partitions = 8;

// What to look for in one partition: its first message at or after `counter` in the generation of `latest`.
struct resume_target {
  std::string factory;     // the partition (empty: untagged)
  partition_state latest;  // the node's state of the partition: its latest message
  std::uint64_t counter = 1;
};

// One target per partition of `held` that `view` admits and that is live by `first_seq`, for a client `missed`
// (> 0) offsets behind the view's current offset: max(1, counter - missed + 1). A partition in limbo adds nothing to
// the offset and has nothing the client could lack in the current epoch.
std::vector<resume_target> resume_targets(const channel_state& held, const core::factory_scope& view,
                                          std::uint64_t first_seq, std::uint64_t missed);

// The stream sequence of the partition's first message whose (generation, counter) is at least the target's, found
// by bisection between the lowest sequence such a message can have (by `first_seq`, and by the generation's start
// and the target's counter) and the highest (the latest message's sequence less the messages after it); at most
// about log2 of that span plus one probes. A probe that finds nothing of the partition where its latest message
// should be (retention passed it, a purge) ends the search at the latest message: the walk then refuses what the
// fetch lacks. Errors: the probe's.
result<std::uint64_t> find_resume_target(const resume_target& target, std::uint64_t first_seq,
                                         const partition_probe& probe);

}  // namespace rtcache::cluster
