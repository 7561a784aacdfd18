#include "frontend/image/credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "frontend/util/error.h"

namespace grootfs::frontend::image {
namespace {

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/grootfs-credentials-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    places_.home = dir_ + "/home";
    std::filesystem::create_directories(places_.home + "/.docker");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void DockerConfig(const std::string& json) {
    std::ofstream(places_.home + "/.docker/config.json") << json;
  }

  std::string dir_;
  CredentialPlaces places_;
};

// base64("groot:pa:ss") = Z3Jvb3Q6cGE6c3M=
TEST_F(CredentialsTest, AuthEntryByHostWithOrWithoutSchemeAndPath) {
  for (const std::string key :
       {"reg.example:5000", "https://reg.example:5000/v1/", "http://REG.example:5000"}) {
    DockerConfig(R"({"auths":{")" + key + R"(":{"auth":"Z3Jvb3Q6cGE6c3M="}}})");
    const auto c = LookupCredentials("reg.example:5000", "team/app", places_);
    ASSERT_TRUE(c.has_value()) << key;
    EXPECT_EQ(c->username, "groot");
    EXPECT_EQ(c->password, "pa:ss");  // only the first colon splits
    EXPECT_EQ(c->source, places_.home + "/.docker/config.json");
  }
  EXPECT_FALSE(LookupCredentials("reg.example", "team/app", places_).has_value());  // no port
  EXPECT_FALSE(LookupCredentials("other.example:5000", "team/app", places_).has_value());
}

TEST_F(CredentialsTest, DockerHubAliasesAndTheMostSpecificNamespace) {
  DockerConfig(R"({"auths":{"https://index.docker.io/v1/":{"auth":"Z3Jvb3Q6cGE6c3M="},
                            "docker.io/team":{"username":"team","password":"t"}}})");
  auto c = LookupCredentials("registry-1.docker.io", "library/alpine", places_);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->username, "groot");
  c = LookupCredentials("registry-1.docker.io", "team/app", places_);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->username, "team");
}

TEST_F(CredentialsTest, PrecedenceOfTheFiles) {
  DockerConfig(R"({"auths":{"reg.example":{"username":"docker","password":"d"}}})");
  std::filesystem::create_directories(dir_ + "/run/containers");
  std::ofstream(dir_ + "/run/containers/auth.json")
      << R"({"auths":{"reg.example":{"username":"runtime","password":"r"}}})";
  std::ofstream(dir_ + "/env.json")
      << R"({"auths":{"reg.example":{"username":"env","password":"e"}}})";
  EXPECT_EQ(LookupCredentials("reg.example", "a", places_)->username, "docker");
  places_.xdg_runtime_dir = dir_ + "/run";
  EXPECT_EQ(LookupCredentials("reg.example", "a", places_)->username, "runtime");
  places_.registry_auth_file = dir_ + "/env.json";  // replaces the runtime dir's file
  EXPECT_EQ(LookupCredentials("reg.example", "a", places_)->username, "env");
}

TEST_F(CredentialsTest, BrokenFilesAreOneLineErrorsWithoutSecrets) {
  DockerConfig("{not json");
  EXPECT_THROW(LookupCredentials("reg.example", "a", places_), Error);
  DockerConfig(R"({"auths":{"reg.example":{"auth":"bm8tY29sb24="}}})");  // "no-colon"
  try {
    (void)LookupCredentials("reg.example", "a", places_);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not base64 of user:password"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("no-colon"), std::string::npos);
  }
}

TEST_F(CredentialsTest, AHelperThatHangsIsStoppedAtItsTimeout) {
  std::filesystem::create_directories(dir_ + "/bin");
  const std::string helper = dir_ + "/bin/docker-credential-sleepy";
  std::ofstream(helper) << "#!/bin/sh\nexec sleep 30\n";
  std::filesystem::permissions(helper, std::filesystem::perms::owner_all);
  const std::string old_path = getenv("PATH") ? getenv("PATH") : "";
  setenv("PATH", (dir_ + "/bin:" + old_path).c_str(), 1);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(RunCredentialHelper("sleepy", "reg.example", std::chrono::milliseconds(300)), Error);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  setenv("PATH", old_path.c_str(), 1);
}

}  // namespace
}  // namespace grootfs::frontend::image
