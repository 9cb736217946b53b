// The Beast transport of the SDK (realtime_client.hpp). One connection object per attempt, so a late handler
// of an old socket can never touch the new one: every handler checks the connection's generation.
#include "rtcache/client/realtime_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <charconv>
#include <deque>
#include <random>
#include <utility>

namespace rtcache::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

core::result<server_url> parse_server_url(std::string_view url) {
  constexpr std::string_view scheme = "ws://";
  if (!url.starts_with(scheme)) return core::error{core::errc::bad_prefix, "the server URL must start with ws://"};
  url.remove_prefix(scheme.size());
  server_url out;
  const std::size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) out.path = std::string(url.substr(slash));
  const std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    const std::string_view port = authority.substr(colon + 1);
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
      return core::error{core::errc::bad_value, "bad port in the server URL"};
    }
    out.port = std::string(port);
    authority = authority.substr(0, colon);
  }
  if (authority.size() >= 2 && authority.front() == '[' && authority.back() == ']') {
    authority = authority.substr(1, authority.size() - 2);
  }
  if (authority.empty()) return core::error{core::errc::empty_segment, "the server URL has no host"};
  out.host = std::string(authority);
  return out;
}

namespace {

struct connection {
  explicit connection(asio::io_context& ioc) : ws(ioc) {}
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buffer;
  std::deque<std::string> queue;
  std::size_t queued_bytes = 0;
  bool writing = false;
  bool close_after_drain = false;
};

}  // namespace

struct realtime_client::impl : std::enable_shared_from_this<impl> {
  impl(asio::io_context& io, const core::clock& clock, query_cache& cache, realtime_options o)
      : ioc(io),
        options(std::move(o)),
        rng(std::random_device{}()),
        engine(clock, cache, options.types, options.scope, options.engine,
               [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }),
        timer(io),
        resolver(io) {
    engine.set_access_token(options.access_token);
    (void)engine.take_requests();
  }

  // After construction: handlers hold the impl through shared_from_this.
  void wire() {
    engine.set_request_listener([weak = weak_from_this(), &io = ioc] {
      asio::post(io, [weak] {
        if (auto self = weak.lock()) self->pump();
      });
    });
  }

  void pump() {
    if (closed) return;
    transport_requests r = engine.take_requests();
    if (r.disconnect) {
      drop(std::move(r.send));
    } else {
      for (std::string& f : r.send) enqueue(std::move(f));
    }
    if (r.connect) connect();
    arm_timer();
  }

  void arm_timer() {
    const auto next = engine.next_wake();
    if (!next) {
      timer.cancel();
      return;
    }
    timer.expires_at(*next);
    timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed) return;
      self->engine.tick();
      self->pump();
    });
  }

  void connect() {
    const std::uint64_t id = ++generation;
    is_open = false;
    auto c = std::make_shared<connection>(ioc);
    current = c;
    beast::get_lowest_layer(c->ws).expires_after(options.connect_timeout);
    resolver.async_resolve(
        options.server.host, options.server.port,
        [self = shared_from_this(), c, id](beast::error_code ec, const tcp::resolver::results_type& results) {
          if (self->stale(id)) return;
          if (ec) return self->fail(id);
          beast::get_lowest_layer(c->ws).async_connect(
              results, [self, c, id](beast::error_code ec2, const tcp::endpoint&) {
                if (self->stale(id)) return;
                if (ec2) return self->fail(id);
                self->handshake(c, id);
              });
        });
  }

  void handshake(const std::shared_ptr<connection>& c, std::uint64_t id) {
    const std::string key = options.api_key.empty() ? engine.realtime().access_token() : options.api_key;
    const std::string target = options.server.path + "?apikey=" + key + "&vsn=2.0.0";
    c->ws.read_message_max(options.engine.session.max_frame_bytes);
    c->ws.async_handshake(options.server.host + ":" + options.server.port, target,
                          [self = shared_from_this(), c, id](beast::error_code ec) {
                            if (self->stale(id)) return;
                            if (ec) return self->fail(id);
                            beast::get_lowest_layer(c->ws).expires_never();
                            // Liveness is the session's heartbeat; only the close handshake is bounded here.
                            websocket::stream_base::timeout t{};
                            t.handshake_timeout = self->options.connect_timeout;
                            t.idle_timeout = websocket::stream_base::none();
                            t.keep_alive_pings = false;
                            c->ws.set_option(t);
                            self->is_open = true;
                            self->engine.on_open();
                            self->pump();
                            if (!self->stale(id)) self->read(c, id);
                          });
  }

  void read(const std::shared_ptr<connection>& c, std::uint64_t id) {
    c->ws.async_read(c->buffer, [self = shared_from_this(), c, id](beast::error_code ec, std::size_t) {
      if (self->stale(id)) return;
      if (ec) return self->fail(id);
      const std::string frame = beast::buffers_to_string(c->buffer.data());
      c->buffer.consume(c->buffer.size());
      self->engine.on_frame(frame, !c->ws.got_text());
      self->pump();
      if (!self->stale(id)) self->read(c, id);
    });
  }

  void enqueue(std::string frame) {
    const auto c = current;
    if (!c || !is_open) return;  // the session resends what matters (joins) once connected again
    if (c->queued_bytes + frame.size() > options.max_send_queue_bytes) {
      // Overflow rule: a connection that cannot drain its queue is dropped; the session reconnects and
      // resumes every channel by offset.
      fail(generation);
      return;
    }
    c->queued_bytes += frame.size();
    c->queue.push_back(std::move(frame));
    if (!c->writing) write(c, generation);
  }

  void write(const std::shared_ptr<connection>& c, std::uint64_t id) {
    c->writing = true;
    c->ws.text(true);
    c->ws.async_write(asio::buffer(c->queue.front()), [self = shared_from_this(), c, id](beast::error_code ec,
                                                                                         std::size_t) {
      if (self->closed) return;
      c->queued_bytes -= c->queue.front().size();
      c->queue.pop_front();
      c->writing = false;
      if (ec) {
        if (!self->stale(id)) self->fail(id);
        return;
      }
      if (!c->queue.empty()) return self->write(c, id);
      if (c->close_after_drain) {
        c->ws.async_close(websocket::close_code::normal, [c](beast::error_code) {});
      }
    });
  }

  // The engine already counts the connection as closed: forget it, send `last` (leaves) if possible, close.
  void drop(std::vector<std::string> last) {
    const auto c = std::exchange(current, nullptr);
    ++generation;
    const bool was_open = is_open;
    is_open = false;
    resolver.cancel();
    if (!c) return;
    if (was_open && !c->writing) {
      for (std::string& f : last) {
        c->queued_bytes += f.size();
        c->queue.push_back(std::move(f));
      }
      c->close_after_drain = true;
      if (c->queue.empty()) {
        c->ws.async_close(websocket::close_code::normal, [c](beast::error_code) {});
      } else {
        write(c, generation);
      }
      return;
    }
    beast::error_code ec;
    beast::get_lowest_layer(c->ws).socket().close(ec);
  }

  void fail(std::uint64_t id) {
    if (stale(id)) return;
    const auto c = std::exchange(current, nullptr);
    ++generation;
    is_open = false;
    if (c) {
      beast::error_code ec;
      beast::get_lowest_layer(c->ws).socket().close(ec);
    }
    engine.on_closed();
    pump();
  }

  bool stale(std::uint64_t id) const noexcept { return closed || id != generation; }

  void shutdown() {
    closed = true;
    timer.cancel();
    resolver.cancel();
    if (auto c = std::exchange(current, nullptr)) {
      beast::error_code ec;
      beast::get_lowest_layer(c->ws).socket().close(ec);
    }
  }

  asio::io_context& ioc;
  realtime_options options;
  std::mt19937_64 rng;
  sync_engine engine;
  asio::steady_timer timer;
  tcp::resolver resolver;
  std::shared_ptr<connection> current;
  std::uint64_t generation = 0;
  bool is_open = false;
  bool closed = false;  // the client is gone: every handler returns at once
};

realtime_client::realtime_client(asio::io_context& ioc, const core::clock& clock, query_cache& cache,
                                 realtime_options options)
    : impl_(std::make_shared<impl>(ioc, clock, cache, std::move(options))) {
  impl_->wire();
}

realtime_client::~realtime_client() { impl_->shutdown(); }

void realtime_client::start() {
  impl_->engine.start();
  impl_->pump();
}

void realtime_client::stop() {
  impl_->engine.stop();
  impl_->pump();
}

core::result<live_view> realtime_client::watch_doc(std::string type, std::string id, std::string factory_id,
                                                   query_listener listener) {
  auto v = impl_->engine.watch_doc(std::move(type), std::move(id), std::move(factory_id), std::move(listener));
  impl_->pump();
  return v;
}

core::result<live_view> realtime_client::watch_list(std::string type, std::string factory_id, std::uint32_t page,
                                                    query_listener listener) {
  auto v = impl_->engine.watch_list(std::move(type), std::move(factory_id), page, std::move(listener));
  impl_->pump();
  return v;
}

void realtime_client::set_access_token(std::string token) {
  impl_->engine.set_access_token(std::move(token));
  impl_->pump();
}

void realtime_client::set_scope(core::factory_scope scope) { impl_->engine.set_scope(std::move(scope)); }

void realtime_client::flush() {
  impl_->engine.flush();
  impl_->pump();
}

bool realtime_client::connected() const noexcept { return impl_->is_open; }
sync_engine& realtime_client::engine() noexcept { return impl_->engine; }
const sync_engine& realtime_client::engine() const noexcept { return impl_->engine; }

}  // namespace rtcache::client
