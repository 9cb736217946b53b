// The activity simulator's policy: what the simulated factory floor does next (an update, an approval, a
// create, a delete, a bulk operation or a burst of updates to one document), over which type and factory.
// Pure: randomness comes from a seeded engine the caller owns, so a seed replays the same activity.
#pragma once

#include "doc_catalog.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace rtcache::demo {

enum class activity_kind { update, approve, reject, create, remove, bulk_approve, burst };

// "update", "approve", ... (simulator log lines).
std::string_view to_string(activity_kind k) noexcept;

struct activity {
  activity_kind kind{};
  const doc_table* table = nullptr;
  std::string factory;
  int count = 1;  // rows for bulk_approve, updates for burst, 1 otherwise
};

// Relative weights of each kind; a zero weight disables it. REQUIRES: at least one weight > 0.
struct activity_mix {
  unsigned update = 55;
  unsigned approve = 8;
  unsigned reject = 4;
  unsigned create = 12;
  unsigned remove = 9;
  unsigned bulk_approve = 6;
  unsigned burst = 6;
};

inline constexpr int k_max_bulk_rows = 25;
inline constexpr int k_max_burst = 20;

// Thread-safety: none (holds the engine); one planner per simulator thread.
class activity_planner {
 public:
  // REQUIRES: factories non-empty.
  activity_planner(std::uint64_t seed, std::vector<std::string> factories, activity_mix mix = {});

  activity next();

 private:
  std::uint64_t draw(std::uint64_t bound);  // uniform in [0, bound) by rejection; engine-independent of libstdc++

  std::mt19937_64 engine_;
  std::vector<std::string> factories_;
  activity_mix mix_;
};

}  // namespace rtcache::demo
