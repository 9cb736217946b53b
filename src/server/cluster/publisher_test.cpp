// The publisher against real nats-servers: de-duplication by msg id, the acked-up-to watermark with many
// messages in flight, the bound on the window, and what a crashed or frozen server does to outcomes.
#include "cluster/publisher.hpp"

#include "cluster/nats_handles.hpp"
#include "cluster/ordered_consumer.hpp"
#include "cluster/stream.hpp"
#include "cluster/test_nats_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace rtcache::cluster {
namespace {

using namespace std::chrono_literals;

stream_settings make_stream(const connection& conn, const std::string& prefix,
                            std::chrono::milliseconds window = std::chrono::minutes(1)) {
  stream_settings s = test::test_stream(prefix);
  s.duplicate_window = window;
  auto r = ensure_stream(conn, s);
  if (!r) throw std::runtime_error(r.error().message);
  return s;
}

// Every outcome the handler saw, by ticket.
struct outcome_log {
  std::mutex mu;
  std::map<std::uint64_t, publish_outcome> by_ticket;
  std::uint64_t duplicate_reports = 0;
  publish_handler handler() {
    return [this](const publish_outcome& o) {
      std::lock_guard lock(mu);
      if (!by_ticket.emplace(o.ticket, o).second) ++duplicate_reports;
    };
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return by_ticket.size();
  }
};

// Reads the whole stream: msg id -> stream sequences it occupies.
std::map<std::string, std::vector<std::uint64_t>> read_all(const connection& conn, const stream_settings& st) {
  std::map<std::string, std::vector<std::uint64_t>> out;
  const auto state = get_stream_state(conn, st.name).value();
  if (state.messages == 0) return out;
  auto c = ordered_consumer::start(conn, test::consumer_of(st.name, st.subjects[0])).value();
  while (c->last_delivered() < state.last_seq) {
    auto m = c->next(5s);
    if (!m || !*m) throw std::runtime_error("stream read stalled at " + std::to_string(c->last_delivered()));
    out[std::string((*m)->header_value(msg_id_header).value_or(""))].push_back((*m)->seq);
  }
  return out;
}

TEST(Publisher, SameMsgIdWithinTheWindowIsStoredOnceAndReportedDuplicate) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const auto st = make_stream(*conn, "dedup");
  outcome_log log;
  auto pub = publisher::create(*conn, {}, log.handler()).value();
  const std::vector<header> headers = {{"Rtcache-Kind", "wal"}};
  const std::string subject = st.name + ".doc.wo.1";
  const auto t1 = pub->publish({subject, "0/16B3748:0", headers, "first"}).value();
  const auto t2 = pub->publish({subject, "0/16B3748:0", headers, "replayed after a failover"}).value();
  const auto t3 = pub->publish({subject, "0/16B3748:1", headers, "next"}).value();
  ASSERT_TRUE(pub->wait_acked(t3, 5s));
  ASSERT_TRUE(test::eventually([&] { return log.size() == 3; }, 2s));
  EXPECT_FALSE(log.by_ticket[t1].duplicate);
  EXPECT_TRUE(log.by_ticket[t2].duplicate);
  EXPECT_EQ(log.by_ticket[t2].stream_seq, log.by_ticket[t1].stream_seq) << "the duplicate names the original";
  EXPECT_EQ(log.by_ticket[t3].stream_seq, 2u);
  EXPECT_EQ(pub->stats().duplicates, 1u);
  const auto state = get_stream_state(*conn, st.name).value();
  EXPECT_EQ(state.messages, 2u);
  auto c = ordered_consumer::start(*conn, test::consumer_of(st.name, st.subjects[0])).value();
  auto m = c->next(5s).value();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->data, "first");
  EXPECT_EQ(m->header_value("Rtcache-Kind"), "wal");
  EXPECT_EQ(m->header_value(msg_id_header), "0/16B3748:0");
}

// The window is the server's: after it, the same id is new again (waits 0.5 s of real time).
TEST(Publisher, SameMsgIdAfterTheWindowIsStoredAgain) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const auto st = make_stream(*conn, "window", 300ms);
  auto pub = publisher::create(*conn).value();
  const std::string subject = st.name + ".x";
  ASSERT_TRUE(pub->wait_acked(pub->publish({subject, "id-1", {}, "a"}).value(), 5s));
  std::this_thread::sleep_for(500ms);
  ASSERT_TRUE(pub->wait_acked(pub->publish({subject, "id-1", {}, "a"}).value(), 5s));
  EXPECT_EQ(pub->stats().duplicates, 0u);
  EXPECT_EQ(get_stream_state(*conn, st.name)->messages, 2u);
}

TEST(Publisher, WatermarkNeverPassesAnUnacknowledgedTicketWithManyInFlight) {
  auto conn = test::connect_or_die(test::shared_server().url());
  const auto st = make_stream(*conn, "mark");
  constexpr std::uint64_t n = 20'000;
  std::atomic<bool> violated{false};
  std::mutex mu;
  std::vector<bool> acked(n + 1, false);
  std::vector<std::uint64_t> seq_of(n + 1, 0);
  std::atomic<std::uint64_t> outcomes{0};
  publisher* raw = nullptr;
  auto pub = publisher::create(*conn, test::publisher_of(512, 2s, 5s), [&](const publish_outcome& o) {
               std::lock_guard lock(mu);
               acked[o.ticket] = o.acknowledged;
               seq_of[o.ticket] = o.stream_seq;
               // At every outcome the watermark covers only acknowledged tickets.
               const auto mark = raw->acked_through();
               for (std::uint64_t t = mark; t > 0 && t + 64 > mark; --t) {
                 if (!acked[t]) violated = true;
               }
               if (mark > 0 && !acked[mark]) violated = true;
               ++outcomes;
             }).value();
  raw = pub.get();
  std::size_t max_seen_in_flight = 0;
  const std::string data(200, 'd');
  for (std::uint64_t i = 1; i <= n; ++i) {
    const std::string id = "m" + std::to_string(i);
    ASSERT_EQ(pub->publish({st.name + ".s" + std::to_string(i % 7), id, {}, data}).value(), i);
    max_seen_in_flight = std::max(max_seen_in_flight, pub->stats().in_flight);
  }
  ASSERT_TRUE(pub->wait_acked(n, 20s));
  // The watermark moves before the handler of the ticket that moved it runs.
  ASSERT_TRUE(test::eventually([&] { return outcomes == n; }, 2s));
  EXPECT_FALSE(violated);
  EXPECT_EQ(pub->acked_through(), n);
  EXPECT_LE(max_seen_in_flight, 512u);
  EXPECT_GT(max_seen_in_flight, 1u) << "acknowledgements were really asynchronous";
  std::lock_guard lock(mu);
  for (std::uint64_t t = 1; t <= n; ++t) ASSERT_EQ(seq_of[t], t) << "one publishing thread: stream order = tickets";
}

TEST(Publisher, NoStreamForTheSubjectIsAReportedFailure) {
  auto conn = test::connect_or_die(test::shared_server().url());
  outcome_log log;
  auto pub = publisher::create(*conn, {}, log.handler()).value();
  const auto t = pub->publish({test::unique_name("nostream") + ".x", "id", {}, "x"}).value();
  auto r = pub->wait_acked(t, 5s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::publish_rejected) << r.error().message;
  EXPECT_EQ(pub->first_failure(), t);
  ASSERT_TRUE(test::eventually([&] { return log.size() == 1; }, 2s));
  EXPECT_FALSE(log.by_ticket[t].acknowledged);
}

// A frozen server (SIGSTOP: sockets open, nothing answered) neither acknowledges nor refuses: every message
// ends as a reported timeout, the window fills and publish() says so; the messages may still land later, and
// republishing them with the same ids stores nothing twice.
TEST(Publisher, FrozenServerEndsInTimeoutsAndAFullWindowNeverInSilence) {
  test::nats_server server;
  auto conn = test::connect_or_die(server.url());
  const auto st = make_stream(*conn, "frozen");
  outcome_log log;
  {
    auto pub = publisher::create(*conn, test::publisher_of(8, 200ms, 400ms), log.handler()).value();
    server.pause();
    for (int i = 1; i <= 8; ++i) ASSERT_TRUE(pub->publish({st.name + ".x", "f" + std::to_string(i), {}, "x"}));
    auto full = pub->publish({st.name + ".x", "f9", {}, "x"});
    ASSERT_FALSE(full);
    EXPECT_EQ(full.error().code, errc::too_many_in_flight) << full.error().message;
    ASSERT_TRUE(test::eventually([&] { return log.size() == 8; }, 3s)) << "every ticket has an outcome";
    for (auto& [ticket, o] : log.by_ticket) {
      EXPECT_FALSE(o.acknowledged);
      EXPECT_EQ(o.failure->code, errc::timeout) << o.failure->message;
    }
    EXPECT_EQ(pub->acked_through(), 0u);
    EXPECT_EQ(pub->first_failure(), 1u);
    server.resume();
  }
  // The late acknowledgements may still reach the context's reply subscription: it is released with the connection.
  EXPECT_EQ(conn->handles().retired(), 1u);
  ASSERT_TRUE(test::eventually([&] { return conn->connected(); }, 5s));
  // When the connection was found stale meanwhile, the messages come from the old socket, which the woken server may
  // read only after it answered the new connection: republished before that, the old ones would be the duplicates.
  ASSERT_TRUE(test::eventually(
      [&] {
        const auto state = get_stream_state(*conn, st.name);
        return state && state->messages == 8;
      },
      5s));
  auto again = publisher::create(*conn).value();
  std::uint64_t last = 0;
  for (int i = 1; i <= 8; ++i) last = again->publish({st.name + ".x", "f" + std::to_string(i), {}, "x"}).value();
  ASSERT_TRUE(again->wait_acked(last, 5s));
  const auto stored = read_all(*conn, st);
  EXPECT_EQ(stored.size(), 8u);
  for (const auto& [id, seqs] : stored) EXPECT_EQ(seqs.size(), 1u) << id << " stored more than once";
  EXPECT_EQ(again->stats().duplicates, 8u) << "the timed-out messages had landed once the server woke up";
}

// While the server is away, publishes wait in nats.c's reconnect buffer; past its bound they fail at once with
// buffer_full (the ticket fails, the watermark stops) instead of growing memory or vanishing.
TEST(Publisher, ReconnectBufferBoundFailsPublishesWhileDisconnected) {
  test::nats_server server;
  auto settings = test::test_settings(server.url());
  settings.reconnect_buffer_bytes = 8 * 1024;
  auto conn = connection::connect(settings).value();
  const auto st = make_stream(*conn, "rbuf");
  outcome_log log;
  auto pub = publisher::create(*conn, test::publisher_of(64, 1s, 3s), log.handler()).value();
  ASSERT_TRUE(pub->wait_acked(pub->publish({st.name + ".x", "before", {}, "x"}).value(), 5s));
  server.stop();
  ASSERT_TRUE(test::eventually([&] { return !conn->connected(); }, 5s));
  const std::string kilobyte(1024, 'b');
  std::optional<error> refused;
  int buffered = 0;
  for (int i = 0; i < 20 && !refused; ++i) {
    auto t = pub->publish({st.name + ".x", "during" + std::to_string(i), {}, kilobyte});
    if (t) {
      ++buffered;
    } else {
      refused = t.error();
    }
  }
  ASSERT_TRUE(refused) << "20 KiB do not fit an 8 KiB reconnect buffer";
  EXPECT_EQ(refused->code, errc::buffer_full) << refused->message;
  EXPECT_GE(buffered, 4);
  EXPECT_LE(buffered, 8);
  EXPECT_EQ(pub->first_failure(), static_cast<std::uint64_t>(buffered + 2)) << "the refused publish's ticket";
  server.start();
  // What was buffered is sent on reconnect: acknowledged, or reported failed if the ack came too late.
  ASSERT_TRUE(test::eventually([&] { return log.size() == static_cast<std::size_t>(buffered + 1); }, 10s));
}

// kill -9 of the server while a publisher streams, and a restart: publishing goes on throughout (it ends only
// once 1,000 more messages were acknowledged after the restart). Every ticket gets exactly one outcome; every
// acknowledged message is in the stream at the sequence its ack named; the failed ones, republished with their
// ids, end up stored exactly once.
TEST(Publisher, ServerKilledAndRestartedMidPublishLosesNothingAcknowledged) {
  test::nats_server server;
  auto conn = test::connect_or_die(server.url());
  const auto st = make_stream(*conn, "kill");
  outcome_log log;
  std::vector<std::string> failed_ids;
  std::size_t publish_errors = 0;
  int published = 0;
  {
    auto pub = publisher::create(*conn, test::publisher_of(256, 3s, 1500ms), log.handler()).value();
    std::atomic<std::uint64_t> resume_mark{0};  // tickets issued when the server was back; 0 before
    std::atomic<std::uint64_t> issued{0};
    std::thread killer([&] {
      test::eventually([&] { return pub->acked_through() >= 2000; }, 20s);
      server.kill9();
      server.start();
      resume_mark = issued.load() + 1;
    });
    std::map<std::uint64_t, std::string> id_of;
    auto done = [&] {
      const auto mark = resume_mark.load();
      if (mark == 0) return false;
      const auto stats = pub->stats();
      return stats.acked >= 2000 + 1000 && issued.load() >= mark + 1000;
    };
    while (!done() && published < 200'000) {
      const std::string id = "k" + std::to_string(++published);
      auto t = pub->publish({st.name + ".x", id, {}, std::string(100, 'k')});
      if (t) {
        id_of[*t] = id;
        issued = *t;
      } else {
        ++publish_errors;
        failed_ids.push_back(id);
      }
    }
    killer.join();
    pub.reset();  // waits until every message has its outcome
    std::lock_guard lock(log.mu);
    EXPECT_EQ(log.by_ticket.size(), id_of.size()) << "every ticket publish() returned has an outcome";
    EXPECT_EQ(log.duplicate_reports, 0u);
    for (const auto& [ticket, o] : log.by_ticket) {
      if (!o.acknowledged) failed_ids.push_back(id_of[ticket]);
    }
    const auto stored = read_all(*conn, st);
    for (const auto& [ticket, o] : log.by_ticket) {
      if (!o.acknowledged) continue;
      auto it = stored.find(id_of[ticket]);
      ASSERT_NE(it, stored.end()) << "acknowledged " << id_of[ticket] << " is missing";
      EXPECT_EQ(it->second.front(), o.stream_seq);
    }
  }
  std::cout << "[ info ] " << failed_ids.size() << " of " << published << " publishes failed around the crash ("
            << publish_errors << " refused at publish())\n";
  auto retry = publisher::create(*conn).value();
  std::uint64_t last = 0;
  for (const auto& id : failed_ids) last = retry->publish({st.name + ".x", id, {}, std::string(100, 'k')}).value();
  if (last > 0) {
    ASSERT_TRUE(retry->wait_acked(last, 10s));
  }
  const auto stored = read_all(*conn, st);
  EXPECT_EQ(stored.size(), static_cast<std::size_t>(published));
  for (const auto& [id, seqs] : stored) EXPECT_EQ(seqs.size(), 1u) << id << " stored more than once";
}

}  // namespace
}  // namespace rtcache::cluster
