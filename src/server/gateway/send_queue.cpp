// A connection's send queue (send_queue.hpp).
#include "send_queue.hpp"

#include <algorithm>

namespace rtcache::gateway {

void frame_fifo::pop_front() noexcept {
  ++head_;
  if (head_ == frames_.size()) {
    clear();
  } else if (head_ >= 64 && head_ * 2 >= frames_.size()) {  // compact: amortised O(1) per frame
    frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void frame_fifo::clear() noexcept {
  frames_.clear();
  head_ = 0;
  if (frames_.capacity() > k_keep_capacity) std::vector<out_frame>().swap(frames_);
}

send_queue::admission send_queue::admit(std::size_t bytes) {
  if (overflow_ || closing_) return admission::dropped;
  if (bytes_ + bytes > max_bytes_) {
    overflow_ = true;
    drop_queue();
    return admission::overflow;
  }
  bytes_ += bytes;
  return admission::ok;
}

bool send_queue::enqueue(out_frame f) {
  const admission a = admit(f.bytes().size());
  if (a == admission::ok) queue_.push_back(std::move(f));
  return a != admission::overflow;
}

void send_queue::drop_queue() noexcept {
  for (const auto& f : queue_) bytes_ -= f.bytes().size();
  queue_.clear();
}

void send_queue::drop_held(channel_gate& g) noexcept {
  g.closed_ = true;
  for (const auto& f : g.held_) bytes_ -= f.bytes().size();
  g.held_.clear();
}

bool send_queue::hold_writes() const noexcept {
  return deferrals_ > 0 && queue_.size() < k_write_batch_frames && bytes_ < k_write_batch_bytes;
}

bool send_queue::push(out_frame f) {
  sync::mutex_lock lock(mu_);
  return enqueue(std::move(f));
}

bool send_queue::open(channel_gate& g, std::vector<out_frame>& frames) {
  sync::mutex_lock lock(mu_);
  bool overflow = false;
  for (auto& f : frames) {
    if (overflow) break;
    overflow = !enqueue(std::move(f));
  }
  // Held deliveries were counted when held: move them over without counting them twice.
  for (auto& h : g.held_) {
    if (overflow_ || closing_) {
      bytes_ -= h.bytes().size();
    } else {
      queue_.push_back(std::move(h));
    }
  }
  g.held_.clear();
  g.ready_ = true;
  return !overflow;
}

void send_queue::set_principal(channel_gate& g, std::shared_ptr<const auth::principal> who) {
  sync::mutex_lock lock(mu_);
  g.who_ = std::move(who);
}

void send_queue::close_channel(channel_gate& g) noexcept {
  sync::mutex_lock lock(mu_);
  drop_held(g);
}

void send_queue::close() noexcept {
  sync::mutex_lock lock(mu_);
  closing_ = true;
  drop_queue();
}

send_queue::take_result send_queue::take(std::vector<out_frame>& batch, bool may_write) {
  sync::mutex_lock lock(mu_);
  flush_posted_ = false;
  if (writing_ || queue_.empty() || !may_write || hold_writes()) {
    return !writing_ && queue_.empty() ? take_result::drained : take_result::busy;
  }
  batch.reserve(std::min(queue_.size(), k_write_batch_frames));
  write_batch_bound bound;
  while (!queue_.empty() && bound.admit(queue_.front().bytes().size())) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  writing_ = true;
  return take_result::batch;
}

void send_queue::written(const std::vector<out_frame>& batch) noexcept {
  sync::mutex_lock lock(mu_);
  writing_ = false;
  for (const auto& f : batch) bytes_ -= f.bytes().size();
}

bool send_queue::writing() const {
  sync::mutex_lock lock(mu_);
  return writing_;
}

void send_queue::end_deferral() noexcept {
  sync::mutex_lock lock(mu_);
  --deferrals_;
}

std::size_t send_queue::bytes() const {
  sync::mutex_lock lock(mu_);
  return bytes_;
}

std::size_t send_queue::size() const {
  sync::mutex_lock lock(mu_);
  return queue_.size();
}

std::size_t send_queue::held(const channel_gate& g) const {
  sync::mutex_lock lock(mu_);
  return g.held_.size();
}

}  // namespace rtcache::gateway
