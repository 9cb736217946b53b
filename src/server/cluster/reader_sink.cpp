#include "cluster/reader_sink.hpp"

#include <utility>

namespace rtcache::cluster {

reader_sink::reader_sink(const connection& conn, writer_settings settings,
                         std::function<void(std::string_view, std::string_view)> log)
    : conn_(&conn), settings_(std::move(settings)), log_(std::move(log)) {}

reader_sink::~reader_sink() = default;

core::result<std::optional<routing::wal_anchor>> reader_sink::durable_anchor() {
  if (!writer_ || writer_->fenced()) {
    if (writer_) {
      fenced_.fetch_add(1, std::memory_order_relaxed);
      if (log_) {
        const auto why = writer_->failure();
        log_("cluster.writer_fenced", "another writer appended to stream " + settings_.stream +
                                          (why ? " (" + why->message + ")" : "") +
                                          "; a new writer continues from the stream's tail");
      }
    }
    auto made = writer::create(*conn_, settings_);
    if (!made) return core::error{core::errc::bad_value, "cluster writer: " + made.error().message};
    std::lock_guard lock(mu_);
    writer_ = std::move(*made);
  }
  return writer_->durable_anchor();
}

void reader_sink::start_stream(std::function<void()> wake) {
  // The source asks durable_anchor() before every start; a writer missing here could not have been created.
  if (writer_) writer_->start_stream(std::move(wake));
}

void reader_sink::publish(routing::routed_batch batch) {
  if (writer_) writer_->publish(std::move(batch));
}

void reader_sink::on_gap(const routing::source_gap& gap) {
  if (writer_) writer_->on_gap(gap);
}

std::uint64_t reader_sink::durable_through() const noexcept {
  std::lock_guard lock(mu_);
  return writer_ ? writer_->durable_through() : 0;
}

std::uint64_t reader_sink::fenced_writers() const noexcept {
  const std::uint64_t replaced = fenced_.load(std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  return replaced + (writer_ && writer_->fenced() ? 1 : 0);
}

writer_stats reader_sink::stats() const {
  std::lock_guard lock(mu_);
  return writer_ ? writer_->stats() : writer_stats{};
}

}  // namespace rtcache::cluster
