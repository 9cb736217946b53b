// Who may read GET /metrics (metrics_access.hpp).
#include "gateway/metrics_access.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>

namespace rtcache::gateway {

bool token_matches(std::string_view presented, std::string_view expected) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> a{};
  std::array<unsigned char, EVP_MAX_MD_SIZE> b{};
  unsigned alen = 0;
  unsigned blen = 0;
  if (EVP_Digest(presented.data(), presented.size(), a.data(), &alen, EVP_sha256(), nullptr) != 1 ||
      EVP_Digest(expected.data(), expected.size(), b.data(), &blen, EVP_sha256(), nullptr) != 1 || alen != blen) {
    return false;
  }
  return CRYPTO_memcmp(a.data(), b.data(), alen) == 0;
}

bool is_loopback(const boost::asio::ip::address& a) noexcept {
  if (a.is_loopback()) return true;
  if (!a.is_v6() || !a.to_v6().is_v4_mapped()) return false;
  return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()).is_loopback();
}

metrics_verdict metrics_access(const metrics_settings& settings, bool on_metrics_listener,
                               const boost::asio::ip::address& peer, std::string_view authorization) {
  if (settings.listen && !on_metrics_listener) return metrics_verdict::not_found;
  if (!settings.bearer_token.empty()) {
    std::string_view presented;
    if (authorization.size() > 7 && (authorization.starts_with("Bearer ") || authorization.starts_with("bearer "))) {
      presented = authorization.substr(7);
    }
    if (presented.empty() || !token_matches(presented, settings.bearer_token)) return metrics_verdict::unauthorized;
    return metrics_verdict::serve;
  }
  if (!settings.listen && !is_loopback(peer)) return metrics_verdict::forbidden;
  return metrics_verdict::serve;
}

}  // namespace rtcache::gateway
