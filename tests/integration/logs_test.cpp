// Logging: lager-format JSON lines on stderr or in --log-file, silence at the default level.
#include <regex>

#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

class LogsTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    InitStore();
  }

  // Every line must be a lager JSON object; returns the parsed lines.
  static std::vector<Json> ExpectLagerLines(const std::string& text) {
    static const std::regex kTimestamp(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$)");
    static const std::set<std::string> kLevels{"debug", "info", "error", "fatal"};
    std::vector<Json> parsed;
    std::stringstream ss(text);
    std::string line;
    while (std::getline(ss, line)) {
      Json j = Json::parse(line, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << "not JSON: [" << line << "]";
      if (j.is_discarded()) continue;
      EXPECT_TRUE(j.is_object()) << line;
      if (!j.is_object()) continue;
      EXPECT_TRUE(j.contains("timestamp") && j["timestamp"].is_string()) << line;
      if (j.contains("timestamp") && j["timestamp"].is_string()) {
        EXPECT_TRUE(std::regex_match(j["timestamp"].get<std::string>(), kTimestamp)) << line;
      }
      EXPECT_TRUE(j.contains("level") && j["level"].is_string() &&
                  kLevels.count(j["level"].get<std::string>()))
          << line;
      EXPECT_EQ(j.value("source", ""), "grootfs") << line;
      EXPECT_TRUE(j.contains("message") && j["message"].is_string() &&
                  StartsWith(j["message"].get<std::string>(), "grootfs."))
          << line;
      EXPECT_TRUE(j.contains("data") && j["data"].is_object()) << line;
      if (j.contains("data") && j["data"].is_object() && j["data"].contains("error")) {
        EXPECT_TRUE(j["data"]["error"].is_string()) << line;
      }
      parsed.push_back(j);
    }
    return parsed;
  }

  static size_t CountWhere(const std::vector<Json>& lines, const std::string& level,
                           const std::string& message_prefix) {
    size_t n = 0;
    for (const auto& j : lines) {
      if (!level.empty() && j.value("level", "") != level) continue;
      if (StartsWith(j.value("message", ""), message_prefix)) ++n;
    }
    return n;
  }
};

TEST_F(LogsTest, DebugLevelWritesOnlyLagerJsonLines) {
  auto r = Grootfs(store_, "--log-level", "debug", "create", OciFixture("alpine"), "logged");
  ASSERT_TRUE(r.ok()) << r.Describe();
  ASSERT_FALSE(r.err.empty()) << "debug level logged nothing";
  EXPECT_EQ(r.err.back(), '\n');
  auto lines = ExpectLagerLines(r.err);
  EXPECT_GT(CountWhere(lines, "", "grootfs.create."), 0u) << r.err;
  // stdout is still only the JSON for Garden.
  EXPECT_TRUE(ParseJson(r.out).is_object());
}

TEST_F(LogsTest, TheFirstDebugLineNamesTheVersion) {
  auto version = Grootfs(store_, "--version");
  ASSERT_TRUE(version.ok()) << version.Describe();
  ASSERT_TRUE(StartsWith(version.out, "grootfs version ")) << version.out;
  const std::string number = version.out.substr(16, version.out.find('\n') - 16);
  auto r = Grootfs(store_, "--log-level", "debug", "list");
  ASSERT_TRUE(r.ok()) << r.Describe();
  auto lines = ExpectLagerLines(r.err);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].value("level", ""), "debug") << r.err;
  EXPECT_EQ(lines[0].value("message", ""), "grootfs.list.grootfs") << r.err;
  EXPECT_EQ(lines[0]["data"].value("version", ""), number) << r.err;
}

TEST_F(LogsTest, AFailureIsLoggedAtErrorLevel) {
  auto r = Grootfs(store_, "--log-level", "debug", "create",
                   OciUri((tmp_.path() / "missing").string()), "broken");
  EXPECT_NE(r.status, 0) << r.Describe();
  auto lines = ExpectLagerLines(r.err);
  EXPECT_GT(CountWhere(lines, "error", "grootfs.create."), 0u) << r.err;
}

TEST_F(LogsTest, InfoLevelHasNoDebugLines) {
  auto r = Grootfs(store_, "--log-level", "info", "create", OciFixture("alpine"), "info");
  ASSERT_TRUE(r.ok()) << r.Describe();
  auto lines = ExpectLagerLines(r.err);
  EXPECT_EQ(CountWhere(lines, "debug", ""), 0u) << r.err;
}

TEST_F(LogsTest, TheDefaultLevelIsSilentEvenOnFailure) {
  auto fail = Grootfs(store_, "create", OciUri((tmp_.path() / "missing").string()), "broken");
  EXPECT_NE(fail.status, 0) << fail.Describe();
  EXPECT_EQ(fail.err, "");
  EXPECT_TRUE(IsOneLine(fail.out));

  auto bad_id = Grootfs(store_, "create", OciFixture("alpine"), "bad/id");
  EXPECT_NE(bad_id.status, 0);
  EXPECT_EQ(bad_id.err, "");

  auto ok = Grootfs(store_, "create", OciFixture("alpine"), "fine");
  EXPECT_TRUE(ok.ok()) << ok.Describe();
  EXPECT_EQ(ok.err, "");

  auto missing = Grootfs(store_, "delete", "no-such-image");
  EXPECT_TRUE(missing.ok()) << missing.Describe();
  EXPECT_EQ(missing.err, "");

  auto no_store = Grootfs((tmp_.path() / "no-store").string(), "list");
  EXPECT_NE(no_store.status, 0);
  EXPECT_EQ(no_store.err, "");
}

TEST_F(LogsTest, LogFileGetsTheLinesAtInfoByDefault) {
  const fs::path log = tmp_.path() / "grootfs.log";
  auto r = Grootfs(store_, "--log-file", log.string(), "create", OciFixture("alpine"), "to-file");
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(r.err, "") << "with --log-file nothing goes to stderr";
  ASSERT_TRUE(fs::is_regular_file(log));
  const std::string text = ReadFile(log);
  ASSERT_FALSE(text.empty()) << "with --log-file and no level, the level is info";
  auto lines = ExpectLagerLines(text);
  EXPECT_GT(CountWhere(lines, "info", "grootfs.create."), 0u) << text;
  EXPECT_EQ(CountWhere(lines, "debug", ""), 0u) << text;

  auto del = Grootfs(store_, "--log-file", log.string(), "delete", "to-file");
  ASSERT_TRUE(del.ok()) << del.Describe();
  EXPECT_EQ(del.err, "");
  auto after = ExpectLagerLines(ReadFile(log));
  EXPECT_GT(CountWhere(after, "", "grootfs.delete."), 0u);
}

TEST_F(LogsTest, AnUnwritableLogFileFailsTheCommand) {
  auto r = Grootfs(store_, "--log-file", (tmp_.path() / "no-such-dir/grootfs.log").string(),
                   "create", OciFixture("alpine"), "unlogged");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_FALSE(Exists(ImageDir("unlogged")));

  auto dir = Grootfs(store_, "--log-file", tmp_.path().string(), "list");
  EXPECT_NE(dir.status, 0) << "a directory is not a writable log file: " << dir.Describe();
}

TEST_F(LogsTest, AnUnknownConfigKeyIsNamedInAWarning) {
  const fs::path config = tmp_.path() / "config.yml";
  WriteFile(config, "log_level: debug\ncreate:\n  skip_layer_validatoin: true\n");
  auto r = RunCmd({GrootfsBin(), "--store", store_, "--config", config.string(), "list"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  auto lines = ExpectLagerLines(r.err);
  EXPECT_NE(r.err.find("skip_layer_validatoin"), std::string::npos) << r.err;
}

// At the default level the warning is not in a log, so a person at a terminal sees it as a
// plain line on stderr, with the nearest known key; a caller that pipes stderr (Garden, which
// takes any non-JSON stderr line as an error) gets nothing there. BOSH's log_timestamp_format is
// no typo.
TEST_F(LogsTest, AMistypedConfigKeyIsShownOnATerminalOnly) {
  const fs::path config = tmp_.path() / "config.yml";
  WriteFile(config, "stroe: /elsewhere\nlog_timestamp_format: rfc3339\n");
  auto piped = RunCmd({GrootfsBin(), "--store", store_, "--config", config.string(), "list"});
  EXPECT_EQ(piped.err, "") << piped.Describe();
  // script(1) gives grootfs a pseudo-terminal for stdin, stdout and stderr.
  auto tty = RunCmd({"script", "-qec",
                     GrootfsBin() + " --store " + store_ + " --config " + config.string() + " list",
                     "/dev/null"});
  EXPECT_NE(tty.out.find("grootfs: warning: unknown config key stroe in " + config.string() +
                         " (nearest known key: store)"),
            std::string::npos)
      << tty.Describe();
  EXPECT_EQ(tty.out.find("log_timestamp_format"), std::string::npos) << tty.Describe();
}

}  // namespace
}  // namespace grootfs_it
