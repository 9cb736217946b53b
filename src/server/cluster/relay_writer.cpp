#include "cluster/relay_writer.hpp"

#include "cluster/reader_sink.hpp"  // writer_stats' +=

#include <utility>

namespace rtcache::cluster {

namespace {

ingest_pump_settings pump_settings_of(const writer_settings& w) {
  ingest_pump_settings ps;
  ps.stream = w.stream;
  ps.lookup_timeout = w.lookup_timeout;
  return ps;
}

}  // namespace

relay_writer::relay_writer(const connection& conn, relay_writer_settings settings, std::unique_ptr<lease> l)
    : conn_(conn),
      settings_(std::move(settings)),
      lease_(std::move(l)),
      pump_(conn, pump_settings_of(settings_.writer)) {}

result<std::unique_ptr<relay_writer>> relay_writer::start(const connection& conn, relay_writer_settings settings) {
  lease_settings ls;
  ls.bucket = settings.lease_bucket.empty() ? settings.writer.stream + "_lease" : settings.lease_bucket;
  ls.holder = settings.node_id;
  ls.ttl = settings.lease_ttl;
  ls.timeout = std::min(settings.writer.lookup_timeout, settings.lease_ttl / 3);
  auto l = lease::open(conn, ls);
  if (!l) return l.error();
  std::unique_ptr<relay_writer> w(new relay_writer(conn, std::move(settings), std::move(*l)));
  w->thread_ = std::thread([p = w.get()] { p->run(); });
  return w;
}

relay_writer::~relay_writer() {
  stop();
}

void relay_writer::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

relay_writer_status relay_writer::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void relay_writer::wait(std::chrono::milliseconds bound) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, bound, [&] { return stop_ || woken_; });
  woken_ = false;
}

void relay_writer::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

bool relay_writer::become_writer() {
  if (!writer_ || writer_->fenced()) {
    if (writer_) {
      std::lock_guard lock(mu_);
      retired_ += writer_->stats();
    }
    writer_.reset();
    auto made = writer::create(conn_, settings_.writer);
    if (!made) {
      if (settings_.log) settings_.log("cluster.relay_writer", "cannot create the writer: " + made.error().message);
      return false;
    }
    writer_ = std::move(*made);
  }
  // Settles on the stream's tail (starts over when anything failed or another writer appended meanwhile).
  if (auto a = writer_->durable_anchor(); !a) {
    if (settings_.log) settings_.log("cluster.relay_writer", "cannot read the stream's tail: " + a.error().message);
    return false;
  }
  writer_->start_stream([this] { wake(); });
  auto restarted = pump_.restart(writer_->ingest_anchor(), [this] { wake(); });
  if (!restarted) {
    if (settings_.log)
      settings_.log("cluster.relay_writer", "cannot read the ingest stream: " + restarted.error().message);
    return false;
  }
  return true;
}

void relay_writer::step_down(std::string_view why) {
  pump_.pause();
  if (writing_ && settings_.log) settings_.log("cluster.relay_writer_stopped", why);
  writing_ = false;
  std::lock_guard lock(mu_);
  status_.writer = false;
}

void relay_writer::run() {
  const auto renew_every = settings_.lease_ttl / 3;
  auto next_renew = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) break;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_renew) {
      next_renew = now + renew_every;
      auto held = lease_->hold();
      if (!held || !*held) {
        if (writing_) step_down(held ? "the lease is held by " + lease_->holder() : held.error().message);
      } else if (!writing_) {
        if (become_writer()) {
          writing_ = true;
          if (settings_.log)
            settings_.log("cluster.relay_writer_started",
                          "node " + settings_.node_id + " republishes relay ingest into " + settings_.writer.stream);
          std::lock_guard lock(mu_);
          status_.writer = true;
          ++status_.activations;
        } else {
          lease_->release();  // another node may do better
        }
      }
    }
    if (writing_) {
      if (writer_->fenced()) {
        {
          std::lock_guard lock(mu_);
          ++status_.fenced;
        }
        step_down("fenced: another writer appended to the stream");
        lease_->release();
      } else if (writer_->failure()) {
        // A publish failed (NATS away, a timeout): start over from the stream's tail.
        if (!become_writer()) step_down("cannot start over: the writer's publish failed");
      } else {
        pump_.feed(*writer_);
      }
      std::lock_guard lock(mu_);
      status_.stats = retired_;
      status_.stats += writer_ ? writer_->stats() : writer_stats{};
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_renew - std::chrono::steady_clock::now());
    wait(std::max(std::chrono::milliseconds(0), std::min(settings_.idle_poll, left)));
  }
  pump_.pause();
  if (writing_) lease_->release();
  writer_.reset();  // its outcomes wake this object: gone before the members they use
}

}  // namespace rtcache::cluster
