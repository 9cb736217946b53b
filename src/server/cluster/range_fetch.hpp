// The messages of one subject (or a wildcard subject set) between two stream sequences: how a node that lacks a
// channel's history answers an exact resume from the stream itself.
#pragma once

#include "cluster/connection.hpp"
#include "cluster/error.hpp"
#include "cluster/message.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace rtcache::cluster {

struct range_request {
  std::string stream;
  std::string subject;  // one subject, or a wildcard such as "rtcache.f1.>"
  std::uint64_t from_seq = 1;
  std::uint64_t to_seq = std::numeric_limits<std::uint64_t>::max();  // inclusive
  std::size_t max_messages = 10'000;       // more in the range: errc::too_many (nothing partial is returned)
  std::chrono::milliseconds timeout = 5s;  // per server request
};

enum class fetch_method {
  // One direct-get request per message (next message on the subject at or after a sequence): no consumer is
  // created; needs nats-server >= 2.9 and a stream with allow_direct. The faster for short ranges (measured in
  // bench/cluster/nats_bench.cpp: docs/cluster.md).
  direct_get,
  // An ephemeral ordered consumer with the subject as filter, from from_seq, stopped after to_seq or the last
  // pending message: one consumer creation, then the messages stream in.
  consumer,
};

// The first message on `subject` (one subject, or a wildcard) at stream sequence >= `seq`, nullopt when there is
// none: one direct-get request (nats-server >= 2.9, a stream with allow_direct), waiting at most `timeout`.
result<std::optional<stream_message>> next_message(const connection& conn, const std::string& stream,
                                                   const std::string& subject, std::uint64_t seq,
                                                   std::chrono::milliseconds timeout);

// The last message on `subject` (one subject), nullopt when there is none: one direct-get request.
result<std::optional<stream_message>> last_message(const connection& conn, const std::string& stream,
                                                   const std::string& subject, std::chrono::milliseconds timeout);

// The messages on `subject` with from_seq <= seq <= to_seq, ascending. Messages older than the stream's
// first_seq are gone without a trace here: the caller checks get_stream_state(...).holds_from(from_seq)
// (after the fetch, since retention only moves forward) before calling the result complete.
// Thread-safety: any thread; each call is independent.
result<std::vector<stream_message>> fetch_range(const connection& conn, const range_request& request,
                                                fetch_method method = fetch_method::direct_get);

}  // namespace rtcache::cluster
