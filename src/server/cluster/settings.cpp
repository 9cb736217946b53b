// Pure checks of the NATS layer's settings: every problem at once, each naming its field.
#include "cluster/settings.hpp"

#include "cluster/subject.hpp"

#include <algorithm>
#include <climits>
#include <string_view>

namespace rtcache::cluster {
namespace {

bool has_space_or_control(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return true;
  }
  return false;
}

// nats://host:port or tls://host:port (nats.c also accepts an omitted scheme or port; we ask for both so
// that a typo such as "nats:/host" is refused here rather than as a connection failure).
std::string check_url(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("nats://")) {
    rest = url.substr(7);
  } else if (url.starts_with("tls://")) {
    rest = url.substr(6);
  } else {
    return "must start with nats:// or tls://";
  }
  if (has_space_or_control(url)) return "contains whitespace or control characters";
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return "needs host:port";
  const auto port = rest.substr(colon + 1);
  if (port.empty() || port.size() > 5) return "port must be 1-65535";
  unsigned value = 0;
  for (const char c : port) {
    if (c < '0' || c > '9') return "port must be 1-65535";
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return "port must be 1-65535";
  return {};
}

// A subject: '.'-separated non-empty tokens, no whitespace; '*' is a whole token, '>' only the last one.
std::string check_subject(std::string_view subject) {
  if (subject.empty()) return "is empty";
  if (has_space_or_control(subject)) return "contains whitespace or control characters";
  std::size_t start = 0;
  while (true) {
    const auto dot = subject.find('.', start);
    const auto token = subject.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (token.empty()) return "has an empty token";
    if (token.find_first_of("*>") != std::string_view::npos && token.size() != 1) {
      return "uses a wildcard inside a token";
    }
    if (token == ">" && dot != std::string_view::npos) return "uses '>' before the last token";
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return {};
}

}  // namespace

std::vector<std::string> validate(const nats_settings& s) {
  std::vector<std::string> problems;
  if (s.urls.empty()) problems.emplace_back("nats_urls: at least one URL is required");
  for (std::size_t i = 0; i < s.urls.size(); ++i) {
    if (auto why = check_url(s.urls[i]); !why.empty()) {
      problems.push_back("nats_urls[" + std::to_string(i) + "]: " + why);
    }
  }
  for (const char c : s.name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      problems.emplace_back("name: contains control characters");
      break;
    }
  }
  int kinds = 0;
  kinds += !s.credentials_file.empty();
  kinds += !(s.nkey.empty() && s.nkey_seed_file.empty());
  kinds += !s.token.empty();
  kinds += !(s.user.empty() && s.password.empty());
  if (kinds > 1) {
    problems.emplace_back(
        "credentials: give at most one of credentials_file, nkey + nkey_seed_file, token, user + password");
  }
  if (s.nkey.empty() != s.nkey_seed_file.empty()) {
    problems.emplace_back("nkey: nkey and nkey_seed_file go together");
  }
  if (!s.nkey.empty() && !s.nkey.starts_with('U')) {
    problems.emplace_back("nkey: a user's public nkey starts with 'U'");
  }
  if (s.user.empty() && !s.password.empty()) problems.emplace_back("user: a password needs a user");
  if (!s.user.empty() && s.password.empty()) problems.emplace_back("password: a user needs a password");
  if (s.tls.cert_file.empty() != s.tls.key_file.empty()) {
    problems.emplace_back("tls: cert_file and key_file go together");
  }
  if (s.connect_timeout <= 0ms) problems.emplace_back("connect_timeout: must be > 0");
  if (s.reconnect.initial < 0ms || s.reconnect.max <= 0ms || s.reconnect.initial > s.reconnect.max) {
    problems.emplace_back("reconnect: need 0 <= initial <= max and max > 0");
  }
  if (s.reconnect_buffer_bytes == 0 || s.reconnect_buffer_bytes > static_cast<std::size_t>(INT_MAX)) {
    problems.emplace_back("reconnect_buffer_bytes: must be 1 .. 2^31-1");
  }
  if (s.ping_interval <= 0ms) problems.emplace_back("ping_interval: must be > 0");
  if (s.max_pings_out < 1) problems.emplace_back("max_pings_out: must be >= 1");
  if (s.subscription_pending_msgs < 1) problems.emplace_back("subscription_pending_msgs: must be >= 1");
  return problems;
}

stream_settings ingest_stream_settings(const stream_settings& main) {
  stream_settings s = main;
  s.name = ingest_stream_name(main.name);
  s.subjects = {subjects{main.name}.ingest_filter()};
  // JetStream reserves max_bytes against the account's storage when the stream is created: the ingest stream only
  // holds what waits for a writer (minutes at most, in practice), so an eighth of the main stream's bound.
  if (main.max_bytes > 0) s.max_bytes = std::max<std::int64_t>(main.max_bytes / 8, 1 << 20);
  return s;
}

std::vector<std::string> validate(const stream_settings& s) {
  std::vector<std::string> problems;
  // 57: room for the ingest stream's name, "<name>_ingest", within JetStream's 64.
  if (s.name.empty() || s.name.size() > 57 ||
      s.name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
          std::string::npos) {
    problems.emplace_back("stream: 1-57 characters of [A-Za-z0-9_-] (its ingest stream is <stream>_ingest)");
  }
  if (s.subjects.empty()) problems.emplace_back("subjects: at least one subject is required");
  for (std::size_t i = 0; i < s.subjects.size(); ++i) {
    if (auto why = check_subject(s.subjects[i]); !why.empty()) {
      problems.push_back("subjects[" + std::to_string(i) + "]: " + why);
    }
  }
  if (s.max_age < 0s) problems.emplace_back("max_age_s: must be >= 0 (0: no age limit)");
  if (s.max_bytes == 0 || s.max_bytes < -1) problems.emplace_back("max_bytes: must be > 0, or -1 for no limit");
  if (s.duplicate_window <= 0ms) problems.emplace_back("duplicate_window: must be > 0");
  if (s.max_age > 0s && s.duplicate_window > s.max_age) {
    problems.emplace_back("duplicate_window: must not exceed max_age_s (the server refuses it)");
  }
  if (s.replicas < 1 || s.replicas > 5) problems.emplace_back("replicas: must be 1-5");
  return problems;
}

}  // namespace rtcache::cluster
