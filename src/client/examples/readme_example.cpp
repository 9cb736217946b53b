// Watch one work order and print every state it goes through (the minimal example of src/client/README.md).
#include "rtcache/client/realtime_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <cstdlib>
#include <iostream>

int main() {
  namespace client = rtcache::client;
  boost::asio::io_context ioc;
  client::steady_clock clock;

  // Your fetcher: load the document the way your app does (HTTP, database...) and call `done` once.
  client::query_cache cache(clock, [](const rtcache::core::cache_key& key, client::fetch_callback done) {
    done(client::fetch_result::success(boost::json::object{{"type", key.type}, {"id", key.id}}));
  });

  client::realtime_options options;
  options.server = client::parse_server_url("ws://127.0.0.1:4000").value();
  const char* token = std::getenv("RTCACHE_TOKEN");  // a JWT signed with the server's secret
  options.access_token = token ? token : "";
  client::realtime_client realtime(ioc, clock, cache, options);

  // Subscribes doc:wo:123 and factory:f1 while `view` lives; fetches, patches and refetches per the policy.
  auto view = realtime.watch_doc("wo", "123", "f1", [](const auto& key, const client::query_state& s) {
    std::cout << key.to_json() << " " << client::to_string(s.status) << " "
              << (s.data ? boost::json::serialize(*s.data) : "(no data yet)") << std::endl;
  });
  if (!view) return 1;
  realtime.start();
  ioc.run();
}
