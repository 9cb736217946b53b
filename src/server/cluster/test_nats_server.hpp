// Test support for rtcache::cluster: the shared nats-server the ctest fixture started (or, when the test binary
// runs alone, one started for this process), private servers that a test may kill, stop and restart
// (scripts/nats_server.sh), unique stream names, and bounded waiting.
#pragma once

#include "cluster/connection.hpp"
#include "cluster/ordered_consumer.hpp"
#include "cluster/publisher.hpp"
#include "cluster/settings.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace rtcache::cluster::test {

// A nats-server with JetStream in its own directory, destroyed with the object.
class nats_server {
 public:
  // Starts a new server (extra_env: e.g. "NATS_SERVER_USER=u NATS_SERVER_PASS=p").
  explicit nats_server(std::string extra_env = {});
  // Adopts a running server's directory without owning it (the ctest fixture's).
  static std::unique_ptr<nats_server> adopt(std::string dir);
  ~nats_server();

  const std::string& url() const { return url_; }
  const std::string& dir() const { return dir_; }
  int pid() const;

  void kill9();   // SIGKILL; the store stays
  void stop();    // graceful
  void start();   // again, same port and store
  void pause();   // SIGSTOP: the process holds its sockets open and answers nothing
  void resume();  // SIGCONT

 private:
  nats_server(std::string dir, bool owned);
  void run(const std::string& command) const;

  std::string dir_;
  std::string url_;
  bool owned_ = true;
};

// The shared server for tests that do not disturb it.
const nats_server& shared_server();

// Settings for a test connection to `url`: quick reconnects so restarts cost little test time.
nats_settings test_settings(const std::string& url);

// A connection that must succeed (the test fails with the error otherwise).
std::unique_ptr<connection> connect_or_die(const std::string& url, connection_event_handler on_event = {});

// Settings of a fresh test stream "<prefix>_<random>" on subjects "<name>.>". JetStream reserves max_bytes
// of every stream against the account's storage limit, so test streams ask for little (16 MiB).
stream_settings test_stream(const std::string& prefix);

// A stream name no other test (or earlier run) uses: "<prefix>_<random>".
std::string unique_name(const std::string& prefix);

// Settings without designated initializers (GCC warns about the fields they leave out).
consumer_settings consumer_of(const std::string& stream, const std::string& filter, std::uint64_t start_seq = 0);
publisher_settings publisher_of(std::size_t max_in_flight, std::chrono::milliseconds stall_timeout,
                                std::chrono::milliseconds ack_timeout);

// A local TCP port nothing listens on (bound once by the OS, then released).
int unused_port();

// A private CA and a server certificate for localhost / 127.0.0.1, made with openssl in a directory of their own
// (ca.pem, server.pem, server.key), removed with the object.
struct test_pki {
  std::string dir;
  test_pki();
  ~test_pki();
  test_pki(const test_pki&) = delete;
  test_pki& operator=(const test_pki&) = delete;
  // extra_env for nats_server: a server that speaks TLS only, with this certificate.
  std::string server_env() const {
    return "NATS_SERVER_TLS_CERT=" + dir + "/server.pem NATS_SERVER_TLS_KEY=" + dir + "/server.key";
  }
};

// Polls `pred` every few milliseconds until it holds or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

}  // namespace rtcache::cluster::test
