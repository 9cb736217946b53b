// Subject and key encodings.
#include "cluster/subject.hpp"

#include <gtest/gtest.h>

#include <set>

namespace rtcache::cluster {
namespace {

TEST(Subjects, TokensKeepPlainBytesAndEscapeEverythingElse) {
  EXPECT_EQ(encode_token("doc:wo:12.3"), "doc%3Awo%3A12%2E3");
  EXPECT_EQ(encode_token("a b*c>d~e%f"), "a%20b%2Ac%3Ed%7Ee%25f");
  EXPECT_EQ(encode_token(std::string("\x02room", 5)), "%02room");
  EXPECT_EQ(encode_token(""), "%");
  EXPECT_EQ(encode_token("caf\xc3\xa9"), "caf%C3%A9");
}

TEST(Subjects, TokensDecodeBackAndRefuseWhatTheEncoderNeverWrites) {
  for (std::string s : {"doc:wo:1", "", "a.b.c", "\x01pg:public.t", "~", "%", "x y", "A-_z09"}) {
    auto back = decode_token(encode_token(s));
    ASSERT_TRUE(back) << s;
    EXPECT_EQ(*back, s);
  }
  for (const char* t : {"", "a.b", "%4", "%4g", "%2e", "%41", "a%", "~"}) EXPECT_FALSE(decode_token(t)) << t;
}

TEST(Subjects, DistinctChannelsAndPartitionsNeverShareASubject) {
  const subjects s{"rtcache"};
  std::set<std::string> seen;
  for (const char* ch : {"doc:wo:1", "doc:wo:1.F1", "doc:wo", "doc.wo.1", "\x02room", "room", "%02room"}) {
    for (const char* f : {"", "F1", "F1.x", "~"}) EXPECT_TRUE(seen.insert(s.partition(ch, f)).second) << ch << f;
  }
  EXPECT_EQ(s.partition("doc:wo:1", "F1"), "rtcache.c.doc%3Awo%3A1.F1");
  EXPECT_EQ(s.partition("room", ""), "rtcache.c.room.~");
  EXPECT_EQ(s.channel_wildcard("doc:wo:1"), "rtcache.c.doc%3Awo%3A1.*");
  EXPECT_EQ(s.records("\x01pg:public.t"), "rtcache.p.%01pg%3Apublic%2Et");
  EXPECT_EQ(s.control("gap"), "rtcache.x.gap");
  EXPECT_EQ(s.ingest("host:4000"), "rtcache_ingest.host%3A4000");
  EXPECT_EQ(s.ingest_filter(), "rtcache_ingest.>");
  EXPECT_EQ(ingest_stream_name("rtcache"), "rtcache_ingest");
}

TEST(Subjects, LedgerKeysUseOnlyKeyValueCharacters) {
  const std::string k = ledger_key(std::string("doc:wo:1.2 \x02", 12), "F.1");
  EXPECT_EQ(k, "doc=3Awo=3A1=2E2=20=02.F=2E1");
  EXPECT_EQ(k.find_first_not_of("-/_=.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
            std::string::npos);
}

// Generations are per partition (issue 11, finding 3), so is the ledger: one key per partition, distinct for
// distinct (channel, factory) pairs, the untagged partition included.
TEST(Subjects, LedgerKeysArePerPartitionAndNeverShared) {
  std::set<std::string> keys;
  for (const char* channel : {"doc:wo:1", "doc:wo:1.F1", "doc:wo:1.="}) {
    for (const char* factory : {"", "F1", "=", "F1.F2", "F"}) keys.insert(ledger_key(channel, factory));
  }
  EXPECT_EQ(keys.size(), 15u);
  EXPECT_EQ(ledger_key("room", ""), "room.=");
}

}  // namespace
}  // namespace rtcache::cluster
