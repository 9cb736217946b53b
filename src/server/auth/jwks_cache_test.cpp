// The JWKS cache's policy (issue 11): when it fetches (start, periodic refresh, unknown kid, retry after a
// failure), how often at most, and which keys it keeps. A manual clock and a fetcher the test completes by hand.
#include "auth/jwks.hpp"
#include "jwt_test_support.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

namespace rtcache::auth {
namespace {

using namespace std::chrono_literals;
using testing::jwks_of;
using testing::public_jwk_of;
using time_point = std::chrono::steady_clock::time_point;

const std::string& key_a() {
  static const std::string k = testing::generate_ec_private_pem("P-256");
  return k;
}
const std::string& key_b() {
  static const std::string k = testing::generate_ec_private_pem("P-256");
  return k;
}

class JwksCache : public ::testing::Test {
 protected:
  JwksCache() {
    cache_ = jwks_cache::create(
        config_, [this](jwks_cache::fetch_done done) { pending_.push_back(std::move(done)); }, [this] { return now_; },
        [this](const jwks_report& r) { reports_.push_back(r); });
  }

  // Completes the oldest pending fetch.
  void answer(jwks_fetch_result r) {
    ASSERT_FALSE(pending_.empty()) << "no fetch is pending";
    auto done = std::move(pending_.front());
    pending_.pop_front();
    done(std::move(r));
  }

  std::vector<std::string> kids() const {
    std::vector<std::string> out;
    for (const auto& k : *cache_->current()) out.push_back(k.kid());
    return out;
  }

  jwks_cache_config config_{600s, 30s};
  time_point now_ = time_point{} + 1000h;
  std::deque<jwks_cache::fetch_done> pending_;
  std::vector<jwks_report> reports_;
  std::shared_ptr<jwks_cache> cache_;
};

TEST_F(JwksCache, StartFetchesOnceAndTheKeysServeUntilTheRefreshIsDue) {
  EXPECT_TRUE(cache_->current()->empty());
  cache_->poll();  // not started: nothing
  EXPECT_TRUE(pending_.empty());
  cache_->start();
  cache_->start();
  ASSERT_EQ(pending_.size(), 1U);
  EXPECT_EQ(cache_->next_due(), std::nullopt);  // a fetch runs
  answer(jwks_fetch_result::of(jwks_of({public_jwk_of(key_a(), "a")})));
  EXPECT_EQ(kids(), std::vector<std::string>{"a"});
  ASSERT_EQ(reports_.size(), 1U);
  EXPECT_EQ(reports_[0].event, jwks_event::loaded);
  EXPECT_EQ(reports_[0].keys, 1U);
  EXPECT_EQ(cache_->next_due(), now_ + 600s);

  now_ += 599s;
  cache_->poll();
  EXPECT_TRUE(pending_.empty());
  now_ += 1s;
  cache_->poll();
  EXPECT_EQ(pending_.size(), 1U);  // the periodic refresh
  EXPECT_EQ(cache_->counters().fetches, 2U);
}

TEST_F(JwksCache, AnUnknownKidRefetchesAtOncePerMinIntervalWhateverTheTokensSay) {
  cache_->start();
  answer(jwks_fetch_result::of(jwks_of({public_jwk_of(key_a(), "a")})));
  now_ += 10s;
  cache_->unknown_kid("b");  // 10 s after the last fetch started: within min_refetch
  EXPECT_TRUE(pending_.empty());
  now_ += 20s;
  cache_->unknown_kid("b");
  ASSERT_EQ(pending_.size(), 1U);
  // While it runs, and for min_refetch after it started, a flood of unknown kids starts nothing.
  for (int i = 0; i < 1000; ++i) cache_->unknown_kid("attacker-" + std::to_string(i));
  answer(jwks_fetch_result::of(jwks_of({public_jwk_of(key_a(), "a"), public_jwk_of(key_b(), "b")})));
  for (int i = 0; i < 1000; ++i) {
    now_ += 10ms;
    cache_->unknown_kid("attacker-" + std::to_string(i));
  }
  EXPECT_TRUE(pending_.empty());
  EXPECT_EQ(cache_->counters().fetches, 2U);
  EXPECT_EQ(kids(), (std::vector<std::string>{"a", "b"}));
  now_ += 20s;  // min_refetch after the last start
  cache_->unknown_kid("c");
  EXPECT_EQ(pending_.size(), 1U);
}

TEST_F(JwksCache, RotationReplacesTheKeysAndARemovedKeyStopsAtTheNextLoad) {
  cache_->start();
  answer(jwks_fetch_result::of(jwks_of({public_jwk_of(key_a(), "a")})));
  now_ += 31s;
  cache_->unknown_kid("b");
  answer(jwks_fetch_result::of(jwks_of({public_jwk_of(key_b(), "b")})));
  EXPECT_EQ(kids(), std::vector<std::string>{"b"});
  // A well-formed set without keys is taken too: every key was removed.
  now_ += 600s;
  cache_->poll();
  answer(jwks_fetch_result::of(R"({"keys":[]})"));
  EXPECT_TRUE(cache_->current()->empty());
}

TEST_F(JwksCache, AFailedFetchOrAMalformedDocumentKeepsTheLastGoodKeysAndRetriesWithBackoff) {
  cache_->start();
  answer(jwks_fetch_result::of(jwks_of({public_jwk_of(key_a(), "a")})));
  now_ += 600s;
  cache_->poll();
  answer(jwks_fetch_result::failed("connect: connection refused"));
  EXPECT_EQ(kids(), std::vector<std::string>{"a"});
  EXPECT_EQ(reports_.back().event, jwks_event::fetch_failed);
  EXPECT_EQ(reports_.back().detail, "connect: connection refused");
  EXPECT_EQ(cache_->next_due(), now_ + 30s);
  now_ += 30s;
  cache_->poll();
  answer(jwks_fetch_result::of("<html>502 Bad Gateway</html>"));
  EXPECT_EQ(kids(), std::vector<std::string>{"a"});
  EXPECT_EQ(reports_.back().event, jwks_event::rejected);
  EXPECT_EQ(cache_->next_due(), now_ + 60s);
  for (const auto expected : {120s, 240s, 480s, 600s, 600s}) {
    now_ = *cache_->next_due();
    cache_->poll();
    answer(jwks_fetch_result::failed("timeout"));
    EXPECT_EQ(cache_->next_due(), now_ + expected);
  }
  now_ = *cache_->next_due();
  cache_->poll();
  answer(jwks_fetch_result::of(jwks_of({public_jwk_of(key_b(), "b")})));
  EXPECT_EQ(kids(), std::vector<std::string>{"b"});
  EXPECT_EQ(cache_->next_due(), now_ + 600s);  // back to the refresh interval
  EXPECT_EQ(cache_->counters().failures, 7U);
}

TEST_F(JwksCache, SkippedKeysAreReportedOneByOne) {
  cache_->start();
  answer(jwks_fetch_result::of(jwks_of({public_jwk_of(key_a(), "a"), R"({"kty":"OKP","kid":"ed"})"})));
  ASSERT_EQ(reports_.size(), 2U);
  EXPECT_EQ(reports_[0].event, jwks_event::key_skipped);
  EXPECT_NE(reports_[0].detail.find("kty 'OKP'"), std::string::npos) << reports_[0].detail;
  EXPECT_EQ(reports_[1].event, jwks_event::loaded);
}

TEST_F(JwksCache, AFetchThatCompletesAfterTheCacheIsGoneIsDropped) {
  cache_->start();
  cache_.reset();
  answer(jwks_fetch_result::of(jwks_of({public_jwk_of(key_a(), "a")})));  // no crash, no report
  EXPECT_TRUE(reports_.empty());
}

TEST(JwksCacheSync, AFetchThatCompletesInsideTheFetchCallIsTaken) {
  auto now = std::chrono::steady_clock::time_point{};
  std::string document = jwks_of({public_jwk_of(key_a(), "a")});
  auto cache = jwks_cache::create(
      {600s, 30s}, [&](jwks_cache::fetch_done done) { done(jwks_fetch_result::of(document)); }, [&] { return now; });
  cache->start();
  ASSERT_EQ(cache->current()->size(), 1U);
  document = jwks_of({public_jwk_of(key_b(), "b")});
  now += 30s;
  cache->unknown_kid("b");
  EXPECT_EQ(cache->current()->at(0).kid(), "b");
}

}  // namespace
}  // namespace rtcache::auth
