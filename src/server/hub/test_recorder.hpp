// Test support: a hub subscriber that records what reaches it, in order, as text a test compares with a list:
// each delivery as its offset (and, with frames, "<offset>:<v1 frame>"), each reset as "reset". Thread-safe: the
// hub delivers on the publisher's thread. Used by the hub's tests and by the cluster's, which apply a stream to a
// hub.
#pragma once

#include "hub/hub.hpp"
#include "hub/message.hpp"

#include <mutex>
#include <string>
#include <vector>

namespace rtcache::hub::test {

class recorder final : public hub_subscriber {
 public:
  enum class record { offsets, offsets_and_frames };
  explicit recorder(record what = record::offsets) : what_(what) {}

  void deliver(const hub_message_ptr& message) noexcept override {
    std::string event = std::to_string(message->offset);
    if (what_ == record::offsets_and_frames) event += ":" + message->frames.v1_text;
    std::lock_guard lock(mu_);
    events_.push_back(std::move(event));
  }
  void on_reset() noexcept override {
    std::lock_guard lock(mu_);
    events_.push_back("reset");
  }
  std::vector<std::string> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  const record what_;
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

}  // namespace rtcache::hub::test
