// Reading the stream in order: an ordered consumer (nats.c's ephemeral push consumer with flow control and
// idle heartbeats, no acks) from a start sequence, pulled by the caller's thread with next(). It delivers each
// stream sequence at most once and in ascending order, across nats-server restarts and client reconnects,
// also where nats.c alone would not (see ordered_consumer.cpp).
#pragma once

#include "cluster/connection.hpp"
#include "cluster/error.hpp"
#include "cluster/message.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace rtcache::cluster {

using namespace std::chrono_literals;

struct consumer_settings {
  std::string stream;
  // Subjects to deliver: the stream's subject ("rtcache.>") for everything, or a narrower filter. Required.
  std::string filter_subject;
  // First sequence to deliver; 0 or 1: from the first message the stream still holds.
  std::uint64_t start_seq = 0;
  // The server sends a heartbeat when idle this long; two missed ones make nats.c recreate the consumer.
  std::chrono::milliseconds heartbeat = 5s;
  // Bytes received and not yet taken by next() (the count of messages is bounded by the connection's
  // nats_settings::subscription_pending_msgs). Flow control keeps the server from running far ahead; if a
  // bound is hit anyway, nats.c drops messages, and the consumer starts again after the last message it
  // delivered (counted in consumer_stats::restarts), so nothing is skipped.
  int pending_bytes_limit = 64 << 20;
};

struct consumer_stats {
  std::uint64_t delivered = 0;
  std::uint64_t skipped = 0;   // received again at or below last_delivered() and not delivered twice
  std::uint64_t restarts = 0;  // restarts after messages were dropped at the pending bound
};

// Thread-safety: one thread at a time calls next() (the consumer's reader); stats() and last_delivered() are
// for that thread too.
class ordered_consumer {
 public:
  // REQUIRES: `conn` outlives the consumer. errc::stream_not_found when the stream does not exist. Each subscription
  // the consumer ends (at a restart, and at its destruction) is retired to the connection (release_subscription).
  static result<std::unique_ptr<ordered_consumer>> start(const connection& conn, consumer_settings settings);
  ~ordered_consumer();
  ordered_consumer(const ordered_consumer&) = delete;
  ordered_consumer& operator=(const ordered_consumer&) = delete;

  // The next message in stream order, or nullopt when none arrives within `timeout`. While the connection is
  // reconnecting, next() simply times out; after the reconnect, delivery continues after last_delivered().
  // errc::connection_closed once the connection is closed for good; errc::consumer_failed (or timeout) when a
  // restart after dropped messages could not create the new consumer: calling next() again retries it.
  result<std::optional<stream_message>> next(std::chrono::milliseconds timeout);

  // The stream sequence of the last message next() returned; start_seq - 1 before the first.
  std::uint64_t last_delivered() const noexcept { return last_delivered_; }
  // Messages matching the filter that the server had still to deliver when it sent the last message next()
  // returned: the consumer's lag in messages (0 = caught up as of that message).
  std::uint64_t pending() const noexcept { return pending_; }
  // Asks the server: messages matching the filter from the current start (delivered by this consumer
  // incarnation plus still pending). 0 right after start(): nothing to wait for.
  result<std::uint64_t> matching_now() const;
  const consumer_stats& stats() const noexcept { return stats_; }

 private:
  struct impl;
  ordered_consumer(const connection& conn, consumer_settings settings);
  result<void> subscribe(std::uint64_t from_seq);
  // Lets go of the subscription without destroying it while the connection is open: unsubscribed at once (nothing
  // more is delivered to it), destroyed once the connection closed (connection_handles::retire: nats.c 3.4 can crash
  // when a subscription is destroyed while its read loop handles a message for it, as one restarted after drops
  // at the pending bound is likely to be).
  void release_subscription() noexcept;

  const connection& conn_;
  consumer_settings settings_;
  std::unique_ptr<impl> impl_;
  std::uint64_t last_delivered_ = 0;
  std::uint64_t pending_ = 0;
  consumer_stats stats_;
};

}  // namespace rtcache::cluster
