// Counter assignment and the position header.
#include "cluster/positions.hpp"

#include "cluster/subject.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>

namespace rtcache::cluster {

namespace {

using core::errc;

// Upper bound of a valid header: a generation (20 digits), a token of up to 3 * 64 bytes (an escaped factory id),
// a counter (16 digits) and two '/'.
constexpr std::size_t k_max_header_bytes = 20 + 3 * 64 + 16 + 2;

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

partition_state next_state(const partition_state* live, std::uint64_t seq, incarnation start) {
  assert(seq > 0 && (live == nullptr || live->last < seq));
  if (live != nullptr && live->counter < k_max_counter) {
    return partition_state{live->generation, live->counter + 1, seq};
  }
  const std::uint64_t generation = live == nullptr && start == incarnation::first ? 0 : seq;
  return partition_state{generation, 1, seq};
}

const partition_state* channel_state::find(std::string_view factory) const noexcept {
  auto it = std::lower_bound(partitions.begin(), partitions.end(), factory,
                             [](const partition_entry& p, std::string_view f) { return p.factory < f; });
  return it != partitions.end() && it->factory == factory ? &it->state : nullptr;
}

void channel_state::put(std::string_view factory, const partition_state& state) {
  auto it = std::lower_bound(partitions.begin(), partitions.end(), factory,
                             [](const partition_entry& p, std::string_view f) { return p.factory < f; });
  if (it != partitions.end() && it->factory == factory) {
    it->state = state;
  } else {
    partitions.insert(it, partition_entry{std::string(factory), state});
  }
  while (partitions.size() > k_max_partitions) {
    auto oldest = partitions.end();
    for (auto p = partitions.begin(); p != partitions.end(); ++p) {
      if (p->factory != factory && (oldest == partitions.end() || p->state.last < oldest->state.last)) oldest = p;
    }
    partitions.erase(oldest);
  }
}

void channel_state::erase(std::string_view factory) {
  auto it = std::lower_bound(partitions.begin(), partitions.end(), factory,
                             [](const partition_entry& p, std::string_view f) { return p.factory < f; });
  if (it != partitions.end() && it->factory == factory) partitions.erase(it);
}

std::string encode_position(const message_position& p) {
  std::string out = std::to_string(p.state.generation);
  out.push_back('/');
  out.append(factory_token(p.factory));
  out.push_back('/');
  out.append(std::to_string(p.state.counter));
  return out;
}

core::result<message_position> decode_position(std::string_view header, std::uint64_t seq) {
  if (header.size() > k_max_header_bytes) {
    return core::error{errc::too_long, std::string(k_positions_header) + ": " + std::to_string(header.size()) +
                                           " bytes, over the bound of " + std::to_string(k_max_header_bytes)};
  }
  const auto slash1 = header.find('/');
  const auto slash2 = slash1 == std::string_view::npos ? slash1 : header.find('/', slash1 + 1);
  if (slash2 == std::string_view::npos) return bad("expected <generation>/<partition>/<counter>");
  message_position out;
  out.state.last = seq;
  if (!parse_u64(header.substr(0, slash1), out.state.generation)) return bad("generation is not a decimal number");
  if (out.state.generation > seq) {
    return bad("generation " + std::to_string(out.state.generation) + " is after the message's sequence " +
               std::to_string(seq));
  }
  auto own = factory_of_token(header.substr(slash1 + 1, slash2 - slash1 - 1));
  if (!own) return bad("partition is not a factory token");
  out.factory = std::move(*own);
  // A generation g > 0 spans sequences g..seq, generation 0 spans 1..seq: the counter cannot exceed that.
  const std::uint64_t span = out.state.generation == 0 ? seq : seq - out.state.generation + 1;
  if (!parse_u64(header.substr(slash2 + 1), out.state.counter) || out.state.counter == 0 ||
      out.state.counter > k_max_counter || out.state.counter > span) {
    return bad("counter is not in 1.." + std::to_string(std::min(k_max_counter, span)));
  }
  return out;
}

}  // namespace rtcache::cluster
