// The JetStream stream every node shares: made to match stream_settings, and read back as a state whose
// identity tells a node whether the sequence numbers it holds still mean what they meant.
#pragma once

#include "cluster/connection.hpp"
#include "cluster/error.hpp"
#include "cluster/settings.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace rtcache::cluster {

// Which incarnation of a stream. `created_ns` is the stream's creation time as the server recorded it (ns since
// the Unix epoch): it survives server restarts and purges and changes when the stream is deleted and created
// again — where sequence numbers start over at 1 (measured: stream_test.cpp, docs/cluster.md "Stream
// identity"). A purge keeps the identity: it moves first_seq past the purged messages, exactly as retention
// does, so "is sequence s still in the stream" is answered by first_seq, not by the identity.
struct stream_identity {
  std::string name;
  std::int64_t created_ns = 0;

  friend bool operator==(const stream_identity&, const stream_identity&) = default;
  // "<name>@<created_ns>", stable text for logs and for deriving epochs.
  std::string to_string() const;
};

struct stream_state {
  stream_identity identity;
  std::uint64_t first_seq = 0;  // oldest sequence still held; last_seq + 1 when empty
  std::uint64_t last_seq = 0;   // newest sequence ever assigned (0 when nothing was ever stored)
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::int64_t first_time_ns = 0;
  std::int64_t last_time_ns = 0;
  std::uint64_t deleted = 0;  // interior deletes (none in rtcache's use; retention and purge cut the front)
  std::int64_t consumers = 0;
  std::int64_t replicas = 0;

  // True when every message from `seq` on is still in the stream (retention/purge has not passed it).
  bool holds_from(std::uint64_t seq) const noexcept { return seq >= first_seq; }
};

enum class ensure_outcome { created, updated, unchanged };
std::string_view to_string(ensure_outcome outcome) noexcept;

struct ensured_stream {
  ensure_outcome outcome;
  stream_state state;
};

// Thread-safety: free functions on a connection; safe from any thread.

// Creates the stream if missing; otherwise updates the settings that may change in place (subjects, max_age,
// max_bytes, duplicate window, replicas, allow_direct) to match. errc::stream_conflict when the storage kind
// differs (JetStream cannot change it; the operator must re-create the stream, which gives it a new identity).
// Two nodes ensuring the same settings at once both succeed.
result<ensured_stream> ensure_stream(const connection& conn, const stream_settings& settings);

// errc::stream_not_found when the stream does not exist.
result<stream_state> get_stream_state(const connection& conn, const std::string& stream);
// The same, waiting at most `timeout` for the server's answer (errc::timeout) instead of nats.c's default 5 s.
result<stream_state> get_stream_state(const connection& conn, const std::string& stream,
                                      std::chrono::milliseconds timeout);

// The subjects of the stream matching `filter` (a subject or a wildcard) that hold a message now, in no particular
// order: stream info with a subjects filter, waiting at most `timeout`.
result<std::vector<std::string>> stream_subjects(const connection& conn, const std::string& stream,
                                                 const std::string& filter, std::chrono::milliseconds timeout);

// Removes every message (first_seq moves to last_seq + 1; the identity stays). For operators and tests.
result<void> purge_stream(const connection& conn, const std::string& stream);
// Removes the stream with its messages and consumers. For operators and tests.
result<void> delete_stream(const connection& conn, const std::string& stream);

}  // namespace rtcache::cluster
