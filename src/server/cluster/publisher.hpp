// Asynchronous publishing to the stream with de-duplication ids, a bounded window of unacknowledged messages,
// one outcome per message and an "acked up to" watermark. The WAL reader publishes each transaction's messages
// and confirms a WAL position to PostgreSQL only once acked_through() has passed the ticket of the last message
// up to that position; relay ingest waits for one ticket.
#pragma once

#include "cluster/connection.hpp"
#include "cluster/error.hpp"
#include "cluster/message.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace rtcache::cluster {

struct publisher_settings {
  // At most this many messages published beyond the watermark (see ack_window); publish() waits for room up
  // to stall_timeout, then fails with errc::too_many_in_flight.
  std::size_t max_in_flight = 4096;
  std::chrono::milliseconds stall_timeout = 2s;
  // A message not acknowledged within this time is reported failed (errc::timeout). It may still have been
  // stored (the ack was lost, or the reconnect buffer sent it late): republishing it with the same msg id
  // within the stream's duplicate window is then acknowledged as a duplicate, never stored twice.
  std::chrono::milliseconds ack_timeout = 5s;
  // Name of the stream the messages must land in (JetStream refuses them otherwise); empty: any stream.
  std::string expect_stream;
};

// The result of one publish, reported once per ticket that publish() returned.
struct publish_outcome {
  std::uint64_t ticket = 0;
  bool acknowledged = false;
  std::uint64_t stream_seq = 0;  // when acknowledged: where the message is (for a duplicate: the original)
  bool duplicate = false;        // acknowledged as a duplicate of a msg id within the duplicate window
  std::optional<error> failure;  // when not acknowledged
};

// Called on nats.c's acknowledgement thread, one outcome at a time, after the watermark moved (so a
// wait_acked() may return before the handler of the ticket it waited for has run). It must not block and
// must not destroy the publisher.
using publish_handler = std::function<void(const publish_outcome&)>;

struct publisher_stats {
  std::uint64_t published = 0;   // tickets issued
  std::uint64_t acked = 0;       // acknowledged, duplicates included
  std::uint64_t duplicates = 0;  // acknowledged as duplicates (the metric "de-duplicated publishes")
  std::uint64_t failed = 0;      // timed out or refused
  std::size_t in_flight = 0;
};

// Thread-safety: publish() and the observers may be called from any thread. Tickets are numbered in the order
// publish() calls take them; messages from one thread reach the stream in that order.
class publisher {
 public:
  // REQUIRES: `conn` outlives the publisher.
  static result<std::unique_ptr<publisher>> create(const connection& conn, publisher_settings settings = {},
                                                   publish_handler on_outcome = {});
  // Waits (up to ack_timeout plus a margin) until every message has its outcome, then releases nats.c's
  // context. Outcomes still due after that are not reported.
  ~publisher();
  publisher(const publisher&) = delete;
  publisher& operator=(const publisher&) = delete;

  // Sends `msg` with its msg id and headers, not waiting for the acknowledgement; returns its ticket. Errors:
  // too_many_in_flight (window full for stall_timeout; nothing sent, no ticket taken), and, after a ticket was
  // taken, buffer_full (disconnected and the reconnect buffer is full) or connection_closed: that ticket
  // fails (the watermark never passes it) and the error is returned here, not to the handler.
  result<std::uint64_t> publish(const outgoing_message& msg);

  // Every ticket <= acked_through() was acknowledged by JetStream. Stops below the first failure for good.
  std::uint64_t acked_through() const;
  std::optional<std::uint64_t> first_failure() const;
  // Waits until acked_through() >= ticket. errc::publish_rejected (with the failure's message) when a ticket
  // <= `ticket` failed, errc::timeout when `timeout` passes first.
  result<void> wait_acked(std::uint64_t ticket, std::chrono::milliseconds timeout) const;
  publisher_stats stats() const;

  struct state;  // shared with nats.c's acknowledgement callback

 private:
  explicit publisher(std::unique_ptr<state> st);
  std::unique_ptr<state> state_;
};

}  // namespace rtcache::cluster
