#include "cluster/reader_sink.hpp"

#include <utility>

namespace rtcache::cluster {

writer_stats& operator+=(writer_stats& a, const writer_stats& b) noexcept {
  a.messages += b.messages;
  a.records += b.records;
  a.gaps += b.gaps;
  a.positions += b.positions;
  a.skipped += b.skipped;
  a.lookups += b.lookups;
  a.ledger_creates += b.ledger_creates;
  a.generations += b.generations;
  a.resyncs += b.resyncs;
  a.ingest_items += b.ingest_items;
  a.ingest_skipped += b.ingest_skipped;
  a.ingest_refused += b.ingest_refused;
  a.ingest_lost += b.ingest_lost;
  return a;
}

reader_sink::reader_sink(const connection& conn, writer_settings settings,
                         std::function<void(std::string_view, std::string_view)> log)
    : conn_(&conn), settings_(std::move(settings)), log_(std::move(log)) {
  ingest_pump_settings ps;
  ps.stream = settings_.stream;
  ps.lookup_timeout = settings_.lookup_timeout;
  pump_ = std::make_unique<ingest_pump>(conn, std::move(ps));
}

reader_sink::~reader_sink() {
  pump_.reset();  // its thread calls wake_
}

core::result<std::optional<routing::wal_anchor>> reader_sink::durable_anchor() {
  bool renew = false;
  bool was_fenced = false;
  std::optional<error> why;
  {
    sync::mutex_lock lock(mu_);
    was_fenced = writer_ && writer_->fenced();
    renew = !writer_ || was_fenced;
    if (was_fenced) why = writer_->failure();
  }
  if (renew) {
    if (was_fenced) {
      if (log_) {
        log_("cluster.writer_fenced", "another writer appended to stream " + settings_.stream +
                                          (why ? " (" + why->message + ")" : "") +
                                          "; a new writer continues from the stream's tail");
      }
    }
    // Created outside the lock: it reads the stream's tail (round trips to NATS).
    auto made = writer::create(*conn_, settings_);
    if (!made) return core::error{core::errc::bad_value, "cluster writer: " + made.error().message};
    sync::mutex_lock lock(mu_);
    if (writer_) {
      // The replaced writer's counters stay in stats() (they are totals); counted as fenced under the same lock
      // fenced_writers() reads, so the replacement is never counted twice.
      retired_ += writer_->stats();
      if (was_fenced) fenced_.fetch_add(1, std::memory_order_relaxed);
    }
    writer_ = std::move(*made);
  }
  sync::mutex_lock lock(mu_);
  return writer_->durable_anchor();
}

void reader_sink::start_stream(std::function<void()> wake) {
  ingest_anchor_state from;
  {
    sync::mutex_lock lock(mu_);
    // The source asks durable_anchor() before every start; a writer missing here could not have been created.
    if (!writer_) return;
    writer_->start_stream(wake);
    from = writer_->ingest_anchor();
  }
  wake_ = std::move(wake);
  restart_pump(from);
}

void reader_sink::restart_pump(const ingest_anchor_state& from) {
  pump_retry_.reset();
  if (auto r = pump_->restart(from, wake_); !r) {
    pump_retry_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    if (log_) log_("cluster.ingest_pump", "reading the ingest stream failed (retried in 1 s): " + r.error().message);
  }
}

void reader_sink::poll() {
  if (pump_retry_) {
    if (std::chrono::steady_clock::now() < *pump_retry_) return;
    ingest_anchor_state from;
    {
      sync::mutex_lock lock(mu_);
      if (!writer_ || writer_->failure()) return;
      from = writer_->ingest_anchor();
    }
    restart_pump(from);
    if (pump_retry_) return;
  }
  sync::mutex_lock lock(mu_);
  if (writer_) pump_->feed(*writer_);
}

ingest_pump_stats reader_sink::ingest_stats() const {
  return pump_->stats();
}

void reader_sink::publish(routing::routed_batch batch) {
  sync::mutex_lock lock(mu_);
  if (writer_) writer_->publish(std::move(batch));
}

void reader_sink::on_gap(const routing::source_gap& gap) {
  sync::mutex_lock lock(mu_);
  if (writer_) writer_->on_gap(gap);
}

std::uint64_t reader_sink::durable_through() const noexcept {
  sync::mutex_lock lock(mu_);
  return writer_ ? writer_->durable_through() : 0;
}

bool reader_sink::can_publish() const noexcept {
  sync::mutex_lock lock(mu_);
  return !(writer_ && writer_->fenced());
}

std::uint64_t reader_sink::fenced_writers() const noexcept {
  const std::uint64_t replaced = fenced_.load(std::memory_order_relaxed);
  sync::mutex_lock lock(mu_);
  return replaced + (writer_ && writer_->fenced() ? 1 : 0);
}

writer_stats reader_sink::stats() const {
  sync::mutex_lock lock(mu_);
  writer_stats total = retired_;
  if (writer_) total += writer_->stats();
  return total;
}

}  // namespace rtcache::cluster
