// Message ids and writer anchors.
#include "cluster/source_ids.hpp"

#include "routing/routed_sink.hpp"

#include <gtest/gtest.h>

namespace rtcache::cluster {
namespace {

TEST(SourceIds, LsnsUsePostgresqlsSpelling) {
  EXPECT_EQ(format_lsn(0x16B374D848), "16/B374D848");
  EXPECT_EQ(format_lsn(0), "0/0");
  EXPECT_EQ(parse_lsn("16/B374D848"), 0x16B374D848u);
  for (const char* bad : {"", "16", "16/", "/1", "16/b374d848", "016/1", "1/01", "G/1", "123456789/0"}) {
    EXPECT_FALSE(parse_lsn(bad)) << bad;
  }
}

TEST(SourceIds, WalMessageIdsFollowTheCommitIdentity) {
  const wal_message_id id{7301234567890123456ull, 3, 0x16B374D848, 12};
  const std::string text = wal_msg_id(id);
  EXPECT_EQ(text, "7301234567890123456-3-16/B374D848-12");
  EXPECT_EQ(std::get<wal_message_id>(parse_msg_id(text)), id);
  // The same commit on another timeline or cluster is another message.
  EXPECT_NE(wal_msg_id({id.system_identifier, 4, id.commit_lsn, 12}), text);
  EXPECT_NE(wal_msg_id({id.system_identifier + 1, 3, id.commit_lsn, 12}), text);
  EXPECT_NE(wal_msg_id({id.system_identifier, 3, id.commit_lsn, 13}), text);
}

// After the server was restored from a copy (the writer's rewind generation), ids say so: the same commit position
// is another message. Generation 0 keeps the routed sink's spelling.
TEST(SourceIds, WalMessageIdsOfALaterRewindGenerationCarryIt) {
  const wal_message_id id{7301234567890123456ull, 3, 0x16B374D848, 12, 2};
  const std::string text = wal_msg_id(id);
  EXPECT_EQ(text, "7301234567890123456-3-16/B374D848-12-r2");
  EXPECT_EQ(std::get<wal_message_id>(parse_msg_id(text)), id);
  EXPECT_NE(wal_msg_id({id.system_identifier, 3, id.commit_lsn, 12, 1}), text);
  EXPECT_EQ(wal_msg_id({id.system_identifier, 3, id.commit_lsn, 12, 0}), "7301234567890123456-3-16/B374D848-12");
  for (const char* bad : {"7-3-16/B374D848-12-r0", "7-3-16/B374D848-12-r", "7-3-16/B374D848-12-x1",
                          "7-3-16/B374D848-12-r01", "i-1-2-3-r1", "g-7-3-16/B374D848-12", "7-3-16/B374D848-12-r1-r2"}) {
    EXPECT_TRUE(std::holds_alternative<std::monostate>(parse_msg_id(bad))) << bad;
  }
}

TEST(SourceIds, AWalAnchorCarriesItsRewindGenerationOnlyOnceThereIsOne) {
  wal_anchor_state a{7, 1, 0x1110, 0x1100, 2, 0};
  EXPECT_EQ(encode_wal_anchor(a), "7/1/0/1110/0/1100/2") << "the header every writer before rewinds wrote";
  EXPECT_EQ(decode_wal_anchor(encode_wal_anchor(a)).value(), a);
  a.rewinds = 3;
  EXPECT_EQ(encode_wal_anchor(a), "7/1/0/1110/0/1100/2/3");
  EXPECT_EQ(decode_wal_anchor(encode_wal_anchor(a)).value(), a);
  EXPECT_FALSE(decode_wal_anchor("7/1/0/1110/0/1100/2/0"));
  EXPECT_FALSE(decode_wal_anchor("7/1/0/1110/0/1100/2/x"));
  EXPECT_FALSE(decode_wal_anchor("7/1/0/1110/0/1100/2/3/4"));
}

// The PostgreSQL source names each routed message (routing::message_id); the cluster de-duplicates on that id and
// reads the commit identity back from it, so the two spellings must be one.
TEST(SourceIds, WalMessageIdsAreTheIdsTheRoutedSinkGives) {
  routing::stream_position p;
  p.system_identifier = 7000000000000000001ull;
  p.timeline = 1;
  p.commit_lsn = 0x16B3F48;
  p.first_index = 3;
  for (std::size_t k : {0u, 1u, 7u}) {
    const wal_message_id id{p.system_identifier, p.timeline, p.commit_lsn, static_cast<std::uint32_t>(3 + k)};
    EXPECT_EQ(wal_msg_id(id), routing::message_id(p, k));
    EXPECT_EQ(std::get<wal_message_id>(parse_msg_id(routing::message_id(p, k))), id);
  }
  p.commit_lsn = 0xFFFFFFFF00000001ull;
  EXPECT_EQ(wal_msg_id({p.system_identifier, p.timeline, p.commit_lsn, 3}), routing::message_id(p, 0));
}

TEST(SourceIds, IngestMessageIdsFollowTheIngestMessage) {
  const ingest_message_id id{1763500000123456789, 42, 3};
  EXPECT_EQ(ingest_msg_id(id), "i-1763500000123456789-42-3");
  EXPECT_EQ(std::get<ingest_message_id>(parse_msg_id(ingest_msg_id(id))), id);
  for (const char* other : {"", "x", "i-1-2", "1-2-3", "i-a-1-2", "1-2-0/0-x", "abc-1-0/0-1", "i-1-2-3-4"}) {
    EXPECT_TRUE(std::holds_alternative<std::monostate>(parse_msg_id(other))) << other;
  }
}

TEST(SourceIds, AnchorsRoundTripAndRefuseMalformedHeaders) {
  const wal_anchor_state w{99, 1, 0x1000, 0xFF0, 4};
  EXPECT_EQ(encode_wal_anchor(w), "99/1/0/1000/0/FF0/4");
  EXPECT_EQ(decode_wal_anchor(encode_wal_anchor(w)).value(), w);
  for (const char* bad :
       {"", "99/1/0/1000/0/FF0", "99/1/0/1000/0/FF0/4/5/6", "x/1/0/1000/0/FF0/4", "99/1/0/10g0/0/1/4"}) {
    EXPECT_FALSE(decode_wal_anchor(bad)) << bad;
  }
  const ingest_anchor_state i{123, 45, 6};
  EXPECT_EQ(encode_ingest_anchor(i), "123/45/6");
  EXPECT_EQ(decode_ingest_anchor(encode_ingest_anchor(i)).value(), i);
  EXPECT_FALSE(decode_ingest_anchor("123"));
  EXPECT_FALSE(decode_ingest_anchor("123/4"));
  EXPECT_FALSE(decode_ingest_anchor("123/4/5/6"));
}

}  // namespace
}  // namespace rtcache::cluster
