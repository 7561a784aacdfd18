#include "frontend/metrics/metrics.h"

#include <unistd.h>

#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "frontend/log.h"
#include "frontend/metrics/dropsonde.h"
#include "frontend/metrics/prometheus_file.h"

namespace grootfs::frontend::metrics {
namespace {

constexpr const char* kOrigin = "grootfs";

struct State {
  std::mutex mu;
  bool enabled = false;
  std::string command, textfile, store;
  UdpSender udp;
  RunFigures run;
};

State& S() {
  static State* s = new State;  // never destroyed: workers may still report during exit
  return *s;
}

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void Configure(const std::string& command, const std::string& store,
               const std::string& metron_endpoint, const std::string& prometheus_textfile) {
  State& s = S();
  std::lock_guard lock(s.mu);
  s.command = command;
  s.textfile = prometheus_textfile;
  s.run.command = command;
  s.run.store = store;
  if (!metron_endpoint.empty()) {
    s.udp = UdpSender(metron_endpoint);
    if (!s.udp.ok()) Logger::Get().Info("metrics-disabled", {{"reason", s.udp.reason()}});
  }
  s.enabled = s.udp.ok() || !s.textfile.empty();
}

bool Enabled() {
  std::lock_guard lock(S().mu);
  return S().enabled;
}

void Value(const std::string& name, double value, const std::string& unit) {
  State& s = S();
  std::lock_guard lock(s.mu);
  if (!s.enabled) return;
  s.udp.Send(ValueMetricEnvelope(kOrigin, name, value, unit, NowNs()));
  if (unit == "nanos")
    s.run.durations_ns.emplace_back(name, value);
  else if (unit == "bytes")
    s.run.bytes[name] = value;
}

void Duration(const std::string& name, std::chrono::nanoseconds d) {
  Value(name, static_cast<double>(d.count()), "nanos");
}

void Bytes(const std::string& name, std::uint64_t bytes) {
  Value(name, static_cast<double>(bytes), "bytes");
}

std::string DurationMetricOf(const std::string& command) {
  if (command == "create") return "ImageCreationTime";
  if (command == "delete") return "ImageDeletionTime";
  if (command == "clean") return "ImageCleanTime";
  if (command == "stats") return "ImageStatsTime";
  return "";
}

void Finish(bool success, const std::string& error, std::chrono::nanoseconds took) {
  if (!Enabled()) return;
  const std::string command = S().command;
  const std::string duration = DurationMetricOf(command);
  if (success && !duration.empty()) Duration(duration, took);
  State& s = S();
  std::lock_guard lock(s.mu);
  const std::string prefix = "grootfs-" + command;
  s.udp.Send(CounterEnvelope(kOrigin, prefix + ".run", 1, NowNs()));
  s.udp.Send(
      CounterEnvelope(kOrigin, prefix + (success ? ".run.success" : ".run.fail"), 1, NowNs()));
  if (!success)
    s.udp.Send(
        ErrorEnvelope("grootfs-error." + command, "grootfs-error." + command, error, NowNs()));
  if (s.textfile.empty()) return;
  s.run.success = success;
  // The file is the operator's (the textfile collector's directory is usually root's): written
  // with the invoking user's identity again, not the store owner's the command took. This is
  // the command's last act (main.cpp), so the ids are not changed back.
  if (geteuid() != getuid()) {
    (void)!setresgid(static_cast<gid_t>(-1), getgid(), static_cast<gid_t>(-1));
    (void)!setresuid(static_cast<uid_t>(-1), getuid(), static_cast<uid_t>(-1));
  }
  try {
    UpdateTextfile(s.textfile, s.run);
  } catch (const std::exception& e) {
    Logger::Get().Error("metrics-textfile-not-written", {{"error", e.what()}});
  }
}

}  // namespace grootfs::frontend::metrics
