// View offsets and HMAC epochs.
#include "cluster/view_position.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace rtcache::cluster {

std::string view_class_text(const core::factory_scope& view) {
  if (view.is_unscoped()) return "*";
  std::string out = "=";
  bool first = true;
  for (const auto& id : view.factory_ids()) {
    if (!first) out.push_back(',');
    first = false;
    out.append(id);
  }
  return out;
}

bool view_admits(const core::factory_scope& view, std::string_view factory) noexcept {
  return view.is_unscoped() || (!factory.empty() && view.contains(factory));
}

partition_fact fact_of(std::string_view factory, const partition_state& state, std::uint64_t first_seq) {
  partition_fact f{std::string(factory), state.generation, std::nullopt};
  if (is_live(state, first_seq)) f.counter = state.counter;
  return f;
}

std::uint64_t view_offset(std::span<const partition_fact> facts, const core::factory_scope& view) noexcept {
  std::uint64_t sum = 0;
  for (const auto& p : facts) {
    if (p.counter && view_admits(view, p.factory)) sum += *p.counter;  // partitions * 2^53: no overflow in practice
  }
  return sum;
}

epoch_deriver::epoch_deriver(std::string secret) : secret_(std::move(secret)) {
  // Not an assert: a release build would derive epochs under an empty or short key, which anyone can compute.
  if (secret_.size() < k_min_secret_bytes) {
    throw std::invalid_argument("cluster secret: " + std::to_string(secret_.size()) + " bytes, at least " +
                                std::to_string(k_min_secret_bytes) + " are needed to derive unguessable epochs");
  }
}

std::string epoch_deriver::digest(std::string_view data) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len) == nullptr ||
      len < 16) {
    // An epoch that cannot be derived must never be replaced by a guessable one.
    std::fprintf(stderr, "rtcache cluster: HMAC-SHA256 failed; refusing to hand out an underived epoch\n");
    std::abort();
  }
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (std::size_t i = 0; i < 16; ++i) {
    out[2 * i] = k_hex[mac[i] >> 4];
    out[2 * i + 1] = k_hex[mac[i] & 0xf];
  }
  return out;
}

namespace {

void append_field(std::string& out, std::string_view field) {
  out.append(field);
  out.push_back('\0');
}

std::string basis_text(const epoch_basis& b, const core::factory_scope& view) {
  std::string data;
  data.reserve(64 + b.stream_identity.size() + b.channel.size());
  append_field(data, "rtcache-epoch-v2");
  append_field(data, b.stream_identity);
  append_field(data, b.channel);  // no NUL inside: channel names refuse control bytes, internal ones use \x01/\x02
  append_field(data, view_class_text(view));
  append_field(data, std::to_string(b.gap));
  return data;
}

}  // namespace

std::string epoch_deriver::epoch(const epoch_basis& basis, std::span<const partition_fact> facts,
                                 const core::factory_scope& view) const {
  std::vector<const partition_fact*> counted;
  for (const auto& f : facts) {
    if (view_admits(view, f.factory) && (!f.counter || f.generation != 0)) counted.push_back(&f);
  }
  std::sort(counted.begin(), counted.end(),
            [](const partition_fact* x, const partition_fact* y) { return x->factory < y->factory; });
  std::string data = basis_text(basis, view);
  append_field(data, "partitions");
  for (const partition_fact* f : counted) {
    // A factory id holds no NUL (core::validate_id); the untagged partition is the empty field.
    append_field(data, f->factory);
    append_field(data, (f->counter ? "" : "limbo:") + std::to_string(f->generation));
  }
  return digest(data);
}

std::string epoch_deriver::unknown_epoch(const epoch_basis& basis, const core::factory_scope& view,
                                         std::string_view what) const {
  std::string data = basis_text(basis, view);
  append_field(data, "unknown");
  data.append(what);
  return digest(data);
}

}  // namespace rtcache::cluster
