// Test support: a routed_sink that records what it is given, as channel/event lines, thread-safely so a test
// thread can read while the source's thread publishes. Not part of the library.
#pragma once

#include "rtcache/core/event_codec.hpp"
#include "rtcache/net/routed_sink.hpp"

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace rtcache::pg::test {

class recording_sink final : public net::routed_sink {
 public:
  void publish(net::routed_rows rows) override {
    std::lock_guard lock(mutex_);
    ++publishes_;
    commit_times_.push_back(rows.commit_time);
    for (const net::routed_message& m : rows.messages) {
      lines_.push_back(m.channel.format() + " " + core::encode(*m.event));
      events_.push_back(*m.event);
      channels_.push_back(m.channel.format());
    }
    for (const net::scoped_change& c : rows.changes) changes_.push_back(c.change->json);
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

 private:
  mutable std::mutex mutex_;
  std::size_t publishes_ = 0;
  std::vector<std::string> lines_;
  std::vector<std::string> channels_;
  std::vector<core::event> events_;
  std::vector<std::string> changes_;
  std::vector<std::optional<std::chrono::system_clock::time_point>> commit_times_;
};

}  // namespace rtcache::pg::test
