// Tests of the frame writer: exact RFC 6455 header bytes at every length boundary, the gather list of a batch
// (short payloads copied, long ones referenced in place, the bytes on the wire exactly header + payload per
// frame, in order), and the batch bound that keeps every write within Asio's 16 buffers per sendmsg.
#include "frame_writer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace rtcache::gateway {
namespace {

std::vector<std::uint8_t> header(bool binary, std::size_t size) {
  std::array<char, k_max_frame_header> h{};
  const std::size_t n = frame_header(h, binary, size);
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(h[i]));
  return out;
}

out_frame frame_of(std::size_t size, bool binary = false, char fill = 'x') {
  out_frame f = out_frame::text(std::string(size, fill));
  f.binary = binary;
  return f;
}

// What the frame must look like on the wire: its header, then its payload.
std::string wire(const out_frame& f) {
  std::array<char, k_max_frame_header> h{};
  std::string out(h.data(), frame_header(h, f.binary, f.bytes().size()));
  out.append(f.bytes());
  return out;
}

std::string concat(const std::vector<boost::asio::const_buffer>& buffers) {
  std::string out;
  for (const auto& b : buffers) out.append(static_cast<const char*>(b.data()), b.size());
  return out;
}

TEST(FrameHeader, SevenBitLengthsUpTo125) {
  EXPECT_EQ(header(false, 0), (std::vector<std::uint8_t>{0x81, 0x00}));
  EXPECT_EQ(header(false, 1), (std::vector<std::uint8_t>{0x81, 0x01}));
  EXPECT_EQ(header(false, 125), (std::vector<std::uint8_t>{0x81, 0x7D}));
}

TEST(FrameHeader, SixteenBitLengthsFrom126To65535) {
  EXPECT_EQ(header(false, 126), (std::vector<std::uint8_t>{0x81, 0x7E, 0x00, 0x7E}));
  EXPECT_EQ(header(false, 256), (std::vector<std::uint8_t>{0x81, 0x7E, 0x01, 0x00}));
  EXPECT_EQ(header(false, 65535), (std::vector<std::uint8_t>{0x81, 0x7E, 0xFF, 0xFF}));
}

TEST(FrameHeader, SixtyFourBitLengthsFrom65536) {
  EXPECT_EQ(header(false, 65536), (std::vector<std::uint8_t>{0x81, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}));
  EXPECT_EQ(header(true, 0x0102030405ULL),
            (std::vector<std::uint8_t>{0x82, 0x7F, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05}));
}

TEST(FrameHeader, BinaryFramesUseOpcodeTwoAndNoFrameIsMasked) {
  for (const std::size_t size : {std::size_t{0}, std::size_t{125}, std::size_t{126}, std::size_t{65536}}) {
    const auto text = header(false, size);
    const auto binary = header(true, size);
    EXPECT_EQ(text[0], 0x81) << size;    // FIN, opcode 1
    EXPECT_EQ(binary[0], 0x82) << size;  // FIN, opcode 2
    EXPECT_EQ(text[1] & 0x80, 0) << size;
    EXPECT_EQ(std::vector<std::uint8_t>(text.begin() + 1, text.end()),
              std::vector<std::uint8_t>(binary.begin() + 1, binary.end()));
  }
}

TEST(FrameWriter, ShortFramesGoOutAsOneCopiedBuffer) {
  frame_writer w;
  for (std::size_t size : {0UL, 1UL, 125UL, 126UL, 1023UL}) w.batch().push_back(frame_of(size, size == 126));
  const auto& buffers = w.gather();
  ASSERT_EQ(buffers.size(), 1U);
  std::string expected;
  for (const auto& f : w.batch()) expected += wire(f);
  EXPECT_EQ(concat(buffers), expected);
}

TEST(FrameWriter, LongPayloadsAreReferencedInPlaceNotCopied) {
  frame_writer w;
  w.batch().push_back(frame_of(10, false, 'a'));
  w.batch().push_back(frame_of(k_copy_below, false, 'b'));
  w.batch().push_back(frame_of(70000, true, 'c'));
  w.batch().push_back(frame_of(3, false, 'd'));
  const auto& buffers = w.gather();
  // [header a + a + header b] [b] [header c] [c] [header d + d]
  ASSERT_EQ(buffers.size(), 5U);
  EXPECT_EQ(buffers[1].data(), w.batch()[1].bytes().data());
  EXPECT_EQ(buffers[3].data(), w.batch()[2].bytes().data());
  EXPECT_EQ(buffers[2].size(), 10U);  // the 64-bit length header alone
  std::string expected;
  for (const auto& f : w.batch()) expected += wire(f);
  EXPECT_EQ(concat(buffers), expected);
}

TEST(FrameWriter, SharedHubFramesAreWrittenFromTheMessage) {
  auto m = std::make_shared<hub::hub_message>();
  m->frames.v2_binary = std::string(2000, 'z');
  out_frame f;
  f.message = m;
  f.shared = &m->frames.v2_binary;
  f.binary = true;
  frame_writer w;
  w.batch().push_back(std::move(f));
  const auto& buffers = w.gather();
  ASSERT_EQ(buffers.size(), 2U);
  EXPECT_EQ(buffers[1].data(), m->frames.v2_binary.data());
  EXPECT_EQ(concat(buffers), wire(w.batch()[0]));
}

TEST(FrameWriter, WrittenDropsTheFramesAndReleaseFreesEveryBuffer) {
  frame_writer w;
  for (int i = 0; i < 100; ++i) w.batch().push_back(frame_of(500));
  (void)w.gather();
  EXPECT_GT(w.held_bytes(), 100U * 500U);
  w.written();
  EXPECT_TRUE(w.batch().empty());
  // The 50 KB copy buffer is freed after its write; the emptied frame list keeps its capacity until release().
  EXPECT_LT(w.held_bytes(), 100U * 500U);
  w.release();
  EXPECT_EQ(w.held_bytes(), 0U);
}

TEST(FrameWriter, WrittenKeepsASmallCopyBufferForTheNextWrite) {
  frame_writer w;
  w.batch().push_back(frame_of(100));
  (void)w.gather();
  const std::size_t held = w.held_bytes();
  w.written();
  EXPECT_EQ(w.held_bytes(), held);  // the copy buffer (under k_keep_write_buffer) stays
}

// ---- the batch bound ----

TEST(WriteBatchBound, AtMost256Frames) {
  write_batch_bound b;
  for (std::size_t i = 0; i < k_write_batch_frames; ++i) ASSERT_TRUE(b.admit(10)) << i;
  EXPECT_FALSE(b.admit(10));
  EXPECT_EQ(b.frames(), k_write_batch_frames);
}

TEST(WriteBatchBound, AtMost256KiBButTheFirstFrameAlwaysGoes) {
  write_batch_bound big;
  EXPECT_TRUE(big.admit(k_write_batch_bytes * 4));  // alone, however large
  EXPECT_FALSE(big.admit(1));

  write_batch_bound b;
  EXPECT_TRUE(b.admit(k_write_batch_bytes - 100));
  EXPECT_TRUE(b.admit(100));
  EXPECT_FALSE(b.admit(1));
  EXPECT_EQ(b.bytes(), k_write_batch_bytes);
}

TEST(WriteBatchBound, EightPayloadsInPlaceFillSixteenBuffers) {
  write_batch_bound b;
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(b.admit(k_copy_below)) << i;
  EXPECT_FALSE(b.admit(k_copy_below));
  EXPECT_FALSE(b.admit(1));  // a copied frame after them would need a 17th buffer

  write_batch_bound c;
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(c.admit(5000)) << i;
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c.admit(10)) << i;  // one trailing run: 15 buffers
  EXPECT_TRUE(c.admit(5000));                                  // 16: the trailing run ends at its header
  EXPECT_FALSE(c.admit(10));
}

// Whatever the mix of sizes, every write the bound cuts is at most 16 buffers and writes exactly its frames.
TEST(WriteBatchBound, AnyMixOfSizesGathersIntoAtMostSixteenBuffers) {
  std::mt19937 rng(14);  // fixed seed: the same mixes every run
  const std::vector<std::size_t> sizes{0, 1, 125, 126, 127, 1023, 1024, 1025, 4096, 65535, 65536, 70000};
  std::uniform_int_distribution<std::size_t> pick(0, sizes.size() - 1);
  std::uniform_int_distribution<int> coin(0, 3);
  for (int round = 0; round < 10; ++round) {
    std::vector<out_frame> queue;
    for (int i = 0; i < 200; ++i)
      queue.push_back(frame_of(sizes[pick(rng)], coin(rng) == 0, static_cast<char>('a' + i % 26)));
    std::string expected;
    for (const auto& f : queue) expected += wire(f);

    std::string written;
    frame_writer w;
    std::size_t next = 0;
    while (next < queue.size()) {
      write_batch_bound b;
      while (next < queue.size() && b.admit(queue[next].bytes().size())) w.batch().push_back(std::move(queue[next++]));
      ASSERT_FALSE(w.batch().empty());
      const auto& buffers = w.gather();
      ASSERT_LE(buffers.size(), k_max_write_buffers) << "round " << round;
      written += concat(buffers);
      w.written();
    }
    ASSERT_EQ(written, expected) << "round " << round;
  }
}

}  // namespace
}  // namespace rtcache::gateway
