// Fetching the JWKS: Boost.Beast's HTTP client over Asio SSL (OpenSSL), one bounded GET per fetch, on a thread
// the service owns; and the timer that polls the cache.
#include "gateway/jwks_fetcher.hpp"

#include "rtcache/sync/annotated_mutex.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace rtcache::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// ---- the URL ----

core::result<jwks_url> parse_jwks_url(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return core::error{core::errc::bad_value, "jwks_url '" + std::string(text) + "': " + std::string(why)};
  };
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) return bad("not an absolute URL (https://host/path)");
  const boost::urls::url_view u = *parsed;
  jwks_url out;
  const std::string scheme(u.scheme());
  if (scheme == "https") {
    out.tls = true;
  } else if (scheme == "http") {
    out.tls = false;
  } else {
    return bad("the scheme must be https (or http to a loopback host)");
  }
  if (u.has_userinfo()) return bad("user info in the URL is not supported");
  if (u.has_fragment()) return bad("a fragment is never sent to the server; remove it");
  if (!u.has_authority() || u.encoded_host().empty()) return bad("no host");
  bool loopback = false;
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
      out.host = u.host_ipv4_address().to_string();
      loopback = u.host_ipv4_address().is_loopback();
      break;
    case boost::urls::host_type::ipv6:
      out.host = u.host_ipv6_address().to_string();
      loopback = u.host_ipv6_address().is_loopback();
      break;
    case boost::urls::host_type::name: {
      out.host = u.host_name();  // percent-decoded
      std::string lower = out.host;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      loopback = lower == "localhost";
      break;
    }
    default: return bad("the host must be a name or an IP address");
  }
  if (!out.tls && !loopback) {
    return bad("plain http is accepted for loopback hosts only (127.0.0.1, ::1, localhost); use https");
  }
  out.port = out.tls ? 443 : 80;
  if (u.has_port()) {
    if (u.port_number() == 0) return bad("port must be 1..65535");
    out.port = u.port_number();
  }
  out.target = u.encoded_path().empty() ? std::string("/") : std::string(u.encoded_path());
  if (u.has_query()) out.target += "?" + std::string(u.encoded_query());
  const std::string host_text = u.host_type() == boost::urls::host_type::ipv6 ? "[" + out.host + "]" : out.host;
  out.display = scheme + "://" + host_text + ":" + std::to_string(out.port) + std::string(u.encoded_path());
  return out;
}

// ---- one fetch ----

namespace {

using strand_type = asio::strand<asio::io_context::executor_type>;

std::string describe(const beast::error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category()) {
    // OpenSSL's reason ("certificate verify failed") is the useful part for an operator.
    return "TLS: " + ec.message();
  }
  return ec.message();
}

// One GET of the JWKS on a new connection. Every handler runs on `strand`; the deadline timer bounds the whole
// fetch and, when it fires, closes the socket (and cancels the resolver), which fails the operation under way.
template <class Stream>
class fetch_op : public std::enable_shared_from_this<fetch_op<Stream>> {
 public:
  fetch_op(strand_type strand, Stream stream, const jwks_url& url, const jwks_fetch_options& options,
           auth::jwks_cache::fetch_done done)
      : strand_(std::move(strand)),
        stream_(std::move(stream)),
        resolver_(strand_),
        deadline_(strand_),
        url_(url),
        options_(options),
        done_(std::move(done)) {}

  void run() {
    deadline_.expires_after(options_.timeout);
    deadline_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled: the fetch finished first
      self->timed_out_ = true;
      self->abort();
    });
    resolver_.async_resolve(url_.host, std::to_string(url_.port),
                            [self = this->shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
                              self->on_resolve(ec, std::move(r));
                            });
  }

  // Strand only. Fails the operation under way.
  void abort() {
    resolver_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

 private:
  void on_resolve(beast::error_code ec, const tcp::resolver::results_type& results) {
    if (ec) return fail("resolve " + url_.host, ec);
    beast::get_lowest_layer(stream_).async_connect(
        results, [self = this->shared_from_this()](beast::error_code e, const tcp::endpoint&) { self->on_connect(e); });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail("connect", ec);
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      write();
    } else {
      beast::error_code not_an_address;
      (void)asio::ip::make_address(url_.host, not_an_address);
      if (not_an_address) {  // SNI carries names only (RFC 6066 §3)
        // SSL_set_tlsext_host_name, without the macro's C cast.
        if (SSL_ctrl(stream_.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                     static_cast<void*>(const_cast<char*>(url_.host.c_str()))) != 1) {
          return fail_text("TLS: cannot set the server name");
        }
      }
      stream_.set_verify_mode(ssl::verify_peer);
      stream_.set_verify_callback(ssl::host_name_verification(url_.host));
      stream_.async_handshake(ssl::stream_base::client, [self = this->shared_from_this()](beast::error_code e) {
        if (e) return self->fail("TLS handshake", e);
        self->write();
      });
    }
  }

  void write() {
    request_.method(http::verb::get);
    request_.target(url_.target);
    request_.version(11);
    const bool default_port = url_.port == (url_.tls ? 443 : 80);
    const std::string host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
    request_.set(http::field::host, default_port ? host : host + ":" + std::to_string(url_.port));
    request_.set(http::field::user_agent, "rtcache");
    request_.set(http::field::accept, "application/json");
    request_.keep_alive(false);
    http::async_write(stream_, request_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->fail("send the request", ec);
      self->read();
    });
  }

  void read() {
    parser_.body_limit(options_.max_bytes);
    parser_.header_limit(16 * 1024);
    http::async_read(stream_, buffer_, parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return fail_text("the response body exceeds " + std::to_string(options_.max_bytes) + " bytes");
    }
    if (ec) return fail("read the response", ec);
    const auto& res = parser_.get();
    if (res.result() != http::status::ok) {
      std::string why = "HTTP " + std::to_string(res.result_int());
      if (res.result_int() >= 300 && res.result_int() < 400)
        why += " (redirects are not followed: configure the final URL)";
      return fail_text(why);
    }
    finish(auth::jwks_fetch_result::of(std::move(parser_.release().body())));
  }

  void fail(std::string_view what, const beast::error_code& ec) {
    if (timed_out_) {
      return fail_text("timed out after " + std::to_string(options_.timeout.count()) + " ms (" + std::string(what) +
                       ")");
    }
    fail_text(std::string(what) + ": " + describe(ec));
  }

  void fail_text(std::string why) { finish(auth::jwks_fetch_result::failed(url_.display + ": " + std::move(why))); }

  void finish(auth::jwks_fetch_result r) {
    if (!done_) return;
    deadline_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(r));
  }

  strand_type strand_;
  Stream stream_;
  tcp::resolver resolver_;
  asio::steady_timer deadline_;
  const jwks_url url_;
  const jwks_fetch_options options_;
  auth::jwks_cache::fetch_done done_;
  bool timed_out_ = false;
  http::request<http::empty_body> request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
};

auth::jwks_fetch_result read_jwks_file(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return auth::jwks_fetch_result::failed(path + ": cannot be read");
  std::string text;
  text.resize(max_bytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_bytes) {
    return auth::jwks_fetch_result::failed(path + ": larger than " + std::to_string(max_bytes) + " bytes");
  }
  return auth::jwks_fetch_result::of(std::move(text));
}

}  // namespace

// ---- the service ----

struct jwks_service::impl : std::enable_shared_from_this<jwks_service::impl> {
  impl(jwks_source s, jwks_fetch_options o)
      : source(std::move(s)), options(std::move(o)), timer_strand(asio::make_strand(ioc)), timer(timer_strand) {}

  // Any thread (the cache calls it from wherever a fetch is decided: a verify() on a gateway thread, the
  // timer). Runs the fetch on the service's thread, so no caller ever waits for the network or the disk; only
  // start()'s first read of a file runs on the caller, so the keys are there before the server listens.
  void fetch(auth::jwks_cache::fetch_done done) {
    if (stopped.load()) return done(auth::jwks_fetch_result::failed("the JWKS service is stopped"));
    if (!source.url && read_files_inline.load()) return done(read_jwks_file(source.file, options.max_bytes));
    asio::post(ioc,
               [self = shared_from_this(), done = std::move(done)]() mutable { self->start_fetch(std::move(done)); });
  }

  // The io thread.
  void start_fetch(auth::jwks_cache::fetch_done done) {
    if (stopped.load()) return done(auth::jwks_fetch_result::failed("the JWKS service is stopped"));
    if (!source.url) return done(read_jwks_file(source.file, options.max_bytes));
    auto strand = asio::make_strand(ioc);
    std::function<void()> abort;
    if (source.url->tls) {
      auto op = std::make_shared<fetch_op<beast::ssl_stream<beast::tcp_stream>>>(
          strand, beast::ssl_stream<beast::tcp_stream>(strand, *tls), *source.url, options, std::move(done));
      abort = [w = std::weak_ptr(op), strand] {
        asio::post(strand, [w] {
          if (auto o = w.lock()) o->abort();
        });
      };
      op->run();
    } else {
      auto op = std::make_shared<fetch_op<beast::tcp_stream>>(strand, beast::tcp_stream(strand), *source.url, options,
                                                              std::move(done));
      abort = [w = std::weak_ptr(op), strand] {
        asio::post(strand, [w] {
          if (auto o = w.lock()) o->abort();
        });
      };
      op->run();
    }
    {
      const sync::mutex_lock lock(mutex);
      abort_current = abort;
    }
    if (stopped.load()) abort();  // stop() may have looked for it before it was stored
  }

  // The timer strand: poll the cache, then wait until its next fetch is due (or min_refetch while one runs).
  void arm() {
    if (stopped.load()) return;
    const auto due = cache->next_due();
    std::chrono::steady_clock::duration wait = min_refetch;
    if (due)
      wait = std::clamp<std::chrono::steady_clock::duration>(*due - clock(),
                                                             std::chrono::steady_clock::duration::zero(), refresh);
    timer.expires_after(wait);
    timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->stopped.load()) return;
      self->cache->poll();
      self->arm();
    });
  }

  // Constant after construction (cache, clock and the intervals are set by the service's constructor).
  const jwks_source source;
  const jwks_fetch_options options;
  std::shared_ptr<auth::jwks_cache> cache;
  auth::jwks_cache::clock_fn clock;
  std::chrono::seconds refresh{};
  std::chrono::seconds min_refetch{};
  std::unique_ptr<ssl::context> tls;

  asio::io_context ioc;
  strand_type timer_strand;
  asio::steady_timer timer;  // timer_strand only
  std::atomic<bool> stopped{false};
  std::atomic<bool> read_files_inline{true};  // until start() has done the first fetch
  std::thread thread;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;

  sync::annotated_mutex mutex;
  // Aborts the last fetch started (harmless once it finished).
  std::function<void()> abort_current RTCACHE_GUARDED_BY(mutex);
};

jwks_service::jwks_service(jwks_source source, auth::jwks_cache_config config, jwks_fetch_options options,
                           auth::jwks_cache::report_fn report, auth::jwks_cache::clock_fn clock) {
  if (!clock) clock = [] { return std::chrono::steady_clock::now(); };
  impl_ = std::make_shared<impl>(std::move(source), std::move(options));
  impl_->clock = clock;
  impl_->refresh = config.refresh;
  impl_->min_refetch = config.min_refetch;
  if (impl_->source.url && impl_->source.url->tls) {
    impl_->tls = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(impl_->tls->native_handle(), TLS1_2_VERSION);
    try {
      if (impl_->options.ca_file.empty()) {
        impl_->tls->set_default_verify_paths();
      } else {
        impl_->tls->load_verify_file(impl_->options.ca_file);
      }
    } catch (const std::exception& e) {
      throw std::runtime_error("jwks_ca_file '" + impl_->options.ca_file + "': " + e.what());
    }
  }
  // The cache reaches the service weakly: a fetch decided after the service is gone fails instead of crashing.
  std::weak_ptr<impl> weak = impl_;
  cache_ = auth::jwks_cache::create(
      config,
      [weak](auth::jwks_cache::fetch_done done) {
        if (auto s = weak.lock()) return s->fetch(std::move(done));
        done(auth::jwks_fetch_result::failed("the JWKS service is gone"));
      },
      std::move(clock), std::move(report));
  impl_->cache = cache_;
}

jwks_service::~jwks_service() {
  stop();
  impl_->cache.reset();  // the impl and the cache must not keep each other alive
}

void jwks_service::start() {
  impl_->work.emplace(asio::make_work_guard(impl_->ioc));
  impl_->thread = std::thread([s = impl_] { s->ioc.run(); });
  cache_->start();
  impl_->read_files_inline.store(false);
  asio::post(impl_->timer_strand, [s = impl_] { s->arm(); });
}

void jwks_service::stop() {
  if (impl_->stopped.exchange(true)) return;
  if (!impl_->thread.joinable()) return;  // never started: nothing runs, nothing is queued
  asio::post(impl_->timer_strand, [s = impl_] { s->timer.cancel(); });
  std::function<void()> abort;
  {
    const sync::mutex_lock lock(impl_->mutex);
    abort = std::move(impl_->abort_current);
  }
  if (abort) abort();
  impl_->work.reset();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace rtcache::gateway
