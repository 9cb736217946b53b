// RFC 6455 §5.2 framing for the load generator's client connections.
#include "ws_frame.hpp"

namespace rtcache::load {

namespace {

bool is_known(std::uint8_t op) noexcept {
  return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

}  // namespace

ws_parse_result parse_frame_header(std::string_view bytes) noexcept {
  ws_parse_result r;
  if (bytes.size() < 2) return r;
  const auto b0 = static_cast<std::uint8_t>(bytes[0]);
  const auto b1 = static_cast<std::uint8_t>(bytes[1]);
  const auto op = static_cast<std::uint8_t>(b0 & 0x0F);
  if ((b0 & 0x70) != 0 || !is_known(op)) {
    r.status = ws_parse_status::protocol_error;
    return r;
  }
  ws_frame_header& h = r.header;
  h.fin = (b0 & 0x80) != 0;
  h.opcode = static_cast<ws_opcode>(op);
  h.masked = (b1 & 0x80) != 0;
  std::size_t pos = 2;
  std::uint64_t len = b1 & 0x7F;
  if (len == 126) {
    if (bytes.size() < pos + 2) return r;
    len = (std::uint64_t{static_cast<std::uint8_t>(bytes[2])} << 8) | static_cast<std::uint8_t>(bytes[3]);
    pos += 2;
  } else if (len == 127) {
    if (bytes.size() < pos + 8) return r;
    len = 0;
    for (std::size_t i = 0; i < 8; ++i) len = (len << 8) | static_cast<std::uint8_t>(bytes[pos + i]);
    pos += 8;
    if ((len >> 63) != 0) {
      r.status = ws_parse_status::protocol_error;
      return r;
    }
  }
  if (op >= 0x8 && (!h.fin || len > 125)) {
    r.status = ws_parse_status::protocol_error;
    return r;
  }
  if (h.masked) {
    if (bytes.size() < pos + 4) return r;
    h.mask_key = 0;
    for (std::size_t i = 0; i < 4; ++i) h.mask_key = (h.mask_key << 8) | static_cast<std::uint8_t>(bytes[pos + i]);
    pos += 4;
  }
  h.header_bytes = pos;
  h.payload_bytes = len;
  r.status = ws_parse_status::ok;
  return r;
}

void apply_mask(char* data, std::size_t size, std::uint32_t mask_key) noexcept {
  const std::uint8_t key[4] = {static_cast<std::uint8_t>(mask_key >> 24), static_cast<std::uint8_t>(mask_key >> 16),
                               static_cast<std::uint8_t>(mask_key >> 8), static_cast<std::uint8_t>(mask_key)};
  for (std::size_t i = 0; i < size; ++i) {
    data[i] = static_cast<char>(static_cast<std::uint8_t>(data[i]) ^ key[i & 3]);
  }
}

void append_client_frame(std::string& out, ws_opcode opcode, std::string_view payload, std::uint32_t mask_key) {
  out.push_back(static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode)));
  const std::uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>((n >> 8) & 0xFF));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xFF));
  }
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((mask_key >> shift) & 0xFF));
  const std::size_t start = out.size();
  out.append(payload);
  apply_mask(out.data() + start, payload.size(), mask_key);
}

std::optional<std::uint16_t> close_code_of(std::string_view payload) noexcept {
  if (payload.size() < 2) return std::nullopt;
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                    static_cast<std::uint8_t>(payload[1]));
}

}  // namespace rtcache::load
