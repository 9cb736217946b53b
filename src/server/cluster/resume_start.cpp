// The bisection of resume_start.hpp.
#include "cluster/resume_start.hpp"

#include "cluster/view_position.hpp"

#include <algorithm>

namespace rtcache::cluster {

std::vector<resume_target> resume_targets(const channel_state& held, const core::factory_scope& view,
                                          std::uint64_t first_seq, std::uint64_t missed) {
  std::vector<resume_target> out;
  for (const auto& p : held.partitions) {
    if (!view_admits(view, p.factory) || !is_live(p.state, first_seq) || p.state.counter == 0) continue;
    const std::uint64_t counter = p.state.counter > missed ? p.state.counter - missed + 1 : 1;
    out.push_back({p.factory, p.state, counter});
  }
  return out;
}

result<std::uint64_t> find_resume_target(const resume_target& target, std::uint64_t first_seq,
                                         const partition_probe& probe) {
  const partition_state& latest = target.latest;
  const std::uint64_t counter =
      std::clamp<std::uint64_t>(target.counter, 1, std::max<std::uint64_t>(latest.counter, 1));
  std::uint64_t best = latest.last;  // a message at or after the target: the latest one
  if (counter == latest.counter || best == 0) return best;
  // Every message takes a sequence of its own: the generation's message `counter` lies at or after the
  // generation's start plus counter - 1 (generation 0 starts at sequence 1), and at or before the latest message's
  // sequence less the messages that follow it.
  const std::uint64_t start = latest.generation == 0 ? 1 : latest.generation;
  std::uint64_t lo = std::max<std::uint64_t>({first_seq, start + counter - 1, 1});
  const std::uint64_t after = latest.counter - counter;
  std::uint64_t hi = latest.last > after ? latest.last - after : 0;
  if (hi >= best) hi = best - 1;
  const auto at_or_after = [&](const probed_message& m) {
    return m.generation != latest.generation ? m.generation > latest.generation : m.counter >= counter;
  };
  while (lo <= hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    auto found = probe(mid);
    if (!found) return found.error();
    if (!*found || (*found)->seq >= best) {
      hi = mid - 1;  // nothing of the partition in mid..best-1: the answer is best or lies before mid (mid >= lo >= 1)
    } else if (at_or_after(**found)) {
      best = (*found)->seq;
      hi = mid - 1;
    } else {
      lo = (*found)->seq + 1;
    }
  }
  return best;
}

}  // namespace rtcache::cluster
