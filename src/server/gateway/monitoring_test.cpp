// The shipped Grafana dashboard (deploy/grafana/rtcache.json) and Prometheus alert rules
// (deploy/prometheus/alerts.yml) query only metrics that /metrics exports: every rtcache_* name they mention must
// be a series of the exposition with every family present (a source status given, so the pg-mode gauges are
// there too). A renamed or dropped metric fails here before an operator finds an empty panel.
#include "gateway/metrics.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace rtcache::gateway {
namespace {

namespace json = boost::json;

std::string read_file(const std::string& relative) {
  std::ifstream in(std::string(RTCACHE_SOURCE_DIR) + "/" + relative);
  EXPECT_TRUE(in.good()) << relative;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::set<std::string> metric_names_in(const std::string& text) {
  static const std::regex name(R"(rtcache_[a-z0-9_]+)");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator(); ++it) {
    out.insert(it->str());
  }
  return out;
}

// Every series name (labels stripped) of a full exposition: all families, replication ones included.
std::set<std::string> exported_series() {
  gateway_metrics g;
  hub::hub_metrics h;
  replication_status s;
  s.connected = true;
  std::set<std::string> out;
  std::istringstream in(prometheus_text(g, h, &s));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    out.insert(line.substr(0, line.find_first_of("{ ")));
  }
  return out;
}

// Every "expr" and template "query" string in the dashboard.
void queries_of(const json::value& v, std::vector<std::string>& out) {
  if (const auto* o = v.if_object()) {
    for (const auto& [key, value] : *o) {
      if ((key == "expr" || key == "query" || key == "definition") && value.is_string()) {
        out.emplace_back(value.as_string());
      } else {
        queries_of(value, out);
      }
    }
  } else if (const auto* a = v.if_array()) {
    for (const auto& e : *a) queries_of(e, out);
  }
}

TEST(Monitoring, TheDashboardParsesAndQueriesOnlyExportedMetrics) {
  boost::system::error_code ec;
  const json::value dashboard = json::parse(read_file("deploy/grafana/rtcache.json"), ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(dashboard.at("panels").is_array());
  std::vector<std::string> queries;
  queries_of(dashboard, queries);
  std::string all;
  for (const auto& q : queries) all += q + "\n";
  const auto referenced = metric_names_in(all);
  const auto exported = exported_series();
  for (const auto& name : referenced) EXPECT_TRUE(exported.contains(name)) << "dashboard queries " << name;
  // What the dashboard is for (issue 15).
  for (const std::string name :
       {"rtcache_connections", "rtcache_channels", "rtcache_messages_out_total", "rtcache_replication_lag_seconds",
        "rtcache_queue_overflow_closes_total", "rtcache_joins_refused_total",
        "rtcache_replication_commit_to_publish_seconds_bucket", "rtcache_fanout_publish_to_write_seconds_bucket",
        "rtcache_join_reply_seconds_bucket"}) {
    EXPECT_TRUE(referenced.contains(name)) << "the dashboard shows no " << name;
  }
  EXPECT_NE(all.find("histogram_quantile(0.99"), std::string::npos);
  EXPECT_NE(all.find("histogram_quantile(0.5"), std::string::npos);
}

// The rule file's rules as text blocks, one per "- alert:" (a structural check: no YAML library in the build;
// scripts/package-test.sh parses the file with PyYAML too).
std::vector<std::string> alert_blocks(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = text.find("- alert:");
  while (at != std::string::npos) {
    const std::size_t next = text.find("- alert:", at + 1);
    out.push_back(text.substr(at, next == std::string::npos ? std::string::npos : next - at));
    at = next;
  }
  return out;
}

TEST(Monitoring, EveryAlertHasAForSeverityAndSummaryAndQueriesOnlyExportedMetrics) {
  const std::string text = read_file("deploy/prometheus/alerts.yml");
  ASSERT_TRUE(text.starts_with("#") || text.starts_with("groups:"));
  ASSERT_NE(text.find("\ngroups:\n"), std::string::npos);
  const auto blocks = alert_blocks(text);
  ASSERT_GE(blocks.size(), 4U);
  for (const auto& b : blocks) {
    const std::string name = b.substr(9, b.find('\n') - 9);
    EXPECT_NE(b.find("\n        expr:"), std::string::npos) << name;
    EXPECT_NE(b.find("\n        for: "), std::string::npos) << name;
    EXPECT_TRUE(b.find("\n          severity: warning") != std::string::npos ||
                b.find("\n          severity: critical") != std::string::npos)
        << name;
    EXPECT_NE(b.find("\n          summary: "), std::string::npos) << name;
  }
  const auto referenced = metric_names_in(text);
  const auto exported = exported_series();
  for (const auto& name : referenced) EXPECT_TRUE(exported.contains(name)) << "alerts.yml queries " << name;
  // Lag, slot inactive / not streaming, refusals and 4008 closes spiking (issue 15).
  for (const std::string name : {"rtcache_replication_lag_seconds", "rtcache_replication_connected",
                                 "rtcache_joins_refused_total", "rtcache_queue_overflow_closes_total"}) {
    EXPECT_TRUE(referenced.contains(name)) << "no alert on " << name;
  }
}

}  // namespace
}  // namespace rtcache::gateway
