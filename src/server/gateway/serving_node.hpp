// What the gateway asks of the node it serves, beyond the hub it delivers from: a client's join of a channel view
// (at which position, with which resume), whether the node is ready (/readyz, and joins), and where relay ingest
// (POST /v1/events, REST and client broadcasts) goes. A single node answers from its hub (hub_node: the hub draws
// epochs and counts offsets itself, always ready, relay ingest published into it); a cluster node answers from the
// stream it applies (cluster_node.hpp: positions derived from the stream, ready once caught up and connected, relay
// ingest published to its ingest stream, from where it reaches every node's hub).
#pragma once

#include "hub/hub.hpp"
#include "ingest/relay.hpp"
#include "rtcache/core/error.hpp"
#include "rtcache/core/factory_scope.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace rtcache::gateway {

// Thread-safety: every member may be called from any thread (the gateway's io threads, concurrently).
class serving_node {
 public:
  virtual ~serving_node() = default;

  // nullopt: ready. Otherwise why not (the /readyz answer's reason): the gateway refuses joins meanwhile, before it
  // calls join().
  virtual std::optional<std::string> not_ready() const = 0;

  // A client's join of `view` on `channel`, hub::subscribe_view's contract: too_many when the channel has no room
  // for another scoped view.
  virtual core::result<hub::hub_join> join(std::string_view channel, const core::factory_scope& view,
                                           std::shared_ptr<hub::hub_subscriber> subscriber,
                                           const std::optional<hub::hub_position>& resume) = 0;

  // Relay ingest: `fill` validates one request's input and puts each message it accepts into the target it is
  // handed, in order (ingest::relay; refusals, rate limits and bad input are its business: a target nothing was
  // put into publishes nothing). The single node hands the hub: each message is delivered as it is put. A cluster
  // node collects them and publishes them to its ingest stream, returning once JetStream acknowledged them (it
  // blocks the calling thread that long, bounded). Errors: what was put was not accepted, and why (the client is
  // told: 503 over HTTP, an error reply to a client broadcast).
  virtual core::result<void> ingest(const std::function<void(ingest::relay_target&)>& fill) = 0;

  // Whether join() with `resume`, and ingest(), may wait on the network (a cluster node's exact resume by range
  // fetch, and its wait for JetStream's acknowledgement). The gateway then makes those calls through run_blocking(),
  // off its io threads, so that one client's wait stalls no other connection.
  virtual bool join_may_block(const std::optional<hub::hub_position>& /*resume*/) const { return false; }
  virtual bool ingest_may_block() const { return false; }
  // Runs `work` on one of the node's threads for such calls (blocking_pool.hpp). False, `work` dropped unrun, when as
  // many calls as the node admits are waiting or running, or the node is stopping: the caller answers "busy".
  virtual bool run_blocking(std::function<void()> /*work*/) { return false; }
};

// Why a call run_blocking() did not admit is refused: a join ("NodeNotReady: <this>", the client retries), a client
// broadcast or relay POST ("relay ingest not accepted: <this>", 503 over HTTP).
inline constexpr std::string_view k_node_busy = "busy: the node is at its bound of calls waiting on the stream, retry";

// The single node: the hub is the whole truth, every join is hub::subscribe_view.
class hub_node final : public serving_node {
 public:
  explicit hub_node(hub::hub& h) : hub_(h) {}
  std::optional<std::string> not_ready() const override { return std::nullopt; }
  core::result<hub::hub_join> join(std::string_view channel, const core::factory_scope& view,
                                   std::shared_ptr<hub::hub_subscriber> subscriber,
                                   const std::optional<hub::hub_position>& resume) override {
    return hub_.subscribe_view(channel, view, std::move(subscriber), resume);
  }
  core::result<void> ingest(const std::function<void(ingest::relay_target&)>& fill) override {
    ingest::hub_target to(hub_);
    fill(to);
    return {};
  }

 private:
  hub::hub& hub_;
};

}  // namespace rtcache::gateway
