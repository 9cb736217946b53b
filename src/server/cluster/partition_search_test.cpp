// The bisection for a partition's last message in a range, against a stream model: no server.
#include "cluster/partition_search.hpp"

#include "cluster/test_model_stream.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <optional>
#include <vector>

namespace rtcache::cluster {
namespace {

using test::model_stream;

TEST(PartitionSearch, FindsThePartitionsLastMessageBeforeEverySequenceInLogarithmicallyManyProbes) {
  model_stream s;
  for (int i = 0; i < 500; ++i) {
    s.add("F1");
    for (int k = 0; k < i % 4; ++k) s.other();
    if (i % 3 == 0) s.add("F2");
  }
  const std::uint64_t last = s.state("F1").last + 10;
  const std::size_t bound = std::bit_width(last) + 1;
  std::vector<std::uint64_t> f1;  // F1's sequences, ascending
  for (std::uint64_t c = 1; c <= s.state("F1").counter; ++c) f1.push_back(s.seq_of("F1", 0, c));
  for (std::uint64_t hi = 1; hi <= last; hi += 17) {
    const auto after = std::upper_bound(f1.begin(), f1.end(), hi);
    const std::uint64_t expected = after == f1.begin() ? 0 : *(after - 1);  // the last F1 message at or before hi
    std::size_t probes = 0;
    auto found = find_last_in(1, hi, s.probe("F1", probes));
    ASSERT_TRUE(found);
    if (expected == 0) {
      EXPECT_FALSE(*found) << hi;
    } else {
      ASSERT_TRUE(*found) << hi;
      EXPECT_EQ((*found)->seq, expected) << hi;
    }
    EXPECT_LE(probes, bound) << hi;
  }
}

TEST(PartitionSearch, NothingOfThePartitionInTheRangeIsNone) {
  model_stream s;
  for (int i = 0; i < 10; ++i) s.other();
  const std::uint64_t first = s.add("F1");
  std::size_t probes = 0;
  EXPECT_FALSE(find_last_in(1, first - 1, s.probe("F1", probes)).value()) << "its only message is after the range";
  EXPECT_EQ(find_last_in(1, first, s.probe("F1", probes)).value()->seq, first);
  EXPECT_FALSE(find_last_in(5, 4, s.probe("F1", probes)).value()) << "an empty range";
}

TEST(PartitionSearch, AProbesErrorIsReturned) {
  const partition_probe failing = [](std::uint64_t) -> result<std::optional<probed_message>> {
    return error{errc::timeout, 0, 0, "direct get: timeout"};
  };
  auto found = find_last_in(1, 100, failing);
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, errc::timeout);
}

}  // namespace
}  // namespace rtcache::cluster
