// The Beast transport of the SDK (realtime_client.hpp). One connection object per attempt, so a late handler
// of an old socket can never touch the new one: every handler checks the connection's generation. A wss://
// connection is the same WebSocket over Beast's ssl_stream; verification is OpenSSL's own (SSL_set1_host /
// X509_VERIFY_PARAM_set1_ip_asc), so a failure names its reason ("hostname mismatch").
#include "rtcache/client/realtime_client.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <charconv>
#include <deque>
#include <random>
#include <utility>
#include <variant>

namespace rtcache::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

core::result<server_url> parse_server_url(std::string_view url) {
  server_url out;
  if (url.starts_with("wss://")) {
    out.tls = true;
    out.port = "443";
    url.remove_prefix(6);
  } else if (url.starts_with("ws://")) {
    url.remove_prefix(5);
  } else {
    return core::error{core::errc::bad_prefix, "the server URL must start with ws:// or wss://"};
  }
  if (const std::size_t hash = url.find('#'); hash != std::string_view::npos) url = url.substr(0, hash);
  if (const std::size_t q = url.find('?'); q != std::string_view::npos) {
    out.query = std::string(url.substr(q + 1));
    url = url.substr(0, q);
  }
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

using plain_ws = websocket::stream<beast::tcp_stream>;
using tls_ws = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

struct connection {
  explicit connection(asio::io_context& ioc) : ws(std::in_place_type<plain_ws>, ioc) {}
  connection(asio::io_context& ioc, ssl::context& ctx) : ws(std::in_place_type<tls_ws>, ioc, ctx) {}

  // Runs f on the WebSocket stream, whichever it is.
  template <class F>
  void visit(F&& f) {
    std::visit(std::forward<F>(f), ws);
  }
  beast::tcp_stream& tcp() {
    return std::visit([](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); }, ws);
  }

  std::variant<plain_ws, tls_ws> ws;
  beast::flat_buffer buffer;
  std::deque<std::string> queue;
  std::size_t queued_bytes = 0;
  bool writing = false;
  bool close_after_drain = false;
};

// The request target: the URL's path and query, the apikey unless the query has one, and vsn=2.0.0 (the only
// version this client speaks, whatever the URL said).
std::string request_target(const server_url& url, std::string_view apikey) {
  std::string target = url.path;
  char sep = '?';
  bool has_apikey = false;
  std::string_view rest = url.query;
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view param = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (param.empty() || param.starts_with("vsn=") || param == "vsn") continue;
    if (param.starts_with("apikey=")) has_apikey = true;
    target.push_back(sep);
    target.append(param);
    sep = '&';
  }
  if (!has_apikey) {
    target.push_back(sep);
    target.append("apikey=").append(apikey);
    sep = '&';
  }
  target.push_back(sep);
  target.append("vsn=2.0.0");
  return target;
}

// The Host header: the port only when it is not the scheme's default; IPv6 literals in brackets.
std::string host_header(const server_url& url) {
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  if (url.port != (url.tls ? "443" : "80")) host.append(":").append(url.port);
  return host;
}

// A TLS context that verifies peers against the system store, or against the given CAs only.
std::unique_ptr<ssl::context> make_tls_context(const tls_options& tls) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx->set_verify_mode(ssl::verify_peer);
  if (tls.ca_file.empty() && tls.ca_pem.empty()) {
    ctx->set_default_verify_paths();
    return ctx;
  }
  if (!tls.ca_file.empty()) ctx->load_verify_file(tls.ca_file);
  if (!tls.ca_pem.empty()) ctx->add_certificate_authority(asio::buffer(tls.ca_pem));
  return ctx;
}

// "certificate verify failed (SSL routines): hostname mismatch": the handshake error and, when verification
// failed, why.
std::string tls_failure(const beast::error_code& ec, SSL* ssl) {
  std::string message = ec.message();
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) message.append(": ").append(X509_verify_cert_error_string(verify));
  return message;
}

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
    if (options.server.tls) {
      try {
        tls_context = make_tls_context(options.tls);
      } catch (const boost::system::system_error& e) {
        // Reported on every attempt (stage tls_setup): the session keeps retrying, as after any failure.
        tls_setup_error = "cannot load the trusted CAs (" +
                          (options.tls.ca_file.empty() ? std::string("ca_pem") : options.tls.ca_file) +
                          "): " + e.code().message();
      }
    }
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
    if (options.server.tls && !tls_context) {
      current = nullptr;
      // Not from inside pump(): the failure re-enters the engine, so it runs as its own handler.
      asio::post(ioc, [self = shared_from_this(), id] {
        if (self->stale(id)) return;
        self->fail(id, "tls_setup", self->tls_setup_error);
      });
      return;
    }
    auto c = options.server.tls ? std::make_shared<connection>(ioc, *tls_context) : std::make_shared<connection>(ioc);
    current = c;
    c->tcp().expires_after(options.connect_timeout);
    resolver.async_resolve(
        options.server.host, options.server.port,
        [self = shared_from_this(), c, id](beast::error_code ec, const tcp::resolver::results_type& results) {
          if (self->stale(id)) return;
          if (ec) return self->fail(id, "resolve", ec.message());
          c->tcp().async_connect(results, [self, c, id](beast::error_code ec2, const tcp::endpoint&) {
            if (self->stale(id)) return;
            if (ec2) return self->fail(id, "connect", ec2.message());
            if (self->options.server.tls) return self->tls_handshake(c, id);
            self->handshake(c, id);
          });
        });
  }

  // SNI and the name (or address) the certificate must carry, then the TLS handshake.
  void tls_handshake(const std::shared_ptr<connection>& c, std::uint64_t id) {
    auto& stream = std::get<tls_ws>(c->ws).next_layer();
    SSL* ssl = stream.native_handle();
    const std::string& host = options.server.host;
    beast::error_code not_an_address;
    (void)asio::ip::make_address(host, not_an_address);
    bool ok = true;
    if (not_an_address) {
      // SNI carries DNS names only (RFC 6066 §3), so an IP literal sends none. This is SSL_set_tlsext_host_name
      // without its macro's C-style cast.
      char* name = const_cast<char*>(host.c_str());
      ok = SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, name) == 1;
      ok = ok && SSL_set1_host(ssl, host.c_str()) == 1;
    } else {
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
    }
    if (!ok) {
      asio::post(ioc, [self = shared_from_this(), id, host] {
        self->fail(id, "tls_setup", "cannot verify the host name '" + host + "'");
      });
      return;
    }
    stream.async_handshake(ssl::stream_base::client, [self = shared_from_this(), c, id, ssl](beast::error_code ec) {
      if (self->stale(id)) return;
      if (ec) return self->fail(id, "tls_handshake", tls_failure(ec, ssl));
      self->handshake(c, id);
    });
  }

  void handshake(const std::shared_ptr<connection>& c, std::uint64_t id) {
    const std::string key = options.api_key.empty() ? engine.realtime().access_token() : options.api_key;
    const std::string target = request_target(options.server, key);
    c->visit([&](auto& ws) {
      ws.read_message_max(options.engine.session.max_frame_bytes);
      ws.async_handshake(host_header(options.server), target, [self = shared_from_this(), c, id](beast::error_code ec) {
        if (self->stale(id)) return;
        if (ec) return self->fail(id, "ws_handshake", ec.message());
        c->tcp().expires_never();
        // Liveness is the session's heartbeat; only the close handshake is bounded here.
        websocket::stream_base::timeout t{};
        t.handshake_timeout = self->options.connect_timeout;
        t.idle_timeout = websocket::stream_base::none();
        t.keep_alive_pings = false;
        c->visit([&](auto& s) { s.set_option(t); });
        self->is_open = true;
        self->engine.on_open();
        self->pump();
        if (!self->stale(id)) self->read(c, id);
      });
    });
  }

  void read(const std::shared_ptr<connection>& c, std::uint64_t id) {
    c->visit([&](auto& ws) {
      ws.async_read(c->buffer, [self = shared_from_this(), c, id, &ws](beast::error_code ec, std::size_t) {
        if (self->stale(id)) return;
        if (ec) return self->fail(id, "read", ec.message());
        const std::string frame = beast::buffers_to_string(c->buffer.data());
        c->buffer.consume(c->buffer.size());
        self->engine.on_frame(frame, !ws.got_text());
        self->pump();
        if (!self->stale(id)) self->read(c, id);
      });
    });
  }

  void enqueue(std::string frame) {
    const auto c = current;
    if (!c || !is_open) return;  // the session resends what matters (joins) once connected again
    if (c->queued_bytes + frame.size() > options.max_send_queue_bytes) {
      // Overflow rule: a connection that cannot drain its queue is dropped; the session reconnects and
      // resumes every channel by offset.
      fail(generation, "write", "send queue overflow");
      return;
    }
    c->queued_bytes += frame.size();
    c->queue.push_back(std::move(frame));
    if (!c->writing) write(c, generation);
  }

  void write(const std::shared_ptr<connection>& c, std::uint64_t id) {
    c->writing = true;
    c->visit([&](auto& ws) {
      ws.text(true);
      ws.async_write(asio::buffer(c->queue.front()),
                     [self = shared_from_this(), c, id](beast::error_code ec, std::size_t) {
                       if (self->closed) return;
                       c->queued_bytes -= c->queue.front().size();
                       c->queue.pop_front();
                       c->writing = false;
                       if (ec) {
                         if (!self->stale(id)) self->fail(id, "write", ec.message());
                         return;
                       }
                       if (!c->queue.empty()) return self->write(c, id);
                       if (c->close_after_drain) close_gracefully(c);
                     });
    });
  }

  static void close_gracefully(const std::shared_ptr<connection>& c) {
    c->visit([&](auto& ws) { ws.async_close(websocket::close_code::normal, [c](beast::error_code) {}); });
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
        close_gracefully(c);
      } else {
        write(c, generation);
      }
      return;
    }
    beast::error_code ec;
    c->tcp().socket().close(ec);
  }

  void fail(std::uint64_t id, std::string_view stage, std::string message) {
    if (stale(id)) return;
    const auto c = std::exchange(current, nullptr);
    ++generation;
    is_open = false;
    if (c) {
      beast::error_code ec;
      c->tcp().socket().close(ec);
    }
    last_error = transport_error{std::string(stage), std::move(message)};
    engine.on_closed();
    pump();
    if (on_error && !closed) on_error(transport_error(*last_error));  // a copy: the listener may stop the client
  }

  bool stale(std::uint64_t id) const noexcept { return closed || id != generation; }

  void shutdown() {
    closed = true;
    timer.cancel();
    resolver.cancel();
    if (auto c = std::exchange(current, nullptr)) {
      beast::error_code ec;
      c->tcp().socket().close(ec);
    }
  }

  asio::io_context& ioc;
  realtime_options options;
  std::mt19937_64 rng;
  sync_engine engine;
  asio::steady_timer timer;
  tcp::resolver resolver;
  std::unique_ptr<ssl::context> tls_context;  // wss:// only; shared by every attempt
  std::string tls_setup_error;                // why tls_context could not be made
  std::optional<transport_error> last_error;
  std::function<void(const transport_error&)> on_error;
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
std::optional<transport_error> realtime_client::last_error() const {
  return impl_->last_error;
}
void realtime_client::set_error_listener(std::function<void(const transport_error&)> listener) {
  impl_->on_error = std::move(listener);
}
sync_engine& realtime_client::engine() noexcept { return impl_->engine; }
const sync_engine& realtime_client::engine() const noexcept { return impl_->engine; }

}  // namespace rtcache::client
