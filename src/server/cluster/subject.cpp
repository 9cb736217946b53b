// Subject and key encodings of the cluster's stream layout.
#include "cluster/subject.hpp"

namespace rtcache::cluster {

namespace {

constexpr char k_hex[] = "0123456789ABCDEF";

bool is_plain(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

std::string escape(std::string_view bytes, char escape_byte) {
  if (bytes.empty()) return std::string(1, escape_byte);
  std::string out;
  out.reserve(bytes.size() + 8);
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_plain(c)) {
      out.push_back(ch);
    } else {
      out.push_back(escape_byte);
      out.push_back(k_hex[c >> 4]);
      out.push_back(k_hex[c & 0xf]);
    }
  }
  return out;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // lower case is never produced, so it is refused (one spelling per input)
}

}  // namespace

std::string encode_token(std::string_view bytes) {
  return escape(bytes, '%');
}

std::optional<std::string> decode_token(std::string_view token) {
  if (token == "%") return std::string();
  if (token.empty()) return std::nullopt;
  std::string out;
  out.reserve(token.size());
  for (std::size_t i = 0; i < token.size(); ++i) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (is_plain(c)) {
      out.push_back(token[i]);
      continue;
    }
    if (token[i] != '%' || i + 2 >= token.size()) return std::nullopt;
    const int hi = hex_value(token[i + 1]);
    const int lo = hex_value(token[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    const auto byte = static_cast<unsigned char>(hi << 4 | lo);
    if (is_plain(byte)) return std::nullopt;  // a plain byte escaped: not what encode_token writes
    out.push_back(static_cast<char>(byte));
    i += 2;
  }
  return out;
}

std::string factory_token(std::string_view factory) {
  return factory.empty() ? std::string(k_untagged_token) : encode_token(factory);
}

std::string subjects::partition(std::string_view channel, std::string_view factory) const {
  std::string out = prefix;
  out.append(".c.").append(encode_token(channel)).append(".").append(factory_token(factory));
  return out;
}

std::string subjects::channel_wildcard(std::string_view channel) const {
  return prefix + ".c." + encode_token(channel) + ".*";
}

std::string subjects::records(std::string_view channel) const {
  return prefix + ".p." + encode_token(channel);
}

std::string subjects::control(std::string_view kind) const {
  return prefix + ".x." + encode_token(kind);
}

std::string subjects::ingest(std::string_view node_id) const {
  return ingest_stream_name(prefix) + "." + encode_token(node_id);
}

std::string subjects::ingest_filter() const {
  return ingest_stream_name(prefix) + ".>";
}

std::string ingest_stream_name(std::string_view stream) {
  return std::string(stream) + "_ingest";
}

std::string ledger_key(std::string_view channel, std::string_view factory) {
  return escape(channel, '=') + "." + escape(factory, '=');  // escape("") is the escape byte alone: "="
}

}  // namespace rtcache::cluster
