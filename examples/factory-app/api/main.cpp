// rtcache_factory_api: the demo factory's HTTP API (serve), its activity simulator (simulate) and its schema
// loader (load). main() wires the parts; the API never publishes events — changes reach clients only through
// PostgreSQL and rtcache's replication source.
#include "activity.hpp"
#include "api_handler.hpp"
#include "auth/auth.hpp"
#include "http_server.hpp"
#include "store.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace {

using namespace rtcache;

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::move(fallback);
}

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_signal(int) {
  g_stop = 1;
}

int run_serve(const std::string& listen, const std::string& conninfo, bool dev) {
  const std::string secret = env_or("RTCACHE_JWT_SECRET", "");
  auto key = auth::verification_key::hs256(secret);
  if (!key) {
    std::cerr << "error: RTCACHE_JWT_SECRET: " << key.error().message << "\n";
    return 2;
  }
  auto verifier = auth::jwt_verifier::create({*key});
  if (!verifier) {
    std::cerr << "error: " << verifier.error().message << "\n";
    return 2;
  }
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "error: --listen: expected host:port\n";
    return 2;
  }
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(listen.substr(0, colon), ec);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    port = -1;
  }
  if (ec || port < 0 || port > 65535) {
    std::cerr << "error: --listen '" << listen << "': expected host:port\n";
    return 2;
  }

  auto db = demo::store::connect(conninfo);
  if (!db) {
    std::cerr << "error: " << db.error().message << "\n";
    return 1;
  }
  demo::api_handler handler(*db, *verifier, dev ? std::optional<std::string>(secret) : std::nullopt,
                            [] { return std::chrono::system_clock::now(); });
  boost::asio::io_context io(1);
  const auto bound = demo::start_http_server(io, {address, static_cast<unsigned short>(port)}, handler);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
  std::cout << "factory-api listening on " << bound.address().to_string() << ":" << bound.port()
            << (dev ? " (dev endpoints on)" : "") << std::endl;
  io.run();
  std::cout << "factory-api stopped" << std::endl;
  return 0;
}

int run_simulate(const std::string& conninfo, double rate, const std::vector<std::string>& factories,
                 std::uint64_t seed, std::int64_t count) {
  if (rate <= 0 || rate > 1000) {
    std::cerr << "error: --rate must be in (0, 1000]\n";
    return 2;
  }
  auto db = demo::store::connect(conninfo);
  if (!db) {
    std::cerr << "error: " << db.error().message << "\n";
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  demo::activity_planner planner(seed, factories);
  const auto period =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(1.0 / rate));
  auto next = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; g_stop == 0 && (count == 0 || i < count); ++i) {
    const auto a = planner.next();
    auto rows = db->simulate(a);
    if (rows) {
      std::cout << "simulate: " << demo::to_string(a.kind) << " " << a.table->type << " " << a.factory
                << " rows=" << *rows << std::endl;
    } else {
      std::cerr << "simulate: " << demo::to_string(a.kind) << " " << a.table->type
                << " failed: " << rows.error().message << std::endl;
    }
    next += period;
    while (g_stop == 0 && std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(next - std::chrono::steady_clock::now(),
                                                                                std::chrono::milliseconds(100)));
    }
  }
  return 0;
}

int run_load(const std::string& conninfo, const std::vector<std::string>& files) {
  auto db = demo::store::connect(conninfo);
  if (!db) {
    std::cerr << "error: " << db.error().message << "\n";
    return 1;
  }
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) {
      std::cerr << "error: cannot read " << f << "\n";
      return 1;
    }
    std::stringstream text;
    text << in.rdbuf();
    if (auto r = db->execute_script(text.str()); !r) {
      std::cerr << "error: " << f << ": " << r.error().message << "\n";
      return 1;
    }
    std::cout << "loaded " << f << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rtcache demo factory API: serve, simulate, load"};
  app.require_subcommand(1);
  std::string conninfo = env_or("RTCACHE_PG_CONNINFO", "");

  auto* serve = app.add_subcommand("serve", "serve the HTTP API");
  std::string listen = "127.0.0.1:4100";
  bool dev = false;
  serve->add_option("-l,--listen", listen, "host:port (port 0: ephemeral)");
  serve->add_option("--conninfo", conninfo, "libpq connection string (default: env RTCACHE_PG_CONNINFO)");
  serve->add_flag("--dev", dev, "serve the dev endpoints /api/_token and /api/_requests (demo and tests only)");

  auto* simulate = app.add_subcommand("simulate", "write simulated factory activity to the database");
  double rate = 2;
  std::vector<std::string> factories{"f1", "f2", "f3"};
  std::uint64_t seed = 1;
  std::int64_t count = 0;
  simulate->add_option("--conninfo", conninfo, "libpq connection string (default: env RTCACHE_PG_CONNINFO)");
  simulate->add_option("--rate", rate, "activities per second");
  simulate->add_option("--factories", factories, "factories to act on")->delimiter(',');
  simulate->add_option("--seed", seed, "seed of the activity planner");
  simulate->add_option("--count", count, "stop after this many activities (0: run until signalled)");

  auto* load = app.add_subcommand("load", "run SQL files (schema, seed) against the database");
  std::vector<std::string> files;
  load->add_option("--conninfo", conninfo, "libpq connection string (default: env RTCACHE_PG_CONNINFO)");
  load->add_option("files", files, "SQL files, in order")->required();

  CLI11_PARSE(app, argc, argv);
  if (conninfo.empty()) {
    std::cerr << "error: no database: pass --conninfo or set RTCACHE_PG_CONNINFO\n";
    return 2;
  }
  if (serve->parsed()) return run_serve(listen, conninfo, dev);
  if (simulate->parsed()) return run_simulate(conninfo, rate, factories, seed, count);
  return run_load(conninfo, files);
}
