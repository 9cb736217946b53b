// Internal to the gateway: the stream between a connection's Beast WebSocket stream and its transport (a TCP
// socket, or Beast's SSL stream), there so that two writers never write to the transport at the same time.
//
// The gateway writes its queued frames itself, a whole batch in one gather write (frame_writer.hpp), outside
// Beast's write lock; Beast meanwhile writes its own frames: the pong that answers a client's ping, the close
// frame, and the TLS close_notify of the teardown. Unserialised, a pong written while a batch is on its way
// lands between two pieces of the batch on plain TCP (the client sees a corrupt frame stream), and over TLS it
// is two writes at once on one SSL stream, which is undefined behaviour. Here every write is one operation that
// writes all the bytes it is given before it completes, and operations run one after another in the order they
// arrived: a write that arrives while another runs waits for it.
//
// So a composed write over this stream (asio::async_write, Beast's own frames) issues exactly one write and can
// never be split by another writer, whatever its size: Asio's composed writes hand the stream at most 64 KiB per
// call, so the gateway's batches call async_write_some directly, once per batch.
//
// Bounded: at most k_max_waiting_writes operations wait. Each writer has at most one operation outstanding (the
// gateway one batch, Beast one control frame or teardown under its write lock), so the wait is at most two
// long; an operation beyond the bound fails with boost::asio::error::no_buffer_space (the connection then ends)
// instead of growing the queue.
//
// Thread-safety: none; every operation is started and completes on the transport's executor (the connection's
// strand). Memory: a flag and k_max_waiting_writes null pointers per connection; a waiting operation is one
// allocation, only while it waits.
#pragma once

#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace rtcache::gateway {

// Operations that may wait behind the running one; beyond: no_buffer_space.
inline constexpr std::size_t k_max_waiting_writes = 3;

template <class NextLayer>
class write_serializer {
 public:
  using next_layer_type = NextLayer;
  using executor_type = typename NextLayer::executor_type;

  explicit write_serializer(NextLayer&& next) : next_(std::move(next)) {}
  // Queued operations point at the serializer: it stays where it is.
  write_serializer(const write_serializer&) = delete;
  write_serializer& operator=(const write_serializer&) = delete;

  NextLayer& next_layer() noexcept { return next_; }
  const NextLayer& next_layer() const noexcept { return next_; }
  executor_type get_executor() noexcept { return next_.get_executor(); }

  // Reads go straight through: one reader at a time is the caller's (Beast's) rule.
  template <class MutableBufferSequence, class ReadToken>
  auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
    return next_.async_read_some(buffers, std::forward<ReadToken>(token));
  }

  // Writes ALL of `buffers` (not some), after any operation that arrived before it; completes with the byte count.
  // The buffers must stay valid until completion (as for any write).
  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    return boost::asio::async_compose<WriteToken, void(boost::beast::error_code, std::size_t)>(
        serialized_op<write_all<ConstBufferSequence>>{*this, write_all<ConstBufferSequence>{buffers}}, token, next_);
  }

  // Beast's teardown of the transport (the TLS close_notify is a write too), in turn with the writes.
  template <class TeardownToken>
  auto async_teardown(boost::beast::role_type role, TeardownToken&& token) {
    return boost::asio::async_compose<TeardownToken, void(boost::beast::error_code)>(
        serialized_op<teardown>{*this, teardown{role}}, token, next_);
  }

  // For tests: whether an operation runs, and how many wait.
  bool busy() const noexcept { return busy_; }
  std::size_t waiting() const noexcept { return count_; }

 private:
  // A waiting operation, type-erased. (Not asio::any_completion_handler: in Boost 1.81 moving one wraps it in
  // another without end, a stack overflow.)
  struct waiting_op {
    virtual ~waiting_op() = default;
    virtual void resume() = 0;
  };
  template <class Self>
  struct waiting_self final : waiting_op {
    explicit waiting_self(Self&& s) : self(std::move(s)) {}
    void resume() override { self(boost::beast::error_code{}); }
    Self self;
  };

  template <class ConstBufferSequence>
  struct write_all {
    ConstBufferSequence buffers;
    template <class Self>
    void start(NextLayer& next, Self&& self) {
      boost::asio::async_write(next, buffers, std::forward<Self>(self));
    }
    template <class Self>
    static void complete(Self& self, boost::beast::error_code ec, std::size_t n) {
      self.complete(ec, n);
    }
  };

  struct teardown {
    boost::beast::role_type role;
    template <class Self>
    void start(NextLayer& next, Self&& self) {
      using boost::beast::websocket::async_teardown;
      async_teardown(role, next, std::forward<Self>(self));
    }
    template <class Self>
    static void complete(Self& self, boost::beast::error_code ec, std::size_t) {
      self.complete(ec);
    }
  };

  // One operation: runs `work` on the transport once no other operation runs.
  template <class Work>
  struct serialized_op {
    write_serializer& s;
    Work work;
    enum class phase : std::uint8_t { arriving, waiting, running, refused } at = phase::arriving;

    template <class Self>
    void operator()(Self& self, boost::beast::error_code ec = {}, std::size_t n = 0) {
      switch (at) {
        case phase::arriving:
          if (s.busy_) {
            if (s.count_ == k_max_waiting_writes) {
              at = phase::refused;  // completes through the executor, never inside the initiating call
              boost::asio::post(s.get_executor(),
                                boost::beast::bind_handler(std::move(self), boost::asio::error::no_buffer_space));
              return;
            }
            at = phase::waiting;
            s.slots_[(s.head_ + s.count_) % k_max_waiting_writes] =
                std::make_unique<waiting_self<std::decay_t<Self>>>(std::move(self));
            ++s.count_;
            return;
          }
          s.busy_ = true;
          [[fallthrough]];
        case phase::waiting:  // busy_ is ours (set above, or handed over by the operation before)
          at = phase::running;
          work.start(s.next_, std::move(self));
          return;
        case phase::running: s.hand_over(); return Work::complete(self, ec, n);
        case phase::refused: return Work::complete(self, ec, n);
      }
    }
  };

  // The running operation finished: the first waiting one runs next (posted, so that it does not run inside this
  // one's completion), keeping busy_ set so that nothing overtakes it; with none waiting the stream is free.
  void hand_over() {
    if (count_ == 0) {
      busy_ = false;
      return;
    }
    std::unique_ptr<waiting_op> next = std::move(slots_[head_]);
    head_ = static_cast<std::uint8_t>((head_ + 1) % k_max_waiting_writes);
    --count_;
    boost::asio::post(get_executor(), [next = std::move(next)] { next->resume(); });
  }

  NextLayer next_;
  std::array<std::unique_ptr<waiting_op>, k_max_waiting_writes> slots_;  // a ring: the first of count_ is head_
  std::uint8_t head_ = 0;
  std::uint8_t count_ = 0;
  bool busy_ = false;
};

// Beast's customisation points (found by argument-dependent lookup): the teardown waits for the writes before it.
template <class NextLayer, class TeardownHandler>
void async_teardown(boost::beast::role_type role, write_serializer<NextLayer>& stream, TeardownHandler&& handler) {
  stream.async_teardown(role, std::forward<TeardownHandler>(handler));
}

template <class NextLayer>
void teardown(boost::beast::role_type role, write_serializer<NextLayer>& stream, boost::beast::error_code& ec) {
  using boost::beast::websocket::teardown;
  teardown(role, stream.next_layer(), ec);
}

}  // namespace rtcache::gateway
