// The metrics Garden's operators chart, as GrootFS emits them:
//   ValueMetrics   ImageCreationTime, ImageDeletionTime, ImageCleanTime, UnpackTime and
//                  DownloadTime (per layer), SharedLockingTime, ExclusiveLockingTime (nanos);
//                  StoreUsage, UnusedLayersSize (bytes)
//   CounterEvents  grootfs-COMMAND.run, then grootfs-COMMAND.run.success or .run.fail
//   Error          origin and source grootfs-error.COMMAND, for a failed command
// Each goes at once as a dropsonde envelope over UDP to the config's metron_endpoint
// (fire and forget: a slow or absent agent costs nothing), and at the end of the command the
// same figures go to the Prometheus textfile of metrics.prometheus_textfile (prometheus_file.h).
// Without either setting every call here is a no-op. Nothing here ever fails a command.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace grootfs::frontend::metrics {

// Once, early in main (before the store owner's identity is taken).
void Configure(const std::string& command, const std::string& store,
               const std::string& metron_endpoint, const std::string& prometheus_textfile);
bool Enabled();

void Value(const std::string& name, double value, const std::string& unit);
void Duration(const std::string& name, std::chrono::nanoseconds d);
void Bytes(const std::string& name, std::uint64_t bytes);

// The end of the command: the counters, the Error envelope (with `error`'s text) when it
// failed, COMMAND's duration metric when it succeeded, then the textfile, written as the
// invoking user (root again after ActAsStoreOwner). The command's last call.
void Finish(bool success, const std::string& error, std::chrono::nanoseconds took);

// The dropsonde name of a command's duration ("create" -> "ImageCreationTime"), "" for none.
std::string DurationMetricOf(const std::string& command);

}  // namespace grootfs::frontend::metrics
