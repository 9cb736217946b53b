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

}  // namespace
}  // namespace rtcache::cluster
