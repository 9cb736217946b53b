// Internal to the gateway: how a connection's queued frames go to its TCP stream. Server frames are unmasked, so
// a frame is a small RFC 6455 header plus the payload, and a whole batch of them goes out in one gather write
// (one sendmsg) instead of one Beast write, and one syscall, per message (docs/benchmarks-gateway.md). Beast
// still writes the close frame and its automatic pong; write_serializer.hpp keeps those from landing inside a
// batch. Pure: builds buffers, performs no I/O.
#pragma once

#include "out_frame.hpp"

#include <boost/asio/buffer.hpp>

#include <array>
#include <cstddef>
#include <string>
#include <vector>

namespace rtcache::gateway {

// Bounds of one gather write.
inline constexpr std::size_t k_write_batch_frames = 256;        // frames per write
inline constexpr std::size_t k_write_batch_bytes = 256 * 1024;  // payload bytes per write (one frame may exceed it)
// Payloads shorter than this are copied, with the headers, into one contiguous buffer; longer ones are written
// in place. Copying more would hold a copy of every large message per connection (the slow-consumer run's RSS
// doubled at 8 KiB); copying less would cut batches short at the buffer limit below.
inline constexpr std::size_t k_copy_below = 1024;
// Asio hands at most 16 buffers to one sendmsg (boost/asio/detail/consuming_buffers.hpp); a longer sequence is
// written with several. A batch is cut so that its buffers fit one.
inline constexpr std::size_t k_max_write_buffers = 16;
// A copy buffer larger than this is freed after its write, so that a burst does not stay allocated.
inline constexpr std::size_t k_keep_write_buffer = 1024;
inline constexpr std::size_t k_max_frame_header = 10;

// Writes the header of an unmasked, final RFC 6455 frame (opcode 0x1 text or 0x2 binary) carrying `size`
// payload bytes into `h`: 2 bytes below 126, 4 up to 65,535 (16-bit length), 10 beyond (64-bit length).
// Returns its length.
std::size_t frame_header(std::array<char, k_max_frame_header>& h, bool binary, std::size_t size) noexcept;

// Decides, frame by frame from the front of a queue, which frames one write carries: at most
// k_write_batch_frames frames and k_write_batch_bytes payload bytes (the first frame always goes, however
// large), and no more payloads written in place than keep the buffer sequence within k_max_write_buffers.
class write_batch_bound {
 public:
  // Whether a frame with `payload_bytes` joins the batch; if so it is counted.
  bool admit(std::size_t payload_bytes) noexcept;

  std::size_t frames() const noexcept { return frames_; }
  std::size_t bytes() const noexcept { return bytes_; }

 private:
  std::size_t frames_ = 0;
  std::size_t bytes_ = 0;
  std::size_t in_place_ = 0;  // payloads of k_copy_below bytes or more
};

// The frames of the write in flight and the buffers that frame them.
// Thread-safety: none (the connection's strand). Memory: holds nothing once release() ran, so an idle
// connection keeps no write buffers.
class frame_writer {
 public:
  // The frames of the next write (send_queue::take fills it), then of the write in flight.
  std::vector<out_frame>& batch() noexcept { return batch_; }
  const std::vector<out_frame>& batch() const noexcept { return batch_; }

  // The buffer sequence that writes batch() as consecutive frames: runs of the copy buffer (headers and payloads
  // under k_copy_below) interleaved with the longer payloads in place. Valid until batch() or the writer
  // changes. REQUIRES: the batch is non-empty and was cut by a write_batch_bound (then the sequence holds at most
  // k_max_write_buffers buffers).
  const std::vector<boost::asio::const_buffer>& gather();

  // The write completed or failed: the frames are released, and the copy buffer too when it grew large.
  void written() noexcept;
  // Frees every buffer (nothing is queued and no write is in flight).
  void release() noexcept;

  // The heap memory the writer holds (capacities), for tests of the idle footprint.
  std::size_t held_bytes() const noexcept {
    const std::size_t copied = copied_.capacity() > std::string().capacity() ? copied_.capacity() : 0;  // not SSO
    return batch_.capacity() * sizeof(out_frame) + copied + gather_.capacity() * sizeof(boost::asio::const_buffer);
  }

 private:
  std::vector<out_frame> batch_;
  std::string copied_;                             // headers and short payloads, contiguous
  std::vector<boost::asio::const_buffer> gather_;  // runs of copied_ and long payloads, interleaved
};

}  // namespace rtcache::gateway
