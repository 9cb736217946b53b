// The listeners and the HTTP side of the gateway: accepts TCP connections (and on the TLS listener completes the
// TLS handshake with the current certificate), answers the REST and health endpoints, and authorises WebSocket
// upgrades before handing the stream to a websocket session. One HTTP session for both: the stream is a template
// parameter.
#include "gateway/metrics_access.hpp"
#include "protocol/text.hpp"
#include "state.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdexcept>
#include <thread>
#include <type_traits>

namespace rtcache::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// ---- state ----

gateway::state::state(asio::io_context& io, gateway_config cfg, hub::hub& h, const auth::jwt_verifier& v,
                      core::doc_type_registry t, logger& l, wall_clock_fn clock)
    : ioc(io),
      config(std::move(cfg)),
      the_hub(h),
      verifier(v),
      types(std::move(t)),
      log(l),
      wall_now(clock ? std::move(clock) : wall_clock_fn([] {
        return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
      })),
      access(auth::channel_access::create(config.channels).value()),
      relay(h, types),
      deadlines(std::make_shared<detail::session_deadlines>(io, config.limits.deadline_tick)),
      env{config.limits, verifier, access, types, config.mapping.get(), metrics, log},
      addresses(config.limits.max_connections_per_ip),
      rest_broadcasts(config.limits.client_broadcasts, k_max_rest_broadcast_addresses),
      acceptor_strand(asio::make_strand(io)),
      acceptor(acceptor_strand),
      metrics_acceptor(acceptor_strand),
      tls_acceptor(acceptor_strand),
      sweep_timer(acceptor_strand) {}

void gateway::state::set_replication_provider(replication_status_provider p) {
  sync::mutex_lock lock(mu_);
  replication_ = std::move(p);
}

std::optional<replication_status> gateway::state::replication() const {
  replication_status_provider p;
  {
    sync::mutex_lock lock(mu_);
    p = replication_;
  }
  if (!p) return std::nullopt;
  return p();
}

std::uint64_t gateway::state::add(std::weak_ptr<detail::session> s) {
  sync::mutex_lock lock(mu_);
  const auto id = next_session_id_++;
  sessions_.emplace(id, std::move(s));
  return id;
}

void gateway::state::remove(std::uint64_t id) {
  std::function<void()> drained;
  {
    sync::mutex_lock lock(mu_);
    sessions_.erase(id);
    if (sessions_.empty() && stopping.load() && on_drained_) drained = std::exchange(on_drained_, nullptr);
  }
  if (drained) asio::post(ioc, std::move(drained));
}

std::size_t gateway::state::size() const {
  sync::mutex_lock lock(mu_);
  return sessions_.size();
}

void gateway::state::stop(std::function<void()> on_drained) {
  if (stopping.exchange(true)) return;
  log.info("gateway.stopping", {{"sessions", size()}});
  asio::dispatch(acceptor_strand, [self = shared_from_this()] {
    beast::error_code ignored;
    self->acceptor.close(ignored);
    self->metrics_acceptor.close(ignored);
    self->tls_acceptor.close(ignored);
    self->sweep_timer.cancel();
  });
  std::vector<std::shared_ptr<detail::session>> live;
  {
    sync::mutex_lock lock(mu_);
    for (auto& [id, w] : sessions_) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
    if (sessions_.empty()) {
      if (on_drained) asio::post(ioc, std::move(on_drained));
    } else {
      on_drained_ = std::move(on_drained);
    }
  }
  for (auto& s : live) s->shutdown();
}

namespace {

// ---- helpers ----

std::string json_error(std::string_view message) {
  std::string out = R"({"error":)";
  protocol::append_json_string(out, message);
  out.push_back('}');
  return out;
}

bool is_websocket_path(std::string_view path) noexcept {
  return path == "/realtime/v1/websocket" || path == "/socket/websocket";
}

// The bearer token of a REST call: Authorization: Bearer <jwt>, else the apikey header.
std::optional<std::string> rest_token(const http::request<http::string_body>& req) {
  if (auto it = req.find(http::field::authorization); it != req.end()) {
    std::string_view v = it->value();
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) return std::string(v.substr(7));
  }
  if (auto it = req.find("apikey"); it != req.end()) return std::string(it->value());
  return std::nullopt;
}

// ---- HTTP session ----

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// `Stream`: beast::tcp_stream (the plain and metrics listeners) or tls_stream (the TLS listener).
template <class Stream>
class http_session final : public detail::session, public std::enable_shared_from_this<http_session<Stream>> {
  using std::enable_shared_from_this<http_session>::shared_from_this;
  using std::enable_shared_from_this<http_session>::weak_from_this;
  static constexpr bool k_tls = std::is_same_v<Stream, tls_stream>;

 public:
  // `metrics_only`: accepted on the [metrics] listen address, which serves /metrics, /healthz and /readyz only.
  http_session(std::shared_ptr<gateway::state> gw, Stream stream, bool metrics_only)
      : gw_(std::move(gw)), stream_(std::move(stream)), executor_(stream_.get_executor()), metrics_only_(metrics_only) {
    beast::error_code ec;
    const auto ep = tcp_layer().socket().remote_endpoint(ec);
    if (!ec) {
      peer_ = ep.address().to_string() + ":" + std::to_string(ep.port());
      address_ = ep.address();
    }
  }

  ~http_session() override { gw_->remove(registry_id_); }

  void run() {
    registry_id_ = gw_->add(weak_from_this());
    if (gw_->stopping.load()) return;  // registered after stop() looked: just end
    asio::dispatch(executor_, [self = shared_from_this()] { self->start(); });
  }

  // Called from the thread that stops the gateway. It must not touch stream_: an upgrade on the session's strand
  // may be moving it into the WebSocket session at this moment (a moved-from stream has no executor either).
  void shutdown() override {
    asio::post(executor_, [self = shared_from_this()] {
      if (self->upgraded_ || self->writing_) return;  // a response in flight closes after it is written
      beast::error_code ignored;
      self->tcp_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
      self->tcp_layer().close();
    });
  }

 private:
  beast::tcp_stream& tcp_layer() noexcept { return beast::get_lowest_layer(stream_); }

  void start() {
    if constexpr (k_tls) {
      // The TLS handshake is bounded like the HTTP request that follows it.
      tcp_layer().expires_after(gw_->config.limits.handshake_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              beast::bind_front_handler(&http_session::on_handshake, shared_from_this()));
    } else {
      do_read();
    }
  }

  void on_handshake(beast::error_code ec) {
    if (ec) {
      gw_->log.info("tls.handshake_failed", {{"peer", peer_}, {"reason", ec.message()}});
      return close_socket();
    }
    do_read();
  }

  void do_read() {
    parser_.emplace();
    parser_->body_limit(gw_->config.limits.max_http_body_bytes);
    parser_->header_limit(16 * 1024);
    tcp_layer().expires_after(gw_->config.limits.handshake_timeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted) {
      return close();
    }
    if (ec == http::error::body_limit) {
      return respond(
          http::status::payload_too_large,
          json_error("request body exceeds " + std::to_string(gw_->config.limits.max_http_body_bytes) + " bytes"),
          false);
    }
    if (ec) return close();
    auto req = parser_->release();
    if (beast::websocket::is_upgrade(req)) return upgrade(std::move(req));
    route(req);
  }

  void upgrade(http::request<http::string_body> req) {
    address_slot slot;  // this connection's count against max_connections_per_ip, once taken
    auto refuse = [&](http::status status, std::string body) {
      slot.release();  // before the answer goes out: a client that reads it may connect again at once
      gw_->metrics.connections_refused_total.Increment();
      gw_->log.info("ws.refused", {{"peer", peer_}, {"status", static_cast<unsigned>(status)}, {"body", body}});
      respond(status, std::move(body), false);
    };
    const std::string_view target = req.target();
    auto url = boost::urls::parse_origin_form(target);
    if (!url) return refuse(http::status::bad_request, json_error("malformed request target"));
    if (metrics_only_ || !is_websocket_path(url->path()))
      return refuse(http::status::not_found, json_error("Not found"));
    if (gw_->stopping.load()) return refuse(http::status::service_unavailable, json_error("Server shutting down"));
    // Counted before the token is verified, so that one address cannot make the server verify tokens for more
    // connections than its share either. A refusal releases it before it answers; the session, when it ends.
    slot = gw_->addresses.acquire(address_);
    if (!slot) {
      gw_->metrics.address_refusals_total.Increment();
      return refuse(http::status::too_many_requests, json_error("Too many connections from this address"));
    }

    std::optional<std::string> token;
    std::optional<std::string> vsn;
    for (const auto& p : url->params()) {
      if (p.key == "apikey" && !token) token = p.value;
      if (p.key == "vsn" && !vsn) vsn = p.value;
    }
    if (!token) {
      if (auto it = req.find("x-api-key"); it != req.end()) token = std::string(it->value());
    }
    auto version = protocol::parse_vsn(vsn ? std::optional<std::string_view>(*vsn) : std::nullopt);
    if (!version) return refuse(http::status::bad_request, json_error(version.error().message));

    auto who = gw_->verifier.verify(token ? std::string_view(*token) : std::string_view(), gw_->now());
    if (!who) {
      gw_->metrics.auth_refusals_total.Increment();
      const auth::http_refusal r = auth::to_http_refusal(who.error());
      gw_->log.info("auth.refused",
                    {{"peer", peer_}, {"code", to_string(who.error().code)}, {"detail", who.error().message}});
      return refuse(static_cast<http::status>(r.status), r.body);
    }
    const auto max = static_cast<std::int64_t>(gw_->config.limits.max_connections);
    if (gw_->metrics.connections.fetch_add(1, std::memory_order_relaxed) >= max) {
      gw_->metrics.connections.fetch_sub(1, std::memory_order_relaxed);
      return refuse(http::status::too_many_requests, json_error("Too many connections"));
    }
    upgraded_ = true;
    tcp_layer().expires_never();
    start_websocket_session(gw_, std::move(stream_), std::move(req), *version, std::move(*who), peer_, std::move(slot));
  }

  void route(http::request<http::string_body>& req) {
    gw_->metrics.http_requests_total.Increment();
    keep_alive_ = req.keep_alive();
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const auto method = req.method();
    const bool is_get = method == http::verb::get || method == http::verb::head;

    if (path == "/healthz") {
      if (!is_get) return method_not_allowed();
      return respond(http::status::ok, R"({"status":"ok"})", keep_alive_);
    }
    if (path == "/readyz") {
      if (!is_get) return method_not_allowed();
      if (gw_->stopping.load()) return respond(http::status::service_unavailable, R"({"status":"stopping"})", false);
      if (auto why = gw_->node->not_ready()) {
        std::string body = R"({"status":"not_ready","reason":)";
        protocol::append_json_string(body, *why);
        body.push_back('}');
        return respond(http::status::service_unavailable, std::move(body), keep_alive_);
      }
      return respond(http::status::ok, R"({"status":"ready"})", keep_alive_);
    }
    if (path == "/metrics") {
      if (!is_get) return method_not_allowed();
      return get_metrics(req);
    }
    if (metrics_only_) return respond(http::status::not_found, json_error("Not found"), keep_alive_);
    if (path == "/v1/events") {
      if (method != http::verb::post) return method_not_allowed();
      return post_events(req);
    }
    if (path == "/api/broadcast" || path == "/realtime/v1/api/broadcast") {
      if (method != http::verb::post) return method_not_allowed();
      return post_broadcast(req);
    }
    if (is_websocket_path(path)) {
      return respond(http::status::bad_request, json_error("WebSocket upgrade required"), keep_alive_);
    }
    respond(http::status::not_found, json_error("Not found"), keep_alive_);
  }

  // GET /metrics (issue 11, finding 10): with [metrics] listen, on that address only; with a bearer token, for
  // requests presenting it; with neither, for loopback peers only (a scraper on the same host, or behind a
  // proxy that forwards only what it should: docs/operations.md).
  void get_metrics(const http::request<http::string_body>& req) {
    std::string_view authorization;
    if (auto it = req.find(http::field::authorization); it != req.end()) authorization = it->value();
    const auto refuse = [&](http::status status, std::string_view why) {
      gw_->metrics.metrics_refusals_total.Increment();
      respond(status, json_error(why), keep_alive_);
    };
    switch (metrics_access(gw_->config.metrics, metrics_only_, address_, authorization)) {
      case metrics_verdict::serve: break;
      case metrics_verdict::not_found: return refuse(http::status::not_found, "Not found");
      case metrics_verdict::unauthorized:
        return refuse(http::status::unauthorized, "/metrics needs Authorization: Bearer <metrics.bearer_token>");
      case metrics_verdict::forbidden:
        return refuse(http::status::forbidden,
                      "/metrics is served to loopback clients only; set [metrics] bearer_token or [metrics] listen");
    }
    gw_->metrics.connection_addresses.store(static_cast<std::int64_t>(gw_->addresses.addresses()),
                                            std::memory_order_relaxed);
    const auto source = gw_->replication();
    const auto cluster = gw_->cluster();
    respond(http::status::ok,
            prometheus_text(gw_->metrics, gw_->the_hub.metrics(), source ? &*source : nullptr,
                            cluster ? &*cluster : nullptr),
            keep_alive_, "text/plain; version=0.0.4; charset=utf-8");
  }

  // The verified principal of a REST call, or the refusal already answered.
  std::optional<auth::principal> authorise_rest(const http::request<http::string_body>& req) {
    const auto token = rest_token(req);
    auto who = gw_->verifier.verify(token ? std::string_view(*token) : std::string_view(), gw_->now());
    if (!who) {
      gw_->metrics.auth_refusals_total.Increment();
      const auth::http_refusal r = auth::to_http_refusal(who.error());
      respond(static_cast<http::status>(r.status), r.body, keep_alive_);
      return std::nullopt;
    }
    return std::move(*who);
  }

  void post_events(http::request<http::string_body>& req) {
    auto who = authorise_rest(req);
    if (!who) return;
    if (who->role != auth::auth_role::service_role) {
      gw_->metrics.auth_refusals_total.Increment();
      return respond(http::status::forbidden, json_error("POST /v1/events requires a service_role token"), keep_alive_);
    }
    respond_from_node([gw = gw_, body = std::move(req.body())]() -> answer {
      std::optional<core::result<ingest::relay_outcome>> read;
      core::result<void> published;
      {
        detail::flush_scope batch;  // each connection gets the whole batch in one write, when this ends
        published =
            gw->node->ingest([&](ingest::relay_target& to) { read.emplace(gw->relay.publish_events(to, body)); });
      }
      auto& outcome = *read;
      if (!outcome) return bad_request(outcome.error());
      if (!published) return unavailable(published.error());
      gateway_metrics::add(gw->metrics.events_accepted_total, outcome->accepted);
      gateway_metrics::add(gw->metrics.events_refused_total, outcome->refused.size());
      gw->log.debug(
          "relay.events",
          {{"accepted", outcome->accepted}, {"refused", outcome->refused.size()}, {"deliveries", outcome->deliveries}});
      return {http::status::accepted, outcome->to_json()};
    });
  }

  void post_broadcast(http::request<http::string_body>& req) {
    auto who = authorise_rest(req);
    if (!who) return;
    respond_from_node([gw = gw_, body = std::move(req.body()), who = std::move(*who), address = address_]() -> answer {
      // A client's REST broadcasts are bounded per address as a connection's are (service_role: not at all).
      std::function<ingest::broadcast_limiter::verdict(std::size_t, std::size_t)> admit;
      if (who.role != auth::auth_role::service_role) {
        admit = [&](std::size_t messages, std::size_t bytes) {
          return gw->rest_broadcasts.admit(address_counter::key_of(address), messages, bytes,
                                           std::chrono::steady_clock::now());
        };
      }
      std::optional<core::result<ingest::relay_outcome>> read;
      core::result<void> published;
      {
        detail::flush_scope batch;  // each connection gets the whole batch in one write, when this ends
        published = gw->node->ingest([&](ingest::relay_target& to) {
          read.emplace(gw->relay.publish_broadcasts(to, body, who, gw->access, admit));
        });
      }
      auto& outcome = *read;
      if (!outcome) return bad_request(outcome.error());
      if (outcome->limited) {
        // Supabase's answers for its REST broadcast: 429 over the rate, 413 over the payload size.
        gw->metrics.client_broadcasts_limited_total.Increment();
        if (*outcome->limited == ingest::broadcast_limiter::verdict::too_large) {
          return {http::status::payload_too_large, json_error("Payload size exceeded")};
        }
        return {http::status::too_many_requests, json_error("You have exceeded your rate limit")};
      }
      if (!published) return unavailable(published.error());
      gateway_metrics::add(gw->metrics.broadcasts_total, outcome->accepted);
      return {http::status::accepted, outcome->to_json()};
    });
  }

  // What a relay request is answered.
  struct answer {
    http::status status;
    std::string body;
  };

  // Responds with what `make` answers. `make` publishes through the node: when the node's relay ingest may wait on
  // the network (a cluster node waits for JetStream), on the node's blocking threads, so that this request's wait
  // stalls no other connection on this io thread; 503 when the node admits no more such calls.
  void respond_from_node(std::function<answer()> make) {
    if (!gw_->node->ingest_may_block()) {
      auto a = make();
      return respond(a.status, std::move(a.body), keep_alive_);
    }
    writing_ = true;  // a response is being made: shutdown() leaves the connection to close after it
    const bool started = gw_->node->run_blocking([self = shared_from_this(), make = std::move(make)] {
      auto a = make();
      asio::post(self->executor_, [self, a = std::move(a)]() mutable {
        self->writing_ = false;
        self->respond(a.status, std::move(a.body), self->keep_alive_);
      });
    });
    if (started) return;
    writing_ = false;
    auto a = unavailable(core::error{core::errc::too_many, "relay ingest not accepted: " + std::string(k_node_busy)});
    respond(a.status, std::move(a.body), keep_alive_);
  }

  // 400: the body as a whole is refused (nothing of it was published).
  static answer bad_request(const core::error& e) {
    return {http::status::bad_request, json_error(std::string(core::to_string(e.code)) + ": " + e.message)};
  }

  // 503: the node could not publish what it accepted (a cluster node cut from NATS, or its ingest stream did not
  // acknowledge in time or refused it, or the node admits no more calls waiting on it); nothing of the request is
  // counted accepted.
  static answer unavailable(const core::error& e) { return {http::status::service_unavailable, json_error(e.message)}; }

  void method_not_allowed() {
    respond(http::status::method_not_allowed, json_error("Method not allowed"), keep_alive_);
  }

  void respond(http::status status, std::string body, bool keep_alive,
               std::string_view content_type = "application/json") {
    auto res = std::make_shared<http::response<http::string_body>>(status, 11);
    res->set(http::field::server, "rtcache");
    res->set(http::field::content_type, content_type);
    res->keep_alive(keep_alive && !gw_->stopping.load());
    res->body() = std::move(body);
    res->prepare_payload();
    writing_ = true;
    tcp_layer().expires_after(gw_->config.limits.handshake_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
      self->writing_ = false;
      if (ec || !res->keep_alive()) return self->close();
      self->do_read();
    });
  }

  // Ends the connection: over TLS with close_notify first (bounded by close_timeout), so that a client reading
  // to the end of the stream sees a clean end.
  void close() {
    if constexpr (k_tls) {
      tcp_layer().expires_after(gw_->config.limits.close_timeout);
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->close_socket(); });
    } else {
      close_socket();
    }
  }

  void close_socket() {
    beast::error_code ignored;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
    tcp_layer().close();
  }

  const std::shared_ptr<gateway::state> gw_;
  Stream stream_;
  const asio::any_io_executor executor_;  // stream_'s strand, kept: stream_ is moved away by an upgrade
  const bool metrics_only_;
  std::string peer_;
  asio::ip::address address_;  // the client's (unspecified when unknown)
  std::uint64_t registry_id_ = 0;
  // Strand only.
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  bool writing_ = false;
  bool upgraded_ = false;
};

// ---- idle channel sweep ----

// Frees hub channels whose linger has passed, every config.sweep_interval until the gateway stops.
void arm_sweep(const std::shared_ptr<gateway::state>& gw) {
  gw->sweep_timer.expires_after(gw->config.sweep_interval);
  gw->sweep_timer.async_wait([gw](beast::error_code ec) {
    if (ec || gw->stopping.load()) return;
    const std::size_t freed = gw->the_hub.sweep();
    if (freed != 0) gw->log.debug("hub.sweep", {{"freed", freed}});
    arm_sweep(gw);
  });
}

// ---- listener ----

constexpr std::chrono::milliseconds k_accept_retry{100};

enum class listener { main, metrics, tls };

tcp::acceptor& acceptor_of(gateway::state& gw, listener which) {
  switch (which) {
    case listener::metrics: return gw.metrics_acceptor;
    case listener::tls: return gw.tls_acceptor;
    case listener::main: break;
  }
  return gw.acceptor;
}

void do_accept(const std::shared_ptr<gateway::state>& gw, listener which) {
  tcp::acceptor& acceptor = acceptor_of(*gw, which);
  acceptor.async_accept(asio::make_strand(gw->ioc), [gw, which, &acceptor](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      gw->log.warn("gateway.accept_failed", {{"reason", ec.message()}});
      // Out of file descriptors (EMFILE/ENFILE) persists until a connection closes: retrying at once would
      // spin a core and flood the log (load benchmark, idle mode). The pending connection waits in the backlog.
      auto retry = std::make_shared<asio::steady_timer>(gw->acceptor_strand, k_accept_retry);
      retry->async_wait([gw, retry, which](beast::error_code) { do_accept(gw, which); });
      return;
    } else if (gw->stopping.load()) {
      return;
    } else if (gw->size() >= gw->config.limits.max_connections + 1024) {
      beast::error_code ignored;
      socket.close(ignored);  // beyond any upgrade we could accept: not worth an HTTP answer
    } else {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);  // small frames (replies, invalidations) go out at once
      if (which == listener::tls) {
        // The context current now: a reload after this line serves the next connection, not this one.
        const auto ctx = gw->tls->current();
        std::make_shared<http_session<tls_stream>>(gw, tls_stream(beast::tcp_stream(std::move(socket)), *ctx), false)
            ->run();
      } else {
        std::make_shared<http_session<beast::tcp_stream>>(gw, beast::tcp_stream(std::move(socket)),
                                                          which == listener::metrics)
            ->run();
      }
    }
    do_accept(gw, which);
  });
}

void listen_on(tcp::acceptor& acceptor, const std::string& address, std::uint16_t port) {
  const tcp::endpoint ep(asio::ip::make_address(address), port);
  acceptor.open(ep.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(asio::socket_base::max_listen_connections);
}

}  // namespace

// ---- gateway ----

gateway::gateway(asio::io_context& ioc, gateway_config config, hub::hub& h, const auth::jwt_verifier& verifier,
                 core::doc_type_registry types, logger& log, wall_clock_fn now)
    : state_(std::make_shared<state>(ioc, std::move(config), h, verifier, std::move(types), log, std::move(now))) {}

gateway::~gateway() {
  stop();
}

std::uint16_t gateway::start() {
  auto& s = *state_;
  const bool plain_listener = s.config.plain_listener;
  const bool tls_listener = s.config.tls.enabled();
  if (tls_listener) {
    auto ctx = detail::make_server_tls_context(s.config.tls);
    if (!ctx) throw std::runtime_error(ctx.error().message);
    s.tls = std::make_unique<detail::tls_context_holder>(std::move(*ctx));
  }
  std::uint16_t port = 0;
  if (plain_listener) {
    listen_on(s.acceptor, s.config.listen_address, s.config.port);
    port = s.acceptor.local_endpoint().port();
    s.log.info("gateway.listening", {{"address", s.config.listen_address}, {"port", port}});
  }
  if (tls_listener) {
    listen_on(s.tls_acceptor, s.config.tls.listen->first, s.config.tls.listen->second);
    s.log.info("gateway.tls_listening", {{"address", s.config.tls.listen->first},
                                         {"port", s.tls_acceptor.local_endpoint().port()},
                                         {"cert_file", s.config.tls.cert_file}});
  }
  const bool metrics_listener = s.config.metrics.listen.has_value();
  if (metrics_listener) {
    listen_on(s.metrics_acceptor, s.config.metrics.listen->first, s.config.metrics.listen->second);
    s.log.info("gateway.metrics_listening",
               {{"address", s.config.metrics.listen->first}, {"port", s.metrics_acceptor.local_endpoint().port()}});
  }
  asio::dispatch(s.acceptor_strand, [gw = state_, plain_listener, tls_listener, metrics_listener] {
    if (plain_listener) do_accept(gw, listener::main);
    if (tls_listener) do_accept(gw, listener::tls);
    if (metrics_listener) do_accept(gw, listener::metrics);
    arm_sweep(gw);
  });
  return port;
}

std::uint16_t gateway::tls_port() const {
  beast::error_code ec;
  const auto ep = state_->tls_acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

namespace {

// What the log says of the certificate a context serves: its subject and serial number.
std::pair<std::string, std::string> describe_certificate(asio::ssl::context& ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx.native_handle());
  if (cert == nullptr) return {};
  std::string subject;
  if (char* text = X509_NAME_oneline(X509_get_subject_name(cert), nullptr, 0)) {
    subject = text;
    OPENSSL_free(text);
  }
  std::string serial;
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      serial = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  return {subject, serial};
}

}  // namespace

core::result<void> gateway::reload_tls() {
  auto& s = *state_;
  if (!s.tls) return core::error{core::errc::bad_value, "TLS is not configured ([tls])"};
  auto ctx = detail::make_server_tls_context(s.config.tls);
  if (!ctx) {
    s.log.error("tls.reload_failed", {{"reason", ctx.error().message}, {"action", "keeping the previous certificate"}});
    return ctx.error();
  }
  const auto [subject, serial] = describe_certificate(**ctx);
  s.tls->replace(std::move(*ctx));
  s.log.info("tls.reloaded", {{"cert_file", s.config.tls.cert_file}, {"subject", subject}, {"serial", serial}});
  return {};
}

std::uint16_t gateway::metrics_port() const {
  beast::error_code ec;
  const auto ep = state_->metrics_acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void gateway::stop(std::function<void()> on_drained) {
  state_->stop(std::move(on_drained));
}

std::size_t gateway::sessions() const noexcept {
  return state_->size();
}

std::size_t gateway::client_addresses() const noexcept {
  return state_->addresses.addresses();
}

void gateway::state::set_cluster_provider(cluster_status_provider p) {
  sync::mutex_lock lock(mu_);
  cluster_ = std::move(p);
}

std::optional<cluster_status> gateway::state::cluster() const {
  cluster_status_provider p;
  {
    sync::mutex_lock lock(mu_);
    p = cluster_;
  }
  if (!p) return std::nullopt;
  return p();
}

const gateway_metrics& gateway::metrics() const noexcept {
  return state_->metrics;
}

void gateway::set_replication_status_provider(replication_status_provider provider) {
  state_->set_replication_provider(std::move(provider));
}

void gateway::set_cluster_status_provider(cluster_status_provider provider) {
  state_->set_cluster_provider(std::move(provider));
}

void gateway::set_node(serving_node& node) {
  state_->node = &node;
}

ingest::relay& gateway::relay() noexcept {
  return state_->relay;
}

void flush_scoped(const std::function<void()>& publish) {
  const detail::flush_scope flush;
  publish();
}

}  // namespace rtcache::gateway
