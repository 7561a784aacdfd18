// No grootfs-helper (nor its unpack child) outlives grootfs. The frontend alone is sent SIGINT,
// SIGTERM or SIGKILL at random points of creates from a registry that stalls mid-layer, of
// creates of a large layer and of cleans removing it (large and deep); within 1 s no helper
// of the store is left. SIGINT and SIGTERM end grootfs with status 1 and one line, its own work
// undone; after SIGKILL the next command sweeps. The store works afterwards. Stop signals close
// together stop it once: one line, one cleanup.
#include <random>
#include <thread>

#include "tests/integration/helper_processes.h"
#include "tests/integration/registry_support.h"
#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

class LifetimeTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    InitStore();
  }

  struct Ended {
    int status = -1;  // exit status, or 128+N when killed by signal N
    std::string out;
  };

  // Starts grootfs in its own process group; `out` gets the read end of its stdout.
  pid_t Spawn(const std::vector<std::string>& args, int& out) {
    std::vector<std::string> argv{GrootfsBin(), "--store", store_};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    const pid_t pid = fork();
    if (pid == 0) {
      setpgid(0, 0);
      const int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(fds[1], 1);
      dup2(null, 2);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
    close(fds[1]);
    out = fds[0];
    return pid;
  }

  // Runs grootfs (its own process group, stdout captured), sends `sig` to grootfs alone after
  // `delay`, and reaps it.
  Ended RunAndSignal(const std::vector<std::string>& args, int sig,
                     std::chrono::milliseconds delay) {
    int out = -1;
    const pid_t pid = Spawn(args, out);
    // From when grootfs has taken charge of its stop signals (they are blocked in it: a signal
    // before that, while the loader runs, just ends the process as it would any other).
    for (int i = 0; i < 400 && !BlocksStopSignals(pid); ++i) std::this_thread::sleep_for(5ms);
    std::this_thread::sleep_for(delay);
    kill(pid, sig);
    Ended e;
    char buf[4096];
    for (ssize_t n; (n = read(out, buf, sizeof buf)) > 0;) e.out.append(buf, buf + n);
    close(out);
    int ws = 0;
    waitpid(pid, &ws, 0);
    e.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    return e;
  }

  static bool BlocksStopSignals(pid_t pid) {
    for (const auto& line : Lines(ReadFile("/proc/" + std::to_string(pid) + "/status")))
      if (StartsWith(line, "SigBlk:"))
        return (std::stoull(Trim(line.substr(7)), nullptr, 16) >> (SIGTERM - 1) & 1) != 0;
    return false;
  }

  // After a signal: the helpers are gone within 1 s (they take a few ms; before, a SIGKILLed
  // clean's helper went on removing for up to 1.4 s); SIGINT and SIGTERM end grootfs with
  // status 1 and its one line (or it had finished: status 0).
  void ExpectEndedWell(const Ended& e, int sig, const std::string& what) {
    const auto took = UntilNoHelpers(store_, 1000ms);
    EXPECT_LT(took.count(), 1000) << what << ": helpers still running: "
                                  << ::testing::PrintToString(HelpersOf(store_));
    max_wait_ = std::max(max_wait_, took);
    if (sig == SIGKILL) return;
    EXPECT_TRUE(e.status == 0 || e.status == 1) << what << ": status " << e.status;
    if (e.status == 1) {
      EXPECT_TRUE(IsOneLine(e.out)) << what << ": " << e.out;
      EXPECT_NE(e.out.find("stopped by SIG"), std::string::npos) << what << ": " << e.out;
      ++stopped_;
    }
  }

  // A plain tar image of `files` small files in a tree `depth` directories deep, and one file of
  // `big_mb` MiB.
  std::string MakeLargeTar(int files, int depth, int big_mb) {
    const fs::path tree = tmp_.path() / "large-tree";
    const std::string script = "set -e; cd " + tree.string() +
                               "; mkdir -p flat bin; i=0; "
                               "while [ $i -lt " +
                               std::to_string(files) +
                               " ]; do : > flat/f$i; i=$((i+1)); done; "
                               "d=deep; i=0; while [ $i -lt " +
                               std::to_string(depth) +
                               " ]; do d=$d/d; i=$((i+1)); done; mkdir -p $d; : > $d/bottom; "
                               "head -c " +
                               std::to_string(big_mb) +
                               "M /dev/urandom > big; "
                               "cp /bin/busybox bin/sh 2>/dev/null || true; "
                               "tar --format=gnu -cf ../large.tar .";
    fs::create_directories(tree);
    auto r = RunCmd({"sh", "-c", script}, 300s);
    EXPECT_TRUE(r.ok()) << r.Describe();
    fs::remove_all(tree);
    return (tmp_.path() / "large.tar").string();
  }

  std::chrono::milliseconds max_wait_{0};
  int stopped_ = 0;
};

const char* const kAlpineLayerDigest =
    "sha256:661ff4d9561e3fd050929ee5097067c34bafc523ee60f5294a37fd08056a73ca";

// Makes `reg` send half of every layer and then nothing (grootfs would wait 30 s).
void StallLayers(FakeRegistry& reg, const std::string& layout) {
  reg.blob_fault = [layout](const std::string& digest, int, const HttpReq&) {
    Fault f;
    std::error_code ec;
    const auto size = fs::file_size(fs::path(layout) / "blobs/sha256" / digest.substr(7), ec);
    if (!ec && size > 100000) f.kind = Fault::kStall, f.at = size / 2;
    return f;
  };
}

pid_t ParentOf(pid_t pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(stat.substr(close + 2));
  std::string state;
  pid_t ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

TEST_F(LifetimeTest, NoHelperOutlivesAStoppedOrKilledGrootfs) {
  FakeRegistry reg(FixtureImage("alpine"));
  StallLayers(reg, FixtureImage("alpine"));
  const std::string stalled = "docker://" + reg.host() + "/alpine:latest";
  const std::string large = MakeLargeTar(10000, 600, 16);
  const fs::path tmp = fs::path(store_) / "tmp";
  std::mt19937 rng(4242);
  const int signals[] = {SIGINT, SIGTERM, SIGKILL};
  for (int sig : signals) {
    for (int i = 0; i < 2; ++i) {
      const std::string name = std::string(sigabbrev_np(sig)) + "-" + std::to_string(i);
      // A create stuck on the registry, mid-layer: stopped, it leaves nothing of its own.
      const auto before = DirEntries(tmp);
      const std::string log = (tmp_.path() / ("log-" + name)).string();
      auto e = RunAndSignal({"--log-level", "debug", "--log-file", log, "create",
                             "--insecure-registry", reg.host(), stalled, "r" + name},
                            sig, std::chrono::milliseconds(40 + rng() % 400));
      ExpectEndedWell(e, sig, "stalled create, " + name);
      if (sig != SIGKILL)
        for (const auto& entry : DirEntries(tmp))
          EXPECT_EQ(before.count(entry), 1u) << name << ": its work " << entry << " is left; log:\n"
                                             << ReadFile(log);
      // A create of a large layer, at a random point.
      e = RunAndSignal({"create", large, "l" + name}, sig,
                       std::chrono::milliseconds(40 + rng() % 1200));
      ExpectEndedWell(e, sig, "large create, " + name);
      // A clean removing the large layer (10,000 files, 600 levels deep), at a random point.
      auto r = Grootfs(store_, "create", large, "big" + name);
      ASSERT_TRUE(r.ok()) << r.Describe();
      ASSERT_TRUE(Grootfs(store_, "delete", "big" + name).ok());
      e = RunAndSignal({"clean"}, sig, std::chrono::milliseconds(30 + rng() % 500));
      ExpectEndedWell(e, sig, "clean of a large layer, " + name);
    }
  }
  std::cout << "helpers gone at most " << max_wait_.count() << " ms after grootfs ended; "
            << stopped_ << " of 12 stop signals landed mid-command\n";
  EXPECT_GE(stopped_, 4);
  // The store works: whatever is listed is whole and can go, the sweeps clear the rest.
  auto r = Grootfs(store_, "check", "--repair");
  EXPECT_TRUE(r.ok() || r.out.find("problem:") == std::string::npos) << r.Describe();
  for (const auto& image : ListImages()) {
    r = Grootfs(store_, "delete", image);
    EXPECT_TRUE(r.ok()) << r.Describe();
  }
  EXPECT_TRUE(Grootfs(store_, "clean").ok());
  EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty());
  EXPECT_TRUE(MountsUnder(store_).empty());
  CreateOk(OciFixture("alpine"), "after");
  EXPECT_EQ(InRootfs(RootfsOf("after"), "echo ok").out, "ok\n");
  EXPECT_TRUE(HelpersOf(store_).empty());
}

// Stop signals close together (what timeout(1) sends: SIGTERM to grootfs, then to its group;
// a user's Ctrl-C after a kill) stop it once: the first decides, the others change nothing.
// Each round, a create held mid-layer by a stalled registry is sent SIGTERM and SIGINT back to
// back: exactly one line, status 1, one "interrupted" in the log, its work in tmp/ removed and
// no helper left (before, a second stop ran beside the first, or the second signal ended the
// process before the cleanup: two lines or none, work left behind).
TEST_F(LifetimeTest, SignalsCloseTogetherStopItOnce) {
  FakeRegistry reg(FixtureImage("alpine"));
  StallLayers(reg, FixtureImage("alpine"));
  const std::string stalled = "docker://" + reg.host() + "/alpine:latest";
  const fs::path tmp = fs::path(store_) / "tmp";
  for (int round = 0; round < 20; ++round) {
    const std::string name = "twice-" + std::to_string(round);
    const std::string log = (tmp_.path() / (name + ".log")).string();
    const int layer_requests = reg.BlobRequests(kAlpineLayerDigest);
    int out = -1;
    const pid_t pid = Spawn({"--log-level", "debug", "--log-file", log, "create",
                             "--insecure-registry", reg.host(), stalled, name},
                            out);
    ASSERT_GT(pid, 0);
    // Mid-layer: its request made and its work in tmp/ (a moment after, as the signals may
    // come at any time).
    for (int i = 0; i < 1000 && reg.BlobRequests(kAlpineLayerDigest) == layer_requests; ++i)
      std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + 20 * (round % 5)));
    kill(pid, SIGTERM);
    kill(pid, SIGINT);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = read(out, buf, sizeof buf)) > 0;) text.append(buf, buf + n);
    close(out);
    int ws = 0;
    waitpid(pid, &ws, 0);
    SCOPED_TRACE(name + ", log:\n" + ReadFile(log));
    EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 1) << "wait status " << ws << ": " << text;
    EXPECT_TRUE(IsOneLine(text)) << "[" << text << "]";
    EXPECT_NE(text.find("stopped by SIG"), std::string::npos) << text;
    const std::string logged = ReadFile(log);
    int stops = 0;
    for (size_t at = 0; (at = logged.find(".interrupted\"", at)) != std::string::npos; ++at)
      ++stops;
    EXPECT_EQ(stops, 1);
    EXPECT_LT(UntilNoHelpers(store_, 1000ms).count(), 1000)
        << "helpers left: " << ::testing::PrintToString(HelpersOf(store_));
    EXPECT_TRUE(DirEntries(tmp).empty()) << ::testing::PrintToString(DirEntries(tmp));
    if (HasFailure()) break;
  }
  EXPECT_TRUE(ListImages().empty());
}

// Every error path waits for its helpers: when a failed create has returned, none is left (a
// corrupted layer, a bad config, a wrong size, a missing tar).
TEST_F(LifetimeTest, NoHelperOutlivesAFailedCreate) {
  std::vector<std::vector<std::string>> creates;
  for (const char* bad : {"corrupted", "also-corrupted", "invalid-config",
                          "invalid-manifest-size-less-than-physical-size"})
    creates.push_back({"create", OciFixture(bad), "bad"});
  creates.push_back({"create", "/nonexistent/image.tar", "bad"});
  for (const auto& args : creates) {
    auto r = GrootfsV(store_, args);
    EXPECT_NE(r.status, 0) << args[1];
    EXPECT_TRUE(HelpersOf(store_).empty()) << args[1] << ": a helper outlived grootfs";
  }
  EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty());
}

// The unpack child dies with its helper, even while grootfs itself cannot end the stream (it is
// stopped) and in a store with an id mapping (the child's id change clears its death signal:
// before it was armed again, the child waited on for as long as grootfs was stopped).
TEST_F(LifetimeTest, AnUnpackChildDiesWithItsHelper) {
  ASSERT_TRUE(Grootfs(store_, "delete-store").ok());
  auto r = Grootfs(store_, "init-store", "--uid-mapping", "0:100000:65536", "--gid-mapping",
                   "0:100000:65536");
  ASSERT_TRUE(r.ok()) << r.Describe();
  FakeRegistry reg(FixtureImage("alpine"));
  StallLayers(reg, FixtureImage("alpine"));
  int out = -1;
  const pid_t grootfs = Spawn({"create", "--insecure-registry", reg.host(),
                               "docker://" + reg.host() + "/alpine:latest", "stalled"},
                              out);
  ASSERT_GT(grootfs, 0);
  pid_t helper = -1;
  for (int i = 0; i < 1000 && helper < 0; ++i) {
    const auto helpers = HelpersOf(store_);
    for (pid_t child : helpers)
      if (std::find(helpers.begin(), helpers.end(), ParentOf(child)) != helpers.end())
        helper = ParentOf(child);
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_GT(helper, 0) << "no helper with an unpack child appeared";
  ASSERT_EQ(kill(grootfs, SIGSTOP), 0);
  // That helper and its children; create's own helper (started early, idle while the layers
  // come) lives on until grootfs goes on, and is not what this test is about.
  std::vector<pid_t> doomed{helper};
  for (pid_t p : HelpersOf(store_))
    if (ParentOf(p) == helper) doomed.push_back(p);
  ASSERT_EQ(kill(helper, SIGKILL), 0);
  auto left = [&] {
    std::vector<pid_t> alive;
    for (pid_t p : HelpersOf(store_))
      if (std::find(doomed.begin(), doomed.end(), p) != doomed.end()) alive.push_back(p);
    return alive;
  };
  const auto start = std::chrono::steady_clock::now();
  while (!left().empty() && std::chrono::steady_clock::now() - start < 1000ms)
    std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(left().empty()) << "the unpack child outlived its helper: "
                              << ::testing::PrintToString(left());
  // grootfs, let go on, sees its helper gone and fails; the next command sweeps what it left.
  ASSERT_EQ(kill(grootfs, SIGCONT), 0);
  char buf[4096];
  std::string text;
  for (ssize_t n; (n = read(out, buf, sizeof buf)) > 0;) text.append(buf, buf + n);
  close(out);
  int ws = 0;
  waitpid(grootfs, &ws, 0);
  EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 1) << text;
  EXPECT_TRUE(IsOneLine(text)) << text;
  r = Grootfs(store_, "clean");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty());
  EXPECT_TRUE(HelpersOf(store_).empty());
}

}  // namespace
}  // namespace grootfs_it
