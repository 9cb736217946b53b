// The ordered consumer over nats.c 3.4's js_SubscribeSync(Ordered). nats.c recreates the server-side consumer
// after a reconnect, a missed heartbeat or a gap in the consumer sequence, starting after the last stream
// sequence it *received*. Two cases it gets wrong, which this wrapper covers:
//  - Before the first message arrives, that "last received" is 0, so a reset (a server restart while the stream
//    is idle, for one) starts over from sequence 1 instead of start_seq: messages below start_seq arrive.
//    We skip every sequence <= last_delivered (counted in stats().skipped).
//  - A message dropped at the subscription's pending bound has already been counted as received, so nats.c
//    sees no gap and the consumer silently skips it. We watch nats.c's drop counter and, on any drop, start a
//    new consumer after the last message we delivered (stats().restarts).
#include "cluster/ordered_consumer.hpp"

#include "cluster/nats_handles.hpp"

namespace rtcache::cluster {

struct ordered_consumer::impl {
  detail::subscription_ptr sub;
  std::int64_t dropped_seen = 0;
};

ordered_consumer::ordered_consumer(const connection& conn, consumer_settings settings)
    : conn_(conn), settings_(std::move(settings)), impl_(std::make_unique<impl>()) {
  last_delivered_ = settings_.start_seq > 0 ? settings_.start_seq - 1 : 0;
}

ordered_consumer::~ordered_consumer() {
  release_subscription();
}

void ordered_consumer::release_subscription() noexcept {
  if (!impl_->sub) return;
  natsSubscription* sub = impl_->sub.release();
  natsSubscription_Unsubscribe(sub);
  conn_.handles().retire([sub] { natsSubscription_Destroy(sub); });
}

result<std::unique_ptr<ordered_consumer>> ordered_consumer::start(const connection& conn, consumer_settings settings) {
  if (settings.stream.empty() || settings.filter_subject.empty() || settings.heartbeat <= 0ms ||
      settings.pending_bytes_limit < 1) {
    return error{errc::invalid_settings, 0, 0,
                 "ordered consumer: stream and filter_subject are required, heartbeat and pending limits > 0"};
  }
  std::unique_ptr<ordered_consumer> c(new ordered_consumer(conn, std::move(settings)));
  if (auto r = c->subscribe(c->last_delivered_ + 1); !r) return r.error();
  return c;
}

result<void> ordered_consumer::subscribe(std::uint64_t from_seq) {
  release_subscription();
  impl_->dropped_seen = 0;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = settings_.stream.c_str();
  so.Ordered = true;
  so.Config.Heartbeat = std::chrono::duration_cast<std::chrono::nanoseconds>(settings_.heartbeat).count();
  if (from_seq > 1) {
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = from_seq;
  } else {
    so.Config.DeliverPolicy = js_DeliverAll;
  }
  natsSubscription* sub = nullptr;
  jsErrCode jerr{};
  natsStatus s = js_SubscribeSync(&sub, conn_.handles().js, settings_.filter_subject.c_str(), nullptr, &so, &jerr);
  if (s != NATS_OK) {
    error e =
        detail::make_error(s, jerr, "ordered consumer on '" + settings_.stream + "' from " + std::to_string(from_seq));
    if (e.code == errc::nats) e.code = errc::consumer_failed;
    return e;
  }
  impl_->sub.reset(sub);
  int msgs_limit = 0;
  int bytes_limit = 0;
  natsSubscription_GetPendingLimits(sub, &msgs_limit, &bytes_limit);
  s = natsSubscription_SetPendingLimits(sub, msgs_limit, settings_.pending_bytes_limit);
  if (s != NATS_OK) return detail::make_error(s, "ordered consumer pending limits");
  return {};
}

result<std::uint64_t> ordered_consumer::matching_now() const {
  jsConsumerInfo* ci = nullptr;
  jsErrCode jerr{};
  natsStatus s = natsSubscription_GetConsumerInfo(&ci, impl_->sub.get(), nullptr, &jerr);
  if (s != NATS_OK) return detail::make_error(s, jerr, "consumer info");
  const std::uint64_t n = ci->NumPending + ci->Delivered.Consumer;
  jsConsumerInfo_Destroy(ci);
  return n;
}

result<std::optional<stream_message>> ordered_consumer::next(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    // A restart that failed (the server unreachable at that moment) is tried again here.
    if (!impl_->sub) {
      if (auto r = subscribe(last_delivered_ + 1); !r) return r.error();
    }
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (remaining < 0ms) remaining = 0ms;
    natsMsg* raw = nullptr;
    natsStatus s = natsSubscription_NextMsg(&raw, impl_->sub.get(), remaining.count());
    detail::msg_ptr msg(raw);

    std::int64_t dropped = 0;
    natsSubscription_GetDropped(impl_->sub.get(), &dropped);
    if (s == NATS_SLOW_CONSUMER || dropped > impl_->dropped_seen) {
      // Something after the last delivered message may be gone: start over right after it.
      ++stats_.restarts;
      if (auto r = subscribe(last_delivered_ + 1); !r) return r.error();
      continue;
    }
    if (s == NATS_TIMEOUT) {
      if (std::chrono::steady_clock::now() >= deadline) return std::optional<stream_message>{};
      continue;
    }
    // nats.c reports these after it has already reset the consumer; delivery goes on.
    if (s == NATS_MISSED_HEARTBEAT || s == NATS_MISMATCH) continue;
    if (s != NATS_OK) {
      error e = detail::make_error(s, "ordered consumer on '" + settings_.stream + "'");
      if (e.code == errc::nats) e.code = errc::consumer_failed;
      return e;
    }

    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg.get()) != NATS_OK) continue;  // not a stream message (never expected)
    const std::uint64_t seq = meta->Sequence.Stream;
    const std::int64_t ts = meta->Timestamp;
    const std::uint64_t pending = meta->NumPending;
    jsMsgMetaData_Destroy(meta);
    if (seq <= last_delivered_) {
      ++stats_.skipped;
      continue;
    }
    last_delivered_ = seq;
    pending_ = pending;
    ++stats_.delivered;
    return std::optional<stream_message>(detail::to_stream_message(msg.get(), seq, ts, false));
  }
}

}  // namespace rtcache::cluster
