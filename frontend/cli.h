// The command line: global flags, a command, its flags and arguments, merged with the config
// file (flags win over the file, the file wins over defaults).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/log.h"

namespace grootfs::frontend {

inline constexpr const char* kDefaultStorePath = "/var/lib/grootfs/store";
inline constexpr const char* kVersion = GROOTFS_VERSION;  // the project's version (CMake)

// One --uid-mapping/--gid-mapping: NS:HOST:SIZE.
struct IdMapping {
  std::uint32_t ns_id = 0;
  std::uint32_t host_id = 0;
  std::uint32_t size = 0;
};

// "0:1000:1". Throws Error for anything but three decimal numbers, a size of 0, or a range that
// reaches id 4294967295 on either side (the kernel refuses those too).
IdMapping ParseIdMapping(std::string_view text);

// A size flag's value: a non-negative decimal number of bytes. Throws Error naming the flag.
std::int64_t ParseSize(std::string_view flag, std::string_view text);

struct Invocation {
  // create, delete, stats, list, clean, capacity, init-store, delete-store, help
  std::string command;
  std::string store;        // flag > config > default; absolute, lexically normal, no trailing /
  std::string config_path;  // "" if none
  LogLevel log_level = LogLevel::kFatal;  // with a log file and no level anywhere: info
  bool log_level_given = false;
  std::string log_file;                      // "" = stderr
  std::string helper_bin;                    // "" = default location (the caller computes it)
  std::string newuidmap_bin, newgidmap_bin;  // from the config only; "" if not set
  std::vector<std::string> args;             // the command's positional args (create: IMAGE, ID)

  // create
  std::optional<std::int64_t> disk_limit_size_bytes;
  bool exclude_image_from_quota = false;
  std::vector<std::string> insecure_registries, registry_mirrors;
  bool skip_layer_validation = false;
  bool with_clean = false;
  bool without_mount = false;
  bool repair = false;  // check --repair
  // create --threshold-bytes, clean --threshold-bytes, else config clean.threshold_bytes
  std::optional<std::int64_t> threshold_bytes;
  std::string username, password, remote_layer_client_certificates_path, clean_log_file;
  bool password_stdin = false;     // --password-stdin: main reads the password's line
  std::string credentials_source;  // where username/password came from ("" = none), for messages

  // metrics (every command): the dropsonde UDP endpoint HOST:PORT and the Prometheus textfile
  std::string metron_endpoint, prometheus_textfile;

  // init-store (store_size_bytes also from init.store_size_bytes, for every command: capacity
  // reports it)
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::optional<std::int64_t> store_size_bytes;

  std::vector<std::string> config_warnings;  // unknown config keys, for the caller to log
  std::string usage;                         // filled for "help": the text to print
};

// Parses argv (argv[0] is the program). Throws Error with a one-line, usage-style message for an
// unknown command or flag, a missing flag value, the wrong number of arguments, a bad size or
// mapping, a bad log level, or conflicting flags; also for a bad --config file. --help, -h or the
// command `help` (or no command at all) gives command "help" with `usage` filled, and reads no
// config.
Invocation ParseCommandLine(int argc, const char* const* argv);

}  // namespace grootfs::frontend
