// The search for where an exact resume's fetch starts, against a stream model: no server.
#include "cluster/resume_start.hpp"

#include "cluster/test_model_stream.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

namespace rtcache::cluster {
namespace {

using core::factory_scope;
using test::model_stream;

TEST(ResumeStart, FindsEachCountersMessageAmongOtherPartitionsInLogarithmicallyManyProbes) {
  model_stream s;
  // 6,000 sequences: F1 every third, F2 and other channels in between, in runs of varying length.
  for (int i = 0; i < 2000; ++i) {
    s.add("F1");
    if (i % 7 == 0) s.add("F2");
    for (int k = 0; k < i % 5; ++k) s.other();
  }
  const partition_state latest = s.state("F1");
  ASSERT_EQ(latest.counter, 2000u);
  const std::size_t bound = std::bit_width(latest.last) + 1;
  for (std::uint64_t counter = 1; counter <= latest.counter; counter += 37) {
    std::size_t probes = 0;
    auto found = find_resume_target({"F1", latest, counter}, 1, s.probe("F1", probes));
    ASSERT_TRUE(found);
    EXPECT_EQ(*found, s.seq_of("F1", 0, counter)) << "counter " << counter;
    EXPECT_LE(probes, bound) << "counter " << counter;
  }
  std::size_t probes = 0;
  EXPECT_EQ(find_resume_target({"F1", latest, latest.counter}, 1, s.probe("F1", probes)).value(), latest.last);
  EXPECT_EQ(probes, 0u) << "the latest message is known without a probe";
}

TEST(ResumeStart, ATargetInALaterGenerationIsNeverAnEarlierGenerationsMessage) {
  model_stream s;
  for (int i = 0; i < 50; ++i) s.add("F1");
  for (int i = 0; i < 30; ++i) s.other();
  const std::uint64_t generation = s.add("F1", 81);  // generation 81 starts at sequence 81
  ASSERT_EQ(generation, 81u);
  for (int i = 0; i < 40; ++i) {
    s.add("F1", 81);
    s.other();
  }
  const partition_state latest = s.state("F1");
  ASSERT_EQ(latest.generation, 81u);
  ASSERT_EQ(latest.counter, 41u);
  std::size_t probes = 0;
  EXPECT_EQ(find_resume_target({"F1", latest, 1}, 1, s.probe("F1", probes)).value(), 81u)
      << "counter 1 of generation 81, not of generation 0";
  EXPECT_EQ(find_resume_target({"F1", latest, 5}, 1, s.probe("F1", probes)).value(), s.seq_of("F1", 81, 5));
}

TEST(ResumeStart, AMessageRetentionDroppedGivesTheFirstRetainedOneAfterIt) {
  model_stream s;
  for (int i = 0; i < 100; ++i) {
    s.add("F1");
    s.other();
  }
  const partition_state latest = s.state("F1");
  const std::uint64_t first_seq = s.seq_of("F1", 0, 40) + 1;  // counters 1..40 left the stream
  std::size_t probes = 0;
  EXPECT_EQ(find_resume_target({"F1", latest, 30}, first_seq, s.probe("F1", probes)).value(), s.seq_of("F1", 0, 41))
      << "the walk over the fetch then finds the client's position missing";
}

TEST(ResumeStart, AProbesErrorIsReturned) {
  model_stream s;
  for (int i = 0; i < 20; ++i) s.add("F1");
  const partition_probe failing = [](std::uint64_t) -> result<std::optional<probed_message>> {
    return error{errc::timeout, 0, 0, "direct get: timeout"};
  };
  auto found = find_resume_target({"F1", s.state("F1"), 3}, 1, failing);
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, errc::timeout);
}

TEST(ResumeStart, TargetsAreTheViewsLivePartitionsAtMostMissedBehindTheirCounters) {
  channel_state held;
  held.put("F1", {0, 100, 500});
  held.put("F2", {0, 3, 480});
  held.put("F3", {0, 50, 490});
  held.put("F4", {0, 70, 20});  // its latest message left the stream: in limbo
  held.put("", {0, 9, 499});
  const auto targets = resume_targets(held, factory_scope::of({"F1", "F2", "F4"}), 100, 10);
  ASSERT_EQ(targets.size(), 2u) << "F3 and untagged are not admitted, F4 is in limbo";
  EXPECT_EQ(targets[0].factory, "F1");
  EXPECT_EQ(targets[0].counter, 91u);
  EXPECT_EQ(targets[1].factory, "F2");
  EXPECT_EQ(targets[1].counter, 1u) << "fewer messages than missed: all of them";
  const auto all = resume_targets(held, factory_scope::unscoped(), 100, 1);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].factory, "") << "the untagged partition is the unscoped view's too";
  EXPECT_EQ(all[0].counter, 9u);
}

}  // namespace
}  // namespace rtcache::cluster
