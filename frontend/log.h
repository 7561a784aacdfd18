// Lager-format JSON logging, as the contract says: one JSON object a line, each written with a
// single write(2), to stderr or to --log-file.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace grootfs::frontend {

enum class LogLevel { kDebug, kInfo, kError, kFatal };

// "debug", "info", "error" or "fatal"; anything else is nullopt.
std::optional<LogLevel> ParseLogLevel(std::string_view text);
// The inverse of ParseLogLevel: the word the log line carries.
std::string_view LogLevelName(LogLevel level);

// The process-wide logger. Thread-safe: lines from several threads never interleave.
class Logger {
 public:
  static Logger& Get();

  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // level: lines below it are dropped. file: "" = stderr; otherwise opened
  // O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC (0600). An unwritable file throws Error and leaves the
  // previous configuration in place. Before the first call: fatal, on stderr.
  void Configure(LogLevel level, const std::string& file);
  // Messages become "grootfs.<command>.<event>" ("grootfs.<event>" while no command is set).
  void SetCommand(std::string command);

  void Debug(std::string_view event, nlohmann::json data = nlohmann::json::object());
  void Info(std::string_view event, nlohmann::json data = nlohmann::json::object());
  void Error(std::string_view event, nlohmann::json data = nlohmann::json::object());
  // Writes a line at any level (e.g. relayed from the helper), in the same format. `data` that is
  // not an object is wrapped as {"value": data} (null becomes {}); a non-string "error" member is
  // replaced by its JSON text.
  void Log(LogLevel level, std::string_view event, nlohmann::json data);

  // Whether a line at `level` would be written (to skip building expensive data).
  bool Enabled(LogLevel level) const;

 private:
  Logger() = default;
  ~Logger();

  mutable std::mutex mutex_;
  LogLevel level_ = LogLevel::kFatal;
  int fd_ = 2;
  bool owns_fd_ = false;
  std::string command_;
};

}  // namespace grootfs::frontend
