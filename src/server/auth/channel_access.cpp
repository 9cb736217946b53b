// Private-channel rules, the public-access switch and broadcast.from_clients (channel_access.hpp). A join or a
// send is decided once, when it happens; nothing here runs per delivered message.
#include "auth/channel_access.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace rtcache::auth {

namespace {

core::error bad(const private_channel_rule& r, std::string what) {
  return core::error{core::errc::bad_value, (r.where.empty() ? std::string("rule") : r.where) + ": " + std::move(what)};
}

// The segments of a name or pattern, split at ':'.
std::vector<std::string_view> segments(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto colon = s.find(':');
    out.push_back(s.substr(0, colon));
    if (colon == std::string_view::npos) return out;
    s.remove_prefix(colon + 1);
  }
}

// Checks a pattern's shape; returns its number of captures.
core::result<std::size_t> check_pattern(const private_channel_rule& r) {
  if (r.topic.empty()) return bad(r, "topic: must not be empty");
  const auto parts = segments(r.topic);
  std::size_t captures = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string_view p = parts[i];
    if (p.empty()) return bad(r, "topic '" + r.topic + "': has an empty segment");
    if (p == "**") {
      if (i + 1 != parts.size()) return bad(r, "topic '" + r.topic + "': \"**\" may only be the last segment");
      ++captures;
      continue;
    }
    const auto stars = std::count(p.begin(), p.end(), '*');
    if (stars > 1) return bad(r, "topic '" + r.topic + "': a segment holds at most one '*'");
    captures += static_cast<std::size_t>(stars);
    for (const char c : p) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) return bad(r, "topic: control characters are not allowed");
    }
  }
  return captures;
}

// Replaces "{n}" in `value` by capture n. REQUIRES: every placeholder was checked against the capture count.
std::string substitute(std::string_view value, const std::vector<std::string_view>& captures) {
  std::string out;
  while (!value.empty()) {
    const auto open = value.find('{');
    if (open == std::string_view::npos) break;
    const auto close = value.find('}', open);
    if (close == std::string_view::npos) break;
    std::size_t n = 0;
    const auto digits = value.substr(open + 1, close - open - 1);
    const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc{} || p != digits.data() + digits.size() || n == 0 || n > captures.size()) {
      out.append(value.substr(0, close + 1));  // not a placeholder: literal text
    } else {
      out.append(value.substr(0, open));
      out.append(captures[n - 1]);
    }
    value.remove_prefix(close + 1);
  }
  out.append(value);
  return out;
}

// The largest "{n}" in `value`, 0 for none.
std::size_t max_placeholder(std::string_view value) {
  std::size_t max = 0;
  for (std::size_t at = value.find('{'); at != std::string_view::npos; at = value.find('{', at + 1)) {
    const auto close = value.find('}', at);
    if (close == std::string_view::npos) break;
    std::size_t n = 0;
    const auto digits = value.substr(at + 1, close - at - 1);
    const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec == std::errc{} && p == digits.data() + digits.size()) max = std::max(max, n);
  }
  return max;
}

bool element_holds(simdjson::dom::element e, std::string_view value) {
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS) return s == value;
  std::int64_t i = 0;
  if (e.get_int64().get(i) == simdjson::SUCCESS) return std::to_string(i) == value;
  std::uint64_t u = 0;
  if (e.get_uint64().get(u) == simdjson::SUCCESS) return std::to_string(u) == value;
  return false;
}

}  // namespace

std::string_view to_string(client_broadcasts mode) noexcept {
  switch (mode) {
    case client_broadcasts::off: return "off";
    case client_broadcasts::public_only: return "public";
    case client_broadcasts::all: return "all";
  }
  return "off";
}

core::result<client_broadcasts> parse_client_broadcasts(std::string_view text) {
  if (text == "off") return client_broadcasts::off;
  if (text == "public") return client_broadcasts::public_only;
  if (text == "all") return client_broadcasts::all;
  return core::error{core::errc::bad_value, "must be \"off\", \"public\" or \"all\", got '" + std::string(text) + "'"};
}

std::optional<std::vector<std::string_view>> match_channel_pattern(std::string_view pattern, std::string_view name) {
  const auto want = segments(pattern);
  std::vector<std::string_view> captures;
  std::string_view rest = name;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const std::string_view p = want[i];
    if (p == "**" && i + 1 == want.size()) {
      if (rest.empty()) return std::nullopt;
      captures.push_back(rest);
      return captures;
    }
    const auto colon = rest.find(':');
    const std::string_view seg = rest.substr(0, colon);
    const bool last = i + 1 == want.size();
    if (last != (colon == std::string_view::npos)) return std::nullopt;  // segment counts differ
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    const auto star = p.find('*');
    if (star == std::string_view::npos) {
      if (seg != p) return std::nullopt;
      continue;
    }
    const std::string_view prefix = p.substr(0, star);
    const std::string_view suffix = p.substr(star + 1);
    if (seg.size() < prefix.size() + suffix.size() + 1) return std::nullopt;  // '*' takes one character at least
    if (!seg.starts_with(prefix) || !seg.ends_with(suffix)) return std::nullopt;
    captures.push_back(seg.substr(prefix.size(), seg.size() - prefix.size() - suffix.size()));
  }
  return captures;
}

bool claim_holds(std::string_view claims_json, std::string_view path, std::string_view value) {
  simdjson::dom::parser parser;
  simdjson::dom::element cursor;
  if (parser.parse(claims_json.data(), claims_json.size(), true).get(cursor) != simdjson::SUCCESS) return false;
  while (!path.empty()) {
    const auto dot = path.find('.');
    const std::string_view key = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
    simdjson::dom::object obj;
    if (cursor.get_object().get(obj) != simdjson::SUCCESS) return false;
    if (obj.at_key(key).get(cursor) != simdjson::SUCCESS) return false;
  }
  simdjson::dom::array arr;
  if (cursor.get_array().get(arr) == simdjson::SUCCESS) {
    for (const auto e : arr) {
      if (element_holds(e, value)) return true;
    }
    return false;
  }
  return element_holds(cursor, value);
}

core::result<channel_access> channel_access::create(channel_policy policy) {
  if (policy.private_rules.size() > k_max_private_rules) {
    return core::error{core::errc::too_many,
                       "more than " + std::to_string(k_max_private_rules) + " private channel rules"};
  }
  for (const auto& r : policy.private_rules) {
    auto captures = check_pattern(r);
    if (!captures) return captures.error();
    if (r.roles.empty()) return bad(r, "roles: name at least one of anon, authenticated, service_role");
    if (!r.read && !r.write) return bad(r, "actions: grant \"read\", \"write\" or both");
    if (r.claims.size() > k_max_rule_claims) {
      return core::error{core::errc::too_many,
                         r.where + ": more than " + std::to_string(k_max_rule_claims) + " claims"};
    }
    for (const auto& [path, value] : r.claims) {
      if (path.empty() || path.front() == '.' || path.back() == '.' || path.find("..") != std::string::npos) {
        return bad(r, "claims: '" + path + "' is not a dotted claim path");
      }
      if (max_placeholder(value) > *captures) {
        return bad(r, "claims." + path + ": '" + value + "' names a capture the topic pattern does not have (it has " +
                          std::to_string(*captures) + ")");
      }
    }
  }
  return channel_access(std::move(policy));
}

bool channel_access::granted(const principal& who, std::string_view name, bool write) const {
  for (const auto& r : policy_.private_rules) {
    if (write ? !r.write : !r.read) continue;
    if (std::find(r.roles.begin(), r.roles.end(), who.role) == r.roles.end()) continue;
    const auto captures = match_channel_pattern(r.topic, name);
    if (!captures) continue;
    const bool claims_ok = std::all_of(r.claims.begin(), r.claims.end(), [&](const auto& c) {
      return who.claims != nullptr && claim_holds(*who.claims, c.first, substitute(c.second, *captures));
    });
    if (claims_ok) return true;
  }
  return false;
}

access_decision channel_access::may_join(const principal& who, std::string_view name, bool is_private) const {
  if (!is_private) {
    if (policy_.private_only) return {false, "PrivateOnly: This project only allows private channels"};
    return {true, {}};
  }
  if (who.role == auth_role::service_role || granted(who, name, false)) return {true, {}};
  return {false, "Unauthorized: You do not have permissions to read from this Channel topic: " + std::string(name)};
}

access_decision channel_access::may_send(const principal& who, std::string_view name, bool is_private) const {
  if (!is_private && policy_.private_only) return {false, "PrivateOnly: This project only allows private channels"};
  if (who.role == auth_role::service_role) return {true, {}};
  switch (policy_.from_clients) {
    case client_broadcasts::off:
      return {false, "Unauthorized: client broadcasts are turned off on this server (broadcast.from_clients = off)"};
    case client_broadcasts::public_only:
      if (is_private) {
        return {false,
                "Unauthorized: client broadcasts on private channels are turned off (broadcast.from_clients = "
                "public)"};
      }
      return {true, {}};
    case client_broadcasts::all:
      if (!is_private || granted(who, name, true)) return {true, {}};
      return {false, "Unauthorized: You do not have permissions to write to this Channel topic: " + std::string(name)};
  }
  return {false, "Unauthorized"};
}

}  // namespace rtcache::auth
