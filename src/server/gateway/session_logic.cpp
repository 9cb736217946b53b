// The session logic of one WebSocket connection (session_logic.hpp).
#include "session_logic.hpp"

#include "gateway/postgres_delivery.hpp"
#include "ingest/hub_sink.hpp"
#include "ingest/relay.hpp"

#include <algorithm>
#include <utility>

namespace rtcache::gateway {

namespace {

// The longest token-expiry wait a connection arms (a connection lives far shorter; heartbeats re-check anyway).
constexpr std::chrono::hours k_max_expiry_wait{24 * 365 * 10};

// The hub view a principal joins on a channel: its scope's on a doc: channel (events there are filtered per
// message, so positions must be per class), the unscoped view elsewhere (list:/factory: joins are refused
// outside the scope and carry one factory; other channels carry no factory).
core::factory_scope view_for(const auth::principal& who, const std::optional<core::channel_key>& key) {
  if (key && key->kind == core::channel_kind::doc) return who.scope;
  return core::factory_scope::unscoped();
}

bool same_view(const core::factory_scope& a, const core::factory_scope& b) noexcept {
  return a.is_unscoped() == b.is_unscoped() && a.factory_ids() == b.factory_ids();
}

bool same_principal(const auth::principal& a, const auth::principal& b) noexcept {
  const bool same_claims = a.claims == b.claims || (a.claims && b.claims && *a.claims == *b.claims);
  return a.role == b.role && a.expires_at == b.expires_at && a.subject == b.subject &&
         a.scope.is_unscoped() == b.scope.is_unscoped() && a.scope.factory_ids() == b.scope.factory_ids() &&
         same_claims;
}

std::optional<std::string_view> view(const std::optional<std::string>& s) noexcept {
  if (!s) return std::nullopt;
  return std::string_view(*s);
}

// Frame selection: v1 gets its text; v2 its text, or the kind-4 binary when the payload is raw bytes.
const std::string* select(protocol::protocol_version v, const hub::hub_frames& f) noexcept {
  if (v == protocol::protocol_version::v1_0_0) return f.v1_text.empty() ? nullptr : &f.v1_text;
  if (!f.v2_text.empty()) return &f.v2_text;
  return f.v2_binary.empty() ? nullptr : &f.v2_binary;
}

}  // namespace

session_logic::session_logic(const session_env& env, protocol::protocol_version v, std::uint64_t connection_id,
                             auth::principal who, time_point now)
    : env_(env),
      id_(connection_id),
      version_(v),
      principal_(std::make_shared<const auth::principal>(std::move(who))),
      joins_(env.limits.joins_per_second, env.limits.join_burst, now),
      broadcasts_(env.limits.client_broadcasts, now) {}

const channel_state* session_logic::channel(std::string_view topic) const {
  const auto it = channels_.find(topic);
  return it == channels_.end() ? nullptr : it->second.state.get();
}

void session_logic::frames_for(const channel_state& ch, const auth::principal& who, const hub::hub_message_ptr& m,
                               frame_set& out) const {
  if (!m->meta.factory_id.empty() && !auth::may_deliver(who, m->meta.factory_id)) return;
  // Every message on a contract channel carries a factory (ingest refuses untagged ones); should one ever come
  // without, only an unscoped connection may have it.
  if (ch.key && m->meta.factory_id.empty() && !who.scope.is_unscoped()) return;
  if (m->meta.origin == id_ && !ch.self) return;
  if (const std::string* shared = select(version_, m->frames)) {
    out_frame& f = out.f[out.n++];
    f.shared = shared;
    f.binary = shared == &m->frames.v2_binary;
    f.message = m;
    f.since = m->published_at;
    f.latency = out_frame::timed::delivery;
  }
  if (m->change && !ch.bindings.empty()) {
    const auto ids = matching_binding_ids(ch.bindings, *m->change);
    if (!ids.empty()) {
      out_frame& f = out.f[out.n++];
      f.owned = protocol::encode_postgres_changes(version_, ch.topic, ids, m->change->json);
      f.since = m->published_at;
      f.latency = out_frame::timed::delivery;
    }
  }
}

void session_logic::send(session_output& out, std::string frame) {
  out.commands.emplace_back(send_command{std::move(frame), std::nullopt});
}

// ---- inbound messages ----

void session_logic::on_message(std::string_view data, bool binary, const session_time& now, session_output& out) {
  protocol::decode_limits dl;
  dl.max_frame_bytes = env_.limits.max_frame_bytes;
  auto m = protocol::decode_frame(version_, data, binary, dl);
  if (!m) {
    env_.metrics.frames_refused_total.Increment();
    env_.log.debug("ws.bad_frame",
                   {{"conn", id_}, {"code", core::to_string(m.error().code)}, {"reason", m.error().message}});
    return;
  }
  switch (protocol::classify(*m)) {
    case protocol::client_event::heartbeat:
      send(out, protocol::encode_heartbeat_reply(version_, m->ref));
      check_expiry(now, out);
      return;
    case protocol::client_event::join: return on_join(*m, now, out);
    case protocol::client_event::leave: return on_leave(*m, out);
    case protocol::client_event::access_token: return on_access_token(*m, now, out);
    case protocol::client_event::broadcast: return on_broadcast(*m, now, out);
    case protocol::client_event::presence:
      if (m->ref)
        send(out, protocol::encode_reply_error(version_, protocol::reply_to::of(*m),
                                               "presence is not supported by rtcache"));
      return;
    case protocol::client_event::other: return;
  }
}

void session_logic::refuse_join(const protocol::reply_to& to, std::string_view topic, std::string reason,
                                std::chrono::steady_clock::time_point received, session_output& out) {
  env_.metrics.joins_refused_total.Increment();
  env_.log.info("ws.join_refused", {{"conn", id_}, {"topic", topic}, {"reason", reason}});
  out.commands.emplace_back(send_command{protocol::encode_reply_error(version_, to, reason), received});
}

void session_logic::on_join(const protocol::inbound_message& m, const session_time& now, session_output& out) {
  const protocol::reply_to to = protocol::reply_to::of(m);
  auto refuse = [&](std::string reason) { refuse_join(to, m.topic, std::move(reason), now.steady, out); };
  auto req = protocol::parse_join(m.topic, m.payload);
  if (!req) return refuse(std::string(core::to_string(req.error().code)) + ": " + req.error().message);
  if (!joins_.take(1, now.steady)) return refuse("ChannelRateLimitReached: Too many joins per second");
  auto existing = channels_.find(m.topic);
  if (existing == channels_.end() && channels_.size() >= env_.limits.max_channels_per_connection) {
    return refuse("ChannelRateLimitReached: Too many channels");
  }

  std::shared_ptr<const auth::principal> who = principal_;
  if (req->access_token) {
    auto p = env_.verifier.verify(*req->access_token, now.wall);
    if (!p) {
      env_.metrics.auth_refusals_total.Increment();
      return refuse(auth::join_refusal_reason(p.error()));
    }
    // supabase-js sends the connection's own token with every join: share the connection's principal then.
    who = same_principal(*p, *principal_) ? principal_ : std::make_shared<const auth::principal>(std::move(*p));
  } else if (auto expired = env_.verifier.check_expiry(*who, now.wall)) {
    env_.metrics.auth_refusals_total.Increment();
    return refuse(auth::join_refusal_reason(*expired));
  }

  std::optional<core::channel_key> key;
  if (ingest::is_contract_name(req->channel)) {
    // Contract channels are authorised by the factory scope, private:true or not (there is one of each).
    auto k = core::parse_channel_key(req->channel, env_.types);
    if (!k) return refuse(std::string(core::to_string(k.error().code)) + ": " + k.error().message);
    const auth::join_decision d = auth::authorize_join(*who, *k);
    if (!d.allowed()) return refuse(d.reason);
    key = std::move(*k);
  } else if (const auth::access_decision d = env_.access.may_join(*who, req->channel, req->is_private); !d.allowed) {
    return refuse(d.reason);
  }
  const bool is_private = !key && req->is_private;

  if (auto reason = refuse_bindings(req->postgres_changes, env_.mapping)) return refuse(*reason);
  // Non-contract channels receive records through the per-table channels their bindings name.
  std::vector<std::string> table_channels;
  if (!key) {
    for (const auto& b : req->postgres_changes) {
      for (const routing::table_mapping* t : binding_tables(b, env_.mapping)) {
        auto name = ingest::postgres_table_channel(t->schema, t->table);
        if (std::find(table_channels.begin(), table_channels.end(), name) == table_channels.end()) {
          table_channels.push_back(std::move(name));
        }
      }
    }
  }

  if (existing != channels_.end()) leave(existing, out);  // a rejoin replaces the old join

  auto st = std::make_shared<channel_state>(who);
  st->topic = m.topic;
  st->name = req->channel;
  st->hub_name = is_private ? ingest::private_hub_channel(req->channel) : req->channel;
  st->join_ref = m.join_ref ? m.join_ref : m.ref;
  st->key = std::move(key);
  st->is_private = is_private;
  st->view = view_for(*who, st->key);
  st->self = req->broadcast.self;
  st->ack = req->broadcast.ack;
  st->bindings = std::move(req->postgres_changes);
  subscribe_command cmd;
  cmd.channel = std::move(st);
  if (req->resume) cmd.resume = hub::hub_position{std::move(req->resume->epoch), req->resume->offset};
  cmd.tables = std::move(table_channels);
  cmd.ref = m.ref;
  cmd.join_ref = m.join_ref;
  cmd.received = now.steady;
  out.commands.emplace_back(std::move(cmd));
}

void session_logic::on_subscribed(subscribe_command& cmd, hub::hub_join join, std::vector<hub::hub_subscription> tables,
                                  const session_time& now, session_output& out) {
  const auto& st = cmd.channel;
  open_command open;
  open.channel = st;
  open.frames.reserve(join.replay.size() + 2);
  const protocol::reply_to to{view(cmd.join_ref), view(cmd.ref), st->topic};
  out_frame& reply = open.frames.emplace_back(out_frame::text(protocol::encode_join_reply(
      version_, to, st->bindings, protocol::join_position{join.position.epoch, join.position.offset, join.recovered})));
  reply.since = cmd.received;
  reply.latency = out_frame::timed::join_reply;
  for (const auto& r : join.replay) {
    frame_set fs;
    frames_for(*st, *st->who, r, fs);
    for (std::size_t i = 0; i < fs.n; ++i) {
      fs.f[i].latency = out_frame::timed::no;  // history: its publish is not this delivery's start
      open.frames.push_back(std::move(fs.f[i]));
    }
  }
  if (!st->bindings.empty()) {
    open.frames.push_back(
        out_frame::text(protocol::encode_postgres_subscribed(version_, st->join_ref, st->topic, st->name)));
  }
  env_.metrics.joins_total.Increment();
  if (join.recovered) env_.metrics.joins_recovered_total.Increment();
  env_.log.debug("ws.join", {{"conn", id_},
                             {"topic", st->topic},
                             {"epoch", join.position.epoch},
                             {"offset", join.position.offset},
                             {"recovered", join.recovered},
                             {"replayed", join.replay.size()}});
  channels_.emplace(st->topic, joined{st, std::move(join.subscription), std::move(tables)});
  out.commands.emplace_back(std::move(open));
  arm_expiry(now, out);
}

void session_logic::on_subscribe_refused(subscribe_command& cmd, session_output& out) {
  // The channel has max_views_per_channel scopes with subscribers. The old join (if any) is gone already.
  const protocol::reply_to to{view(cmd.join_ref), view(cmd.ref), cmd.channel->topic};
  refuse_join(to, cmd.channel->topic, "ChannelRateLimitReached: Too many factory scopes on this channel", cmd.received,
              out);
}

void session_logic::on_node_not_ready(subscribe_command& cmd, std::string_view why, session_output& out) {
  // The old join (if any) is gone already, as for on_subscribe_refused.
  const protocol::reply_to to{view(cmd.join_ref), view(cmd.ref), cmd.channel->topic};
  refuse_join(to, cmd.channel->topic, "NodeNotReady: " + std::string(why), cmd.received, out);
}

void session_logic::leave(channel_map::iterator it, session_output& out) {
  leave_command cmd;
  cmd.channel = std::move(it->second.state);
  cmd.subscription = std::move(it->second.subscription);
  cmd.tables = std::move(it->second.tables);
  channels_.erase(it);
  out.commands.emplace_back(std::move(cmd));
}

void session_logic::on_leave(const protocol::inbound_message& m, session_output& out) {
  std::optional<std::string> join_ref = m.join_ref;
  if (auto it = channels_.find(m.topic); it != channels_.end()) {
    join_ref = it->second.state->join_ref;
    leave(it, out);
  }
  send(out, protocol::encode_reply_ok(version_, protocol::reply_to::of(m)));
  send(out, protocol::encode_close(version_, join_ref, m.topic));
}

// A system error on the channel, then phx_close, then the channel is gone.
void session_logic::revoke(channel_map::iterator it, std::string_view message, session_output& out) {
  const auto st = it->second.state;
  env_.log.info("ws.channel_revoked", {{"conn", id_}, {"topic", st->topic}, {"reason", message}});
  leave(it, out);
  send(out, protocol::encode_system(version_, st->join_ref, st->topic, "system", false, message, st->name));
  send(out, protocol::encode_close(version_, st->join_ref, st->topic));
}

// An access_token push re-decides the channel it names with the new token, and replaces the connection's token
// for later joins that bring none of their own (realtime-js pushes every refresh to each joined channel).
void session_logic::on_access_token(const protocol::inbound_message& m, const session_time& now, session_output& out) {
  auto it = channels_.find(m.topic);
  if (it == channels_.end()) return;
  const auto* token = m.payload.if_contains("access_token");
  if (token == nullptr || !token->is_string()) return;
  auto p = env_.verifier.verify(std::string_view(token->as_string()), now.wall);
  if (!p) {
    env_.metrics.auth_refusals_total.Increment();
    return revoke(it, auth::system_refusal_message(p.error()), out);
  }
  auto who = std::make_shared<const auth::principal>(std::move(*p));
  principal_ = who;  // issue 11, finding 8: later joins are authorised with the refreshed token
  const auto st = it->second.state;
  if (st->key && !auth::authorize_join(*who, *st->key).allowed())
    return revoke(it, auth::revoked_message(*st->key), out);
  if (st->is_private && !env_.access.may_join(*who, st->name, true).allowed) {
    return revoke(it, "You no longer have permission to read from this Channel topic: " + st->name, out);
  }
  if (!same_view(view_for(*who, st->key), st->view)) {
    // A doc: channel whose scope changed: its view (epoch, offsets) belongs to the old scope, and keeping it
    // would deliver offsets that skip what the new scope may no longer see (or miss what it now may). The
    // channel errors, so the client rejoins with the new token into its new view (and refetches on
    // recovered:false): realtime-js and rtcache's SDKs rejoin on phx_error by themselves.
    env_.log.info("ws.channel_reviewed", {{"conn", id_}, {"topic", st->topic}});
    leave(it, out);
    send(out, protocol::encode_channel_error(version_, st->join_ref, st->topic));
    arm_expiry(now, out);
    return;
  }
  st->who = who;
  out.commands.emplace_back(principal_command{st, std::move(who)});
  arm_expiry(now, out);
}

void session_logic::on_broadcast(const protocol::inbound_message& m, const session_time& now, session_output& out) {
  const protocol::reply_to to = protocol::reply_to::of(m);
  auto it = channels_.find(m.topic);
  if (it == channels_.end()) {
    if (m.ref) send(out, protocol::encode_reply_error(version_, to, "unmatched topic"));
    return;
  }
  auto b = protocol::read_client_broadcast(m);
  if (!b) {
    if (m.ref) send(out, protocol::encode_reply_error(version_, to, b.error().message));
    return;
  }
  const auto st = it->second.state;
  const auth::principal& who = *st->who;
  const bool raw = b->encoding == protocol::payload_encoding::binary;
  auto refuse = [&](std::string_view reason) {
    env_.metrics.client_broadcasts_refused_total.Increment();
    if (m.ref) send(out, protocol::encode_reply_error(version_, to, reason));
  };
  std::string factory;
  if (st->key) {
    // Contract events come from the backend: otherwise any client could forge invalidations. Even the backend's
    // broadcasts name a factory, so that subscribers can filter them (issue 11, finding 1).
    if (who.role != auth::auth_role::service_role) {
      return refuse("Unauthorized: only service_role may broadcast on " + st->name);
    }
    auto f = ingest::contract_broadcast_factory(*st->key, b->payload, raw);
    if (!f) return refuse(std::string(core::to_string(f.error().code)) + ": " + f.error().message);
    factory = std::move(*f);
  } else if (const auth::access_decision d = env_.access.may_send(who, st->name, st->is_private); !d.allowed) {
    return refuse(d.reason);
  }
  if (who.role != auth::auth_role::service_role) {
    // The per-connection bound, answered as Supabase answers max_events_per_second: the channel gets a system
    // error "Too many messages per second" and is closed (docs/operations.md compares the two).
    switch (broadcasts_.admit(b->payload.size(), now.steady)) {
      case ingest::broadcast_limiter::verdict::ok: break;
      case ingest::broadcast_limiter::verdict::too_large:
        return refuse("Payload size exceeded: a client broadcast holds at most " +
                      std::to_string(static_cast<std::uint64_t>(env_.limits.client_broadcasts.byte_burst)) + " bytes");
      case ingest::broadcast_limiter::verdict::rate_limited:
        env_.metrics.client_broadcasts_limited_total.Increment();
        return revoke(it, "Too many messages per second", out);
    }
  }
  publish_command cmd;
  cmd.channel = st;
  cmd.event = std::move(b->event);
  cmd.payload = std::move(b->payload);
  cmd.raw = raw;
  cmd.factory_id = std::move(factory);
  cmd.ref = m.ref;
  cmd.join_ref = m.join_ref;
  out.commands.emplace_back(std::move(cmd));
}

void session_logic::on_published(const publish_command& cmd, const core::error* failure, session_output& out) {
  const protocol::reply_to to{view(cmd.join_ref), view(cmd.ref), cmd.channel->topic};
  if (failure != nullptr) {
    if (cmd.ref) send(out, protocol::encode_reply_error(version_, to, failure->message));
    return;
  }
  env_.metrics.broadcasts_total.Increment();
  if (cmd.channel->ack && cmd.ref) send(out, protocol::encode_reply_ok(version_, to));
}

// ---- token expiry ----

// On every heartbeat (25 s) and when expiry_at() passes: channels whose token expired get a system error and
// phx_close.
void session_logic::check_expiry(const session_time& now, session_output& out) {
  for (auto it = channels_.begin(); it != channels_.end();) {
    auto next = std::next(it);
    if (auto expired = env_.verifier.check_expiry(*it->second.state->who, now.wall)) {
      revoke(it, auth::system_refusal_message(*expired), out);
    }
    it = next;
  }
}

// (Re)arms the expiry deadline for the earliest exp + leeway among the joined channels' principals, so that a
// token's expiry closes its channels when it happens (Supabase's system error, then phx_close), not only at the
// next heartbeat. Called after every join, access_token push and expiry check.
void session_logic::arm_expiry(const session_time& now, session_output& out) {
  if (closed_) return;
  out.deadline_changed = true;
  std::optional<std::chrono::sys_seconds> earliest;
  for (const auto& [topic, j] : channels_) {
    const auto deadline = j.state->who->expires_at + env_.verifier.config().leeway;
    if (!earliest || deadline < *earliest) earliest = deadline;
  }
  if (!earliest) {
    expiry_at_ = k_never;
    return;
  }
  // The wall clock is floored to seconds, so the wait never ends before the deadline. A deadline beyond
  // k_max_expiry_wait is never armed: API keys do not expire (k_api_key_expires_at is in year 9999) and a
  // token's exp may be centuries away, and steady_clock's nanoseconds overflow past about 292 years.
  const auto wait = std::max(std::chrono::seconds(0), *earliest - now.wall);
  expiry_at_ = wait > k_max_expiry_wait ? k_never : now.steady + wait;
}

void session_logic::on_expiry_due(const session_time& now, session_output& out) {
  expiry_at_ = k_never;
  out.deadline_changed = true;
  if (closed_) return;
  check_expiry(now, out);
  arm_expiry(now, out);
}

// ---- the end of the connection ----

void session_logic::on_channel_reset(const channel_state& channel, session_output& out) {
  auto it = channels_.find(channel.topic);
  if (it == channels_.end() || it->second.state.get() != &channel) return;
  const auto st = it->second.state;
  env_.log.info("ws.channel_reset", {{"conn", id_}, {"topic", st->topic}});
  leave(it, out);
  send(out, protocol::encode_channel_error(version_, st->join_ref, st->topic));
}

void session_logic::leave_all(session_output& out) {
  while (!channels_.empty()) leave(channels_.begin(), out);
}

void session_logic::close(std::uint16_t code, std::string_view reason, bool overflow, session_output& out) {
  closed_ = true;
  expiry_at_ = k_never;
  out.commands.emplace_back(close_command{code, reason, overflow});
  leave_all(out);
}

void session_logic::on_queue_overflow(session_output& out) {
  close(k_close_queue_overflow, "send queue overflow", true, out);
}

void session_logic::on_shutdown(session_output& out) {
  close(k_close_going_away, "server shutting down", false, out);
}

void session_logic::on_disconnected(session_output& out) {
  closed_ = true;
  expiry_at_ = k_never;
  leave_all(out);
}

}  // namespace rtcache::gateway
