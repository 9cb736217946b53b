// The bisection of partition_search.hpp.
#include "cluster/partition_search.hpp"

namespace rtcache::cluster {

result<std::optional<probed_message>> find_last_in(std::uint64_t lo, std::uint64_t hi, const partition_probe& probe) {
  std::optional<probed_message> best;
  if (lo == 0) lo = 1;  // stream sequences start at 1
  while (lo <= hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    auto found = probe(mid);
    if (!found) return found.error();
    if (!*found || (*found)->seq > hi) {
      hi = mid - 1;  // nothing of the partition in mid..hi (mid >= lo >= 1)
    } else {
      best = **found;  // the last one lies at or after it
      lo = (*found)->seq + 1;
    }
  }
  return best;
}

}  // namespace rtcache::cluster
