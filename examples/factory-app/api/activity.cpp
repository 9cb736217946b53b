// Weighted choice of the next simulated activity.
#include "activity.hpp"

#include <array>
#include <cassert>
#include <limits>
#include <utility>

namespace rtcache::demo {

std::string_view to_string(activity_kind k) noexcept {
  switch (k) {
    case activity_kind::update: return "update";
    case activity_kind::approve: return "approve";
    case activity_kind::reject: return "reject";
    case activity_kind::create: return "create";
    case activity_kind::remove: return "delete";
    case activity_kind::bulk_approve: return "bulk_approve";
    case activity_kind::burst: return "burst";
  }
  return "unknown";
}

activity_planner::activity_planner(std::uint64_t seed, std::vector<std::string> factories, activity_mix mix)
    : engine_(seed), factories_(std::move(factories)), mix_(mix) {
  assert(!factories_.empty());
}

std::uint64_t activity_planner::draw(std::uint64_t bound) {
  assert(bound > 0);
  // Rejection sampling: unbiased, and defined by mt19937_64's (standardised) output alone.
  const std::uint64_t limit =
      std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % bound;
  std::uint64_t v = engine_();
  while (v >= limit) v = engine_();
  return v % bound;
}

activity activity_planner::next() {
  const std::array<std::pair<activity_kind, unsigned>, 7> weights{{
      {activity_kind::update, mix_.update},
      {activity_kind::approve, mix_.approve},
      {activity_kind::reject, mix_.reject},
      {activity_kind::create, mix_.create},
      {activity_kind::remove, mix_.remove},
      {activity_kind::bulk_approve, mix_.bulk_approve},
      {activity_kind::burst, mix_.burst},
  }};
  std::uint64_t total = 0;
  for (const auto& [k, w] : weights) total += w;
  assert(total > 0);

  std::uint64_t pick = draw(total);
  activity a;
  for (const auto& [k, w] : weights) {
    if (pick < w) {
      a.kind = k;
      break;
    }
    pick -= w;
  }
  const auto tables = doc_tables();
  a.table = &tables[draw(tables.size())];
  a.factory = factories_[draw(factories_.size())];
  if (a.kind == activity_kind::bulk_approve) a.count = 2 + static_cast<int>(draw(k_max_bulk_rows - 1));
  if (a.kind == activity_kind::burst) a.count = 5 + static_cast<int>(draw(k_max_burst - 4));
  return a;
}

}  // namespace rtcache::demo
