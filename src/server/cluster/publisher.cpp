// The asynchronous publisher over nats.c's js_PublishMsgAsync: our own window bounds what is unacknowledged
// (nats.c's MaxPending is left unlimited), every message carries a MaxWait so that a lost acknowledgement ends
// as a reported timeout instead of waiting forever, and the acknowledgement callback moves the watermark.
#include "cluster/publisher.hpp"

#include "cluster/ack_window.hpp"
#include "cluster/nats_handles.hpp"

#include <condition_variable>
#include <mutex>
#include <unordered_map>

namespace rtcache::cluster {

struct publisher::state {
  publisher_settings settings;  // constant after construction
  publish_handler handler;      // constant after construction
  jsCtx* js = nullptr;          // owned; released by ~publisher (or retired to the connection, see there)
  detail::connection_handles* conn = nullptr;  // the connection's; it outlives the publisher

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  // Guarded by mu:
  ack_window window;
  std::unordered_map<natsMsg*, std::uint64_t> pending;  // message handed to nats.c -> its ticket
  publisher_stats counters;
  std::optional<error> first_error;

  state(publisher_settings s, publish_handler h)
      : settings(std::move(s)), handler(std::move(h)), window(settings.max_in_flight) {}

  // Records an outcome. REQUIRES: mu held.
  void record(const publish_outcome& out) {
    const auto before = window.first_failure();
    if (!out.acknowledged && (!before || out.ticket < *before)) first_error = out.failure;
    window.complete(out.ticket, out.acknowledged);
    if (out.acknowledged) {
      ++counters.acked;
      if (out.duplicate) ++counters.duplicates;
    } else {
      ++counters.failed;
    }
    counters.in_flight = window.in_flight();
    cv.notify_all();
  }
};

namespace {

error failure_of(const jsPubAckErr& pae, std::uint64_t ticket) {
  error e;
  e.nats_status = static_cast<int>(pae.Err);
  e.js_code = static_cast<int>(pae.ErrCode);
  e.code = pae.Err == NATS_TIMEOUT ? errc::timeout : errc::publish_rejected;
  e.message = "publish of ticket " + std::to_string(ticket) + ": " +
              (pae.ErrText != nullptr ? pae.ErrText : natsStatus_GetText(pae.Err));
  if (pae.ErrCode != 0) e.message += " [JetStream error " + std::to_string(static_cast<int>(pae.ErrCode)) + "]";
  return e;
}

void on_ack(jsCtx* /*js*/, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto& st = *static_cast<publisher::state*>(closure);
  publish_outcome out;
  {
    std::lock_guard lock(st.mu);
    auto it = st.pending.find(msg);
    if (it == st.pending.end()) {
      natsMsg_Destroy(msg);
      return;
    }
    out.ticket = it->second;
    st.pending.erase(it);
    if (pa != nullptr) {
      out.acknowledged = true;
      out.stream_seq = pa->Sequence;
      out.duplicate = pa->Duplicate;
    } else if (pae != nullptr) {
      out.failure = failure_of(*pae, out.ticket);
    } else {
      out.failure = error{errc::nats, 0, 0, "publish of ticket " + std::to_string(out.ticket) + ": no outcome"};
    }
    st.record(out);
  }
  natsMsg_Destroy(msg);
  if (st.handler) st.handler(out);
}

}  // namespace

publisher::publisher(std::unique_ptr<state> st) : state_(std::move(st)) {}

result<std::unique_ptr<publisher>> publisher::create(const connection& conn, publisher_settings settings,
                                                     publish_handler on_outcome) {
  if (settings.max_in_flight == 0 || settings.ack_timeout <= 0ms || settings.stall_timeout < 0ms) {
    return error{errc::invalid_settings, 0, 0,
                 "publisher: max_in_flight must be >= 1, ack_timeout > 0 and stall_timeout >= 0"};
  }
  auto st = std::make_unique<state>(std::move(settings), std::move(on_outcome));
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.AckHandler = on_ack;
  jo.PublishAsync.AckHandlerClosure = st.get();
  natsStatus s = natsConnection_JetStream(&st->js, conn.handles().nc, &jo);
  if (s != NATS_OK) return detail::make_error(s, "creating the publisher's JetStream context");
  st->conn = &conn.handles();
  return std::unique_ptr<publisher>(new publisher(std::move(st)));
}

publisher::~publisher() {
  if (!state_) return;
  jsPubOptions po;
  jsPubOptions_Init(&po);
  // Every message has a MaxWait of ack_timeout, so all outcomes arrive within it (plus the timer's slack);
  // nats.c counts a message done only after our callback returned.
  po.MaxWait = (state_->settings.ack_timeout + 2s).count();
  const bool drained = js_PublishAsyncComplete(state_->js, &po) == NATS_OK;
  if (!drained) {
    natsMsgList left{};
    if (js_PublishAsyncGetPendingList(&left, state_->js) == NATS_OK) {
      std::lock_guard lock(state_->mu);
      for (int i = 0; i < left.Count; ++i) state_->pending.erase(left.Msgs[i]);
      natsMsgList_Destroy(&left);
    }
  }
  bool answered_all = false;
  {
    std::lock_guard lock(state_->mu);
    answered_all = state_->counters.failed == 0;
  }
  if (drained && answered_all) {
    jsCtx_Destroy(state_->js);
    return;
  }
  // An acknowledgement may still arrive for a publish that timed out (or whose drain did), and nats.c 3.4 can crash
  // when the context's reply subscription is destroyed while its read loop handles one: the context (and the
  // closure its callback reaches) goes to the connection, which releases it once closed.
  std::shared_ptr<state> kept(std::move(state_));
  kept->conn->retire([kept] { jsCtx_Destroy(kept->js); });
}

result<std::uint64_t> publisher::publish(const outgoing_message& m) {
  auto& st = *state_;
  natsMsg* raw = nullptr;
  const std::string subject(m.subject);
  natsStatus s = natsMsg_Create(&raw, subject.c_str(), nullptr, m.data.data(), static_cast<int>(m.data.size()));
  if (s != NATS_OK) return detail::make_error(s, "creating a message on '" + subject + "'");
  detail::msg_ptr msg(raw);
  for (const auto& h : m.headers) {
    s = natsMsgHeader_Add(msg.get(), h.name.c_str(), h.value.c_str());
    if (s != NATS_OK) return detail::make_error(s, "header '" + h.name + "'");
  }

  std::uint64_t ticket = 0;
  {
    std::unique_lock lock(st.mu);
    if (!st.cv.wait_for(lock, st.settings.stall_timeout, [&] { return st.window.can_open(); })) {
      return error{errc::too_many_in_flight, 0, 0,
                   "publisher: " + std::to_string(st.window.in_flight()) + " messages unacknowledged (window " +
                       std::to_string(st.window.capacity()) + ") for " +
                       std::to_string(st.settings.stall_timeout.count()) + " ms"};
    }
    ticket = st.window.open();
    ++st.counters.published;
    st.counters.in_flight = st.window.in_flight();
    st.pending.emplace(msg.get(), ticket);
  }

  const std::string msg_id(m.msg_id);
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = st.settings.ack_timeout.count();
  if (!msg_id.empty()) po.MsgId = msg_id.c_str();
  if (!st.settings.expect_stream.empty()) po.ExpectStream = st.settings.expect_stream.c_str();
  natsMsg* handed = msg.get();
  s = js_PublishMsgAsync(st.js, &handed, &po);
  if (s == NATS_OK) {
    (void)msg.release();  // nats.c owns it now and hands it back to on_ack
    return ticket;
  }
  error e = detail::make_error(s, "publishing ticket " + std::to_string(ticket) + " on '" + subject + "'");
  publish_outcome out;
  out.ticket = ticket;
  out.failure = e;
  std::lock_guard lock(st.mu);
  st.pending.erase(msg.get());
  st.record(out);
  return e;
}

std::uint64_t publisher::acked_through() const {
  std::lock_guard lock(state_->mu);
  return state_->window.acked_through();
}

std::optional<std::uint64_t> publisher::first_failure() const {
  std::lock_guard lock(state_->mu);
  return state_->window.first_failure();
}

result<void> publisher::wait_acked(std::uint64_t ticket, std::chrono::milliseconds timeout) const {
  auto& st = *state_;
  std::unique_lock lock(st.mu);
  auto failed_at_or_below = [&] {
    auto f = st.window.first_failure();
    return f && *f <= ticket;
  };
  const bool done =
      st.cv.wait_for(lock, timeout, [&] { return st.window.acked_through() >= ticket || failed_at_or_below(); });
  if (st.window.acked_through() >= ticket) return {};
  if (failed_at_or_below()) {
    error e = st.first_error.value_or(error{errc::publish_rejected, 0, 0, "publish failed"});
    e.code = errc::publish_rejected;
    return e;
  }
  (void)done;
  return error{errc::timeout, 0, 0,
               "ticket " + std::to_string(ticket) + " not acknowledged within " + std::to_string(timeout.count()) +
                   " ms (acked through " + std::to_string(st.window.acked_through()) + ")"};
}

publisher_stats publisher::stats() const {
  std::lock_guard lock(state_->mu);
  return state_->counters;
}

}  // namespace rtcache::cluster
