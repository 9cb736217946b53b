// Behaviour of nats-server that docs/cluster.md's design relies on, pinned so that a server upgrade that
// changes it fails here rather than in a failover.
#include "cluster/nats_handles.hpp"
#include "cluster/stream.hpp"
#include "cluster/test_nats_server.hpp"

#include <gtest/gtest.h>

namespace rtcache::cluster {
namespace {

struct ack {
  natsStatus status = NATS_OK;
  jsErrCode js_code{};
  std::uint64_t seq = 0;
  bool duplicate = false;
};

ack publish_sync(const connection& conn, const std::string& subject, const char* msg_id,
                 std::uint64_t expect_last_seq) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = msg_id;
  po.ExpectLastSeq = expect_last_seq;
  jsPubAck* pa = nullptr;
  ack out;
  out.status = js_Publish(&pa, conn.handles().js, subject.c_str(), "x", 1, &po, &out.js_code);
  if (pa != nullptr) {
    out.seq = pa->Sequence;
    out.duplicate = pa->Duplicate;
    jsPubAck_Destroy(pa);
  }
  return out;
}

// A single writer fences itself with expected last sequences (a zombie's new message is refused), while a new
// reader's replay of already stored messages, with whatever expectation, is still acknowledged as a duplicate.
TEST(JetStreamFacts, DuplicatesAreAnsweredBeforeTheExpectedLastSequenceIsChecked) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const auto st = test::test_stream("facts");
  ASSERT_TRUE(ensure_stream(*conn, st));
  const std::string subject = st.name + ".x";
  EXPECT_EQ(publish_sync(*conn, subject, "A", 0).seq, 1u);
  EXPECT_EQ(publish_sync(*conn, subject, "B", 1).seq, 2u);
  const ack replay = publish_sync(*conn, subject, "A", 0);  // stale expectation: last is 2, not 0
  EXPECT_EQ(replay.status, NATS_OK);
  EXPECT_TRUE(replay.duplicate);
  EXPECT_EQ(replay.seq, 1u);
  const ack fenced = publish_sync(*conn, subject, "C", 1);  // a new message from a writer that missed seq 2
  EXPECT_NE(fenced.status, NATS_OK);
  EXPECT_EQ(fenced.js_code, JSStreamWrongLastSequenceErr);
  EXPECT_EQ(get_stream_state(*conn, st.name)->last_seq, 2u);
}

// The last message over a wildcard of subjects, by direct get: how a node finds a channel's latest state (every
// message of a channel carries the counters of all its partitions) without knowing which partitions exist.
TEST(JetStreamFacts, DirectGetLastBySubjectAcceptsAWildcard) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const auto st = test::test_stream("facts");
  ASSERT_TRUE(ensure_stream(*conn, st));
  publish_sync(*conn, st.name + ".c.a.f1", "1", 0);
  publish_sync(*conn, st.name + ".c.a.f2", "2", 0);
  publish_sync(*conn, st.name + ".c.b.f1", "3", 0);
  jsDirectGetMsgOptions o;
  jsDirectGetMsgOptions_Init(&o);
  const std::string wildcard = st.name + ".c.a.*";
  o.LastBySubject = wildcard.c_str();
  natsMsg* m = nullptr;
  ASSERT_EQ(js_DirectGetMsg(&m, conn->handles().js, st.name.c_str(), nullptr, &o), NATS_OK);
  EXPECT_STREQ(natsMsg_GetSubject(m), (st.name + ".c.a.f2").c_str());
  natsMsg_Destroy(m);
  const std::string none = st.name + ".c.zz.*";
  o.LastBySubject = none.c_str();
  EXPECT_EQ(js_DirectGetMsg(&m, conn->handles().js, st.name.c_str(), nullptr, &o), NATS_NOT_FOUND);
}

// A key-value Create succeeds only for a key never written (or deleted): the ledger's proof that a channel never
// had a first incarnation.
TEST(JetStreamFacts, KeyValueCreateRefusesAnExistingKey) {
  auto conn = test::connect_or_die(test::shared_server().url());
  kvConfig kc;
  kvConfig_Init(&kc);
  const std::string bucket = test::unique_name("factskv");
  kc.Bucket = bucket.c_str();
  kc.MaxBytes = 1 << 20;
  kvStore* kv = nullptr;
  ASSERT_EQ(js_CreateKeyValue(&kv, conn->handles().js, &kc), NATS_OK);
  std::uint64_t rev = 0;
  EXPECT_EQ(kvStore_CreateString(&rev, kv, "k", "0"), NATS_OK);
  EXPECT_NE(kvStore_CreateString(&rev, kv, "k", "1"), NATS_OK);
  kvStore_Destroy(kv);
  js_DeleteKeyValue(conn->handles().js, bucket.c_str());
}

}  // namespace
}  // namespace rtcache::cluster
