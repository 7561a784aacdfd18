// The Prometheus textfile (node_exporter's textfile collector reads *.prom files) of
// metrics.prometheus_textfile: one file for every grootfs run that names it, kept across runs.
//
//   grootfs_runs_total{command,store}                counter: grootfs-COMMAND.run
//   grootfs_run_successes_total{command,store}       counter: grootfs-COMMAND.run.success
//   grootfs_run_failures_total{command,store}        counter: grootfs-COMMAND.run.fail
//   grootfs_<metric>_seconds{store} (_sum, _count)   summary of each nanos ValueMetric
//                                                    (ImageCreationTime -> image_creation_time)
//   grootfs_<metric>_bytes{store}                    gauge: the last StoreUsage, UnusedLayersSize
//
// Counters and summaries accumulate: each run reads the file under an flock of FILE.lock,
// adds its own figures and replaces the file atomically (a temp file in the same directory,
// then rename), so the collector never reads half a file and no run's figures are lost.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace grootfs::frontend::metrics {

struct RunFigures {
  std::string command, store;
  bool success = false;
  std::vector<std::pair<std::string, double>> durations_ns;  // (ValueMetric name, nanos)
  std::map<std::string, double> bytes;                       // ValueMetric name -> bytes
};

// "ImageCreationTime" -> "grootfs_image_creation_time".
std::string PrometheusName(const std::string& value_metric);

// Series ("name{labels}") -> value, from the text of an earlier file; lines it does not know
// (comments, anything malformed) are skipped.
std::map<std::string, double> ParseSeries(const std::string& text);

// The new file's text: `old` with `run` added.
std::string Render(std::map<std::string, double> series, const RunFigures& run);

// Read-modify-write of `path` as described above. Throws Error (the caller logs it).
void UpdateTextfile(const std::string& path, const RunFigures& run,
                    std::chrono::milliseconds lock_timeout = std::chrono::milliseconds(2000));

}  // namespace grootfs::frontend::metrics
