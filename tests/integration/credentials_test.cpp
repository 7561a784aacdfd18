// Registry credentials the way the container tools keep them, against Debian's docker-registry
// with htpasswd auth: each auth file kind and their precedence, credHelpers and credsStore (a
// docker-credential-testhelper script on PATH), a failing helper, --password-stdin, flags over
// files, a wrong password's message, and root using a root-only file in a store it does not own.
#include <sys/stat.h>

#include "tests/integration/registry_support.h"

namespace grootfs_it {
namespace {

constexpr const char* kUser = "groot";
constexpr const char* kPassword = "s3cret-Pa55";

class CredentialsTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    if (!HaveRegistryTools() || !HaveProgram("htpasswd"))
      GTEST_SKIP() << "docker-registry, skopeo or htpasswd is not installed";
    InitStore();
    auto pw = RunCmd({"htpasswd", "-Bbn", kUser, kPassword});
    ASSERT_TRUE(pw.ok()) << pw.Describe();
    WriteFile(tmp_ / "htpasswd", pw.out);
    RegistryConfig c;
    c.htpasswd = (tmp_ / "htpasswd").string();
    ASSERT_TRUE(reg_.Start(tmp_ / "reg", c));
    auto push = PushImage(FixtureImage("alpine"), reg_.host() + "/private/alpine:latest",
                          {"--dest-creds", std::string(kUser) + ":" + kPassword});
    ASSERT_TRUE(push.ok()) << push.Describe();
    image_ = "docker://" + reg_.host() + "/private/alpine:latest";
    home_ = tmp_ / "home";
    bin_ = tmp_ / "bin";
    fs::create_directories(home_);
    fs::create_directories(bin_);
  }

  // create with a clean environment: HOME=home_, PATH with bin_ first, `env` added.
  RunResult Create(const std::string& id, const std::vector<std::string>& env = {},
                   const std::vector<std::string>& flags = {}, const std::string& store = "") {
    std::vector<std::string> argv{"env", "-i", "HOME=" + home_.string(),
                                  "PATH=" + bin_.string() + ":/usr/sbin:/usr/bin:/sbin:/bin"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.insert(argv.end(), {GrootfsBin(), "--store", store.empty() ? store_ : store, "--log-level",
                             "debug", "--log-file", (tmp_ / "log").string(), "create",
                             "--insecure-registry", reg_.host()});
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), {image_, id});
    return RunCmd(argv, 180s);
  }

  static std::string AuthJson(const std::string& key, const std::string& user,
                              const std::string& password) {
    return Json{{"auths", {{key, {{"auth", Base64(user + ":" + password)}}}}}}.dump();
  }

  void ExpectCreated(const RunResult& r, const std::string& id) {
    EXPECT_TRUE(r.ok()) << r.Describe();
    EXPECT_TRUE(Exists(RootfsOf(id) / "bin")) << id;
  }

  // One line, names the registry, and keeps every secret to itself (also in the log).
  void ExpectRefused(const RunResult& r, const std::string& must_say) {
    EXPECT_NE(r.status, 0) << r.Describe();
    EXPECT_TRUE(IsOneLine(r.out)) << r.out;
    EXPECT_NE(r.out.find(must_say), std::string::npos) << r.out;
    for (const std::string& secret : {std::string(kPassword), std::string("wrong-pass"),
                                      Base64(std::string(kUser) + ":wrong-pass")}) {
      EXPECT_EQ(r.out.find(secret), std::string::npos) << r.out;
      EXPECT_EQ(ReadFile(tmp_ / "log").find(secret), std::string::npos) << "logged: " << secret;
    }
  }

  void WriteHelper(const std::string& name, const std::string& body) {
    const fs::path p = bin_ / ("docker-credential-" + name);
    WriteFile(p, "#!/bin/sh\n" + body);
    fs::permissions(p, fs::perms::owner_all);
  }

  DockerRegistry reg_;
  std::string image_;
  fs::path home_, bin_;
};

TEST_F(CredentialsTest, EachAuthFileKindIsFoundByRegistryHost) {
  auto anonymous = Create("anon");
  ExpectRefused(anonymous, "authentication required (HTTP 401 from " + reg_.host());

  // $REGISTRY_AUTH_FILE: base64 auth under the bare host.
  WriteFile(tmp_ / "registry-auth.json", AuthJson(reg_.host(), kUser, kPassword));
  ExpectCreated(
      Create("env-file", {"REGISTRY_AUTH_FILE=" + (tmp_ / "registry-auth.json").string()}),
      "env-file");

  // ${XDG_RUNTIME_DIR}/containers/auth.json: username and password fields, a URL key.
  fs::create_directories(tmp_ / "run" / "containers");
  WriteFile(
      tmp_ / "run" / "containers" / "auth.json",
      Json{{"auths",
            {{"https://" + reg_.host() + "/v1/", {{"username", kUser}, {"password", kPassword}}}}}}
          .dump());
  ExpectCreated(Create("xdg-runtime", {"XDG_RUNTIME_DIR=" + (tmp_ / "run").string()}),
                "xdg-runtime");

  // ~/.docker/config.json: docker's file, with a key naming the repository's namespace.
  fs::create_directories(home_ / ".docker");
  WriteFile(home_ / ".docker" / "config.json",
            AuthJson(reg_.host() + "/private", kUser, kPassword));
  ExpectCreated(Create("docker-config"), "docker-config");
}

TEST_F(CredentialsTest, TheFirstFileThatKnowsTheRegistryWinsAndFlagsWinOverFiles) {
  fs::create_directories(home_ / ".docker");
  WriteFile(home_ / ".docker" / "config.json", AuthJson(reg_.host(), kUser, kPassword));
  const std::string first = (tmp_ / "first.json").string();
  WriteFile(first, AuthJson(reg_.host(), kUser, "wrong-pass"));
  // A file for another registry is passed over.
  WriteFile(tmp_ / "other.json", AuthJson("registry.example.com", kUser, "wrong-pass"));
  ExpectCreated(Create("other", {"REGISTRY_AUTH_FILE=" + (tmp_ / "other.json").string()}), "other");

  auto wrong = Create("wrong", {"REGISTRY_AUTH_FILE=" + first});
  ExpectRefused(wrong, "authentication failed (HTTP 401 from " + reg_.host() +
                           "): check the credentials from " + first);
  EXPECT_FALSE(Exists(ImageDir("wrong")));

  ExpectCreated(Create("flags", {"REGISTRY_AUTH_FILE=" + first},
                       {"--username", kUser, "--password", kPassword}),
                "flags");
  auto wrong_flags = Create("wrong-flags", {}, {"--username", kUser, "--password", "wrong-pass"});
  ExpectRefused(wrong_flags, "check --username and --password");
}

TEST_F(CredentialsTest, PasswordStdinReadsOneLine) {
  const std::string cmd = "printf '%s\\nignored\\n' " + std::string(kPassword) +
                          " | env -i HOME=" + home_.string() + " " + GrootfsBin() + " --store " +
                          store_ + " create --insecure-registry " + reg_.host() + " --username " +
                          kUser + " --password-stdin " + image_ + " stdin";
  ExpectCreated(RunCmd({"sh", "-c", cmd}, 180s), "stdin");
  auto both = RunCmd({GrootfsBin(), "--store", store_, "create", "--username", kUser, "--password",
                      "x", "--password-stdin", image_, "both"});
  EXPECT_NE(both.status, 0);
  EXPECT_NE(both.out.find("--password and --password-stdin"), std::string::npos) << both.out;
  auto alone = RunCmd({GrootfsBin(), "--store", store_, "create", "--password-stdin", image_, "x"});
  EXPECT_NE(alone.status, 0);
  EXPECT_NE(alone.out.find("--password-stdin needs --username"), std::string::npos) << alone.out;
}

TEST_F(CredentialsTest, CredHelpersAndCredsStoreRunAsDockerRunsThem) {
  const fs::path asked = tmp_ / "asked";
  WriteHelper("testhelper", "read server\necho \"$1 $server\" >> " + asked.string() +
                                "\nif [ \"$server\" = \"" + reg_.host() +
                                "\" ]; then\n  printf '{\"ServerURL\":\"%s\",\"Username\":\"" +
                                kUser + "\",\"Secret\":\"" + kPassword +
                                "\"}' \"$server\"\nelse\n  echo 'credentials not found in native "
                                "keychain'; exit 1\nfi\n");
  fs::create_directories(home_ / ".docker");
  const fs::path config = home_ / ".docker" / "config.json";
  WriteFile(config, Json{{"credHelpers", {{reg_.host(), "testhelper"}}}}.dump());
  ExpectCreated(Create("cred-helpers"), "cred-helpers");
  EXPECT_EQ(ReadFile(asked), "get " + reg_.host() + "\n");

  WriteFile(config,
            Json{{"credsStore", "testhelper"}, {"auths", {{reg_.host(), Json::object()}}}}.dump());
  ExpectCreated(Create("creds-store"), "creds-store");

  WriteHelper("failing", "echo 'the keyring is locked' >&2\necho 'keyring locked'\nexit 3\n");
  WriteFile(config, Json{{"credHelpers", {{reg_.host(), "failing"}}}}.dump());
  ExpectRefused(Create("failing"), "the credential helper docker-credential-failing failed for " +
                                       reg_.host() + " (exit status 3: keyring locked)");
  WriteFile(config, Json{{"credsStore", "not-installed"}}.dump());
  ExpectRefused(Create("missing"), "docker-credential-not-installed is not installed");
}

TEST_F(CredentialsTest, RootReadsARootOnlyFileBeforeActingAsTheStoreOwner) {
  const std::string store = (tmp_ / "mapped-store").string();
  auto init = GrootfsV(
      store, {"init-store", "--uid-mapping", "0:4294967294:1", "--uid-mapping", "1:1:4294967293",
              "--gid-mapping", "0:4294967294:1", "--gid-mapping", "1:1:4294967293"});
  ASSERT_TRUE(init.ok()) << init.Describe();
  const fs::path dir = tmp_ / "root-only";
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all);
  WriteFile(dir / "auth.json", AuthJson(reg_.host(), kUser, kPassword));
  fs::permissions(dir / "auth.json", fs::perms::owner_read | fs::perms::owner_write);
  auto r = Create("mapped", {"REGISTRY_AUTH_FILE=" + (dir / "auth.json").string()}, {}, store);
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_TRUE(Exists(fs::path(store) / "images" / "mapped" / "rootfs" / "bin"));
  auto del = GrootfsV(store, {"delete", "mapped"});
  EXPECT_TRUE(del.ok()) << del.Describe();
  auto gone = GrootfsV(store, {"delete-store"});
  EXPECT_TRUE(gone.ok()) << gone.Describe();
}

}  // namespace
}  // namespace grootfs_it
