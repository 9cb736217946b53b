// Tests of the write serializer (write_serializer.hpp) over a real loopback TCP connection whose reader only
// starts once every write was started, so that the first write stays partial at the socket while the others
// arrive: writes that arrive together reach the wire one after another, each whole and in arrival order (a large
// gather write, a small composed write such as Beast's pong, another large one); an operation beyond the bound of
// waiting ones fails with no_buffer_space, never inside its initiating call, and the others still complete; a
// failed write hands the stream on. The gateway-level tests (tls_test.cpp, PingsDuringAFlood...) drive Beast over it.
#include "write_serializer.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace rtcache::gateway {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A connected loopback pair on `ioc`: `writer` (small send buffer, so that a large write stays partial) and
// `reader` (small receive buffer).
struct socket_pair {
  explicit socket_pair(asio::io_context& ioc) : writer(ioc), reader(ioc) {
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    reader.open(tcp::v4());
    reader.set_option(asio::socket_base::receive_buffer_size(4096));
    reader.connect(acceptor.local_endpoint());
    acceptor.accept(writer);
    writer.set_option(asio::socket_base::send_buffer_size(4096));
  }
  tcp::socket writer;
  tcp::socket reader;
};

struct write_result {
  std::optional<boost::beast::error_code> ec;
  std::size_t bytes = 0;
};

auto record(write_result& r) {
  return [&r](boost::beast::error_code ec, std::size_t n) {
    r.ec = ec;
    r.bytes = n;
  };
}

// Reads exactly `total` bytes from `reader` while `ioc` runs (bounded).
std::string read_all(asio::io_context& ioc, tcp::socket& reader, std::size_t total) {
  std::string got(total, '\0');
  asio::async_read(reader, asio::buffer(got), [](boost::beast::error_code, std::size_t) {});
  ioc.run_for(std::chrono::seconds(20));
  return got;
}

TEST(WriteSerializer, WritesThatArriveTogetherReachTheWireWholeAndInArrivalOrder) {
  asio::io_context ioc;
  socket_pair p(ioc);
  write_serializer<tcp::socket> s(std::move(p.writer));
  // A gather write of several buffers, far larger than the socket takes at once.
  const std::string a1(300000, 'a');
  const std::string a2(300000, 'A');
  const std::vector<asio::const_buffer> gather{asio::buffer(a1), asio::buffer(a2)};
  const std::string pong(2, 'p');  // as Beast writes a pong: asio::async_write of one small buffer
  const std::string c(500000, 'c');
  write_result ra, rb, rc;
  s.async_write_some(std::span<const asio::const_buffer>(gather), record(ra));
  asio::async_write(s, asio::buffer(pong), record(rb));
  s.async_write_some(asio::buffer(c), record(rc));
  EXPECT_TRUE(s.busy());
  EXPECT_EQ(s.waiting(), 2U);
  EXPECT_FALSE(ra.ec);  // nothing completes inside its initiating call

  const std::string got = read_all(ioc, p.reader, a1.size() + a2.size() + pong.size() + c.size());
  ASSERT_TRUE(ra.ec && rb.ec && rc.ec);
  EXPECT_FALSE(*ra.ec);
  EXPECT_FALSE(*rb.ec);
  EXPECT_FALSE(*rc.ec);
  EXPECT_EQ(ra.bytes, a1.size() + a2.size());  // all of it, not some
  EXPECT_EQ(rb.bytes, pong.size());
  EXPECT_EQ(rc.bytes, c.size());
  // Compared as one string would print megabytes on failure: find where the order breaks.
  const std::string want = a1 + a2 + pong + c;
  std::size_t first_difference = 0;
  while (first_difference < want.size() && got[first_difference] == want[first_difference]) ++first_difference;
  EXPECT_EQ(first_difference, want.size()) << "the writes interleave at byte " << first_difference;
  EXPECT_FALSE(s.busy());
  EXPECT_EQ(s.waiting(), 0U);
}

TEST(WriteSerializer, AnOperationBeyondTheWaitingBoundFailsWithNoBufferSpaceAndTheOthersComplete) {
  asio::io_context ioc;
  socket_pair p(ioc);
  write_serializer<tcp::socket> s(std::move(p.writer));
  const std::string big(400000, 'x');
  const std::string small(10, 'y');
  write_result running;
  std::vector<write_result> waiting(k_max_waiting_writes);
  write_result refused;
  s.async_write_some(asio::buffer(big), record(running));
  for (auto& w : waiting) s.async_write_some(asio::buffer(small), record(w));
  EXPECT_EQ(s.waiting(), k_max_waiting_writes);
  s.async_write_some(asio::buffer(small), record(refused));
  EXPECT_FALSE(refused.ec);  // refused through the executor, not inside the call
  EXPECT_EQ(s.waiting(), k_max_waiting_writes);

  const std::string got = read_all(ioc, p.reader, big.size() + k_max_waiting_writes * small.size());
  ASSERT_TRUE(refused.ec);
  EXPECT_EQ(*refused.ec, asio::error::no_buffer_space);
  EXPECT_EQ(refused.bytes, 0U);
  ASSERT_TRUE(running.ec);
  EXPECT_FALSE(*running.ec);
  for (const auto& w : waiting) {
    ASSERT_TRUE(w.ec);
    EXPECT_FALSE(*w.ec);
    EXPECT_EQ(w.bytes, small.size());
  }
  std::string want = big;
  for (std::size_t i = 0; i < k_max_waiting_writes; ++i) want += small;
  EXPECT_TRUE(got == want);
  // The stream is free again: a new write goes through.
  write_result later;
  s.async_write_some(asio::buffer(small), record(later));
  ioc.restart();
  EXPECT_EQ(read_all(ioc, p.reader, small.size()), small);
  ASSERT_TRUE(later.ec);
  EXPECT_FALSE(*later.ec);
}

TEST(WriteSerializer, AFailedWriteHandsTheStreamToTheNextWhichFailsToo) {
  asio::io_context ioc;
  socket_pair p(ioc);
  write_serializer<tcp::socket> s(std::move(p.writer));
  const std::string big(2000000, 'x');
  write_result first, second;
  s.async_write_some(asio::buffer(big), record(first));
  s.async_write_some(asio::buffer(big), record(second));
  p.reader.close();  // the peer goes away mid-write
  ioc.run_for(std::chrono::seconds(20));
  ASSERT_TRUE(first.ec && second.ec);
  EXPECT_TRUE(*first.ec);
  EXPECT_TRUE(*second.ec);
  EXPECT_FALSE(s.busy());
}

}  // namespace
}  // namespace rtcache::gateway
