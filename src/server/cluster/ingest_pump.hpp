// Relay ingest's way to the writer (docs/cluster.md, "Relay ingest"): on the node whose writer writes the main stream,
// a thread reads the ingest stream in order (an ordered consumer) from where the writer's ingest anchor says, decodes
// each message and queues it; the writer's thread takes the queue and republishes (writer::publish_ingest), so every
// call into the writer stays on one thread. The queue is bounded in messages and bytes: a full queue stops the
// reading (flow control keeps the rest in the stream).
#pragma once

#include "cluster/connection.hpp"
#include "cluster/error.hpp"
#include "cluster/source_ids.hpp"
#include "cluster/wire.hpp"
#include "cluster/writer.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace rtcache::cluster {

struct ingest_pump_settings {
  std::string stream = "rtcache";  // the main stream: the ingest stream is ingest_stream_name(stream)
  std::size_t max_queued = 1024;   // messages read and not yet taken
  std::size_t max_queued_bytes = 16 << 20;
  // How long the reading thread waits for a message before it looks at its stop flag (and retries a consumer it
  // could not start).
  std::chrono::milliseconds poll = 200ms;
  std::chrono::milliseconds lookup_timeout = 2s;  // reading the ingest stream's state at restart()
  wire_limits limits;
};

struct ingest_pump_stats {
  std::uint64_t read = 0;     // messages read from the ingest stream
  std::uint64_t refused = 0;  // of them, bodies that are no ingest batch (handed over as refused)
  std::uint64_t restarts = 0;
  std::size_t queued = 0;
};

// Thread-safety: restart(), pause() and take() from the writer's thread; stats() from any thread.
class ingest_pump {
 public:
  // REQUIRES: `conn` outlives the pump.
  ingest_pump(const connection& conn, ingest_pump_settings settings);
  ~ingest_pump();  // pause()
  ingest_pump(const ingest_pump&) = delete;
  ingest_pump& operator=(const ingest_pump&) = delete;

  // Reads the ingest stream again from `anchor`'s message (the writer skips the items it holds), or from the first
  // message the stream holds when `anchor` is of another incarnation or none. What was queued is dropped. `wake` (may
  // be empty) is called from the reading thread whenever it queued a message. Errors: the ingest stream's state
  // could not be read (the pump is paused then; restart again later).
  result<void> restart(const ingest_anchor_state& anchor, std::function<void()> wake);
  // Stops reading and drops the queue (the writer is no longer the stream's writer).
  void pause();
  // Up to `max` queued messages, oldest first.
  std::vector<ingest_delivery> take(std::size_t max);
  bool running() const;
  // Hands queued messages to `w` (writer::publish_ingest) while its window has room, at most about `budget` items:
  // the writer's thread's share of work between its other calls. Returns the items handed over.
  std::size_t feed(writer& w, std::size_t budget = 256);

  ingest_pump_stats stats() const;

 private:
  void read(std::uint64_t from, std::int64_t created_ns);  // the reading thread

  const connection& conn_;
  ingest_pump_settings settings_;
  mutable std::mutex mu_;
  std::condition_variable room_;
  std::deque<ingest_delivery> queue_;
  std::size_t queued_bytes_ = 0;
  std::function<void()> wake_;
  bool stop_ = false;
  ingest_pump_stats stats_;
  std::thread thread_;
};

}  // namespace rtcache::cluster
