// One WebSocket connection, the Beast side: accepts the upgrade, reads messages and hands them to the session
// logic (session_logic.hpp: every protocol decision), runs the commands it returns against the hub and the send
// queue (send_queue.hpp), writes queued frames (frame_writer.hpp), closes, and keeps the idle, token-expiry and
// close deadlines. Everything but deliver() runs on the connection's strand; deliver() runs on hub publisher
// threads and only offers the message to the send queue and posts. One implementation for ws:// and wss://: the
// stream under the WebSocket is a template parameter (a TCP socket, or Beast's SSL stream over TCP).
#include "frame_writer.hpp"
#include "send_queue.hpp"
#include "session_deadlines.hpp"
#include "session_logic.hpp"
#include "state.hpp"
#include "write_latency.hpp"
#include "write_serializer.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <variant>
#include <vector>

namespace rtcache::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

// A session whose writes a flush_scope held back: the scope's end lets it write.
class deferred_writer {
 public:
  virtual void end_deferral() = 0;

 protected:
  ~deferred_writer() = default;
};

// The sessions whose writes a flush_scope on this thread holds back (state.hpp), how deep the scopes nest, and
// the outermost scope's process-unique token (a session registers once per scope).
struct deferred_flushes {
  int depth = 0;
  std::uint64_t token = 0;
  std::vector<std::weak_ptr<deferred_writer>> sessions;
};
thread_local deferred_flushes t_deferred;
std::atomic<std::uint64_t> g_next_scope_token{1};

// The first read of each message asks Beast for at most this many bytes: Beast prepares the whole read size
// (1,536 bytes) in the dynamic buffer before it waits for data, and an idle connection would hold that buffer
// for as long as it idles. A heartbeat fits (v1 about 60 bytes, v2 about 40); the rest of a longer message is
// read after it.
constexpr std::size_t k_first_read_bytes = 128;
constexpr std::chrono::steady_clock::time_point k_never = session_logic::k_never;

// `NextLayer`: what the WebSocket runs over, a TCP socket (ws://) or beast::ssl_stream<beast::tcp_stream> (wss://).
template <class NextLayer>
class websocket_session final : public detail::session,
                                public detail::deadline_client,
                                public delivery_sink,
                                public deferred_writer,
                                public std::enable_shared_from_this<websocket_session<NextLayer>> {
  using std::enable_shared_from_this<websocket_session>::shared_from_this;
  using std::enable_shared_from_this<websocket_session>::weak_from_this;

 public:
  websocket_session(std::shared_ptr<gateway::state> gw, NextLayer stream, protocol::protocol_version v,
                    auth::principal who, address_slot address)
      : gw_(std::move(gw)),
        strand_(stream.get_executor()),
        ws_(std::move(stream)),
        address_(std::move(address)),
        queue_(gw_->config.limits.max_send_queue_bytes),
        logic_(gw_->env, v, gw_->next_connection_id.fetch_add(1, std::memory_order_relaxed), std::move(who),
               std::chrono::steady_clock::now()) {}

  ~websocket_session() override {
    gw_->deadlines->cancel(*this);  // first: the driver may be looking at the hook (keep_alive() returns null now)
    session_output out;
    logic_.on_disconnected(out);  // leave commands only
    for (auto& c : out.commands) {
      if (auto* leave = std::get_if<leave_command>(&c)) run_leave(*leave);  // no deliver() runs past this loop
    }
    address_.release();  // before the registry learns the session is gone (a drained gateway holds no count)
    gw_->remove(registry_id_);
    gw_->metrics.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  // `peer`: the client's address, for the open log line only (it travels with the accept, so that an idle session
  // does not keep it).
  void run(http::request<http::string_body> req, std::string peer) {
    registry_id_ = gw_->add(weak_from_this());
    // stop() may have looked at the registry between the upgrade's check and this line.
    if (gw_->stopping.load()) pending_close_ = true;
    asio::dispatch(strand_, [self = shared_from_this(), req = std::move(req), peer = std::move(peer)]() mutable {
      self->accept(std::move(req), std::move(peer));
    });
  }

  // Driver lock held: the session is kept alive while its deadline is handled; null once it is being destroyed.
  std::shared_ptr<void> keep_alive() noexcept override { return weak_from_this().lock(); }

  // Driver strand: a deadline passed. The session looks at its own times on its strand.
  void on_deadline() noexcept override {
    asio::post(strand_, [self = shared_from_this()] { self->on_deadlines(); });
  }

  void shutdown() override {
    asio::post(strand_, [self = shared_from_this()] { self->close_for_shutdown(); });
  }

  // Hub publisher thread, under the hub channel's lock. Never blocks beyond the send queue's lock, never calls
  // into the hub: the session logic decides what the message becomes on the channel (under that lock, with the
  // channel's principal), the queue holds or queues it, and a write or the 4008 close is posted to the strand.
  void deliver(channel_state& ch, const hub::hub_message_ptr& m) noexcept override {
    const std::uint64_t scope = t_deferred.depth > 0 ? t_deferred.token : 0;
    const auto r = queue_.offer(ch.gate, scope,
                                [&](const auth::principal& who, frame_set& fs) { logic_.frames_for(ch, who, m, fs); });
    if (r.deferred) t_deferred.sessions.push_back(weak_from_this());  // released when the scope ends
    if (r.overflow) {
      asio::post(strand_, [w = weak_from_this()] {
        if (auto s = w.lock()) s->close_for_overflow();
      });
    } else if (r.flush) {
      post_write(weak_from_this());
    }
  }

  // Hub publisher thread, under the hub channel's lock (hub::reset). Closing the gate drops every later delivery
  // of the channel, so none of the new epoch follows what the client holds; the strand then leaves the channel
  // and queues phx_error after the frames already queued. (Should the channel be left and its topic joined again
  // at the same address before the strand runs this, the new join is errored too: the client rejoins once more.)
  void reset(channel_state& ch) noexcept override {
    queue_.close_channel(ch.gate);
    asio::post(strand_, [w = weak_from_this(), ch = &ch] {
      auto self = w.lock();
      if (!self) return;
      self->when_not_waiting([s = self.get(), ch] {
        session_output next;
        s->logic_.on_channel_reset(*ch, next);
        s->run(next);
      });
    });
  }

  // Any thread: the end of a flush_scope that held this session's writes back. Schedules the write.
  void end_deferral() override {
    queue_.end_deferral();
    post_write(weak_from_this());
  }

  // Any thread. Runs do_write on the session's strand if the session still exists.
  static void post_write(std::weak_ptr<websocket_session> w) {
    auto s = w.lock();
    if (!s) return;
    asio::post(s->strand_, [w = std::move(w)] {
      if (auto self = w.lock()) self->do_write();
    });
  }

 private:
  session_time times() const { return {std::chrono::steady_clock::now(), gw_->now()}; }

  // ---- running the session logic's commands (strand) ----

  // Runs `out`'s commands in order. A command that hands a call to the node's blocking threads (begin_wait) stops
  // the run: the rest wait for the call's answer (end_wait).
  void run(session_output& out) {
    bool queued = false;  // frames were queued: start a write once the commands ran
    for (auto it = out.commands.begin(); it != out.commands.end(); ++it) {
      if (wait_) {
        wait_->backlog.insert(wait_->backlog.end(), std::make_move_iterator(it),
                              std::make_move_iterator(out.commands.end()));
        break;
      }
      std::visit([&](auto& c) { run_command(c, queued); }, *it);
    }
    if (out.deadline_changed) rearm_deadline();
    if (queued) do_write();
  }

  // ---- calls that may wait on the network (serving_node::run_blocking) ----
  // A join the node may answer from the stream, or a client broadcast a cluster node publishes to JetStream, runs on
  // the node's blocking threads, so that this connection's wait stalls no other connection on its io thread. While
  // it runs the session reads nothing more, the commands after it wait, and so does every strand event that reaches
  // the session logic (a channel reset, a deadline, a close): the logic sees what it would see had the call run on
  // the strand. Writes of what is already queued go on.

  // What waits for the call in flight, in order. Allocated only while a call waits: an idle session holds a null.
  struct waiting_for_node {
    std::vector<session_command> backlog;     // the commands after the call
    std::vector<std::function<void()>> held;  // strand events that reach the logic
    bool read = false;                        // the next read
    bool deadlines = false;                   // on_deadlines() is in `held`
  };

  // Strand: `work` runs on the node's blocking threads and posts its answer to the strand, where the answer is
  // handled and end_wait() called. False: the node admits no more calls, nothing was started.
  bool begin_wait(std::function<void()> work) {
    if (!gw_->node->run_blocking(std::move(work))) return false;
    wait_ = std::make_unique<waiting_for_node>();
    return true;
  }

  // Strand, from the answer's handler, which ran with the wait already over (answered()): what waited behind the
  // call runs, in order, until a command starts another wait (which then holds the rest).
  void end_wait(std::unique_ptr<waiting_for_node> done) {
    // The client was not silent: the session did not read while it waited.
    last_activity_ = std::chrono::steady_clock::now();
    session_output rest{std::move(done->backlog), false};
    run(rest);
    for (auto it = done->held.begin(); it != done->held.end(); ++it) {
      if (wait_) {
        wait_->held.insert(wait_->held.begin(), std::make_move_iterator(it), std::make_move_iterator(done->held.end()));
        break;
      }
      (*it)();
    }
    if (!done->read) return;
    if (wait_) {
      wait_->read = true;
    } else {
      do_read();
    }
  }

  // Strand: the call in flight was answered; its handler runs next, then end_wait() with what this returns.
  std::unique_ptr<waiting_for_node> answered() { return std::move(wait_); }

  // Strand: runs `event` now, or once the call in flight was answered. `event` may capture `this` (what waits is the
  // session's own).
  void when_not_waiting(std::function<void()> event) {
    if (wait_) return wait_->held.push_back(std::move(event));
    event();
  }

  void run_command(send_command& c, bool& queued) {
    out_frame f = out_frame::text(std::move(c.frame));
    if (c.join_received) {
      f.since = *c.join_received;
      f.latency = out_frame::timed::join_reply;
    }
    if (!queue_.push(std::move(f))) close_for_overflow();
    queued = true;
  }
  void run_command(subscribe_command& c, bool&) { run_subscribe(c); }
  void run_command(open_command& c, bool& queued) {
    if (!queue_.open(c.channel->gate, c.frames)) close_for_overflow();
    queued = true;
  }
  void run_command(leave_command& c, bool&) { run_leave(c); }
  void run_command(principal_command& c, bool&) { queue_.set_principal(c.channel->gate, std::move(c.who)); }
  void run_command(publish_command& c, bool&) { run_publish(c); }
  void run_command(close_command& c, bool&) { begin_close(c.code, c.reason, c.overflow); }

  void run_subscribe(subscribe_command& c) {
    // A close that started while the commands before this one ran leaves no channel to subscribe.
    if (close_started_ || torn_down_) return;
    c.channel->sink = this;
    session_output next;
    if (auto why = gw_->node->not_ready()) {  // a cluster node catching up with its stream, or cut from NATS
      logic_.on_node_not_ready(c, *why, next);
      return run(next);
    }
    if (!gw_->node->join_may_block(c.resume))
      return joined(c, gw_->node->join(c.channel->hub_name, c.channel->view, c.channel, c.resume));
    const bool started = begin_wait([self = shared_from_this(), c] {
      auto view = self->gw_->node->join(c.channel->hub_name, c.channel->view, c.channel, c.resume);
      asio::post(self->strand_, [self, c = std::move(c), view = std::move(view)]() mutable {
        auto done = self->answered();
        self->joined(c, std::move(view));
        self->end_wait(std::move(done));
      });
    });
    if (started) return;
    logic_.on_node_not_ready(c, k_node_busy, next);  // the client retries, as after any refusal of its join
    run(next);
  }

  // Strand: the node's answer to the join `c`.
  void joined(subscribe_command& c, core::result<hub::hub_join> view) {
    session_output next;
    if (!view) {
      logic_.on_subscribe_refused(c, next);
    } else {
      std::vector<hub::hub_subscription> tables;
      tables.reserve(c.tables.size());
      for (const auto& name : c.tables) tables.push_back(gw_->the_hub.subscribe(name, c.channel).subscription);
      logic_.on_subscribed(c, std::move(*view), std::move(tables), times(), next);
    }
    run(next);
  }

  void run_leave(leave_command& c) noexcept {
    queue_.close_channel(c.channel->gate);
    c.subscription.unsubscribe();
    c.tables.clear();
  }

  // A client broadcast goes where the node's relay ingest goes (serving_node::ingest): into the hub on a single
  // node, to the ingest stream on a cluster node (replied ok only once acknowledged there).
  void run_publish(publish_command& c) {
    if (!gw_->node->ingest_may_block()) return published(c, publish(*gw_, c, logic_.connection_id()));
    const bool started = begin_wait([self = shared_from_this(), c, origin = logic_.connection_id()] {
      auto failure = publish(*self->gw_, c, origin);
      asio::post(self->strand_, [self, c = std::move(c), failure = std::move(failure)] {
        auto done = self->answered();
        self->published(c, failure);
        self->end_wait(std::move(done));
      });
    });
    if (!started)
      published(c, core::error{core::errc::too_many, "relay ingest not accepted: " + std::string(k_node_busy)});
  }

  // Any thread: publishes the client broadcast `c` of connection `origin` through the node; the failure, if any.
  static std::optional<core::error> publish(gateway::state& gw, const publish_command& c, std::uint64_t origin) {
    const ingest::relay_message m{.channel = c.channel->hub_name,
                                  .event = c.event,
                                  .payload = c.payload,
                                  .factory = c.factory_id,
                                  .raw = c.raw,
                                  .origin = origin};
    core::result<std::uint64_t> put = std::uint64_t{0};
    const auto sent = gw.node->ingest([&](ingest::relay_target& to) { put = ingest::put_message(to, m); });
    if (!put) return put.error();
    if (!sent) return sent.error();
    return std::nullopt;
  }

  // Strand: the node's answer to the client broadcast `c`.
  void published(const publish_command& c, const std::optional<core::error>& failure) {
    session_output next;
    logic_.on_published(c, failure ? &*failure : nullptr, next);
    run(next);
  }

  void close_for_overflow() {
    if (wait_) return when_not_waiting([this] { close_for_overflow(); });
    if (close_started_ || torn_down_) return;
    session_output out;
    logic_.on_queue_overflow(out);
    run(out);
  }

  void close_for_shutdown() {
    if (wait_) return when_not_waiting([this] { close_for_shutdown(); });
    if (close_started_ || torn_down_) return;
    session_output out;
    logic_.on_shutdown(out);
    run(out);
  }

  // ---- accept, read ----

  void accept(http::request<http::string_body> req, std::string peer) {
    const auto& limits = gw_->config.limits;
    websocket::stream_base::timeout t{};
    t.handshake_timeout = limits.handshake_timeout;
    t.idle_timeout = websocket::stream_base::none();  // our own idle deadline below: Phoenix's rule, not pings
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.read_message_max(limits.max_frame_bytes);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "rtcache"); }));
    ws_.async_accept(req,
                     beast::bind_front_handler(&websocket_session::on_accept, shared_from_this(), std::move(peer)));
  }

  void on_accept(const std::string& peer, beast::error_code ec) {
    if (ec) return fail(ec, "accept");
    open_ = true;
    gw_->metrics.connections_total.Increment();
    gw_->log.info("ws.open", {{"conn", logic_.connection_id()},
                              {"peer", peer},
                              {"vsn", to_string(logic_.version())},
                              {"role", to_string(logic_.connection_principal().role)},
                              {"sub", logic_.connection_principal().subject}});
    if (pending_close_) close_for_shutdown();
    last_activity_ = std::chrono::steady_clock::now();
    rearm_deadline();
    do_read();
  }

  void do_read() {
    ws_.async_read_some(rbuf_, k_first_read_bytes,
                        beast::bind_front_handler(&websocket_session::on_read_some, shared_from_this()));
  }

  void on_read_some(beast::error_code ec, std::size_t bytes) {
    if (!ec && !ws_.is_message_done()) {
      return ws_.async_read(rbuf_, beast::bind_front_handler(&websocket_session::on_read, shared_from_this()));
    }
    on_read(ec, bytes);
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec, "read");
    last_activity_ = std::chrono::steady_clock::now();
    gw_->metrics.messages_in_total.Increment();
    if (!close_started_) {
      const auto data = rbuf_.cdata();
      session_output out;
      logic_.on_message(std::string_view(static_cast<const char*>(data.data()), data.size()), !ws_.got_text(), times(),
                        out);
      run(out);
    }
    rbuf_.consume(rbuf_.size());
    // Inbound messages are rare (joins, a heartbeat every 25 s): an idle connection keeps no read buffer.
    rbuf_.shrink_to_fit();
    if (wait_) {
      wait_->read = true;  // the next message is read once the call in flight was answered (end_wait)
      return;
    }
    do_read();
  }

  // ---- write ----

  // Writes the next batch of queued frames in one gather write (frame_writer.hpp).
  void do_write() {
    if (write_failed_) return;
    switch (queue_.take(writer_.batch(), open_ && !torn_down_)) {
      case send_queue::take_result::busy: return;
      case send_queue::take_result::drained: return writer_.release();
      case send_queue::take_result::batch: break;
    }
    // One write of the whole batch, in turn with Beast's pongs and close frame (write_serializer.hpp); not
    // asio::async_write, which would hand the serializer the batch 64 KiB at a time.
    ws_.next_layer().async_write_some(std::span<const asio::const_buffer>(writer_.gather()),
                                      beast::bind_front_handler(&websocket_session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t bytes) {
    const std::size_t frames = writer_.batch().size();
    write_latencies latencies;
    if (!ec) tally_written(writer_.batch(), std::chrono::steady_clock::now(), latencies);
    queue_.written(writer_.batch());
    writer_.written();
    if (ec) {
      if (!wait_) return fail(ec, "write");
      write_failed_ = true;  // no more writes; the teardown waits for the call in flight
      return when_not_waiting([this, ec] { fail(ec, "write"); });
    }
    gateway_metrics::add(gw_->metrics.messages_out_total, frames);
    gateway_metrics::add(gw_->metrics.bytes_out_total, bytes);
    latencies.flush(gw_->metrics);
    if (close_started_) return maybe_close();
    do_write();
  }

  // ---- close ----

  // Runs a close_command (its leave commands follow): drops the queue, sends the close frame once no write is in
  // flight, and drops the socket if the close does not finish in time.
  void begin_close(std::uint16_t code, std::string_view reason, bool overflow) {
    if (close_started_ || torn_down_) return;
    close_started_ = true;
    if (overflow) {
      gw_->metrics.queue_overflow_closes_total.Increment();
      gw_->log.warn("ws.queue_overflow",
                    {{"conn", logic_.connection_id()}, {"limit", gw_->config.limits.max_send_queue_bytes}});
    }
    queue_.close();
    close_code_ = code;
    close_text_ = reason;
    if (!open_) {
      pending_close_ = true;  // the handshake is still running; close when it completes
      close_started_ = false;
      return;
    }
    // The close frame goes out after the write in flight. On overflow that write is usually stuck on a
    // client that stopped reading, and the close frame then waits behind it on the same full socket: bound
    // the whole close by the idle timeout (the queue is already dropped, so only the frames of that one
    // write stay in memory), so that a client that resumes reading still gets 4008. Any other close is
    // bounded by close_timeout from the moment its close frame is sent.
    overflow_close_ = overflow;
    const auto& limits = gw_->config.limits;
    arm_close_timer(overflow ? std::max(limits.idle_timeout, limits.close_timeout) : limits.close_timeout);
    maybe_close();
  }

  // Drops the socket if the close has not finished `after` from now.
  void arm_close_timer(std::chrono::steady_clock::duration after) {
    close_at_ = std::chrono::steady_clock::now() + after;
    rearm_deadline();
  }

  void maybe_close() {
    if (close_sent_ || queue_.writing()) return;
    close_sent_ = true;
    if (!overflow_close_) arm_close_timer(gw_->config.limits.close_timeout);
    ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_text_),
                    [self = shared_from_this()](beast::error_code) {});
  }

  // The connection is over (read failed: closed by either side, timeout, error). Idempotent.
  void fail(beast::error_code ec, std::string_view what) {
    if (torn_down_) return;
    torn_down_ = true;
    queue_.close();
    session_output out;
    logic_.on_disconnected(out);
    run(out);
    close_at_ = k_never;
    rearm_deadline();  // unlinks: torn down
    beast::error_code ignored;
    socket().close(ignored);
    gw_->log.info("ws.close", {{"conn", logic_.connection_id()},
                               {"where", what},
                               {"reason", ec.message()},
                               {"close_code", static_cast<unsigned>(close_code_)}});
  }

  // ---- deadlines ----
  // One hook in the gateway's deadline wheel (session_deadlines.hpp) stands for the idle timeout (from the
  // upgrade on), the token expiry (session_logic::expiry_at, while channels are joined) and the close timeout
  // (while closing); it is linked at the earliest of them. Activity does not relink it: when it fires,
  // on_deadlines() looks at the times and relinks at the next one.

  void rearm_deadline() {
    auto at = k_never;
    if (!torn_down_ && !dropped_) {
      if (open_) at = last_activity_ + gw_->config.limits.idle_timeout;
      at = std::min({at, logic_.expiry_at(), close_at_});
    }
    if (at == linked_at_) return;
    linked_at_ = at;
    if (at == k_never) {
      gw_->deadlines->cancel(*this);
    } else {
      gw_->deadlines->schedule(*this, at);
    }
  }

  void on_deadlines() {
    linked_at_ = k_never;  // the wheel unlinked the hook when it fired (or a relink raced: linked again below)
    if (wait_) {
      // Looked at once the call in flight was answered (no read meanwhile: the client is not idle).
      if (!std::exchange(wait_->deadlines, true)) wait_->held.push_back([this] { on_deadlines(); });
      return;
    }
    if (torn_down_ || dropped_) return;
    const auto now = std::chrono::steady_clock::now();
    if (close_at_ <= now) return drop_socket();  // the close did not finish in time
    if (open_ && now - last_activity_ >= gw_->config.limits.idle_timeout) {
      gw_->metrics.idle_closes_total.Increment();
      gw_->log.info("ws.idle_timeout", {{"conn", logic_.connection_id()}});
      return drop_socket();
    }
    if (logic_.expiry_at() <= now) {
      session_output out;
      logic_.on_expiry_due({now, gw_->now()}, out);
      run(out);
    }
    rearm_deadline();
  }

  // Ends the connection from a deadline: the pending read fails and fail() tears down.
  void drop_socket() {
    dropped_ = true;
    beast::error_code ignored;
    socket().close(ignored);
  }

  asio::ip::tcp::socket& socket() noexcept {
    if constexpr (std::is_same_v<NextLayer, asio::ip::tcp::socket>) {
      return ws_.next_layer().next_layer();
    } else {
      return beast::get_lowest_layer(ws_).socket();
    }
  }

  // Constant after construction.
  const std::shared_ptr<gateway::state> gw_;
  const asio::any_io_executor strand_;
  // ws://: a plain socket, not a beast::tcp_stream: its timers and impl would cost every idle connection memory,
  // and the timeouts here are the WebSocket stream's (handshake) and the session's own (idle, close, expiry).
  // wss://: the SSL stream the HTTP side did the TLS handshake on (its tcp_stream's timer no longer armed).
  // Between the two, the write_serializer: the gateway's batches and Beast's own frames take turns on the transport.
  websocket::stream<write_serializer<NextLayer>, false> ws_;  // no permessage-deflate (never enabled): not kept
  address_slot address_;  // this connection's count against limits.max_connections_per_ip
  std::uint64_t registry_id_ = 0;

  // Shared with deliver() (thread-safe): declared before the logic, so that it outlives the logic's channels.
  send_queue queue_;

  // Strand only.
  session_logic logic_;
  frame_writer writer_;
  beast::flat_buffer rbuf_;
  std::chrono::steady_clock::time_point last_activity_{};
  std::chrono::steady_clock::time_point close_at_ = k_never;   // a started close is given up
  std::chrono::steady_clock::time_point linked_at_ = k_never;  // where the hook is linked in the wheel
  std::string_view close_text_;                                // a string literal (close_command::reason)
  std::uint16_t close_code_ = 0;
  bool close_started_ = false;
  bool close_sent_ = false;
  bool overflow_close_ = false;  // the close is a 4008: bounded by the idle timeout, not close_timeout
  bool pending_close_ = false;
  bool torn_down_ = false;
  bool dropped_ = false;       // a deadline closed the socket: no more deadlines
  bool open_ = false;          // the upgrade completed
  bool write_failed_ = false;  // a write failed while a call waited: no more writes, fail() waits with the call
  // Set while a call runs on the node's blocking threads (begin_wait): what waits for its answer.
  std::unique_ptr<waiting_for_node> wait_;
};

}  // namespace

namespace detail {

flush_scope::flush_scope() noexcept {
  if (t_deferred.depth++ == 0) t_deferred.token = g_next_scope_token.fetch_add(1, std::memory_order_relaxed);
}

flush_scope::~flush_scope() {
  if (--t_deferred.depth > 0) return;
  std::vector<std::weak_ptr<deferred_writer>> sessions;
  sessions.swap(t_deferred.sessions);
  for (const auto& w : sessions) {
    if (auto s = w.lock()) s->end_deferral();
  }
}

}  // namespace detail

void start_websocket_session(std::shared_ptr<gateway::state> gw, beast::tcp_stream stream,
                             http::request<http::string_body> request, protocol::protocol_version version,
                             auth::principal who, std::string peer, address_slot address) {
  auto s = std::make_shared<websocket_session<asio::ip::tcp::socket>>(std::move(gw), stream.release_socket(), version,
                                                                      std::move(who), std::move(address));
  s->run(std::move(request), std::move(peer));
}

void start_websocket_session(std::shared_ptr<gateway::state> gw, beast::ssl_stream<beast::tcp_stream> stream,
                             http::request<http::string_body> request, protocol::protocol_version version,
                             auth::principal who, std::string peer, address_slot address) {
  auto s = std::make_shared<websocket_session<beast::ssl_stream<beast::tcp_stream>>>(
      std::move(gw), std::move(stream), version, std::move(who), std::move(address));
  s->run(std::move(request), std::move(peer));
}

}  // namespace rtcache::gateway
