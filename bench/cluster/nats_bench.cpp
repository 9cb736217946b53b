// The NATS JetStream layer under load, against a real nats-server (bench/cluster/run.sh starts one): what the
// cluster's design leans on (docs/cluster.md). Prints one `name value unit` line per figure.
//   rtcache_nats_bench --url nats://127.0.0.1:PORT [--quick] [--only-resume]
// 1. asynchronous publish with msg ids and acknowledgements: msgs/s at 200 B and 2 KB payloads, one subject,
//    and at 200 B over 10,000 distinct subjects (subject per channel);
// 2. ordered-consumer read throughput over what (1) stored;
// 3. publish -> consumer latency, p50/p99/max, at a paced 5,000 msgs/s;
// 4. range fetch of one subject's messages among others: direct get vs a filtered consumer;
// 5. the writer (cluster/writer.hpp): transactions of 3 channel messages until durable, first touch of each
//    partition (lookup + ledger key) and then warm, with the stream's first sequence read per call or every 100 ms;
// 6. exact resume by range fetch (cluster/applier.hpp): a client 10 messages behind on a view of one factory whose
//    channel has N messages in the stream (among as many of other channels), joined on a node that never held the
//    view: the join's time, and whether it was recovered:true with exactly the 10.
#include "cluster/applier.hpp"
#include "cluster/connection.hpp"
#include "cluster/ordered_consumer.hpp"
#include "cluster/publisher.hpp"
#include "cluster/range_fetch.hpp"
#include "cluster/stream.hpp"
#include "cluster/subject.hpp"
#include "cluster/writer.hpp"
#include "hub/hub.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace rtcache::cluster;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "nats_bench: %s\n", what.c_str());
  std::exit(1);
}

template <class T>
T must(result<T> r, const char* what) {
  if (!r) die(std::string(what) + ": " + r.error().message);
  return std::move(*r);
}

void figure(const std::string& name, double value, const char* unit) {
  std::printf("%-52s %14.1f %s\n", name.c_str(), value, unit);
  std::fflush(stdout);
}

std::string random_suffix() {
  std::mt19937_64 rng{std::random_device{}()};
  return std::to_string(rng() % 1'000'000'000);
}

stream_settings bench_stream(const std::string& prefix) {
  stream_settings s;
  s.name = prefix + "_" + random_suffix();
  s.subjects = {s.name + ".>"};
  s.max_bytes = 512ll << 20;
  s.duplicate_window = 2min;
  return s;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Publishes n messages of `bytes` each with msg ids, `subjects` distinct subjects round-robin; returns msgs/s
// from the first publish to the last acknowledgement.
double publish_throughput(const connection& conn, const stream_settings& st, int n, std::size_t bytes, int subjects) {
  publisher_settings ps;
  ps.max_in_flight = 4096;
  auto pub = must(publisher::create(conn, ps), "publisher");
  const std::string data(bytes, 'p');
  std::vector<std::string> subject_names;
  for (int i = 0; i < subjects; ++i) subject_names.push_back(st.name + ".doc.wo." + std::to_string(i));
  const auto t0 = clock_type::now();
  std::uint64_t last = 0;
  for (int i = 0; i < n; ++i) {
    const std::string id = "0/" + std::to_string(i) + ":0";
    last = must(pub->publish({subject_names[static_cast<std::size_t>(i % subjects)], id, {}, data}), "publish");
  }
  if (auto r = pub->wait_acked(last, 60s); !r) die("acks: " + r.error().message);
  const double s = seconds_since(t0);
  if (pub->stats().failed != 0 || pub->stats().duplicates != 0) die("unexpected failures or duplicates");
  return n / s;
}

double read_throughput(const connection& conn, const stream_settings& st, std::uint64_t expect) {
  consumer_settings cs;
  cs.stream = st.name;
  cs.filter_subject = st.subjects[0];
  auto c = must(ordered_consumer::start(conn, cs), "consumer");
  const auto t0 = clock_type::now();
  while (c->last_delivered() < expect) {
    auto m = must(c->next(10s), "next");
    if (!m) die("consumer stalled at " + std::to_string(c->last_delivered()));
  }
  return static_cast<double>(expect) / seconds_since(t0);
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

// Paced publishing at `rate` msgs/s for `duration`; a consumer on its own connection (as another node would
// have) measures publish -> delivery per message.
void latency(const std::string& url, int rate, std::chrono::seconds duration, bool asap) {
  nats_settings ns;
  ns.urls = {url};
  ns.send_asap = asap;
  auto pub_conn = must(connection::connect(ns), "connect");
  auto sub_conn = must(connection::connect(ns), "connect");
  const auto st = bench_stream("lat");
  must(ensure_stream(*pub_conn, st), "stream");
  consumer_settings cs;
  cs.stream = st.name;
  cs.filter_subject = st.subjects[0];
  auto c = must(ordered_consumer::start(*sub_conn, cs), "consumer");
  const int total = rate * static_cast<int>(duration.count());
  std::vector<std::int64_t> samples;
  samples.reserve(static_cast<std::size_t>(total));
  std::thread reader([&] {
    while (static_cast<int>(samples.size()) < total) {
      auto m = c->next(5s);
      if (!m || !*m) die("latency consumer stalled");
      std::int64_t sent = 0;
      std::memcpy(&sent, (*m)->data.data(), sizeof sent);
      samples.push_back(now_ns() - sent);
    }
  });
  auto pub = must(publisher::create(*pub_conn), "publisher");
  std::string data(200, 'l');
  const auto start = clock_type::now();
  const auto interval = std::chrono::nanoseconds(1'000'000'000 / rate);
  std::uint64_t last = 0;
  for (int i = 0; i < total; ++i) {
    std::this_thread::sleep_until(start + interval * i);
    const std::int64_t t = now_ns();
    std::memcpy(data.data(), &t, sizeof t);
    last = must(pub->publish({st.name + ".list.wo.F" + std::to_string(i % 8), "l" + std::to_string(i), {}, data}),
                "publish");
  }
  if (auto r = pub->wait_acked(last, 10s); !r) die(r.error().message);
  reader.join();
  std::sort(samples.begin(), samples.end());
  auto q = [&](double p) {
    return static_cast<double>(samples[std::min(samples.size() - 1,
                                                static_cast<std::size_t>(p * static_cast<double>(samples.size())))]) /
           1000.0;
  };
  const std::string at = " at " + std::to_string(rate) + " msgs/s" + (asap ? " (send_asap)" : "");
  figure("publish->consume latency p50" + at, q(0.50), "us");
  figure("publish->consume latency p99" + at, q(0.99), "us");
  figure("publish->consume latency max" + at, static_cast<double>(samples.back()) / 1000.0, "us");
  (void)delete_stream(*pub_conn, st.name);
}

// `channels` subjects, each with `per_channel` messages, interleaved; fetch one channel's whole range.
void range_fetch(const connection& conn, int channels, int per_channel, int rounds, const std::string& label) {
  auto st = bench_stream("range");
  must(ensure_stream(conn, st), "stream");
  auto pub = must(publisher::create(conn), "publisher");
  std::uint64_t last = 0;
  const std::string data(200, 'r');
  for (int i = 0; i < channels * per_channel; ++i) {
    last = must(pub->publish({st.name + ".list.wo.F" + std::to_string(i % channels), "", {}, data}), "publish");
  }
  if (auto r = pub->wait_acked(last, 60s); !r) die(r.error().message);
  for (auto method : {fetch_method::direct_get, fetch_method::consumer}) {
    const auto t0 = clock_type::now();
    for (int round = 0; round < rounds; ++round) {
      range_request req;
      req.stream = st.name;
      req.subject = st.name + ".list.wo.F" + std::to_string(round % channels);
      req.from_seq = 1;
      auto got = must(fetch_range(conn, req, method), "fetch");
      if (static_cast<int>(got.size()) != per_channel) die("range fetch returned the wrong count");
    }
    const double ms = seconds_since(t0) * 1000.0 / rounds;
    figure(std::string("range ") + (method == fetch_method::direct_get ? "direct get" : "consumer  ") + " " +
               std::to_string(per_channel) + " msgs of 1/" + std::to_string(channels) + " subjects" + label,
           ms * 1000.0, "us/fetch");
  }
  (void)delete_stream(conn, st.name);
}

// An empty transaction of the source's `call`-th call, the last of its call, at a WAL position of its own.
rtcache::routing::routed_batch txn_at(std::uint64_t call) {
  rtcache::routing::routed_batch b;
  b.position.sequence = call;
  b.position.system_identifier = 1;
  b.position.timeline = 1;
  b.position.commit_lsn = 0x1000 + call * 0x100;
  b.position.confirm_lsn = b.position.commit_lsn + 0x10;
  b.last = true;
  return b;
}

rtcache::routing::routed_batch writer_txn(std::uint64_t call, std::uint64_t index, std::uint64_t docs) {
  rtcache::routing::routed_batch b = txn_at(call);
  for (std::uint64_t k = 0; k < 3; ++k) {
    auto e = std::make_shared<rtcache::core::event>();
    e->type = "wo";
    e->id = std::to_string((index * 3 + k) % docs);
    e->factory_id = "F1";
    b.rows.messages.push_back({rtcache::core::channel_key::doc("wo", e->id), e, nullptr});
  }
  return b;
}

// Transactions per second through the writer until durable: first over `docs` fresh partitions (each a lookup and
// a ledger key), then `txns` more over the same, warm.
void writer_throughput(const connection& conn, std::uint64_t docs, std::uint64_t txns,
                       std::chrono::milliseconds refresh) {
  const auto st = bench_stream("writer");
  must(ensure_stream(conn, st), "stream");
  writer_settings ws;
  ws.stream = st.name;
  ws.first_seq_refresh = refresh;
  ws.publisher.max_in_flight = 8192;
  auto w = must(writer::create(conn, ws), "writer");
  w->start_stream([] {});
  std::uint64_t call = 0;
  auto run = [&](std::uint64_t count) {
    const auto start = clock_type::now();
    for (std::uint64_t i = 0; i < count; ++i) {
      ++call;
      w->publish(writer_txn(call, call - 1, docs));
    }
    while (w->durable_through() < call) {
      if (w->failure()) die("writer: " + w->failure()->message);
      std::this_thread::sleep_for(100us);
    }
    return std::chrono::duration<double>(clock_type::now() - start).count();
  };
  const std::string label = refresh.count() == 0 ? "first_seq per call" : "first_seq every 100 ms";
  const double first = run(docs / 3);
  figure("writer first touch (lookup + ledger), " + label, static_cast<double>(docs) / first, "partitions/s");
  const double warm = run(txns);
  figure("writer warm, 3 msgs/txn, " + label, static_cast<double>(txns) / warm, "txns/s");
  w.reset();
  (void)delete_stream(conn, st.name);
}

// Transactions of two messages through the writer: doc:wo:1 of F1 (the resumed view's), doc:wo:<n> of F2.
rtcache::routing::routed_batch resume_txn(std::uint64_t call) {
  rtcache::routing::routed_batch b = txn_at(call);
  for (const auto& [id, factory] : {std::pair<std::string, std::string>{"1", "F1"}, {std::to_string(call), "F2"}}) {
    auto e = std::make_shared<rtcache::core::event>();
    e->type = "wo";
    e->id = id;
    e->factory_id = factory;
    b.rows.messages.push_back({rtcache::core::channel_key::doc("wo", id), e, nullptr});
  }
  return b;
}

class no_client final : public rtcache::hub::hub_subscriber {
 public:
  void deliver(const rtcache::hub::hub_message_ptr&) noexcept override {}
};

// A client `behind` messages back on doc:wo:1 (view F1), which has `view_msgs` messages in the stream, resumes on a
// node that never held the view.
void resume_fetch(const connection& conn, std::uint64_t view_msgs, std::uint64_t behind) {
  const auto st = bench_stream("resume");
  must(ensure_stream(conn, st), "stream");
  writer_settings ws;
  ws.stream = st.name;
  ws.first_seq_refresh = 100ms;
  ws.publisher.max_in_flight = 8192;
  auto w = must(writer::create(conn, ws), "writer");
  w->start_stream([] {});
  rtcache::hub::hub h(rtcache::hub::hub_config{}, [](const rtcache::hub::hub_encode_request& r) {
    rtcache::hub::hub_frames f;
    f.v1_text = std::string(r.payload_json);
    return f;
  });
  applier_settings as;
  as.stream = st.name;
  as.apply.node_id = "bench";
  auto a = must(applier::start(conn, h, epoch_deriver(std::string(32, 's')), as), "applier");
  a->run();
  std::uint64_t call = 0;
  const auto write = [&](std::uint64_t count) {
    for (std::uint64_t i = 0; i < count; ++i) w->publish(resume_txn(++call));
    while (w->durable_through() < call || a->last_applied() < call * 2) {
      if (w->failure()) die("writer: " + w->failure()->message);
      std::this_thread::sleep_for(1ms);
    }
  };
  const auto view = rtcache::core::factory_scope::of({"F1"});
  write(view_msgs - behind);
  const rtcache::hub::hub_position client = a->position_of("doc:wo:1", view);
  write(behind);
  const auto t0 = clock_type::now();
  auto joined = a->join("doc:wo:1", view, std::make_shared<no_client>(), client);
  const double ms = seconds_since(t0) * 1000.0;
  if (!joined) die("resume join refused");
  const bool exact = joined->recovered && joined->replay.size() == behind;
  const std::string label =
      "resume " + std::to_string(behind) + " behind, " + std::to_string(view_msgs) + " msgs of the view in the stream";
  figure(label + (exact ? " (recovered, exact)" : " (NOT recovered)"), ms * 1000.0, "us/join");
  if (view_msgs <= 5000) {
    // The anchor: what reading the view's messages from the stream's first sequence (the fetch before the search)
    // takes, which the resume bound (512) refused anyway past 512 messages.
    range_request r;
    r.stream = st.name;
    r.subject = subjects{st.name}.partition("doc:wo:1", "F1");
    r.max_messages = view_msgs + 1;
    const auto t1 = clock_type::now();
    const auto all = must(fetch_range(conn, r), "fetch from the start");
    if (all.size() != view_msgs) die("the fetch from the start returned the wrong count");
    figure("  anchor: direct gets of all " + std::to_string(view_msgs) + " from the stream's start",
           seconds_since(t1) * 1e6, "us");
  }
  a->stop();
  w.reset();
  (void)delete_stream(conn, st.name);
}

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  bool quick = false;
  bool only_resume = false;  // section 6 alone
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
      url = argv[++i];
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--only-resume") == 0) {
      only_resume = true;
    } else {
      std::fprintf(stderr, "usage: %s --url nats://host:port [--quick] [--only-resume]\n", argv[0]);
      return 2;
    }
  }
  if (url.empty()) die("--url is required (bench/cluster/run.sh starts a server and passes it)");
  const int n = quick ? 20'000 : 200'000;
  const auto resumes = [&](const connection& conn) {
    for (std::uint64_t view_msgs : {std::uint64_t{1000}, quick ? std::uint64_t{5000} : std::uint64_t{100'000}}) {
      resume_fetch(conn, view_msgs, 10);
    }
  };
  if (only_resume) {
    nats_settings ns;
    ns.urls = {url};
    resumes(*must(connection::connect(ns), "connect"));
    return 0;
  }
  for (bool asap : {false, true}) {
    nats_settings ns;
    ns.urls = {url};
    ns.send_asap = asap;
    auto conn = must(connection::connect(ns), "connect");
    const std::string label = asap ? " (send_asap)" : "";
    for (std::size_t bytes : {std::size_t{200}, std::size_t{2048}}) {
      const auto st = bench_stream("pub");
      must(ensure_stream(*conn, st), "stream");
      const double rate = publish_throughput(*conn, st, n, bytes, 1);
      figure("publish+ack " + std::to_string(bytes) + " B, 1 subject" + label, rate, "msgs/s");
      figure("publish+ack " + std::to_string(bytes) + " B, 1 subject" + label + " payload",
             rate * static_cast<double>(bytes) / 1e6, "MB/s");
      if (bytes == 200) {
        figure("ordered consumer read, 200 B" + label, read_throughput(*conn, st, static_cast<std::uint64_t>(n)),
               "msgs/s");
      }
      (void)delete_stream(*conn, st.name);
    }
    if (!asap) {
      const auto st = bench_stream("subj");
      must(ensure_stream(*conn, st), "stream");
      figure("publish+ack 200 B, 10,000 subjects", publish_throughput(*conn, st, n, 200, 10'000), "msgs/s");
      (void)delete_stream(*conn, st.name);
    }
    latency(url, 5000, quick ? 1s : 5s, asap);
    range_fetch(*conn, 100, quick ? 5 : 10, quick ? 20 : 200, label);
    range_fetch(*conn, 10, quick ? 20 : 100, quick ? 10 : 50, label);
    if (!asap) {
      for (auto refresh : {0ms, 100ms}) writer_throughput(*conn, quick ? 300 : 3000, quick ? 2000 : 20000, refresh);
      resumes(*conn);
    }
  }
  return 0;
}
