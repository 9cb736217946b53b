// HS256 signing with OpenSSL's one-shot HMAC.
#include "demo_token.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <stdexcept>

namespace rtcache::demo {
namespace {

std::string base64url(std::string_view in) {
  static constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(in[k])); };
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += k_alphabet[(v >> 6) & 63];
    out += k_alphabet[v & 63];
  }
  if (in.size() - i == 1) {
    const unsigned v = byte(i) << 16;
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
  } else if (in.size() - i == 2) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += k_alphabet[(v >> 18) & 63];
    out += k_alphabet[(v >> 12) & 63];
    out += k_alphabet[(v >> 6) & 63];
  }
  return out;
}

}  // namespace

std::string mint_demo_token(std::string_view secret, const token_request& req) {
  boost::json::object claims;
  claims["role"] = req.role;
  if (!req.subject.empty()) claims["sub"] = req.subject;
  claims["exp"] = req.expires_at.time_since_epoch().count();
  if (req.role != "service_role") {
    boost::json::array ids;
    for (const auto& f : req.factory_ids) ids.emplace_back(f);
    boost::json::object app;
    app["factory_ids"] = std::move(ids);
    claims["app_metadata"] = std::move(app);
  }
  const std::string signing_input =
      base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url(boost::json::serialize(claims));

  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac.data(),
           &mac_len) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");  // OpenSSL out of memory: not an expected path
  }
  return signing_input + "." + base64url(std::string_view(reinterpret_cast<const char*>(mac.data()), mac_len));
}

}  // namespace rtcache::demo
