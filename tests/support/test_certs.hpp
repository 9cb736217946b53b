// Test-only X.509 material made with OpenSSL at test time: a throwaway CA and server certificates it signs
// (P-256 keys, SHA-256, valid from an hour ago for a day). For TLS tests of clients and servers; never shipped.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace rtcache::testing {

struct pem_pair {
  std::string cert;  // PEM certificate
  std::string key;   // PEM private key (PKCS#8, unencrypted)
};

class test_ca {
 public:
  explicit test_ca(const std::string& common_name);
  ~test_ca();
  test_ca(test_ca&&) noexcept;
  test_ca& operator=(test_ca&&) noexcept;

  // The CA's certificate: what a client is told to trust.
  const std::string& cert_pem() const noexcept;
  // A server certificate for `names`: each a DNS name, or an IPv4/IPv6 literal (then an IP SAN).
  pem_pair issue(const std::vector<std::string>& names) const;

 private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace rtcache::testing
