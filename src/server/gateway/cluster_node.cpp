#include "gateway/cluster_node.hpp"

#include "cluster/stream.hpp"
#include "cluster/subject.hpp"
#include "cluster/view_position.hpp"
#include "rtcache/core/event_codec.hpp"

#include <algorithm>
#include <utility>

namespace rtcache::gateway {

// Readiness across nats.c's thread (connection events) and the applying thread. Every connection event moves
// `generation`; the applying thread marks a generation synced once it caught up within it, so a catch-up that
// finished just before a disconnect never marks the connection after it as ready.
// `since` is when the current generation began (steady clock): the catch-up time and the lag in seconds count
// from it. It is stored after `generation` moves, so a scrape between the two reads the previous instant (a lag
// or catch-up time one event old), never a torn value.
struct cluster_node::link {
  std::atomic<bool> connected{true};
  std::atomic<std::uint64_t> generation{1};
  std::atomic<std::uint64_t> synced_generation{0};
  std::atomic<std::int64_t> since{now()};
  static std::int64_t now() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

cluster::channel_message ingest_item(const ingest::relay_message& m, std::string_view node_id) {
  cluster::channel_message item;
  item.channel = m.channel;
  item.event = m.event;
  if (m.contract != nullptr) {
    core::encode_to(item.payload, *m.contract);
  } else {
    item.payload = m.payload;
  }
  item.factory = m.factory;
  if (m.origin != 0) {
    item.origin_node = node_id;
    item.origin_conn = m.origin;
  }
  item.raw = m.raw;
  item.contract = m.contract != nullptr;
  return item;
}

std::vector<std::string> ingest_bodies(std::vector<cluster::channel_message> items, std::size_t max_bytes) {
  const std::size_t max_items = cluster::wire_limits{}.max_items;
  std::vector<std::string> bodies;
  cluster::ingest_batch batch;
  std::size_t bytes = 0;
  for (auto& item : items) {
    const std::size_t size =
        item.channel.size() + item.event.size() + item.payload.size() + item.factory.size() + item.origin_node.size();
    if (!batch.items.empty() && (batch.items.size() == max_items || bytes + size > max_bytes)) {
      bodies.push_back(cluster::encode_body(batch));
      batch.items.clear();
      bytes = 0;
    }
    bytes += size;
    batch.items.push_back(std::move(item));
  }
  if (!batch.items.empty()) bodies.push_back(cluster::encode_body(batch));
  return bodies;
}

cluster_node_settings cluster_node_settings_of(const serve_config& config) {
  cluster_node_settings s;
  s.nats = nats_settings_of(config);
  s.stream = stream_settings_of(config);
  s.node_id = node_id_of(config);
  s.secret = config.cluster.secret;
  s.max_channels = config.cluster.max_channels;
  s.blocking_threads = config.cluster.blocking_threads;
  s.max_blocking_calls = config.cluster.max_blocking_calls;
  return s;
}

cluster::result<std::unique_ptr<cluster_node>> cluster_node::start(hub::hub& target, cluster_node_settings settings) {
  auto l = std::make_shared<link>();
  auto log = settings.log;
  auto on_event = [l, log](const cluster::connection_event& e) {
    switch (e.kind) {
      case cluster::connection_event_kind::disconnected:
      case cluster::connection_event_kind::closed: l->connected.store(false, std::memory_order_release); break;
      case cluster::connection_event_kind::connected:
      case cluster::connection_event_kind::reconnected: l->connected.store(true, std::memory_order_release); break;
      case cluster::connection_event_kind::async_error:  // a loss it causes is the applier's to notice
        if (log) log("cluster.async_error", e.detail);
        return;
    }
    l->generation.fetch_add(1, std::memory_order_acq_rel);
    l->since.store(link::now(), std::memory_order_release);
    if (log) log("cluster." + std::string(cluster::to_string(e.kind)), e.detail);
  };
  auto conn = cluster::connection::connect(settings.nats, on_event);
  if (!conn) return conn.error();
  if (auto ensured = cluster::ensure_stream(**conn, settings.stream); !ensured) return ensured.error();
  // Relay ingest on every node goes to the ingest stream; the stream's writer republishes it (docs/cluster.md).
  if (auto ensured = cluster::ensure_stream(**conn, cluster::ingest_stream_settings(settings.stream)); !ensured) {
    return ensured.error();
  }

  cluster::applier_settings as;
  as.stream = settings.stream.name;
  as.apply.node_id = settings.node_id;
  as.apply.max_channels = settings.max_channels;
  as.idle_poll = settings.idle_poll;
  as.types = settings.types;
  if (log) as.log = [log](std::string_view line) { log("cluster.applier", line); };
  auto delays = std::make_shared<prometheus::Histogram>(
      prometheus::Histogram::BucketBoundaries(k_latency_buckets.begin(), k_latency_buckets.end()));
  as.stored_to_applied = [delays](std::chrono::nanoseconds d) {
    delays->Observe(std::chrono::duration<double>(d).count());
  };
  auto applier = cluster::applier::start(**conn, target, cluster::epoch_deriver(settings.secret), std::move(as));
  if (!applier) return applier.error();

  std::unique_ptr<cluster_node> node(new cluster_node(std::move(settings), std::move(l)));
  node->ingest_subject_ = cluster::subjects{node->settings_.stream.name}.ingest(node->settings_.node_id);
  node->ingest_id_prefix_ =
      node->settings_.node_id + "." +
      std::to_string(std::chrono::system_clock::now().time_since_epoch() / std::chrono::nanoseconds(1)) + ".";
  node->conn_ = std::move(*conn);
  node->applier_ = std::move(*applier);
  node->stored_to_applied_ = std::move(delays);
  node->thread_ = std::thread([n = node.get()] { n->run(); });
  return node;
}

cluster_node::cluster_node(cluster_node_settings settings, std::shared_ptr<link> l)
    : settings_(std::move(settings)),
      link_(std::move(l)),
      blocking_(std::max<std::size_t>(settings_.blocking_threads, 1),
                std::max<std::size_t>(settings_.max_blocking_calls, 1)) {}

cluster_node::~cluster_node() {
  stop();
  {
    sync::mutex_lock lock(ingest_mu_);
    ingest_pub_.reset();  // before the connection it publishes on
  }
  applier_.reset();  // before the connection it reads from
  conn_.reset();
}

void cluster_node::stop() {
  blocking_.stop();  // first: a join running there uses the applier
  stopping_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

void cluster_node::sync() {
  auto state = cluster::get_stream_state(*conn_, settings_.stream.name);
  if (!state) {
    target_ = UINT64_MAX;  // unknown: only a poll that finds nothing more to deliver proves the catch-up
  } else {
    target_ = state->last_seq;
  }
  target_seen_.store(target_, std::memory_order_release);
}

void cluster_node::run() {
  std::uint64_t synced_for = 0;  // the generation sync() read the target in
  while (!stopping_.load(std::memory_order_acquire)) {
    const std::uint64_t generation = link_->generation.load(std::memory_order_acquire);
    if (generation != synced_for && link_->connected.load(std::memory_order_acquire)) {
      sync();
      synced_for = generation;
    }
    auto polled = applier_->poll(settings_.idle_poll);
    if (!polled && polled.error().code == cluster::errc::connection_closed) {
      link_->connected.store(false, std::memory_order_release);
      return;
    }
    if (!polled) {
      std::this_thread::sleep_for(settings_.idle_poll);  // a consumer restart that failed: the next poll retries
      continue;
    }
    // Caught up within this generation: applied through what the stream held when it began, or a poll that found
    // nothing more to deliver. An event since sync() leaves the mark on an older generation: not ready.
    const bool idle = !*polled;
    if (synced_for == generation && (applier_->last_applied() >= target_ || (idle && applier_->caught_up())) &&
        link_->synced_generation.load(std::memory_order_acquire) != generation) {
      catch_up_ns_.store(std::max<std::int64_t>(0, link::now() - link_->since.load(std::memory_order_acquire)),
                         std::memory_order_relaxed);
      catch_ups_.fetch_add(1, std::memory_order_relaxed);
      link_->synced_generation.store(generation, std::memory_order_release);
    }
  }
}

std::optional<std::string> cluster_node::not_ready() const {
  if (!link_->connected.load(std::memory_order_acquire)) return std::string("cut from NATS (reconnecting)");
  if (link_->synced_generation.load(std::memory_order_acquire) != link_->generation.load(std::memory_order_acquire)) {
    const std::uint64_t target = target_seen_.load(std::memory_order_acquire);
    std::string why = "catching up with stream " + settings_.stream.name + ": applied through " +
                      std::to_string(applier_->last_applied());
    if (target != UINT64_MAX) why += " of " + std::to_string(target);
    return why;
  }
  return std::nullopt;
}

cluster_status cluster_node::status() const {
  cluster_status s;
  s.connected = link_->connected.load(std::memory_order_acquire);
  s.ready = !not_ready().has_value();
  const cluster::applier_stats a = applier_->stats();
  s.last_applied = a.last_applied;
  s.lag_messages = a.lag;
  if (!s.ready) {
    const std::int64_t behind = link::now() - link_->since.load(std::memory_order_acquire);
    s.lag_seconds = behind > 0 ? static_cast<double>(behind) / 1e9 : 0.0;
  }
  s.catch_up_seconds = static_cast<double>(catch_up_ns_.load(std::memory_order_relaxed)) / 1e9;
  s.catch_ups = catch_ups_.load(std::memory_order_relaxed);
  s.applied = a.apply.applied;
  s.published = a.apply.published;
  s.gaps = a.apply.gaps;
  s.refused = a.apply.refused;
  s.replays = a.apply.replays;
  s.losses = a.losses;
  s.streams_recreated = a.streams_recreated;
  s.resume_fetches = a.resume_fetches;
  s.resume_recovered = a.resume_recovered;
  s.resume_too_many = a.resume_too_many;
  s.resume_failed = a.resume_failed;
  s.forgotten_lookups = a.forgotten_lookups;
  s.forgotten_lookups_failed = a.forgotten_lookups_failed;
  s.ingest_published = ingest_published_.load(std::memory_order_relaxed);
  s.ingest_failed = ingest_failed_.load(std::memory_order_relaxed);
  s.blocking_calls = blocking_.admitted();
  s.blocking_refused = blocking_.refused();
  s.stored_to_applied = stored_to_applied_->Collect().histogram;
  return s;
}

core::result<hub::hub_join> cluster_node::join(std::string_view channel, const core::factory_scope& view,
                                               std::shared_ptr<hub::hub_subscriber> subscriber,
                                               const std::optional<hub::hub_position>& resume) {
  return applier_->join(channel, view, std::move(subscriber), resume);
}

namespace {

// Collects what the relay accepts, as the ingest stream's items.
class ingest_collector final : public ingest::relay_target {
 public:
  explicit ingest_collector(std::string_view node_id) : node_id_(node_id) {}
  std::uint64_t put(const ingest::relay_message& m) override {
    items.push_back(ingest_item(m, node_id_));
    return 0;  // delivered later, on every node, by its applier
  }
  std::vector<cluster::channel_message> items;

 private:
  std::string_view node_id_;
};

}  // namespace

cluster::result<std::shared_ptr<cluster::publisher>> cluster_node::ingest_publisher() {
  sync::mutex_lock lock(ingest_mu_);
  if (ingest_pub_) return ingest_pub_;
  cluster::publisher_settings ps;
  ps.expect_stream = cluster::ingest_stream_name(settings_.stream.name);
  ps.ack_timeout = settings_.ingest_timeout;
  ps.stall_timeout = settings_.ingest_timeout;
  auto created = cluster::publisher::create(*conn_, ps);
  if (!created) return created.error();
  ingest_pub_ = std::move(*created);
  return ingest_pub_;
}

void cluster_node::drop_ingest_publisher(const std::shared_ptr<cluster::publisher>& failed) {
  sync::mutex_lock lock(ingest_mu_);
  if (ingest_pub_ == failed) ingest_pub_.reset();
}

core::result<void> cluster_node::ingest(const std::function<void(ingest::relay_target&)>& fill) {
  ingest_collector collected(settings_.node_id);
  fill(collected);
  if (collected.items.empty()) return {};
  const std::vector<std::string> bodies = ingest_bodies(std::move(collected.items), k_max_ingest_body_bytes);
  const std::string stream = cluster::ingest_stream_name(settings_.stream.name);
  const auto refused = [&](std::string why) {
    ingest_failed_.fetch_add(bodies.size(), std::memory_order_relaxed);
    return core::error{core::errc::bad_value, "relay ingest not accepted: " + std::move(why)};
  };
  if (!link_->connected.load(std::memory_order_acquire)) {
    return refused("cut from NATS (reconnecting): the ingest stream " + stream + " cannot be reached");
  }
  auto pub = ingest_publisher();
  if (!pub) return refused(pub.error().message);
  std::uint64_t last = 0;
  for (const auto& body : bodies) {
    const std::string id = ingest_id_prefix_ + std::to_string(ingest_next_.fetch_add(1, std::memory_order_relaxed));
    auto ticket = (*pub)->publish(cluster::outgoing_message{ingest_subject_, id, {}, body});
    if (!ticket) {
      drop_ingest_publisher(*pub);
      return refused("publishing to the ingest stream " + stream + " failed: " + ticket.error().message);
    }
    last = *ticket;
  }
  if (auto acked = (*pub)->wait_acked(last, settings_.ingest_timeout); !acked) {
    drop_ingest_publisher(*pub);
    return refused("the ingest stream " + stream + " did not acknowledge it: " + acked.error().message);
  }
  ingest_published_.fetch_add(bodies.size(), std::memory_order_relaxed);
  return {};
}

}  // namespace rtcache::gateway
