// What a client is told when its token is refused, in the words supabase/realtime uses (user_socket.ex
// error_response/1, realtime_channel.ex shutdown_response/2), so realtime-js users see familiar errors.
// The precise auth_error::message stays in rtcache's logs: it can name keys and claim values.
#include "auth/auth.hpp"
#include "rtcache/core/json_text.hpp"  // one escaper for every producer of JSON text

namespace rtcache::auth {

namespace {

struct wording {
  int status;
  std::string_view log_code;  // Supabase's prefix in a phx_join refusal reason
  std::string_view text;
};

wording word(auth_errc code) {
  switch (code) {
    case auth_errc::missing_token: return {401, "MissingAPIKey", "API key is missing"};
    case auth_errc::too_long:
    case auth_errc::malformed: return {401, "MalformedJWT", "The token provided is not a valid JWT"};
    case auth_errc::unsupported_alg:
    case auth_errc::unknown_key:
    case auth_errc::key_mismatch:
      return {401, "JwtSignerError", "Failed to generate JWT signer, check your JWT secret or JWKS configuration"};
    case auth_errc::bad_signature: return {401, "JwtSignatureError", "Failed to validate JWT signature"};
    case auth_errc::missing_claim: return {401, "InvalidJWTToken", "Fields `role` and `exp` are required in JWT"};
    case auth_errc::bad_claim: return {401, "InvalidJWTToken", "The token provided is not a valid JWT"};
    case auth_errc::expired: return {401, "InvalidJWTToken", "Token has expired"};
    case auth_errc::not_yet_valid: return {401, "InvalidJWTToken", "Token is not valid yet"};
    case auth_errc::bad_audience: return {401, "InvalidJWTToken", "Token audience is not accepted"};
    case auth_errc::bad_role: return {403, "Unauthorized", "Token role is not allowed"};
    case auth_errc::bad_scope: return {403, "Unauthorized", "Token factory scope is not valid"};
    case auth_errc::unknown_api_key:
      return {401, "InvalidAPIKey", "Invalid API key: not a publishable or secret key of this server"};
    case auth_errc::bad_key:
    case auth_errc::bad_config: break;
  }
  return {500, "UnknownErrorOnChannel", "Error connecting to Realtime"};
}

// "Token has expired 12 seconds ago", as realtime's ChannelsAuthorization words it.
std::string text_with_detail(const auth_error& e) {
  const wording w = word(e.code);
  if (e.code == auth_errc::expired)
    return std::string(w.text) + " " + std::to_string(e.seconds_past_exp) + " seconds ago";
  return std::string(w.text);
}

}  // namespace

http_refusal to_http_refusal(const auth_error& e) {
  const wording w = word(e.code);
  http_refusal out{w.status, {}};
  out.body = "{\"error\":";
  core::append_json_string(out.body, w.text);
  out.body += "}";
  return out;
}

std::string join_refusal_reason(const auth_error& e) {
  return std::string(word(e.code).log_code) + ": " + text_with_detail(e);
}

std::string system_refusal_message(const auth_error& e) {
  return text_with_detail(e);
}

}  // namespace rtcache::auth
