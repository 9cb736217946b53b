// One WebSocket connection speaking the Supabase Realtime protocol. Everything but deliver() runs on the
// connection's strand; deliver() runs on hub publisher threads and only enqueues under mu_ and posts.
//
// Ordering of a join: the hub subscription is made live first, while deliveries for the new channel are held
// (channel_state::ready == false); then, under mu_, the join reply, the replay, the "Subscribed to
// PostgreSQL" push and the held deliveries are queued in that order and the channel is marked ready. Nothing
// committed after the reply is missed, and nothing overtakes the reply.
//
// Isolation (issue 11, docs/security.md): a scoped connection joins a doc: channel's view of its factory scope
// (hub.hpp), so its positions count only what it may see; every message on a contract channel is tagged with a
// factory (client broadcasts there need service_role and name one); private channels (config.private:true) are
// separate hub channels authorised by channel_access; client broadcasts are allowed by broadcast.from_clients and
// bounded per connection (rate_limit.hpp).
//
// postgres_changes (design.md §3): on a contract channel a binding receives the records attached to that
// channel's own messages; on any other channel the session also subscribes the channel to the internal
// per-table channels its bindings name (hub_sink.hpp). Either way the hub message's factory is checked first
// (may_deliver), then the bindings are evaluated and the push is framed with this channel's matching ids.
#include "session_deadlines.hpp"
#include "state.hpp"

#include "rtcache/core/channel_key.hpp"
#include "rtcache/net/hub_sink.hpp"
#include "rtcache/net/postgres_delivery.hpp"
#include "rtcache/net/protocol_join.hpp"
#include "rtcache/net/rate_limit.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <vector>

namespace rtcache::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

class websocket_session;

// A frame waiting to be written: either one of a shared hub message's frames, or a frame of this connection.
struct out_frame {
  hub_message_ptr message;              // keeps *shared alive
  const std::string* shared = nullptr;  // points into message->frames
  std::string owned;
  bool binary = false;

  std::string_view bytes() const noexcept { return shared != nullptr ? std::string_view(*shared) : owned; }
};

// The send queue: a FIFO that owns no memory while empty (a std::deque allocates ~580 bytes on construction,
// which every idle connection would pay) and gives back a large buffer once drained.
class frame_fifo {
 public:
  bool empty() const noexcept { return head_ == frames_.size(); }
  std::size_t size() const noexcept { return frames_.size() - head_; }
  out_frame& front() noexcept { return frames_[head_]; }
  void push_back(out_frame f) { frames_.push_back(std::move(f)); }
  void pop_front() noexcept {
    ++head_;
    if (head_ == frames_.size()) {
      clear();
    } else if (head_ >= 64 && head_ * 2 >= frames_.size()) {  // compact: amortised O(1) per frame
      frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() noexcept {
    frames_.clear();
    head_ = 0;
    if (frames_.capacity() > k_keep_capacity) std::vector<out_frame>().swap(frames_);
  }
  auto begin() const noexcept { return frames_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() const noexcept { return frames_.end(); }

 private:
  static constexpr std::size_t k_keep_capacity = 16;
  std::vector<out_frame> frames_;
  std::size_t head_ = 0;
};

// One joined topic. The strand owns it; the fields marked below are shared with deliver().
struct channel_state {
  // Constant after the join.
  std::string topic;     // "realtime:<name>"
  std::string name;      // the channel's name as the client knows it
  std::string hub_name;  // the hub channel: `name`, or its private channel (private_hub_channel)
  std::optional<std::string> join_ref;
  std::optional<core::channel_key> key;  // set for contract channels (doc:, list:, factory:)
  bool is_private = false;               // joined with config.private:true (never for contract channels)
  // The hub view joined: the principal's scope on a doc: channel, unscoped on every other channel.
  core::factory_scope view = core::factory_scope::unscoped();
  bool self = false;
  bool ack = false;
  std::vector<postgres_binding> bindings;  // postgres_changes, as joined (ids assigned)

  // Guarded by websocket_session::mu_.
  std::shared_ptr<const principal> who;
  bool ready = false;   // join reply queued: deliveries go to the send queue, not to `held`
  bool closed = false;  // left or revoked: deliveries are dropped
  std::vector<out_frame> held;  // counted in queued_bytes_
};

// The hub's handle on one channel of a connection. Holds a plain pointer: the session unsubscribes every
// channel (which waits for a running deliver() to return) before it is destroyed.
class channel_subscriber final : public hub_subscriber {
 public:
  channel_subscriber(websocket_session* s, std::shared_ptr<channel_state> st) : session_(s), state_(std::move(st)) {}
  void deliver(const hub_message_ptr& message) noexcept override;

 private:
  websocket_session* const session_;
  const std::shared_ptr<channel_state> state_;
};

// The hub view a principal joins on a channel: its scope's on a doc: channel (events there are filtered per
// message, so positions must be per class), the unscoped view elsewhere (list:/factory: joins are refused
// outside the scope and carry one factory; other channels carry no factory).
core::factory_scope view_for(const principal& who, const std::optional<core::channel_key>& key) {
  if (key && key->kind == core::channel_kind::doc) return who.scope;
  return core::factory_scope::unscoped();
}

bool same_view(const core::factory_scope& a, const core::factory_scope& b) noexcept {
  return a.is_unscoped() == b.is_unscoped() && a.factory_ids() == b.factory_ids();
}

// The sessions whose writes a flush_scope on this thread holds back (state.hpp), how deep the scopes nest, and
// the outermost scope's process-unique token (a session registers once per scope).
struct deferred_flushes {
  int depth = 0;
  std::uint64_t token = 0;
  std::vector<std::weak_ptr<websocket_session>> sessions;
};
thread_local deferred_flushes t_deferred;
std::atomic<std::uint64_t> g_next_scope_token{1};

constexpr std::uint16_t k_close_queue_overflow = 4008;
constexpr std::size_t k_write_batch_frames = 256;        // frames per gather write
constexpr std::size_t k_write_batch_bytes = 256 * 1024;  // payload bytes per gather write (one frame may exceed it)
constexpr std::size_t k_copy_below = 1024;               // payloads copied into the write buffer rather than gathered
constexpr std::size_t k_keep_write_buffer = 1024;        // a larger write buffer is freed after its write
// The first read of each message asks Beast for at most this many bytes: Beast prepares the whole read size
// (1,536 bytes) in the dynamic buffer before it waits for data, and an idle connection would hold that buffer
// for as long as it idles. A heartbeat fits (v1 about 60 bytes, v2 about 40); the rest of a longer message is
// read after it.
constexpr std::size_t k_first_read_bytes = 128;
constexpr std::chrono::steady_clock::time_point k_never = std::chrono::steady_clock::time_point::max();
// The longest token-expiry wait a connection arms (a connection lives far shorter; heartbeats re-check anyway).
constexpr std::chrono::hours k_max_expiry_wait{24 * 365 * 10};

class websocket_session final : public detail::session,
                                public detail::deadline_client,
                                public std::enable_shared_from_this<websocket_session> {
 public:
  websocket_session(std::shared_ptr<gateway::state> gw, beast::tcp_stream stream, protocol_version v, principal who,
                    std::string peer, address_slot address)
      : gw_(std::move(gw)),
        strand_(stream.get_executor()),
        ws_(stream.release_socket()),
        version_(v),
        id_(gw_->next_connection_id.fetch_add(1, std::memory_order_relaxed)),
        peer_(std::move(peer)),
        address_(std::move(address)),
        principal_(std::make_shared<const principal>(std::move(who))),
        joins_(gw_->config.limits.joins_per_second, gw_->config.limits.join_burst, std::chrono::steady_clock::now()),
        broadcasts_(gw_->config.limits.client_broadcasts, std::chrono::steady_clock::now()) {}

  ~websocket_session() override {
    gw_->deadlines->cancel(*this);  // first: the driver may be looking at the hook (keep_alive() returns null now)
    channels_.clear();  // unsubscribes: no deliver() runs past this line
    address_.release();  // before the registry learns the session is gone (a drained gateway holds no count)
    gw_->remove(registry_id_);
    gw_->metrics.connections.fetch_sub(1, std::memory_order_relaxed);
  }

  void run(http::request<http::string_body> req) {
    registry_id_ = gw_->add(weak_from_this());
    // stop() may have looked at the registry between the upgrade's check and this line.
    if (gw_->stopping.load()) pending_close_ = true;
    asio::dispatch(strand_, [self = shared_from_this(), req = std::move(req)]() mutable { self->accept(std::move(req)); });
  }

  // Driver lock held: the session is kept alive while its deadline is handled; null once it is being destroyed.
  std::shared_ptr<void> keep_alive() noexcept override { return weak_from_this().lock(); }

  // Driver strand: a deadline passed. The session looks at its own times on its strand.
  void on_deadline() noexcept override {
    asio::post(strand_, [self = shared_from_this()] { self->on_deadlines(); });
  }

  void shutdown() override {
    asio::post(strand_, [self = shared_from_this()] { self->begin_close(websocket::close_code::going_away, "server shutting down"); });
  }

  // Hub publisher thread. Never blocks beyond mu_, never calls into the hub.
  void deliver(channel_state& st, const hub_message_ptr& m) noexcept {
    bool post_flush = false;
    bool post_overflow = false;
    bool deferred = false;
    {
      std::lock_guard lock(mu_);
      if (closing_ || st.closed) return;
      frame_set fs;
      frames_for(st, m, fs);
      for (std::size_t i = 0; i < fs.n && !post_overflow; ++i) {
        if (!st.ready) {
          const admission a = admit_locked(fs.f[i].bytes().size());
          if (a == admission::ok) st.held.push_back(std::move(fs.f[i]));
          post_overflow = a == admission::overflow;
        } else {
          post_overflow = !enqueue_locked(std::move(fs.f[i]));
        }
      }
      if (!post_overflow && !queue_.empty()) {
        if (t_deferred.depth > 0 && deferral_token_ != t_deferred.token) {
          deferral_token_ = t_deferred.token;
          ++deferrals_;
          deferred = true;
        }
        if (!writing_ && !flush_posted_ && !hold_writes_locked()) {
          flush_posted_ = true;
          post_flush = true;
        }
      }
    }
    if (deferred) t_deferred.sessions.push_back(weak_from_this());  // released when the scope ends
    if (post_overflow) {
      asio::post(strand_, [w = weak_from_this()] {
        if (auto s = w.lock()) s->begin_close(k_close_queue_overflow, "send queue overflow", true);
      });
    } else if (post_flush) {
      post_write(weak_from_this());
    }
  }

  // Any thread: the end of a flush_scope that held this session's writes back. Schedules the write.
  static void end_deferral(const std::weak_ptr<websocket_session>& w) {
    auto s = w.lock();
    if (!s) return;
    {
      std::lock_guard lock(s->mu_);
      --s->deferrals_;
    }
    post_write(w);
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
  struct joined {
    std::shared_ptr<channel_state> state;
    hub_subscription subscription;
    std::vector<hub_subscription> tables;  // per-table postgres_changes channels (non-contract channels only)
  };

  // What one hub message becomes on one channel: up to a broadcast frame and a postgres_changes push.
  struct frame_set {
    std::array<out_frame, 2> f;
    std::size_t n = 0;
  };

  // ---- send queue (mu_) ----

  // Frame selection: v1 gets its text; v2 its text, or the kind-4 binary when the payload is raw bytes.
  const std::string* select(const hub_frames& f) const noexcept {
    if (version_ == protocol_version::v1_0_0) return f.v1_text.empty() ? nullptr : &f.v1_text;
    if (!f.v2_text.empty()) return &f.v2_text;
    return f.v2_binary.empty() ? nullptr : &f.v2_binary;
  }

  // REQUIRES mu_. The frames `m` becomes on channel `st`: nothing unless the factory scope of the channel's
  // principal admits the message's factory (design.md §4) and `self` allows it; then the shared frame this
  // connection's version can carry (if any), then, when the message carries a postgres_changes record that
  // some of the channel's bindings match, a push framed with their ids (per channel: ids differ).
  void frames_for(const channel_state& st, const hub_message_ptr& m, frame_set& out) const {
    if (!m->meta.factory_id.empty() && !may_deliver(*st.who, m->meta.factory_id)) return;
    // Every message on a contract channel carries a factory (ingest refuses untagged ones); should one ever come
    // without, only an unscoped connection may have it.
    if (st.key && m->meta.factory_id.empty() && !st.who->scope.is_unscoped()) return;
    if (m->meta.origin == id_ && !st.self) return;
    if (const std::string* shared = select(m->frames)) {
      out_frame& f = out.f[out.n++];
      f.shared = shared;
      f.binary = shared == &m->frames.v2_binary;
      f.message = m;
    }
    if (m->change && !st.bindings.empty()) {
      const auto ids = matching_binding_ids(st.bindings, *m->change);
      if (!ids.empty()) out.f[out.n++].owned = encode_postgres_changes(version_, st.topic, ids, m->change->json);
    }
  }

  enum class admission { ok, dropped, overflow };

  // REQUIRES mu_. Whether writes wait for a flush_scope to end: while one holds them back and less than a
  // full write batch is queued.
  bool hold_writes_locked() const noexcept {
    return deferrals_ > 0 && queue_.size() < k_write_batch_frames && queued_bytes_ < k_write_batch_bytes;
  }

  // REQUIRES mu_. Counts `bytes` against the send queue bound. On overflow the queue is dropped and the
  // caller must post the 4008 close; once closing, everything is dropped.
  admission admit_locked(std::size_t bytes) {
    if (overflow_ || closing_) return admission::dropped;
    if (queued_bytes_ + bytes > gw_->config.limits.max_send_queue_bytes) {
      overflow_ = true;
      drop_queue_locked();
      return admission::overflow;
    }
    queued_bytes_ += bytes;
    return admission::ok;
  }

  // REQUIRES mu_. Returns false when this frame overflowed the queue (the caller starts the 4008 close).
  bool enqueue_locked(out_frame f) {
    const admission a = admit_locked(f.bytes().size());
    if (a == admission::ok) queue_.push_back(std::move(f));
    return a != admission::overflow;
  }

  // REQUIRES mu_. Frees every queued frame (not the one being written). Any thread: touches only mu_ state.
  // Held frames of channels still joining stay counted until their join finishes (on_join drops them then).
  void drop_queue_locked() {
    for (const auto& f : queue_) queued_bytes_ -= f.bytes().size();
    queue_.clear();
  }

  // REQUIRES mu_; strand only (reads channels_). Drops the queue and every channel's held frames and stops
  // all deliveries.
  void drop_all_locked() {
    closing_ = true;
    drop_queue_locked();
    for (auto& [topic, j] : channels_) drop_held_locked(*j.state);
  }

  // REQUIRES mu_. Stops deliveries to one channel and frees its held frames.
  void drop_held_locked(channel_state& st) {
    st.closed = true;
    for (const auto& f : st.held) queued_bytes_ -= f.bytes().size();
    st.held.clear();
  }

  // Strand. Queues a frame built for this connection and starts writing.
  void send(std::string frame) {
    bool overflow = false;
    {
      std::lock_guard lock(mu_);
      out_frame f;
      f.owned = std::move(frame);
      overflow = !enqueue_locked(std::move(f));
    }
    if (overflow) {
      begin_close(k_close_queue_overflow, "send queue overflow", true);
      return;
    }
    do_write();
  }

  // ---- strand: accept, read, write, close ----

  void accept(http::request<http::string_body> req) {
    const auto& limits = gw_->config.limits;
    websocket::stream_base::timeout t{};
    t.handshake_timeout = limits.handshake_timeout;
    t.idle_timeout = websocket::stream_base::none();  // our own idle timer below: Phoenix's rule, not pings
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.read_message_max(limits.max_frame_bytes);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "rtcache"); }));
    ws_.async_accept(req, beast::bind_front_handler(&websocket_session::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec) {
    if (ec) return fail(ec, "accept");
    open_ = true;
    gw_->metrics.connections_total.fetch_add(1, std::memory_order_relaxed);
    gw_->log.info("ws.open", {{"conn", id_}, {"peer", peer_}, {"vsn", to_string(version_)},
                              {"role", to_string(principal_->role)}, {"sub", principal_->subject}});
    if (pending_close_) {
      begin_close(websocket::close_code::going_away, "server shutting down");
    }
    last_activity_ = std::chrono::steady_clock::now();
    rearm_deadline();
    do_read();
  }

  // ---- deadlines (strand) ----
  // One hook in the gateway's deadline wheel (session_deadlines.hpp) stands for the idle timeout (from the
  // upgrade on), the token expiry (while channels are joined) and the close timeout (while closing); it is
  // linked at the earliest of them. Activity does not relink it: when it fires, on_deadlines() looks at the
  // times and relinks at the next one.

  void rearm_deadline() {
    auto at = k_never;
    if (!torn_down_ && !dropped_) {
      if (open_) at = last_activity_ + gw_->config.limits.idle_timeout;
      at = std::min({at, expiry_at_, close_at_});
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
    if (torn_down_ || dropped_) return;
    const auto now = std::chrono::steady_clock::now();
    if (close_at_ <= now) return drop_socket();  // the close did not finish in time
    if (open_ && now - last_activity_ >= gw_->config.limits.idle_timeout) {
      gw_->metrics.idle_closes_total.fetch_add(1, std::memory_order_relaxed);
      gw_->log.info("ws.idle_timeout", {{"conn", id_}});
      return drop_socket();
    }
    if (expiry_at_ <= now) {
      expiry_at_ = k_never;
      if (!close_started_) {
        check_expiry();
        arm_expiry();
      }
    }
    rearm_deadline();
  }

  // Ends the connection from a deadline: the pending read fails and fail() tears down.
  void drop_socket() {
    dropped_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
  }

  // ---- reading ----

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
    gw_->metrics.messages_in_total.fetch_add(1, std::memory_order_relaxed);
    if (!close_started_) {
      const auto data = rbuf_.cdata();
      handle(std::string_view(static_cast<const char*>(data.data()), data.size()), !ws_.got_text());
    }
    rbuf_.consume(rbuf_.size());
    // Inbound messages are rare (joins, a heartbeat every 25 s): an idle connection keeps no read buffer.
    rbuf_.shrink_to_fit();
    do_read();
  }

  // Writes every queued frame (up to k_write_batch_*) in one gather write. Server frames are unmasked, so a
  // frame is a small RFC 6455 header plus the shared payload, written to the TCP stream directly: one
  // syscall for many messages instead of one Beast write (and one syscall) per message (load benchmark,
  // docs/benchmarks-gateway.md). Beast still writes the close frame (after the batch, see maybe_close) and
  // its automatic pong.
  void do_write() {
    bool drained = false;
    bool start = false;
    {
      std::lock_guard lock(mu_);
      flush_posted_ = false;
      if (writing_ || queue_.empty() || !open_ || torn_down_ || hold_writes_locked()) {
        drained = !writing_ && queue_.empty();
      } else {
        start = true;
        batch_.reserve(std::min(queue_.size(), k_write_batch_frames));
        std::size_t bytes = 0;
        while (!queue_.empty() && batch_.size() < k_write_batch_frames &&
               (batch_.empty() || bytes + queue_.front().bytes().size() <= k_write_batch_bytes)) {
          bytes += queue_.front().bytes().size();
          batch_.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        writing_ = true;
      }
    }
    if (!start) {
      if (drained) release_write_buffers();
      return;
    }
    // Headers and payloads under k_copy_below are copied into one contiguous buffer, larger payloads are
    // gathered in place: Asio hands at most 16 buffers to one sendmsg, so a buffer per header and per payload
    // would cap a syscall at 8 frames. Reserved up front, so the pointers into wbuf_ stay valid.
    std::size_t contiguous = 0;
    std::size_t large = 0;
    for (const auto& f : batch_) {
      const std::size_t n = f.bytes().size();
      contiguous += 10 + (n < k_copy_below ? n : 0);
      large += n < k_copy_below ? 0 : 1;
    }
    wbuf_.clear();
    wbuf_.reserve(contiguous);
    gather_.clear();
    gather_.reserve(2 * large + 1);
    std::size_t run = 0;  // start of the contiguous run not yet in gather_
    for (const auto& f : batch_) {
      const std::string_view payload = f.bytes();
      std::array<char, 10> h{};
      wbuf_.append(h.data(), frame_header(h, f.binary, payload.size()));
      if (payload.size() < k_copy_below) {
        wbuf_.append(payload);
        continue;
      }
      gather_.push_back(asio::buffer(wbuf_.data() + run, wbuf_.size() - run));
      gather_.push_back(asio::buffer(payload.data(), payload.size()));
      run = wbuf_.size();
    }
    if (wbuf_.size() > run) gather_.push_back(asio::buffer(wbuf_.data() + run, wbuf_.size() - run));
    asio::async_write(beast::get_lowest_layer(ws_), gather_,
                      beast::bind_front_handler(&websocket_session::on_write, shared_from_this()));
  }

  // Nothing queued and no write in flight: an idle connection keeps no write buffers (the batch, the gather
  // list and the copied headers of the last write would otherwise stay allocated for as long as it idles).
  void release_write_buffers() noexcept {
    std::vector<out_frame>().swap(batch_);
    std::vector<asio::const_buffer>().swap(gather_);
    std::string().swap(wbuf_);
  }

  // An unmasked, final RFC 6455 frame header for `size` payload bytes; returns its length.
  static std::size_t frame_header(std::array<char, 10>& h, bool binary, std::size_t size) noexcept {
    h[0] = static_cast<char>(binary ? 0x82 : 0x81);
    if (size < 126) {
      h[1] = static_cast<char>(size);
      return 2;
    }
    if (size <= 0xFFFF) {
      h[1] = static_cast<char>(126);
      h[2] = static_cast<char>((size >> 8) & 0xFF);
      h[3] = static_cast<char>(size & 0xFF);
      return 4;
    }
    h[1] = static_cast<char>(127);
    for (std::size_t i = 0; i < 8; ++i) h[2 + i] = static_cast<char>((static_cast<std::uint64_t>(size) >> (56 - 8 * i)) & 0xFF);
    return 10;
  }

  void on_write(beast::error_code ec, std::size_t bytes) {
    const std::size_t frames = batch_.size();
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      for (const auto& f : batch_) queued_bytes_ -= f.bytes().size();
    }
    batch_.clear();
    if (wbuf_.capacity() > k_keep_write_buffer) std::string().swap(wbuf_);
    if (ec) return fail(ec, "write");
    gw_->metrics.messages_out_total.fetch_add(frames, std::memory_order_relaxed);
    gw_->metrics.bytes_out_total.fetch_add(bytes, std::memory_order_relaxed);
    if (close_started_) return maybe_close();
    do_write();
  }

  // Starts a close with `code`: drops the queue, leaves every channel, sends the close frame once no write
  // is in flight, and drops the socket if the close does not finish within limits.close_timeout.
  void begin_close(std::uint16_t code, std::string_view reason, bool overflow = false) {
    if (close_started_ || torn_down_) return;
    close_started_ = true;
    if (overflow) {
      gw_->metrics.queue_overflow_closes_total.fetch_add(1, std::memory_order_relaxed);
      gw_->log.warn("ws.queue_overflow", {{"conn", id_}, {"limit", gw_->config.limits.max_send_queue_bytes}});
    }
    {
      std::lock_guard lock(mu_);
      drop_all_locked();
    }
    channels_.clear();
    close_code_ = code;
    close_text_ = reason;
    if (!open_) {
      pending_close_ = true;  // the handshake is still running; close when it completes
      close_started_ = false;
      return;
    }
    expiry_at_ = k_never;
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
    if (close_sent_) return;
    {
      std::lock_guard lock(mu_);
      if (writing_) return;
    }
    close_sent_ = true;
    if (!overflow_close_) arm_close_timer(gw_->config.limits.close_timeout);
    ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_text_), [self = shared_from_this()](beast::error_code) {});
  }

  // The connection is over (read failed: closed by either side, timeout, error). Idempotent.
  void fail(beast::error_code ec, std::string_view what) {
    if (torn_down_) return;
    torn_down_ = true;
    {
      std::lock_guard lock(mu_);
      drop_all_locked();
    }
    channels_.clear();
    expiry_at_ = k_never;
    close_at_ = k_never;
    rearm_deadline();  // unlinks: torn down
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
    gw_->log.info("ws.close", {{"conn", id_}, {"where", what}, {"reason", ec.message()},
                               {"close_code", static_cast<unsigned>(close_code_)}});
  }

  // ---- protocol ----

  void handle(std::string_view data, bool binary) {
    decode_limits dl;
    dl.max_frame_bytes = gw_->config.limits.max_frame_bytes;
    auto m = decode_frame(version_, data, binary, dl);
    if (!m) {
      gw_->metrics.frames_refused_total.fetch_add(1, std::memory_order_relaxed);
      gw_->log.debug("ws.bad_frame", {{"conn", id_}, {"code", core::to_string(m.error().code)},
                                      {"reason", m.error().message}});
      return;
    }
    switch (classify(*m)) {
      case client_event::heartbeat:
        send(encode_heartbeat_reply(version_, m->ref));
        check_expiry();
        return;
      case client_event::join: return on_join(*m);
      case client_event::leave: return on_leave(*m);
      case client_event::access_token: return on_access_token(*m);
      case client_event::broadcast: return on_broadcast(*m);
      case client_event::presence:
        if (m->ref) send(encode_reply_error(version_, reply_to::of(*m), "presence is not supported by rtcache"));
        return;
      case client_event::other: return;
    }
  }

  static bool same_principal(const principal& a, const principal& b) noexcept {
    const bool same_claims = a.claims == b.claims || (a.claims && b.claims && *a.claims == *b.claims);
    return a.role == b.role && a.expires_at == b.expires_at && a.subject == b.subject &&
           a.scope.is_unscoped() == b.scope.is_unscoped() && a.scope.factory_ids() == b.scope.factory_ids() &&
           same_claims;
  }

  void on_join(const inbound_message& m) {
    const reply_to to = reply_to::of(m);
    auto refuse = [&](std::string reason) {
      gw_->metrics.joins_refused_total.fetch_add(1, std::memory_order_relaxed);
      gw_->log.info("ws.join_refused", {{"conn", id_}, {"topic", m.topic}, {"reason", reason}});
      send(encode_reply_error(version_, to, reason));
    };
    auto req = parse_join(m.topic, m.payload);
    if (!req) return refuse(std::string(core::to_string(req.error().code)) + ": " + req.error().message);
    if (!joins_.take(1, std::chrono::steady_clock::now())) {
      return refuse("ChannelRateLimitReached: Too many joins per second");
    }
    auto existing = channels_.find(m.topic);
    if (existing == channels_.end() && channels_.size() >= gw_->config.limits.max_channels_per_connection) {
      return refuse("ChannelRateLimitReached: Too many channels");
    }

    std::shared_ptr<const principal> who = principal_;
    if (req->access_token) {
      auto p = gw_->verifier.verify(*req->access_token, gw_->now());
      if (!p) {
        gw_->metrics.auth_refusals_total.fetch_add(1, std::memory_order_relaxed);
        return refuse(join_refusal_reason(p.error()));
      }
      // supabase-js sends the connection's own token with every join: share the connection's principal then.
      who = same_principal(*p, *principal_) ? principal_ : std::make_shared<const principal>(std::move(*p));
    } else if (auto expired = gw_->verifier.check_expiry(*who, gw_->now())) {
      gw_->metrics.auth_refusals_total.fetch_add(1, std::memory_order_relaxed);
      return refuse(join_refusal_reason(*expired));
    }

    std::optional<core::channel_key> key;
    if (is_contract_name(req->channel)) {
      // Contract channels are authorised by the factory scope, private:true or not (there is one of each).
      auto k = core::parse_channel_key(req->channel, gw_->types);
      if (!k) return refuse(std::string(core::to_string(k.error().code)) + ": " + k.error().message);
      const join_decision d = authorize_join(*who, *k);
      if (!d.allowed()) return refuse(d.reason);
      key = std::move(*k);
    } else if (const access_decision d = gw_->access.may_join(*who, req->channel, req->is_private); !d.allowed) {
      return refuse(d.reason);
    }
    const bool is_private = !key && req->is_private;

    if (auto reason = refuse_bindings(req->postgres_changes, gw_->config.mapping.get())) return refuse(*reason);
    // Non-contract channels receive records through the per-table channels their bindings name.
    std::vector<std::string> table_channels;
    if (!key) {
      for (const auto& b : req->postgres_changes) {
        for (const table_mapping* t : binding_tables(b, gw_->config.mapping.get())) {
          auto name = postgres_table_channel(t->schema, t->table);
          if (std::find(table_channels.begin(), table_channels.end(), name) == table_channels.end()) {
            table_channels.push_back(std::move(name));
          }
        }
      }
    }

    if (existing != channels_.end()) drop_channel(existing);  // a rejoin replaces the old join

    auto st = std::make_shared<channel_state>();
    st->topic = m.topic;
    st->name = req->channel;
    st->hub_name = is_private ? private_hub_channel(req->channel) : req->channel;
    st->join_ref = m.join_ref ? m.join_ref : m.ref;
    st->key = key;
    st->is_private = is_private;
    st->view = view_for(*who, key);
    st->self = req->broadcast.self;
    st->ack = req->broadcast.ack;
    st->bindings = req->postgres_changes;
    {
      std::lock_guard lock(mu_);
      st->who = who;
    }
    std::optional<hub_position> resume;
    if (req->resume) resume = hub_position{req->resume->epoch, req->resume->offset};
    auto joined_view =
        gw_->the_hub.subscribe_view(st->hub_name, st->view, std::make_shared<channel_subscriber>(this, st), resume);
    if (!joined_view) {
      // The channel has max_views_per_channel scopes with subscribers. The old join (if any) is gone already.
      return refuse("ChannelRateLimitReached: Too many factory scopes on this channel");
    }
    hub_join j = std::move(*joined_view);
    std::vector<hub_subscription> tables;
    tables.reserve(table_channels.size());
    for (const auto& name : table_channels) {
      tables.push_back(gw_->the_hub.subscribe(name, std::make_shared<channel_subscriber>(this, st)).subscription);
    }

    bool overflow = false;
    {
      std::lock_guard lock(mu_);
      out_frame reply;
      reply.owned = encode_join_reply(version_, to, st->bindings,
                                      join_position{j.position.epoch, j.position.offset, j.recovered});
      overflow = !enqueue_locked(std::move(reply));
      for (const auto& r : j.replay) {
        frame_set fs;
        if (!overflow) frames_for(*st, r, fs);
        for (std::size_t i = 0; i < fs.n && !overflow; ++i) overflow = !enqueue_locked(std::move(fs.f[i]));
      }
      if (!overflow && !st->bindings.empty()) {
        out_frame sys;
        sys.owned = encode_postgres_subscribed(version_, st->join_ref, st->topic, st->name);
        overflow = !enqueue_locked(std::move(sys));
      }
      // Held deliveries were accounted when held; move them over without counting twice.
      for (auto& h : st->held) {
        if (overflow_ || closing_) {
          queued_bytes_ -= h.bytes().size();
        } else {
          queue_.push_back(std::move(h));
        }
      }
      st->held.clear();
      st->ready = true;
    }
    gw_->metrics.joins_total.fetch_add(1, std::memory_order_relaxed);
    if (j.recovered) gw_->metrics.joins_recovered_total.fetch_add(1, std::memory_order_relaxed);
    gw_->log.debug("ws.join", {{"conn", id_}, {"topic", m.topic}, {"epoch", j.position.epoch},
                               {"offset", j.position.offset}, {"recovered", j.recovered},
                               {"replayed", j.replay.size()}});
    channels_.emplace(m.topic, joined{std::move(st), std::move(j.subscription), std::move(tables)});
    if (overflow) return begin_close(k_close_queue_overflow, "send queue overflow", true);
    arm_expiry();
    do_write();
  }

  void drop_channel(std::map<std::string, joined>::iterator it) {
    {
      std::lock_guard lock(mu_);
      drop_held_locked(*it->second.state);
    }
    it->second.subscription.unsubscribe();
    it->second.tables.clear();
    channels_.erase(it);
  }

  void on_leave(const inbound_message& m) {
    std::optional<std::string> join_ref = m.join_ref;
    if (auto it = channels_.find(m.topic); it != channels_.end()) {
      join_ref = it->second.state->join_ref;
      drop_channel(it);
    }
    send(encode_reply_ok(version_, reply_to::of(m)));
    send(encode_close(version_, join_ref, m.topic));
  }

  // A system error on the channel, then phx_close, then the channel is gone.
  void revoke(std::map<std::string, joined>::iterator it, std::string_view message) {
    const auto st = it->second.state;
    gw_->log.info("ws.channel_revoked", {{"conn", id_}, {"topic", st->topic}, {"reason", message}});
    drop_channel(it);
    send(encode_system(version_, st->join_ref, st->topic, "system", false, message, st->name));
    send(encode_close(version_, st->join_ref, st->topic));
  }

  // An access_token push re-decides the channel it names with the new token, and replaces the connection's token
  // for later joins that bring none of their own (realtime-js pushes every refresh to each joined channel).
  void on_access_token(const inbound_message& m) {
    auto it = channels_.find(m.topic);
    if (it == channels_.end()) return;
    const auto* token = m.payload.if_contains("access_token");
    if (token == nullptr || !token->is_string()) return;
    auto p = gw_->verifier.verify(std::string_view(token->as_string()), gw_->now());
    if (!p) {
      gw_->metrics.auth_refusals_total.fetch_add(1, std::memory_order_relaxed);
      return revoke(it, system_refusal_message(p.error()));
    }
    auto who = std::make_shared<const principal>(std::move(*p));
    principal_ = who;  // issue 11, finding 8: later joins are authorised with the refreshed token
    const auto st = it->second.state;
    if (st->key && !authorize_join(*who, *st->key).allowed()) return revoke(it, revoked_message(*st->key));
    if (st->is_private && !gw_->access.may_join(*who, st->name, true).allowed) {
      return revoke(it, "You no longer have permission to read from this Channel topic: " + st->name);
    }
    if (!same_view(view_for(*who, st->key), st->view)) {
      // A doc: channel whose scope changed: its view (epoch, offsets) belongs to the old scope, and keeping it
      // would deliver offsets that skip what the new scope may no longer see (or miss what it now may). The
      // channel errors, so the client rejoins with the new token into its new view (and refetches on
      // recovered:false): realtime-js and rtcache's SDKs rejoin on phx_error by themselves.
      gw_->log.info("ws.channel_reviewed", {{"conn", id_}, {"topic", st->topic}});
      const auto join_ref = st->join_ref;
      const std::string topic = st->topic;
      drop_channel(it);
      send(encode_channel_error(version_, join_ref, topic));
      arm_expiry();
      return;
    }
    {
      std::lock_guard lock(mu_);
      st->who = std::move(who);
    }
    arm_expiry();
  }

  // On every heartbeat (25 s): channels whose token expired get a system error and phx_close.
  void check_expiry() {
    const auto now = gw_->now();
    for (auto it = channels_.begin(); it != channels_.end();) {
      std::shared_ptr<const principal> who;
      {
        std::lock_guard lock(mu_);
        who = it->second.state->who;
      }
      auto next = std::next(it);
      if (auto expired = gw_->verifier.check_expiry(*who, now)) revoke(it, system_refusal_message(*expired));
      it = next;
    }
  }

  // (Re)arms the expiry timer for the earliest exp + leeway among the joined channels' principals, so that a
  // token's expiry closes its channels when it happens (Supabase's system error, then phx_close), not only
  // at the next heartbeat. Called after every join, access_token push and expiry check.
  void arm_expiry() {
    if (torn_down_ || close_started_) return;
    std::optional<std::chrono::sys_seconds> earliest;
    {
      std::lock_guard lock(mu_);
      for (const auto& [topic, j] : channels_) {
        const auto deadline = j.state->who->expires_at + gw_->verifier.config().leeway;
        if (!earliest || deadline < *earliest) earliest = deadline;
      }
    }
    if (!earliest) {
      expiry_at_ = k_never;
    } else {
      // The wall clock is floored to seconds, so the wait never ends before the deadline. A deadline beyond
      // k_max_expiry_wait is never armed: API keys do not expire (k_api_key_expires_at is in year 9999) and a
      // token's exp may be centuries away, and steady_clock's nanoseconds overflow past about 292 years.
      const auto wait = std::max(std::chrono::seconds(0), *earliest - gw_->now());
      expiry_at_ = wait > k_max_expiry_wait ? k_never : std::chrono::steady_clock::now() + wait;
    }
    rearm_deadline();
  }

  void on_broadcast(const inbound_message& m) {
    const reply_to to = reply_to::of(m);
    auto it = channels_.find(m.topic);
    if (it == channels_.end()) {
      if (m.ref) send(encode_reply_error(version_, to, "unmatched topic"));
      return;
    }
    auto b = read_client_broadcast(m);
    if (!b) {
      if (m.ref) send(encode_reply_error(version_, to, b.error().message));
      return;
    }
    const auto st = it->second.state;
    std::shared_ptr<const principal> who;
    {
      std::lock_guard lock(mu_);
      who = st->who;
    }
    const bool raw = b->encoding == payload_encoding::binary;
    auto refuse = [&](std::string_view reason) {
      gw_->metrics.client_broadcasts_refused_total.fetch_add(1, std::memory_order_relaxed);
      if (m.ref) send(encode_reply_error(version_, to, reason));
    };
    std::string factory;
    if (st->key) {
      // Contract events come from the backend: otherwise any client could forge invalidations. Even the backend's
      // broadcasts name a factory, so that subscribers can filter them (issue 11, finding 1).
      if (who->role != auth_role::service_role) {
        return refuse("Unauthorized: only service_role may broadcast on " + st->name);
      }
      auto f = contract_broadcast_factory(*st->key, b->payload, raw);
      if (!f) return refuse(std::string(core::to_string(f.error().code)) + ": " + f.error().message);
      factory = std::move(*f);
    } else if (const access_decision d = gw_->access.may_send(*who, st->name, st->is_private); !d.allowed) {
      return refuse(d.reason);
    }
    if (who->role != auth_role::service_role) {
      // The per-connection bound, answered as Supabase answers max_events_per_second: the channel gets a system
      // error "Too many messages per second" and is closed (docs/operations.md compares the two).
      switch (broadcasts_.admit(b->payload.size(), std::chrono::steady_clock::now())) {
        case broadcast_limiter::verdict::ok: break;
        case broadcast_limiter::verdict::too_large:
          return refuse("Payload size exceeded: a client broadcast holds at most " +
                        std::to_string(static_cast<std::uint64_t>(gw_->config.limits.client_broadcasts.byte_burst)) +
                        " bytes");
        case broadcast_limiter::verdict::rate_limited:
          gw_->metrics.client_broadcasts_limited_total.fetch_add(1, std::memory_order_relaxed);
          return revoke(it, "Too many messages per second");
      }
    }
    hub_publish_options options;
    options.factory_id = factory;
    options.origin = id_;
    options.raw_payload = raw;
    try {
      gw_->the_hub.publish(st->hub_name, b->event, b->payload, options);
    } catch (const core::error_exception& e) {
      if (m.ref) send(encode_reply_error(version_, to, e.err().message));
      return;
    }
    gw_->metrics.broadcasts_total.fetch_add(1, std::memory_order_relaxed);
    if (st->ack && m.ref) send(encode_reply_ok(version_, to));
  }

  // Constant after construction.
  const std::shared_ptr<gateway::state> gw_;
  const asio::any_io_executor strand_;
  // A plain socket, not a beast::tcp_stream: its timers and impl would cost every idle connection memory, and
  // the timeouts here are the WebSocket stream's (handshake) and the session's own (idle, close, expiry).
  websocket::stream<asio::ip::tcp::socket, false> ws_;  // no permessage-deflate (never enabled): its state is not kept
  const protocol_version version_;
  const std::uint64_t id_;
  const std::string peer_;
  address_slot address_;  // this connection's count against limits.max_connections_per_ip
  std::uint64_t registry_id_ = 0;

  // Strand only.
  beast::flat_buffer rbuf_;
  std::chrono::steady_clock::time_point last_activity_{};
  std::chrono::steady_clock::time_point expiry_at_ = k_never;  // the earliest token of a joined channel expires
  std::chrono::steady_clock::time_point close_at_ = k_never;   // a started close is given up
  std::chrono::steady_clock::time_point linked_at_ = k_never;  // where the hook is linked in the wheel
  // The token later joins without an access_token of their own are authorised with: the upgrade's apikey, then
  // the last valid access_token pushed.
  std::shared_ptr<const principal> principal_;
  token_bucket joins_;                      // limits.joins_per_second / join_burst
  broadcast_limiter broadcasts_;            // limits.client_broadcasts
  std::vector<out_frame> batch_;            // the frames being written
  std::string wbuf_;                        // their headers and small payloads, contiguous
  std::vector<asio::const_buffer> gather_;  // runs of wbuf_ and large payloads, interleaved
  std::uint16_t close_code_ = 0;
  std::string_view close_text_;  // a string literal (begin_close's callers)
  bool close_started_ = false;
  bool close_sent_ = false;
  bool overflow_close_ = false;  // the close is a 4008: bounded by the idle timeout, not close_timeout
  bool pending_close_ = false;
  bool torn_down_ = false;
  bool dropped_ = false;  // a deadline closed the socket: no more deadlines
  bool open_ = false;  // the upgrade completed
  std::map<std::string, joined> channels_;  // by topic; the states' shared fields are guarded by mu_

  // Shared with deliver().
  std::mutex mu_;
  // Guarded by mu_.
  frame_fifo queue_;
  std::size_t queued_bytes_ = 0;  // queue_ + held frames + batch_
  bool writing_ = false;
  bool flush_posted_ = false;
  std::uint32_t deferrals_ = 0;        // flush_scopes holding writes back (each releases once)
  std::uint64_t deferral_token_ = 0;   // the last scope that registered this session
  bool closing_ = false;
  bool overflow_ = false;
};

void channel_subscriber::deliver(const hub_message_ptr& message) noexcept {
  session_->deliver(*state_, message);
}

}  // namespace

namespace detail {

flush_scope::flush_scope() noexcept {
  if (t_deferred.depth++ == 0) t_deferred.token = g_next_scope_token.fetch_add(1, std::memory_order_relaxed);
}

flush_scope::~flush_scope() {
  if (--t_deferred.depth > 0) return;
  std::vector<std::weak_ptr<websocket_session>> sessions;
  sessions.swap(t_deferred.sessions);
  for (const auto& w : sessions) websocket_session::end_deferral(w);
}

}  // namespace detail

void start_websocket_session(std::shared_ptr<gateway::state> gw, beast::tcp_stream stream,
                             http::request<http::string_body> request, protocol_version version, principal who,
                             std::string peer, address_slot address) {
  auto s = std::make_shared<websocket_session>(std::move(gw), std::move(stream), version, std::move(who),
                                               std::move(peer), std::move(address));
  s->run(std::move(request));
}

}  // namespace rtcache::net
