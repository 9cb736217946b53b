// The load generator's WebSocket wire codec (RFC 6455), client side: what a frame header says and how a
// masked client frame is built. Pure functions over bytes; the generator's sockets use them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtcache::load {

enum class ws_opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// A parsed frame header. `header_bytes + payload_bytes` is the whole frame.
struct ws_frame_header {
  bool fin = false;
  ws_opcode opcode = ws_opcode::text;
  bool masked = false;
  std::uint32_t mask_key = 0;  // network order as on the wire; meaningful only when masked
  std::size_t header_bytes = 0;
  std::uint64_t payload_bytes = 0;
};

enum class ws_parse_status { ok, need_more, protocol_error };

struct ws_parse_result {
  ws_parse_status status = ws_parse_status::need_more;
  ws_frame_header header;
};

// Parses the header at the start of `bytes`. need_more: fewer bytes than the header needs (the payload is not
// required). protocol_error: reserved bits set, an unknown opcode, a control frame that is fragmented or longer
// than 125 bytes, or a 64-bit length with the top bit set.
ws_parse_result parse_frame_header(std::string_view bytes) noexcept;

// Appends one complete client frame (FIN set, masked with `mask_key`) carrying `payload` to `out`.
void append_client_frame(std::string& out, ws_opcode opcode, std::string_view payload, std::uint32_t mask_key);

// XORs `data` in place with the 4-byte mask `mask_key` (wire order), starting at mask offset 0.
void apply_mask(char* data, std::size_t size, std::uint32_t mask_key) noexcept;

// The close code of a close frame's payload (the first two bytes, big-endian), or nullopt when it has none.
std::optional<std::uint16_t> close_code_of(std::string_view payload) noexcept;

}  // namespace rtcache::load
