// Supabase API keys: format checks for the configured keys and the constant-time lookup of a presented one.
// Only SHA-256 digests of the keys are kept (OpenSSL EVP), compared with CRYPTO_memcmp.
#include "auth/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>

namespace rtcache::auth {

namespace {

auth_error fail(auth_errc code, std::string message) {
  return auth_error{code, std::move(message), 0};
}

std::string_view prefix_of(api_key_kind kind) noexcept {
  return kind == api_key_kind::publishable ? k_publishable_key_prefix : k_secret_key_prefix;
}

bool is_base64url(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// SHA-256 of `text`; all zero only if OpenSSL fails (then no configured digest matches: create() refuses such
// a key, and a presented key that cannot be hashed matches nothing).
std::array<unsigned char, 32> sha256(std::string_view text, bool& ok) noexcept {
  std::array<unsigned char, 32> out{};
  unsigned int len = 0;
  ok = EVP_Digest(text.data(), text.size(), out.data(), &len, EVP_sha256(), nullptr) == 1 && len == out.size();
  if (!ok) out.fill(0);
  return out;
}

}  // namespace

std::optional<api_key_kind> api_key_kind_of(std::string_view credential) noexcept {
  if (credential.starts_with(k_publishable_key_prefix)) return api_key_kind::publishable;
  if (credential.starts_with(k_secret_key_prefix)) return api_key_kind::secret;
  return std::nullopt;
}

std::string_view to_string(api_key_kind kind) noexcept {
  return kind == api_key_kind::publishable ? "publishable" : "secret";
}

auth_result<void> check_api_key(std::string_view key, api_key_kind kind) {
  const std::string_view prefix = prefix_of(kind);
  if (!key.starts_with(prefix)) {
    const auto other = api_key_kind_of(key);
    if (other && *other != kind) {
      return fail(auth_errc::bad_key, "is a " + std::string(to_string(*other)) + " key (" +
                                          std::string(prefix_of(*other)) + "...), not a " +
                                          std::string(to_string(kind)) + " key: list it with the " +
                                          std::string(to_string(*other)) + " keys");
    }
    if (key.starts_with("eyJ")) {
      return fail(auth_errc::bad_key,
                  "looks like a JWT (a legacy anon or service_role key): legacy keys are "
                  "tokens, verified with the JWT secret; list only " +
                      std::string(prefix) + "... keys here");
    }
    return fail(auth_errc::bad_key, "must start with " + std::string(prefix));
  }
  const std::string_view body = key.substr(prefix.size());
  if (body.size() < k_min_api_key_body || body.size() > k_max_api_key_body) {
    return fail(auth_errc::bad_key, "has " + std::to_string(body.size()) + " characters after " + std::string(prefix) +
                                        "; " + std::to_string(k_min_api_key_body) + " to " +
                                        std::to_string(k_max_api_key_body) + " are accepted");
  }
  const auto bad = std::find_if_not(body.begin(), body.end(), is_base64url);
  if (bad != body.end()) {
    // Position only: a whitespace or quote copied along with the key is the usual cause.
    return fail(auth_errc::bad_key,
                "has a character other than A-Z, a-z, 0-9, '-' and '_' at position " +
                    std::to_string(prefix.size() + static_cast<std::size_t>(bad - body.begin()) + 1));
  }
  return {};
}

auth_result<api_key_set> api_key_set::create(const std::vector<std::string>& publishable,
                                             const std::vector<std::string>& secret) {
  api_key_set out;
  const auto add = [](const std::vector<std::string>& keys, api_key_kind kind,
                      std::vector<digest>& into) -> auth_result<void> {
    if (keys.size() > k_max_api_keys) {
      return fail(auth_errc::bad_config, std::to_string(keys.size()) + " " + std::string(to_string(kind)) +
                                             " keys; the limit is " + std::to_string(k_max_api_keys));
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const std::string where = std::string(to_string(kind)) + " key " + std::to_string(i + 1);
      if (auto ok = check_api_key(keys[i], kind); !ok) {
        return fail(ok.error().code, where + " " + ok.error().message);
      }
      bool hashed = false;
      const digest d = sha256(keys[i], hashed);
      if (!hashed) return fail(auth_errc::bad_key, where + " could not be hashed (SHA-256)");
      if (std::find(into.begin(), into.end(), d) != into.end()) {
        return fail(auth_errc::bad_config, where + " is listed twice");
      }
      into.push_back(d);
    }
    return {};
  };
  if (auto ok = add(publishable, api_key_kind::publishable, out.publishable_); !ok) return ok.error();
  if (auto ok = add(secret, api_key_kind::secret, out.secret_); !ok) return ok.error();
  return out;
}

std::optional<api_key_kind> api_key_set::match(std::string_view presented) const noexcept {
  const auto kind = api_key_kind_of(presented);
  if (!kind) return std::nullopt;
  bool hashed = false;
  const digest d = sha256(presented, hashed);
  const std::vector<digest>& candidates = *kind == api_key_kind::publishable ? publishable_ : secret_;
  // Every candidate is compared, whatever the earlier ones gave: no early exit on a match.
  int equal = 0;
  for (const digest& c : candidates) equal |= CRYPTO_memcmp(c.data(), d.data(), d.size()) == 0 ? 1 : 0;
  if (equal == 0 || !hashed) return std::nullopt;
  return kind;
}

std::size_t api_key_set::size(api_key_kind kind) const noexcept {
  return kind == api_key_kind::publishable ? publishable_.size() : secret_.size();
}

}  // namespace rtcache::auth
