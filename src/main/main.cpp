// The rtcache executable. main() wires the parts (config -> logger -> hub -> verifier -> gateway) and owns
// them all; there are no singletons. Subcommands: `serve` (relay mode: no database), `check-config` and
// `config-keys`.
// The help texts are the reference the man page (deploy/man/rtcache.1) is checked against.
#include "auth/auth.hpp"
#include "cluster/probe.hpp"
#include "cluster/reader_sink.hpp"
#include "cluster/relay_writer.hpp"
#include "gateway/build_info.hpp"
#include "gateway/cluster_node.hpp"
#include "gateway/config.hpp"
#include "gateway/config_key_list.hpp"
#include "gateway/gateway.hpp"
#include "gateway/jwks_fetcher.hpp"
#include "gateway/log.hpp"
#include "hub/hub.hpp"
#include "ingest/hub_sink.hpp"
#include "ingest/relay.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/pg/source.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace rtcache;

constexpr int k_exit_ok = 0;
constexpr int k_exit_runtime = 1;
constexpr int k_exit_config = 2;
// check-config only: the config is valid but NATS refused the [cluster] settings (unreachable, authentication,
// TLS, JetStream not answering).
constexpr int k_exit_cluster = 3;

std::optional<std::string> getenv_lookup(std::string_view name) {
  const char* v = std::getenv(std::string(name).c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

void print_problems(const std::vector<core::config_problem>& problems) {
  for (const auto& p : problems) std::cerr << "error: " << p.where << ": " << p.message << "\n";
}

// The source's log seam into the server's logger. A cluster node's lines name the node (`node=ID`), so that the
// operator sees which node reads and which stands by (pg.source_role).
pg::log_fn source_logger(gateway::logger& log, std::string node = {}) {
  return [&log, node = std::move(node)](pg::log_level level, std::string_view event,
                                        std::span<const pg::log_field> fields) {
    gateway::log_level l = gateway::log_level::info;
    switch (level) {
      case pg::log_level::debug: l = gateway::log_level::debug; break;
      case pg::log_level::info: l = gateway::log_level::info; break;
      case pg::log_level::warn: l = gateway::log_level::warn; break;
      case pg::log_level::error: l = gateway::log_level::error; break;
    }
    if (!log.enabled(l)) return;
    std::vector<gateway::log_field> out;
    out.reserve(fields.size() + 1);
    if (!node.empty()) out.emplace_back("node", node);
    for (const auto& f : fields) out.emplace_back(f.key, f.value);
    std::string name = event.starts_with("pg_") ? "" : "pg.";
    name.append(event);
    log.write(l, name, out);
  };
}

pg::source_config source_config_of(const gateway::postgres_settings& p) {
  pg::source_config c;
  c.conninfo = p.conninfo;
  c.slot = p.slot;
  c.publication = p.publication;
  c.create_slot = p.create_slot;
  c.create_publication = p.create_publication;
  c.status_interval = p.status_interval;
  c.wal_sender_timeout = p.wal_sender_timeout;
  c.standby_retry = p.standby_retry;
  c.durability.max_unconfirmed_messages = p.max_unconfirmed_messages;
  c.durability.stall_timeout = p.publish_stall;
  return c;
}

int check_config(const std::string& path) {
  const auto load = gateway::load_config(path, getenv_lookup);
  if (!load.ok()) {
    print_problems(load.problems);
    return k_exit_config;
  }
  // [cluster]: reach NATS with this node's settings and read (never create) the stream's state; "ok" only after.
  std::optional<cluster::probe_report> probe;
  const auto stream = gateway::stream_settings_of(load.config).name;
  if (load.config.cluster.enabled) {
    probe = cluster::probe_stream(gateway::nats_settings_of(load.config), stream);
    if (!probe->ok()) {
      std::cerr << "error: cluster.nats_urls: " << cluster::describe(*probe, stream) << "\n";
      return k_exit_cluster;
    }
  }
  const auto& g = load.config.gateway;
  std::cout << "ok: " << path << " (listen "
            << (g.plain_listener ? g.listen_address + ":" + std::to_string(g.port) : std::string("off")) << ", tls "
            << (g.tls.enabled() ? g.tls.listen->first + ":" + std::to_string(g.tls.listen->second) : std::string("off"))
            << ", threads " << (g.threads == 0 ? std::string("auto") : std::to_string(g.threads)) << ", tables "
            << (load.config.mapping ? load.config.mapping->tables.size() : 0) << ", postgres "
            << (load.config.postgres.enabled ? "on" : "off") << (probe ? ", cluster on" : "") << ")\n";
  if (probe) {
    std::cout << "cluster: node " << gateway::node_id_of(load.config) << ", " << cluster::describe(*probe, stream)
              << "\n";
  }
  return k_exit_ok;
}

// A stream writer's counters in the node's metrics.
void put_writer(gateway::cluster_status& s, const cluster::writer_stats& w, std::uint64_t fenced) {
  s.writer = true;
  s.writer_messages = w.messages;
  s.writer_records = w.records;
  s.writer_gaps = w.gaps;
  s.writer_skipped = w.skipped + w.ingest_skipped;
  s.writer_ingest_items = w.ingest_items;
  s.writer_ingest_lost = w.ingest_lost;
  s.writer_resyncs = w.resyncs;
  s.writers_fenced = fenced;
}

int serve(const std::optional<std::string>& config_path, const std::optional<std::string>& listen,
          std::optional<std::size_t> threads) {
  auto load = gateway::load_config(config_path, getenv_lookup);
  if (listen && *listen == "off") {
    load.config.gateway.plain_listener = false;
  } else if (listen) {
    if (auto hp = gateway::parse_listen(*listen)) {
      load.config.gateway.plain_listener = true;
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
  const gateway::serve_config& cfg = load.config;

  gateway::logger log(cfg.log);
  auto types = cfg.doc_types.empty() ? core::doc_type_registry::defaults()
                                     : core::doc_type_registry::from(cfg.doc_types).value();
  // With [auth] jwks_url or jwks_file: the JWKS service fetches the keys (and keeps them fresh) on a thread of
  // its own. A URL that cannot be fetched at start does not stop the server: tokens signed with JWKS keys are
  // refused until a fetch succeeds (retried with backoff from jwks_min_refetch_s); the secret, the public keys
  // and the API keys work meanwhile. A file is read before the server listens (check-config read it too).
  std::unique_ptr<gateway::jwks_service> jwks;
  if (auto source = gateway::jwks_source_of(cfg.auth)) {
    const std::string where = source->url ? source->url->display : source->file;
    try {
      jwks = std::make_unique<gateway::jwks_service>(
          std::move(*source), gateway::jwks_cache_config_of(cfg.auth), gateway::jwks_fetch_options_of(cfg.auth),
          [&log, where](const auth::jwks_report& r) {
            switch (r.event) {
              case auth::jwks_event::loaded: log.info("auth.jwks_loaded", {{"from", where}, {"keys", r.keys}}); break;
              case auth::jwks_event::key_skipped:
                log.warn("auth.jwks_key_skipped", {{"from", where}, {"reason", r.detail}});
                break;
              case auth::jwks_event::fetch_failed:
                log.warn("auth.jwks_fetch_failed", {{"from", where}, {"reason", r.detail}});
                break;
              case auth::jwks_event::rejected:
                log.warn("auth.jwks_rejected", {{"from", where}, {"reason", r.detail}});
                break;
            }
          });
    } catch (const std::exception& e) {
      log.error("auth.jwks_failed", {{"reason", e.what()}});
      return k_exit_config;
    }
  }
  // HS256 secret, RS256/ES256 public keys ([auth] jwt_public_keys, RTCACHE_JWT_PUBLIC_KEYS), the JWKS, and the
  // Supabase API keys ([auth] publishable_keys / secret_keys, RTCACHE_PUBLISHABLE_KEYS / RTCACHE_SECRET_KEYS).
  const auto verifier = gateway::make_verifier(cfg.auth, jwks ? jwks->cache() : nullptr).value();
  if (jwks) jwks->start();
  // Stopped when serve() returns, after the gateway: no fetch outlives the server.
  struct jwks_stopper {
    gateway::jwks_service* service;
    ~jwks_stopper() {
      if (service != nullptr) service->stop();
    }
  } stop_jwks_on_exit{jwks.get()};

  // Declaration order is destruction order reversed: the hub outlives the io_context, whose handlers hold
  // sessions that unsubscribe from the hub when destroyed.
  // Epochs: the hub's default, 128 random bits per channel view (hub.hpp: random_epochs).
  hub::hub hub(cfg.hub, ingest::make_broadcast_encoder());
  // With [cluster]: this node applies the cluster's stream to its hub (connects to NATS, creates the stream if it
  // is missing, applies it from its first message on a thread of its own), and clients join through it, at the
  // positions every node gives (docs/cluster.md, "serve with [cluster]"). Declared after the hub, which it
  // publishes into, and before the io_context, whose sessions join through it; stopped after the io threads end.
  std::unique_ptr<gateway::cluster_node> node;
  if (cfg.cluster.enabled) {
    gateway::cluster_node_settings cs = gateway::cluster_node_settings_of(cfg);
    cs.types = types;
    cs.log = [&log](std::string_view event, std::string_view detail) {
      const bool bad = event == "cluster.applier" || event == "cluster.async_error" ||
                       event == "cluster.disconnected" || event == "cluster.closed";
      log.write(bad ? gateway::log_level::warn : gateway::log_level::info, event, {{"detail", detail}});
    };
    auto started = gateway::cluster_node::start(hub, std::move(cs));
    if (!started) {
      log.error("cluster.start_failed",
                {{"stream", gateway::stream_settings_of(cfg).name}, {"reason", started.error().message}});
      return k_exit_runtime;
    }
    node = std::move(*started);
    log.info("cluster.started", {{"node", gateway::node_id_of(cfg)},
                                 {"stream", node->stream()},
                                 {"blocking_threads", std::to_string(cfg.cluster.blocking_threads)},
                                 {"max_blocking_calls", std::to_string(cfg.cluster.max_blocking_calls)}});
  }
  boost::asio::io_context ioc;
  gateway::gateway gw(ioc, cfg.gateway, hub, verifier, types, log);
  if (node) gw.set_node(*node);
  try {
    gw.start();
  } catch (const std::exception& e) {
    log.error("gateway.start_failed", {{"reason", e.what()}});
    return k_exit_runtime;
  }

  // With [postgres] (or RTCACHE_PG_CONNINFO): the replication source on its own thread. It confirms a WAL position
  // only once its sink made it durable, and a gap it cannot bridge starts the channels it touches over.
  // - One node: the sink is hub_sink, publishing each transaction into the hub (durable when publish() returned).
  // - With [cluster]: every node runs the source, only the one holding the slot streams (the others stand by and
  //   take the slot when it frees, docs/cluster.md (a)), and its sink is the node's writer (reader_sink: a
  //   cluster::writer on the node's connection, renewed when fenced): durable once JetStream stored it. Clients
  //   of every node, the reader's included, get the messages from the stream through the node's applier.
  // Declared after the gateway, so it is stopped and destroyed before the hub it publishes into (and the
  // reader_sink before the node whose connection it writes on: the node is stopped and destroyed after it).
  std::optional<ingest::hub_sink> hub_target;  // one node only: a cluster node's hub is the applier's
  std::unique_ptr<cluster::reader_sink> stream_sink;
  std::unique_ptr<pg::source> source;
  std::thread source_thread;
  if (cfg.postgres.enabled) {
    routing::routed_sink* target = nullptr;
    if (!node) {
      target = &hub_target.emplace(hub, gateway::commit_to_publish_observer(gw.metrics()),
                                   ingest::wall_clock{}, gateway::flush_scoped);
    } else {
      stream_sink = std::make_unique<cluster::reader_sink>(node->connection(), gateway::writer_settings_of(cfg),
                                                           [&log](std::string_view event, std::string_view detail) {
                                                             log.warn(event, {{"detail", detail}});
                                                           });
      target = stream_sink.get();
      log.info("cluster.reader_candidate", {{"node", gateway::node_id_of(cfg)},
                                            {"slot", cfg.postgres.slot},
                                            {"detail", "reads the WAL into the stream while it holds the slot"}});
    }
    source = std::make_unique<pg::source>(source_config_of(cfg.postgres), *cfg.mapping, *target,
                                          source_logger(log, node ? gateway::node_id_of(cfg) : std::string()));
    gw.set_replication_status_provider([src = source.get()] {
      const pg::source_status st = src->status();
      gateway::replication_status r;
      r.connected = st.connected;
      r.received_lsn = st.received.value;
      r.confirmed_lsn = st.confirmed.value;
      r.lag_bytes = st.lag_bytes;
      r.lag_seconds = st.lag_seconds;
      r.reconnects = st.reconnects;
      r.gaps = st.gaps;
      r.reader = st.role == pg::source_role::reader;
      r.reader_starts = st.reader_starts;
      r.sink_stalls = st.sink_stalls;
      return r;
    });
    source_thread = std::thread([src = source.get()] { src->run(); });
  }
  // With [cluster] and no [postgres]: no node reads the WAL, so the nodes elect the stream's writer with a lease; the
  // holder republishes every node's relay ingest into the stream (docs/cluster.md, "Relay ingest"). Declared after
  // the node whose connection it writes on, so it stops first.
  std::unique_ptr<cluster::relay_writer> relay_writer;
  if (node && !cfg.postgres.enabled) {
    cluster::relay_writer_settings rs;
    rs.writer = gateway::writer_settings_of(cfg);
    rs.node_id = gateway::node_id_of(cfg);
    rs.log = [&log](std::string_view event, std::string_view detail) { log.info(event, {{"detail", detail}}); };
    auto started = cluster::relay_writer::start(node->connection(), std::move(rs));
    if (!started) {
      log.error("cluster.start_failed", {{"stream", node->stream()}, {"reason", started.error().message}});
      return k_exit_runtime;
    }
    relay_writer = std::move(*started);
  }
  // With [cluster]: the node's metrics (docs/cluster.md, "Metrics"), its writer's (the reader's, or the relay
  // writer's) too.
  if (node) {
    gw.set_cluster_status_provider([n = node.get(), writer = stream_sink.get(), relay = relay_writer.get(),
                                    src = source.get()] {
      gateway::cluster_status s = n->status();
      if (relay != nullptr) {
        const cluster::relay_writer_status r = relay->status();
        put_writer(s, r.stats, r.fenced);
        s.writer_active = r.writer;
      }
      if (writer != nullptr) {
        put_writer(s, writer->stats(), writer->fenced_writers());
        s.writer_active = src != nullptr && src->status().role == pg::source_role::reader;
      }
      return s;
    });
  }
  struct source_stopper {
    pg::source* src;
    std::thread* thread;
    ~source_stopper() {
      if (src != nullptr) src->stop();
      if (thread->joinable()) thread->join();
    }
  } stop_source_on_exit{source.get(), &source_thread};

  // SIGHUP (systemd's ExecReload): with [tls], re-reads the certificate and key for new connections (a failure
  // is logged by the gateway and the previous certificate stays); otherwise logged and ignored. Without a
  // handler its default action would terminate the server. Cancelled at shutdown so ioc.run() can return.
  boost::asio::signal_set hangups(ioc, SIGHUP);
  std::function<void()> wait_hangup = [&] {
    hangups.async_wait([&](const boost::system::error_code& ec, int signo) {
      if (ec) return;
      if (cfg.gateway.tls.enabled()) {
        log.info("signal", {{"signo", signo}, {"action", "reload tls"}});
        (void)gw.reload_tls();  // logs tls.reloaded or tls.reload_failed
      } else {
        log.info("signal", {{"signo", signo}, {"action", "none (nothing to reload: no [tls])"}});
      }
      wait_hangup();
    });
  };
  wait_hangup();

  boost::asio::steady_timer drain_timer(ioc);
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log.info("signal", {{"signo", signo}});
    if (source) source->stop();  // stops streaming; its final standby status confirms what was published
    drain_timer.expires_after(cfg.gateway.limits.drain_timeout);
    drain_timer.async_wait([&](const boost::system::error_code& tec) {
      if (tec) return;
      log.warn("shutdown.drain_timeout", {{"sessions", gw.sessions()}});
      ioc.stop();
    });
    hangups.cancel();
    gw.stop([&] {
      log.info("shutdown.drained");
      drain_timer.cancel();
    });
  });

  std::size_t n = cfg.gateway.threads;
  if (n == 0) n = std::max(1U, std::thread::hardware_concurrency());
  log.info("serve.start", {{"mode", node     ? "cluster"
                                    : source ? "postgres"
                                             : "relay"},
                           {"threads", n},
                           {"doc_types", types.names().size()}});
  std::vector<std::thread> pool;
  pool.reserve(n - 1);
  for (std::size_t i = 1; i < n; ++i) pool.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  if (source) source->stop();
  if (source_thread.joinable()) source_thread.join();
  if (node) node->stop();
  log.info("serve.stopped");
  return k_exit_ok;
}

// `rtcache --version`: the version, the git commit the binary was built from and the build type.
std::string version_text() {
  const gateway::build_info& b = gateway::this_build();
  std::string out = "rtcache ";
  out.append(b.version).append(" (commit ").append(b.commit).append(", ");
  out.append(b.build_type.empty() ? std::string_view("unspecified") : b.build_type).append(" build)");
  return out;
}

// The help footers: what the man page's ENVIRONMENT, SIGNALS and EXIT STATUS sections say, so --help is
// complete where no man page is installed.
constexpr const char* k_serve_footer = R"(Environment (overrides the file; flags override both):
  RTCACHE_JWT_SECRET            HS256 secret, >= 32 bytes (required unless public keys are given)
  RTCACHE_JWT_PUBLIC_KEYS       RS256/ES256 keys: ALG[:KID]=PEM_FILE,... (beside or instead of the secret)
  RTCACHE_JWT_AUDIENCE          required aud claim (default: not checked)
  RTCACHE_SCOPE_CLAIM           dotted path of the factory scope claim (default app_metadata.factory_ids)
  RTCACHE_PG_CONNINFO           libpq conninfo; turns the PostgreSQL source on
  RTCACHE_LISTEN                host:port (default 127.0.0.1:4000), or off (TLS only)
  RTCACHE_TLS_CERT_FILE         wss://: PEM certificate chain ([tls] cert_file)
  RTCACHE_TLS_KEY_FILE          wss://: PEM private key ([tls] key_file)
  RTCACHE_TLS_LISTEN            wss://: host:port of the TLS listener ([tls] listen)
  RTCACHE_THREADS               io threads, 0 = one per core
  RTCACHE_LOG_LEVEL             debug, info, warn, error, off (default info)
  RTCACHE_MAX_CONNECTIONS       open WebSockets (default 10000)
  RTCACHE_MAX_SEND_QUEUE_BYTES  per-connection send queue bound (default 4194304)
  RTCACHE_CLUSTER_NATS_URLS     [cluster] NATS servers, comma-separated: serve runs a cluster node that
                                serves clients from the stream; with [postgres], the node holding the
                                slot writes it, the others stand by; relay ingest goes through the stream
  RTCACHE_CLUSTER_NODE_ID       [cluster] this node's id (default: host name:port)
  RTCACHE_CLUSTER_SECRET        [cluster] the cluster secret, >= 32 bytes (or RTCACHE_CLUSTER_SECRET_FILE)
  RTCACHE_CLUSTER_PASSWORD      [cluster] NATS password (or RTCACHE_CLUSTER_TOKEN, _CREDENTIALS_FILE, ...)
Signals:
  SIGINT, SIGTERM  stop accepting, close every WebSocket with 1001, exit 0 once drained
  SIGHUP           with [tls]: re-read cert_file and key_file for new connections (open ones keep
                   theirs; a failed reload is logged and the previous certificate stays); else logged
Exit status: 0 clean exit, 1 runtime failure (e.g. the port is taken), 2 configuration or command-line error.
Every config key and its variable: rtcache config-keys.
Logs: one logfmt line per event on stderr. Endpoints, config file and metrics: rtcache(1), docs/operations.md.)";

constexpr const char* k_check_footer =
    R"(Reads FILE and the RTCACHE_* environment exactly as `serve` does, without listening.
Prints `ok: FILE (listen ...|off, tls ...|off, threads ..., tables N, postgres on|off[, cluster on])`, or one
`error: WHERE: PROBLEM` line per problem on stderr. With [tls], the certificate and key are loaded and checked
against each other. With [cluster] (or RTCACHE_CLUSTER_NATS_URLS), a valid config then connects to NATS and
reads the stream's state without creating it: `cluster: node ID, reachable (URL), stream NAME exists with N
messages` (or `does not exist: a node creates it when it starts`), or `error: cluster.nats_urls: unreachable|
authentication refused|TLS failed|...: DETAIL`.
Exit status: 0 valid, 2 invalid (or a command-line error), 3 valid but NATS refused the [cluster] settings.)";

constexpr const char* k_keys_footer =
    R"(One row per key: [section] key, type and bounds, its RTCACHE_* variable (the variable overrides the file),
default and meaning; the key list of docs/operations.md ("Config keys"), generated from the table the readers use.
Exit status: 0.)";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rtcache: realtime cache invalidation for Postgres apps (Supabase Realtime protocol)"};
  app.require_subcommand(1);
  app.set_version_flag("-V,--version", version_text(), "Print the version, git commit and build type, then exit");
  app.footer("Run `rtcache SUBCOMMAND --help` for each subcommand's options. Manual: rtcache(1).");

  std::optional<std::string> config_path;
  std::optional<std::string> listen;
  std::optional<std::size_t> threads;
  auto* serve_cmd = app.add_subcommand(
      "serve",
      "Run the server: relay mode (POST /v1/events), plus the PostgreSQL source when [postgres] is configured");
  serve_cmd->add_option("-c,--config", config_path, "TOML config file (optional)")->check(CLI::ExistingFile);
  serve_cmd->add_option("-l,--listen", listen,
                        "host:port to listen on for ws:// (overrides config and RTCACHE_LISTEN); off: TLS only");
  serve_cmd->add_option("-t,--threads", threads, "io threads (0: one per core)");
  serve_cmd->footer(k_serve_footer);

  std::string check_path;
  auto* check_cmd = app.add_subcommand("check-config", "Validate a config file; exit 2 on error");
  check_cmd->add_option("file", check_path, "TOML config file")->required();
  check_cmd->footer(k_check_footer);

  auto* keys_cmd = app.add_subcommand("config-keys", "Print every config file key as a Markdown table");
  keys_cmd->footer(k_keys_footer);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? k_exit_ok : k_exit_config;
  }
  try {
    if (*serve_cmd) return serve(config_path, listen, threads);
    if (*check_cmd) return check_config(check_path);
    if (*keys_cmd) {
      std::cout << gateway::config_keys_markdown();
      return k_exit_ok;
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return k_exit_runtime;
  }
  return k_exit_config;
}
