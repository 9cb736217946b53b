// Internal to rtcache::cluster: the nats.c handles behind a connection, the callbacks' shared state, and the
// translation of nats.c statuses into cluster::error. Not included by users of the layer.
#pragma once

#include "cluster/connection.hpp"
#include "cluster/error.hpp"
#include "cluster/message.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nats/nats.h>
#include <string_view>

namespace rtcache::cluster::detail {

// Reached by nats.c's callbacks through a raw closure pointer, so it must outlive the last callback: the
// connection waits for the `closed` callback before freeing it (and leaks it if that never comes, rather than
// risk a callback into freed memory).
struct connection_callbacks {
  connection_event_handler handler;  // constant after construction
  core::backoff_policy reconnect;    // constant after construction
  std::atomic<std::uint64_t> disconnects{0};
  std::atomic<std::uint64_t> reconnects{0};
  std::atomic<std::uint64_t> async_errors{0};

  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;  // guarded by mu
};

struct connection_handles {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;  // for stream management and direct gets; publishers make their own
  std::shared_ptr<connection_callbacks> callbacks;

  // Releases of nats.c objects whose subscriptions may still receive a message: nats.c 3.4 can crash when a
  // subscription is destroyed while its read loop handles a message for it (nats.c issue 637, fixed in 3.6), as a
  // publisher's reply subscription does when acknowledgements it stopped waiting for arrive late. They run once the
  // connection is closed (its read loop stopped), or, beyond k_max_retired, the oldest runs at once.
  static constexpr std::size_t k_max_retired = 64;
  void retire(std::function<void()> release);
  std::size_t retired() const;
  void run_retired();  // REQUIRES: the connection closed

 private:
  mutable std::mutex retired_mu_;
  std::deque<std::function<void()>> retired_;  // guarded by retired_mu_
};

// "<what>: <nats.c's last error text>" with the code mapped from the status and the JetStream error code.
error make_error(natsStatus status, jsErrCode js_code, std::string_view what);
inline error make_error(natsStatus status, std::string_view what) {
  return make_error(status, jsErrCode{}, what);
}

// Copies a received message out of nats.c. Direct gets add Nats-Stream, Nats-Sequence, Nats-Time-Stamp and
// Nats-Subject headers of their own; `strip_direct_get_headers` drops them so that a message reads the same
// whichever way it was fetched.
stream_message to_stream_message(natsMsg* msg, std::uint64_t seq, std::int64_t time_ns, bool strip_direct_get_headers);

struct nats_msg_deleter {
  void operator()(natsMsg* m) const noexcept { natsMsg_Destroy(m); }
};
using msg_ptr = std::unique_ptr<natsMsg, nats_msg_deleter>;

struct stream_info_deleter {
  void operator()(jsStreamInfo* si) const noexcept { jsStreamInfo_Destroy(si); }
};
using stream_info_ptr = std::unique_ptr<jsStreamInfo, stream_info_deleter>;

struct subscription_deleter {
  void operator()(natsSubscription* s) const noexcept {
    natsSubscription_Unsubscribe(s);
    natsSubscription_Destroy(s);
  }
};
using subscription_ptr = std::unique_ptr<natsSubscription, subscription_deleter>;

struct js_ctx_deleter {
  void operator()(jsCtx* js) const noexcept { jsCtx_Destroy(js); }
};
using js_ctx_ptr = std::unique_ptr<jsCtx, js_ctx_deleter>;

struct kv_deleter {
  void operator()(kvStore* kv) const noexcept { kvStore_Destroy(kv); }
};
using kv_ptr = std::unique_ptr<kvStore, kv_deleter>;

struct kv_entry_deleter {
  void operator()(kvEntry* e) const noexcept { kvEntry_Destroy(e); }
};
using kv_entry_ptr = std::unique_ptr<kvEntry, kv_entry_deleter>;

// A JetStream context of its own on `conn`, whose requests wait at most `wait` (nats.c's default is 5 s). `who` names
// the user in the error.
result<js_ctx_ptr> jetstream_context(const connection& conn, std::chrono::milliseconds wait, std::string_view who);

// The key-value bucket `bucket`, created when missing with history 1 and `ttl` (0: values never expire).
result<kv_ptr> open_bucket(jsCtx* js, const std::string& bucket, std::chrono::milliseconds ttl, std::string_view who);

}  // namespace rtcache::cluster::detail
