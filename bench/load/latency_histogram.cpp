// Bucketing and quantiles of latency_histogram.
#include "latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace rtcache::load {

int latency_histogram::bucket_of(std::int64_t us) noexcept {
  if (us < k_linear_us) return static_cast<int>(std::max<std::int64_t>(us, 0));
  const auto u = static_cast<std::uint64_t>(us);
  const int octave = static_cast<int>(std::bit_width(u)) - static_cast<int>(std::bit_width(static_cast<std::uint64_t>(k_linear_us)));  // 0 for [1024, 2048)
  if (octave >= k_octaves) return k_buckets - 1;
  const std::uint64_t base = std::uint64_t{k_linear_us} << octave;
  const auto sub = static_cast<int>((u - base) * k_sub_buckets / base);
  return k_linear_us + octave * k_sub_buckets + sub;
}

std::int64_t latency_histogram::upper_edge_us(int bucket) noexcept {
  if (bucket < k_linear_us) return bucket + 1;
  const int octave = (bucket - k_linear_us) / k_sub_buckets;
  const int sub = (bucket - k_linear_us) % k_sub_buckets;
  const std::int64_t base = std::int64_t{k_linear_us} << octave;
  return base + base * (sub + 1) / k_sub_buckets;
}

void latency_histogram::record(std::int64_t ns) noexcept {
  ns = std::max<std::int64_t>(ns, 0);
  ++buckets_[static_cast<std::size_t>(bucket_of(ns / 1000))];
  ++count_;
  sum_ns_ += ns;
  max_ns_ = std::max(max_ns_, ns);
}

void latency_histogram::merge(const latency_histogram& other) noexcept {
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ns_ += other.sum_ns_;
  max_ns_ = std::max(max_ns_, other.max_ns_);
}

std::int64_t latency_histogram::quantile_ns(double q) const noexcept {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(upper_edge_us(static_cast<int>(i)) * 1000, max_ns_);
  }
  return max_ns_;
}

}  // namespace rtcache::load
