// The applier: the stream in order into the node's book and hub.
#include "cluster/applier.hpp"

#include "cluster/stream.hpp"

#include <cstdio>
#include <utility>

namespace rtcache::cluster {

result<std::unique_ptr<applier>> applier::start(const connection& conn, hub::hub& target, epoch_deriver deriver,
                                                applier_settings settings) {
  if (settings.apply.prefix.empty()) settings.apply.prefix = settings.stream;
  auto state = get_stream_state(conn, settings.stream);
  if (!state) return state.error();
  std::unique_ptr<applier> a(new applier(conn, target, std::move(deriver), state->identity.to_string(),
                                         state->first_seq, std::move(settings)));
  consumer_settings cs;
  cs.stream = a->settings_.stream;
  cs.filter_subject = a->settings_.apply.prefix + ".*.>";
  cs.start_seq = a->settings_.start_seq;
  auto consumer = ordered_consumer::start(conn, std::move(cs));
  if (!consumer) return consumer.error();
  a->consumer_ = std::move(*consumer);
  const std::uint64_t before = a->consumer_->last_delivered();
  a->last_applied_.store(before, std::memory_order_release);
  // Nothing past the start: caught up at once (a message arriving later turns it false only while more pend).
  a->caught_up_.store(state->last_seq <= before, std::memory_order_release);
  return a;
}

applier::applier(const connection& conn, hub::hub& target, epoch_deriver deriver, std::string identity,
                 std::uint64_t first_seq, applier_settings settings)
    : conn_(conn),
      settings_(std::move(settings)),
      applier_(settings_.apply, std::move(deriver), std::move(identity), settings_.types, target),
      first_seq_(first_seq) {}

applier::~applier() {
  stop();
}

result<bool> applier::poll(std::chrono::milliseconds timeout) {
  auto next = consumer_->next(timeout);
  if (!next) return next.error();
  if (!*next) {
    refresh_first_seq();
    return false;
  }
  const stream_message& m = **next;
  core::result<void> applied;
  {
    sync::mutex_lock lock(mu_);
    applied = applier_.apply(m, first_seq_);
  }
  if (!applied) {
    // The reason names the sequence and what is wrong, never the payload (which may hold a tenant's data).
    const std::string line = "rtcache cluster: stream message refused and skipped: " + applied.error().message;
    if (settings_.log) {
      settings_.log(line);
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  }
  lag_.store(consumer_->pending(), std::memory_order_release);
  last_applied_.store(m.seq, std::memory_order_release);
  caught_up_.store(consumer_->pending() == 0, std::memory_order_release);
  if (std::chrono::steady_clock::now() - refreshed_ >= settings_.first_seq_refresh) refresh_first_seq();
  return true;
}

void applier::refresh_first_seq() {
  refreshed_ = std::chrono::steady_clock::now();
  auto state = get_stream_state(conn_, settings_.stream);
  if (!state) return;  // unreachable now: the last known first sequence stands
  {
    sync::mutex_lock lock(mu_);
    first_seq_ = state->first_seq;
  }
  if (state->last_seq <= last_applied()) caught_up_.store(true, std::memory_order_release);
}

void applier::run() {
  stopping_.store(false, std::memory_order_release);
  thread_ = std::thread([this] {
    while (!stopping_.load(std::memory_order_acquire)) {
      auto r = poll(settings_.idle_poll);
      if (!r && r.error().code == errc::connection_closed) return;
      if (!r) std::this_thread::sleep_for(settings_.idle_poll);  // a consumer restart that failed: retried
    }
  });
}

void applier::stop() {
  stopping_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

core::result<hub::hub_join> applier::join(std::string_view channel, const core::factory_scope& view,
                                          std::shared_ptr<hub::hub_subscriber> subscriber,
                                          const std::optional<hub::hub_position>& resume) {
  sync::mutex_lock lock(mu_);
  return applier_.join(channel, view, std::move(subscriber), resume, first_seq_);
}

hub::hub_position applier::position_of(std::string_view channel, const core::factory_scope& view) {
  sync::mutex_lock lock(mu_);
  return applier_.position_of(channel, view, first_seq_);
}

applier_stats applier::stats() const {
  applier_stats out;
  out.last_applied = last_applied();
  out.lag = lag();
  sync::mutex_lock lock(mu_);
  out.apply = applier_.stats();
  return out;
}

}  // namespace rtcache::cluster
