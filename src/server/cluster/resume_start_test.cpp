// The search for where an exact resume's fetch starts, against a stream model: no server.
#include "cluster/resume_start.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rtcache::cluster {
namespace {

using core::factory_scope;

// A stream as the search sees it: each sequence holds a message of one partition, or a message of another channel.
class model_stream {
 public:
  // Appends a message of `factory` in `generation` (0, or its start sequence) at the next sequence; its counter
  // follows the partition's last one in that generation.
  std::uint64_t add(const std::string& factory, std::uint64_t generation = 0) {
    const std::uint64_t seq = ++last_;
    partition_state& s = state_[factory];
    s.counter = s.generation == generation && s.last != 0 ? s.counter + 1 : 1;
    s.generation = generation;
    s.last = seq;
    messages_[seq] = {factory, probed_message{seq, generation, s.counter}};
    return seq;
  }
  void other() { ++last_; }
  const partition_state& state(const std::string& factory) { return state_[factory]; }
  std::uint64_t seq_of(const std::string& factory, std::uint64_t generation, std::uint64_t counter) const {
    for (const auto& [seq, m] : messages_) {
      if (m.first == factory && m.second.generation == generation && m.second.counter == counter) return seq;
    }
    return 0;
  }
  partition_probe probe(const std::string& factory, std::size_t& probes) const {
    return [this, factory, &probes](std::uint64_t seq) -> result<std::optional<probed_message>> {
      ++probes;
      for (auto it = messages_.lower_bound(seq); it != messages_.end(); ++it) {
        if (it->second.first == factory) return std::optional<probed_message>(it->second.second);
      }
      return std::optional<probed_message>();
    };
  }

 private:
  std::uint64_t last_ = 0;
  std::map<std::string, partition_state> state_;
  std::map<std::uint64_t, std::pair<std::string, probed_message>> messages_;
};

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
