// Rates and the printed report of the WAL -> event benchmark (see wal_figures.hpp).
#include "wal_figures.hpp"

#include <cstdio>

namespace rtcache::bench {

namespace {

double seconds(std::chrono::nanoseconds d) noexcept {
  return static_cast<double>(d.count()) / 1e9;
}

void line(std::string& out, const char* name, double value, const char* unit, int decimals) {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, "%s %.*f %s\n", name, decimals, value, unit);
  out += buffer;
}

void line(std::string& out, const char* name, std::uint64_t value, const char* unit) {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, "%s %llu %s\n", name, static_cast<unsigned long long>(value), unit);
  out += buffer;
}

}  // namespace

double per_second(std::uint64_t count, std::chrono::nanoseconds d) noexcept {
  if (d.count() <= 0) return 0.0;
  return static_cast<double>(count) / seconds(d);
}

double rate_ratio(const wal_figures& f) noexcept {
  const double pg = per_second(f.row_changes, f.pg_wall);
  const double rt = per_second(f.rt_rows, f.rt_wall);
  if (pg <= 0.0 || rt <= 0.0) return 0.0;
  return rt / pg;
}

double null_ratio(const wal_figures& f) noexcept {
  const double pg = per_second(f.row_changes, f.pg_wall);
  const double null = per_second(f.null_rows, f.null_wall);
  if (pg <= 0.0 || null <= 0.0) return 0.0;
  return null / pg;
}

double walsender_bound_rate(const wal_figures& f) noexcept {
  return per_second(f.rt_rows, f.walsender_cpu);
}

double ceiling_ratio(const wal_figures& f) noexcept {
  const double rt = per_second(f.rt_rows, f.rt_wall);
  const double null = per_second(f.null_rows, f.null_wall);
  if (rt <= 0.0 || null <= 0.0) return 0.0;
  return rt / null;
}

std::string format_figures(const wal_figures& f) {
  std::string out;
  line(out, "workload_row_changes", f.row_changes, "changes");
  line(out, "workload_transactions", f.transactions, "transactions");
  line(out, "pg_decode_messages", f.pg_messages, "messages");
  line(out, "pg_decode_seconds", seconds(f.pg_wall), "s", 3);
  line(out, "pg_decode_rate", per_second(f.row_changes, f.pg_wall), "changes/s", 0);
  line(out, "rtcache_rows", f.rt_rows, "changes");
  line(out, "rtcache_seconds", seconds(f.rt_wall), "s", 3);
  line(out, "rtcache_streaming_seconds", seconds(f.rt_streaming), "s", 3);
  line(out, "rtcache_rate", per_second(f.rt_rows, f.rt_wall), "changes/s", 0);
  line(out, "rtcache_streaming_rate", per_second(f.rt_rows, f.rt_streaming), "changes/s", 0);
  line(out, "rtcache_events", f.rt_events, "events");
  line(out, "rtcache_event_rate", per_second(f.rt_events, f.rt_wall), "events/s", 0);
  line(out, "rtcache_deliveries", f.rt_deliveries, "deliveries");
  line(out, "rtcache_events_without_subscriber", f.rt_dropped, "events");
  line(out, "rtcache_thread_cpu_seconds", seconds(f.rt_cpu), "s", 3);
  line(out, "walsender_cpu_seconds", seconds(f.walsender_cpu), "s", 3);
  line(out, "walsender_bound_rate", walsender_bound_rate(f), "changes/s", 0);
  line(out, "null_consumer_rows", f.null_rows, "changes");
  line(out, "null_consumer_seconds", seconds(f.null_wall), "s", 3);
  line(out, "null_consumer_rate", per_second(f.null_rows, f.null_wall), "changes/s", 0);
  line(out, "null_consumer_thread_cpu_seconds", seconds(f.null_cpu), "s", 3);
  line(out, "null_consumer_walsender_cpu_seconds", seconds(f.null_walsender_cpu), "s", 3);
  line(out, "ratio_rtcache_to_pg", rate_ratio(f) * 100.0, "%", 1);
  line(out, "ratio_null_consumer_to_pg", null_ratio(f) * 100.0, "%", 1);
  const double pg = per_second(f.row_changes, f.pg_wall);
  line(out, "ratio_walsender_bound_to_pg", pg > 0.0 ? 100.0 * walsender_bound_rate(f) / pg : 0.0, "%", 1);
  line(out, "ratio_rtcache_to_null_consumer", ceiling_ratio(f) * 100.0, "%", 1);
  return out;
}

}  // namespace rtcache::bench
