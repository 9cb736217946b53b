// Demo tokens: mints the HS256 JWTs rtcache and the demo API accept, for a chosen role and factory set. Used by
// the dev-only endpoint POST /api/_token and by the simulator's own requests; never part of a real deployment,
// where the identity provider signs tokens.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace rtcache::demo {

struct token_request {
  std::string role = "authenticated";  // anon | authenticated | service_role
  std::string subject = "demo-user";
  std::vector<std::string> factory_ids;  // app_metadata.factory_ids (not written for service_role)
  std::chrono::sys_seconds expires_at{};
};

// header.payload.signature, base64url without padding, signed with HMAC-SHA256 over `secret`.
// REQUIRES: factory ids are valid contract ids (no JSON escaping is needed for them).
std::string mint_demo_token(std::string_view secret, const token_request& req);

}  // namespace rtcache::demo
