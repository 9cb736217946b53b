// The settings checks: pure, every problem named.
#include "cluster/settings.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace rtcache::cluster {
namespace {

bool mentions(const std::vector<std::string>& problems, const std::string& needle) {
  return std::any_of(problems.begin(), problems.end(),
                     [&](const std::string& p) { return p.find(needle) != std::string::npos; });
}

TEST(NatsSettings, DefaultsNeedOnlyAUrl) {
  nats_settings s;
  EXPECT_TRUE(mentions(validate(s), "nats_urls: at least one"));
  s.urls = {"nats://127.0.0.1:4222", "tls://nats.example.com:4443", "nats://user:pw@10.0.0.1:4222"};
  EXPECT_EQ(validate(s), std::vector<std::string>{});
}

TEST(NatsSettings, ReportsEveryBadUrlByIndex) {
  nats_settings s;
  s.urls = {"nats://ok:4222", "http://x:1", "nats://nohost", "nats://h:0", "nats://h:99999", "nats://h 1:2"};
  const auto p = validate(s);
  EXPECT_EQ(p.size(), 5u);
  EXPECT_TRUE(mentions(p, "nats_urls[1]: must start with nats:// or tls://"));
  EXPECT_TRUE(mentions(p, "nats_urls[2]: needs host:port"));
  EXPECT_TRUE(mentions(p, "nats_urls[3]: port must be 1-65535"));
  EXPECT_TRUE(mentions(p, "nats_urls[4]: port must be 1-65535"));
  EXPECT_TRUE(mentions(p, "nats_urls[5]: contains whitespace"));
}

TEST(NatsSettings, CredentialsAreOneKindAndComplete) {
  nats_settings s;
  s.urls = {"nats://h:1"};
  s.token = "t";
  s.user = "u";
  s.password = "p";
  EXPECT_TRUE(mentions(validate(s), "at most one of"));
  s = {};
  s.urls = {"nats://h:1"};
  s.user = "u";
  EXPECT_TRUE(mentions(validate(s), "password: a user needs a password"));
  s.user.clear();
  s.nkey = "UABC";
  EXPECT_TRUE(mentions(validate(s), "nkey and nkey_seed_file go together"));
  s.nkey = "SABC";
  s.nkey_seed_file = "/x";
  EXPECT_TRUE(mentions(validate(s), "starts with 'U'"));
  s = {};
  s.urls = {"nats://h:1"};
  s.tls.cert_file = "/c.pem";
  EXPECT_TRUE(mentions(validate(s), "cert_file and key_file go together"));
}

TEST(NatsSettings, ReconnectAndTimeoutsAreBounded) {
  nats_settings s;
  s.urls = {"nats://h:1"};
  s.connect_timeout = std::chrono::milliseconds(0);
  s.reconnect.initial = std::chrono::milliseconds(500);
  s.reconnect.max = std::chrono::milliseconds(100);
  s.reconnect_buffer_bytes = 0;
  s.max_pings_out = 0;
  const auto p = validate(s);
  EXPECT_TRUE(mentions(p, "connect_timeout"));
  EXPECT_TRUE(mentions(p, "reconnect: need"));
  EXPECT_TRUE(mentions(p, "reconnect_buffer_bytes"));
  EXPECT_TRUE(mentions(p, "max_pings_out"));
}

TEST(StreamSettings, DefaultsAreValid) {
  EXPECT_EQ(validate(stream_settings{}), std::vector<std::string>{});
}

TEST(StreamSettings, ReportsNameSubjectsLimitsAndWindow) {
  stream_settings s;
  s.name = "rt.cache";
  s.subjects = {"rtcache.>", "a..b", "a.>.b", "a.b*", ""};
  s.max_age = std::chrono::seconds(60);
  s.max_bytes = 0;
  s.duplicate_window = std::chrono::minutes(2);
  s.replicas = 7;
  const auto p = validate(s);
  EXPECT_TRUE(mentions(p, "stream: 1-57 characters"));
  EXPECT_TRUE(mentions(p, "subjects[1]: has an empty token"));
  EXPECT_TRUE(mentions(p, "subjects[2]: uses '>' before the last token"));
  EXPECT_TRUE(mentions(p, "subjects[3]: uses a wildcard inside a token"));
  EXPECT_TRUE(mentions(p, "subjects[4]: is empty"));
  EXPECT_TRUE(mentions(p, "max_bytes"));
  EXPECT_TRUE(mentions(p, "duplicate_window: must not exceed max_age_s"));
  EXPECT_TRUE(mentions(p, "replicas"));
  EXPECT_FALSE(mentions(p, "subjects[0]"));
}

TEST(StreamSettings, TheIngestStreamHasItsOwnNameAndSubjectsTheMainAgeAndAnEighthOfItsBytes) {
  stream_settings main;
  main.name = "orders";
  main.subjects = {"orders.>"};
  main.max_age = std::chrono::hours(6);
  main.max_bytes = 1ll << 30;
  main.replicas = 3;
  const stream_settings in = ingest_stream_settings(main);
  EXPECT_EQ(in.name, "orders_ingest");
  EXPECT_EQ(in.subjects, (std::vector<std::string>{"orders_ingest.>"}));
  EXPECT_EQ(in.max_age, main.max_age);
  EXPECT_EQ(in.max_bytes, 1ll << 27) << "JetStream reserves max_bytes: the ingest stream asks for an eighth";
  EXPECT_EQ(in.replicas, 3);
  EXPECT_EQ(in.storage, main.storage);
  EXPECT_TRUE(validate(in).empty());
  main.max_bytes = -1;
  EXPECT_EQ(ingest_stream_settings(main).max_bytes, -1);
  main.max_bytes = 1000;
  EXPECT_EQ(ingest_stream_settings(main).max_bytes, 1 << 20);
}

}  // namespace
}  // namespace rtcache::cluster
