// Message ids and writer anchors.
#include "cluster/source_ids.hpp"

#include <charconv>
#include <cstdio>
#include <vector>

namespace rtcache::cluster {

namespace {

template <class T>
bool parse_dec(std::string_view text, T& out) {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0') || text[0] == '-' || text[0] == '+') {
    return false;
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool parse_hex32(std::string_view text, std::uint32_t& out) {
  if (text.empty() || text.size() > 8) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;  // format_lsn's spelling only
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return ec == std::errc() && end == text.data() + text.size();
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

core::error bad(std::string_view header, std::string what) {
  return core::error{core::errc::bad_value, std::string(header) + ": " + std::move(what)};
}

}  // namespace

std::string format_lsn(std::uint64_t lsn) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xffffffffu));
  return buf;
}

std::optional<std::uint64_t> parse_lsn(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::uint32_t hi = 0;
  std::uint32_t lo = 0;
  if (!parse_hex32(text.substr(0, slash), hi) || !parse_hex32(text.substr(slash + 1), lo)) return std::nullopt;
  // One spelling per value: no leading zeros (format_lsn writes none).
  if ((text.substr(0, slash).size() > 1 && text[0] == '0') || (text.size() - slash - 1 > 1 && text[slash + 1] == '0')) {
    return std::nullopt;
  }
  return std::uint64_t{hi} << 32 | lo;
}

std::string wal_msg_id(const wal_message_id& id) {
  // One formatted write, as routing::message_id: it names every message the writer publishes.
  char buf[112];
  int n = std::snprintf(buf, sizeof buf, "%llu-%u-%X/%X-%u", static_cast<unsigned long long>(id.system_identifier),
                        static_cast<unsigned>(id.timeline), static_cast<unsigned>(id.commit_lsn >> 32),
                        static_cast<unsigned>(id.commit_lsn & 0xffffffffU), static_cast<unsigned>(id.index));
  if (id.rewinds != 0) {
    n += std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), "-r%u", static_cast<unsigned>(id.rewinds));
  }
  return std::string(buf, static_cast<std::size_t>(n));
}

std::string ingest_msg_id(const ingest_message_id& id) {
  return "i-" + std::to_string(id.ingest_created_ns) + "-" + std::to_string(id.ingest_seq) + "-" +
         std::to_string(id.index);
}

message_source parse_msg_id(std::string_view msg_id) {
  const auto parts = split(msg_id, '-');
  if (parts.size() == 5 && parts[0] != "i") {
    // A WAL message of a later rewind generation: "-r<rewinds>", rewinds >= 1.
    std::uint32_t rewinds = 0;
    if (parts[4].size() < 2 || parts[4][0] != 'r' || !parse_dec(parts[4].substr(1), rewinds) || rewinds == 0) {
      return std::monostate{};
    }
    message_source source = parse_msg_id(msg_id.substr(0, msg_id.size() - parts[4].size() - 1));
    auto* id = std::get_if<wal_message_id>(&source);
    if (id == nullptr) return std::monostate{};
    id->rewinds = rewinds;
    return source;
  }
  if (parts.size() != 4) return std::monostate{};
  if (parts[0] == "i") {
    ingest_message_id id;
    if (parse_dec(parts[1], id.ingest_created_ns) && parse_dec(parts[2], id.ingest_seq) &&
        parse_dec(parts[3], id.index)) {
      return id;
    }
    return std::monostate{};
  }
  wal_message_id id;
  auto lsn = parse_lsn(parts[2]);
  if (parse_dec(parts[0], id.system_identifier) && parse_dec(parts[1], id.timeline) && lsn &&
      parse_dec(parts[3], id.index)) {
    id.commit_lsn = *lsn;
    return id;
  }
  return std::monostate{};
}

std::string encode_wal_anchor(const wal_anchor_state& a) {
  std::string out = std::to_string(a.system_identifier) + "/" + std::to_string(a.timeline) + "/" +
                    format_lsn(a.confirm_lsn) + "/" + format_lsn(a.last_commit_lsn) + "/" +
                    std::to_string(a.last_index);
  if (a.rewinds != 0) out += "/" + std::to_string(a.rewinds);
  return out;
}

core::result<wal_anchor_state> decode_wal_anchor(std::string_view header) {
  // The LSNs hold a '/' of their own: 7 fields in all, 8 with the rewind generation.
  const auto f = split(header, '/');
  if (f.size() != 7 && f.size() != 8) {
    return bad(k_wal_header, "expected <system>/<timeline>/<confirm lsn>/<last commit lsn>/<index>[/<rewinds>]");
  }
  wal_anchor_state a;
  if (!parse_dec(f[0], a.system_identifier)) return bad(k_wal_header, "system identifier is not a decimal number");
  if (!parse_dec(f[1], a.timeline)) return bad(k_wal_header, "timeline is not a decimal number");
  const std::string confirm = std::string(f[2]) + "/" + std::string(f[3]);
  const std::string last = std::string(f[4]) + "/" + std::string(f[5]);
  auto c = parse_lsn(confirm);
  auto l = parse_lsn(last);
  if (!c || !l) return bad(k_wal_header, "an LSN is not in PostgreSQL's %X/%X form");
  a.confirm_lsn = *c;
  a.last_commit_lsn = *l;
  if (!parse_dec(f[6], a.last_index)) return bad(k_wal_header, "index is not a decimal number");
  if (f.size() == 8 && (!parse_dec(f[7], a.rewinds) || a.rewinds == 0)) {
    return bad(k_wal_header, "rewinds is not a decimal number >= 1");
  }
  return a;
}

std::string encode_ingest_anchor(const ingest_anchor_state& a) {
  return std::to_string(a.ingest_created_ns) + "/" + std::to_string(a.last_ingest_seq) + "/" +
         std::to_string(a.last_index);
}

core::result<ingest_anchor_state> decode_ingest_anchor(std::string_view header) {
  const auto f = split(header, '/');
  ingest_anchor_state a;
  if (f.size() != 3 || !parse_dec(f[0], a.ingest_created_ns) || !parse_dec(f[1], a.last_ingest_seq) ||
      !parse_dec(f[2], a.last_index)) {
    return bad(k_ingest_header, "expected <ingest stream created_ns>/<last ingest sequence>/<last item index>");
  }
  return a;
}

}  // namespace rtcache::cluster
