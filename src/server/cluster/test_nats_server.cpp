// Test support for rtcache::cluster (see test_nats_server.hpp).
#include "cluster/test_nats_server.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <netinet/in.h>
#include <random>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace rtcache::cluster::test {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string random_suffix() {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char* digits = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 10; ++i) s += digits[rng() % 36];
  return s;
}

}  // namespace

nats_server::nats_server(std::string extra_env) : owned_(true) {
  // Under ctest, beside the fixture's directory, so that the fixture's cleanup also removes servers a crashed
  // test left running.
  const char* shared = std::getenv("RTCACHE_NATS_DIR");
  dir_ = (shared != nullptr && *shared != '\0' ? std::string(shared) : std::string("/tmp/rtcache-nats")) + "-private-" +
         random_suffix();
  std::string env = extra_env.empty() ? "" : extra_env + " ";
  run(env + "'" RTCACHE_NATS_SERVER_SCRIPT "' start '" + dir_ + "' >/dev/null");
  url_ = read_file(dir_ + "/url");
}

nats_server::nats_server(std::string dir, bool owned) : dir_(std::move(dir)), owned_(owned) {
  url_ = read_file(dir_ + "/url");
  if (url_.empty()) throw std::runtime_error("no nats-server URL in " + dir_ + "/url");
}

std::unique_ptr<nats_server> nats_server::adopt(std::string dir) {
  return std::unique_ptr<nats_server>(new nats_server(std::move(dir), false));
}

nats_server::~nats_server() {
  if (!owned_) return;
  resume();
  std::system(("'" RTCACHE_NATS_SERVER_SCRIPT "' destroy '" + dir_ + "' >/dev/null 2>&1").c_str());
}

void nats_server::run(const std::string& command) const {
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

int nats_server::pid() const {
  return std::atoi(read_file(dir_ + "/pid").c_str());
}

void nats_server::kill9() {
  run("'" RTCACHE_NATS_SERVER_SCRIPT "' kill '" + dir_ + "'");
}
void nats_server::stop() {
  run("'" RTCACHE_NATS_SERVER_SCRIPT "' stop '" + dir_ + "'");
}
void nats_server::start() {
  run("'" RTCACHE_NATS_SERVER_SCRIPT "' start '" + dir_ + "' >/dev/null");
}
void nats_server::pause() {
  run("kill -STOP " + std::to_string(pid()));
}
void nats_server::resume() {
  std::system(("kill -CONT " + std::to_string(pid()) + " 2>/dev/null").c_str());
}

const nats_server& shared_server() {
  static std::unique_ptr<nats_server> server = [] {
    if (const char* dir = std::getenv("RTCACHE_NATS_DIR"); dir != nullptr && *dir != '\0') {
      return nats_server::adopt(dir);
    }
    return std::make_unique<nats_server>();  // the binary runs outside ctest: a server for this process
  }();
  return *server;
}

nats_settings test_settings(const std::string& url) {
  nats_settings s;
  s.urls = {url};
  s.name = "rtcache-cluster-test";
  s.connect_timeout = std::chrono::milliseconds(1000);
  s.reconnect.initial = std::chrono::milliseconds(20);
  s.reconnect.max = std::chrono::milliseconds(200);
  s.ping_interval = std::chrono::milliseconds(500);
  return s;
}

std::unique_ptr<connection> connect_or_die(const std::string& url, connection_event_handler on_event) {
  auto c = connection::connect(test_settings(url), std::move(on_event));
  if (!c) throw std::runtime_error("connect to " + url + ": " + c.error().message);
  return std::move(*c);
}

consumer_settings consumer_of(const std::string& stream, const std::string& filter, std::uint64_t start_seq) {
  consumer_settings s;
  s.stream = stream;
  s.filter_subject = filter;
  s.start_seq = start_seq;
  return s;
}

publisher_settings publisher_of(std::size_t max_in_flight, std::chrono::milliseconds stall_timeout,
                                std::chrono::milliseconds ack_timeout) {
  publisher_settings s;
  s.max_in_flight = max_in_flight;
  s.stall_timeout = stall_timeout;
  s.ack_timeout = ack_timeout;
  return s;
}

stream_settings test_stream(const std::string& prefix) {
  stream_settings s;
  s.name = unique_name(prefix);
  s.subjects = {s.name + ".>"};
  s.max_bytes = 16 << 20;
  return s;
}

std::string unique_name(const std::string& prefix) {
  return prefix + "_" + random_suffix();
}

int unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("no free local port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

test_pki::test_pki() : dir("/tmp/rtcache-nats-tls-" + unique_name("pki")) {
  const std::string script =
      "set -e; mkdir -p '" + dir + "' && cd '" + dir +
      "'\n"
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=rtcache-test-ca\n"
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost\n"
      "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext\n"
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 "
      "-extfile san.ext\n";
  if (std::system(("bash -c \"$(cat <<'EOS'\n" + script + "EOS\n)\" >/dev/null 2>&1").c_str()) != 0) {
    throw std::runtime_error("openssl could not make the test certificates in " + dir);
  }
}

test_pki::~test_pki() {
  std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace rtcache::cluster::test
