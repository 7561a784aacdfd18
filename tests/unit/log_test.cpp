#include "frontend/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "frontend/util/error.h"

namespace grootfs::frontend {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start));  // an unterminated line: a test failure
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/grootfs-log-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    log_path_ = dir_ + "/grootfs.log";
  }
  void TearDown() override {
    Logger::Get().Configure(LogLevel::kFatal, "");  // back to the default for other tests
    Logger::Get().SetCommand("");
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::string log_path_;
};

TEST(ParseLogLevelTest, AcceptsTheFourLevels) {
  EXPECT_EQ(ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("info"), LogLevel::kInfo);
  EXPECT_EQ(ParseLogLevel("error"), LogLevel::kError);
  EXPECT_EQ(ParseLogLevel("fatal"), LogLevel::kFatal);
  for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kError, LogLevel::kFatal})
    EXPECT_EQ(ParseLogLevel(LogLevelName(level)), level);
}

TEST(ParseLogLevelTest, RefusesAnythingElse) {
  EXPECT_FALSE(ParseLogLevel(""));
  EXPECT_FALSE(ParseLogLevel("DEBUG"));
  EXPECT_FALSE(ParseLogLevel("Info"));
  EXPECT_FALSE(ParseLogLevel("warn"));
  EXPECT_FALSE(ParseLogLevel("debug "));
  EXPECT_FALSE(ParseLogLevel("0"));
}

TEST_F(LogTest, LineHasExactlyTheLagerFields) {
  auto& log = Logger::Get();
  log.Configure(LogLevel::kDebug, log_path_);
  log.SetCommand("create");
  log.Info("starting");

  const std::string text = ReadAll(log_path_);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const auto lines = Lines(text);
  ASSERT_EQ(lines.size(), 1u);
  const std::regex shape(
      R"(^\{"timestamp":"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z","level":"info",)"
      R"("source":"grootfs","message":"grootfs\.create\.starting","data":\{\}\}$)");
  EXPECT_TRUE(std::regex_match(lines[0], shape)) << lines[0];

  const auto json = nlohmann::json::parse(lines[0]);
  ASSERT_TRUE(json.is_object());
  EXPECT_EQ(json.size(), 5u);
  EXPECT_EQ(json["level"], "info");
  EXPECT_EQ(json["source"], "grootfs");
  EXPECT_EQ(json["message"], "grootfs.create.starting");
  EXPECT_EQ(json["data"], nlohmann::json::object());
}

TEST_F(LogTest, TimestampIsNowInUtc) {
  auto& log = Logger::Get();
  log.Configure(LogLevel::kDebug, log_path_);
  const std::time_t before = std::time(nullptr);
  log.Debug("tick");
  const std::time_t after = std::time(nullptr);
  const auto json = nlohmann::json::parse(Lines(ReadAll(log_path_)).at(0));
  const std::string stamp = json["timestamp"];
  std::tm tm{};
  ASSERT_NE(strptime(stamp.c_str(), "%Y-%m-%dT%H:%M:%S", &tm), nullptr) << stamp;
  const std::time_t logged = timegm(&tm);
  EXPECT_GE(logged, before);
  EXPECT_LE(logged, after);
  EXPECT_EQ(stamp.size(), std::string("2026-11-27T03:21:23.123456789Z").size());
}

TEST_F(LogTest, DataIsKeptAndErrorIsAlwaysAString) {
  auto& log = Logger::Get();
  log.Configure(LogLevel::kDebug, log_path_);
  log.SetCommand("delete");
  log.Error("failed", {{"error", "boom"}, {"id", "x"}, {"n", 3}});
  log.Error("failed", {{"error", 42}});
  log.Error("failed", {{"error", {{"code", 1}}}});
  log.Info("scalar", "just text");
  log.Info("array", nlohmann::json::array({1, 2}));
  log.Info("null", nullptr);
  log.Log(LogLevel::kFatal, "relayed", {{"line", "bad utf8 \xff here"}});

  const auto lines = Lines(ReadAll(log_path_));
  ASSERT_EQ(lines.size(), 7u);
  std::vector<nlohmann::json> data;
  for (const auto& line : lines) {
    const auto json = nlohmann::json::parse(line);
    ASSERT_TRUE(json["data"].is_object()) << line;
    if (json["data"].contains("error")) {
      EXPECT_TRUE(json["data"]["error"].is_string()) << line;
    }
    data.push_back(json["data"]);
  }
  EXPECT_EQ(data[0], (nlohmann::json{{"error", "boom"}, {"id", "x"}, {"n", 3}}));
  EXPECT_EQ(data[1], (nlohmann::json{{"error", "42"}}));
  EXPECT_EQ(data[2], (nlohmann::json{{"error", R"({"code":1})"}}));
  EXPECT_EQ(data[3], (nlohmann::json{{"value", "just text"}}));
  EXPECT_EQ(data[4], (nlohmann::json{{"value", {1, 2}}}));
  EXPECT_EQ(data[5], nlohmann::json::object());
  EXPECT_EQ(nlohmann::json::parse(lines[6])["level"], "fatal");
  EXPECT_EQ(nlohmann::json::parse(lines[6])["message"], "grootfs.delete.relayed");
}

TEST_F(LogTest, MessageWithoutCommandHasNoEmptySegment) {
  auto& log = Logger::Get();
  log.Configure(LogLevel::kDebug, log_path_);
  log.SetCommand("");
  log.Info("early");
  EXPECT_EQ(nlohmann::json::parse(Lines(ReadAll(log_path_)).at(0))["message"], "grootfs.early");
}

TEST_F(LogTest, LinesBelowTheThresholdAreDropped) {
  auto& log = Logger::Get();
  log.SetCommand("list");
  const std::vector<std::pair<LogLevel, std::vector<std::string>>> cases = {
      {LogLevel::kDebug, {"debug", "info", "error", "fatal"}},
      {LogLevel::kInfo, {"info", "error", "fatal"}},
      {LogLevel::kError, {"error", "fatal"}},
      {LogLevel::kFatal, {"fatal"}},
  };
  for (const auto& [threshold, expected] : cases) {
    std::filesystem::remove(log_path_);
    log.Configure(threshold, log_path_);
    EXPECT_EQ(log.Enabled(LogLevel::kFatal), true);
    log.Debug("d");
    log.Info("i");
    log.Error("e");
    log.Log(LogLevel::kFatal, "f", nlohmann::json::object());
    std::vector<std::string> levels;
    for (const auto& line : Lines(ReadAll(log_path_)))
      levels.push_back(nlohmann::json::parse(line)["level"]);
    EXPECT_EQ(levels, expected) << LogLevelName(threshold);
  }
}

TEST_F(LogTest, LogFileIsAppendedAndPrivate) {
  {
    std::ofstream out(log_path_);
    out << "existing\n";
  }
  auto& log = Logger::Get();
  log.Configure(LogLevel::kInfo, log_path_);
  log.Info("appended");
  const auto lines = Lines(ReadAll(log_path_));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "existing");

  const std::string fresh = dir_ + "/fresh.log";
  const mode_t old_umask = umask(0);
  log.Configure(LogLevel::kInfo, fresh);
  umask(old_umask);
  struct stat st {};
  ASSERT_EQ(stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(LogTest, UnwritableLogFileThrowsAndKeepsThePreviousConfiguration) {
  auto& log = Logger::Get();
  log.Configure(LogLevel::kInfo, log_path_);
  const std::string missing_dir = dir_ + "/no/such/dir/grootfs.log";
  try {
    log.Configure(LogLevel::kDebug, missing_dir);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot write log file " + missing_dir), std::string::npos) << what;
    EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
  EXPECT_THROW(log.Configure(LogLevel::kDebug, dir_), Error);  // a directory
  log.Debug("still-dropped");
  log.Info("still-here");
  const auto lines = Lines(ReadAll(log_path_));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["message"], "grootfs.still-here");
}

TEST_F(LogTest, ConcurrentLinesAreWhole) {
  auto& log = Logger::Get();
  log.Configure(LogLevel::kDebug, log_path_);
  log.SetCommand("create");
  constexpr int kThreads = 8;
  constexpr int kLines = 300;
  const std::string padding(5000, 'x');  // longer than PIPE_BUF
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, &padding, t] {
      for (int i = 0; i < kLines; ++i)
        log.Info("tick", {{"thread", t}, {"i", i}, {"padding", padding}});
    });
  }
  for (auto& thread : threads) thread.join();

  const std::string text = ReadAll(log_path_);
  ASSERT_EQ(text.back(), '\n');
  const auto lines = Lines(text);
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kLines));
  std::vector<int> next(kThreads, 0);
  for (const auto& line : lines) {
    const auto json = nlohmann::json::parse(line);  // throws on a torn line
    const int t = json["data"]["thread"];
    EXPECT_EQ(json["data"]["i"], next[t]++);  // each thread's lines in order
    EXPECT_EQ(json["data"]["padding"], padding);
  }
}

TEST_F(LogTest, StderrIsTheDefaultDestination) {
  auto& log = Logger::Get();
  log.Configure(LogLevel::kError, "");
  const std::string capture = dir_ + "/stderr";
  const int saved = dup(STDERR_FILENO);
  const int fd = open(capture.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(dup2(fd, STDERR_FILENO), STDERR_FILENO);
  close(fd);
  log.Info("dropped");
  log.Error("kept");
  dup2(saved, STDERR_FILENO);
  close(saved);
  const auto lines = Lines(ReadAll(capture));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["message"], "grootfs.kept");
}

TEST(LogDeathTest, BeforeConfigureOnlyFatalReachesStderr) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh process: an unconfigured logger
  EXPECT_EXIT(
      {
        auto& log = Logger::Get();
        log.Debug("d");
        log.Info("i");
        log.Error("e");
        log.Log(LogLevel::kFatal, "f", nlohmann::json::object());
        std::exit(0);
      },
      ::testing::ExitedWithCode(0),
      R"(^\{"timestamp":"[^"]+","level":"fatal","source":"grootfs","message":"grootfs\.f",)"
      R"("data":\{\}\}
$)");
}

}  // namespace
}  // namespace grootfs::frontend
