#include "frontend/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "frontend/util/error.h"

namespace grootfs::frontend {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/grootfs-config-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& text) {
    const std::string path = dir_ + "/config-" + std::to_string(++files_) + ".yml";
    std::ofstream(path) << text;
    return path;
  }

  // The message of the Error that loading `text` throws ("" if none).
  std::string LoadError(const std::string& text) {
    try {
      LoadConfig(Write(text));
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      return what;
    }
    return "";
  }

  std::string dir_;
  int files_ = 0;
};

TEST_F(ConfigTest, ReadsEveryKey) {
  const Config config = LoadConfig(Write(R"(
store: /var/vcap/data/grootfs/store/unprivileged
log_level: debug
log_file: /var/log/grootfs.log
helper_bin: /opt/helper
newuidmap_bin: /usr/bin/newuidmap
newgidmap_bin: /usr/bin/newgidmap
tardis_bin: /var/vcap/packages/tardis
metron_endpoint: 127.0.0.1:3457
create:
  disk_limit_size_bytes: 10485760
  exclude_image_from_quota: true
  skip_layer_validation: yes
  with_clean: true
  clean_log_file: /var/log/clean.log
  without_mount: false
  insecure_registries: [registry.local:5000, "10.0.0.1"]
  registry_mirrors:
    - https://mirror.example.com
  remote_layer_client_certificates_path: /var/vcap/certs
clean:
  threshold_bytes: 0
init:
  store_size_bytes: 1073741824
  with_direct_io: true
)"));
  EXPECT_TRUE(config.warnings.empty());
  EXPECT_EQ(config.store, "/var/vcap/data/grootfs/store/unprivileged");
  EXPECT_EQ(config.log_level, LogLevel::kDebug);
  EXPECT_EQ(config.log_file, "/var/log/grootfs.log");
  EXPECT_EQ(config.helper_bin, "/opt/helper");
  EXPECT_EQ(config.newuidmap_bin, "/usr/bin/newuidmap");
  EXPECT_EQ(config.newgidmap_bin, "/usr/bin/newgidmap");
  EXPECT_EQ(config.create.disk_limit_size_bytes, 10485760);
  EXPECT_EQ(config.create.exclude_image_from_quota, true);
  EXPECT_EQ(config.create.skip_layer_validation, true);
  EXPECT_EQ(config.create.with_clean, true);
  EXPECT_EQ(config.create.clean_log_file, "/var/log/clean.log");
  EXPECT_EQ(config.create.without_mount, false);
  EXPECT_EQ(config.create.insecure_registries,
            (std::vector<std::string>{"registry.local:5000", "10.0.0.1"}));
  EXPECT_EQ(config.create.registry_mirrors,
            (std::vector<std::string>{"https://mirror.example.com"}));
  EXPECT_EQ(config.create.remote_layer_client_certificates_path, "/var/vcap/certs");
  EXPECT_EQ(config.clean.threshold_bytes, 0);
  EXPECT_EQ(config.init.store_size_bytes, 1073741824);
}

TEST_F(ConfigTest, EmptyFileAndNullValuesLeaveEverythingUnset) {
  for (const std::string text :
       {"", "# only a comment\n", "store:\ncreate:\nclean: ~\ninit: null\n",
        "create:\n  disk_limit_size_bytes:\n  insecure_registries:\n"}) {
    const Config config = LoadConfig(Write(text));
    EXPECT_FALSE(config.store) << text;
    EXPECT_FALSE(config.log_level);
    EXPECT_FALSE(config.create.disk_limit_size_bytes);
    EXPECT_FALSE(config.create.insecure_registries);
    EXPECT_FALSE(config.clean.threshold_bytes);
    EXPECT_FALSE(config.init.store_size_bytes);
    EXPECT_TRUE(config.warnings.empty());
  }
}

TEST_F(ConfigTest, UnknownKeysBecomeWarnings) {
  const std::string path = Write(R"(
store: /s
stroe: /typo
create:
  disk_limit: 5
  with_clean: false
clean:
  threshold: 1
init:
  store_size: 2
  with_direct_io: false
)");
  const Config config = LoadConfig(path);
  EXPECT_EQ(config.store, "/s");
  EXPECT_EQ(config.create.with_clean, false);
  EXPECT_FALSE(config.create.disk_limit_size_bytes);
  ASSERT_EQ(config.warnings.size(), 4u);
  // Each names the key, the file and the known key nearest to it.
  EXPECT_EQ(config.warnings[0],
            "unknown config key stroe in " + path + " (nearest known key: store)");
  EXPECT_EQ(config.warnings[1], "unknown config key create.disk_limit in " + path +
                                    " (nearest known key: create.disk_limit_size_bytes)");
  EXPECT_EQ(config.warnings[2], "unknown config key clean.threshold in " + path +
                                    " (nearest known key: clean.threshold_bytes)");
  EXPECT_EQ(config.warnings[3], "unknown config key init.store_size in " + path +
                                    " (nearest known key: init.store_size_bytes)");
}

TEST_F(ConfigTest, TheNearestKnownKeyIsTheFewestEditsAway) {
  const Config config = LoadConfig(Write(
      "log_levle: debug\nhelperbin: /h\ncreate:\n  insecure_registry: [a]\n  withclean: true\n"
      "zzz: 1\n"));
  ASSERT_EQ(config.warnings.size(), 5u);
  EXPECT_NE(config.warnings[0].find("(nearest known key: log_level)"), std::string::npos)
      << config.warnings[0];
  EXPECT_NE(config.warnings[1].find("(nearest known key: helper_bin)"), std::string::npos)
      << config.warnings[1];
  EXPECT_NE(config.warnings[2].find("(nearest known key: create.insecure_registries)"),
            std::string::npos)
      << config.warnings[2];
  EXPECT_NE(config.warnings[3].find("(nearest known key: create.with_clean)"), std::string::npos)
      << config.warnings[3];
  EXPECT_NE(config.warnings[4].find("unknown config key zzz in "), std::string::npos)
      << config.warnings[4];
  EXPECT_FALSE(config.log_level);
  EXPECT_FALSE(config.helper_bin);
}

// Keys grootfs, or the config file BOSH's garden job writes, have that mean nothing here are
// accepted without a warning.
TEST_F(ConfigTest, GrootfsAndBoshKeysWithoutMeaningHereAreAccepted) {
  const Config config =
      LoadConfig(Write("tardis_bin: /t\nlog_timestamp_format: rfc3339\n"
                       "init:\n  with_direct_io: 7\n"));
  EXPECT_TRUE(config.warnings.empty()) << ::testing::PrintToString(config.warnings);
}

TEST_F(ConfigTest, MetricsKeys) {
  const Config config = LoadConfig(
      Write("metron_endpoint: 127.0.0.1:3457\nmetrics:\n  prometheus_textfile: /t/g.prom\n"));
  EXPECT_TRUE(config.warnings.empty()) << ::testing::PrintToString(config.warnings);
  EXPECT_EQ(config.metron_endpoint, "127.0.0.1:3457");
  EXPECT_EQ(config.metrics.prometheus_textfile, "/t/g.prom");
  EXPECT_NE(LoadError("metron_endpoint: [1, 2]\n").find("metron_endpoint"), std::string::npos);
  EXPECT_FALSE(LoadConfig(Write("metrics:\n  prometheus_txtfile: x\n")).warnings.empty());
}

TEST_F(ConfigTest, NegativeSizesAreRefused) {
  for (const std::string key : {"create:\n  disk_limit_size_bytes", "clean:\n  threshold_bytes",
                                "init:\n  store_size_bytes"}) {
    const std::string error = LoadError(key + ": -1\n");
    EXPECT_NE(error.find("negative"), std::string::npos) << error;
    EXPECT_NE(error.find(dir_), std::string::npos) << error;
  }
  EXPECT_NE(
      LoadError("create:\n  disk_limit_size_bytes: -1\n").find("create.disk_limit_size_bytes"),
      std::string::npos);
}

TEST_F(ConfigTest, WrongTypesAreRefused) {
  EXPECT_NE(LoadError("create:\n  disk_limit_size_bytes: lots\n").find("number"),
            std::string::npos);
  EXPECT_NE(LoadError("create:\n  disk_limit_size_bytes: 1.5\n"), "");
  EXPECT_NE(LoadError("create:\n  disk_limit_size_bytes: 99999999999999999999\n"), "");
  EXPECT_NE(LoadError("create:\n  with_clean: maybe\n").find("create.with_clean"),
            std::string::npos);
  EXPECT_NE(LoadError("create:\n  insecure_registries: host:5000\n").find("list"),
            std::string::npos);
  EXPECT_NE(LoadError("create:\n  insecure_registries: [[a]]\n"), "");
  EXPECT_NE(LoadError("store: [a, b]\n").find("store"), std::string::npos);
  EXPECT_NE(LoadError("store: {a: b}\n"), "");
  EXPECT_NE(LoadError("create: 5\n").find("create must be a mapping"), std::string::npos);
  EXPECT_NE(LoadError("clean: [1]\n"), "");
  EXPECT_NE(LoadError("- store\n- log_level\n").find("mapping"), std::string::npos);
  EXPECT_NE(LoadError("just a string\n"), "");
}

TEST_F(ConfigTest, LogLevelMustBeKnown) {
  EXPECT_EQ(LoadConfig(Write("log_level: fatal\n")).log_level, LogLevel::kFatal);
  const std::string error = LoadError("log_level: verbose\n");
  EXPECT_NE(error.find("log_level"), std::string::npos) << error;
  EXPECT_NE(error.find("verbose"), std::string::npos) << error;
}

TEST_F(ConfigTest, MissingFileIsAnErrorNamingIt) {
  const std::string path = dir_ + "/missing.yml";
  try {
    LoadConfig(path);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
  }
  EXPECT_THROW(LoadConfig(dir_), Error);  // a directory
}

TEST_F(ConfigTest, UnparsableFileIsAnErrorNamingIt) {
  const std::string path = Write("store: [unclosed\nlog_level: info\n");
  try {
    LoadConfig(path);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot parse config file " + path), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
  EXPECT_NE(LoadError("store: {a: b\n"), "");
  EXPECT_NE(LoadError("store: a\n  b: c\n"), "");
  EXPECT_NE(LoadError("a: b\n c: d\n  - e\n"), "");
}

}  // namespace
}  // namespace grootfs::frontend

namespace grootfs::frontend {
namespace {

// The README's configuration example names every key this file reads, and nothing else: it
// loads without a warning and sets every field.
TEST_F(ConfigTest, TheReadmeExampleHasEveryKeyAndNoUnknownOne) {
  std::ifstream in(std::string(GROOTFS_FIXTURES) + "/../../README.md");
  const std::string readme((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto section = readme.find("## Configuration");
  ASSERT_NE(section, std::string::npos);
  const auto start = readme.find("```yaml\n", section);
  ASSERT_NE(start, std::string::npos);
  const auto end = readme.find("```", start + 8);
  ASSERT_NE(end, std::string::npos);
  const Config c = LoadConfig(Write(readme.substr(start + 8, end - start - 8)));
  EXPECT_TRUE(c.warnings.empty()) << ::testing::PrintToString(c.warnings);
  EXPECT_TRUE(c.store && c.log_level && c.log_file && c.helper_bin && c.newuidmap_bin &&
              c.newgidmap_bin);
  const auto& k = c.create;
  EXPECT_TRUE(k.disk_limit_size_bytes && k.exclude_image_from_quota && k.skip_layer_validation &&
              k.with_clean && k.clean_log_file && k.without_mount && k.insecure_registries &&
              k.registry_mirrors && k.remote_layer_client_certificates_path);
  EXPECT_TRUE(c.clean.threshold_bytes && c.init.store_size_bytes);
}

}  // namespace
}  // namespace grootfs::frontend
