// rtcache_load: the gateway load generator. Many Supabase-protocol WebSocket clients on loopback (spread over
// several 127.0.0.x source addresses and io threads) against a running `rtcache serve`, and a publisher that
// POSTs contract events to /v1/events at a target rate. Modes: throughput (delivered messages/s and
// publish-to-client latency), idle (connections held and heartbeating), slow (clients that stop reading).
// With --tls-port the clients connect over TLS (wss://, verifying the server against --ca-file) to the server's
// [tls] listener; the publisher and the /metrics scrapes stay on the plain port. With --listen, throughput publishes
// nothing and measures what others write (bench/cluster/latency.sh: rows committed in PostgreSQL whose version
// is their update time in ns since the epoch, compared with --wall-clock). With --publish-port the publisher POSTs
// to another server than the clients listen on (bench/cluster/relay.sh: published on one cluster node, received
// on another).
// Figures go to stdout, one `name value unit` line each; progress goes to stderr.
#include "latency_histogram.hpp"
#include "load_jwt.hpp"
#include "load_options.hpp"
#include "ws_frame.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

namespace rtcache::load {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

// Nanoseconds since the Unix epoch: comparable with a time another process took (--wall-clock).
std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

// The clients' TLS context (with --tls-port), made once in main before any worker starts.
asio::ssl::context* g_tls = nullptr;

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "rtcache_load: " << why << "\n"
            << "usage: rtcache_load throughput|idle|slow [--port N] [--host A] [--secret S] [--clients N]\n"
               "  [--threads N] [--sources N] [--first-source N] [--factories N] [--docs N] [--no-list] [--no-doc]\n"
               "  [--factory-channel] [--rate EV/S] [--batch N] [--publishers N] [--payload-bytes N] [--warmup S]\n"
               "  [--duration S] [--hold S] [--heartbeat S] [--slow-fraction F] [--stall S] [--slow-rcvbuf B]\n"
               "  [--server-pid P] [--vsn 1.0.0|2.0.0] [--connect-concurrency N] [--connect-timeout S] [--label L]\n"
               "  [--tls-port N --ca-file F [--tls-host A] [--tls-name N]] [--listen] [--wall-clock]\n"
               "  [--first-client N] [--publish-port N [--publish-host A]]\n"
               "The JWT secret defaults to $RTCACHE_JWT_SECRET.\n";
  std::exit(2);
}

options parse_options_or_exit(int argc, char** argv) {
  auto parsed = parse_options(argc, argv, std::getenv("RTCACHE_JWT_SECRET"));
  if (auto* why = std::get_if<std::string>(&parsed)) usage(*why);
  return std::get<options>(std::move(parsed));
}

void figure(const options& o, std::string_view name, double value, std::string_view unit) {
  std::printf("%s.%.*s %.6g %.*s\n", o.label.c_str(), static_cast<int>(name.size()), name.data(), value,
              static_cast<int>(unit.size()), unit.data());
  std::fflush(stdout);
}

std::string factory_name(int f) { return "f" + std::to_string(f); }

// Slow clients are spread evenly: client i is slow when floor((i + 1) * f) > floor(i * f).
bool is_slow(int i, double fraction) {
  return std::floor((i + 1) * fraction) > std::floor(i * fraction);
}

// ---- server-side observations ----

// VmRSS of `pid` in KiB, or 0.
long rss_kib(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

// User + system CPU time of `pid` (0: this process) in seconds, from /proc/<pid>/stat, or 0.
double cpu_seconds(int pid) {
  std::ifstream in(pid > 0 ? "/proc/" + std::to_string(pid) + "/stat" : std::string("/proc/self/stat"));
  std::string stat;
  std::getline(in, stat);
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  std::string f;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {  // field 3 is the state; 14 utime, 15 stime
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// One blocking GET of /metrics; the value of `name` (an unlabelled sample), or nullopt.
std::optional<double> scrape_metric(const options& o, std::string_view name) {
  try {
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address(o.host), o.port));
    const std::string req = "GET /metrics HTTP/1.1\r\nHost: load\r\nConnection: close\r\n\r\n";
    asio::write(s, asio::buffer(req));
    std::string body;
    boost::system::error_code ec;
    char buf[16384];
    for (;;) {
      const std::size_t n = s.read_some(asio::buffer(buf), ec);
      body.append(buf, n);
      if (ec) break;
    }
    std::istringstream lines(body);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 && line[name.size()] == ' ') {
        return std::stod(line.substr(name.size() + 1));
      }
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// ---- one worker: an io thread and its clients ----

class client;

struct worker_stats {
  std::atomic<std::uint64_t> delivered{0};  // invalidate broadcasts received
  std::atomic<std::uint64_t> bytes{0};      // WebSocket payload bytes received
  std::atomic<std::uint64_t> gaps{0};       // offsets skipped within a channel
  std::atomic<std::uint64_t> open{0};       // upgrades completed and not yet closed
  std::atomic<std::uint64_t> joined{0};     // clients with every join answered ok
  std::atomic<std::uint64_t> join_errors{0};
  std::atomic<std::uint64_t> finished{0};   // clients whose connect attempt ended (open, refused or failed)
  std::atomic<std::uint64_t> failed{0};     // connect or upgrade failed
  std::atomic<std::uint64_t> closed{0};     // open connections that ended afterwards
  std::atomic<std::uint64_t> close_4008{0};
  std::atomic<std::uint64_t> close_other{0};
  std::atomic<std::uint64_t> dropped_no_close{0};  // ended without a close frame
  std::atomic<std::uint64_t> heartbeats{0};
  std::atomic<std::uint64_t> heartbeat_replies{0};  // phx_reply ok on topic "phoenix"
};

struct shared_state {
  std::atomic<bool> measuring{false};
  std::atomic<bool> stalled{false};  // slow clients do not read while set
};

class worker {
 public:
  worker(const options& o, shared_state& shared, int index) : opts_(o), shared_(shared), index_(index), hb_timer_(io_) {}

  void add_client(int global_index);
  void start();
  void run() { io_.run(); }
  void stop() {
    asio::post(io_, [this] { io_.stop(); });
  }
  // Slow clients resume reading (after `stalled` was cleared).
  void resume_slow();

  asio::io_context& io() { return io_; }
  const options& opts() const { return opts_; }
  shared_state& shared() { return shared_; }
  worker_stats& stats() { return stats_; }
  latency_histogram& latency() { return latency_; }  // this worker's thread only, or after it stopped
  std::map<std::string, std::uint64_t>& failures() { return failures_; }  // likewise

  void connect_finished();  // a client's attempt ended: start the next one

 private:
  void start_next();
  void heartbeat_tick();

  const options& opts_;
  shared_state& shared_;
  const int index_;
  asio::io_context io_{1};
  asio::steady_timer hb_timer_;
  std::vector<std::shared_ptr<client>> clients_;
  std::size_t next_to_start_ = 0;
  std::uint64_t hb_tick_ = 0;
  worker_stats stats_;
  latency_histogram latency_;
  std::map<std::string, std::uint64_t> failures_;
};

// One WebSocket client: connect from a source address, upgrade, join its channels, then read frames.
class client : public std::enable_shared_from_this<client> {
 public:
  client(worker& w, int index) : w_(w), index_(index), socket_(w.io()) {
    const auto& o = w.opts();
    factory_ = index % o.factories;
    doc_ = index % o.docs;
    doc_ = doc_ - doc_ % o.factories + factory_;  // keep doc k's factory (k % factories) equal to ours
    if (doc_ >= o.docs) doc_ -= o.factories;
    slow_ = o.mode == "slow" && is_slow(index, o.slow_fraction);
    mask_state_ = std::uint64_t{0x9E3779B97F4A7C15} ^ static_cast<std::uint64_t>(index + 1);
  }

  bool slow() const { return slow_; }
  bool is_open() const { return state_ == state::open; }

  void start() {
    const auto& o = w_.opts();
    boost::system::error_code ec;
    socket_.open(tcp::v4(), ec);
    if (ec) return fail("socket: " + ec.message());
    // Ports per destination, not per source address: lets more than 28k sockets share one source address.
    const int one = 1;
    ::setsockopt(socket_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (slow_ && o.slow_rcvbuf > 0) socket_.set_option(asio::socket_base::receive_buffer_size(o.slow_rcvbuf), ec);
    const auto src = asio::ip::make_address_v4("127.0.0." + std::to_string(o.first_source + index_ % o.sources));
    socket_.bind(tcp::endpoint(src, 0), ec);
    if (ec) return fail("bind: " + ec.message());
    buf_.resize(static_cast<std::size_t>(std::max(o.rcv_buffer, 512)));
    const bool tls = o.tls_port != 0;
    socket_.async_connect(tcp::endpoint(asio::ip::make_address(tls ? o.tls_host : o.host), tls ? o.tls_port : o.port),
                          [self = shared_from_this()](boost::system::error_code e) {
                            if (e || g_tls == nullptr) return self->on_connect(e);
                            self->start_tls();
                          });
  }

  void send_heartbeat() {
    if (state_ != state::open) return;
    const std::string ref = std::to_string(++ref_);
    send_text(w_.opts().vsn == "2.0.0" ? R"([null,")" + ref + R"(","phoenix","heartbeat",{}])"
                                       : R"({"topic":"phoenix","event":"heartbeat","payload":{},"ref":")" + ref + "\"}");
    w_.stats().heartbeats.fetch_add(1, std::memory_order_relaxed);
  }

  void resume() {
    if (parked_) {
      parked_ = false;
      process();
    }
  }

 private:
  enum class state { connecting, upgrading, open, closed };

  std::uint32_t next_mask() {
    mask_state_ ^= mask_state_ << 13;
    mask_state_ ^= mask_state_ >> 7;
    mask_state_ ^= mask_state_ << 17;
    return static_cast<std::uint32_t>(mask_state_);
  }

  void fail(const std::string& why) {
    if (state_ == state::closed) return;
    const bool was_open = state_ == state::open;
    state_ = state::closed;
    boost::system::error_code ignored;
    socket_.close(ignored);
    if (was_open) {
      w_.stats().open.fetch_sub(1, std::memory_order_relaxed);
      w_.stats().closed.fetch_add(1, std::memory_order_relaxed);
      if (close_code_ == 4008) w_.stats().close_4008.fetch_add(1, std::memory_order_relaxed);
      else if (close_code_ != 0) w_.stats().close_other.fetch_add(1, std::memory_order_relaxed);
      else w_.stats().dropped_no_close.fetch_add(1, std::memory_order_relaxed);
    } else {
      w_.stats().failed.fetch_add(1, std::memory_order_relaxed);
      ++w_.failures()[why];
      w_.stats().finished.fetch_add(1, std::memory_order_relaxed);
      w_.connect_finished();
    }
  }

  void start_tls() {
    const auto& o = w_.opts();
    tls_.emplace(socket_, *g_tls);
    SSL_ctrl(tls_->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(o.tls_name.c_str()));
    tls_->set_verify_callback(asio::ssl::host_name_verification(o.tls_name));
    tls_->async_handshake(asio::ssl::stream_base::client, [self = shared_from_this()](boost::system::error_code e) {
      if (e) return self->fail("tls handshake: " + e.message());
      self->on_connect(e);
    });
  }

  void on_connect(boost::system::error_code ec) {
    if (ec) return fail("connect: " + ec.message());
    const auto& o = w_.opts();
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    token_ = user_token(o.secret, "load-" + std::to_string(index_), {factory_name(factory_)}, now,
                        std::chrono::hours(24));
    std::string req = "GET /realtime/v1/websocket?apikey=" + token_ + "&vsn=" + o.vsn +
                      " HTTP/1.1\r\nHost: " + (g_tls ? o.tls_name : o.host) + ":" +
                      std::to_string(g_tls ? o.tls_port : o.port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    state_ = state::upgrading;
    out_ = std::move(req);
    flush();
    read();
  }

  void read() {
    if (state_ == state::closed) return;
    if (have_ == buf_.size()) buf_.resize(buf_.size() * 2);
    auto handler = [self = shared_from_this()](boost::system::error_code ec, std::size_t n) { self->on_read(ec, n); };
    const auto into = asio::buffer(buf_.data() + have_, buf_.size() - have_);
    if (tls_) {
      tls_->async_read_some(into, std::move(handler));
    } else {
      socket_.async_read_some(into, std::move(handler));
    }
  }

  void on_read(boost::system::error_code ec, std::size_t n) {
    if (ec) return fail(state_ == state::open ? "read" : "upgrade: " + ec.message());
    have_ += n;
    w_.stats().bytes.fetch_add(n, std::memory_order_relaxed);
    process();
  }

  // Consumes whatever is buffered, then reads again (unless a slow client is stalled).
  void process() {
    if (state_ == state::upgrading) {
      const std::string_view data(buf_.data(), have_);
      const auto end = data.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (have_ > 16384) return fail("upgrade: response too long");
        return read();
      }
      const auto status_end = data.find("\r\n");
      if (data.substr(0, status_end).find(" 101 ") == std::string_view::npos) {
        const auto status = data.substr(0, std::min<std::size_t>(status_end, 40));
        const auto body_at = end + 4;
        return fail("upgrade refused: " + std::string(status) + " " +
                    std::string(data.substr(body_at, std::min<std::size_t>(data.size() - body_at, 60))));
      }
      consume(end + 4);
      state_ = state::open;
      w_.stats().open.fetch_add(1, std::memory_order_relaxed);
      send_joins();
    }
    if (state_ != state::open) return;
    for (;;) {
      const auto r = parse_frame_header(std::string_view(buf_.data(), have_));
      if (r.status == ws_parse_status::protocol_error) return fail("read");
      if (r.status == ws_parse_status::need_more) break;
      const auto total = r.header.header_bytes + r.header.payload_bytes;
      if (total > have_) {
        if (total > buf_.size()) buf_.resize(static_cast<std::size_t>(total));
        break;
      }
      on_frame(r.header, std::string_view(buf_.data() + r.header.header_bytes, r.header.payload_bytes));
      if (state_ == state::closed) return;
      consume(static_cast<std::size_t>(total));
    }
    if (slow_ && w_.shared().stalled.load(std::memory_order_relaxed)) {
      parked_ = true;  // resume() continues
      return;
    }
    read();
  }

  void consume(std::size_t n) {
    std::memmove(buf_.data(), buf_.data() + n, have_ - n);
    have_ -= n;
  }

  void on_frame(const ws_frame_header& h, std::string_view payload) {
    switch (h.opcode) {
      case ws_opcode::ping: {
        std::string frame;
        append_client_frame(frame, ws_opcode::pong, payload, next_mask());
        send_raw(frame);
        return;
      }
      case ws_opcode::pong: return;
      case ws_opcode::close: {
        close_code_ = close_code_of(payload).value_or(1005);
        std::string frame;
        append_client_frame(frame, ws_opcode::close, payload.substr(0, std::min<std::size_t>(payload.size(), 2)),
                            next_mask());
        send_raw(frame);
        return fail("closed");
      }
      case ws_opcode::continuation:
        fragments_.append(payload);
        if (h.fin) {
          const std::string whole = std::move(fragments_);
          fragments_.clear();
          on_message(whole);
        }
        return;
      case ws_opcode::text:
      case ws_opcode::binary:
        if (!h.fin) {
          fragments_.assign(payload);
          return;
        }
        on_message(payload);
        return;
    }
  }

  static std::optional<std::int64_t> number_after(std::string_view text, std::string_view key, std::size_t from) {
    const auto at = text.find(key, from);
    if (at == std::string_view::npos) return std::nullopt;
    std::size_t i = at + key.size();
    std::int64_t v = 0;
    bool any = false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      v = v * 10 + (text[i] - '0');
      ++i;
      any = true;
    }
    return any ? std::optional<std::int64_t>(v) : std::nullopt;
  }

  void on_message(std::string_view m) {
    // A contract event: [null,null,"realtime:<channel>","broadcast",{..."event":"invalidate","payload":{...
    // "version":<send ns>,...,"offset":<n>}}] (v1 has the same payload inside an object).
    const auto inv = m.find("\"invalidate\"");
    if (inv != std::string_view::npos) {
      const std::int64_t arrived = w_.opts().wall_clock ? wall_ns() : now_ns();
      auto& st = w_.stats();
      st.delivered.fetch_add(1, std::memory_order_relaxed);
      if (const auto sent = number_after(m, "\"version\":", inv); sent && w_.shared().measuring.load(std::memory_order_relaxed)) {
        w_.latency().record(arrived - *sent);
      }
      const auto topic = m.find("realtime:");
      if (topic != std::string_view::npos && topic + 9 < m.size()) {
        const char kind = m[topic + 9];
        const int slot = kind == 'l' ? 0 : kind == 'd' ? 1 : 2;
        if (const auto off = number_after(m, "\"offset\":", inv)) {
          auto& last = last_offset_[slot];
          const auto u = static_cast<std::uint64_t>(*off);
          if (last != 0 && u > last + 1) st.gaps.fetch_add(u - last - 1, std::memory_order_relaxed);
          last = u;
        }
      }
      return;
    }
    if (m.find("\"phx_reply\"") != std::string_view::npos && m.find("\"phoenix\"") != std::string_view::npos) {
      if (m.find(R"("status":"ok")") != std::string_view::npos) {
        w_.stats().heartbeat_replies.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    }
    if (m.find("\"phx_reply\"") != std::string_view::npos && m.find("\"phoenix\"") == std::string_view::npos) {
      if (m.find(R"("status":"ok")") != std::string_view::npos) {
        if (++joins_ok_ == joins_sent_) {
          w_.stats().joined.fetch_add(1, std::memory_order_relaxed);
          w_.stats().finished.fetch_add(1, std::memory_order_relaxed);
          w_.connect_finished();
        }
      } else {
        w_.stats().join_errors.fetch_add(1, std::memory_order_relaxed);
        if (++join_errors_ == 1) {
          ++w_.failures()["join refused: " + std::string(m.substr(0, 160))];
          w_.stats().finished.fetch_add(1, std::memory_order_relaxed);
          w_.connect_finished();
        }
      }
    }
  }

  void send_joins() {
    const auto& o = w_.opts();
    std::vector<std::string> channels;
    if (o.join_list) channels.push_back("list:wo:" + factory_name(factory_));
    if (o.join_doc) channels.push_back("doc:wo:d" + std::to_string(doc_));
    if (o.join_factory) channels.push_back("factory:" + factory_name(factory_));
    joins_sent_ = static_cast<int>(channels.size());
    if (channels.empty()) {
      w_.stats().joined.fetch_add(1, std::memory_order_relaxed);
      w_.stats().finished.fetch_add(1, std::memory_order_relaxed);
      w_.connect_finished();
      return;
    }
    const std::string config =
        R"({"config":{"broadcast":{"ack":false,"self":false},"presence":{"key":"","enabled":false},)"
        R"("postgres_changes":[],"private":false},"access_token":")" + token_ + R"(","version":"rtcache-load/1"})";
    for (const auto& ch : channels) {
      const std::string ref = std::to_string(++ref_);
      if (o.vsn == "2.0.0") {
        send_text("[\"" + ref + "\",\"" + ref + "\",\"realtime:" + ch + "\",\"phx_join\"," + config + "]");
      } else {
        send_text(R"({"topic":"realtime:)" + ch + R"(","event":"phx_join","payload":)" + config + R"(,"ref":")" +
                  ref + R"(","join_ref":")" + ref + "\"}");
      }
    }
  }

  void send_text(std::string_view text) {
    std::string frame;
    append_client_frame(frame, ws_opcode::text, text, next_mask());
    send_raw(frame);
  }

  void send_raw(std::string_view bytes) {
    if (state_ == state::closed) return;
    out_.append(bytes);
    flush();
  }

  void flush() {
    if (writing_ || out_.empty() || state_ == state::closed) return;
    writing_ = true;
    inflight_.swap(out_);
    out_.clear();
    auto handler = [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      self->writing_ = false;
      self->inflight_.clear();
      if (ec) return self->fail("write: " + ec.message());
      self->flush();
    };
    if (tls_) {
      asio::async_write(*tls_, asio::buffer(inflight_), std::move(handler));
    } else {
      asio::async_write(socket_, asio::buffer(inflight_), std::move(handler));
    }
  }

  worker& w_;
  const int index_;
  tcp::socket socket_;
  std::optional<asio::ssl::stream<tcp::socket&>> tls_;  // over socket_, with --tls-port
  state state_ = state::connecting;
  int factory_ = 0;
  int doc_ = 0;
  bool slow_ = false;
  bool parked_ = false;
  bool writing_ = false;
  int joins_sent_ = 0;
  int joins_ok_ = 0;
  int join_errors_ = 0;
  int close_code_ = 0;
  std::uint64_t ref_ = 0;
  std::uint64_t mask_state_;
  std::vector<char> buf_;
  std::size_t have_ = 0;
  std::string out_;
  std::string inflight_;
  std::string fragments_;
  std::string token_;
  std::uint64_t last_offset_[3] = {0, 0, 0};
};

void worker::add_client(int global_index) { clients_.push_back(std::make_shared<client>(*this, global_index)); }

void worker::start() {
  asio::post(io_, [this] {
    const auto per_worker = std::max(1, opts_.connect_concurrency / opts_.threads);
    for (int i = 0; i < per_worker; ++i) start_next();
    heartbeat_tick();
  });
}

void worker::start_next() {
  if (next_to_start_ < clients_.size()) clients_[next_to_start_++]->start();
}

void worker::connect_finished() {
  asio::post(io_, [this] { start_next(); });
}

// Every client heartbeats once per heartbeat period, spread over the period in 1 s ticks (supabase-js: 25 s).
void worker::heartbeat_tick() {
  const auto period = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(opts_.heartbeat_s));
  const std::uint64_t slot = hb_tick_++ % period;
  if (hb_tick_ > 1) {
    for (std::size_t i = slot; i < clients_.size(); i += period) clients_[i]->send_heartbeat();
  }
  hb_timer_.expires_after(std::chrono::seconds(1));
  hb_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) heartbeat_tick();
  });
  (void)index_;
}

void worker::resume_slow() {
  asio::post(io_, [this] {
    for (auto& c : clients_) c->resume();
  });
}

// ---- the publisher: POST /v1/events on keep-alive connections at a target rate ----

struct publisher_stats {
  std::atomic<std::uint64_t> posts{0};
  std::atomic<std::uint64_t> events{0};        // accepted by the server
  std::atomic<std::uint64_t> refused{0};       // items refused or requests not answered 202
  std::atomic<std::uint64_t> behind_ms{0};     // how far the schedule slipped, summed over posts
};

class publisher {
 public:
  publisher(asio::io_context& io, const options& o, int index, double rate, publisher_stats& stats)
      : io_(io), opts_(o), index_(index), rate_(rate), stats_(stats), socket_(io), timer_(io) {
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    token_ = service_token(o.secret, now, std::chrono::hours(24));
    if (o.payload_bytes > 0) pad_ = std::string(static_cast<std::size_t>(o.payload_bytes), 'x');
  }

  void start(clock_type::time_point until) {
    until_ = until;
    socket_.connect(tcp::endpoint(asio::ip::make_address(opts_.publish_host), opts_.publish_port));
    socket_.set_option(tcp::no_delay(true));
    next_ = clock_type::now();
    post_one();
  }

 private:
  void post_one() {
    const auto now = clock_type::now();
    if (now >= until_) return;
    if (now < next_) {
      timer_.expires_at(next_);
      timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) post_one();
      });
      return;
    }
    stats_.behind_ms.fetch_add(static_cast<std::uint64_t>(
                                   std::chrono::duration_cast<std::chrono::milliseconds>(now - next_).count()),
                               std::memory_order_relaxed);
    next_ += std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 * opts_.batch / rate_));
    if (next_ + std::chrono::seconds(1) < now) next_ = now;  // do not burst to catch up more than a second
    body_.clear();
    body_.push_back('[');
    const std::int64_t stamp = now_ns();
    for (int i = 0; i < opts_.batch; ++i) {
      const int doc = static_cast<int>((seq_++ * static_cast<std::uint64_t>(opts_.publishers) +
                                        static_cast<std::uint64_t>(index_)) %
                                       static_cast<std::uint64_t>(opts_.docs));
      if (i != 0) body_.push_back(',');
      body_.append(R"({"type":"wo","id":"d)").append(std::to_string(doc)).append(R"(","factoryId":"f)");
      body_.append(std::to_string(doc % opts_.factories)).append(R"(","action":"update","version":)");
      body_.append(std::to_string(stamp));
      if (!pad_.empty()) body_.append(R"(,"changedKeys":["note"],"patch":{"note":")").append(pad_).append("\"}");
      body_.push_back('}');
    }
    body_.push_back(']');
    request_ = "POST /v1/events HTTP/1.1\r\nHost: load\r\nAuthorization: Bearer " + token_ +
               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body_.size()) + "\r\n\r\n";
    request_.append(body_);
    asio::async_write(socket_, asio::buffer(request_), [this](boost::system::error_code ec, std::size_t) {
      if (ec) return failed("write " + ec.message());
      read_response();
    });
  }

  void read_response() {
    const auto end = response_.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::size_t length = 0;
      const auto cl = response_.find("Content-Length: ");
      if (cl != std::string::npos && cl < end) length = std::stoul(response_.substr(cl + 16));
      if (response_.size() >= end + 4 + length) {
        const std::string_view head(response_.data(), end);
        const std::string_view body(response_.data() + end + 4, length);
        stats_.posts.fetch_add(1, std::memory_order_relaxed);
        if (head.find(" 202 ") == std::string_view::npos) {
          stats_.refused.fetch_add(static_cast<std::uint64_t>(opts_.batch), std::memory_order_relaxed);
          if (errors_++ < 3) std::cerr << "publisher: " << head.substr(0, 60) << " " << body << "\n";
        } else {
          const std::uint64_t accepted = std::strtoul(body.data() + body.find(':') + 1, nullptr, 10);
          stats_.events.fetch_add(accepted, std::memory_order_relaxed);
          stats_.refused.fetch_add(static_cast<std::uint64_t>(opts_.batch) - accepted, std::memory_order_relaxed);
        }
        response_.erase(0, end + 4 + length);
        return post_one();
      }
    }
    const auto old = response_.size();
    response_.resize(old + 4096);
    socket_.async_read_some(asio::buffer(response_.data() + old, 4096),
                            [this, old](boost::system::error_code ec, std::size_t n) {
                              response_.resize(old + n);
                              if (ec) return failed("read " + ec.message());
                              read_response();
                            });
  }

  void failed(const std::string& why) { std::cerr << "publisher " << index_ << ": " << why << "\n"; }

  asio::io_context& io_;
  const options& opts_;
  const int index_;
  const double rate_;
  publisher_stats& stats_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::string token_;
  std::string pad_;
  std::string body_;
  std::string request_;
  std::string response_;
  clock_type::time_point next_;
  clock_type::time_point until_;
  std::uint64_t seq_ = 0;
  int errors_ = 0;
};

// ---- the run ----

struct fleet {
  explicit fleet(const options& o) : opts(o) {
    for (int t = 0; t < o.threads; ++t) workers.push_back(std::make_unique<worker>(o, shared, t));
    for (int i = 0; i < o.clients; ++i) workers[static_cast<std::size_t>(i % o.threads)]->add_client(o.first_client + i);
  }

  void start() {
    for (auto& w : workers) {
      w->start();
      threads.emplace_back([&w] { w->run(); });
    }
  }

  void stop() {
    for (auto& w : workers) w->stop();
    for (auto& t : threads) t.join();
    threads.clear();
  }

  template <typename F>
  std::uint64_t sum(F field) const {
    std::uint64_t n = 0;
    for (const auto& w : workers) n += (w->stats().*field).load(std::memory_order_relaxed);
    return n;
  }

  // Waits until every client joined, failed or the connect timeout passed. Returns the seconds it took.
  double wait_connected() {
    const auto t0 = clock_type::now();
    const auto deadline = t0 + std::chrono::duration<double>(opts.connect_timeout_s);
    auto last_report = t0;
    while (clock_type::now() < deadline) {
      if (sum(&worker_stats::finished) >= static_cast<std::uint64_t>(opts.clients)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (clock_type::now() - last_report > std::chrono::seconds(5)) {
        last_report = clock_type::now();
        std::cerr << opts.label << ": " << sum(&worker_stats::joined) << " joined, " << sum(&worker_stats::failed)
                  << " failed of " << opts.clients << "\n";
      }
    }
    return std::chrono::duration<double>(clock_type::now() - t0).count();
  }

  void report_failures() {
    std::map<std::string, std::uint64_t> all;
    for (auto& w : workers) {
      for (const auto& [why, n] : w->failures()) all[why] += n;
    }
    for (const auto& [why, n] : all) std::cerr << opts.label << ": " << n << " x " << why << "\n";
  }

  const options& opts;
  shared_state shared;
  std::vector<std::unique_ptr<worker>> workers;
  std::vector<std::thread> threads;
};

void report_connect(const options& o, fleet& f, double secs) {
  figure(o, "clients_joined", static_cast<double>(f.sum(&worker_stats::joined)), "connections");
  figure(o, "clients_failed", static_cast<double>(f.sum(&worker_stats::failed)), "connections");
  figure(o, "connect_seconds", secs, "s");
}

// Publishes for warmup + duration; returns the publisher stats and the delivered count of the measured window.
struct publish_window {
  std::uint64_t delivered = 0;
  double server_cpu_s = 0;  // CPU time the server process used in the window
  double load_cpu_s = 0;    // CPU time this generator used in the window
  std::uint64_t events = 0;
  std::uint64_t refused = 0;
  std::uint64_t posts = 0;
  double seconds = 0;
};

publish_window publish(const options& o, fleet& f, const std::function<void(double)>& each_second = {}) {
  asio::io_context pio(1);
  publisher_stats ps;
  std::vector<std::unique_ptr<publisher>> pubs;
  const auto start = clock_type::now();
  const auto warm_end = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.warmup_s));
  const auto end = warm_end + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.duration_s));
  for (int i = 0; i < (o.listen ? 0 : o.publishers); ++i) {
    pubs.push_back(std::make_unique<publisher>(pio, o, i, o.rate / o.publishers, ps));
    pubs.back()->start(end);
  }
  std::thread pt([&pio] { pio.run(); });
  publish_window w;
  while (clock_type::now() < warm_end) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  f.shared.measuring.store(true);
  const std::uint64_t d0 = f.sum(&worker_stats::delivered);
  const std::uint64_t e0 = ps.events.load();
  const std::uint64_t r0 = ps.refused.load();
  const std::uint64_t p0 = ps.posts.load();
  const double scpu0 = cpu_seconds(o.server_pid);
  const double lcpu0 = cpu_seconds(0);
  const auto t0 = clock_type::now();
  auto next_tick = t0 + std::chrono::seconds(1);
  while (clock_type::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (each_second && clock_type::now() >= next_tick) {
      next_tick += std::chrono::seconds(1);
      each_second(std::chrono::duration<double>(clock_type::now() - t0).count());
    }
  }
  w.delivered = f.sum(&worker_stats::delivered) - d0;
  w.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  if (o.server_pid > 0) w.server_cpu_s = cpu_seconds(o.server_pid) - scpu0;
  w.load_cpu_s = cpu_seconds(0) - lcpu0;
  f.shared.measuring.store(false);
  pt.join();  // publishers stop at `end` after their last answer
  w.events = ps.events.load() - e0;
  w.refused = ps.refused.load() - r0;
  w.posts = ps.posts.load() - p0;
  return w;
}

int run_throughput(const options& o) {
  fleet f(o);
  f.start();
  const double secs = f.wait_connected();
  report_connect(o, f, secs);
  f.report_failures();
  if (f.sum(&worker_stats::joined) == 0) {
    f.stop();
    return 1;
  }
  const long rss0 = rss_kib(o.server_pid);
  const auto w = publish(o, f);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // late deliveries count for gaps, not rates
  f.stop();
  latency_histogram lat;
  for (auto& wk : f.workers) lat.merge(wk->latency());
  figure(o, "published_events_per_s", static_cast<double>(w.events) / w.seconds, "events/s");
  figure(o, "delivered_msgs_per_s", static_cast<double>(w.delivered) / w.seconds, "msg/s");
  figure(o, "fanout_per_event", w.events == 0 ? 0.0 : static_cast<double>(w.delivered) / static_cast<double>(w.events),
         "msg/event");
  if (o.server_pid > 0 && w.delivered > 0) {
    // CPU the two processes used in the window: on a machine shared with other work, msg/s per core is the
    // figure that does not depend on what else ran.
    figure(o, "server_cpu_cores", w.server_cpu_s / w.seconds, "cores");
    figure(o, "server_cpu_per_msg", w.server_cpu_s * 1e9 / static_cast<double>(w.delivered), "ns");
    figure(o, "delivered_per_server_core_s", static_cast<double>(w.delivered) / w.server_cpu_s, "msg/s/core");
  }
  figure(o, "generator_cpu_cores", w.load_cpu_s / w.seconds, "cores");
  if (w.delivered > 0) figure(o, "generator_cpu_per_msg", w.load_cpu_s * 1e9 / static_cast<double>(w.delivered), "ns");
  figure(o, "latency_p50", static_cast<double>(lat.quantile_ns(0.50)) / 1e6, "ms");
  figure(o, "latency_p90", static_cast<double>(lat.quantile_ns(0.90)) / 1e6, "ms");
  figure(o, "latency_p99", static_cast<double>(lat.quantile_ns(0.99)) / 1e6, "ms");
  figure(o, "latency_max", static_cast<double>(lat.max_ns()) / 1e6, "ms");
  figure(o, "latency_samples", static_cast<double>(lat.count()), "msgs");
  figure(o, "events_refused", static_cast<double>(w.refused), "events");
  figure(o, "offset_gaps", static_cast<double>(f.sum(&worker_stats::gaps)), "msgs");
  figure(o, "closed_during_run", static_cast<double>(f.sum(&worker_stats::closed)), "connections");
  if (o.server_pid > 0) figure(o, "server_rss_growth", static_cast<double>(rss_kib(o.server_pid) - rss0), "KiB");
  return 0;
}

int run_idle(const options& o) {
  fleet f(o);
  f.start();
  const double secs = f.wait_connected();
  report_connect(o, f, secs);
  f.report_failures();
  std::printf("ready\n");
  std::fflush(stdout);
  const auto until = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.hold_s));
  while (clock_type::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto alive = f.sum(&worker_stats::open);
  const auto hb = f.sum(&worker_stats::heartbeats);
  const auto hb_replies = f.sum(&worker_stats::heartbeat_replies);
  f.stop();
  figure(o, "alive_after_hold", static_cast<double>(alive), "connections");
  figure(o, "held_seconds", o.hold_s, "s");
  figure(o, "heartbeats_sent", static_cast<double>(hb), "frames");
  figure(o, "heartbeats_answered", static_cast<double>(hb_replies), "frames");
  return 0;
}

int run_slow(const options& o) {
  fleet f(o);
  f.start();
  const double secs = f.wait_connected();
  report_connect(o, f, secs);
  f.report_failures();
  std::uint64_t slow = 0;
  for (int i = 0; i < o.clients; ++i) {
    if (is_slow(i, o.slow_fraction)) ++slow;
  }
  const long rss0 = rss_kib(o.server_pid);
  long rss_max = rss0;
  std::string series;
  f.shared.stalled.store(true);
  options po = o;
  po.warmup_s = 0;
  po.duration_s = o.stall_s;
  const auto w = publish(po, f, [&](double t) {
    const long r = rss_kib(o.server_pid);
    rss_max = std::max(rss_max, r);
    char s[64];
    std::snprintf(s, sizeof s, "%s%.0fs:%ldMiB", series.empty() ? "" : " ", t, r / 1024);
    series += s;
  });
  const long rss_end = rss_kib(o.server_pid);
  f.shared.stalled.store(false);
  for (auto& wk : f.workers) wk->resume_slow();
  // Let slow clients drain what their sockets hold, and see the close frame or the dropped socket.
  std::this_thread::sleep_for(std::chrono::seconds(7));
  const auto overflow = scrape_metric(o, "rtcache_queue_overflow_closes_total");
  f.stop();
  figure(o, "slow_clients", static_cast<double>(slow), "connections");
  figure(o, "fast_clients", static_cast<double>(static_cast<std::uint64_t>(o.clients) - slow), "connections");
  figure(o, "published_events", static_cast<double>(w.events), "events");
  figure(o, "closed_4008", static_cast<double>(f.sum(&worker_stats::close_4008)), "connections");
  figure(o, "closed_other_code", static_cast<double>(f.sum(&worker_stats::close_other)), "connections");
  figure(o, "dropped_without_close_frame", static_cast<double>(f.sum(&worker_stats::dropped_no_close)), "connections");
  if (overflow) figure(o, "server_queue_overflow_closes_total", *overflow, "connections");
  figure(o, "offset_gaps", static_cast<double>(f.sum(&worker_stats::gaps)), "msgs");
  if (o.server_pid > 0) {
    figure(o, "server_rss_start", static_cast<double>(rss0) / 1024.0, "MiB");
    figure(o, "server_rss_max", static_cast<double>(rss_max) / 1024.0, "MiB");
    figure(o, "server_rss_end_of_stall", static_cast<double>(rss_end) / 1024.0, "MiB");
    figure(o, "server_rss_after_drain", static_cast<double>(rss_kib(o.server_pid)) / 1024.0, "MiB");
    std::fprintf(stderr, "%s: server RSS each second: %s\n", o.label.c_str(), series.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace rtcache::load

int main(int argc, char** argv) {
  using namespace rtcache::load;
  const options o = parse_options_or_exit(argc, argv);
  try {
    std::optional<boost::asio::ssl::context> tls;
    if (o.tls_port != 0) {
      tls.emplace(boost::asio::ssl::context::tls_client);
      tls->set_verify_mode(boost::asio::ssl::verify_peer);
      tls->load_verify_file(o.ca_file);
      SSL_CTX_set_mode(tls->native_handle(), SSL_MODE_RELEASE_BUFFERS);  // thousands of idle clients
      g_tls = &*tls;
    }
    if (o.mode == "throughput") return run_throughput(o);
    if (o.mode == "idle") return run_idle(o);
    return run_slow(o);
  } catch (const std::exception& e) {
    std::cerr << "rtcache_load: " << e.what() << "\n";
    return 1;
  }
}
