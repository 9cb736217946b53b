// Open connections per client address (issue 11, finding 6): the bound, the keys IPv6 is counted under, and
// release by RAII however a connection ends.
#include "gateway/address_limit.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace rtcache::gateway {
namespace {

using boost::asio::ip::make_address;

TEST(AddressCounter, RefusesBeyondTheBoundPerAddressAndReleasesOnDestruction) {
  address_counter c(2);
  const auto a = make_address("10.0.0.1");
  auto s1 = c.acquire(a);
  auto s2 = c.acquire(a);
  EXPECT_TRUE(s1);
  EXPECT_TRUE(s2);
  EXPECT_FALSE(c.acquire(a));                        // a third from the same address
  EXPECT_TRUE(c.acquire(make_address("10.0.0.2")));  // another address; released at once (temporary)
  EXPECT_EQ(c.count(a), 2U);
  { auto moved = std::move(s1); }  // destroyed: released
  EXPECT_EQ(c.count(a), 1U);
  EXPECT_TRUE(c.acquire(a));
  s2.release();
  s2.release();  // idempotent
  EXPECT_EQ(c.count(a), 0U);
  EXPECT_EQ(c.addresses(), 0U);
}

TEST(AddressCounter, IPv6CountsPerSlash64AndMappedIPv4AsIPv4) {
  address_counter c(1);
  auto s = c.acquire(make_address("2001:db8:1:2::1"));
  ASSERT_TRUE(s);
  EXPECT_FALSE(c.acquire(make_address("2001:db8:1:2:ffff::9")));  // same /64
  EXPECT_TRUE(c.acquire(make_address("2001:db8:1:3::1")));        // another /64
  auto v4 = c.acquire(make_address("192.0.2.7"));
  ASSERT_TRUE(v4);
  EXPECT_FALSE(c.acquire(make_address("::ffff:192.0.2.7")));
  EXPECT_EQ(c.addresses(), 2U);
}

TEST(AddressCounter, ZeroMeansNoBound) {
  address_counter c(0);
  std::vector<address_slot> slots;
  for (int i = 0; i < 1000; ++i) slots.push_back(c.acquire(make_address("10.0.0.1")));
  for (const auto& s : slots) EXPECT_TRUE(s);
  EXPECT_EQ(c.addresses(), 0U);
}

}  // namespace
}  // namespace rtcache::gateway
