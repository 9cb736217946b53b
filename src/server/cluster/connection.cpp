// The connection: nats_settings turned into nats.c options, callbacks surfaced as events, a bounded close.
#include "cluster/connection.hpp"

#include "cluster/nats_handles.hpp"

#include <chrono>
#include <random>
#include <string>
#include <vector>

namespace rtcache::cluster {

std::string_view to_string(connection_event_kind kind) noexcept {
  switch (kind) {
    case connection_event_kind::connected: return "connected";
    case connection_event_kind::disconnected: return "disconnected";
    case connection_event_kind::reconnected: return "reconnected";
    case connection_event_kind::closed: return "closed";
    case connection_event_kind::async_error: return "async_error";
  }
  return "unknown";
}

namespace detail {

error make_error(natsStatus status, jsErrCode js_code, std::string_view what) {
  error e;
  e.nats_status = static_cast<int>(status);
  e.js_code = static_cast<int>(js_code);
  switch (status) {
    case NATS_TIMEOUT: e.code = errc::timeout; break;
    case NATS_CONNECTION_CLOSED: e.code = errc::connection_closed; break;
    case NATS_NO_SERVER: e.code = errc::connect_failed; break;
    case NATS_INSUFFICIENT_BUFFER: e.code = errc::buffer_full; break;
    default: e.code = errc::nats; break;
  }
  if (js_code == JSStreamNotFoundErr) e.code = errc::stream_not_found;
  e.message = std::string(what);
  e.message += ": ";
  e.message += natsStatus_GetText(status);
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0' && std::string_view(last) != natsStatus_GetText(status)) {
    e.message += " (";
    e.message += last;
    e.message += ")";
  }
  if (js_code != 0) e.message += " [JetStream error " + std::to_string(static_cast<int>(js_code)) + "]";
  return e;
}

result<js_ctx_ptr> jetstream_context(const connection& conn, std::chrono::milliseconds wait, std::string_view who) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = wait.count();
  jsCtx* js = nullptr;
  const natsStatus s = natsConnection_JetStream(&js, conn.handles().nc, &jo);
  if (s != NATS_OK) return make_error(s, std::string(who) + ": creating its JetStream context");
  return js_ctx_ptr(js);
}

result<kv_ptr> open_bucket(jsCtx* js, const std::string& bucket, std::chrono::milliseconds ttl, std::string_view who) {
  kvStore* kv = nullptr;
  natsStatus s = js_KeyValue(&kv, js, bucket.c_str());
  if (s == NATS_NOT_FOUND) {
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = bucket.c_str();
    kc.History = 1;
    kc.TTL = std::chrono::duration_cast<std::chrono::nanoseconds>(ttl).count();  // nats.c: nanoseconds
    s = js_CreateKeyValue(&kv, js, &kc);
  }
  if (s != NATS_OK) return make_error(s, std::string(who) + ": opening the bucket '" + bucket + "'");
  return kv_ptr(kv);
}

namespace {

connection_callbacks& callbacks_of(void* closure) {
  return *static_cast<connection_callbacks*>(closure);
}

void emit(connection_callbacks& cb, connection_event_kind kind, std::string detail) {
  if (cb.handler) cb.handler(connection_event{kind, std::move(detail)});
}

std::string url_of(natsConnection* nc) {
  char buf[256] = {};
  if (natsConnection_GetConnectedUrl(nc, buf, sizeof buf) != NATS_OK) return {};
  return buf;
}

void on_connected(natsConnection* nc, void* closure) {
  emit(callbacks_of(closure), connection_event_kind::connected, url_of(nc));
}

void on_disconnected(natsConnection* /*nc*/, void* closure) {
  auto& cb = callbacks_of(closure);
  cb.disconnects.fetch_add(1, std::memory_order_relaxed);
  emit(cb, connection_event_kind::disconnected, {});
}

void on_reconnected(natsConnection* nc, void* closure) {
  auto& cb = callbacks_of(closure);
  cb.reconnects.fetch_add(1, std::memory_order_relaxed);
  emit(cb, connection_event_kind::reconnected, url_of(nc));
}

void on_closed(natsConnection* /*nc*/, void* closure) {
  auto& cb = callbacks_of(closure);
  emit(cb, connection_event_kind::closed, {});
  std::lock_guard lock(cb.mu);
  cb.closed = true;
  cb.cv.notify_all();
}

// The subscription is not touched: the error may be delivered after its owner destroyed it (an ordered
// consumer restarting after a drop), and nats.c's handle is then freed memory.
void on_async_error(natsConnection* /*nc*/, natsSubscription* /*sub*/, natsStatus status, void* closure) {
  auto& cb = callbacks_of(closure);
  cb.async_errors.fetch_add(1, std::memory_order_relaxed);
  emit(cb, connection_event_kind::async_error, natsStatus_GetText(status));
}

// nats.c asks for the wait after each full round over the URLs; core's backoff caps and jitters it.
int64_t reconnect_delay(natsConnection* /*nc*/, int attempts, void* closure) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  const auto attempt = static_cast<std::uint32_t>(attempts > 0 ? attempts - 1 : 0);
  return core::backoff_delay(callbacks_of(closure).reconnect, attempt, draw).count();
}

struct options_deleter {
  void operator()(natsOptions* o) const noexcept { natsOptions_Destroy(o); }
};

std::string join(const std::vector<std::string>& problems) {
  std::string out;
  for (const auto& p : problems) {
    if (!out.empty()) out += "; ";
    out += p;
  }
  return out;
}

}  // namespace
}  // namespace detail

connection::connection(std::unique_ptr<detail::connection_handles> handles) : handles_(std::move(handles)) {}

result<std::unique_ptr<connection>> connection::connect(const nats_settings& settings,
                                                        connection_event_handler on_event) {
  using namespace detail;
  if (auto problems = validate(settings); !problems.empty()) {
    return error{errc::invalid_settings, 0, 0, "nats settings: " + join(problems)};
  }
  auto callbacks = std::make_shared<connection_callbacks>();
  callbacks->handler = std::move(on_event);
  callbacks->reconnect = settings.reconnect;
  void* closure = callbacks.get();

  natsOptions* raw = nullptr;
  if (natsStatus s = natsOptions_Create(&raw); s != NATS_OK) return make_error(s, "creating NATS options");
  std::unique_ptr<natsOptions, options_deleter> opts(raw);

  std::vector<const char*> urls;
  for (const auto& u : settings.urls) urls.push_back(u.c_str());
  natsStatus s = natsOptions_SetServers(opts.get(), urls.data(), static_cast<int>(urls.size()));
  // Keep the configured order: the first URL is the preferred (nearest) server.
  if (s == NATS_OK) s = natsOptions_SetNoRandomize(opts.get(), true);
  if (s == NATS_OK && !settings.name.empty()) s = natsOptions_SetName(opts.get(), settings.name.c_str());
  if (s != NATS_OK) return make_error(s, "nats_urls/name");

  if (!settings.credentials_file.empty()) {
    s = natsOptions_SetUserCredentialsFromFiles(opts.get(), settings.credentials_file.c_str(), nullptr);
  } else if (!settings.nkey.empty()) {
    s = natsOptions_SetNKeyFromSeed(opts.get(), settings.nkey.c_str(), settings.nkey_seed_file.c_str());
  } else if (!settings.token.empty()) {
    s = natsOptions_SetToken(opts.get(), settings.token.c_str());
  } else if (!settings.user.empty()) {
    s = natsOptions_SetUserInfo(opts.get(), settings.user.c_str(), settings.password.c_str());
  }
  if (s != NATS_OK) return make_error(s, "credentials");

  const auto& tls = settings.tls;
  bool secure = tls.required || !tls.ca_file.empty() || !tls.cert_file.empty();
  for (const auto& u : settings.urls) secure = secure || u.starts_with("tls://");
  if (secure) {
    s = natsOptions_SetSecure(opts.get(), true);
    if (s == NATS_OK && !tls.ca_file.empty())
      s = natsOptions_LoadCATrustedCertificates(opts.get(), tls.ca_file.c_str());
    if (s == NATS_OK && !tls.cert_file.empty()) {
      s = natsOptions_LoadCertificatesChain(opts.get(), tls.cert_file.c_str(), tls.key_file.c_str());
    }
    if (s == NATS_OK && !tls.expected_hostname.empty()) {
      s = natsOptions_SetExpectedHostname(opts.get(), tls.expected_hostname.c_str());
    }
    if (s != NATS_OK) return make_error(s, "tls");
  }

  s = natsOptions_SetTimeout(opts.get(), settings.connect_timeout.count());
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts.get(), true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), settings.max_reconnects);
  if (s == NATS_OK) s = natsOptions_SetCustomReconnectDelay(opts.get(), reconnect_delay, closure);
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectBufSize(opts.get(), static_cast<int>(settings.reconnect_buffer_bytes));
  }
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts.get(), settings.ping_interval.count());
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts.get(), settings.max_pings_out);
  if (s == NATS_OK) s = natsOptions_SetMaxPendingMsgs(opts.get(), settings.subscription_pending_msgs);
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts.get(), settings.send_asap);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts.get(), on_disconnected, closure);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts.get(), on_reconnected, closure);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts.get(), on_closed, closure);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts.get(), on_async_error, closure);
  if (s == NATS_OK && settings.retry_on_failed_connect) {
    s = natsOptions_SetRetryOnFailedConnect(opts.get(), true, on_connected, closure);
  }
  if (s != NATS_OK) return make_error(s, "connection options");

  auto handles = std::make_unique<connection_handles>();
  handles->callbacks = callbacks;
  s = natsConnection_Connect(&handles->nc, opts.get());
  if (s != NATS_OK && !(s == NATS_NOT_YET_CONNECTED && settings.retry_on_failed_connect)) {
    error e = make_error(s, "connecting to " + join(settings.urls));
    if (e.code == errc::nats) e.code = errc::connect_failed;
    if (handles->nc != nullptr) natsConnection_Destroy(handles->nc);
    return e;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  s = natsConnection_JetStream(&handles->js, handles->nc, &jo);
  if (s != NATS_OK) {
    error e = make_error(s, "creating the JetStream context");
    natsConnection_Destroy(handles->nc);
    return e;
  }
  return std::unique_ptr<connection>(new connection(std::move(handles)));
}

void detail::connection_handles::retire(std::function<void()> release) {
  std::function<void()> oldest;
  {
    std::lock_guard lock(retired_mu_);
    retired_.push_back(std::move(release));
    if (retired_.size() > k_max_retired) {
      oldest = std::move(retired_.front());
      retired_.pop_front();
    }
  }
  if (oldest) oldest();
}

std::size_t detail::connection_handles::retired() const {
  std::lock_guard lock(retired_mu_);
  return retired_.size();
}

void detail::connection_handles::run_retired() {
  std::deque<std::function<void()>> all;
  {
    std::lock_guard lock(retired_mu_);
    all.swap(retired_);
  }
  for (auto& release : all) release();
}

connection::~connection() {
  if (!handles_) return;
  auto& h = *handles_;
  jsCtx_Destroy(h.js);
  natsConnection_Close(h.nc);
  bool closed = false;
  {
    std::unique_lock lock(h.callbacks->mu);
    closed = h.callbacks->cv.wait_for(lock, std::chrono::seconds(5), [&] { return h.callbacks->closed; });
  }
  h.run_retired();  // the read loop has stopped: no message reaches their subscriptions any more
  natsConnection_Destroy(h.nc);
  // nats.c still holds the closure; if its closed callback did not come, keep the state alive for good.
  if (!closed) new std::shared_ptr<detail::connection_callbacks>(h.callbacks);  // NOLINT: deliberate leak
}

bool connection::connected() const {
  return natsConnection_Status(handles_->nc) == NATS_CONN_STATUS_CONNECTED;
}

std::string connection::connected_url() const {
  if (!connected()) return {};
  return detail::url_of(handles_->nc);
}

result<void> connection::flush(std::chrono::milliseconds timeout) const {
  natsStatus s = natsConnection_FlushTimeout(handles_->nc, timeout.count());
  if (s != NATS_OK) return detail::make_error(s, "flush");
  return {};
}

connection_stats connection::stats() const {
  const auto& cb = *handles_->callbacks;
  return {cb.disconnects.load(std::memory_order_relaxed), cb.reconnects.load(std::memory_order_relaxed),
          cb.async_errors.load(std::memory_order_relaxed)};
}

}  // namespace rtcache::cluster
