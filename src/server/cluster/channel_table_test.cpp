// The bounded channel table and gap coverage.
#include "cluster/channel_table.hpp"

#include "cluster/gap_index.hpp"

#include <gtest/gtest.h>

namespace rtcache::cluster {
namespace {

channel_entry entry(std::uint64_t seq) {
  channel_entry e;
  e.state.put("F1", partition_state{0, 1, seq});
  e.seq = seq;
  return e;
}

TEST(ChannelTable, ForgetsTheLeastRecentlyUsedChannelBeyondItsBound) {
  channel_table t(3);
  t.put("a", entry(1));
  t.put("b", entry(2));
  t.put("c", entry(3));
  ASSERT_NE(t.find("a"), nullptr);  // a is now the most recently used
  t.put("d", entry(4));             // b goes
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.find("b"), nullptr);
  EXPECT_EQ(t.forgotten(), 1u);
  t.put("c", entry(9));  // a replacement is no insertion
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.find("c")->seq, 9u);
  EXPECT_EQ(t.find("a")->seq, 1u);
  t.erase("a");
  EXPECT_EQ(t.size(), 2u);
  t.clear();
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.forgotten(), 3u);
  for (std::uint64_t i = 0; i < 1000; ++i) t.put("k" + std::to_string(i), entry(i + 1));
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.find("k999")->seq, 1000u);
}

// The applier looks a forgotten channel's partitions up before its next message: the table says which channels the
// bound forgot (the latest `remember_forgotten` of them), not channels it never held, and nothing after clear().
TEST(ChannelTable, RemembersWhichChannelsTheBoundForgotUpToItsMemory) {
  channel_table t(2, 3);
  t.put("a", entry(1));
  t.put("b", entry(2));
  EXPECT_FALSE(t.was_forgotten("a"));
  t.put("c", entry(3));  // a goes
  EXPECT_TRUE(t.was_forgotten("a"));
  EXPECT_FALSE(t.was_forgotten("b")) << "held";
  EXPECT_FALSE(t.was_forgotten("z")) << "never held";
  t.put("d", entry(4));  // b goes
  t.put("e", entry(5));  // c goes
  t.put("f", entry(6));  // d goes: a, the oldest of four, leaves the memory of three
  EXPECT_FALSE(t.was_forgotten("a"));
  EXPECT_TRUE(t.was_forgotten("b"));
  EXPECT_TRUE(t.was_forgotten("c"));
  EXPECT_TRUE(t.was_forgotten("d"));
  t.clear();
  EXPECT_FALSE(t.was_forgotten("b")) << "after clear() everything is applied again from the stream";
  channel_table none(1);
  none.put("a", entry(1));
  none.put("b", entry(2));
  EXPECT_FALSE(none.was_forgotten("a")) << "no memory by default";
}

TEST(GapIndex, CoversContractChannelsByDocTypeOrAll) {
  const gap_message wo{"truncate", {{"public", "work_orders", "wo"}, {"public", "log", ""}}, ""};
  EXPECT_TRUE(gap_covers(wo, "doc:wo:1"));
  EXPECT_TRUE(gap_covers(wo, "list:wo:F1"));
  EXPECT_FALSE(gap_covers(wo, "doc:po:1"));
  EXPECT_FALSE(gap_covers(wo, "room"));
  const gap_message all{"slot_created", {}, ""};
  EXPECT_TRUE(gap_covers(all, "factory:F1"));
  EXPECT_TRUE(gap_covers(all, "doc:po:1"));
  EXPECT_FALSE(gap_covers(all, "room"));
  EXPECT_FALSE(gap_covers(all, "\x02doc:wo:1"));  // a private channel named like a contract one
}

// issue 13: a TRUNCATE of a mapped table changes the factory summaries (they count documents of every type), so
// the single node starts every factory: channel over (ingest::gap_touches, docs/pg-source.md); the cluster must too,
// or a summary subscriber resumes across the TRUNCATE with recovered:true and a stale count.
TEST(GapIndex, ATruncateOfATableWithADocTypeCoversEveryFactorySummary) {
  const gap_message wo{"truncate", {{"public", "work_orders", "wo"}}, ""};
  const gap_message log_only{"truncate", {{"public", "log", ""}}, ""};  // postgres_changes only: no documents
  EXPECT_TRUE(gap_covers(wo, "factory:F1"));
  EXPECT_TRUE(gap_covers(wo, "factory:F2"));
  EXPECT_FALSE(gap_covers(log_only, "factory:F1"));
  EXPECT_FALSE(gap_covers(log_only, "doc:wo:1"));

  gap_index g;
  g.add(10, log_only);
  EXPECT_EQ(g.covering("factory:F1"), 0u);
  g.add(20, wo);
  EXPECT_EQ(g.covering("factory:F1"), 20u);
  EXPECT_EQ(g.covering("factory:F2"), 20u);
  EXPECT_EQ(g.covering("doc:po:1"), 0u);
  g.clear();
  EXPECT_EQ(g.covering("factory:F1"), 0u);
}

// Relay ingest the ingest stream lost before it was republished may have carried anything relay ingest carries,
// broadcasts included: its marker covers the public and private broadcast channels too (a WAL gap does not: the
// WAL never feeds them), never the internal record channels, which carry no positions.
TEST(GapIndex, LostRelayIngestCoversBroadcastChannelsTooAndAWalGapDoesNot) {
  const gap_message lost{std::string(k_ingest_lost_reason), {}, ""};
  EXPECT_TRUE(gap_covers(lost, "room"));
  EXPECT_TRUE(gap_covers(lost, "\x02room"));  // a private channel
  EXPECT_TRUE(gap_covers(lost, "doc:wo:1"));
  EXPECT_TRUE(gap_covers(lost, "factory:F1"));
  EXPECT_FALSE(gap_covers(lost, "\x01pg:public.work_orders"));
  const gap_message wal{"slot_created", {}, ""};
  EXPECT_FALSE(gap_covers(wal, "room"));

  gap_index g;
  g.add(10, wal);
  EXPECT_EQ(g.covering("room"), 0u);
  EXPECT_EQ(g.covering("doc:wo:1"), 10u);
  g.add(20, lost);
  EXPECT_EQ(g.covering("room"), 20u);
  EXPECT_EQ(g.covering("\x02room"), 20u);
  EXPECT_EQ(g.covering("doc:wo:1"), 20u);
  EXPECT_EQ(g.covering("\x01pg:public.work_orders"), 0u);
  g.add(30, gap_message{"truncate", {{"public", "work_orders", "wo"}}, ""});
  EXPECT_EQ(g.covering("doc:wo:1"), 30u);
  EXPECT_EQ(g.covering("room"), 20u) << "a TRUNCATE does not cover it";
  g.add(15, lost);  // an older repeat changes nothing
  EXPECT_EQ(g.covering("room"), 20u);
  g.clear();
  EXPECT_EQ(g.covering("room"), 0u);
}

TEST(GapIndex, TheLatestCoveringMarkerWinsAndRepeatsChangeNothing) {
  gap_index g;
  EXPECT_EQ(g.covering("doc:wo:1"), 0u);
  g.add(10, gap_message{"truncate", {{"public", "work_orders", "wo"}}, ""});
  g.add(20, gap_message{"slot_created", {}, ""});
  g.add(30, gap_message{"truncate", {{"public", "purchase_orders", "po"}}, ""});
  EXPECT_EQ(g.covering("doc:wo:1"), 20u);
  EXPECT_EQ(g.covering("list:po:F1"), 30u);
  EXPECT_EQ(g.covering("factory:F1"), 30u);
  EXPECT_EQ(g.covering("room"), 0u);
  g.add(10, gap_message{"truncate", {{"public", "work_orders", "wo"}}, ""});  // loaded again
  EXPECT_EQ(g.covering("doc:wo:1"), 20u);
  EXPECT_EQ(g.latest(), 30u);
}

}  // namespace
}  // namespace rtcache::cluster
