#include "cluster/lease.hpp"

#include "cluster/nats_handles.hpp"

#include <optional>
#include <utility>

namespace rtcache::cluster {

struct lease::impl {
  lease_settings settings;
  detail::js_ctx_ptr js;
  detail::kv_ptr kv;                      // destroyed before `js`
  std::optional<std::uint64_t> revision;  // of our value, while we believe we hold the lease

  ~impl() { kv.reset(); }
};

lease::lease(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
lease::~lease() = default;

result<std::unique_ptr<lease>> lease::open(const connection& conn, lease_settings settings) {
  if (settings.bucket.empty() || settings.key.empty() || settings.holder.empty() || settings.ttl < 100ms ||
      settings.timeout <= 0ms) {
    return error{errc::invalid_settings, 0, 0, "lease: bucket, key and holder are required, ttl >= 100 ms"};
  }
  auto p = std::make_unique<impl>();
  p->settings = std::move(settings);
  auto js = detail::jetstream_context(conn, p->settings.timeout, "lease");
  if (!js) return js.error();
  p->js = std::move(*js);
  auto kv = detail::open_bucket(p->js.get(), p->settings.bucket, p->settings.ttl, "lease");
  if (!kv) return kv.error();
  p->kv = std::move(*kv);
  return std::unique_ptr<lease>(new lease(std::move(p)));
}

result<bool> lease::hold() {
  auto& st = *impl_;
  const char* key = st.settings.key.c_str();
  const char* me = st.settings.holder.c_str();
  std::uint64_t rev = 0;
  if (st.revision) {
    // Renew at the revision we set: fails when the key expired and someone else took it.
    if (kvStore_UpdateString(&rev, st.kv.get(), key, me, *st.revision) == NATS_OK) {
      st.revision = rev;
      seen_holder_ = st.settings.holder;
      return true;
    }
    st.revision.reset();
  }
  if (kvStore_CreateString(&rev, st.kv.get(), key, me) == NATS_OK) {  // no live value
    st.revision = rev;
    seen_holder_ = st.settings.holder;
    return true;
  }
  kvEntry* raw = nullptr;
  natsStatus s = kvStore_Get(&raw, st.kv.get(), key);
  detail::kv_entry_ptr entry(raw);
  if (s == NATS_NOT_FOUND) return false;  // expired between the two calls: the next hold() creates it
  if (s != NATS_OK) return detail::make_error(s, "lease: reading '" + st.settings.key + "'");
  const char* value = kvEntry_ValueString(entry.get());
  const std::string holder = value != nullptr ? value : "";
  seen_holder_ = holder;
  if (!holder.empty() && holder != st.settings.holder) return false;
  // Free (released), or ours from before (this node restarted within the TTL): take it at its revision.
  if (kvStore_UpdateString(&rev, st.kv.get(), key, me, kvEntry_Revision(entry.get())) != NATS_OK) return false;
  st.revision = rev;
  seen_holder_ = st.settings.holder;
  return true;
}

void lease::release() {
  auto& st = *impl_;
  if (!st.revision) return;
  std::uint64_t rev = 0;
  (void)kvStore_UpdateString(&rev, st.kv.get(), st.settings.key.c_str(), "", *st.revision);
  st.revision.reset();
  seen_holder_.clear();
}

}  // namespace rtcache::cluster
