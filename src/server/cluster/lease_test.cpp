// The writer lease against a real nats-server: one holder at a time, renewals keep it, a release or an expiry
// frees it for the next.
#include "cluster/lease.hpp"

#include "cluster/nats_handles.hpp"
#include "cluster/test_nats_server.hpp"

#include <gtest/gtest.h>

namespace rtcache::cluster {
namespace {

using namespace std::chrono_literals;

class lease_harness {
 public:
  lease_harness() : conn_(test::connect_or_die(test::shared_server().url())), bucket_(test::unique_name("lease")) {}
  ~lease_harness() { js_DeleteKeyValue(conn_->handles().js, bucket_.c_str()); }

  std::unique_ptr<lease> open(const std::string& holder, std::chrono::milliseconds ttl = 3s) const {
    lease_settings s;
    s.bucket = bucket_;
    s.holder = holder;
    s.ttl = ttl;
    auto l = lease::open(*conn_, s);
    if (!l) throw std::runtime_error(l.error().message);
    return std::move(*l);
  }

 private:
  std::unique_ptr<connection> conn_;
  std::string bucket_;
};

bool holds(lease& l) {
  auto h = l.hold();
  return h && *h;
}

TEST(Lease, OneHolderAtATimeAndRenewingKeepsIt) {
  lease_harness h;
  auto a = h.open("node-a");
  auto b = h.open("node-b");
  EXPECT_TRUE(holds(*a));
  EXPECT_FALSE(holds(*b));
  EXPECT_EQ(b->holder(), "node-a");
  EXPECT_TRUE(holds(*a)) << "a renewal";
  EXPECT_FALSE(holds(*b));
}

TEST(Lease, AReleasedLeaseIsTakenAtOnce) {
  lease_harness h;
  auto a = h.open("node-a");
  auto b = h.open("node-b");
  ASSERT_TRUE(holds(*a));
  a->release();
  EXPECT_TRUE(holds(*b));
  EXPECT_FALSE(holds(*a)) << "the old holder's renewal at its revision fails";
  EXPECT_EQ(a->holder(), "node-b");
}

TEST(Lease, AHolderThatStopsRenewingLosesTheLeaseWhenItsTtlEnds) {
  lease_harness h;
  auto a = h.open("node-a", 500ms);
  auto b = h.open("node-b", 500ms);
  ASSERT_TRUE(holds(*a));
  ASSERT_FALSE(holds(*b));
  // a "dies": it renews no more. Within the TTL (and the server's expiry sweep) b takes over.
  EXPECT_TRUE(test::eventually([&] { return holds(*b); }, 5s));
  EXPECT_FALSE(holds(*a));
}

TEST(Lease, SettingsOutOfRangeAreRefused) {
  auto conn = test::connect_or_die(test::shared_server().url());
  lease_settings s;
  s.bucket = "b";
  s.holder = "";
  EXPECT_FALSE(lease::open(*conn, s));
  s.holder = "x";
  s.ttl = 10ms;
  EXPECT_FALSE(lease::open(*conn, s));
}

}  // namespace
}  // namespace rtcache::cluster
