// Uses the installed SDK: the core codec decodes and re-encodes a contract event, query_cache fetches a
// document and patches it from the event, and a wss:// realtime_client is constructed (its TLS context links
// OpenSSL through the exported targets). Prints "sdk-consumer: ok" and exits 0, or says what went wrong.
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <iostream>
#include <rtcache/client/query_cache.hpp>
#include <rtcache/client/realtime_client.hpp>
#include <rtcache/core/clock.hpp>
#include <rtcache/core/doc_types.hpp>
#include <rtcache/core/event_codec.hpp>
#include <string>

namespace {

int fail(const std::string& what) {
  std::cerr << "sdk-consumer: " << what << "\n";
  return 1;
}

}  // namespace

int main() {
  namespace core = rtcache::core;
  namespace client = rtcache::client;

  core::event_decoder decoder(core::doc_type_registry::defaults());
  const std::string in =
      R"({"type":"wo","id":"123","factoryId":"f1","action":"update","changedKeys":["status"],"version":7,)"
      R"("patch":{"status":"done"}})";
  auto ev = decoder.decode(in);
  if (!ev) return fail("decode: " + ev.error().message);
  if (ev->type != "wo" || ev->id != "123" || ev->version != 7 || !ev->patch_covers_changes()) {
    return fail("decoded the wrong event: " + core::encode(*ev));
  }
  const std::string canonical = core::encode(*ev);
  auto again = decoder.decode(canonical);
  if (!again || !(*again == *ev)) return fail("the canonical encoding does not decode to the same event");

  core::manual_clock clock;
  int fetches = 0;
  client::query_cache cache(clock, [&](const core::cache_key& key, client::fetch_callback done) {
    ++fetches;
    done(client::fetch_result::success(boost::json::object{{"id", key.id}, {"status", "open"}}, 6));
  });
  const core::cache_key key = core::key_doc("wo", "123");
  auto observer = cache.observe(key);
  const client::query_state* s = cache.state(key);
  if (s == nullptr || s->status != client::query_status::success || fetches != 1) return fail("fetch did not land");
  if (!cache.patch(key, *ev->patch, ev->version)) return fail("patch refused");
  s = cache.state(key);
  if (s->data->as_object().at("status").as_string() != "done" || s->data_version != 7) {
    return fail("patch not applied: " + boost::json::serialize(*s->data));
  }

  boost::asio::io_context ioc;
  client::realtime_options options;
  auto url = client::parse_server_url("wss://example.supabase.co/realtime/v1/websocket?apikey=anon");
  if (!url || !url->tls || url->port != "443") return fail("wss:// URL not parsed");
  options.server = *url;
  client::realtime_client realtime(ioc, clock, cache, options);
  if (realtime.connected()) return fail("connected without running");

  std::cout << "sdk-consumer: ok (" << canonical << ")\n";
  return 0;
}
