// HS256 signing with OpenSSL's HMAC for the generator's tokens.
#include "load_jwt.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

namespace rtcache::load {

std::string base64url(std::string_view bytes) {
  static constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out.push_back(k_alphabet[(v >> 18) & 63]);
    out.push_back(k_alphabet[(v >> 12) & 63]);
    out.push_back(k_alphabet[(v >> 6) & 63]);
    out.push_back(k_alphabet[v & 63]);
  }
  if (bytes.size() - i == 1) {
    const std::uint32_t v = at(i) << 16;
    out.push_back(k_alphabet[(v >> 18) & 63]);
    out.push_back(k_alphabet[(v >> 12) & 63]);
  } else if (bytes.size() - i == 2) {
    const std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8);
    out.push_back(k_alphabet[(v >> 18) & 63]);
    out.push_back(k_alphabet[(v >> 12) & 63]);
    out.push_back(k_alphabet[(v >> 6) & 63]);
  }
  return out;
}

std::string sign_hs256(std::string_view claims_json, std::string_view secret) {
  std::string input = base64url(R"({"alg":"HS256","typ":"JWT"})");
  input.push_back('.');
  input.append(base64url(claims_json));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  input.push_back('.');
  input.append(base64url(std::string_view(reinterpret_cast<const char*>(mac), mac_len)));
  return input;
}

std::string user_token(std::string_view secret, std::string_view subject, const std::vector<std::string>& factories,
                       std::chrono::sys_seconds now, std::chrono::seconds ttl) {
  const auto iat = now.time_since_epoch().count();
  std::string claims = R"({"sub":")" + std::string(subject) +
                       R"(","role":"authenticated","aud":"authenticated","iat":)" + std::to_string(iat) +
                       R"(,"exp":)" + std::to_string(iat + ttl.count()) + R"(,"app_metadata":{"factory_ids":[)";
  for (std::size_t i = 0; i < factories.size(); ++i) {
    if (i != 0) claims.push_back(',');
    claims.append("\"").append(factories[i]).append("\"");
  }
  claims.append("]}}");
  return sign_hs256(claims, secret);
}

std::string service_token(std::string_view secret, std::chrono::sys_seconds now, std::chrono::seconds ttl) {
  const auto iat = now.time_since_epoch().count();
  return sign_hs256(R"({"role":"service_role","iss":"rtcache-load","iat":)" + std::to_string(iat) + R"(,"exp":)" +
                        std::to_string(iat + ttl.count()) + "}",
                    secret);
}

}  // namespace rtcache::load
