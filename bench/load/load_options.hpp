// rtcache_load's command line: what the generator is asked to do (bench/load/rtcache_load.cpp runs it).
#pragma once

#include <cstdint>
#include <string>
#include <variant>

namespace rtcache::load {

struct options {
  std::string mode;
  std::string host = "127.0.0.1";
  std::uint16_t port = 4000;
  std::string secret;
  std::string vsn = "2.0.0";
  int clients = 1000;
  int threads = 1;
  int sources = 4;  // source addresses 127.0.0.<first_source> ..
  int first_source = 2;
  int connect_concurrency = 256;
  int factories = 4;
  int docs = 1000;        // doc ids d0..d<docs-1>; doc k belongs to factory f<k % factories>
  bool join_list = true;  // list:wo:<factory> (fan-out clients/factories per event)
  bool join_doc = true;   // doc:wo:d<i % docs>
  bool join_factory = false;
  double rate = 2000;     // events/s, all publishers together
  int batch = 100;        // events per POST
  int publishers = 1;     // HTTP connections posting in parallel
  int payload_bytes = 0;  // extra patch text per event
  double warmup_s = 2;
  double duration_s = 10;
  double connect_timeout_s = 60;
  double heartbeat_s = 25;
  double hold_s = 30;  // idle: how long to hold the connections
  double slow_fraction = 0.1;
  double stall_s = 10;         // slow: how long slow clients stop reading
  int slow_rcvbuf = 4096;      // slow: SO_RCVBUF of slow clients, so that the server's queue fills sooner
  int rcv_buffer = 16 * 1024;  // initial read buffer per client
  int server_pid = 0;          // for RSS samples
  std::string label;
  std::uint16_t tls_port = 0;          // non-zero: clients connect over TLS to tls_host:tls_port
  std::string tls_host;                // default: host
  std::string ca_file;                 // the CA the server's certificate must chain to (TLS)
  std::string tls_name = "localhost";  // SNI and the name the certificate must carry
  int first_client = 0;                // client indices first_client.. (doc and factory follow the index)
  bool listen = false;                 // throughput: publish nothing, measure what arrives (events written elsewhere)
  bool wall_clock = false;         // latency against a send time in ns since the Unix epoch (another process's clock)
  std::uint16_t publish_port = 0;  // non-zero: the publisher POSTs to publish_host:publish_port, not host:port
  std::string publish_host;        // default: host
};

// argv[1] is the mode, the rest options; `default_secret` (may be null: $RTCACHE_JWT_SECRET in main) is the JWT secret
// unless --secret gives one. Returns the options with every default filled in (--tls-host, --publish-host and
// --publish-port default to --host and --port), or why the command line is refused.
std::variant<options, std::string> parse_options(int argc, const char* const* argv, const char* default_secret);

}  // namespace rtcache::load
