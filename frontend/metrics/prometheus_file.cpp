#include "frontend/metrics/prometheus_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <thread>

#include "frontend/util/error.h"
#include "ipc/unique_fd.h"

namespace grootfs::frontend::metrics {
namespace {

std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string BaseName(const std::string& series) { return series.substr(0, series.find('{')); }

// The family a sample belongs to, and its type.
std::pair<std::string, const char*> FamilyOf(const std::string& name) {
  for (const char* suffix : {"_sum", "_count"})
    if (EndsWith(name, std::string("_seconds") + suffix))
      return {name.substr(0, name.size() - std::strlen(suffix)), "summary"};
  if (EndsWith(name, "_total")) return {name, "counter"};
  return {name, "gauge"};
}

std::string Help(const std::string& family, const char* type) {
  if (family == "grootfs_runs_total") return "grootfs commands run (grootfs-COMMAND.run)";
  if (family == "grootfs_run_successes_total") return "grootfs commands that succeeded";
  if (family == "grootfs_run_failures_total") return "grootfs commands that failed";
  if (std::string(type) == "summary") return "grootfs durations in seconds (dropsonde nanos)";
  return "grootfs sizes in bytes, the last measured";
}

std::string Format(double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

std::string ReadAll(int fd) {
  std::string text;
  char buffer[65536];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0)
    text.append(buffer, static_cast<std::size_t>(n));
  return text;
}

}  // namespace

std::string PrometheusName(const std::string& value_metric) {
  std::string out = "grootfs";
  for (std::size_t i = 0; i < value_metric.size(); ++i) {
    const auto c = static_cast<unsigned char>(value_metric[i]);
    if (std::isupper(c)) out += '_';
    out += std::isalnum(c) ? static_cast<char>(std::tolower(c)) : '_';
  }
  return out;
}

std::map<std::string, double> ParseSeries(const std::string& text) {
  std::map<std::string, double> series;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos || line.rfind("grootfs_", 0) != 0) continue;
    char* end = nullptr;
    const std::string value = line.substr(space + 1);
    const double v = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || *end != '\0') continue;
    series[line.substr(0, space)] = v;
  }
  return series;
}

std::string Render(std::map<std::string, double> series, const RunFigures& run) {
  const std::string store = "store=\"" + Escape(run.store) + "\"";
  const std::string command = "{command=\"" + Escape(run.command) + "\"," + store + "}";
  series["grootfs_runs_total" + command] += 1;
  series[std::string(run.success ? "grootfs_run_successes_total" : "grootfs_run_failures_total") +
         command] += 1;
  for (const auto& [name, ns] : run.durations_ns) {
    const std::string base = PrometheusName(name) + "_seconds";
    series[base + "_sum{" + store + "}"] += ns / 1e9;
    series[base + "_count{" + store + "}"] += 1;
  }
  for (const auto& [name, bytes] : run.bytes)
    series[PrometheusName(name) + "_bytes{" + store + "}"] = bytes;

  std::map<std::string, std::pair<const char*, std::vector<std::string>>> families;
  for (const auto& [key, value] : series) {
    const auto [family, type] = FamilyOf(BaseName(key));
    auto& f = families[family];
    f.first = type;
    f.second.push_back(key + " " + Format(value));
  }
  std::string out;
  for (const auto& [family, f] : families) {
    out += "# HELP " + family + " " + Help(family, f.first) + "\n";
    out += "# TYPE " + family + " " + f.first + "\n";
    for (const auto& line : f.second) out += line + "\n";
  }
  return out;
}

void UpdateTextfile(const std::string& path, const RunFigures& run,
                    std::chrono::milliseconds lock_timeout) {
  const std::string lock_path = path + ".lock";
  ipc::UniqueFd lock(open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!lock) throw Error("cannot open " + lock_path + ": " + std::strerror(errno));
  const auto deadline = std::chrono::steady_clock::now() + lock_timeout;
  while (flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (std::chrono::steady_clock::now() > deadline)
      throw Error("another grootfs holds " + lock_path + " for too long");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::string old;
  if (ipc::UniqueFd in(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)); in) {
    old = ReadAll(in.get());
  } else if (errno != ENOENT) {
    throw Error("cannot read " + path + ": " + std::strerror(errno));
  }
  const std::string text = Render(ParseSeries(old), run);
  // Not *.prom: the collector must never pick up the temp file.
  const std::string tmp = path + ".tmp-" + std::to_string(getpid());
  ipc::UniqueFd out(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!out) throw Error("cannot write " + tmp + ": " + std::strerror(errno));
  const bool written =
      write(out.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
      fsync(out.get()) == 0;
  out.Reset();
  if (!written || rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    (void)unlink(tmp.c_str());
    throw Error("cannot replace " + path + ": " + std::strerror(e));
  }
}

}  // namespace grootfs::frontend::metrics
