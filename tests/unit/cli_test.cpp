#include "frontend/cli.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "frontend/cli_spec.h"
#include "frontend/util/error.h"

namespace grootfs::frontend {
namespace {

Invocation Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "grootfs");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return ParseCommandLine(static_cast<int>(args.size()), argv.data());
}

// The Error message parsing throws ("" if it does not).
std::string ParseError(std::vector<std::string> args) {
  try {
    Parse(std::move(args));
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_FALSE(what.empty());
    return what;
  }
  return "";
}

#define EXPECT_REFUSED(args, words)                                            \
  do {                                                                         \
    const std::string error_ = ParseError(args);                               \
    EXPECT_NE(error_, "") << "accepted";                                       \
    EXPECT_NE(error_.find(words), std::string::npos) << "message: " << error_; \
  } while (0)

using Args = std::vector<std::string>;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/grootfs-cli-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WriteConfig(const std::string& text) {
    const std::string path = dir_ + "/config.yml";
    std::ofstream(path) << text;
    return path;
  }

  std::string dir_;
};

TEST_F(CliTest, Defaults) {
  const Invocation inv = Parse({"list"});
  EXPECT_EQ(inv.command, "list");
  EXPECT_EQ(inv.store, "/var/lib/grootfs/store");
  EXPECT_EQ(inv.config_path, "");
  EXPECT_EQ(inv.log_level, LogLevel::kFatal);
  EXPECT_FALSE(inv.log_level_given);
  EXPECT_EQ(inv.log_file, "");
  EXPECT_EQ(inv.helper_bin, "");
  EXPECT_TRUE(inv.args.empty());
  EXPECT_FALSE(inv.disk_limit_size_bytes);
  EXPECT_FALSE(inv.threshold_bytes);
  EXPECT_FALSE(inv.store_size_bytes);
  EXPECT_FALSE(inv.with_clean);
  EXPECT_FALSE(inv.without_mount);
  EXPECT_TRUE(inv.config_warnings.empty());
  EXPECT_TRUE(inv.usage.empty());
}

TEST_F(CliTest, EveryFlagFormWorks) {
  for (const Args& args :
       {Args{"--store", "/s", "list"}, Args{"--store=/s", "list"}, Args{"-store", "/s", "list"},
        Args{"-store=/s", "list"}, Args{"--store", "/x", "--store", "/s", "list"}}) {
    EXPECT_EQ(Parse(args).store, "/s") << args[0];
  }
}

TEST_F(CliTest, StoreIsAbsoluteAndNormalised) {
  EXPECT_EQ(Parse({"--store", "/a//b/../c/", "list"}).store, "/a/c");
  EXPECT_EQ(Parse({"--store", "/a/./b///", "list"}).store, "/a/b");
  const std::string cwd = std::filesystem::current_path().string();
  EXPECT_EQ(Parse({"--store", "rel/store/", "list"}).store, cwd + "/rel/store");
  EXPECT_EQ(Parse({"--store", "/", "list"}).store, "/");
  EXPECT_REFUSED((Args{"--store=", "list"}), "--store");
}

TEST_F(CliTest, GlobalFlagValues) {
  const Invocation inv =
      Parse({"--log-level", "debug", "--log-file", "/tmp/l.log", "--helper-bin", "/h", "list"});
  EXPECT_EQ(inv.log_level, LogLevel::kDebug);
  EXPECT_TRUE(inv.log_level_given);
  EXPECT_EQ(inv.log_file, "/tmp/l.log");
  EXPECT_EQ(inv.helper_bin, "/h");
  for (const char* level : {"debug", "info", "error", "fatal"})
    EXPECT_EQ(Parse({"--log-level", level, "list"}).log_level, ParseLogLevel(level));
  EXPECT_REFUSED((Args{"--log-level", "verbose", "list"}), "verbose");
  EXPECT_REFUSED((Args{"--log-level=", "list"}), "log level");
}

TEST_F(CliTest, LogFileWithoutLevelMeansInfo) {
  Invocation inv = Parse({"--log-file", "/tmp/l.log", "list"});
  EXPECT_EQ(inv.log_level, LogLevel::kInfo);
  EXPECT_FALSE(inv.log_level_given);
  inv = Parse({"--log-file", "/tmp/l.log", "--log-level", "error", "list"});
  EXPECT_EQ(inv.log_level, LogLevel::kError);
  EXPECT_TRUE(inv.log_level_given);
  inv = Parse({"--log-file", "/tmp/l.log", "--log-level", "fatal", "list"});
  EXPECT_EQ(inv.log_level, LogLevel::kFatal);
  inv = Parse({"--config", WriteConfig("log_file: /tmp/x.log\n"), "list"});
  EXPECT_EQ(inv.log_file, "/tmp/x.log");
  EXPECT_EQ(inv.log_level, LogLevel::kInfo);
  inv = Parse({"--config", WriteConfig("log_level: fatal\n"), "--log-file", "/l", "list"});
  EXPECT_EQ(inv.log_level, LogLevel::kFatal);
  EXPECT_TRUE(inv.log_level_given);
}

TEST_F(CliTest, CreateWithEveryFlag) {
  const Invocation inv = Parse({"--store", "/s", "create", "--disk-limit-size-bytes", "1024",
                                "--exclude-image-from-quota", "--insecure-registry", "r1:5000",
                                "--insecure-registry=r2", "-skip-layer-validation", "--with-clean",
                                "--threshold-bytes=2048", "--without-mount", "--username", "u",
                                "--password", "-p4ss", "docker:///busybox:latest", "my-id"});
  EXPECT_EQ(inv.command, "create");
  EXPECT_EQ(inv.args, (Args{"docker:///busybox:latest", "my-id"}));
  EXPECT_EQ(inv.disk_limit_size_bytes, 1024);
  EXPECT_TRUE(inv.exclude_image_from_quota);
  EXPECT_EQ(inv.insecure_registries, (Args{"r1:5000", "r2"}));
  EXPECT_TRUE(inv.skip_layer_validation);
  EXPECT_TRUE(inv.with_clean);
  EXPECT_EQ(inv.threshold_bytes, 2048);
  EXPECT_TRUE(inv.without_mount);
  EXPECT_EQ(inv.username, "u");
  EXPECT_EQ(inv.password, "-p4ss");
}

TEST_F(CliTest, FlagsMayFollowTheArgumentsAndDoubleDashEndsThem) {
  Invocation inv = Parse({"create", "/rootfs.tar", "id", "--without-mount"});
  EXPECT_EQ(inv.args, (Args{"/rootfs.tar", "id"}));
  EXPECT_TRUE(inv.without_mount);
  inv = Parse({"create", "--", "--without-mount", "id"});
  EXPECT_EQ(inv.args, (Args{"--without-mount", "id"}));
  EXPECT_FALSE(inv.without_mount);
  inv = Parse({"--", "delete", "-"});
  EXPECT_EQ(inv.args, (Args{"-"}));
}

TEST_F(CliTest, BooleanFlagValues) {
  EXPECT_TRUE(Parse({"create", "--with-clean=true", "i", "d"}).with_clean);
  EXPECT_FALSE(Parse({"create", "--with-clean=false", "i", "d"}).with_clean);
  EXPECT_TRUE(Parse({"create", "--exclude-image-from-quota=1", "i", "d"}).exclude_image_from_quota);
  EXPECT_REFUSED((Args{"create", "--with-clean=maybe", "i", "d"}), "maybe");
}

TEST_F(CliTest, CleanAndMountFlagsConflict) {
  EXPECT_REFUSED((Args{"create", "--with-clean", "--without-clean", "i", "d"}),
                 "--with-clean and --without-clean");
  EXPECT_REFUSED((Args{"create", "--with-mount", "--without-mount", "i", "d"}),
                 "--with-mount and --without-mount");
  EXPECT_FALSE(Parse({"create", "--without-clean", "i", "d"}).with_clean);
  EXPECT_FALSE(Parse({"create", "--with-mount", "i", "d"}).without_mount);
  EXPECT_TRUE(Parse({"create", "--with-clean", "--without-clean=false", "i", "d"}).with_clean);
}

TEST_F(CliTest, SizesMustBeNonNegativeNumbers) {
  EXPECT_EQ(Parse({"create", "--disk-limit-size-bytes", "0", "i", "d"}).disk_limit_size_bytes, 0);
  EXPECT_EQ(Parse({"create", "--disk-limit-size-bytes=9223372036854775807", "i", "d"})
                .disk_limit_size_bytes,
            INT64_MAX);
  for (const std::string flag : {"--disk-limit-size-bytes", "--threshold-bytes"}) {
    EXPECT_REFUSED((Args{"create", flag, "-1", "i", "d"}), "negative");
    EXPECT_REFUSED((Args{"create", flag + "=-5", "i", "d"}), "negative");
    EXPECT_REFUSED((Args{"create", flag, "10MB", "i", "d"}), "number");
    EXPECT_REFUSED((Args{"create", flag, "", "i", "d"}), "number");
    EXPECT_REFUSED((Args{"create", flag, "+5", "i", "d"}), "number");
    EXPECT_REFUSED((Args{"create", flag, "1.5", "i", "d"}), "number");
    EXPECT_REFUSED((Args{"create", flag, "9223372036854775808", "i", "d"}), "exceed");
  }
  EXPECT_REFUSED((Args{"clean", "--threshold-bytes", "-1"}), "negative");
  EXPECT_REFUSED((Args{"init-store", "--store-size-bytes", "x"}), "--store-size-bytes");
  EXPECT_EQ(Parse({"clean", "--threshold-bytes", "7"}).threshold_bytes, 7);
  EXPECT_EQ(Parse({"init-store", "--store-size-bytes=8"}).store_size_bytes, 8);
  EXPECT_EQ(ParseSize("--x", "42"), 42);
  EXPECT_THROW(ParseSize("--x", "-0"), Error);
}

TEST_F(CliTest, PositionalArgumentCounts) {
  EXPECT_NO_THROW(Parse({"create", "i", "d"}));
  EXPECT_REFUSED((Args{"create"}), "IMAGE and ID");
  EXPECT_REFUSED((Args{"create", "i"}), "got 1 argument");
  EXPECT_REFUSED((Args{"create", "i", "d", "x"}), "got 3 arguments");
  for (const std::string command : {"delete", "stats"}) {
    EXPECT_EQ(Parse({command, "id"}).args, (Args{"id"}));
    EXPECT_REFUSED((Args{command}), command);
    EXPECT_REFUSED((Args{command, "a", "b"}), "got 2");
  }
  for (const std::string command : {"list", "clean", "capacity", "init-store", "delete-store"}) {
    EXPECT_EQ(Parse({command}).command, command);
    EXPECT_REFUSED((Args{command, "extra"}), "usage: grootfs");
  }
}

TEST_F(CliTest, UnknownCommandsAndFlagsAreRefused) {
  EXPECT_REFUSED((Args{"destroy"}), "unknown command 'destroy'");
  EXPECT_REFUSED((Args{""}), "unknown command");
  EXPECT_REFUSED((Args{"--bogus", "list"}), "unknown global flag --bogus");
  EXPECT_REFUSED((Args{"create", "--bogus", "i", "d"}), "unknown flag --bogus for create");
  EXPECT_REFUSED((Args{"list", "--threshold-bytes", "1"}), "unknown flag");
  EXPECT_REFUSED((Args{"delete", "--disk-limit-size-bytes=1", "id"}), "unknown flag");
  EXPECT_REFUSED((Args{"create", "--uid-mapping", "0:0:1", "i", "d"}), "unknown flag");
  EXPECT_REFUSED((Args{"list", "--store", "/s"}), "must come before the command");
  EXPECT_REFUSED((Args{"---store", "/s", "list"}), "bad flag syntax");
  EXPECT_REFUSED((Args{"--=x", "list"}), "bad flag syntax");
  EXPECT_REFUSED((Args{"--store"}), "needs a value");
  EXPECT_REFUSED((Args{"create", "i", "d", "--username"}), "needs a value");
}

TEST_F(CliTest, HelpAnywhere) {
  for (const Args& args :
       {Args{}, Args{"--help"}, Args{"-h"}, Args{"help"}, Args{"-help"},
        Args{"--store", "/s", "-h"}, Args{"create", "--help"}, Args{"create", "i", "-h"},
        Args{"help", "create"}, Args{"--bogus", "--help"}, Args{"destroy", "--help"},
        Args{"create", "--with-clean", "--without-clean", "-h"},
        Args{"--config", "/no/such/config.yml", "list", "--help"}}) {
    const Invocation inv = Parse(args);
    EXPECT_EQ(inv.command, "help") << ::testing::PrintToString(args);
    EXPECT_NE(inv.usage.find("usage: grootfs"), std::string::npos);
  }
  EXPECT_NE(Parse({"create", "--help"}).usage.find("--disk-limit-size-bytes"), std::string::npos);
  EXPECT_NE(Parse({"help", "init-store"}).usage.find("--uid-mapping"), std::string::npos);
  EXPECT_NE(Parse({"--help"}).usage.find("delete-store"), std::string::npos);
  // A value that looks like --help is a value, and --help=false is no help.
  EXPECT_EQ(Parse({"create", "--password", "-h", "i", "d"}).password, "-h");
  EXPECT_EQ(Parse({"--help=false", "list"}).command, "list");
  // After "--", or as the ID, "help" is an argument.
  EXPECT_EQ(Parse({"delete", "help"}).args, (Args{"help"}));
  EXPECT_EQ(Parse({"delete", "--", "-h"}).args, (Args{"-h"}));
}

TEST_F(CliTest, IdMappingFlags) {
  const Invocation inv = Parse({"init-store", "--uid-mapping", "0:1000:1",
                                "--uid-mapping=1:100000:65536", "--gid-mapping", "0:1000:1"});
  ASSERT_EQ(inv.uid_mappings.size(), 2u);
  EXPECT_EQ(inv.uid_mappings[1].ns_id, 1u);
  EXPECT_EQ(inv.uid_mappings[1].host_id, 100000u);
  EXPECT_EQ(inv.uid_mappings[1].size, 65536u);
  ASSERT_EQ(inv.gid_mappings.size(), 1u);
  EXPECT_EQ(inv.gid_mappings[0].host_id, 1000u);
  EXPECT_REFUSED((Args{"init-store", "--gid-mapping", "0:1000"}), "NS:HOST:SIZE");
}

TEST(ParseIdMappingTest, AcceptsValidRanges) {
  IdMapping m = ParseIdMapping("0:1000:1");
  EXPECT_EQ(m.ns_id, 0u);
  EXPECT_EQ(m.host_id, 1000u);
  EXPECT_EQ(m.size, 1u);
  m = ParseIdMapping("0:0:4294967295");
  EXPECT_EQ(m.size, 4294967295u);
  m = ParseIdMapping("4294967294:4294967294:1");
  EXPECT_EQ(m.ns_id, 4294967294u);
}

TEST(ParseIdMappingTest, RefusesEverythingElse) {
  for (const char* text : {"",
                           "0",
                           "0:1000",
                           "0:1000:1:2",
                           "0:1000:",
                           ":1000:1",
                           "0::1",
                           "a:1:1",
                           "0:1:x",
                           "-1:0:1",
                           "+1:0:1",
                           " 0:1:1",
                           "0:1:1 ",
                           "0x1:0:1",
                           "0:1000:0",
                           "4294967296:0:1",
                           "0:4294967296:1",
                           "1:0:4294967295",
                           "0:1:4294967295",
                           "4294967295:0:1",
                           "0:4294967295:1",
                           "4294967000:0:1000"}) {
    try {
      ParseIdMapping(text);
      ADD_FAILURE() << "accepted '" << text << "'";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(std::string("'") + text + "'"), std::string::npos) << what;
    }
  }
}

TEST_F(CliTest, FlagsWinOverConfigWhichWinsOverDefaults) {
  const std::string config = WriteConfig(R"(
store: /config/store
log_level: debug
log_file: /config.log
helper_bin: /config/helper
newuidmap_bin: /bin/nuid
newgidmap_bin: /bin/ngid
create:
  disk_limit_size_bytes: 100
  exclude_image_from_quota: true
  skip_layer_validation: true
  with_clean: true
  without_mount: true
  insecure_registries: [config-registry]
  registry_mirrors: [https://mirror]
  remote_layer_client_certificates_path: /certs
  clean_log_file: /clean.log
clean:
  threshold_bytes: 300
init:
  store_size_bytes: 400
)");
  Invocation inv = Parse({"--config", config, "create", "i", "d"});
  EXPECT_EQ(inv.config_path, config);
  EXPECT_EQ(inv.store, "/config/store");
  EXPECT_EQ(inv.log_level, LogLevel::kDebug);
  EXPECT_TRUE(inv.log_level_given);
  EXPECT_EQ(inv.log_file, "/config.log");
  EXPECT_EQ(inv.helper_bin, "/config/helper");
  EXPECT_EQ(inv.newuidmap_bin, "/bin/nuid");
  EXPECT_EQ(inv.newgidmap_bin, "/bin/ngid");
  EXPECT_EQ(inv.disk_limit_size_bytes, 100);
  EXPECT_TRUE(inv.exclude_image_from_quota);
  EXPECT_TRUE(inv.skip_layer_validation);
  EXPECT_TRUE(inv.with_clean);
  EXPECT_TRUE(inv.without_mount);
  EXPECT_EQ(inv.insecure_registries, (Args{"config-registry"}));
  EXPECT_EQ(inv.registry_mirrors, (Args{"https://mirror"}));
  EXPECT_EQ(inv.remote_layer_client_certificates_path, "/certs");
  EXPECT_EQ(inv.clean_log_file, "/clean.log");
  EXPECT_EQ(inv.threshold_bytes, 300);
  EXPECT_EQ(inv.store_size_bytes, 400);

  inv = Parse({"--config",
               config,
               "--store",
               "/flag/store",
               "--log-level",
               "error",
               "--log-file",
               "/flag.log",
               "--helper-bin",
               "/flag/helper",
               "create",
               "--disk-limit-size-bytes",
               "1",
               "--exclude-image-from-quota=false",
               "--skip-layer-validation=false",
               "--without-clean",
               "--with-mount",
               "--insecure-registry",
               "flag-registry",
               "--threshold-bytes",
               "3",
               "i",
               "d"});
  EXPECT_EQ(inv.store, "/flag/store");
  EXPECT_EQ(inv.log_level, LogLevel::kError);
  EXPECT_EQ(inv.log_file, "/flag.log");
  EXPECT_EQ(inv.helper_bin, "/flag/helper");
  EXPECT_EQ(inv.disk_limit_size_bytes, 1);
  EXPECT_FALSE(inv.exclude_image_from_quota);
  EXPECT_FALSE(inv.skip_layer_validation);
  EXPECT_FALSE(inv.with_clean);
  EXPECT_FALSE(inv.without_mount);
  EXPECT_EQ(inv.insecure_registries, (Args{"flag-registry"}));
  EXPECT_EQ(inv.threshold_bytes, 3);

  EXPECT_EQ(Parse({"--config", config, "clean", "--threshold-bytes", "5"}).threshold_bytes, 5);
  EXPECT_EQ(Parse({"--config", config, "init-store", "--store-size-bytes", "6"}).store_size_bytes,
            6);
  EXPECT_EQ(Parse({"--config", config, "capacity"}).store_size_bytes, 400);
}

TEST_F(CliTest, EmptyConfigStringsMeanUnset) {
  const Invocation inv = Parse({"--config", WriteConfig("store: ''\nlog_file: ''\n"), "list"});
  EXPECT_EQ(inv.store, "/var/lib/grootfs/store");
  EXPECT_EQ(inv.log_file, "");
  EXPECT_EQ(inv.log_level, LogLevel::kFatal);
}

TEST_F(CliTest, ConfigWarningsAndErrorsReachTheCaller) {
  const std::string config = WriteConfig("store: /s\nsotre: /typo\ncreate:\n  with_clena: true\n");
  const Invocation inv = Parse({"--config", config, "list"});
  ASSERT_EQ(inv.config_warnings.size(), 2u);
  EXPECT_NE(inv.config_warnings[0].find("sotre"), std::string::npos);
  EXPECT_NE(inv.config_warnings[1].find("create.with_clena"), std::string::npos);

  EXPECT_REFUSED((Args{"--config", dir_ + "/missing.yml", "list"}), dir_ + "/missing.yml");
  EXPECT_REFUSED((Args{"--config", WriteConfig("init:\n  store_size_bytes: -1\n"), "list"}),
                 "negative");
  EXPECT_REFUSED((Args{"--config=", "list"}), "--config");
}

}  // namespace
}  // namespace grootfs::frontend

TEST(CliVersion, VersionPrintsTheVersionAndNothingElse) {
  for (const char* flag : {"--version", "-v"}) {
    const char* argv[] = {"grootfs", flag, "create", "x", "y"};
    const auto inv = grootfs::frontend::ParseCommandLine(5, argv);
    EXPECT_EQ(inv.command, "help");
    EXPECT_EQ(inv.usage, std::string("grootfs version ") + grootfs::frontend::kVersion);
  }
  const char* off[] = {"grootfs", "--version=false"};
  EXPECT_NE(grootfs::frontend::ParseCommandLine(2, off).usage.find("usage:"), std::string::npos);
}

namespace grootfs::frontend {
namespace {

std::string Refusal(std::vector<std::string> args) {
  args.insert(args.begin(), "grootfs");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    ParseCommandLine(static_cast<int>(argv.size()), argv.data());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string Usage(std::vector<std::string> args) {
  args.insert(args.begin(), "grootfs");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data()).usage;
}

TEST(CliHelp, EveryCommandsHelpListsEachFlagWithItsDefaultAndConfigKey) {
  auto check = [](const std::string& usage, const cli::FlagSpec& flag) {
    const std::string line =
        "\n  --" + flag.name + (flag.TakesValue() ? " " + flag.value : "") + "\n        ";
    EXPECT_NE(usage.find(line + flag.help + "\n"), std::string::npos) << flag.name << usage;
    if (!flag.default_text.empty())
      EXPECT_NE(usage.find("default: " + flag.default_text), std::string::npos) << flag.name;
    if (!flag.config_key.empty())
      EXPECT_NE(usage.find("config: " + flag.config_key), std::string::npos) << flag.name;
    // Every flag that takes a value says what happens without it.
    if (flag.TakesValue()) EXPECT_FALSE(flag.default_text.empty()) << flag.name;
  };
  for (const auto& [name, spec] : cli::Commands()) {
    const std::string usage = Usage({name, "--help"});
    EXPECT_EQ(usage, Usage({"help", name}));
    for (const auto& flag : spec.flags) check(usage, flag);
  }
  for (const auto& flag : cli::GlobalFlags()) check(Usage({"--help"}), flag);
  EXPECT_NE(Usage({"--help"})
                .find("  --store PATH\n        the store\n        (default: "
                      "/var/lib/grootfs/store; config: store)\n"),
            std::string::npos);
  EXPECT_NE(
      Usage({"create", "--help"})
          .find("  --disk-limit-size-bytes N\n        limit the image's disk usage to N "
                "bytes\n        (default: 0, no limit; config: create.disk_limit_size_bytes)"),
      std::string::npos);
  EXPECT_NE(Usage({"init-store", "--help"}).find("(repeatable; default: none"), std::string::npos);
}

TEST(CliHelp, UnknownFlagsAndCommandsNameTheNearestRealOne) {
  EXPECT_EQ(Refusal({"create", "--disk-limit", "1", "i", "d"}),
            "unknown flag --disk-limit for create, did you mean --disk-limit-size-bytes? "
            "(usage: grootfs [global flags] create [flags] IMAGE ID)");
  EXPECT_NE(Refusal({"create", "-skip-layer-validaton", "i", "d"})
                .find("unknown flag -skip-layer-validaton for create, did you mean "
                      "--skip-layer-validation?"),
            std::string::npos);
  EXPECT_NE(Refusal({"init-store", "--uid-maping", "0:0:1"}).find("did you mean --uid-mapping?"),
            std::string::npos);
  EXPECT_NE(Refusal({"check", "--repiar"})
                .find("unknown flag --repiar for check, did you mean "
                      "--repair?"),
            std::string::npos);
  EXPECT_NE(
      Refusal({"--stroe", "/s", "list"}).find("unknown global flag --stroe, did you mean --store?"),
      std::string::npos);
  EXPECT_NE(Refusal({"--log-levle=debug", "list"})
                .find("unknown global flag --log-levle, did you mean --log-level?"),
            std::string::npos);
  EXPECT_NE(Refusal({"creat", "i", "d"}).find("unknown command 'creat', did you mean create?"),
            std::string::npos);
  EXPECT_NE(Refusal({"delete-stor"}).find("did you mean delete-store?"), std::string::npos);
  // A command's flag before the command: where it goes.
  EXPECT_NE(Refusal({"--disk-limit-size-bytes", "1", "create", "i", "d"})
                .find("unknown global flag --disk-limit-size-bytes: --disk-limit-size-bytes is a "
                      "flag of create and goes after it"),
            std::string::npos);
  // The value of a mistyped flag is never echoed (it may be a password).
  const std::string refusal = Refusal({"create", "--pasword=s3cret", "i", "d"});
  EXPECT_NE(refusal.find("unknown flag --pasword for create, did you mean --password?"),
            std::string::npos);
  EXPECT_EQ(refusal.find("s3cret"), std::string::npos);
  EXPECT_EQ(Refusal({"--pasword=s3cret", "list"}).find("s3cret"), std::string::npos);
}

}  // namespace
}  // namespace grootfs::frontend
