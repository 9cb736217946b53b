// Test support: a routed_sink that records what it is given (channel/event lines, the calls with their stream
// positions, the gaps), thread-safely so a test thread can read while the source's thread publishes. Durable at
// once by default, like the hub; with hold_acks() it acknowledges only what the test acknowledges (ack_through,
// ack_all), as an asynchronous sink (JetStream) would. Not part of the library.
#pragma once

#include "routing/routed_sink.hpp"
#include "rtcache/core/event_codec.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace rtcache::pg::test {

class recording_sink final : public routing::routed_sink {
 public:
  // One publish() or on_gap() as the sink saw it.
  struct call {
    routing::stream_position position;
    bool gap = false;
    bool last = false;
    std::size_t messages = 0;  // rows.messages + rows.changes
    std::vector<std::string> channels;
    routing::source_gap gap_value;  // when gap
  };

  core::result<std::optional<routing::wal_anchor>> durable_anchor() override {
    std::lock_guard lock(mutex_);
    ++anchor_reads_;
    if (anchor_error_) return core::error{core::errc::bad_value, *anchor_error_};
    return anchor_;
  }

  void start_stream(std::function<void()> wake) override {
    std::lock_guard lock(mutex_);
    ++streams_;
    wake_ = std::move(wake);
    issued_ = 0;
    outstanding_ = 0;
    stream_start_ = calls_.size();
    durable_.store(0, std::memory_order_release);
  }

  void publish(routing::routed_batch batch) override {
    std::lock_guard lock(mutex_);
    ++publishes_;
    commit_times_.push_back(batch.rows.commit_time);
    call c;
    c.position = batch.position;
    c.last = batch.last;
    c.messages = batch.rows.messages.size() + batch.rows.changes.size();
    for (const routing::routed_message& m : batch.rows.messages) {
      lines_.push_back(m.channel.format() + " " + core::encode(*m.event));
      events_.push_back(*m.event);
      channels_.push_back(m.channel.format());
      c.channels.push_back(m.channel.format());
    }
    for (const routing::scoped_change& ch : batch.rows.changes) changes_.push_back(ch.change->json);
    outstanding_ += c.messages;
    if (outstanding_ > max_outstanding_) max_outstanding_ = outstanding_;
    calls_.push_back(std::move(c));
    issued_ = batch.position.sequence;
    if (!hold_) ack_locked(issued_);
  }

  void on_gap(const routing::source_gap& gap) override {
    std::lock_guard lock(mutex_);
    call c;
    c.position = gap.position;
    c.gap = true;
    c.gap_value = gap;
    calls_.push_back(std::move(c));
    gaps_.push_back(gap);
    issued_ = gap.position.sequence;
    if (!hold_) ack_locked(issued_);
  }

  std::uint64_t durable_through() const noexcept override { return durable_.load(std::memory_order_acquire); }

  // From now on acknowledge only on ack_through()/ack_all(); release_acks() returns to acknowledging at once.
  void hold_acks() {
    std::lock_guard lock(mutex_);
    hold_ = true;
  }
  void release_acks() {
    std::lock_guard lock(mutex_);
    hold_ = false;
    ack_locked(issued_);
  }
  // Makes calls 1..sequence of the current stream durable and wakes the source.
  void ack_through(std::uint64_t sequence) {
    std::lock_guard lock(mutex_);
    ack_locked(sequence);
  }
  void ack_all() {
    std::lock_guard lock(mutex_);
    ack_locked(issued_);
  }
  void set_anchor(std::optional<routing::wal_anchor> anchor) {
    std::lock_guard lock(mutex_);
    anchor_ = anchor;
  }
  void fail_anchor(std::optional<std::string> message) {
    std::lock_guard lock(mutex_);
    anchor_error_ = std::move(message);
  }

  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  std::vector<std::string> channels() const {
    std::lock_guard lock(mutex_);
    return channels_;
  }
  std::vector<core::event> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::vector<std::string> changes() const {
    std::lock_guard lock(mutex_);
    return changes_;
  }
  std::vector<call> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  std::vector<routing::source_gap> gaps() const {
    std::lock_guard lock(mutex_);
    return gaps_;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return lines_.size();
  }
  // The commit time each publish carried, in order.
  std::vector<std::optional<std::chrono::system_clock::time_point>> commit_times() const {
    std::lock_guard lock(mutex_);
    return commit_times_;
  }
  std::size_t publishes() const {
    std::lock_guard lock(mutex_);
    return publishes_;
  }
  std::size_t streams() const {
    std::lock_guard lock(mutex_);
    return streams_;
  }
  std::uint64_t issued() const {
    std::lock_guard lock(mutex_);
    return issued_;
  }
  // The most routed messages ever published and not yet durable at once (within a stream).
  std::size_t max_outstanding_messages() const {
    std::lock_guard lock(mutex_);
    return max_outstanding_;
  }

 private:
  void ack_locked(std::uint64_t sequence) {
    if (sequence > issued_) sequence = issued_;
    const std::uint64_t before = durable_.load(std::memory_order_relaxed);
    if (sequence <= before) return;
    // The current stream's calls are calls_[stream_start_ ...], with sequences 1, 2, ...
    for (std::uint64_t q = before + 1; q <= sequence; ++q) outstanding_ -= calls_[stream_start_ + q - 1].messages;
    durable_.store(sequence, std::memory_order_release);
    if (wake_) wake_();
  }

  mutable std::mutex mutex_;
  std::atomic<std::uint64_t> durable_{0};
  std::uint64_t issued_ = 0;      // the last sequence of the current stream
  std::size_t stream_start_ = 0;  // index in calls_ of the current stream's first call
  std::size_t outstanding_ = 0;
  std::size_t max_outstanding_ = 0;
  bool hold_ = false;
  std::function<void()> wake_;
  std::optional<routing::wal_anchor> anchor_;
  std::optional<std::string> anchor_error_;
  std::size_t publishes_ = 0;
  std::size_t streams_ = 0;
  std::size_t anchor_reads_ = 0;
  std::vector<std::string> lines_;
  std::vector<std::string> channels_;
  std::vector<core::event> events_;
  std::vector<std::string> changes_;
  std::vector<std::optional<std::chrono::system_clock::time_point>> commit_times_;
  std::vector<call> calls_;
  std::vector<routing::source_gap> gaps_;
};

}  // namespace rtcache::pg::test
