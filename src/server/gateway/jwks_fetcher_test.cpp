// The JWKS fetcher and service (issue 11): the URL rules (https, or http to loopback only), a fetch over plain
// HTTP and over TLS verified against jwks_ca_file, and every failure a fetch can meet (refused, stalled, too
// large, not 200, untrusted certificate) ending as a failed fetch that keeps the last good keys.
#include "gateway/jwks_fetcher.hpp"

#include "jwt_test_support.hpp"
#include "test_http_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

namespace rtcache::gateway {
namespace {

using namespace std::chrono_literals;
using testing::jwks_of;
using testing::public_jwk_of;
using testing::test_http_server;

const std::string& ec_key() {
  static const std::string k = testing::generate_ec_private_pem("P-256");
  return k;
}

bool wait_for(const std::function<bool()>& cond, std::chrono::steady_clock::duration bound = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Collects what a service reports.
struct reports {
  std::mutex mu;
  std::vector<auth::jwks_report> got;
  auth::jwks_cache::report_fn fn() {
    return [this](const auth::jwks_report& r) {
      const std::lock_guard lock(mu);
      got.push_back(r);
    };
  }
  std::optional<auth::jwks_report> last() {
    const std::lock_guard lock(mu);
    if (got.empty()) return std::nullopt;
    return got.back();
  }
};

jwks_source url_source(const std::string& url) {
  return jwks_source{parse_jwks_url(url).value(), {}};
}

// A fetch through a service; returns the failure text of the first fetch, or "" when it loaded.
std::string first_fetch(jwks_source source, jwks_fetch_options options = {}) {
  reports r;
  jwks_service service(std::move(source), {600s, 30s}, std::move(options), r.fn());
  service.start();
  EXPECT_TRUE(wait_for([&] { return r.last().has_value(); }));
  const auto last = r.last();
  service.stop();
  if (!last || last->event == auth::jwks_event::loaded) return {};
  return last->detail.empty() ? "(no detail)" : last->detail;
}

TEST(JwksUrl, HttpsAnywhereHttpOnlyToLoopback) {
  const auto u = parse_jwks_url("https://abc.supabase.co/auth/v1/.well-known/jwks.json").value();
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "abc.supabase.co");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.target, "/auth/v1/.well-known/jwks.json");
  EXPECT_EQ(u.display, "https://abc.supabase.co:443/auth/v1/.well-known/jwks.json");
  EXPECT_EQ(parse_jwks_url("http://127.0.0.1:9999/k?x=1").value().target, "/k?x=1");
  EXPECT_EQ(parse_jwks_url("http://127.0.0.1:9999/k?x=1").value().display, "http://127.0.0.1:9999/k");
  EXPECT_EQ(parse_jwks_url("http://[::1]:9/k").value().host, "::1");
  EXPECT_TRUE(parse_jwks_url("http://localhost/k"));
  EXPECT_TRUE(parse_jwks_url("http://127.8.9.10/k"));
  EXPECT_EQ(parse_jwks_url("https://10.0.0.1").value().target, "/");

  for (const std::string bad :
       {"http://abc.supabase.co/jwks", "http://10.0.0.1/jwks", "ftp://127.0.0.1/k", "https://user:pw@abc.supabase.co/k",
        "https://abc.supabase.co/k#frag", "https:///k", "https://abc.supabase.co:0/k", "not a url", "/relative/path"}) {
    const auto r = parse_jwks_url(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, core::errc::bad_value);
  }
  EXPECT_NE(parse_jwks_url("http://abc.supabase.co/jwks").error().message.find("loopback hosts only"),
            std::string::npos);
}

TEST(JwksService, FetchesOverHttpAndRefetchesWhenATokenNamesAnUnknownKidAfterMinRefetch) {
  test_http_server server;
  server.serve(jwks_of({public_jwk_of(ec_key(), "a")}));
  std::mutex mu;
  auto now = std::chrono::steady_clock::time_point{} + 1000h;
  reports r;
  jwks_service service(url_source(server.url()), {3600s, 30s}, {}, r.fn(), [&] {
    const std::lock_guard lock(mu);
    return now;
  });
  service.start();
  ASSERT_TRUE(wait_for([&] { return service.cache()->counters().loads == 1; }));
  EXPECT_EQ(service.cache()->current()->at(0).kid(), "a");

  const std::string b = testing::generate_ec_private_pem("P-256");
  server.serve(jwks_of({public_jwk_of(b, "b")}));
  service.cache()->unknown_kid("b");  // within min_refetch of the first fetch: nothing
  EXPECT_FALSE(service.cache()->counters().fetching);
  EXPECT_EQ(server.requests(), 1U);
  {
    const std::lock_guard lock(mu);
    now += 30s;
  }
  service.cache()->unknown_kid("b");
  ASSERT_TRUE(wait_for([&] { return service.cache()->counters().loads == 2; }));
  EXPECT_EQ(service.cache()->current()->at(0).kid(), "b");
  EXPECT_EQ(server.requests(), 2U);
}

TEST(JwksService, FetchesOverTlsTrustingTheConfiguredCaFileAndRefusesAnUntrustedServer) {
  const std::string key = testing::generate_ec_private_pem("P-256");
  const std::string cert = testing::self_signed_cert(key, "127.0.0.1");
  test_http_server server(test_http_server::tls_identity{cert, key});
  server.serve(jwks_of({public_jwk_of(ec_key(), "tls")}));
  const std::string ca_file = ::testing::TempDir() + "/jwks-ca.pem";
  std::ofstream(ca_file) << cert;

  jwks_fetch_options trusted;
  trusted.ca_file = ca_file;
  EXPECT_EQ(first_fetch(url_source(server.url()), trusted), "");
  // The system trust store does not know this certificate: the handshake fails, nothing is loaded.
  const std::string untrusted = first_fetch(url_source(server.url()));
  EXPECT_NE(untrusted.find("TLS"), std::string::npos) << untrusted;
  EXPECT_NE(untrusted.find("certificate verify failed"), std::string::npos) << untrusted;
  // A certificate for another name: refused by the host name check even though the chain is trusted.
  const std::string other = testing::self_signed_cert(key, "127.0.0.2");
  test_http_server wrong_name(test_http_server::tls_identity{other, key});
  const std::string other_ca = ::testing::TempDir() + "/jwks-ca-other.pem";
  std::ofstream(other_ca) << other;
  jwks_fetch_options other_trusted;
  other_trusted.ca_file = other_ca;
  EXPECT_NE(first_fetch(url_source(wrong_name.url()), other_trusted).find("TLS"), std::string::npos);
  std::remove(ca_file.c_str());
  std::remove(other_ca.c_str());
}

TEST(JwksService, AnUnreadableCaFileStopsTheStart) {
  jwks_fetch_options o;
  o.ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(jwks_service(url_source("https://127.0.0.1:1/k"), {600s, 30s}, o, {}), std::runtime_error);
}

TEST(JwksService, EveryFailedFetchIsReportedWithItsReason) {
  // Nothing listens on port 1 of the loopback: connection refused.
  const std::string refused = first_fetch(url_source("http://127.0.0.1:1/jwks.json"));
  EXPECT_NE(refused.find("connect"), std::string::npos) << refused;
  test_http_server server;
  server.serve("not found", 404);
  EXPECT_NE(first_fetch(url_source(server.url())).find("HTTP 404"), std::string::npos);
  server.serve("", 302, "https://elsewhere.example/jwks.json");
  EXPECT_NE(first_fetch(url_source(server.url())).find("redirects are not followed"), std::string::npos);
  server.serve(jwks_of({std::string(2048, ' ') + public_jwk_of(ec_key(), "a")}));
  jwks_fetch_options small;
  small.max_bytes = 1024;
  EXPECT_NE(first_fetch(url_source(server.url()), small).find("exceeds 1024 bytes"), std::string::npos);
  server.serve("<html>oops</html>");
  EXPECT_NE(first_fetch(url_source(server.url())).find("JWKS document is not JSON"), std::string::npos);
  server.stall(true);
  jwks_fetch_options quick;
  quick.timeout = 300ms;
  EXPECT_NE(first_fetch(url_source(server.url()), quick).find("timed out after 300 ms"), std::string::npos);
}

TEST(JwksService, AFileIsReadBeforeStartReturnsAndReReadOnRefetch) {
  const std::string path = ::testing::TempDir() + "/jwks-file.json";
  std::ofstream(path) << jwks_of({public_jwk_of(ec_key(), "file-a")});
  std::atomic<std::chrono::steady_clock::time_point> now{std::chrono::steady_clock::time_point{} + 1000h};
  jwks_service service(jwks_source{std::nullopt, path}, {600s, 30s}, {}, {}, [&] { return now.load(); });
  service.start();
  ASSERT_EQ(service.cache()->current()->size(), 1U);
  EXPECT_EQ(service.cache()->current()->at(0).kid(), "file-a");
  std::ofstream(path) << jwks_of({public_jwk_of(ec_key(), "file-b")});
  now.store(now.load() + 30s);
  service.cache()->unknown_kid("file-b");  // read on the service's thread, not this one
  ASSERT_TRUE(wait_for([&] { return service.cache()->counters().loads == 2; }));
  EXPECT_EQ(service.cache()->current()->at(0).kid(), "file-b");
  service.stop();
  std::remove(path.c_str());
}

}  // namespace
}  // namespace rtcache::gateway
