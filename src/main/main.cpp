// The rtcache executable. main() wires the parts (config -> logger -> hub -> verifier -> gateway) and owns
// them all; there are no singletons. Subcommands: `serve` (relay mode: no database) and `check-config`.
#include "rtcache/core/doc_types.hpp"
#include "rtcache/net/auth.hpp"
#include "rtcache/net/gateway.hpp"
#include "rtcache/net/gateway_config.hpp"
#include "rtcache/net/gateway_log.hpp"
#include "rtcache/net/gateway_relay.hpp"
#include "rtcache/net/hub.hpp"

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace rtcache;

constexpr int k_exit_ok = 0;
constexpr int k_exit_runtime = 1;
constexpr int k_exit_config = 2;

std::optional<std::string> getenv_lookup(std::string_view name) {
  const char* v = std::getenv(std::string(name).c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

void print_problems(const std::vector<net::config_problem>& problems) {
  for (const auto& p : problems) std::cerr << "error: " << p.where << ": " << p.message << "\n";
}

// A random boot id, so epochs differ across restarts (hub.hpp: counter_epochs).
std::string boot_id() {
  std::random_device rd;
  const std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char buf[24];
  std::snprintf(buf, sizeof buf, "%012llx-", static_cast<unsigned long long>(v & 0xffffffffffffULL));
  return buf;
}

int check_config(const std::string& path) {
  const auto load = net::load_config(path, getenv_lookup);
  if (!load.ok()) {
    print_problems(load.problems);
    return k_exit_config;
  }
  const auto& g = load.config.gateway;
  std::cout << "ok: " << path << " (listen " << g.listen_address << ":" << g.port << ", threads "
            << (g.threads == 0 ? std::string("auto") : std::to_string(g.threads)) << ", tables "
            << (load.config.mapping ? load.config.mapping->tables.size() : 0) << ", postgres "
            << (load.config.postgres.enabled ? "on" : "off") << ")\n";
  return k_exit_ok;
}

int serve(const std::optional<std::string>& config_path, const std::optional<std::string>& listen,
          std::optional<std::size_t> threads) {
  auto load = net::load_config(config_path, getenv_lookup);
  if (listen) {
    if (auto hp = net::parse_listen(*listen)) {
      load.config.gateway.listen_address = hp->first;
      load.config.gateway.port = hp->second;
    } else {
      load.problems.push_back({"--listen", hp.error().message});
    }
  }
  if (threads) load.config.gateway.threads = *threads;
  if (!load.ok()) {
    print_problems(load.problems);
    return k_exit_config;
  }
  const net::serve_config& cfg = load.config;

  net::logger log(cfg.log);
  auto types = cfg.doc_types.empty() ? core::doc_type_registry::defaults()
                                     : core::doc_type_registry::from(cfg.doc_types).value();
  // HS256 secret and/or RS256/ES256 public keys ([auth] jwt_public_keys, RTCACHE_JWT_PUBLIC_KEYS).
  const auto verifier = net::make_verifier(cfg.auth).value();

  // Declaration order is destruction order reversed: the hub outlives the io_context, whose handlers hold
  // sessions that unsubscribe from the hub when destroyed.
  net::hub hub(cfg.hub, net::make_broadcast_encoder(), net::counter_epochs(boot_id()));
  boost::asio::io_context ioc;
  net::gateway gw(ioc, cfg.gateway, hub, verifier, types, log);
  try {
    gw.start();
  } catch (const std::exception& e) {
    log.error("gateway.start_failed", {{"reason", e.what()}});
    return k_exit_runtime;
  }

  boost::asio::steady_timer drain_timer(ioc);
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log.info("signal", {{"signo", signo}});
    drain_timer.expires_after(cfg.gateway.limits.drain_timeout);
    drain_timer.async_wait([&](const boost::system::error_code& tec) {
      if (tec) return;
      log.warn("shutdown.drain_timeout", {{"sessions", gw.sessions()}});
      ioc.stop();
    });
    gw.stop([&] {
      log.info("shutdown.drained");
      drain_timer.cancel();
    });
  });

  std::size_t n = cfg.gateway.threads;
  if (n == 0) n = std::max(1U, std::thread::hardware_concurrency());
  log.info("serve.start", {{"mode", "relay"}, {"threads", n}, {"doc_types", types.names().size()}});
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  for (std::size_t i = 1; i < n; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  log.info("serve.stopped");
  return k_exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rtcache: realtime cache invalidation for Postgres apps (Supabase Realtime protocol)"};
  app.require_subcommand(1);

  std::optional<std::string> config_path;
  std::optional<std::string> listen;
  std::optional<std::size_t> threads;
  auto* serve_cmd = app.add_subcommand("serve", "Run the server (relay mode: POST /v1/events, no database)");
  serve_cmd->add_option("-c,--config", config_path, "TOML config file (optional)")->check(CLI::ExistingFile);
  serve_cmd->add_option("-l,--listen", listen, "host:port to listen on (overrides config and RTCACHE_LISTEN)");
  serve_cmd->add_option("-t,--threads", threads, "io threads (0: one per core)");

  std::string check_path;
  auto* check_cmd = app.add_subcommand("check-config", "Validate a config file; exit 2 on error");
  check_cmd->add_option("file", check_path, "TOML config file")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? k_exit_ok : k_exit_config;
  }
  try {
    if (*serve_cmd) return serve(config_path, listen, threads);
    if (*check_cmd) return check_config(check_path);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return k_exit_runtime;
  }
  return k_exit_config;
}
