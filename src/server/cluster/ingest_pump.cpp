#include "cluster/ingest_pump.hpp"

#include "cluster/ordered_consumer.hpp"
#include "cluster/stream.hpp"
#include "cluster/subject.hpp"

#include <algorithm>
#include <utility>

namespace rtcache::cluster {

ingest_pump::ingest_pump(const connection& conn, ingest_pump_settings settings)
    : conn_(conn), settings_(std::move(settings)) {}

ingest_pump::~ingest_pump() {
  pause();
}

void ingest_pump::pause() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  room_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  queue_.clear();
  queued_bytes_ = 0;
  stats_.queued = 0;
  wake_ = nullptr;
}

bool ingest_pump::running() const {
  std::lock_guard lock(mu_);
  return thread_.joinable() && !stop_;
}

result<void> ingest_pump::restart(const ingest_anchor_state& anchor, std::function<void()> wake) {
  pause();
  auto st = get_stream_state(conn_, ingest_stream_name(settings_.stream), settings_.lookup_timeout);
  if (!st) return st.error();
  const std::int64_t created = st->identity.created_ns;
  // The anchor's own message again (the writer skips what it holds), when it is of this incarnation.
  const std::uint64_t from =
      anchor.ingest_created_ns == created && anchor.last_ingest_seq != 0 ? anchor.last_ingest_seq : 0;
  {
    std::lock_guard lock(mu_);
    stop_ = false;
    wake_ = std::move(wake);
    ++stats_.restarts;
  }
  thread_ = std::thread([this, from, created] { read(from, created); });
  return {};
}

std::vector<ingest_delivery> ingest_pump::take(std::size_t max) {
  std::vector<ingest_delivery> out;
  {
    std::lock_guard lock(mu_);
    while (!queue_.empty() && out.size() < max) {
      queued_bytes_ -= queue_.front().bytes;
      out.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    stats_.queued = queue_.size();
  }
  if (!out.empty()) room_.notify_all();
  return out;
}

std::size_t ingest_pump::feed(writer& w, std::size_t budget) {
  std::size_t handed = 0;
  for (std::size_t room = std::min(w.room(), budget); room > 0;) {
    auto next = take(1);
    if (next.empty()) break;
    const std::size_t items = next.front().batch ? next.front().batch->items.size() : 0;
    w.publish_ingest(next.front());
    handed += items;
    room = items >= room ? 0 : room - items;
  }
  return handed;
}

ingest_pump_stats ingest_pump::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void ingest_pump::read(std::uint64_t from, std::int64_t created_ns) {
  consumer_settings cs;
  cs.stream = ingest_stream_name(settings_.stream);
  cs.filter_subject = subjects{settings_.stream}.ingest_filter();
  cs.start_seq = from;
  std::unique_ptr<ordered_consumer> consumer;
  std::uint64_t next = from;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      room_.wait(lock, [&] {
        return stop_ || (queue_.size() < settings_.max_queued && queued_bytes_ < settings_.max_queued_bytes);
      });
      if (stop_) return;
    }
    if (!consumer) {
      cs.start_seq = next;
      auto started = ordered_consumer::start(conn_, cs);
      if (!started) {
        std::unique_lock lock(mu_);
        room_.wait_for(lock, settings_.poll, [&] { return stop_; });
        continue;
      }
      consumer = std::move(*started);
    }
    auto m = consumer->next(settings_.poll);
    if (!m) {
      if (m.error().code == errc::connection_closed) return;
      continue;  // retried by the next call (consumer_failed, timeout)
    }
    if (!*m) continue;
    const stream_message& msg = **m;
    next = msg.seq + 1;
    ingest_delivery d;
    d.ingest_created_ns = created_ns;
    d.seq = msg.seq;
    d.bytes = msg.data.size();
    auto body = decode_body(msg.data, settings_.limits);
    if (!body) {
      d.refused = body.error().message;
    } else if (auto* b = std::get_if<ingest_batch>(&*body)) {
      d.batch = std::move(*b);
    } else {
      d.refused = "not an ingest batch (kind " + std::to_string(body->index() + 1) + ")";
    }
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      ++stats_.read;
      if (!d.batch) ++stats_.refused;
      queued_bytes_ += d.bytes;
      queue_.push_back(std::move(d));
      stats_.queued = queue_.size();
      wake = wake_;
    }
    if (wake) wake();
  }
}

}  // namespace rtcache::cluster
