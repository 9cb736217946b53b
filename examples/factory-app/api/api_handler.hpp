// One API request in, one JSON answer out: authenticates the bearer token (the same HS256 JWT rtcache checks,
// with its factory scope), routes, runs the store call and records the request in the log. No sockets: the
// HTTP server feeds it, and the integration tests call it directly.
#pragma once

#include "auth/auth.hpp"
#include "request_log.hpp"
#include "routes.hpp"
#include "store.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace rtcache::demo {

struct api_response {
  int status = 200;
  std::string body;  // JSON
};

using wall_clock = std::function<std::chrono::system_clock::time_point()>;

inline constexpr std::chrono::seconds k_max_demo_token_ttl{7 * 24 * 3600};

// Thread-safety: none; owned by the server's single io thread.
class api_handler {
 public:
  // `dev_secret`: when set, the dev endpoints (/api/_token, /api/_requests) are served and tokens are minted
  // with it; when empty they answer 404. Demo and tests only.
  api_handler(store& db, const auth::jwt_verifier& verifier, std::optional<std::string> dev_secret, wall_clock now);

  // `authorization` is the Authorization header ("Bearer <jwt>"), empty when absent.
  api_response handle(std::string_view method, std::string_view target, std::string_view authorization,
                      std::string_view body);

  const request_log& log() const noexcept { return log_; }

 private:
  api_response dispatch(const route& r, const auth::principal& who, std::string_view body);
  api_response mint_token(std::string_view body);

  store& db_;
  const auth::jwt_verifier& verifier_;
  std::optional<std::string> dev_secret_;
  wall_clock now_;
  request_log log_;
};

}  // namespace rtcache::demo
