// The gateway's frame writer (frame_writer.hpp): RFC 6455 server frame headers and the gather list of a batch.
#include "frame_writer.hpp"

#include <cstdint>

namespace rtcache::gateway {

std::size_t frame_header(std::array<char, k_max_frame_header>& h, bool binary, std::size_t size) noexcept {
  h[0] = static_cast<char>(binary ? 0x82 : 0x81);  // FIN, no RSV bits, opcode
  if (size < 126) {
    h[1] = static_cast<char>(size);  // mask bit clear: server frames are not masked
    return 2;
  }
  if (size <= 0xFFFF) {
    h[1] = static_cast<char>(126);
    h[2] = static_cast<char>((size >> 8) & 0xFF);
    h[3] = static_cast<char>(size & 0xFF);
    return 4;
  }
  h[1] = static_cast<char>(127);
  for (std::size_t i = 0; i < 8; ++i) {
    h[2 + i] = static_cast<char>((static_cast<std::uint64_t>(size) >> (56 - 8 * i)) & 0xFF);
  }
  return 10;
}

bool write_batch_bound::admit(std::size_t payload_bytes) noexcept {
  if (frames_ != 0) {
    if (frames_ >= k_write_batch_frames || bytes_ + payload_bytes > k_write_batch_bytes) return false;
    // In place, a payload costs two buffers (the copied run before it, ending with its header, and itself);
    // copied frames cost one run after the last payload in place. Either way, after this frame the sequence
    // holds at most 2 * (in place + 1) buffers.
    if (2 * (in_place_ + 1) > k_max_write_buffers) return false;
  }
  ++frames_;
  bytes_ += payload_bytes;
  if (payload_bytes >= k_copy_below) ++in_place_;
  return true;
}

const std::vector<boost::asio::const_buffer>& frame_writer::gather() {
  // Reserved up front, so that the pointers into copied_ stay valid while it is filled.
  std::size_t contiguous = 0;
  std::size_t in_place = 0;
  for (const auto& f : batch_) {
    const std::size_t n = f.bytes().size();
    contiguous += k_max_frame_header + (n < k_copy_below ? n : 0);
    in_place += n < k_copy_below ? 0 : 1;
  }
  copied_.clear();
  copied_.reserve(contiguous);
  gather_.clear();
  gather_.reserve(2 * in_place + 1);
  std::size_t run = 0;  // start of the copied run not yet in gather_
  for (const auto& f : batch_) {
    const std::string_view payload = f.bytes();
    std::array<char, k_max_frame_header> h{};
    copied_.append(h.data(), frame_header(h, f.binary, payload.size()));
    if (payload.size() < k_copy_below) {
      copied_.append(payload);
      continue;
    }
    gather_.push_back(boost::asio::buffer(copied_.data() + run, copied_.size() - run));
    gather_.push_back(boost::asio::buffer(payload.data(), payload.size()));
    run = copied_.size();
  }
  if (copied_.size() > run) gather_.push_back(boost::asio::buffer(copied_.data() + run, copied_.size() - run));
  return gather_;
}

void frame_writer::written() noexcept {
  batch_.clear();
  if (copied_.capacity() > k_keep_write_buffer) std::string().swap(copied_);
}

void frame_writer::release() noexcept {
  std::vector<out_frame>().swap(batch_);
  std::vector<boost::asio::const_buffer>().swap(gather_);
  std::string().swap(copied_);
}

}  // namespace rtcache::gateway
