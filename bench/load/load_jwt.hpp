// Tokens the load generator connects and publishes with: HS256 JWTs signed with the secret the server under
// test was started with, as a Supabase project or a backend would sign them.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::load {

// base64url without padding (RFC 4648 §5).
std::string base64url(std::string_view bytes);

// A compact HS256 JWS over the claims object `claims_json` (taken verbatim).
std::string sign_hs256(std::string_view claims_json, std::string_view secret);

// An `authenticated` user's token scoped to `factories` under app_metadata.factory_ids, valid from
// `now` for `ttl`.
std::string user_token(std::string_view secret, std::string_view subject, const std::vector<std::string>& factories,
                       std::chrono::sys_seconds now, std::chrono::seconds ttl);

// The backend's unscoped service_role token, valid from `now` for `ttl`.
std::string service_token(std::string_view secret, std::chrono::sys_seconds now, std::chrono::seconds ttl);

}  // namespace rtcache::load
