// docker:// images from registries written here (FakeRegistry): request counts (the cache),
// bearer tokens, retries and resumption after 500s, resets, truncation and a stall, refused
// blobs (wrong digest, wrong size; also of an upper layer downloading ahead) leaving nothing
// behind, redirects to another host without credentials, schema 1, and proxies from the
// environment.
#include "tests/integration/registry_support.h"

namespace grootfs_it {
namespace {

const char* const kAlpineLayer =
    "sha256:661ff4d9561e3fd050929ee5097067c34bafc523ee60f5294a37fd08056a73ca";
// opq-whiteouts-busybox: busybox, then a small upper layer (spooled while busybox unpacks).
const char* const kUpperLayer =
    "sha256:e8fbc9c5bf16d3409f75a9d0f0751d90ab562565335b793673e906efcc7bd7c8";
const char* const kAlpineManifest =
    "sha256:c22145977c798fe5d4a766b425813fc153e77549ecd0f204b1acd01209e1962d";

class RegistryFaultTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    InitStore();
  }

  RunResult Create(const FakeRegistry& reg, const std::string& id,
                   const std::vector<std::string>& flags = {},
                   const std::string& ref = "alpine:latest") {
    std::vector<std::string> args{"create", "--insecure-registry", reg.host()};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("docker://" + reg.host() + "/" + ref);
    args.push_back(id);
    return GrootfsV(store_, args);
  }

  void ExpectShellRuns(const std::string& id) {
    auto sh = InRootfs(RootfsOf(id), "echo ok");
    EXPECT_EQ(sh.out, "ok\n") << sh.Describe();
  }

  // Nothing of a refused create: not listed, no mounts, no layer, no work left in tmp/.
  void ExpectRefusedCleanly(const RunResult& r, const std::string& id, const std::string& words) {
    EXPECT_NE(r.status, 0) << r.Describe();
    EXPECT_TRUE(IsOneLine(r.out)) << r.out;
    EXPECT_NE(r.out.find(words), std::string::npos) << r.out;
    ExpectNothingLeftOf(id);
    EXPECT_TRUE(DirEntries(LayersDir()).empty())
        << ::testing::PrintToString(DirEntries(LayersDir()));
    EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty());
  }

  static std::string RangeOf(const HttpReq& r) { return r.Header("range"); }

  std::vector<HttpReq> LayerRequests(const FakeRegistry& reg) {
    std::vector<HttpReq> out;
    for (const auto& r : reg.Requests()) {
      if (r.path.find(std::string("/blobs/") + kAlpineLayer) != std::string::npos) out.push_back(r);
    }
    return out;
  }
};

TEST_F(RegistryFaultTest, CachedImagesCostOneManifestRequestAndDigestReferencesNone) {
  FakeRegistry reg(FixtureImage("alpine"));
  auto first = Create(reg, "first");
  ASSERT_TRUE(first.ok()) << first.Describe();
  ExpectShellRuns("first");
  EXPECT_EQ(reg.ManifestRequests(), 1);
  EXPECT_EQ(reg.BlobRequests(), 2);  // config and layer
  EXPECT_TRUE(Exists(fs::path(store_) / "cache/sha256" / std::string(kAlpineManifest).substr(7)));

  auto second = Create(reg, "second");
  ASSERT_TRUE(second.ok()) << second.Describe();
  EXPECT_EQ(reg.ManifestRequests(), 2) << "one manifest request";
  EXPECT_EQ(reg.BlobRequests(), 2) << "no blob request for a cached image";

  const int connections = reg.connections();
  auto third = Create(reg, "third", {}, std::string("alpine@") + kAlpineManifest);
  ASSERT_TRUE(third.ok()) << third.Describe();
  ExpectShellRuns("third");
  EXPECT_EQ(reg.connections(), connections) << "a digest reference seen before: no request at all";
  EXPECT_EQ(ListImages().size(), 3u);
}

TEST_F(RegistryFaultTest, BearerTokenFlowWithCredentials) {
  FakeRegistry reg(FixtureImage("alpine"));
  std::atomic<int> token_requests{0};
  FakeHttpServer tokens([&](Conn& c, const HttpReq& r) {
    ++token_requests;
    if (r.Header("authorization") != "Basic " + Base64("groot:t0ken-Pass")) {
      c.Json(401, R"({"details":"bad credentials"})");
      return;
    }
    c.Json(200, R"({"token":"tok-42-secret","expires_in":300})");
  });
  reg.bearer_realm = "http://" + tokens.host() + "/token";
  reg.bearer_token = "tok-42-secret";
  const std::vector<std::string> realm{"--insecure-registry", tokens.host()};

  auto anonymous = Create(reg, "anon", realm);
  ExpectRefusedCleanly(anonymous, "anon", "refused anonymous access (HTTP 401)");

  std::vector<std::string> wrong = realm;
  wrong.insert(wrong.end(), {"--username", "groot", "--password", "nope"});
  ExpectRefusedCleanly(Create(reg, "wrong", wrong), "wrong", "authentication failed");

  // The realm over plain HTTP carries credentials: refused unless its host is listed.
  auto unlisted = Create(reg, "unlisted", {"--username", "groot", "--password", "t0ken-Pass"});
  ExpectRefusedCleanly(unlisted, "unlisted", "--insecure-registry " + tokens.host());

  // --log-level and --log-file are global flags: before the command.
  auto r = GrootfsV(store_, {"--log-level", "debug", "--log-file", (tmp_ / "log").string(),
                             "create", "--insecure-registry", reg.host(), "--insecure-registry",
                             tokens.host(), "--username", "groot", "--password", "t0ken-Pass",
                             "docker://" + reg.host() + "/alpine:latest", "tokens"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  ExpectShellRuns("tokens");
  int bearer = 0;
  for (const auto& req : reg.Requests())
    bearer += req.Header("authorization") == "Bearer tok-42-secret";
  EXPECT_GE(bearer, 3) << "manifest, config and layer with the token";
  for (const auto& req : tokens.Requests()) {
    EXPECT_NE(req.target.find("scope=repository%3Aalpine%3Apull"), std::string::npos) << req.target;
    EXPECT_NE(req.target.find("service=fake-registry"), std::string::npos) << req.target;
  }
  const std::string log = ReadFile(tmp_ / "log");
  EXPECT_NE(log.find("fetching-token"), std::string::npos);
  EXPECT_EQ(log.find("t0ken-Pass"), std::string::npos) << "password logged";
  EXPECT_EQ(log.find("tok-42-secret"), std::string::npos) << "token logged";
  EXPECT_EQ(log.find(Base64("groot:t0ken-Pass")), std::string::npos) << "credentials logged";
}

TEST_F(RegistryFaultTest, ServerErrorsAreRetriedWithBackoff) {
  FakeRegistry reg(FixtureImage("alpine"));
  reg.blob_fault = [](const std::string& digest, int n, const HttpReq&) {
    Fault f;
    if (digest == kAlpineLayer && n < 2) f.kind = Fault::kStatus, f.status = n == 0 ? 500 : 503;
    return f;
  };
  auto r = Create(reg, "retried");
  ASSERT_TRUE(r.ok()) << r.Describe();
  ExpectShellRuns("retried");
  EXPECT_EQ(LayerRequests(reg).size(), 3u);
}

TEST_F(RegistryFaultTest, AResetMidBlobResumesWithRange) {
  FakeRegistry reg(FixtureImage("alpine"));
  reg.blob_fault = [](const std::string& digest, int n, const HttpReq&) {
    Fault f;
    if (digest == kAlpineLayer && n == 0) f.kind = Fault::kReset, f.at = 1 << 20;
    return f;
  };
  auto r = Create(reg, "reset");
  ASSERT_TRUE(r.ok()) << r.Describe();
  ExpectShellRuns("reset");
  const auto requests = LayerRequests(reg);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(RangeOf(requests[0]), "");
  ASSERT_TRUE(StartsWith(RangeOf(requests[1]), "bytes=")) << "resumed without Range";
  const long offset = std::stol(RangeOf(requests[1]).substr(6));
  EXPECT_GT(offset, 0);
  EXPECT_LE(offset, 1 << 20);
}

TEST_F(RegistryFaultTest, ATruncatedBodyResumesFromTheByteReached) {
  FakeRegistry reg(FixtureImage("alpine"));
  reg.blob_fault = [](const std::string& digest, int n, const HttpReq&) {
    Fault f;
    if (digest == kAlpineLayer && n < 2) f.kind = Fault::kTruncate, f.at = 1000000;
    return f;
  };
  auto r = Create(reg, "truncated");
  ASSERT_TRUE(r.ok()) << r.Describe();
  ExpectShellRuns("truncated");
  const auto requests = LayerRequests(reg);
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(RangeOf(requests[1]), "bytes=1000000-");
  EXPECT_EQ(RangeOf(requests[2]), "bytes=2000000-");
}

TEST_F(RegistryFaultTest, AWrongDigestBlobIsRefusedAndLeavesNothing) {
  FakeRegistry reg(FixtureImage("alpine"));
  bool corrupt = true;
  reg.blob_fault = [&](const std::string& digest, int, const HttpReq&) {
    Fault f;
    if (digest == kAlpineLayer && corrupt) f.kind = Fault::kCorrupt;
    return f;
  };
  ExpectRefusedCleanly(Create(reg, "corrupt"), "corrupt",
                       std::string("layer ") + kAlpineLayer + " is corrupted");
  EXPECT_EQ(LayerRequests(reg).size(), 1u) << "a wrong blob is not fetched again";
  corrupt = false;
  auto retry = Create(reg, "corrupt");
  ASSERT_TRUE(retry.ok()) << retry.Describe();
  ExpectShellRuns("corrupt");
}

// An upper layer downloads ahead into an unnamed file while the lower one unpacks, and the
// unpack follows that file: its digest is still checked before the layer is published, and a
// refused create leaves nothing of it (the verified lower layer may stay in the cache).
TEST_F(RegistryFaultTest, ASpooledUpperLayerWithAWrongDigestLeavesNothingOfIt) {
  FakeRegistry reg(FixtureImage("opq-whiteouts-busybox"));
  bool corrupt = true;
  reg.blob_fault = [&](const std::string& digest, int, const HttpReq&) {
    Fault f;
    if (digest == kUpperLayer && corrupt) f.kind = Fault::kCorrupt;
    return f;
  };
  const auto r = Create(reg, "corrupt-upper", {}, "busybox:latest");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_NE(r.out.find(std::string("layer ") + kUpperLayer + " is corrupted"), std::string::npos)
      << r.out;
  ExpectNothingLeftOf("corrupt-upper");
  EXPECT_LE(DirEntries(LayersDir()).size(), 1u) << "only the lower layer may be kept";
  EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty());
  corrupt = false;
  const auto retry = Create(reg, "corrupt-upper", {}, "busybox:latest");
  ASSERT_TRUE(retry.ok()) << retry.Describe();
  EXPECT_TRUE(fs::exists(RootfsOf("corrupt-upper") / "var/istillexist"));
  EXPECT_FALSE(fs::exists(RootfsOf("corrupt-upper") / "var/spool"));
}

TEST_F(RegistryFaultTest, ASpooledUpperLayerCutOffResumesFromTheByteReached) {
  FakeRegistry reg(FixtureImage("opq-whiteouts-busybox"));
  reg.blob_fault = [&](const std::string& digest, int n, const HttpReq&) {
    Fault f;
    if (digest == kUpperLayer && n == 0) f.kind = Fault::kTruncate, f.at = 100;
    return f;
  };
  const auto resumed = Create(reg, "cut-upper", {}, "busybox:latest");
  ASSERT_TRUE(resumed.ok()) << resumed.Describe();
  EXPECT_TRUE(fs::exists(RootfsOf("cut-upper") / "var/istillexist"));
  std::vector<std::string> ranges;
  for (const auto& q : reg.Requests())
    if (q.path.find(std::string("/blobs/") + kUpperLayer) != std::string::npos)
      ranges.push_back(RangeOf(q));
  EXPECT_EQ(ranges, (std::vector<std::string>{"", "bytes=100-"}));
}

TEST_F(RegistryFaultTest, ASpooledUpperLayerCutShortIsRefusedAndLeavesNothingOfIt) {
  FakeRegistry reg(FixtureImage("opq-whiteouts-busybox"));
  reg.blob_fault = [&](const std::string& digest, int, const HttpReq&) {
    Fault f;
    if (digest == kUpperLayer) f.kind = Fault::kShort, f.at = 100;
    return f;
  };
  const auto refused = Create(reg, "short-upper", {}, "busybox:latest");
  EXPECT_NE(refused.status, 0) << refused.Describe();
  EXPECT_NE(refused.out.find("does not match its size"), std::string::npos) << refused.out;
  ExpectNothingLeftOf("short-upper");
  EXPECT_LE(DirEntries(LayersDir()).size(), 1u) << "only the lower layer may be kept";
  EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty());
}

TEST_F(RegistryFaultTest, AShortBlobIsRefused) {
  FakeRegistry reg(FixtureImage("alpine"));
  reg.blob_fault = [](const std::string& digest, int, const HttpReq&) {
    Fault f;
    if (digest == kAlpineLayer) f.kind = Fault::kShort, f.at = 10;
    return f;
  };
  ExpectRefusedCleanly(Create(reg, "short"), "short", "does not match its size");
}

TEST_F(RegistryFaultTest, PersistentFailureGivesUpNamingTheRegistryAndStatus) {
  FakeRegistry reg(FixtureImage("alpine"));
  reg.blob_fault = [](const std::string& digest, int, const HttpReq&) {
    Fault f;
    if (digest == kAlpineLayer) f.kind = Fault::kStatus, f.status = 503;
    return f;
  };
  const auto start = std::chrono::steady_clock::now();
  auto r = Create(reg, "down");
  const auto took = std::chrono::steady_clock::now() - start;
  ExpectRefusedCleanly(r, "down", reg.host() + " keeps failing: HTTP 503 from " + reg.host());
  EXPECT_NE(r.out.find("cannot pull docker://" + reg.host() + "/alpine:latest"), std::string::npos);
  EXPECT_LT(took, 60s);
  EXPECT_EQ(LayerRequests(reg).size(), 6u) << "one attempt and five retries";
}

// A plain-HTTP registry named with its port is asked over plain HTTP first; its own HTTP 400
// (it says it is a registry) is its answer, not a sign of a TLS port: no TLS attempt follows,
// and the error names the status.
TEST_F(RegistryFaultTest, ARegistrysOwnBadRequestIsNotTakenForATlsPort) {
  FakeRegistry reg(FixtureImage("alpine"));
  reg.tag_status["refused"] = 400;
  auto r = Create(reg, "bad", {}, "alpine:refused");
  ExpectRefusedCleanly(r, "bad", "400");
  EXPECT_EQ(r.out.find("TLS"), std::string::npos) << r.out;
  EXPECT_EQ(reg.connections(), 1) << "a second connection: a TLS attempt?";
}

// An insecure registry that fails in both schemes: the error says what each attempt met (the
// first, plain HTTP here, may be the cause), and does not advise listing a listed registry.
TEST_F(RegistryFaultTest, AnInsecureRegistryFailingBothWaysNamesBothFailures) {
  FakeHttpServer broken([](Conn& c, const HttpReq&) { c.Reset(); });
  auto r = GrootfsV(store_, {"create", "--insecure-registry", broken.host(),
                             "docker://" + broken.host() + "/alpine:latest", "both"});
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out)) << r.out;
  EXPECT_NE(r.out.find("over plain HTTP: "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("list it with --insecure-registry"), std::string::npos) << r.out;
  ExpectNothingLeftOf("both");
}

// An insecure registry named without a port is asked over TLS (port 443) before plain HTTP
// (port 80), whatever the store's cache says: its owner can write there, and port 80 may be
// another server's.
TEST_F(RegistryFaultTest, APortlessRegistryIsAskedOverTlsFirstWhateverTheCacheSays) {
  const fs::path memory = fs::path(store_) / "cache/plain-http";
  fs::create_directories(memory);
  WriteFile(memory / "127.0.0.1", "");
  const fs::path log = tmp_.path() / "portless.log";
  auto r = Grootfs(store_, "--log-level", "info", "--log-file", log.string(), "create",
                   "--insecure-registry", "127.0.0.1", "docker://127.0.0.1/alpine:latest", "p");
  EXPECT_NE(r.status, 0) << r.Describe();  // nothing listens on 127.0.0.1:443 or :80
  const std::string text = ReadFile(log);
  // TLS failed first, then plain HTTP was tried.
  EXPECT_NE(text.find("\"https-error\""), std::string::npos) << text;
  EXPECT_EQ(text.find("registry-tls"), std::string::npos) << "plain HTTP was asked first:\n"
                                                          << text;
}

TEST_F(RegistryFaultTest, ARedirectToAnotherHostDropsTheCredentials) {
  FakeRegistry reg(FixtureImage("alpine"));
  reg.basic_user = "groot";
  reg.basic_password = "redirect-Pass";
  FakeHttpServer storage([&](Conn& c, const HttpReq& r) {
    const std::string path = r.path.substr(0, r.path.find('?'));
    const std::string digest = path.substr(path.rfind('/') + 1);
    c.Respond(200, {{"Content-Type", "application/octet-stream"}},
              ReadFile(FixtureImage("alpine") + "/blobs/sha256/" + digest.substr(7)));
  });
  reg.blob_fault = [&](const std::string& digest, int, const HttpReq&) {
    Fault f;
    f.kind = Fault::kRedirect;
    f.location = "http://" + storage.host() + "/storage/" + digest + "?X-Signature=abc";
    return f;
  };
  auto r = Create(reg, "redirected",
                  {"--insecure-registry", storage.host(), "--username", "groot", "--password",
                   "redirect-Pass"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  ExpectShellRuns("redirected");
  ASSERT_EQ(storage.Requests().size(), 2u);
  for (const auto& req : storage.Requests()) {
    EXPECT_EQ(req.Header("authorization"), "") << "credentials sent to " << storage.host();
  }
  int with_credentials = 0;
  for (const auto& req : reg.Requests()) with_credentials += !req.Header("authorization").empty();
  EXPECT_GE(with_credentials, 3);

  // Storage over plain HTTP that is not listed is refused (credentials or not).
  ASSERT_TRUE(Grootfs(store_, "delete", "redirected").ok());
  ASSERT_TRUE(Grootfs(store_, "clean").ok());
  auto refused = Create(reg, "unlisted", {"--username", "groot", "--password", "redirect-Pass"});
  ExpectRefusedCleanly(refused, "unlisted", "refusing plain HTTP to " + storage.host());
}

TEST_F(RegistryFaultTest, SchemaOneIsRefusedClearly) {
  FakeRegistry reg(FixtureImage("alpine"));
  reg.tags["old"] = {
      "application/vnd.docker.distribution.manifest.v1+prettyjws",
      R"({"schemaVersion":1,"name":"alpine","tag":"old","fsLayers":[],"history":[]})"};
  ExpectRefusedCleanly(Create(reg, "old", {}, "alpine:old"), "old",
                       "Docker schema 1 manifest, which is not supported");
}

TEST_F(RegistryFaultTest, ProxiesFromTheEnvironmentUpperCaseHttpProxyToo) {
  FakeRegistry proxy(FixtureImage("alpine"));  // answers absolute-form requests as a proxy would
  const std::string nowhere = "127.0.0.1:" + std::to_string(FreePort());
  const std::string image = "docker://" + nowhere + "/alpine:latest";
  auto via = RunCmd({"env", "HTTP_PROXY=http://" + proxy.host(), GrootfsBin(), "--store", store_,
                     "create", "--insecure-registry", nowhere, image, "proxied"});
  ASSERT_TRUE(via.ok()) << via.Describe();
  ExpectShellRuns("proxied");
  ASSERT_FALSE(proxy.Requests().empty());
  EXPECT_TRUE(StartsWith(proxy.Requests()[0].target, "http://" + nowhere + "/v2/"))
      << proxy.Requests()[0].target;

  const size_t before = proxy.Requests().size();
  auto direct =
      RunCmd({"env", "HTTP_PROXY=http://" + proxy.host(), "NO_PROXY=127.0.0.1", GrootfsBin(),
              "--store", store_, "create", "--insecure-registry", nowhere, image, "direct"});
  EXPECT_NE(direct.status, 0);
  EXPECT_NE(direct.out.find("cannot connect to " + nowhere), std::string::npos) << direct.out;
  EXPECT_EQ(proxy.Requests().size(), before) << "NO_PROXY was not honoured";
}

// A cold pull (the config not cached) asks for its bottom layer while the config downloads:
// with the config's answer held back, the layer's request arrives before it is sent, and the
// layer is asked for once (its reader takes that response).
TEST_F(RegistryFaultTest, AColdPullAsksForItsBottomLayerWhileTheConfigDownloads) {
  FakeRegistry reg(FixtureImage("alpine"));
  std::atomic<bool> config_sent{false};
  std::atomic<int> layer_before_config{0}, layer_after_config{0};
  reg.blob_fault = [&](const std::string& digest, int, const HttpReq&) {
    if (digest != kAlpineLayer) {
      std::this_thread::sleep_for(2s);  // the config, answered late
      config_sent = true;
    } else {
      ++(config_sent ? layer_after_config : layer_before_config);
    }
    return Fault{};
  };
  const fs::path log = tmp_ / "cold.log";
  auto r = GrootfsV(
      store_, {"--log-level", "debug", "--log-file", log.string(), "create", "--insecure-registry",
               reg.host(), "docker://" + reg.host() + "/alpine:latest", "cold"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  ExpectShellRuns("cold");
  EXPECT_EQ(layer_before_config, 1) << "the layer was asked for after the config";
  EXPECT_EQ(layer_after_config, 0);
  EXPECT_EQ(LayerRequests(reg).size(), 1u) << "the prefetched response was not used";
  EXPECT_NE(ReadFile(log).find("layer-prefetch-taken"), std::string::npos) << ReadFile(log);
}

// A cold pull whose bottom layer the store already holds (made from the same blob) does not ask
// for it: the config comes, the layer does not.
TEST_F(RegistryFaultTest, ABottomLayerTheStoreHoldsIsNotAskedForAhead) {
  FakeRegistry reg(FixtureImage("alpine"));
  ASSERT_TRUE(Create(reg, "first").ok());
  ASSERT_EQ(LayerRequests(reg).size(), 1u);
  fs::remove_all(fs::path(store_) / "cache/sha256");  // the config (and manifest) forgotten
  auto r = Create(reg, "second");
  ASSERT_TRUE(r.ok()) << r.Describe();
  ExpectShellRuns("second");
  EXPECT_EQ(reg.BlobRequests(), 3) << "the config twice, the layer once";
  EXPECT_EQ(LayerRequests(reg).size(), 1u) << "the cached layer was fetched ahead";
}

// The request ahead failing is not the pull failing: an answer of 500 is retried as any other
// (it is the first attempt), a connection dropped before any answer is not even counted.
TEST_F(RegistryFaultTest, AFailedRequestAheadDoesNotChangeTheOutcome) {
  for (const Fault::Kind kind : {Fault::kStatus, Fault::kDrop}) {
    SCOPED_TRACE(kind == Fault::kStatus ? "HTTP 500" : "dropped");
    FakeRegistry reg(FixtureImage("alpine"));
    reg.blob_fault = [&](const std::string& digest, int n, const HttpReq&) {
      Fault f;
      if (digest == kAlpineLayer && n == 0) f.kind = kind;
      return f;
    };
    const std::string id = kind == Fault::kStatus ? "status" : "dropped";
    auto r = Create(reg, id);
    ASSERT_TRUE(r.ok()) << r.Describe();
    ExpectShellRuns(id);
    const auto requests = LayerRequests(reg);
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(RangeOf(requests[1]), "");
    ASSERT_TRUE(Grootfs(store_, "delete", id).ok());
    ASSERT_TRUE(Grootfs(store_, "clean").ok());
    fs::remove_all(fs::path(store_) / "cache/sha256");
  }
}

// A pull that fails while its bottom layer's request ahead still waits for an answer fails at
// once: the request is cancelled, not waited for (it would wait 30 s per byte the registry
// trickles, without end). The config's 404 comes once the layer's request hangs.
TEST_F(RegistryFaultTest, AFailedPullDoesNotWaitForItsRequestAhead) {
  FakeRegistry reg(FixtureImage("alpine"));
  std::atomic<bool> layer_asked{false};
  reg.blob_fault = [&](const std::string& digest, int, const HttpReq&) {
    Fault f;
    if (digest == kAlpineLayer) {
      layer_asked = true;
      f.kind = Fault::kHang;
      return f;
    }
    for (int i = 0; i < 500 && !layer_asked; ++i) std::this_thread::sleep_for(10ms);
    f.kind = Fault::kStatus;
    f.status = 404;
    return f;
  };
  const auto start = std::chrono::steady_clock::now();
  auto r = Create(reg, "failed");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(layer_asked) << "no request ahead";
  ExpectRefusedCleanly(r, "failed", "404");
  EXPECT_LT(took, 5s) << "the failed create waited for its request ahead";
}

// Last, and the only slow one: a transfer that stops sending is abandoned after 30 s without a
// byte and resumed from the byte reached.
TEST_F(RegistryFaultTest, AStalledTransferIsAbandonedAndResumed) {
  FakeRegistry reg(FixtureImage("alpine"));
  reg.blob_fault = [](const std::string& digest, int n, const HttpReq&) {
    Fault f;
    if (digest == kAlpineLayer && n == 0) f.kind = Fault::kStall, f.at = 1 << 20;
    return f;
  };
  const auto start = std::chrono::steady_clock::now();
  auto r = Create(reg, "stalled");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.Describe();
  ExpectShellRuns("stalled");
  EXPECT_GE(took, 29s);
  EXPECT_LT(took, 60s);
  const auto requests = LayerRequests(reg);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(RangeOf(requests[1]), "bytes=1048576-");
}

}  // namespace
}  // namespace grootfs_it
