#include "frontend/metrics/prometheus_file.h"

#include <gtest/gtest.h>

#include "frontend/metrics/dropsonde.h"

namespace grootfs::frontend::metrics {
namespace {

TEST(PrometheusFile, NamesFollowTheValueMetrics) {
  EXPECT_EQ(PrometheusName("ImageCreationTime"), "grootfs_image_creation_time");
  EXPECT_EQ(PrometheusName("UnusedLayersSize"), "grootfs_unused_layers_size");
}

TEST(PrometheusFile, CountersAndSummariesAccumulateGaugesAreReplaced) {
  RunFigures run;
  run.command = "create";
  run.store = "/var/lib/a \"b\"";
  run.success = true;
  run.durations_ns = {{"DownloadTime", 1.5e9}, {"DownloadTime", 0.5e9}};
  run.bytes["StoreUsage"] = 100;
  const std::string first = Render({}, run);
  const std::string labels = "{command=\"create\",store=\"/var/lib/a \\\"b\\\"\"}";
  EXPECT_NE(first.find("# TYPE grootfs_runs_total counter\n"), std::string::npos) << first;
  EXPECT_NE(first.find("grootfs_runs_total" + labels + " 1\n"), std::string::npos) << first;
  EXPECT_NE(first.find("# TYPE grootfs_download_time_seconds summary\n"), std::string::npos);
  EXPECT_NE(first.find("grootfs_download_time_seconds_sum{store=\"/var/lib/a \\\"b\\\"\"} 2\n"),
            std::string::npos)
      << first;
  run.bytes["StoreUsage"] = 50;
  run.success = false;
  const auto series = ParseSeries(Render(ParseSeries(first), run));
  EXPECT_EQ(series.at("grootfs_runs_total" + labels), 2);
  EXPECT_EQ(series.at("grootfs_run_successes_total" + labels), 1);
  EXPECT_EQ(series.at("grootfs_run_failures_total" + labels), 1);
  EXPECT_EQ(series.at("grootfs_download_time_seconds_count{store=\"/var/lib/a \\\"b\\\"\"}"), 4);
  EXPECT_EQ(series.at("grootfs_store_usage_bytes{store=\"/var/lib/a \\\"b\\\"\"}"), 50);
}

TEST(Dropsonde, EnvelopesAreSmallAndDistinct) {
  const auto v = ValueMetricEnvelope("grootfs", "StoreUsage", 42, "bytes", 1);
  const auto c = CounterEnvelope("grootfs", "grootfs-create.run", 1, 1);
  const auto e = ErrorEnvelope("grootfs-error.create", "grootfs-error.create", "boom", 1);
  EXPECT_LT(v.size(), 64u);
  EXPECT_NE(v, c);
  EXPECT_NE(e.find("boom"), std::string::npos);
  EXPECT_FALSE(UdpSender("no-port").ok());
  EXPECT_TRUE(UdpSender("127.0.0.1:9").ok());
}

}  // namespace
}  // namespace grootfs::frontend::metrics
