// When to fetch the JWKS and what to keep: the policy of jwks.hpp. The fetch itself is injected.
#include "auth/jwks.hpp"

#include <algorithm>
#include <cassert>

namespace rtcache::auth {

std::string_view to_string(jwks_event e) noexcept {
  switch (e) {
    case jwks_event::loaded: return "loaded";
    case jwks_event::key_skipped: return "key_skipped";
    case jwks_event::fetch_failed: return "fetch_failed";
    case jwks_event::rejected: return "rejected";
  }
  return "unknown";
}

std::shared_ptr<jwks_cache> jwks_cache::create(jwks_cache_config config, fetch_fn fetch, clock_fn clock,
                                               report_fn report) {
  assert(config.min_refetch.count() > 0 && config.min_refetch <= config.refresh);
  assert(fetch && clock);
  return std::shared_ptr<jwks_cache>(new jwks_cache(config, std::move(fetch), std::move(clock), std::move(report)));
}

jwks_cache::jwks_cache(jwks_cache_config config, fetch_fn fetch, clock_fn clock, report_fn report)
    : config_(config),
      fetch_(std::move(fetch)),
      clock_(std::move(clock)),
      report_(std::move(report)),
      keys_(std::make_shared<const std::vector<verification_key>>()) {}

void jwks_cache::start() {
  {
    const sync::mutex_lock lock(mutex_);
    if (started_) return;
    started_ = true;
    if (!claim_fetch_locked(clock_())) return;
  }
  begin_fetch();
}

void jwks_cache::poll() {
  {
    const sync::mutex_lock lock(mutex_);
    const auto now = clock_();
    if (!started_ || fetching_ || now < next_due_) return;
    if (!claim_fetch_locked(now)) return;
  }
  begin_fetch();
}

std::optional<std::chrono::steady_clock::time_point> jwks_cache::next_due() const {
  const sync::mutex_lock lock(mutex_);
  if (!started_ || fetching_) return std::nullopt;
  return next_due_;
}

std::shared_ptr<const std::vector<verification_key>> jwks_cache::current() const {
  const sync::mutex_lock lock(mutex_);
  return keys_;
}

void jwks_cache::unknown_kid(std::string_view /*kid*/) noexcept {
  {
    const sync::mutex_lock lock(mutex_);
    if (!started_ || fetching_) return;
    const auto now = clock_();
    // The rate limit: whatever kids tokens name, at most one fetch starts per min_refetch.
    if (last_start_ && now - *last_start_ < config_.min_refetch) return;
    if (!claim_fetch_locked(now)) return;
  }
  begin_fetch();
}

jwks_cache::stats jwks_cache::counters() const {
  const sync::mutex_lock lock(mutex_);
  stats s = stats_;
  s.fetching = fetching_;
  return s;
}

bool jwks_cache::claim_fetch_locked(std::chrono::steady_clock::time_point now) {
  if (fetching_) return false;
  fetching_ = true;
  last_start_ = now;
  ++stats_.fetches;
  return true;
}

void jwks_cache::begin_fetch() {
  std::weak_ptr<jwks_cache> self = weak_from_this();
  try {
    fetch_([self](jwks_fetch_result r) {
      if (auto cache = self.lock()) cache->finish_fetch(std::move(r));
    });
  } catch (const std::exception& e) {  // a fetcher that cannot even start (out of memory): a failed fetch
    finish_fetch(jwks_fetch_result::failed(std::string("the fetch could not start: ") + e.what()));
  }
}

std::chrono::seconds jwks_cache::retry_delay_locked() const {
  // min_refetch, doubled per further consecutive failure, at most refresh.
  std::chrono::seconds delay = config_.min_refetch;
  for (std::uint32_t i = 1; i < consecutive_failures_ && delay < config_.refresh; ++i) delay *= 2;
  return std::min(delay, config_.refresh);
}

void jwks_cache::finish_fetch(jwks_fetch_result r) {
  std::vector<jwks_report> reports;
  std::optional<auth_result<jwks_document>> parsed;
  if (r.body) parsed = parse_jwks(*r.body);  // parsed outside the lock: verifications keep running
  {
    const sync::mutex_lock lock(mutex_);
    const auto now = clock_();
    fetching_ = false;
    if (parsed && *parsed) {
      jwks_document& doc = **parsed;
      const std::size_t n = doc.keys.size();
      keys_ = std::make_shared<const std::vector<verification_key>>(std::move(doc.keys));
      consecutive_failures_ = 0;
      ++stats_.loads;
      stats_.loaded = true;
      next_due_ = now + config_.refresh;
      for (auto& s : doc.skipped) reports.push_back({jwks_event::key_skipped, std::move(s), 0});
      reports.push_back({jwks_event::loaded, {}, n});
    } else {
      ++consecutive_failures_;
      ++stats_.failures;
      next_due_ = now + retry_delay_locked();
      if (parsed) {
        reports.push_back({jwks_event::rejected, (*parsed).error().message, 0});
      } else {
        reports.push_back({jwks_event::fetch_failed, std::move(r.error), 0});
      }
    }
  }
  if (report_) {
    for (const auto& rep : reports) report_(rep);
  }
}

}  // namespace rtcache::auth
