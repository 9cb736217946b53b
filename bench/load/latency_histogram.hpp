// Publish-to-client latency of the load generator: a fixed-memory histogram with 1 µs buckets up to 1 ms, then
// buckets 1/64 of their power of two wide (error under 1.6%), exact count, sum and maximum. Decides how a
// quantile is read: the upper edge of the bucket holding it.
#pragma once

#include <array>
#include <cstdint>

namespace rtcache::load {

class latency_histogram {
 public:
  // Records one sample of `ns` nanoseconds (negative values count as 0).
  void record(std::int64_t ns) noexcept;
  // Adds every sample of `other`.
  void merge(const latency_histogram& other) noexcept;

  std::uint64_t count() const noexcept { return count_; }
  std::int64_t max_ns() const noexcept { return max_ns_; }
  double mean_ns() const noexcept { return count_ == 0 ? 0.0 : static_cast<double>(sum_ns_) / static_cast<double>(count_); }
  // The smallest bucket upper edge at or below which a fraction `q` (0..1) of the samples lie, capped at the
  // maximum sample; 0 with no samples.
  std::int64_t quantile_ns(double q) const noexcept;

 private:
  static constexpr int k_linear_us = 1024;   // 1 µs buckets for [0, 1024 µs)
  static constexpr int k_sub_buckets = 64;   // per power of two above that
  static constexpr int k_octaves = 24;       // up to 1024 µs * 2^24, about 4.7 hours
  static constexpr int k_buckets = k_linear_us + k_sub_buckets * k_octaves;

  static int bucket_of(std::int64_t us) noexcept;
  static std::int64_t upper_edge_us(int bucket) noexcept;

  std::array<std::uint64_t, k_buckets> buckets_{};
  std::uint64_t count_ = 0;
  std::int64_t sum_ns_ = 0;
  std::int64_t max_ns_ = 0;
};

}  // namespace rtcache::load
