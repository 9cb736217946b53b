// JWKS: Supabase's asymmetric JWT signing keys (ES256 on P-256, RS256) published as a JSON Web Key Set, parsed
// with OpenSSL into verification keys, and the cache that keeps them fresh: a periodic refresh, and a refetch
// when a token names a kid nobody knows (a rotation), rate limited so that no token can make rtcache hammer
// the JWKS URL. Pure: the fetch is injected (jwks_fetcher.hpp fetches over HTTPS, a file is read), and so is
// the clock.
#pragma once

#include "auth/auth.hpp"
#include "rtcache/sync/annotated_mutex.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::auth {

// ---- parsing -----------------------------------------------------------------------------------------------

inline constexpr std::size_t k_max_jwks_bytes = 1 << 20;  // a document beyond this is refused unread
inline constexpr std::size_t k_max_jwks_keys = 64;        // usable keys taken from one document; the rest skipped

// The keys a JWK Set (RFC 7517 §5: {"keys":[...]}) yields, and one line per key it does not use.
struct jwks_document {
  std::vector<verification_key> keys;
  std::vector<std::string> skipped;  // "keys[2] (kid 'k9'): kty 'OKP' is not supported (EC P-256, RSA)"
};

// Parses a JWK Set. A key is used when: kty "EC" with crv "P-256" and x, y (32 bytes each, base64url) -> ES256,
// or kty "RSA" with n, e (2048 to 8192 bits) -> RS256; alg, if present, says the same; use, if present, is
// "sig"; key_ops, if present, holds "verify"; kid, if present, is a string of at most k_max_kid_length bytes
// (a key without kid is the default of its alg); it holds no private member (d, p, q, dp, dq, qi, oth: a set
// that publishes a private key is compromised); its point or modulus passes OpenSSL's public key check; its
// kid is not already taken by an earlier key. Any other key is skipped (with its reason), never fatal.
// Errors (malformed): not JSON, more than k_max_jwks_bytes, not an object, no "keys" array, a duplicate member
// in the set or in a key.
auth_result<jwks_document> parse_jwks(std::string_view json);

// ---- the cache ---------------------------------------------------------------------------------------------

struct jwks_cache_config {
  // After a successful fetch, the next one is this much later. A key is published (as a standby key) before it
  // signs anything, so a periodic refresh normally has it before its first token arrives.
  std::chrono::seconds refresh{600};
  // No two fetches start closer than this: an unknown kid refetches at most once per interval, and a failed
  // fetch is retried after it, doubling on each further failure up to `refresh`.
  std::chrono::seconds min_refetch{30};
};

// What a fetch brings back: the document's bytes, or why there are none (for the log).
struct jwks_fetch_result {
  std::optional<std::string> body;
  std::string error;

  static jwks_fetch_result of(std::string b) { return {std::move(b), {}}; }
  static jwks_fetch_result failed(std::string why) { return {std::nullopt, std::move(why)}; }
};

// What the cache tells its owner (main() logs it).
enum class jwks_event {
  loaded,        // a document was fetched and its keys replaced the old ones (`keys` = how many)
  key_skipped,   // one key of a fetched document was not used (`detail` = parse_jwks's reason)
  fetch_failed,  // the fetch failed; the last good keys stay (`detail` = why)
  rejected,      // the document was malformed; the last good keys stay (`detail` = why)
};
std::string_view to_string(jwks_event e) noexcept;

struct jwks_report {
  jwks_event event;
  std::string detail;
  std::size_t keys = 0;  // for loaded
};

// Keeps a JWKS fresh and serves its keys to jwt_verifier (it is the verifier's key_source).
//
// When it fetches: start() fetches at once; then a fetch is due `refresh` after the last success, or after a
// failure `min_refetch` x 2^(failures-1) (at most `refresh`) later; poll() starts a due fetch. unknown_kid()
// starts a fetch early when none runs and none started within `min_refetch`. At most one fetch runs at a time.
// A well-formed document replaces the keys even when it holds none (a removed key must stop verifying); a failed
// fetch or a malformed document keeps the last good keys. Before the first load current() is empty: tokens
// whose keys come from the JWKS are refused (unknown_key) until it arrives.
//
// Thread-safety: every member may be called from any thread. State is guarded by mutex_; fetch_fn and report_fn
// are called without it held (a fetch may complete synchronously, inside fetch_fn). A verify() copies the key
// set's shared_ptr under the lock and reads the immutable vector without it, so a refresh never waits for
// verifications and never frees keys one is using. The completion of a fetch that outlives the cache is
// dropped (it holds a weak_ptr).
class jwks_cache final : public key_source, public std::enable_shared_from_this<jwks_cache> {
 public:
  using clock_fn = std::function<std::chrono::steady_clock::time_point()>;
  // Starts a fetch and calls `done` exactly once, from any thread, possibly before returning.
  using fetch_done = std::function<void(jwks_fetch_result)>;
  using fetch_fn = std::function<void(fetch_done done)>;
  using report_fn = std::function<void(const jwks_report&)>;

  // REQUIRES: 0 < min_refetch <= refresh; fetch and clock callable. `report` may be empty.
  static std::shared_ptr<jwks_cache> create(jwks_cache_config config, fetch_fn fetch, clock_fn clock,
                                            report_fn report = {});

  // The first fetch. Further calls do nothing.
  void start();
  // Starts the periodic (or retry) fetch when it is due. Call it at next_due() (or any time: it is cheap).
  void poll();
  // When the next fetch is due; nullopt while one runs or before start().
  std::optional<std::chrono::steady_clock::time_point> next_due() const;

  // key_source
  std::shared_ptr<const std::vector<verification_key>> current() const override;
  void unknown_kid(std::string_view kid) noexcept override;

  // Counters for tests and metrics.
  struct stats {
    std::uint64_t fetches = 0;   // started
    std::uint64_t loads = 0;     // documents whose keys were taken
    std::uint64_t failures = 0;  // fetch failures and malformed documents
    bool loaded = false;         // a document was taken at least once
    bool fetching = false;
  };
  stats counters() const;

  jwks_cache(const jwks_cache&) = delete;
  jwks_cache& operator=(const jwks_cache&) = delete;

 private:
  jwks_cache(jwks_cache_config config, fetch_fn fetch, clock_fn clock, report_fn report);

  // Marks a fetch started if one may start now; the caller then calls begin_fetch().
  bool claim_fetch_locked(std::chrono::steady_clock::time_point now) RTCACHE_REQUIRES(mutex_);
  // Without the lock: the fetch may complete synchronously, inside fetch_, and finish_fetch() takes it.
  void begin_fetch() RTCACHE_EXCLUDES(mutex_);
  void finish_fetch(jwks_fetch_result r) RTCACHE_EXCLUDES(mutex_);
  std::chrono::seconds retry_delay_locked() const RTCACHE_REQUIRES(mutex_);

  // Constant after construction.
  const jwks_cache_config config_;
  const fetch_fn fetch_;
  const clock_fn clock_;
  const report_fn report_;

  mutable sync::annotated_mutex mutex_;
  std::shared_ptr<const std::vector<verification_key>> keys_ RTCACHE_GUARDED_BY(mutex_);
  bool started_ RTCACHE_GUARDED_BY(mutex_) = false;
  bool fetching_ RTCACHE_GUARDED_BY(mutex_) = false;
  std::optional<std::chrono::steady_clock::time_point> last_start_ RTCACHE_GUARDED_BY(mutex_);
  std::chrono::steady_clock::time_point next_due_ RTCACHE_GUARDED_BY(mutex_) = {};
  std::uint32_t consecutive_failures_ RTCACHE_GUARDED_BY(mutex_) = 0;
  stats stats_ RTCACHE_GUARDED_BY(mutex_);
};

}  // namespace rtcache::auth
