// Internal to the gateway: the Supabase Realtime protocol of one WebSocket connection as a reducer. Inbound
// messages and the time in; commands out (frames to queue, hub subscriptions to make and drop, publishes,
// principal changes, closes) and the token-expiry deadline. It decides joins, leaves, client broadcasts and
// access_token pushes, re-checks tokens, expands postgres_changes bindings, and owns the joined-channel table,
// the join and broadcast rate limits and the connection's principal. No I/O and no clock reads: the WebSocket
// session (websocket_session.cpp) reads the socket, runs the commands against the hub and the send queue, and
// feeds the answers back (on_subscribed, on_published).
//
// Isolation (issue 11, docs/security.md): a scoped connection joins a doc: channel's view of its factory scope
// (hub.hpp), so its positions count only what it may see; every message on a contract channel is tagged with a
// factory (client broadcasts there need service_role and name one); private channels (config.private:true) are
// separate hub channels authorised by channel_access; client broadcasts are allowed by broadcast.from_clients and
// bounded per connection (rate_limit.hpp).
//
// postgres_changes (docs/design.md §3): on a contract channel a binding receives the records attached to that
// channel's own messages; on any other channel the join also subscribes the channel to the internal per-table
// channels its bindings name (hub_sink.hpp). Either way the hub message's factory is checked first
// (may_deliver), then the bindings are evaluated and the push is framed with this channel's matching ids
// (frames_for).
#pragma once

#include "auth/auth.hpp"
#include "auth/channel_access.hpp"
#include "gateway/config.hpp"
#include "gateway/log.hpp"
#include "gateway/metrics.hpp"
#include "hub/hub.hpp"
#include "ingest/rate_limit.hpp"
#include "out_frame.hpp"
#include "protocol/frame.hpp"
#include "protocol/join.hpp"
#include "routing/mapping_config.hpp"
#include "rtcache/core/channel_key.hpp"
#include "rtcache/core/doc_types.hpp"
#include "rtcache/core/factory_scope.hpp"
#include "send_queue.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rtcache::gateway {

struct channel_state;

// Where a joined channel's hub deliveries go: the connection that joined it (the WebSocket session).
class delivery_sink {
 public:
  // Publisher thread, under the hub channel's lock: the REQUIRES of hub_subscriber::deliver hold.
  virtual void deliver(channel_state& channel, const hub::hub_message_ptr& message) noexcept = 0;
  // Publisher thread, under the hub channel's lock, with deliver()'s REQUIRES: a view the channel is subscribed
  // to started over (hub_subscriber::on_reset, a gap in the source; issue 13). Stop the channel's deliveries at
  // once (nothing of the new epoch may follow what the client holds a position in), then have the session logic
  // error the channel on the strand (session_logic::on_channel_reset).
  virtual void reset(channel_state& channel) noexcept = 0;

 protected:
  ~delivery_sink() = default;
};

// One joined channel. The session logic creates it at a join; it is the hub subscriber of the channel's
// subscriptions (so it lives as long as they do) and holds the channel's gate in the connection's send queue.
struct channel_state final : hub::hub_subscriber {
  explicit channel_state(std::shared_ptr<const auth::principal> p) : who(p), gate(std::move(p)) {}

  void deliver(const hub::hub_message_ptr& message) noexcept override { sink->deliver(*this, message); }
  void on_reset() noexcept override { sink->reset(*this); }

  // Constant once subscribed: deliveries read them on publisher threads without a lock.
  std::string topic;     // "realtime:<name>"
  std::string name;      // the channel's name as the client knows it
  std::string hub_name;  // the hub channel: `name`, or its private channel (private_hub_channel)
  std::optional<std::string> join_ref;
  std::optional<core::channel_key> key;  // set for contract channels (doc:, list:, factory:)
  // The hub view joined: the principal's scope on a doc: channel, unscoped on every other channel.
  core::factory_scope view = core::factory_scope::unscoped();
  std::vector<protocol::postgres_binding> bindings;  // postgres_changes, as joined (ids assigned)
  bool is_private = false;                           // joined with config.private:true (never for contract channels)
  bool self = false;                                 // config.broadcast.self: this connection's broadcasts come back
  bool ack = false;                                  // config.broadcast.ack: client broadcasts are acknowledged
  delivery_sink* sink = nullptr;                     // set by the session before it subscribes

  // The session logic's (strand only): the principal the channel is authorised for.
  std::shared_ptr<const auth::principal> who;
  // The deliveries' copy of `who`, and whether they are held, queued or dropped: guarded by the send queue.
  channel_gate gate;
};

// ---- commands: what the session runs, in order ----------------------------------------------------------

// Queue a frame of this connection (send_queue::push).
struct send_command {
  std::string frame;
  // Set when the frame answers a phx_join (a refusal): when the join was read (rtcache_join_reply_seconds).
  std::optional<std::chrono::steady_clock::time_point> join_received;
};

// Subscribe `channel` (as its own subscriber, sink set) to the view channel->view of hub channel
// channel->hub_name from `resume`, and to each of `tables` (per-table postgres_changes channels, unscoped view);
// then answer with on_subscribed, or with on_subscribe_refused when the node refuses the view. Its deliveries are
// held until the open_command of the answer.
struct subscribe_command {
  std::shared_ptr<channel_state> channel;
  std::optional<hub::hub_position> resume;
  std::vector<std::string> tables;
  // The join message's ref and join_ref, which its reply answers.
  std::optional<std::string> ref;
  std::optional<std::string> join_ref;
  std::chrono::steady_clock::time_point received{};  // when the join was read (its reply is timed from it)
};

// Queue `frames` (the join reply, the replay, the "Subscribed to PostgreSQL" push) then the deliveries held for
// the channel, and open its gate, under one lock (send_queue::open).
struct open_command {
  std::shared_ptr<channel_state> channel;
  std::vector<out_frame> frames;
};

// The channel is no longer joined: stop its deliveries (send_queue::close_channel), then drop its hub
// subscriptions (destroying the handles unsubscribes).
struct leave_command {
  std::shared_ptr<channel_state> channel;
  hub::hub_subscription subscription;
  std::vector<hub::hub_subscription> tables;
};

// Filter the channel's deliveries for `who` from now on (send_queue::set_principal).
struct principal_command {
  std::shared_ptr<channel_state> channel;
  std::shared_ptr<const auth::principal> who;
};

// Publish a client broadcast to channel->hub_name (meta: factory_id, origin = this connection), then answer
// with on_published.
struct publish_command {
  std::shared_ptr<channel_state> channel;
  std::string event;
  std::string payload;  // JSON text, or raw bytes when `raw`
  bool raw = false;
  std::string factory_id;  // set on contract channels
  // The broadcast's ref and join_ref (a reply is sent only when it has a ref).
  std::optional<std::string> ref;
  std::optional<std::string> join_ref;
};

// Close the connection: the queue is dropped and the close frame follows the write in flight.
struct close_command {
  std::uint16_t code = 0;
  std::string_view reason;  // a literal
  bool overflow = false;    // the send queue overflowed (4008)
};

using session_command = std::variant<send_command, subscribe_command, open_command, leave_command, principal_command,
                                     publish_command, close_command>;

// What one call asks of the session. Append-only; the caller runs the commands in order.
struct session_output {
  std::vector<session_command> commands;
  bool deadline_changed = false;  // expiry_at() was re-armed: relink the connection's deadline
};

// ---- the reducer ----------------------------------------------------------------------------------------

// The time of one call: steady for rate limits and the deadline, wall for token expiry (exp is wall time).
struct session_time {
  std::chrono::steady_clock::time_point steady;
  std::chrono::sys_seconds wall;
};

// What every session of a gateway decides with; constant, shared by all sessions, outlives them.
struct session_env {
  const gateway_limits& limits;
  const auth::jwt_verifier& verifier;
  const auth::channel_access& access;
  const core::doc_type_registry& types;
  const routing::mapping_config* mapping;  // the configured tables, for postgres_changes; nullptr: none
  gateway_metrics& metrics;
  logger& log;
};

// WebSocket close codes the session logic asks for (gateway.hpp lists every code rtcache sends).
inline constexpr std::uint16_t k_close_going_away = 1001;
inline constexpr std::uint16_t k_close_queue_overflow = 4008;

// Thread-safety: the connection's strand, except frames_for, version() and connection_id() (any thread: they
// read constant state only).
class session_logic {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  static constexpr time_point k_never = time_point::max();

  // `who`: the principal the upgrade authenticated; `now`: when the connection opened (the rate limits start
  // full).
  session_logic(const session_env& env, protocol::protocol_version v, std::uint64_t connection_id, auth::principal who,
                time_point now);
  session_logic(const session_logic&) = delete;
  session_logic& operator=(const session_logic&) = delete;

  protocol::protocol_version version() const noexcept { return version_; }
  std::uint64_t connection_id() const noexcept { return id_; }
  // The token later joins without an access_token of their own are authorised with.
  const auth::principal& connection_principal() const noexcept { return *principal_; }

  // One inbound WebSocket message (`binary`: its opcode). Undecodable messages are counted and ignored.
  //   heartbeat     its reply; then channels whose token expired get a system error and phx_close
  //   phx_join      refused (a phx_reply error naming why) or a subscribe_command; a rejoin of a joined topic
  //                 leaves the old join first
  //   phx_leave     ok reply and phx_close, also for a topic not joined
  //   access_token  re-decides the channel it names with the new token (revoked, or errored when the view of
  //                 the token's scope differs) and replaces the connection's token for later joins
  //   broadcast     a publish_command, or a refusal (error reply when it has a ref; over the rate limit the
  //                 channel is closed with a system error)
  //   presence      an error reply (unsupported)
  void on_message(std::string_view data, bool binary, const session_time& now, session_output& out);

  // The hub answered a subscribe_command: `join` (its subscription, position and replay) and the per-table
  // subscriptions in the order of cmd.tables. Adds the channel to the table and returns its open_command.
  void on_subscribed(subscribe_command& cmd, hub::hub_join join, std::vector<hub::hub_subscription> tables,
                     const session_time& now, session_output& out);
  // The node refused the view (max_views_per_channel): the join is refused.
  void on_subscribe_refused(subscribe_command& cmd, session_output& out);
  // The node is not ready (a cluster node catching up with its stream, or cut from NATS): the join is refused
  // with "NodeNotReady: <why>"; the client retries (its realtime client rejoins by itself).
  void on_node_not_ready(subscribe_command& cmd, std::string_view why, session_output& out);

  // A publish_command ran; `failure`: the hub's error (the encoder refused the broadcast), or null.
  void on_published(const publish_command& cmd, const core::error* failure, session_output& out);

  // expiry_at() has passed: channels whose token expired get a system error and phx_close; re-arms.
  void on_expiry_due(const session_time& now, session_output& out);

  // A view `channel` is subscribed to started over (delivery_sink::reset; issue 13): when `channel` is still the
  // joined channel of its topic, leave it and answer phx_error, so the client rejoins and, resuming from its old
  // position, is answered recovered:false (it refetches). Nothing otherwise (already left, or errored by an
  // earlier reset of one of its views).
  void on_channel_reset(const channel_state& channel, session_output& out);
  // The send queue overflowed: close with 4008, leaving every channel.
  void on_queue_overflow(session_output& out);
  // The gateway is stopping: close with 1001, leaving every channel.
  void on_shutdown(session_output& out);
  // The connection is gone: leave every channel (no close frame).
  void on_disconnected(session_output& out);

  // When a joined channel's token expires (exp + leeway, at the earliest over the joined channels), or k_never.
  time_point expiry_at() const noexcept { return expiry_at_; }

  std::size_t channel_count() const noexcept { return channels_.size(); }
  // The joined channel of `topic`, or null.
  const channel_state* channel(std::string_view topic) const;

  // Any thread (deliveries call it under the send queue's lock with the gate's principal). The frames `m`
  // becomes on `ch` for `who`: nothing unless `who`'s factory scope admits the message's factory (docs/design.md §4)
  // and `self` allows it; then the shared frame this connection's version can carry (if any), then, when the
  // message carries a postgres_changes record some of the channel's bindings match, a push framed with their ids.
  void frames_for(const channel_state& ch, const auth::principal& who, const hub::hub_message_ptr& m,
                  frame_set& out) const;

 private:
  struct joined {
    std::shared_ptr<channel_state> state;
    hub::hub_subscription subscription;
    std::vector<hub::hub_subscription> tables;  // per-table postgres_changes channels (non-contract channels only)
  };
  using channel_map = std::map<std::string, joined, std::less<>>;

  void send(session_output& out, std::string frame);
  void on_join(const protocol::inbound_message& m, const session_time& now, session_output& out);
  void on_leave(const protocol::inbound_message& m, session_output& out);
  void on_access_token(const protocol::inbound_message& m, const session_time& now, session_output& out);
  void on_broadcast(const protocol::inbound_message& m, const session_time& now, session_output& out);
  void refuse_join(const protocol::reply_to& to, std::string_view topic, std::string reason,
                   std::chrono::steady_clock::time_point received, session_output& out);
  void leave(channel_map::iterator it, session_output& out);
  void revoke(channel_map::iterator it, std::string_view message, session_output& out);
  void check_expiry(const session_time& now, session_output& out);
  void arm_expiry(const session_time& now, session_output& out);
  void close(std::uint16_t code, std::string_view reason, bool overflow, session_output& out);
  void leave_all(session_output& out);

  // Constant after construction.
  const session_env& env_;
  const std::uint64_t id_;
  const protocol::protocol_version version_;

  bool closed_ = false;  // closed or disconnected: no deadline is armed any more
  time_point expiry_at_ = k_never;
  // The token later joins without an access_token of their own are authorised with: the upgrade's apikey, then
  // the last valid access_token pushed.
  std::shared_ptr<const auth::principal> principal_;
  ingest::token_bucket joins_;            // limits.joins_per_second / join_burst
  ingest::broadcast_limiter broadcasts_;  // limits.client_broadcasts
  channel_map channels_;                  // by topic
};

}  // namespace rtcache::gateway
