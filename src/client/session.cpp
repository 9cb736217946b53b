// The realtime session reducer (session.hpp): connection and channel lifecycles, resume positions and the
// decoding of invalidate broadcasts into contract events.
#include "rtcache/client/session.hpp"

#include <algorithm>
#include <utility>

namespace rtcache::client {

std::string_view to_string(connection_state s) noexcept {
  switch (s) {
    case connection_state::idle: return "idle";
    case connection_state::connecting: return "connecting";
    case connection_state::open: return "open";
    case connection_state::waiting: return "waiting";
    case connection_state::stopped: return "stopped";
  }
  return "unknown";
}

std::string_view to_string(channel_state s) noexcept {
  switch (s) {
    case channel_state::closed: return "closed";
    case channel_state::joining: return "joining";
    case channel_state::joined: return "joined";
  }
  return "unknown";
}

session::session(core::doc_type_registry types, session_config config, std::function<double()> random01)
    : types_(types), config_(config), random01_(std::move(random01)), decoder_(std::move(types), config.codec) {}

double session::draw() { return random01_ ? random01_() : 0.5; }

std::string session::next_ref() { return std::to_string(next_ref_++); }

void session::set_access_token(std::string token, session_output& out) {
  token_ = std::move(token);
  if (state_ != connection_state::open) return;
  for (auto& [name, ch] : channels_) {
    if (ch.state == channel_state::joined) out.send.push_back(encode_access_token(ch.join_ref, next_ref(), name, token_));
  }
}

core::result<void> session::watch(std::string_view name, core::time_point now, session_output& out) {
  auto key = core::parse_channel_key(name, types_);
  if (!key) return key.error();
  if (auto it = channels_.find(name); it != channels_.end()) {
    ++it->second.refs;
    return {};
  }
  if (channels_.size() >= config_.max_channels) {
    return core::error{core::errc::too_many, "already watching " + std::to_string(channels_.size()) +
                                                 " channels (max_channels)"};
  }
  auto [it, inserted] = channels_.emplace(std::string(name), channel{});
  it->second.refs = 1;
  if (state_ == connection_state::open) join(it->first, it->second, now, out);
  return {};
}

void session::unwatch(std::string_view name, session_output& out) {
  auto it = channels_.find(name);
  if (it == channels_.end()) return;
  if (--it->second.refs > 0) return;
  if (state_ == connection_state::open && it->second.state != channel_state::closed) {
    out.send.push_back(encode_leave(it->second.join_ref, next_ref(), it->first));
  }
  channels_.erase(it);
}

void session::start(session_output& out) {
  if (state_ != connection_state::idle && state_ != connection_state::stopped) return;
  state_ = connection_state::connecting;
  ++connects_;
  out.connect = true;
}

void session::stop(session_output& out) {
  if (state_ == connection_state::open) {
    for (auto& [name, ch] : channels_) {
      if (ch.state != channel_state::closed) out.send.push_back(encode_leave(ch.join_ref, next_ref(), name));
    }
  }
  if (state_ == connection_state::open || state_ == connection_state::connecting) out.disconnect = true;
  state_ = connection_state::stopped;
  reconnect_at_.reset();
  next_heartbeat_.reset();
  pending_heartbeat_.reset();
  for (auto& [name, ch] : channels_) {
    ch.state = channel_state::closed;
    ch.rejoin_at.reset();
  }
}

void session::on_open(core::time_point now, session_output& out) {
  if (state_ != connection_state::connecting) return;
  state_ = connection_state::open;
  attempt_ = 0;
  next_heartbeat_ = now + config_.heartbeat_interval;
  pending_heartbeat_.reset();
  for (auto& [name, ch] : channels_) {
    ch.attempts = 0;
    join(name, ch, now, out);
  }
}

void session::on_closed(core::time_point now, session_output& out) {
  if (state_ == connection_state::idle || state_ == connection_state::stopped || state_ == connection_state::waiting) {
    return;
  }
  lost_connection(now, out);
}

void session::lost_connection(core::time_point now, session_output& /*out*/) {
  state_ = connection_state::waiting;
  reconnect_at_ = now + core::backoff_delay(config_.reconnect, attempt_, draw());
  ++attempt_;
  next_heartbeat_.reset();
  pending_heartbeat_.reset();
  for (auto& [name, ch] : channels_) {
    ch.state = channel_state::closed;
    ch.rejoin_at.reset();
  }
}

void session::join(const std::string& name, channel& ch, core::time_point now, session_output& out) {
  ch.join_ref = next_ref();
  ch.state = channel_state::joining;
  ch.join_sent = now;
  ch.rejoin_at.reset();
  std::optional<channel_position> resume;
  if (auto it = positions_.find(name); it != positions_.end()) resume = it->second.position;
  ch.resume_sent = resume.has_value();
  out.send.push_back(encode_join(ch.join_ref, name, token_, resume));
}

void session::schedule_rejoin(channel& ch, core::time_point now) {
  ch.state = channel_state::closed;
  ch.rejoin_at = now + core::backoff_delay(config_.rejoin, ch.attempts, draw());
  ++ch.attempts;
}

void session::tick(core::time_point now, session_output& out) {
  if (state_ == connection_state::waiting && reconnect_at_ && now >= *reconnect_at_) {
    state_ = connection_state::connecting;
    reconnect_at_.reset();
    ++connects_;
    out.connect = true;
    return;
  }
  if (state_ != connection_state::open) return;
  if (next_heartbeat_ && now >= *next_heartbeat_) {
    if (pending_heartbeat_) {
      out.problems.push_back({"", "heartbeat_timeout", std::nullopt, "no heartbeat reply within one interval"});
      out.disconnect = true;
      lost_connection(now, out);
      return;
    }
    pending_heartbeat_ = next_ref();
    out.send.push_back(encode_heartbeat(*pending_heartbeat_));
    next_heartbeat_ = now + config_.heartbeat_interval;
  }
  for (auto& [name, ch] : channels_) {
    if (ch.state == channel_state::joining && now >= ch.join_sent + config_.join_timeout) {
      out.problems.push_back({name, "join_timeout", std::nullopt, "no join reply within join_timeout"});
      schedule_rejoin(ch, now);
    } else if (ch.state == channel_state::closed && ch.rejoin_at && now >= *ch.rejoin_at) {
      join(name, ch, now, out);
    }
  }
}

std::optional<core::time_point> session::next_wake() const {
  std::optional<core::time_point> next;
  const auto consider = [&](core::time_point t) {
    if (!next || t < *next) next = t;
  };
  if (state_ == connection_state::waiting && reconnect_at_) consider(*reconnect_at_);
  if (state_ != connection_state::open) return next;
  if (next_heartbeat_) consider(*next_heartbeat_);
  for (const auto& [name, ch] : channels_) {
    if (ch.state == channel_state::joining) consider(ch.join_sent + config_.join_timeout);
    if (ch.state == channel_state::closed && ch.rejoin_at) consider(*ch.rejoin_at);
  }
  return next;
}

void session::on_frame(std::string_view bytes, bool binary, core::time_point now, session_output& out) {
  auto frame = decode_server_frame(bytes, binary, config_.max_frame_bytes);
  if (!frame) {
    out.problems.push_back({"", "bad_frame", frame.error().code, frame.error().message});
    return;
  }
  const server_frame& f = *frame;
  if (f.topic == "phoenix") {
    if (f.event == "phx_reply" && pending_heartbeat_ && f.ref == pending_heartbeat_) pending_heartbeat_.reset();
    return;
  }
  if (!f.topic.starts_with(k_topic_prefix)) return;
  const std::string_view name = std::string_view(f.topic).substr(k_topic_prefix.size());
  auto it = channels_.find(name);
  if (it == channels_.end()) return;  // a late message for a channel already left
  on_channel_frame(it->first, it->second, f, now, out);
}

void session::on_channel_frame(const std::string& name, channel& ch, const server_frame& f, core::time_point now,
                               session_output& out) {
  if (f.event == "phx_reply") {
    if (ch.state != channel_state::joining || f.ref != ch.join_ref) return;  // an ack of something else
    const reply_status r = read_reply(f);
    if (!r.ok) {
      out.problems.push_back({name, "join_refused", std::nullopt, r.reason.empty() ? "join refused" : r.reason});
      schedule_rejoin(ch, now);
      return;
    }
    const bool rejoin = ch.ever_joined || ch.resume_sent;
    ch.state = channel_state::joined;
    ch.attempts = 0;
    ch.ever_joined = true;
    if (r.position && !(r.recovered && ch.resume_sent)) {
      remember(name, *r.position);  // a fresh start: the stream begins at the server's current offset
    }
    // Recovered: the remembered offset stays, and the replay that follows advances it event by event.
    if (rejoin && !r.recovered) out.not_recovered.push_back(name);
    out.joined.push_back(name);
    return;
  }
  const bool ours = (f.join_ref && *f.join_ref == ch.join_ref) || (f.ref && *f.ref == ch.join_ref);
  if (f.event == "broadcast") {
    if (ch.state != channel_state::joined) return;
    if (f.broadcast_event == k_invalidate_event && f.broadcast_payload) on_invalidate(name, *f.broadcast_payload, out);
    return;
  }
  if (f.event == "phx_close" || f.event == "phx_error") {
    if (!ours || ch.state == channel_state::closed) return;
    out.problems.push_back({name, f.event == "phx_close" ? "channel_closed" : "channel_error", std::nullopt,
                            "the server closed the channel; rejoining"});
    schedule_rejoin(ch, now);
    return;
  }
  if (f.event == "system") {
    const auto* status = f.payload.if_contains("status");
    if (status && status->is_string() && status->as_string() == "error") {
      const auto* msg = f.payload.if_contains("message");
      out.problems.push_back({name, "system_error", std::nullopt,
                              msg && msg->is_string() ? std::string(msg->as_string()) : std::string("system error")});
    }
  }
}

void session::on_invalidate(const std::string& name, const std::string& payload, session_output& out) {
  auto e = decoder_.decode(payload);
  if (!e) {
    out.problems.push_back({name, "bad_event", e.error().code, e.error().message});
    return;
  }
  if (e->offset) {
    if (auto it = positions_.find(name); it != positions_.end()) {
      if (*e->offset <= it->second.position.offset) return;  // already processed (a duplicate delivery)
      it->second.position.offset = *e->offset;
      it->second.seq = ++position_seq_;
    }
  }
  out.events.push_back(received_event{name, std::move(*e)});
}

void session::remember(const std::string& name, channel_position p) {
  positions_[name] = remembered{std::move(p), ++position_seq_};
  while (positions_.size() > config_.max_remembered_positions) {
    // Overflow rule: forget the least recently updated position of a channel no longer watched; a later
    // watch of it then starts fresh (and its views refetch on staleness as usual).
    auto victim = positions_.end();
    for (auto it = positions_.begin(); it != positions_.end(); ++it) {
      if (channels_.contains(it->first)) continue;
      if (victim == positions_.end() || it->second.seq < victim->second.seq) victim = it;
    }
    if (victim == positions_.end()) return;
    positions_.erase(victim);
  }
}

std::optional<channel_state> session::channel_status(std::string_view name) const {
  auto it = channels_.find(name);
  if (it == channels_.end()) return std::nullopt;
  return it->second.state;
}

std::optional<channel_position> session::position(std::string_view name) const {
  auto it = positions_.find(name);
  if (it == positions_.end()) return std::nullopt;
  return it->second.position;
}

std::vector<std::string> session::channels() const {
  std::vector<std::string> out;
  for (const auto& [name, ch] : channels_) out.push_back(name);
  return out;
}

}  // namespace rtcache::client
