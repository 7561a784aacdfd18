// The YAML config file (--config): grootfs's keys. Everything is optional; the command line
// (cli.h) merges it with the flags, which win.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "frontend/log.h"

namespace grootfs::frontend {

struct Config {
  std::optional<std::string> store;
  std::optional<LogLevel> log_level;
  std::optional<std::string> log_file;
  std::optional<std::string> helper_bin;
  std::optional<std::string> newuidmap_bin;
  std::optional<std::string> newgidmap_bin;
  std::optional<std::string> metron_endpoint;  // HOST:PORT of the loggregator agent (dropsonde)

  struct Metrics {
    std::optional<std::string> prometheus_textfile;  // node_exporter textfile (.prom)
  } metrics;

  struct Create {
    std::optional<std::int64_t> disk_limit_size_bytes;
    std::optional<bool> exclude_image_from_quota;
    std::optional<bool> skip_layer_validation;
    std::optional<bool> with_clean;
    std::optional<std::string> clean_log_file;
    std::optional<bool> without_mount;
    std::optional<std::vector<std::string>> insecure_registries;
    std::optional<std::vector<std::string>> registry_mirrors;
    std::optional<std::string> remote_layer_client_certificates_path;
  } create;

  struct Clean {
    std::optional<std::int64_t> threshold_bytes;
  } clean;

  struct Init {
    std::optional<std::int64_t> store_size_bytes;
  } init;

  // One line per unknown key, naming the nearest known one (e.g. "unknown config key stroe in
  // FILE (nearest known key: store)"), for the caller to log. Keys grootfs or BOSH's garden job
  // write that mean nothing here (tardis_bin, log_timestamp_format,
  // init.with_direct_io) are accepted silently.
  std::vector<std::string> warnings;
};

// Reads and validates the file. A missing or unreadable file, YAML that does not parse, a value
// of the wrong type, an unknown log level or a negative size throws Error naming the file.
// A key set to null (`store:`) counts as absent.
Config LoadConfig(const std::string& path);

}  // namespace grootfs::frontend
