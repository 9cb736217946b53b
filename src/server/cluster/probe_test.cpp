// check-config's probe against real nats-servers: each outcome is told apart, the stream is read and never
// created, and no failure quotes a credential.
#include "cluster/probe.hpp"

#include "cluster/publisher.hpp"
#include "cluster/test_nats_server.hpp"

#include <gtest/gtest.h>

namespace rtcache::cluster {
namespace {

using namespace std::chrono_literals;

TEST(Probe, AnExistingStreamIsReportedWithItsMessageCount) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const stream_settings st = test::test_stream("probe");
  ASSERT_TRUE(ensure_stream(*conn, st));
  auto pub = publisher::create(*conn).value();
  std::uint64_t last = 0;
  for (int i = 0; i < 3; ++i) last = pub->publish({st.name + ".a", {}, {}, "x"}).value();
  ASSERT_TRUE(pub->wait_acked(last, 10s));

  const auto r = probe_stream(test::test_settings(test::shared_server().url()), st.name);
  ASSERT_EQ(r.outcome, probe_outcome::stream_exists) << r.detail;
  ASSERT_TRUE(r.state);
  EXPECT_EQ(r.state->messages, 3u);
  EXPECT_EQ(r.server, test::shared_server().url());
  EXPECT_EQ(describe(r, st.name), "reachable (" + test::shared_server().url() + "), stream " + st.name +
                                      " exists with 3 messages (sequences 1..3)");
  EXPECT_TRUE(r.ok());
}

TEST(Probe, AMissingStreamIsReportedAndNotCreated) {
  const std::string name = test::unique_name("probe_missing");
  const auto r = probe_stream(test::test_settings(test::shared_server().url()), name);
  ASSERT_EQ(r.outcome, probe_outcome::stream_missing) << r.detail;
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(describe(r, name), "reachable (" + test::shared_server().url() + "), stream " + name +
                                   " does not exist: a node creates it when it starts");
  auto conn = test::connect_or_die(test::shared_server().url());
  auto state = get_stream_state(*conn, name);
  ASSERT_FALSE(state) << "the probe created the stream";
  EXPECT_EQ(state.error().code, errc::stream_not_found);
}

TEST(Probe, NoServerListeningIsUnreachable) {
  const auto r =
      probe_stream(test::test_settings("nats://127.0.0.1:" + std::to_string(test::unused_port())), "rtcache");
  EXPECT_EQ(r.outcome, probe_outcome::unreachable) << r.detail;
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(describe(r, "rtcache").rfind("unreachable: ", 0), 0u) << describe(r, "rtcache");
}

TEST(Probe, AWrongPasswordIsAuthRefusedAndNeverQuoted) {
  test::nats_server server("NATS_SERVER_USER=rt NATS_SERVER_PASS=s3cret");
  auto settings = test::test_settings(server.url());
  settings.user = "rt";
  settings.password = "wr0ng-pw";
  const auto wrong = probe_stream(settings, "rtcache");
  EXPECT_EQ(wrong.outcome, probe_outcome::auth_refused) << wrong.detail;
  EXPECT_EQ(describe(wrong, "rtcache").find("wr0ng-pw"), std::string::npos);
  settings.user.clear();
  settings.password.clear();
  EXPECT_EQ(probe_stream(settings, "rtcache").outcome, probe_outcome::auth_refused) << "no credentials at all";
  settings.user = "rt";
  settings.password = "s3cret";
  EXPECT_EQ(probe_stream(settings, "rtcache").outcome, probe_outcome::stream_missing);
}

TEST(Probe, TlsRefusalsAreTlsFailures) {
  test::test_pki pki;
  test::nats_server server(pki.server_env());
  auto settings = test::test_settings(server.url());
  const auto plain = probe_stream(settings, "rtcache");
  EXPECT_EQ(plain.outcome, probe_outcome::tls_failed) << "plain to a TLS-only server: " << plain.detail;
  settings.tls.required = true;
  const auto untrusted = probe_stream(settings, "rtcache");
  EXPECT_EQ(untrusted.outcome, probe_outcome::tls_failed) << "a CA the client does not trust: " << untrusted.detail;
  settings.tls.ca_file = pki.dir + "/ca.pem";
  EXPECT_EQ(probe_stream(settings, "rtcache").outcome, probe_outcome::stream_missing);

  auto to_plain = test::test_settings(test::shared_server().url());
  to_plain.tls.required = true;
  const auto r = probe_stream(to_plain, "rtcache");
  EXPECT_EQ(r.outcome, probe_outcome::tls_failed) << "TLS required, the server offers none: " << r.detail;
}

TEST(Probe, InvalidSettingsAreRefusedBeforeAnyNetworkUse) {
  nats_settings s;
  s.urls = {"http://127.0.0.1:1"};
  const auto r = probe_stream(s, "rtcache");
  EXPECT_EQ(r.outcome, probe_outcome::invalid_settings);
  EXPECT_NE(r.detail.find("nats_urls[0]"), std::string::npos) << r.detail;
}

}  // namespace
}  // namespace rtcache::cluster
