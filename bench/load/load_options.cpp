#include "load_options.hpp"

#include <exception>
#include <utility>

namespace rtcache::load {

namespace {
struct bad_option {
  std::string why;
};
[[noreturn]] void usage(std::string why) {
  throw bad_option{std::move(why)};
}

options parse(int argc, const char* const* argv, const char* default_secret) {
  options o;
  if (argc < 2) usage("missing mode");
  o.mode = argv[1];
  if (o.mode != "throughput" && o.mode != "idle" && o.mode != "slow") usage("unknown mode " + o.mode);
  if (default_secret != nullptr) o.secret = default_secret;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    auto num = [&]() { return std::stod(next()); };
    auto integer = [&]() { return std::stoi(next()); };
    if (a == "--port")
      o.port = static_cast<std::uint16_t>(integer());
    else if (a == "--host")
      o.host = next();
    else if (a == "--secret")
      o.secret = next();
    else if (a == "--vsn")
      o.vsn = next();
    else if (a == "--clients")
      o.clients = integer();
    else if (a == "--threads")
      o.threads = integer();
    else if (a == "--sources")
      o.sources = integer();
    else if (a == "--first-source")
      o.first_source = integer();
    else if (a == "--connect-concurrency")
      o.connect_concurrency = integer();
    else if (a == "--factories")
      o.factories = integer();
    else if (a == "--docs")
      o.docs = integer();
    else if (a == "--no-list")
      o.join_list = false;
    else if (a == "--no-doc")
      o.join_doc = false;
    else if (a == "--factory-channel")
      o.join_factory = true;
    else if (a == "--rate")
      o.rate = num();
    else if (a == "--batch")
      o.batch = integer();
    else if (a == "--publishers")
      o.publishers = integer();
    else if (a == "--payload-bytes")
      o.payload_bytes = integer();
    else if (a == "--warmup")
      o.warmup_s = num();
    else if (a == "--duration")
      o.duration_s = num();
    else if (a == "--connect-timeout")
      o.connect_timeout_s = num();
    else if (a == "--heartbeat")
      o.heartbeat_s = num();
    else if (a == "--hold")
      o.hold_s = num();
    else if (a == "--slow-fraction")
      o.slow_fraction = num();
    else if (a == "--stall")
      o.stall_s = num();
    else if (a == "--slow-rcvbuf")
      o.slow_rcvbuf = integer();
    else if (a == "--rcv-buffer")
      o.rcv_buffer = integer();
    else if (a == "--server-pid")
      o.server_pid = integer();
    else if (a == "--label")
      o.label = next();
    else if (a == "--tls-port")
      o.tls_port = static_cast<std::uint16_t>(integer());
    else if (a == "--tls-host")
      o.tls_host = next();
    else if (a == "--ca-file")
      o.ca_file = next();
    else if (a == "--tls-name")
      o.tls_name = next();
    else if (a == "--listen")
      o.listen = true;
    else if (a == "--first-client")
      o.first_client = integer();
    else if (a == "--wall-clock")
      o.wall_clock = true;
    else if (a == "--publish-port")
      o.publish_port = static_cast<std::uint16_t>(integer());
    else if (a == "--publish-host")
      o.publish_host = next();
    else
      usage("unknown option " + a);
  }
  if (o.secret.size() < 32) usage("the JWT secret (RTCACHE_JWT_SECRET or --secret) must have at least 32 bytes");
  if (o.clients < 0 || o.threads < 1 || o.sources < 1 || o.factories < 1 || o.docs < 1 || o.batch < 1 ||
      o.publishers < 1 || o.rate <= 0 || o.first_source < 1 || o.first_source + o.sources > 255) {
    usage("a count is out of range");
  }
  if (o.vsn != "1.0.0" && o.vsn != "2.0.0") usage("--vsn must be 1.0.0 or 2.0.0");
  if (o.label.empty()) o.label = o.mode;
  if (o.tls_host.empty()) o.tls_host = o.host;
  if (o.publish_host.empty()) o.publish_host = o.host;
  if (o.publish_port == 0) o.publish_port = o.port;
  if (o.tls_port != 0 && o.ca_file.empty()) usage("--tls-port needs --ca-file");
  return o;
}
}  // namespace

std::variant<options, std::string> parse_options(int argc, const char* const* argv, const char* default_secret) {
  try {
    return parse(argc, argv, default_secret);
  } catch (const bad_option& e) {
    return e.why;
  } catch (const std::exception& e) {  // std::stoi and std::stod on what is no number
    return std::string("a value is no number: ") + e.what();
  }
}

}  // namespace rtcache::load
