// docker:// images from Debian's docker-registry: plain HTTP and --insecure-registry, TLS,
// htpasswd auth, manifest lists, many layers, mirrors (a pull-through registry), and layers
// fetched from their urls with client certificates (a Garden oci:/// layout and a docker image).
#include "tests/integration/registry_support.h"

namespace grootfs_it {
namespace {

const char* const kAlpinePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

class RegistryTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    if (!HaveRegistryTools()) GTEST_SKIP() << "docker-registry or skopeo is not installed";
    InitStore();
  }

  RunResult Create(const std::string& image, const std::string& id,
                   const std::vector<std::string>& flags = {},
                   const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv{"env"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.insert(argv.end(), {GrootfsBin(), "--store", store_});
    if (!config_.empty()) argv.insert(argv.end(), {"--config", config_});
    argv.push_back("create");
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back(image);
    argv.push_back(id);
    return RunCmd(argv, 180s);
  }

  // A TLS registry trusting `certs` holding `tls_image` as `tls_ref`, and a plain-HTTP one
  // holding alpine as /alpine:latest.
  void StartTlsAndPlain(TestCerts& certs, DockerRegistry& tls, DockerRegistry& plain,
                        const std::string& tls_image, const std::string& tls_ref) {
    ASSERT_TRUE(certs.Make(tmp_ / "certs"));
    ASSERT_TRUE(tls.Start(tmp_ / "tls", RegistryConfig::Tls(certs)));
    ASSERT_TRUE(plain.Start(tmp_ / "plain"));
    ASSERT_TRUE(PushImage(FixtureImage(tls_image), tls.host() + tls_ref).ok());
    ASSERT_TRUE(PushImage(FixtureImage("alpine"), plain.host() + "/alpine:latest").ok());
  }

  void ExpectShellRuns(const std::string& id) {
    auto sh = InRootfs(RootfsOf(id), "echo ok");
    EXPECT_EQ(sh.out, "ok\n") << sh.Describe();
  }

  // A refused create left nothing of `id` (other images may exist and be mounted).
  void ExpectNoImage(const std::string& id) {
    EXPECT_EQ(ListImages().count(ImageDir(id).string()), 0u);
    EXPECT_FALSE(Exists(ImageDir(id)));
    EXPECT_FALSE(MountAt(RootfsOf(id)).has_value());
    EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty());
  }

  void UseConfig(const std::string& yaml) {
    config_ = (tmp_.path() / "config.yml").string();
    WriteFile(config_, yaml);
  }

  std::string config_;
};

TEST_F(RegistryTest, PlainHttpNeedsInsecureRegistryThenPullsAndRuns) {
  DockerRegistry reg;
  ASSERT_TRUE(reg.Start(tmp_ / "reg"));
  auto push = PushImage(FixtureImage("alpine"), reg.host() + "/alpine:latest");
  ASSERT_TRUE(push.ok()) << push.Describe();
  const std::string image = "docker://" + reg.host() + "/alpine:latest";

  auto refused = Create(image, "alpine");
  EXPECT_NE(refused.status, 0) << refused.Describe();
  EXPECT_TRUE(IsOneLine(refused.out)) << refused.out;
  EXPECT_NE(refused.out.find("cannot pull " + image), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("--insecure-registry " + reg.host()), std::string::npos)
      << refused.out;
  ExpectNothingLeftOf("alpine");

  auto r = Create(image, "alpine", {"--insecure-registry", reg.host()});
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(r.err, "");
  Json j = ParseJson(r.out);
  EXPECT_EQ(j["process"]["env"], Json::array({kAlpinePath}));
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("alpine")));
  ExpectShellRuns("alpine");
  EXPECT_EQ(reg.GrootfsRequests("/blobs/"), 2) << reg.Log();  // config and the one layer
  // Listing another host does not cover this one.
  auto other = Create(image, "other", {"--insecure-registry", "127.0.0.1"});
  EXPECT_NE(other.status, 0) << other.Describe();
  ExpectNoImage("other");
}

TEST_F(RegistryTest, ManyLayersDownloadInParallel) {
  DockerRegistry reg;
  ASSERT_TRUE(reg.Start(tmp_ / "reg"));
  ASSERT_TRUE(PushImage(FixtureImage("garden-rootfs"), reg.host() + "/garden/rootfs:v1").ok());
  auto r = Create("docker://" + reg.host() + "/garden/rootfs:v1", "garden",
                  {"--insecure-registry", reg.host()});
  ASSERT_TRUE(r.ok()) << r.Describe();
  const fs::path root = RootfsOf("garden");
  EXPECT_EQ(ReadFile(root / "test/hello"), "walla\n");
  EXPECT_TRUE(fs::is_directory(root / "etc/foo")) << "the config's volume";
  EXPECT_FALSE(Exists(root / "file-to-be-deleted"));
  EXPECT_EQ(DirEntries(root / "var"), std::set<std::string>{"istillexist"});
  auto sh = InRootfs(root, "cat /test/hello");
  EXPECT_EQ(sh.out, "walla\n") << sh.Describe();
}

// By tag, a create whose layers are cached asks for the manifest only; by digest, it asks for
// nothing (and loads no network library: there is none to load since the HTTP client is linked
// in, which RequestsShareConnectionsAndLoadNoNetworkLibrary checks).
TEST_F(RegistryTest, CachedLayersByDigestMakeNoRequestAndLoadNoLibcurl) {
  DockerRegistry reg;
  ASSERT_TRUE(reg.Start(tmp_ / "reg"));
  ASSERT_TRUE(PushImage(FixtureImage("alpine"), reg.host() + "/alpine:latest").ok());
  const std::string tag = "docker://" + reg.host() + "/alpine:latest";
  ASSERT_TRUE(Create(tag, "cold", {"--insecure-registry", reg.host()}).ok());
  const int cold = reg.GrootfsRequests();
  auto r = Create(tag, "by-tag", {"--insecure-registry", reg.host()});
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(reg.GrootfsRequests(), cold + 1) << reg.Log();
  EXPECT_EQ(reg.GrootfsRequests("/blobs/"), 2) << "config and layer, once";
  auto digest = RunCmd({"sh", "-c",
                        "skopeo inspect --raw --tls-verify=false docker://" + reg.host() +
                            "/alpine:latest | sha256sum"});
  ASSERT_TRUE(digest.ok()) << digest.Describe();
  const std::string ref = "docker://" + reg.host() + "/alpine@sha256:" + digest.out.substr(0, 64);
  const int before = reg.GrootfsRequests();
  r = Create(ref, "by-digest", {"--insecure-registry", reg.host()}, {"LD_DEBUG=libs"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_NE(r.err.find("libc.so.6"), std::string::npos) << "no loader output?\n" << r.err;
  EXPECT_EQ(r.err.find("libcurl"), std::string::npos) << r.err;
  EXPECT_EQ(reg.GrootfsRequests(), before) << reg.Log();
  ExpectShellRuns("by-digest");
}

// An insecure registry named with its port is asked over plain HTTP first (one port speaks one
// protocol: a TLS attempt first would only cost loading OpenSSL), and the scheme it answered in
// is remembered in the store's cache: a TLS registry costs one failed plain request once. A
// memory gone stale costs one failed attempt and is replaced.
TEST_F(RegistryTest, AnInsecureRegistrysSchemeIsTriedPlainFirstThenRemembered) {
  TestCerts certs;
  DockerRegistry tls, plain;
  ASSERT_NO_FATAL_FAILURE(StartTlsAndPlain(certs, tls, plain, "alpine", "/alpine:latest"));
  const fs::path cache = fs::path(store_) / "cache";
  const auto memory = [&](const char* scheme, const DockerRegistry& reg) {
    return cache / scheme / ("127.0.0.1%3A" + std::to_string(reg.port()));
  };
  int n = 0;
  const auto create = [&](const DockerRegistry& reg) {
    const std::string name = "c" + std::to_string(++n);
    const fs::path log = tmp_ / (name + ".log");
    auto r = Grootfs(store_, "--log-level", "info", "--log-file", log.string(), "create",
                     "--insecure-registry", reg.host(), "docker://" + reg.host() + "/alpine:latest",
                     name);
    EXPECT_TRUE(r.ok()) << r.Describe();
    ExpectShellRuns(name);
    return ReadFile(log);
  };

  std::string log = create(plain);  // no TLS attempt
  EXPECT_EQ(log.find("registry-plain-http"), std::string::npos) << log;
  EXPECT_EQ(log.find("registry-tls"), std::string::npos) << log;
  EXPECT_TRUE(fs::is_regular_file(memory("plain-http", plain)));

  log = create(tls);  // one failed plain request, then TLS, remembered
  EXPECT_NE(log.find("registry-tls"), std::string::npos) << log;
  EXPECT_TRUE(fs::is_regular_file(memory("https", tls)));
  log = create(tls);
  EXPECT_EQ(log.find("registry-tls"), std::string::npos) << "a plain attempt again:\n" << log;
  EXPECT_EQ(log.find("registry-plain-http"), std::string::npos) << log;

  // Stale memories: each registry remembered in the other's scheme.
  fs::rename(memory("https", tls), memory("plain-http", tls));
  fs::rename(memory("plain-http", plain), memory("https", plain));
  log = create(tls);
  EXPECT_NE(log.find("registry-tls"), std::string::npos) << log;
  EXPECT_TRUE(fs::is_regular_file(memory("https", tls)));
  EXPECT_FALSE(fs::exists(memory("plain-http", tls)));
  log = create(plain);
  EXPECT_NE(log.find("registry-plain-http"), std::string::npos) << log;
  EXPECT_TRUE(fs::is_regular_file(memory("plain-http", plain)));
  EXPECT_FALSE(fs::exists(memory("https", plain)));
}

// An OCI index of alpine (for this host) and garden-busybox (for another platform).
std::string MakeIndexLayout(const fs::path& dir, const std::vector<std::string>& platforms) {
  CopyLayout(FixtureImage("alpine"), dir);
  for (auto& e : fs::directory_iterator(FixtureImage("garden-busybox") + "/blobs/sha256")) {
    fs::copy_file(e.path(), dir / "blobs/sha256" / e.path().filename(),
                  fs::copy_options::overwrite_existing);
  }
  const std::vector<std::pair<std::string, size_t>> images = {
      {"sha256:c22145977c798fe5d4a766b425813fc153e77549ecd0f204b1acd01209e1962d", 348},   // alpine
      {"sha256:c1755e6731ea857f28e6eb3ed1204eab962a2ef2895e03a087c7fa95e18df03f", 348}};  // busybox
  Json manifests = Json::array();
  for (size_t i = 0; i < platforms.size(); ++i) {
    manifests.push_back({{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                         {"digest", images[i % 2].first},
                         {"size", images[i % 2].second},
                         {"platform", {{"os", "linux"}, {"architecture", platforms[i]}}}});
  }
  const std::string body = Json{
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.index.v1+json"},
      {"manifests", manifests}}.dump();
  const std::string digest = AddBlob(dir, body);
  SetIndex(dir, "application/vnd.oci.image.index.v1+json", digest, body.size());
  return digest;
}

TEST_F(RegistryTest, ManifestListPicksTheHostPlatform) {
  DockerRegistry reg;
  ASSERT_TRUE(reg.Start(tmp_ / "reg"));
  const std::string other_arch = HostArch() == "s390x" ? "ppc64le" : "s390x";
  MakeIndexLayout(tmp_ / "multi", {HostArch(), other_arch});
  MakeIndexLayout(tmp_ / "foreign", {other_arch, "riscv64"});
  ASSERT_TRUE(PushImage((tmp_ / "multi").string(), reg.host() + "/multi:latest", {"--all"}).ok());
  ASSERT_TRUE(PushImage((tmp_ / "foreign").string(), reg.host() + "/foreign:1", {"--all"}).ok());

  auto r = Create("docker://" + reg.host() + "/multi:latest", "multi",
                  {"--insecure-registry", reg.host()});
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_TRUE(Exists(RootfsOf("multi") / "etc/alpine-release")) << "not the host's image";
  ExpectShellRuns("multi");

  const std::string foreign = "docker://" + reg.host() + "/foreign:1";
  auto refused = Create(foreign, "foreign", {"--insecure-registry", reg.host()});
  EXPECT_NE(refused.status, 0);
  EXPECT_TRUE(IsOneLine(refused.out)) << refused.out;
  EXPECT_NE(refused.out.find("cannot pull " + foreign), std::string::npos) << refused.out;
  EXPECT_NE(refused.out.find("no image for this host's platform linux/" + HostArch()),
            std::string::npos)
      << refused.out;
  EXPECT_NE(refused.out.find("linux/riscv64"), std::string::npos) << refused.out;
  ExpectNoImage("foreign");
}

TEST_F(RegistryTest, AMissingImageIsNamedInTheError) {
  DockerRegistry reg;
  ASSERT_TRUE(reg.Start(tmp_ / "reg"));
  ASSERT_TRUE(PushImage(FixtureImage("alpine"), reg.host() + "/alpine:latest").ok());
  for (const std::string name : {"missing:latest", "alpine:no-such-tag"}) {
    const std::string image = "docker://" + reg.host() + "/" + name;
    auto r = Create(image, "missing", {"--insecure-registry", reg.host()});
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(Trim(r.out),
              "cannot pull " + image + ": image not found (HTTP 404 from " + reg.host() + ")");
    ExpectNothingLeftOf("missing");
  }
}

TEST_F(RegistryTest, BasicAuthWithHtpasswd) {
  if (!HaveProgram("htpasswd")) GTEST_SKIP() << "htpasswd (apache2-utils) is not installed";
  auto pw = RunCmd({"htpasswd", "-Bbn", "groot", "s3cret-Pa55"});
  ASSERT_TRUE(pw.ok()) << pw.Describe();
  WriteFile(tmp_ / "htpasswd", pw.out);
  DockerRegistry reg;
  RegistryConfig c;
  c.htpasswd = (tmp_ / "htpasswd").string();
  ASSERT_TRUE(reg.Start(tmp_ / "reg", c));
  auto push = PushImage(FixtureImage("alpine"), reg.host() + "/private/alpine:latest",
                        {"--dest-creds", "groot:s3cret-Pa55"});
  ASSERT_TRUE(push.ok()) << push.Describe();
  const std::string image = "docker://" + reg.host() + "/private/alpine:latest";
  const std::vector<std::string> insecure{"--insecure-registry", reg.host()};

  auto anonymous = Create(image, "anon", insecure);
  EXPECT_NE(anonymous.status, 0);
  EXPECT_NE(anonymous.out.find("authentication required (HTTP 401 from " + reg.host()),
            std::string::npos)
      << anonymous.out;
  ExpectNothingLeftOf("anon");

  std::vector<std::string> wrong = insecure;
  wrong.insert(wrong.end(), {"--username", "groot", "--password", "wrong"});
  auto refused = Create(image, "wrong", wrong);
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.out.find("authentication failed (HTTP 401 from " + reg.host()),
            std::string::npos)
      << refused.out;
  ExpectNothingLeftOf("wrong");

  std::vector<std::string> right = insecure;
  right.insert(right.end(), {"--username", "groot", "--password", "s3cret-Pa55"});
  const fs::path log = tmp_ / "grootfs.log";
  std::vector<std::string> flags = right;
  auto r = RunCmd({GrootfsBin(), "--store", store_, "--log-level", "debug", "--log-file",
                   log.string(), "create", flags[0], flags[1], flags[2], flags[3], flags[4],
                   flags[5], image, "private"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  ExpectShellRuns("private");
  const std::string logged = ReadFile(log);
  EXPECT_NE(logged.find("fetching-layer"), std::string::npos);
  EXPECT_EQ(logged.find("s3cret-Pa55"), std::string::npos) << "the password was logged";
  EXPECT_EQ(logged.find(Base64("groot:s3cret-Pa55")), std::string::npos) << "credentials logged";
}

TEST_F(RegistryTest, TlsRegistryIsVerifiedAgainstTheSystemOrSslCertFile) {
  TestCerts certs;
  ASSERT_TRUE(certs.Make(tmp_ / "certs"));
  DockerRegistry reg;
  ASSERT_TRUE(reg.Start(tmp_ / "reg", RegistryConfig::Tls(certs)));
  ASSERT_TRUE(PushImage(FixtureImage("alpine"), reg.host() + "/alpine:tls").ok());
  const std::string image = "docker://" + reg.host() + "/alpine:tls";

  auto untrusted = Create(image, "untrusted");
  EXPECT_NE(untrusted.status, 0);
  EXPECT_TRUE(IsOneLine(untrusted.out)) << untrusted.out;
  EXPECT_NE(untrusted.out.find("not trusted"), std::string::npos) << untrusted.out;
  EXPECT_NE(untrusted.out.find("--insecure-registry " + reg.host()), std::string::npos)
      << untrusted.out;
  ExpectNothingLeftOf("untrusted");

  auto trusted = Create(image, "trusted", {}, {"SSL_CERT_FILE=" + certs.ca_crt.string()});
  ASSERT_TRUE(trusted.ok()) << trusted.Describe();
  ExpectShellRuns("trusted");

  // --insecure-registry: TLS without verification (a fresh store: nothing cached).
  ASSERT_TRUE(Grootfs(store_, "delete", "trusted").ok());
  ASSERT_TRUE(Grootfs(store_, "clean").ok());
  auto insecure = Create(image, "insecure", {"--insecure-registry", reg.host()});
  ASSERT_TRUE(insecure.ok()) << insecure.Describe();
  ExpectShellRuns("insecure");
}

// The requests of one create share their TCP and TLS connections: a warm create by tag opens
// one connection for its one request, a cold create of 30 layers far fewer than it makes
// requests. Reaching a TLS registry loads the TLS plugin (grootfs-tls.so, OpenSSL linked in) and
// no shared library of libcurl's kind; a warm create from a plain-HTTP registry loads nothing.
TEST_F(RegistryTest, RequestsShareConnectionsAndLoadNoNetworkLibrary) {
  TestCerts certs;
  DockerRegistry reg, plain;
  ASSERT_NO_FATAL_FAILURE(
      StartTlsAndPlain(certs, reg, plain, "garden-rootfs", "/garden/rootfs:v1"));
  const std::string image = "docker://" + reg.host() + "/garden/rootfs:v1";
  const std::string trust = "SSL_CERT_FILE=" + certs.ca_crt.string();

  auto cold = Create(image, "cold", {}, {trust});
  ASSERT_TRUE(cold.ok()) << cold.Describe();
  const int requests = reg.GrootfsRequests();
  const int connections = reg.GrootfsConnections();
  EXPECT_GT(requests, 30) << reg.Log();
  EXPECT_GE(connections, 1);
  EXPECT_LT(connections, requests / 2) << reg.Log();

  auto warm = Create(image, "warm", {}, {trust, "LD_DEBUG=libs"});
  ASSERT_TRUE(warm.ok()) << warm.Describe();
  EXPECT_EQ(reg.GrootfsRequests(), requests + 1) << reg.Log();
  EXPECT_EQ(reg.GrootfsConnections(), connections + 1) << reg.Log();
  EXPECT_NE(warm.err.find("libc.so.6"), std::string::npos) << "no loader output?\n" << warm.err;
  EXPECT_NE(warm.err.find("calling init: " GROOTFS_PREFIX "/libexec/grootfs/grootfs-tls.so"),
            std::string::npos)
      << "the TLS plugin was not loaded:\n"
      << warm.err;
  // Sanitizer builds link OpenSSL's shared libraries (GROOTFS_STATIC_FRONTEND off).
  std::vector<std::string> unwanted{"libcurl", "libnghttp2", "libldap", "libgssapi", "libssh",
                                    "libidn2", "libpsl",     "librtmp", "libbrotli", "libgnutls"};
  if (GROOTFS_STATIC_FRONTEND_TESTED) unwanted.insert(unwanted.end(), {"libssl", "libcrypto"});
  for (const std::string& lib : unwanted) {
    EXPECT_EQ(warm.err.find(lib), std::string::npos) << lib << " loaded:\n" << warm.err;
  }
  ExpectShellRuns("warm");

  // Plain HTTP, remembered by the first create: the warm create never loads the TLS plugin.
  const std::string alpine = "docker://" + plain.host() + "/alpine:latest";
  const std::vector<std::string> insecure{"--insecure-registry", plain.host()};
  ASSERT_TRUE(Create(alpine, "plain-cold", insecure).ok());
  auto plain_warm = Create(alpine, "plain-warm", insecure, {"LD_DEBUG=libs"});
  ASSERT_TRUE(plain_warm.ok()) << plain_warm.Describe();
  EXPECT_EQ(plain.GrootfsRequests("/manifests/latest"), 2) << plain.Log();
  EXPECT_NE(plain_warm.err.find("libc.so.6"), std::string::npos) << plain_warm.err;
  unwanted = {"grootfs-tls", "libssl"};
  if (GROOTFS_STATIC_FRONTEND_TESTED) unwanted.push_back("libcrypto");  // else SHA-256's
  for (const std::string& lib : unwanted) {
    EXPECT_EQ(plain_warm.err.find(lib), std::string::npos) << lib << " loaded:\n" << plain_warm.err;
  }
  ExpectShellRuns("plain-warm");
}

// Without its TLS plugin grootfs says so in one line for an https registry, and still pulls
// from a plain-HTTP one. The copy of grootfs looks for the plugin beside itself, where none is.
TEST_F(RegistryTest, AMissingTlsPluginIsAOneLineErrorAndPlainHttpStillWorks) {
  TestCerts certs;
  DockerRegistry tls, plain;
  ASSERT_NO_FATAL_FAILURE(StartTlsAndPlain(certs, tls, plain, "alpine", "/alpine:latest"));
  const fs::path bin = tmp_ / "no-plugin/bin/grootfs";
  fs::create_directories(bin.parent_path());
  fs::copy_file(GrootfsBin(), bin);
  const std::string plugin = (tmp_ / "no-plugin/libexec/grootfs/grootfs-tls.so").string();
  auto create = [&](const std::string& image, const std::string& id,
                    const std::vector<std::string>& flags) {
    std::vector<std::string> argv{"env", "SSL_CERT_FILE=" + certs.ca_crt.string(), bin.string()};
    argv.insert(argv.end(), {"--store", store_, "--helper-bin", HelperBin(), "create"});
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), {image, id});
    return RunCmd(argv, 180s);
  };

  auto refused = create("docker://" + tls.host() + "/alpine:latest", "over-tls", {});
  EXPECT_NE(refused.status, 0) << refused.Describe();
  EXPECT_TRUE(IsOneLine(refused.out)) << refused.out;
  EXPECT_NE(refused.out.find("cannot load " + plugin + ": "), std::string::npos) << refused.out;
  EXPECT_EQ(tls.GrootfsConnections(), 0) << "connected without TLS: " << tls.Log();
  ExpectNoImage("over-tls");

  auto r = create("docker://" + plain.host() + "/alpine:latest", "over-http",
                  {"--insecure-registry", plain.host()});
  ASSERT_TRUE(r.ok()) << r.Describe();
  ExpectShellRuns("over-http");
}

TEST_F(RegistryTest, RegistryMirrorIsTriedFirstAndFallsBackToTheOrigin) {
  DockerRegistry origin, mirror;
  ASSERT_TRUE(origin.Start(tmp_ / "origin"));
  RegistryConfig proxy;
  proxy.proxy_remote = "http://" + origin.host();
  ASSERT_TRUE(mirror.Start(tmp_ / "mirror", proxy));
  ASSERT_TRUE(PushImage(FixtureImage("alpine"), origin.host() + "/alpine:latest").ok());
  const std::string image = "docker://" + origin.host() + "/alpine:latest";
  const std::vector<std::string> insecure{"--insecure-registry", origin.host()};

  UseConfig("create:\n  registry_mirrors:\n    - " + origin.host() + "=http://" + mirror.host() +
            "\n");
  auto r = Create(image, "mirrored", insecure);
  ASSERT_TRUE(r.ok()) << r.Describe();
  ExpectShellRuns("mirrored");
  EXPECT_EQ(mirror.GrootfsRequests("/manifests/latest"), 1) << mirror.Log();
  EXPECT_EQ(mirror.GrootfsRequests("/blobs/"), 2) << mirror.Log();
  EXPECT_EQ(origin.GrootfsRequests(), 0) << "grootfs went to the origin: " << origin.Log();

  // A mirror that is down: the origin serves the image.
  UseConfig("create:\n  registry_mirrors:\n    - " + origin.host() +
            "=http://127.0.0.1:" + std::to_string(FreePort()) + "\n");
  ASSERT_TRUE(Grootfs(store_, "delete", "mirrored").ok());
  ASSERT_TRUE(Grootfs(store_, "clean").ok());
  auto fallback = Create(image, "fallback", insecure);
  ASSERT_TRUE(fallback.ok()) << fallback.Describe();
  ExpectShellRuns("fallback");
  EXPECT_EQ(origin.GrootfsRequests("/blobs/"), 1) << "the config is cached; the layer is not";
}

TEST_F(RegistryTest, DockerHubImagesComeFromAPlainUrlMirror) {
  // No Docker Hub here: the mirror must serve docker:///alpine all by itself.
  DockerRegistry mirror;
  ASSERT_TRUE(mirror.Start(tmp_ / "mirror"));
  ASSERT_TRUE(PushImage(FixtureImage("alpine"), mirror.host() + "/library/alpine:latest").ok());
  UseConfig("create:\n  registry_mirrors:\n    - http://" + mirror.host() + "\n");
  auto r = Create("docker:///alpine", "hub");
  ASSERT_TRUE(r.ok()) << r.Describe();
  ExpectShellRuns("hub");
  EXPECT_EQ(mirror.GrootfsRequests("/v2/library/alpine/manifests/latest"), 1) << mirror.Log();
}

// A copy of the Cloud Foundry layout whose top layer is not in the layout but listed with
// `url` (Garden's preloaded+layer shape). Returns the top layer's digest.
std::string MakeRemoteLayerLayout(const fs::path& dir, const std::string& url) {
  CopyLayout(FixtureImage("cloudfoundry.experimental.image.base-directory"), dir);
  const fs::path blobs = dir / "blobs/sha256";
  const Json index = ParseJson(ReadFile(dir / "index.json"));
  const std::string old_manifest = index["manifests"][0]["digest"];
  Json manifest = ParseJson(ReadFile(blobs / old_manifest.substr(7)));
  manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json";
  Json& top = manifest["layers"][2];
  const std::string digest = top["digest"];
  top["urls"] = Json::array({url + digest});
  fs::remove(blobs / digest.substr(7));
  const std::string body = manifest.dump();
  SetIndex(dir, "application/vnd.oci.image.manifest.v1+json", AddBlob(dir, body), body.size());
  return digest;
}

TEST_F(RegistryTest, RemoteLayersComeFromTheirUrlsWithClientCertificates) {
  TestCerts certs;
  ASSERT_TRUE(certs.Make(tmp_ / "certs"));
  const fs::path client_dir = certs.ClientCertsDir();
  // The layer server: TLS, and only for clients with a certificate from the test CA.
  DockerRegistry files;
  RegistryConfig c = RegistryConfig::Tls(certs);
  c.client_ca = certs.ca_crt;
  ASSERT_TRUE(files.Start(tmp_ / "files", c));
  auto push = PushImage(FixtureImage("cloudfoundry.experimental.image.base-directory"),
                        files.host() + "/cf:latest", {"--dest-cert-dir", client_dir.string()});
  ASSERT_TRUE(push.ok()) << push.Describe();
  const std::string url = "https://" + files.host() + "/v2/cf/blobs/";
  const fs::path layout = tmp_ / "garden-layout";
  MakeRemoteLayerLayout(layout, url);

  // Without the client certificates the layer server refuses us: a clear error, nothing left.
  auto refused = Create(OciUri(layout.string()), "no-certs");
  EXPECT_NE(refused.status, 0);
  EXPECT_TRUE(IsOneLine(refused.out)) << refused.out;
  EXPECT_NE(refused.out.find(files.host()), std::string::npos) << refused.out;
  ExpectNothingLeftOf("no-certs");

  UseConfig("create:\n  remote_layer_client_certificates_path: " + client_dir.string() + "\n");
  auto r = Create(OciUri(layout.string()), "garden-cf");
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_TRUE(Exists(RootfsOf("garden-cf") / "home/vcap/app/dora")) << "the remote layer";
  EXPECT_EQ(files.GrootfsRequests("/blobs/"), 1) << files.Log();

  // The same layer of a docker:// image that lists urls (a foreign layer): from the urls too.
  const fs::path docker_layout = tmp_ / "docker-layout";
  MakeRemoteLayerLayout(docker_layout, url);
  FakeRegistry reg(docker_layout.string());
  ASSERT_TRUE(Grootfs(store_, "delete", "garden-cf").ok());
  ASSERT_TRUE(Grootfs(store_, "clean").ok());
  auto d = Create("docker://" + reg.host() + "/cf:latest", "docker-cf",
                  {"--insecure-registry", reg.host()});
  ASSERT_TRUE(d.ok()) << d.Describe();
  EXPECT_TRUE(Exists(RootfsOf("docker-cf") / "home/vcap/app/dora"));
  EXPECT_EQ(files.GrootfsRequests("/blobs/"), 2) << files.Log();
  EXPECT_EQ(reg.BlobRequests(), 3) << "config and two layers from the registry, one from urls";
}

}  // namespace
}  // namespace grootfs_it
