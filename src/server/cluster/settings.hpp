// What the NATS layer is told: how to reach the servers (settings for nats.c's connection options) and the
// JetStream stream rtcache uses. Plain structs, checked by pure functions, so that the config layer, the
// environment and check-config can fill and judge them without a server.
#pragma once

#include "rtcache/core/backoff.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rtcache::cluster {

using namespace std::chrono_literals;

struct tls_settings {
  bool required = false;  // refuse a server that does not speak TLS (also implied by tls:// URLs)
  std::string ca_file;    // PEM bundle that signs the servers' certificates (empty: system store)
  std::string cert_file;  // client certificate (PEM), with key_file, for servers that verify clients
  std::string key_file;
  std::string expected_hostname;  // name to verify in the server's certificate when it differs from the URL's
};

// How to connect. Credentials: at most one of credentials_file (a .creds file: user JWT + nkey seed),
// nkey + nkey_seed_file, token, user + password — what nats.c supports; none for an open server.
struct nats_settings {
  std::vector<std::string> urls;  // nats://host:port or tls://host:port; several for a NATS cluster
  std::string name;               // connection name shown by the server's monitoring (node_id)

  std::string credentials_file;
  std::string nkey;            // the user's public nkey (U...), with nkey_seed_file
  std::string nkey_seed_file;  // file holding the seed that signs the server's nonce
  std::string user;
  std::string password;
  std::string token;

  tls_settings tls;

  std::chrono::milliseconds connect_timeout = 2s;
  // Reconnects: never give up (max_reconnects < 0), waiting between rounds over every URL by core's capped,
  // jittered exponential backoff, so a NATS outage of any length ends in a reconnect within reconnect.max of
  // the server's return.
  int max_reconnects = -1;
  core::backoff_policy reconnect{.initial = 100ms, .max = 2s, .multiplier = 2.0, .jitter = 0.5};
  // Publishes made while reconnecting are held in this buffer and sent on reconnect; beyond it a publish fails
  // at once with errc::buffer_full (never silently dropped).
  std::size_t reconnect_buffer_bytes = 8u << 20;
  // A server that stops answering (host gone, no FIN) is noticed after ping_interval * max_pings_out.
  std::chrono::milliseconds ping_interval = 2s;
  int max_pings_out = 2;
  // Messages a subscription (an ordered consumer) may hold received and not yet taken; beyond it nats.c drops
  // them and the consumer fetches them again (ordered_consumer). Set here because nats.c applies it when a
  // subscription is created, before the server starts pushing.
  int subscription_pending_msgs = 65536;
  // nats.c batches outgoing data: a flusher thread waits 1 ms for more before it writes. true writes every
  // publish and request at once: lower latency (each direct get, each hop) for more syscalls under load.
  // Measured both ways in bench/cluster (docs/cluster.md).
  bool send_asap = false;
  // With false, connect() fails when no server answers; with true it returns at once and keeps trying.
  bool retry_on_failed_connect = false;
};

// Channels a node keeps in memory: its position book (stream_apply.hpp) and, as the writer, its partitions'
// counters (writer.hpp). Beyond it the least recently used channel is forgotten and looked up in the stream when it
// is next needed ([cluster] max_channels).
inline constexpr std::size_t k_default_max_channels = 100'000;

// A node's threads for its calls that may wait on NATS (exact resumes by range fetch, relay ingest), and how many
// such calls it admits at once ([cluster] blocking_threads, max_blocking_calls; gateway::cluster_node_settings).
inline constexpr std::size_t k_default_blocking_threads = 16;
inline constexpr std::size_t k_default_max_blocking_calls = 1024;

enum class storage_kind { file, memory };

// The stream every node shares. rtcache's messages all go under one subject prefix.
struct stream_settings {
  std::string name = "rtcache";
  std::vector<std::string> subjects = {"rtcache.>"};
  std::chrono::seconds max_age = 24h;  // 0: no age limit
  std::int64_t max_bytes = 1ll << 30;  // -1: no size limit
  // Publishes that carry a Nats-Msg-Id seen within this window are acknowledged as duplicates and not stored.
  // It must cover the longest time between a reader's first publish of a message and its successor's replay
  // of it after a failover (detection <= 5 s, slot hand-over, replay) plus a NATS outage the reader rides out
  // before it gives up: 2 minutes (docs/cluster.md, "Duplicate window"). The server keeps one entry per
  // message id in the window in memory, so the window times the publish rate bounds that memory.
  std::chrono::milliseconds duplicate_window = 2min;
  storage_kind storage = storage_kind::file;
  // 1 on a single nats-server; 3 on a three-server NATS cluster (every message on a quorum before its ack).
  int replicas = 1;
  // Lets any server answer direct gets (range fetches) without the stream leader; needs nats-server >= 2.9.
  bool allow_direct = true;
};

// The ingest stream's settings (subject.hpp, ingest_stream_name): the main stream's age limit, storage, replicas and
// duplicate window, its own name and subjects, and an eighth of its max_bytes (at least 1 MiB; no limit for none):
// JetStream reserves max_bytes of storage per stream, and the ingest stream only holds what waits for a writer.
// Every node ensures both streams.
stream_settings ingest_stream_settings(const stream_settings& main);

// Every problem with the settings, each naming the field ("nats_urls[1]: ..."); empty when usable.
std::vector<std::string> validate(const nats_settings& settings);
std::vector<std::string> validate(const stream_settings& settings);

}  // namespace rtcache::cluster
