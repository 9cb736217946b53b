// The applier: on every node, the main stream read in order (ordered_consumer) from a start sequence and applied
// to the node's position book and hub (stream_apply.hpp), so that every node holds the same positions and serves
// the same resumes (docs/cluster.md, "The applier"). It keeps the last stream sequence it applied and its lag, from
// which readiness follows: caught up when the consumer has nothing pending. A node that lost messages (the stream
// dropped some before it applied them) or a stream created again starts every view over (stream_applier::reset):
// nothing is served as continuous across the loss.
#pragma once

#include "cluster/connection.hpp"
#include "cluster/error.hpp"
#include "cluster/ordered_consumer.hpp"
#include "cluster/partition_search.hpp"
#include "cluster/stream.hpp"
#include "cluster/stream_apply.hpp"
#include "hub/hub.hpp"
#include "rtcache/sync/annotated_mutex.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace rtcache::cluster {

struct applier_settings {
  std::string stream;           // the main stream's name
  stream_apply_settings apply;  // its subject prefix (empty: `stream`, as the writer names subjects), node id, bounds
  // First stream sequence to apply; 0 or 1: from the first message the stream holds. A node applies from the
  // beginning of what the stream holds: positions are derived from the partitions' states, which it learns there.
  std::uint64_t start_seq = 0;
  // How long run()'s thread waits for a message before it looks at the stream's state again (its first sequence:
  // which partitions are live) and at stop().
  std::chrono::milliseconds idle_poll{200};
  // How old the stream's first sequence (which partitions are live) may grow while messages keep arriving; it is
  // also read whenever no message arrived within a poll. A partition whose latest message left the stream is
  // judged live until then: a needless recovered:false on the nodes that judged it sooner, never a false recovery.
  std::chrono::milliseconds first_seq_refresh{1000};
  core::doc_type_registry types = core::doc_type_registry::defaults();
  // Exact resume by range fetch (docs/cluster.md (h)): a join whose resume position this node's hub cannot answer
  // (it holds no such view) reads the view's messages from the stream (fetch_range, from the first message the
  // client can lack: resume_start.hpp) and is answered recovered:true when the view passed through the position.
  // At most this many messages fetched (more: recovered:false, counted); 0 disables it.
  std::size_t resume_max_messages = 512;
  // Bound on one resume's fetching (its server requests and its rounds together): below a client's join timeout
  // (supabase-js: 10 s). Past it: recovered:false, counted.
  std::chrono::milliseconds resume_timeout{2000};
  // Bound on looking up the partitions of a channel the book forgot (stream_applier::forgotten_partition), on the
  // polling thread before the channel's next message is applied. Past it, or on an error: applied without them
  // (that channel's positions may then differ from other nodes'), counted and logged.
  std::chrono::milliseconds lookup_timeout{2000};
  // Where a refused message is reported (one line, no payload). Empty: stderr.
  std::function<void(std::string_view line)> log;
  // Called on the polling thread after each message taken (applied or refused) with the time from JetStream storing
  // it to then, by `wall_clock` against the server's stored time (two hosts' wall clocks: a negative difference is
  // reported as 0). Empty: not measured.
  std::function<void(std::chrono::nanoseconds)> stored_to_applied;
  std::function<std::chrono::system_clock::time_point()> wall_clock = [] { return std::chrono::system_clock::now(); };
};

struct applier_stats {
  std::uint64_t last_applied = 0;  // stream sequence of the last message applied (refused ones included)
  std::uint64_t lag = 0;           // messages the server still had to deliver then (ordered_consumer::pending)
  // Times this node could vouch for nothing it held and started every view over (docs/cluster.md, "The applier"):
  std::uint64_t losses = 0;             // the stream dropped messages (retention, purge) before this node applied them
  std::uint64_t streams_recreated = 0;  // the stream was deleted and created again (its identity changed)
  // Joins answered by exact resume by range fetch (docs/cluster.md (h)):
  std::uint64_t resume_fetches = 0;    // joins whose resume needed the view's messages from the stream
  std::uint64_t resume_recovered = 0;  // ... answered recovered:true from them
  std::uint64_t resume_too_many = 0;   // ... recovered:false: more than resume_max_messages
  std::uint64_t resume_failed = 0;     // ... recovered:false: the fetch failed or timed out, or the node started over
  // Channels the book forgot (its bound) whose partitions were looked up in the stream before their next message:
  std::uint64_t forgotten_lookups = 0;
  std::uint64_t forgotten_lookups_failed = 0;  // ... that failed or timed out (applied without them, logged)
  stream_apply_stats apply;
};

// Thread-safety: poll() is for one thread at a time (the consumer's reader; run() starts one). join(),
// position_of(), stats(), last_applied(), lag() and caught_up() may be called from any thread: joins take the same
// lock as applying a message, so a join is ordered with the book updates and hub calls around it.
// Lock order: the applier's lock -> the hub's channel locks -> subscriber locks.
class applier {
 public:
  // Reads the stream's identity (part of every epoch) and first sequence, and starts the consumer at
  // settings.start_seq. REQUIRES: `conn` and `target` outlive the applier. errc::stream_not_found when the
  // stream does not exist. Throws std::invalid_argument for a secret the epoch deriver refuses (start-up).
  static result<std::unique_ptr<applier>> start(const connection& conn, hub::hub& target, epoch_deriver deriver,
                                                applier_settings settings);
  ~applier();
  applier(const applier&) = delete;
  applier& operator=(const applier&) = delete;

  // Waits up to `timeout` for the next message and applies it. true: one was taken (applied or refused, see
  // stats); false: none arrived (the stream's first sequence is then read again). Errors are the consumer's
  // (connection closed, a consumer restart that failed: calling again retries).
  result<bool> poll(std::chrono::milliseconds timeout);

  // A thread that polls until stop() (or the applier's destruction). Errors of poll() are retried after
  // idle_poll; a closed connection ends the thread.
  void run();
  void stop();

  // A client's join of `view` on `channel` at the position this node's book names now (hub::subscribe_view_at).
  // A `resume` this node's hub cannot answer (stream_applier::resume_needs_fetch) is answered from the view's
  // messages in the stream (exact resume by range fetch): fetched from the first message the client can lack (found
  // by direct gets on each partition's subject, resume_start.hpp; the stream's first sequence when the view admits
  // more than k_max_searched_partitions live partitions or the search fails) up to the last applied message outside the
  // lock, then the messages applied meanwhile fetched too (outside the lock for up to three rounds, then under it, so
  // the applier waits at most for those few), and the join made under the lock with nothing applied between the last
  // fetched message and it (stream_applier::join_replayed). Runs on the caller's thread, bounded by
  // resume_timeout and resume_max_messages.
  core::result<hub::hub_join> join(std::string_view channel, const core::factory_scope& view,
                                   std::shared_ptr<hub::hub_subscriber> subscriber,
                                   const std::optional<hub::hub_position>& resume = std::nullopt);
  hub::hub_position position_of(std::string_view channel, const core::factory_scope& view);

  std::uint64_t last_applied() const noexcept { return last_applied_.load(std::memory_order_acquire); }
  std::uint64_t lag() const noexcept { return lag_.load(std::memory_order_acquire); }
  // Caught up: a message was applied and the server had nothing more to deliver when it sent it, or the stream
  // held nothing past the start. The basis of readiness (a node serves joins once caught up).
  bool caught_up() const noexcept { return caught_up_.load(std::memory_order_acquire); }
  applier_stats stats() const;

 private:
  applier(const connection& conn, hub::hub& target, epoch_deriver deriver, std::string identity,
          std::uint64_t first_seq, applier_settings settings);
  result<void> start_consumer(std::uint64_t start_seq);
  // Reads the stream's state: its first sequence (which partitions are live), and whether this node lost messages
  // or the stream was created again. `idle`: no message arrived within a poll, so none is on its way that the
  // stream has since dropped.
  void refresh_first_seq(bool idle);
  // Messages from expected_ up to `first_seq` - 1 left the stream before this node applied them.
  void lost(std::uint64_t first_seq, std::string_view how);
  // The stream was created again: everything over from its sequence 1, the new identity in every epoch.
  void recreated(const stream_state& state);
  void log_line(const std::string& line) const;
  // A probe of `subject` for partition searches (partition_search.hpp): direct gets within the deadline, each
  // message's position decoded from its header.
  partition_probe probe_of(const std::string& subject, std::chrono::steady_clock::time_point deadline) const;
  // The polling thread, before it applies the message at `before` of a channel the book forgot: the channel's
  // other partitions' last messages before it, learned by the book.
  void look_up_forgotten(const parsed_subject& s, std::uint64_t before);
  core::result<hub::hub_join> join_fetching(std::string_view channel, const core::factory_scope& view,
                                            std::shared_ptr<hub::hub_subscriber> subscriber,
                                            const hub::hub_position& resume);

  const connection& conn_;
  applier_settings settings_;
  std::unique_ptr<ordered_consumer> consumer_;  // the polling thread's
  mutable sync::annotated_mutex mu_;
  stream_applier applier_ RTCACHE_GUARDED_BY(mu_);
  std::uint64_t first_seq_ RTCACHE_GUARDED_BY(mu_) = 0;
  std::uint64_t applied_seq_ RTCACHE_GUARDED_BY(mu_) = 0;  // the last message applier_ took (last_applied_ follows)
  std::uint64_t resets_ RTCACHE_GUARDED_BY(mu_) = 0;       // times applier_ started over (lost(), recreated())
  std::chrono::steady_clock::time_point refreshed_ = std::chrono::steady_clock::now();  // the polling thread's
  // The polling thread's: the stream's identity as this node applies it; the sequence the next message must have
  // at most (a later one means the ones before it were not delivered); a consumer to start again from sequence 1
  // of a stream created again (its start failed: the next poll retries).
  std::string identity_;
  std::uint64_t expected_ = 1;
  bool restart_consumer_ = false;
  std::atomic<std::uint64_t> losses_{0};
  std::atomic<std::uint64_t> recreated_{0};
  std::atomic<std::uint64_t> resume_fetches_{0};
  std::atomic<std::uint64_t> resume_recovered_{0};
  std::atomic<std::uint64_t> resume_too_many_{0};
  std::atomic<std::uint64_t> resume_failed_{0};
  std::atomic<std::uint64_t> forgotten_lookups_{0};
  std::atomic<std::uint64_t> forgotten_lookups_failed_{0};
  std::atomic<std::uint64_t> last_applied_{0};
  std::atomic<std::uint64_t> lag_{0};
  std::atomic<bool> caught_up_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace rtcache::cluster
