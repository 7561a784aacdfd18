#include "frontend/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "frontend/util/error.h"

namespace grootfs::frontend {
namespace {

// RFC 3339 in UTC with nanoseconds: 2026-11-27T03:21:23.123456789Z.
std::string Timestamp() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  char buffer[64];
  const size_t n = std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buffer + n, sizeof(buffer) - n, ".%09ldZ", static_cast<long>(now.tv_nsec));
  return buffer;
}

std::string Dump(const nlohmann::json& value) {
  // Relayed text may not be valid UTF-8: replace bad bytes rather than throw.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json NormaliseData(nlohmann::json data) {
  if (data.is_null()) return nlohmann::json::object();
  if (!data.is_object()) return nlohmann::json{{"value", std::move(data)}};
  auto error = data.find("error");
  if (error != data.end() && !error->is_string()) *error = Dump(*error);
  return data;
}

}  // namespace

std::optional<LogLevel> ParseLogLevel(std::string_view text) {
  if (text == "debug") return LogLevel::kDebug;
  if (text == "info") return LogLevel::kInfo;
  if (text == "error") return LogLevel::kError;
  if (text == "fatal") return LogLevel::kFatal;
  return std::nullopt;
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kError:
      return "error";
    case LogLevel::kFatal:
      return "fatal";
  }
  return "fatal";
}

Logger& Logger::Get() {
  static Logger* logger = new Logger();  // never destroyed: threads may log during exit
  return *logger;
}

Logger::~Logger() {
  if (owns_fd_) close(fd_);
}

void Logger::Configure(LogLevel level, const std::string& file) {
  int fd = STDERR_FILENO;
  bool owns = false;
  if (!file.empty()) {
    fd = open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
      throw frontend::Error("cannot write log file " + file + ": " + std::strerror(errno));
    owns = true;
  }
  std::lock_guard lock(mutex_);
  if (owns_fd_) close(fd_);
  fd_ = fd;
  owns_fd_ = owns;
  level_ = level;
}

void Logger::SetCommand(std::string command) {
  std::lock_guard lock(mutex_);
  command_ = std::move(command);
}

bool Logger::Enabled(LogLevel level) const {
  std::lock_guard lock(mutex_);
  return level >= level_;
}

void Logger::Debug(std::string_view event, nlohmann::json data) {
  Log(LogLevel::kDebug, event, std::move(data));
}

void Logger::Info(std::string_view event, nlohmann::json data) {
  Log(LogLevel::kInfo, event, std::move(data));
}

void Logger::Error(std::string_view event, nlohmann::json data) {
  Log(LogLevel::kError, event, std::move(data));
}

void Logger::Log(LogLevel level, std::string_view event, nlohmann::json data) {
  if (!Enabled(level)) return;
  std::string command;
  {
    std::lock_guard lock(mutex_);
    command = command_;
  }
  std::string message = "grootfs.";
  if (!command.empty()) message += command + ".";
  message += event;

  std::string line = "{\"timestamp\":\"" + Timestamp() + "\",\"level\":\"";
  line += LogLevelName(level);
  line += "\",\"source\":\"grootfs\",\"message\":";
  line += Dump(message);
  line += ",\"data\":";
  line += Dump(NormaliseData(std::move(data)));
  line += "}\n";

  std::lock_guard lock(mutex_);
  if (level < level_) return;  // reconfigured meanwhile
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {  // one write(2); more only if the kernel takes part of the line
    const ssize_t n = write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a logging failure
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace grootfs::frontend
