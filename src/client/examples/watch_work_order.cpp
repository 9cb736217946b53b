// rtcache_watch: watches one work order through the C++ SDK and prints its live state on every change.
//
//   rtcache_watch <ws-url> <token> <factoryId> <woId> [<fetch-url-template>]
//   (or RTCACHE_URL, RTCACHE_TOKEN, RTCACHE_FACTORY, RTCACHE_WO, RTCACHE_FETCH_URL)
//
// The fetcher GETs the template (http://host:port/path with {type} and {id} replaced) with the token as a
// Bearer header. Without a template it prints each fetch and returns {"type","id","fetch":n}, so the program
// shows when the policy refetches and when it patches.
#include "rtcache/client/realtime_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using namespace rtcache;

std::string arg_or_env(int argc, char** argv, int i, const char* env) {
  if (i < argc) return argv[i];
  const char* v = std::getenv(env);
  return v ? v : "";
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

struct http_target {
  std::string host, port = "80", path = "/";
};

std::optional<http_target> parse_http(std::string_view url) {
  if (!url.starts_with("http://")) return std::nullopt;
  url.remove_prefix(7);
  http_target t;
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) t.path = std::string(url.substr(slash));
  if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
    t.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
  }
  t.host = std::string(authority);
  if (t.host.empty()) return std::nullopt;
  return t;
}

// One GET per fetch, on the client's io_context; the answer completes the fetch.
void http_get(asio::io_context& ioc, http_target target, std::string token, client::fetch_callback done) {
  struct op {
    explicit op(asio::io_context& io) : resolver(io), stream(io) {}
    asio::ip::tcp::resolver resolver;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::empty_body> req;
    http::response<http::string_body> res;
  };
  auto o = std::make_shared<op>(ioc);
  o->req = {http::verb::get, target.path, 11};
  o->req.set(http::field::host, target.host);
  o->req.set(http::field::authorization, "Bearer " + token);
  auto fail = [done](beast::error_code ec) { done(client::fetch_result::failure(ec.message())); };
  o->stream.expires_after(std::chrono::seconds(10));
  o->resolver.async_resolve(target.host, target.port, [o, done, fail](beast::error_code ec, auto results) {
    if (ec) return fail(ec);
    o->stream.async_connect(results, [o, done, fail](beast::error_code ec2, auto) {
      if (ec2) return fail(ec2);
      http::async_write(o->stream, o->req, [o, done, fail](beast::error_code ec3, std::size_t) {
        if (ec3) return fail(ec3);
        http::async_read(o->stream, o->buffer, o->res, [o, done, fail](beast::error_code ec4, std::size_t) {
          if (ec4) return fail(ec4);
          if (o->res.result_int() != 200) {
            return done(client::fetch_result::failure("HTTP " + std::to_string(o->res.result_int())));
          }
          boost::system::error_code pec;
          json::value v = json::parse(o->res.body(), pec);
          if (pec) return done(client::fetch_result::failure("response is not JSON"));
          done(client::fetch_result::success_versioned(std::move(v)));
        });
      });
    });
  });
}

}  // namespace

int main(int argc, char** argv) {
  const std::string url = arg_or_env(argc, argv, 1, "RTCACHE_URL");
  const std::string token = arg_or_env(argc, argv, 2, "RTCACHE_TOKEN");
  const std::string factory = arg_or_env(argc, argv, 3, "RTCACHE_FACTORY");
  const std::string wo = arg_or_env(argc, argv, 4, "RTCACHE_WO");
  const std::string fetch_url = arg_or_env(argc, argv, 5, "RTCACHE_FETCH_URL");
  if (url.empty() || token.empty() || factory.empty() || wo.empty()) {
    std::cerr << "usage: rtcache_watch <ws-or-wss-url> <token> <factoryId> <woId> [<fetch-url-template>]\n"
                 "   or: RTCACHE_URL, RTCACHE_TOKEN, RTCACHE_FACTORY, RTCACHE_WO [, RTCACHE_FETCH_URL]\n";
    return 2;
  }
  auto server = client::parse_server_url(url);
  if (!server) {
    std::cerr << "bad server URL: " << server.error().message << "\n";
    return 2;
  }

  asio::io_context ioc;
  client::steady_clock clock;
  std::uint64_t fetches = 0;
  client::fetcher fetch = [&](const core::cache_key& key, client::fetch_callback done) {
    ++fetches;
    std::cout << "fetch #" << fetches << " " << key.to_json() << std::endl;
    if (fetch_url.empty()) {
      done(client::fetch_result::success(json::object{{"type", key.type}, {"id", key.id}, {"fetch", fetches}}));
      return;
    }
    auto target = parse_http(replace_all(replace_all(fetch_url, "{type}", key.type), "{id}", key.id));
    if (!target) return done(client::fetch_result::failure("bad fetch URL template"));
    http_get(ioc, *target, token, std::move(done));
  };
  client::query_cache cache(clock, fetch);

  client::realtime_options options;
  options.server = *server;
  options.access_token = token;
  options.scope = core::factory_scope::of({factory});
  if (const char* ca = std::getenv("RTCACHE_CA_FILE")) options.tls.ca_file = ca;  // wss:// with a private CA
  client::realtime_client rt(ioc, clock, cache, options);
  rt.set_error_listener([](const client::transport_error& e) {
    std::cerr << "transport: " << e.stage << ": " << e.message << std::endl;
  });
  rt.engine().set_problem_listener([](const client::session_problem& p) {
    std::cerr << "realtime: " << p.what << (p.channel.empty() ? "" : " on " + p.channel) << ": " << p.message
              << std::endl;
  });
  rt.engine().set_batch_listener([](const core::batch& b, const core::plan& p) {
    std::cout << "batch: " << b.events.size() << " event(s), " << b.absorbed << " absorbed ->";
    for (const auto& op : p.ops) std::cout << " " << core::to_string(op.kind);
    std::cout << std::endl;
  });

  auto view = rt.watch_doc("wo", wo, factory, [](const core::cache_key& key, const client::query_state& s) {
    std::cout << key.to_json() << " " << client::to_string(s.status) << "/" << client::to_string(s.fetch);
    if (s.data_version) std::cout << " v" << *s.data_version;
    if (s.data) std::cout << " " << json::serialize(*s.data);
    if (!s.error.empty()) std::cout << " error: " << s.error;
    std::cout << std::endl;
  });
  if (!view) {
    std::cerr << "cannot watch wo " << wo << ": " << view.error().message << "\n";
    return 2;
  }
  rt.start();

  // Ctrl-C: leave the channels and close the socket, then give the close handshake a moment.
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  asio::steady_timer grace(ioc);
  signals.async_wait([&](beast::error_code, int) {
    view->reset();
    rt.stop();
    grace.expires_after(std::chrono::milliseconds(300));
    grace.async_wait([&](beast::error_code) { ioc.stop(); });
  });
  ioc.run();
  return 0;
}
