// Internal to the gateway: a connection's send queue, the one piece of a WebSocket session that two threads
// share. Hub publishers offer deliveries (hub_subscriber::deliver, on the publisher's thread, under the hub
// channel's lock: it must not wait for the connection's strand); the strand queues its own frames, opens and
// closes channels, and takes batches to write. Bounded in bytes: the frame that would pass the bound drops the
// whole queue, and the caller closes the connection with 4008.
//
// Ordering of a join: a channel's hub subscription is live before its join reply is queued, and its deliveries
// are held (channel_gate) until open() queues the reply, the replay and the postgres_changes push, then the
// held frames, under one lock: nothing published after the join is missed, and nothing overtakes the reply.
#pragma once

#include "auth/auth.hpp"
#include "frame_writer.hpp"
#include "out_frame.hpp"
#include "rtcache/sync/annotated_mutex.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace rtcache::gateway {

// A FIFO of frames that owns no memory while empty (a std::deque allocates ~580 bytes on construction, which
// every idle connection would pay) and gives back a large buffer once drained.
// Thread-safety: none (send_queue guards it).
class frame_fifo {
 public:
  bool empty() const noexcept { return head_ == frames_.size(); }
  std::size_t size() const noexcept { return frames_.size() - head_; }
  out_frame& front() noexcept { return frames_[head_]; }
  void push_back(out_frame f) { frames_.push_back(std::move(f)); }
  void pop_front() noexcept;
  void clear() noexcept;
  auto begin() const noexcept { return frames_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() const noexcept { return frames_.end(); }

 private:
  static constexpr std::size_t k_keep_capacity = 16;
  std::vector<out_frame> frames_;
  std::size_t head_ = 0;
};

class send_queue;

// The part of one joined channel that deliveries read: for whom they are filtered, and whether they are held
// (the join reply is not queued yet), queued, or dropped (the channel was left). Every field is guarded by the
// mutex of the send_queue of the channel's connection, and only send_queue reads or writes them.
class channel_gate {
 public:
  explicit channel_gate(std::shared_ptr<const auth::principal> who) noexcept : who_(std::move(who)) {}
  channel_gate(const channel_gate&) = delete;
  channel_gate& operator=(const channel_gate&) = delete;

 private:
  friend class send_queue;
  std::shared_ptr<const auth::principal> who_;  // the channel's principal as deliveries filter by it
  std::vector<out_frame> held_;                 // counted in the queue's bytes
  bool ready_ = false;                          // open() ran: deliveries are queued, not held
  bool closed_ = false;                         // left, revoked or closing: deliveries are dropped
};

// Thread-safety: every member may be called from any thread; the comments say which thread calls each in the
// gateway. The lock is held only for the queue's own bookkeeping and for the `frames` callback of offer().
class send_queue {
 public:
  // REQUIRES: max_bytes > 0 (limits.max_send_queue_bytes).
  explicit send_queue(std::size_t max_bytes) noexcept : max_bytes_(max_bytes) {}
  send_queue(const send_queue&) = delete;
  send_queue& operator=(const send_queue&) = delete;

  // What the caller of offer() must do once it returns.
  struct offered {
    bool overflow = false;  // the bound tripped and the queue was dropped: close the connection with 4008
    bool flush = false;     // the queue became writable and no write is posted: post one (at most one at a time)
    bool deferred = false;  // first delivery within `scope`: end_deferral() once that scope ends
  };

  // Publisher thread (hub_subscriber::deliver). Unless the queue is closing or `g` is closed, calls
  // frames(const principal& who, frame_set& out) under the lock to decide what the delivery becomes on this
  // channel, then queues those frames, or holds them while `g` is not open. `scope`: the flush_scope the
  // publishing thread is in (its token, 0 for none); within one, writes wait for the scope to end while less
  // than a full write batch is queued, so that a POSTed batch goes out in one write.
  // `frames` must not block nor call into the queue or the hub.
  template <class Frames>
  offered offer(channel_gate& g, std::uint64_t scope, Frames&& frames);

  // Strand: queues a frame of this connection (a reply, a push). Returns false when it overflowed the bound: the
  // queue was dropped and the caller closes with 4008. Once closing, frames are dropped (and true is returned).
  bool push(out_frame f);

  // Strand: a join finished. Queues `frames` (its reply, replay and postgres_changes push) then the frames held
  // for `g`, and opens `g`, under one lock. Returns false on overflow (as push()); the held frames are then
  // released without being queued.
  bool open(channel_gate& g, std::vector<out_frame>& frames);

  // Strand: later deliveries on `g` are filtered for `who` (an access_token push).
  void set_principal(channel_gate& g, std::shared_ptr<const auth::principal> who);

  // Strand: `g` was left: its deliveries are dropped from now on and its held frames released.
  void close_channel(channel_gate& g) noexcept;

  // Strand: the connection is closing: every queued frame is released and every later frame dropped (the write
  // in flight finishes). Channels' held frames stay counted until close_channel().
  void close() noexcept;

  enum class take_result {
    batch,    // `batch` holds the next write: write it, then call written()
    busy,     // a write is in flight, writes are held back, or `may_write` is false: nothing to do now
    drained,  // nothing is queued and no write is in flight: write buffers may be released
  };
  // Strand: moves the frames of the next write into `batch` (empty on entry), as cut by write_batch_bound, and
  // marks a write in flight. `may_write`: the socket is open and not torn down. Clears the posted-flush mark.
  take_result take(std::vector<out_frame>& batch, bool may_write);
  // Strand: the write of `batch` completed or failed: its bytes leave the bound. The caller releases the frames.
  void written(const std::vector<out_frame>& batch) noexcept;
  // Whether a write is in flight.
  bool writing() const;

  // Any thread: a flush_scope that registered this queue (offered::deferred) ended.
  void end_deferral() noexcept;

  // For tests and checks: bytes counted against the bound (queued, held and in flight), frames queued, and the
  // frames held for `g`.
  std::size_t bytes() const;
  std::size_t size() const;
  std::size_t held(const channel_gate& g) const;

 private:
  enum class admission { ok, dropped, overflow };
  // Counts `bytes` against the bound. On overflow the queue is dropped; once overflowed or closing, everything
  // is dropped.
  admission admit(std::size_t bytes) RTCACHE_REQUIRES(mu_);
  // Returns false when `f` overflowed the bound.
  bool enqueue(out_frame f) RTCACHE_REQUIRES(mu_);
  // Frees every queued frame (not those in flight, nor channels' held frames).
  void drop_queue() noexcept RTCACHE_REQUIRES(mu_);
  void drop_held(channel_gate& g) noexcept RTCACHE_REQUIRES(mu_);
  // Whether writes wait for a flush_scope to end: while one holds them back and less than a full write batch is
  // queued.
  bool hold_writes() const noexcept RTCACHE_REQUIRES(mu_);

  // Constant after construction.
  const std::size_t max_bytes_;

  // Also guards the fields of this connection's channel_gates (which the analysis cannot name: they live in
  // other objects).
  mutable sync::annotated_mutex mu_;
  frame_fifo queue_ RTCACHE_GUARDED_BY(mu_);
  std::size_t bytes_ RTCACHE_GUARDED_BY(mu_) = 0;             // queue_ + channels' held frames + the write in flight
  std::uint64_t deferral_token_ RTCACHE_GUARDED_BY(mu_) = 0;  // the last scope that registered this queue
  std::uint32_t deferrals_ RTCACHE_GUARDED_BY(mu_) = 0;       // flush_scopes holding writes back (each ends once)
  bool writing_ RTCACHE_GUARDED_BY(mu_) = false;
  bool flush_posted_ RTCACHE_GUARDED_BY(mu_) = false;
  bool closing_ RTCACHE_GUARDED_BY(mu_) = false;
  bool overflow_ RTCACHE_GUARDED_BY(mu_) = false;
};

template <class Frames>
send_queue::offered send_queue::offer(channel_gate& g, std::uint64_t scope, Frames&& frames) {
  offered r;
  sync::mutex_lock lock(mu_);
  if (closing_ || g.closed_) return r;
  frame_set fs;
  frames(*g.who_, fs);
  for (std::size_t i = 0; i < fs.n && !r.overflow; ++i) {
    if (!g.ready_) {
      const admission a = admit(fs.f[i].bytes().size());
      if (a == admission::ok) g.held_.push_back(std::move(fs.f[i]));
      r.overflow = a == admission::overflow;
    } else {
      r.overflow = !enqueue(std::move(fs.f[i]));
    }
  }
  if (!r.overflow && !queue_.empty()) {
    if (scope != 0 && deferral_token_ != scope) {
      deferral_token_ = scope;
      ++deferrals_;
      r.deferred = true;
    }
    if (!writing_ && !flush_posted_ && !hold_writes()) {
      flush_posted_ = true;
      r.flush = true;
    }
  }
  return r;
}

}  // namespace rtcache::gateway
