// Counter assignment and the position header.
#include "cluster/positions.hpp"

#include "cluster/subject.hpp"

#include <algorithm>
#include <charconv>

namespace rtcache::cluster {

namespace {

using core::errc;

// Upper bound of a valid header: per partition a token of up to 3 * 64 bytes (an escaped factory id), '=', 16
// digits and ',', plus the generation and own token.
constexpr std::size_t k_max_header_bytes = 64 + (k_max_partitions + 1) * (3 * 64 + 20);

core::error bad(std::string what) {
  return core::error{errc::bad_value, std::string(k_positions_header) + ": " + std::move(what)};
}

bool parse_u64(std::string_view text, std::uint64_t& out) {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0')) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::optional<std::string> factory_of_token(std::string_view token) {
  if (token == k_untagged_token) return std::string();
  auto f = decode_token(token);
  if (!f || f->empty()) return std::nullopt;
  return f;
}

}  // namespace

std::uint64_t channel_state::counter(std::string_view factory) const noexcept {
  for (const auto& p : partitions) {
    if (p.factory == factory) return p.counter;
  }
  return 0;
}

channel_state fresh_state(std::uint64_t generation) {
  channel_state s;
  s.generation = generation;
  return s;
}

channel_state next_state(const channel_state& before, std::string_view factory, std::uint64_t seq) {
  channel_state after = before;
  auto it = std::lower_bound(after.partitions.begin(), after.partitions.end(), factory,
                             [](const partition_counter& p, std::string_view f) { return p.factory < f; });
  const bool exists = it != after.partitions.end() && it->factory == factory;
  const bool overflow = exists ? it->counter >= k_max_counter : after.partitions.size() >= k_max_partitions;
  if (overflow) {
    after = fresh_state(seq);
    after.partitions.push_back({std::string(factory), 1});
    return after;
  }
  if (exists) {
    ++it->counter;
  } else {
    after.partitions.insert(it, partition_counter{std::string(factory), 1});
  }
  return after;
}

std::string encode_positions(const message_positions& p) {
  std::string out = std::to_string(p.state.generation);
  out.push_back('/');
  out.append(factory_token(p.factory));
  out.push_back('/');
  bool first = true;
  for (const auto& part : p.state.partitions) {
    if (!first) out.push_back(',');
    first = false;
    out.append(factory_token(part.factory)).push_back('=');
    out.append(std::to_string(part.counter));
  }
  return out;
}

core::result<message_positions> decode_positions(std::string_view header) {
  if (header.size() > k_max_header_bytes) {
    return core::error{errc::too_long, std::string(k_positions_header) + ": " + std::to_string(header.size()) +
                                           " bytes, over the bound of " + std::to_string(k_max_header_bytes)};
  }
  const auto slash1 = header.find('/');
  const auto slash2 = slash1 == std::string_view::npos ? slash1 : header.find('/', slash1 + 1);
  if (slash2 == std::string_view::npos) return bad("expected <generation>/<own partition>/<partitions>");
  message_positions out;
  if (!parse_u64(header.substr(0, slash1), out.state.generation)) return bad("generation is not a decimal number");
  auto own = factory_of_token(header.substr(slash1 + 1, slash2 - slash1 - 1));
  if (!own) return bad("own partition is not a factory token");
  out.factory = std::move(*own);
  std::string_view rest = header.substr(slash2 + 1);
  if (rest.empty()) return bad("no partitions");
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (comma != std::string_view::npos && rest.empty()) return bad("trailing ','");
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) return bad("partition without '='");
    auto factory = factory_of_token(item.substr(0, eq));
    if (!factory) return bad("partition is not a factory token");
    std::uint64_t counter = 0;
    if (!parse_u64(item.substr(eq + 1), counter) || counter == 0 || counter > k_max_counter) {
      return bad("counter of partition '" + std::string(item.substr(0, eq)) + "' is not in 1.." +
                 std::to_string(k_max_counter));
    }
    if (!out.state.partitions.empty() && !(out.state.partitions.back().factory < *factory)) {
      return bad("partitions are not sorted and unique");
    }
    if (out.state.partitions.size() == k_max_partitions) {
      return core::error{errc::too_many, std::string(k_positions_header) + ": more than " +
                                             std::to_string(k_max_partitions) + " partitions"};
    }
    out.state.partitions.push_back({std::move(*factory), counter});
  }
  if (out.state.counter(out.factory) == 0) return bad("own partition is not listed");
  return out;
}

}  // namespace rtcache::cluster
