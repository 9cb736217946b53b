// The stream against a real nats-server: ensure is idempotent and updates in place, and the identity and
// first_seq tell re-creation, purge and retention apart (docs/cluster.md, "Stream identity").
#include "cluster/stream.hpp"

#include "cluster/publisher.hpp"
#include "cluster/test_nats_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace rtcache::cluster {
namespace {

using namespace std::chrono_literals;

stream_settings test_stream(const std::string& prefix) {
  stream_settings s = test::test_stream(prefix);
  s.max_age = 1h;
  s.duplicate_window = 1min;
  return s;
}

// Publishes `n` messages on "<stream>.<subject>" and waits for their acknowledgements.
void publish_n(const connection& conn, const stream_settings& st, int n, std::size_t bytes = 16,
               const std::string& subject = "a") {
  auto pub = publisher::create(conn).value();
  const std::string data(bytes, 'x');
  const std::string subj = st.name + "." + subject;
  std::uint64_t last = 0;
  for (int i = 0; i < n; ++i) last = pub->publish({subj, {}, {}, data}).value();
  ASSERT_TRUE(pub->wait_acked(last, 10s)) << pub->wait_acked(last, 0ms).error().message;
}

TEST(Stream, EnsureCreatesOnceThenFindsItUnchanged) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const auto st = test_stream("ens");
  auto first = ensure_stream(*conn, st);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->outcome, ensure_outcome::created);
  EXPECT_EQ(first->state.identity.name, st.name);
  EXPECT_GT(first->state.identity.created_ns, 0);
  EXPECT_EQ(first->state.last_seq, 0u);
  auto second = ensure_stream(*conn, st);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->outcome, ensure_outcome::unchanged);
  EXPECT_EQ(second->state.identity, first->state.identity);
}

// Nodes of a cluster start together and each ensures the same streams: every one succeeds (JetStream's create of an
// identical stream succeeds too, so several may say `created`). A create that races another may also be answered
// "name in use" or "subjects overlap" (the second seen once in bench/cluster/relay.sh, where a node then failed to
// start; not reproduced here): ensure_stream then finds the stream there and goes on. And a create answered OK in
// such a race can lack the stream's creation time (caught here once in 20 rounds): every node must still report
// the one identity its epochs derive from.
TEST(Stream, NodesEnsuringOneStreamAtOnceAllSucceed) {
  constexpr int k_nodes = 4;
  std::vector<std::unique_ptr<connection>> conns;
  for (int i = 0; i < k_nodes; ++i) conns.push_back(test::connect_or_die(test::shared_server().url()));
  for (int round = 0; round < 50; ++round) {
    const auto st = test_stream("race");
    std::vector<result<ensured_stream>> got(k_nodes, error{errc::nats, 0, 0, "not run"});
    std::atomic<int> ready{0};
    std::vector<std::thread> nodes;
    for (int i = 0; i < k_nodes; ++i) {
      nodes.emplace_back([&, i] {
        ready.fetch_add(1);
        while (ready.load() < k_nodes) std::this_thread::yield();
        got[static_cast<std::size_t>(i)] = ensure_stream(*conns[static_cast<std::size_t>(i)], st);
      });
    }
    for (auto& t : nodes) t.join();
    for (const auto& g : got) {
      ASSERT_TRUE(g) << "round " << round << ": " << g.error().message;
      EXPECT_GT(g->state.identity.created_ns, 0) << "round " << round << ": the stream's real identity";
      EXPECT_EQ(g->state.identity, got[0]->state.identity) << "round " << round << ": one stream";
    }
    (void)delete_stream(*conns[0], st.name);
  }
}

// The same error from a stream of another name that owns the subjects is no race: it stands.
TEST(Stream, EnsureRefusesSubjectsAnotherStreamOwns) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const auto owner = test_stream("owner");
  ASSERT_TRUE(ensure_stream(*conn, owner));
  stream_settings other = test_stream("other");
  other.subjects = owner.subjects;
  auto refused = ensure_stream(*conn, other);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().js_code, 10065) << refused.error().message;
  EXPECT_FALSE(get_stream_state(*conn, other.name)) << "nothing was created";
  (void)delete_stream(*conn, owner.name);
}

TEST(Stream, EnsureUpdatesLimitsInPlaceKeepingIdentityAndMessages) {
  auto conn = test::connect_or_die(test::shared_server().url());
  auto st = test_stream("upd");
  const auto created = ensure_stream(*conn, st).value();
  publish_n(*conn, st, 3);
  st.max_age = 2h;
  st.max_bytes = 8 << 20;
  st.duplicate_window = 30s;
  st.subjects.push_back(st.name + "_extra.>");
  auto updated = ensure_stream(*conn, st);
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_EQ(updated->outcome, ensure_outcome::updated);
  EXPECT_EQ(updated->state.identity, created.state.identity);
  EXPECT_EQ(updated->state.messages, 3u);
  EXPECT_EQ(ensure_stream(*conn, st)->outcome, ensure_outcome::unchanged);
}

TEST(Stream, EnsureRefusesAStorageChange) {
  auto conn = test::connect_or_die(test::shared_server().url());
  auto st = test_stream("sto");
  ASSERT_TRUE(ensure_stream(*conn, st));
  st.storage = storage_kind::memory;
  auto r = ensure_stream(*conn, st);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::stream_conflict) << r.error().message;
}

TEST(Stream, MissingStreamIsStreamNotFound) {
  auto conn = test::connect_or_die(test::shared_server().url());
  auto r = get_stream_state(*conn, test::unique_name("missing"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::stream_not_found) << r.error().message;
}

TEST(Stream, ReCreatedStreamHasANewIdentityAndSequencesStartOver) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const auto st = test_stream("recr");
  const auto before = ensure_stream(*conn, st).value().state;
  publish_n(*conn, st, 5);
  ASSERT_TRUE(delete_stream(*conn, st.name));
  const auto after = ensure_stream(*conn, st).value();
  EXPECT_EQ(after.outcome, ensure_outcome::created);
  EXPECT_NE(after.state.identity, before.identity);
  EXPECT_GT(after.state.identity.created_ns, before.identity.created_ns);
  publish_n(*conn, st, 1);
  EXPECT_EQ(get_stream_state(*conn, st.name)->last_seq, 1u) << "the same sequence now names another message";
}

TEST(Stream, PurgeKeepsTheIdentityAndMovesFirstSeqPastEverything) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const auto st = test_stream("purge");
  const auto created = ensure_stream(*conn, st).value().state;
  publish_n(*conn, st, 7);
  ASSERT_TRUE(purge_stream(*conn, st.name));
  auto state = get_stream_state(*conn, st.name).value();
  EXPECT_EQ(state.identity, created.identity) << "a purge is not visible in the identity";
  EXPECT_EQ(state.messages, 0u);
  EXPECT_EQ(state.last_seq, 7u);
  EXPECT_EQ(state.first_seq, 8u);
  EXPECT_FALSE(state.holds_from(5));
  EXPECT_TRUE(state.holds_from(8));
  publish_n(*conn, st, 1);
  EXPECT_EQ(get_stream_state(*conn, st.name)->last_seq, 8u) << "sequences continue after a purge";
}

TEST(Stream, MaxBytesRetentionMovesFirstSeq) {
  auto conn = test::connect_or_die(test::shared_server().url());
  auto st = test_stream("bytes");
  st.max_bytes = 64 * 1024;
  ASSERT_TRUE(ensure_stream(*conn, st));
  publish_n(*conn, st, 200, 1000);  // ~200 KB into a 64 KiB stream
  const auto state = get_stream_state(*conn, st.name).value();
  EXPECT_EQ(state.last_seq, 200u);
  EXPECT_LE(state.bytes, 64u * 1024u);
  EXPECT_GT(state.first_seq, 100u);
  EXPECT_FALSE(state.holds_from(1));
}

// A real server's age limit: the only test here that waits for time to pass (about 1.5 s).
TEST(Stream, MaxAgeRetentionMovesFirstSeq) {
  auto conn = test::connect_or_die(test::shared_server().url());
  auto st = test_stream("age");
  st.max_age = 1s;
  st.duplicate_window = 500ms;
  ASSERT_TRUE(ensure_stream(*conn, st));
  publish_n(*conn, st, 10);
  EXPECT_EQ(get_stream_state(*conn, st.name)->first_seq, 1u);
  ASSERT_TRUE(test::eventually([&] { return get_stream_state(*conn, st.name)->messages == 0; }, 5s));
  const auto state = get_stream_state(*conn, st.name).value();
  EXPECT_EQ(state.first_seq, 11u);
  EXPECT_EQ(state.last_seq, 10u);
}

TEST(Stream, IdentityAndMessagesSurviveAServerCrash) {
  test::nats_server server;
  auto conn = test::connect_or_die(server.url());
  const auto st = test_stream("crash");
  const auto created = ensure_stream(*conn, st).value().state;
  publish_n(*conn, st, 25);
  server.kill9();
  server.start();
  ASSERT_TRUE(test::eventually([&] { return conn->connected(); }, 10s));
  auto state = get_stream_state(*conn, st.name);
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_EQ(state->identity, created.identity);
  EXPECT_EQ(state->last_seq, 25u) << "every acknowledged message is still there after kill -9";
  EXPECT_EQ(state->messages, 25u);
}

}  // namespace
}  // namespace rtcache::cluster
