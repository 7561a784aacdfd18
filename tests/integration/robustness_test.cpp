// A store that never breaks: check and repair, SIGKILL at random moments, and load.
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <thread>

#include "tests/integration/helper_processes.h"

namespace grootfs_it {
namespace {

class RobustnessTest : public GrootfsTest {
 protected:
  // Starts grootfs in its own process group and returns its pid.
  pid_t Spawn(const std::vector<std::string>& args) {
    std::vector<std::string> argv{GrootfsBin(), "--store", store_};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      setpgid(0, 0);
      const int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
    return pid;
  }

  std::set<int> OpenFdsOf(pid_t pid) {
    std::set<int> fds;
    for (const auto& e : DirEntries("/proc/" + std::to_string(pid) + "/fd"))
      fds.insert(std::stoi(e));
    return fds;
  }

  // After any abuse: check --repair mends everything, check then finds nothing, every command
  // works, and no mount is left but the listed images' rootfses.
  void ExpectStoreWorks() {
    auto r = Grootfs(store_, "check", "--repair");
    std::cout << "check --repair after the abuse:\n" << r.out;
    EXPECT_TRUE(r.ok() || r.out.find("problem:") == std::string::npos) << r.Describe();
    r = Grootfs(store_, "check");
    EXPECT_TRUE(r.ok()) << r.Describe();
    auto listed = ListImages();
    std::set<std::string> expected_mounts;
    for (const auto& image : listed) {
      EXPECT_TRUE(Exists(fs::path(image) / "image.json")) << image << " is listed but not whole";
      expected_mounts.insert(image + "/rootfs");
    }
    EXPECT_EQ(MountsBeneath(), expected_mounts);
    CreateOk(OciFixture("alpine"), "after");
    EXPECT_EQ(InRootfs(RootfsOf("after"), "echo ok").out, "ok\n");
    EXPECT_TRUE(Grootfs(store_, "delete", "after").ok());
    for (const auto& image : listed) EXPECT_TRUE(Grootfs(store_, "delete", image).ok());
    EXPECT_TRUE(Grootfs(store_, "clean").ok());
    EXPECT_EQ(CountSubdirs(LayersDir()), 0u);
    EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty());
    EXPECT_TRUE(MountsBeneath().empty());
  }

  // Mounts beneath the store, not counting a backing filesystem mounted at the store itself.
  std::set<std::string> MountsBeneath() {
    std::set<std::string> out;
    for (const auto& m : MountsUnder(store_))
      if (m != store_) out.insert(m);
    return out;
  }
};

TEST_F(RobustnessTest, CheckFindsAndRepairsDamage) {
  InitStore();
  CreateOk(OciFixture("alpine"), "a");
  CreateOk(OciFixture("busybox-1.25"), "b");
  EXPECT_TRUE(Grootfs(store_, "check").ok());
  // An image whose rootfs fell off, a leftover work dir, a broken unused layer.
  ASSERT_EQ(umount2(RootfsOf("a").c_str(), 0), 0);
  fs::create_directories(fs::path(store_) / "tmp/leftover/rootfs");
  ASSERT_TRUE(Grootfs(store_, "delete", "b").ok());  // its layer stays, unused
  for (const auto& key : DirEntries(LayersDir()))
    if (!Exists(LayersDir() / key / "diff/etc/alpine-release"))
      fs::remove(LayersDir() / key / "layer.json");
  fs::create_directories(fs::path(store_) / "tmp/leftover2");
  // A record of the wrong shape (its owner can write anything there) is one problem among
  // the others, not the end of the check.
  fs::create_directories(ImageDir("bad"));
  WriteFile(ImageDir("bad") / "image.json", R"({"layers":[1],"mounted":"yes"})");
  auto r = Grootfs(store_, "check");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("image bad has no valid record"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("image a is not mounted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("has no valid record"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("leftover work directory"), std::string::npos) << r.out;
  r = Grootfs(store_, "check", "--repair");
  EXPECT_FALSE(r.ok()) << "a record it cannot mend is a problem left:\n" << r.Describe();
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("a")));
  EXPECT_EQ(InRootfs(RootfsOf("a"), "echo ok").out, "ok\n");
  EXPECT_TRUE(Grootfs(store_, "delete", "bad").ok());
  EXPECT_TRUE(Grootfs(store_, "check").ok());
  ExpectStoreWorks();
}

// Overlays are mounted volatile (their upper dirs never synced), and overlay then marks the work
// dir against any later mount. check --repair mounts an image that lost its mount again in the
// boot that made it (no crash can have lost its writes since), and refuses to for an image
// from an earlier boot: its upper dir may have lost writes, so it is to be made anew.
TEST_F(RobustnessTest, RepairRemountsOnlyWhatThisBootMounted) {
  InitStore();
  CreateOk(OciFixture("alpine"), "now");
  CreateOk(OciFixture("alpine"), "before");
  WriteFile(RootfsOf("now") / "written", "kept");
  for (const char* id : {"now", "before"}) ASSERT_EQ(umount2(RootfsOf(id).c_str(), 0), 0) << id;
  const fs::path before = ImageDir("before") / "image.json";
  Json record = ParseJson(ReadFile(before));
  ASSERT_TRUE(record.contains("boot_id")) << record.dump();
  record["boot_id"] = "00000000-0000-0000-0000-000000000000";  // as if the machine restarted
  WriteFile(before, record.dump());

  auto r = Grootfs(store_, "check", "--repair");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_NE(r.out.find("problem: image before is not mounted (cannot mount it: its overlay was "
                       "mounted volatile"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("repaired: image now is not mounted"), std::string::npos) << r.out;
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("now")));
  EXPECT_EQ(ReadFile(RootfsOf("now") / "written"), "kept");
  EXPECT_FALSE(IsOverlayMountedAt(RootfsOf("before")));
  EXPECT_TRUE(Grootfs(store_, "delete", "before").ok());
  ExpectStoreWorks();
}

TEST_F(RobustnessTest, RepairFetchesAgainALayerThatImagesStillUse) {
  InitStore();
  CreateOk(OciFixture("alpine"), "a");
  CreateOk(OciFixture("alpine"), "a2");
  CreateOk(OciFixture("busybox-1.25"), "b");
  const std::string hostname = ReadFile(RootfsOf("a") / "etc/hostname");
  // Tamper with alpine's layer (in use by two images) and remove busybox's altogether.
  fs::path alpine_layer, busybox_layer;
  for (const auto& key : DirEntries(LayersDir()))
    (Exists(LayersDir() / key / "diff/etc/alpine-release") ? alpine_layer : busybox_layer) =
        LayersDir() / key;
  WriteFile(alpine_layer / "diff/etc/hostname", "tampered-with-and-longer\n");
  auto r = RunCmd({"rm", "-rf", busybox_layer.string()});
  ASSERT_TRUE(r.ok());
  r = Grootfs(store_, "check");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("(in use)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("image b uses missing layer"), std::string::npos) << r.out;
  r = Grootfs(store_, "check", "--repair");
  EXPECT_TRUE(r.ok()) << r.Describe();
  // The mounted images keep their mounts (a container may hold them); made again, they use
  // the layers fetched anew.
  for (const std::string id : {"a", "a2", "b"}) {
    EXPECT_NE(r.out.find("note: image " + id + " keeps its mount"), std::string::npos) << r.out;
    ASSERT_TRUE(Grootfs(store_, "delete", id).ok());
  }
  EXPECT_TRUE(Grootfs(store_, "check").ok());
  CreateOk(OciFixture("alpine"), "a");
  CreateOk(OciFixture("busybox-1.25"), "b");
  EXPECT_EQ(ReadFile(RootfsOf("a") / "etc/hostname"), hostname);
  EXPECT_EQ(InRootfs(RootfsOf("b"), "echo ok").out, "ok\n");
  ExpectStoreWorks();
}

// A running container holds its rootfs's overlay in a mount namespace of its own. A repair that
// fetches one of its layers again leaves that overlay alone: a second overlay on the same upper
// and work dirs (and a work dir emptied under the first) would break the container's writes.
TEST_F(RobustnessTest, RepairLeavesTheMountOfARunningContainerAlone) {
  InitStore();
  CreateOk(OciFixture("busybox-1.25"), "c");
  const fs::path rootfs = RootfsOf("c");
  const pid_t container = fork();
  ASSERT_GE(container, 0);
  if (container == 0) {
    if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) ||
        chroot(rootfs.c_str()) != 0 || chdir("/") != 0)
      _exit(1);
    execl("/bin/sh", "sh", "-c", "while true; do sleep 1; done", nullptr);
    _exit(1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const std::vector<std::string> enter{"nsenter", "-t", std::to_string(container), "-m", "-r",
                                       "/bin/sh", "-c"};
  auto in_container = [&](const std::string& script) {
    std::vector<std::string> argv = enter;
    argv.push_back(script);
    return RunCmd(argv);
  };
  // The layer goes away from the store (a user, a disk's trouble); the container still has it.
  const auto layers = DirEntries(LayersDir());
  ASSERT_EQ(layers.size(), 1u);
  fs::rename(LayersDir() / *layers.begin(), tmp_.path() / "moved-layer");
  auto before = in_container("echo y >> /etc/passwd");
  EXPECT_TRUE(before.ok()) << before.Describe();

  auto r = Grootfs(store_, "check", "--repair");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_NE(r.out.find("note: image c keeps its mount"), std::string::npos) << r.out;
  auto after = in_container("echo y >> /etc/group && touch /new-file");
  EXPECT_TRUE(after.ok()) << "the container's writes broke:\n" << after.Describe();

  kill(container, SIGKILL);
  waitpid(container, nullptr, 0);
  EXPECT_TRUE(Grootfs(store_, "delete", "c").ok());
  ExpectStoreWorks();
}

// Kills at random moments: SIGKILL of the whole process group (grootfs and its helpers at
// once), or of grootfs alone (its helpers must notice and stop), or SIGTERM / SIGINT of grootfs
// alone (it stops its helpers and cleans up). Now and then a leftover is planted in tmp/ (a
// symlink, a fifo, a mode-000 tree, a foreign mount). No helper outlives its grootfs by more
// than 2 s, and no leftover stops a command.
TEST_F(RobustnessTest, SigkillAtRandomMomentsNeverBreaksTheStore) {
  InitStore();
  CreateOk(OciFixture("busybox-1.25"), "base");
  const fs::path tmp = fs::path(store_) / "tmp";
  const fs::path outside = tmp_.path() / "outside";
  fs::create_directories(outside);
  WriteFile(outside / "precious", "keep me\n");
  std::mt19937 rng(12345);
  const std::vector<std::string> images = {"alpine", "busybox-1.25", "garden-busybox"};
  int kills = 0, planted = 0;
  std::chrono::milliseconds slowest{0};
  for (int i = 0; i < 200; ++i) {
    if (i % 20 == 10) {
      const fs::path leftover = tmp / ("planted-" + std::to_string(i));
      switch (planted++ % 4) {
        case 0:
          ASSERT_EQ(symlink(outside.c_str(), leftover.c_str()), 0);
          break;
        case 1:
          ASSERT_EQ(mkfifo(leftover.c_str(), 0600), 0);
          break;
        case 2:
          fs::create_directories(leftover / "rootfs/deep");
          ASSERT_EQ(chmod((leftover / "rootfs").c_str(), 0), 0);
          break;
        default:
          fs::create_directories(leftover / "rootfs/in");
          ASSERT_EQ(
              mount(outside.c_str(), (leftover / "rootfs/in").c_str(), nullptr, MS_BIND, nullptr),
              0);
      }
    }
    std::vector<std::string> args;
    const std::string id = "k" + std::to_string(i % 7);
    switch (rng() % 4) {
      case 0:
      case 1:
        args = {"create", OciFixture(images[rng() % images.size()]), id};
        break;
      case 2:
        args = {"delete", id};
        break;
      default:
        args = {"clean"};
    }
    const pid_t pid = Spawn(args);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 60000));
    const int how = static_cast<int>(rng() % 4);
    const int sig = how == 2 ? SIGTERM : how == 3 ? SIGINT : SIGKILL;
    if (kill(how == 0 ? -pid : pid, sig) == 0) ++kills;
    int ws;
    waitpid(pid, &ws, 0);
    const auto took = UntilNoHelpers(store_, 2000ms);
    slowest = std::max(slowest, took);
    EXPECT_LT(took.count(), 2000) << "a helper outlived grootfs (" << args[0] << ", signal " << sig
                                  << "): " << ::testing::PrintToString(HelpersOf(store_));
  }
  RecordProperty("kills", kills);
  std::cout << kills << " kills; helpers gone at most " << slowest.count() << " ms after grootfs\n";
  EXPECT_GE(kills, 150);
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("base")));
  // The next commands work as they are, and clean alone sweeps what the kills left, all but
  // the foreign mounts, which stay, untouched.
  EXPECT_TRUE(Grootfs(store_, "list").ok());
  auto r = Grootfs(store_, "clean");
  EXPECT_TRUE(r.ok()) << r.Describe();
  for (const auto& name : DirEntries(tmp)) {
    EXPECT_TRUE(StartsWith(name, "planted-")) << name << " left in tmp/";
    const fs::path in = tmp / name / "rootfs/in";
    EXPECT_TRUE(MountAt(in).has_value()) << name << " is not a foreign mount";
    EXPECT_EQ(umount2(in.c_str(), 0), 0);
  }
  EXPECT_EQ(ReadFile(outside / "precious"), "keep me\n");
  r = Grootfs(store_, "check", "--repair");
  EXPECT_TRUE(r.ok()) << r.Describe();
  r = Grootfs(store_, "check");
  EXPECT_TRUE(r.ok()) << r.Describe();
  ExpectStoreWorks();
}

TEST_F(RobustnessTest, FiftyCreatesAndDeletesWithCleanBesideThemLeakNothing) {
  InitStore();
  const auto fds_before = OpenFdsOf(getpid());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  const std::vector<std::string> images = {"alpine", "busybox-1.25", "garden-busybox"};
  std::atomic<int> failures{0}, cycles{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 50; ++w) {
    workers.emplace_back([&, w] {
      for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
        const std::string id = "w" + std::to_string(w) + "-" + std::to_string(i);
        auto c = Grootfs(store_, "create", OciFixture(images[(w + i) % images.size()]), id);
        auto d = Grootfs(store_, "delete", id);
        if (!c.ok() || !d.ok()) {
          ++failures;
          ADD_FAILURE() << id << ": " << c.Describe() << d.Describe();
        }
        ++cycles;
      }
    });
  }
  std::thread cleaner([&] {
    while (std::chrono::steady_clock::now() < deadline) {
      if (!Grootfs(store_, "clean").ok()) ++failures;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  for (auto& t : workers) t.join();
  cleaner.join();
  RecordProperty("cycles", cycles.load());
  std::cout << "load: " << cycles << " create+delete cycles by 50 workers in 60 s, " << failures
            << " failures\n";
  EXPECT_EQ(failures, 0);
  EXPECT_GT(cycles, 50);
  EXPECT_EQ(OpenFdsOf(getpid()), fds_before) << "fds leaked in the test process";
  EXPECT_TRUE(ListImages().empty());
  EXPECT_TRUE(MountsUnder(store_).empty());
  EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty());
  EXPECT_TRUE(Grootfs(store_, "clean").ok());
  EXPECT_EQ(CountSubdirs(LayersDir()), 0u);
  // Lock files of layers that are gone do not pile up.
  for (const auto& name : DirEntries(fs::path(store_) / "locks"))
    EXPECT_FALSE(StartsWith(name, "layer-") || StartsWith(name, "tmp-")) << name;
  ExpectStoreWorks();
}

TEST_F(RobustnessTest, RunningOutOfSpaceAtAnyPointLeavesNothingHalfMade) {
  // A small XFS store, filled so that little room is left; a create then runs out of space
  // somewhere (unpacking a layer, writing its record, making the image), at a point that moves
  // with the room left. Every failure must be clean, and the store must work once room is back.
  auto r = Grootfs(store_, "init-store", "--store-size-bytes", std::to_string(320L << 20));
  ASSERT_TRUE(r.ok()) << r.Describe();
  const fs::path filler = fs::path(store_) / "filler";
  int failed = 0;
  for (long room_kb : {64L, 512L, 2048L, 4096L, 6144L, 7168L, 8192L, 16384L}) {
    struct statvfs vfs {};
    ASSERT_EQ(statvfs(store_.c_str(), &vfs), 0);
    const long avail_kb = static_cast<long>(vfs.f_bavail * vfs.f_frsize / 1024);
    if (avail_kb > room_kb)
      ASSERT_TRUE(
          RunCmd({"fallocate", "-l", std::to_string(avail_kb - room_kb) + "K", filler.string()})
              .ok());
    r = Grootfs(store_, "create", OciFixture("alpine"), "full");
    if (r.ok()) {
      EXPECT_TRUE(Grootfs(store_, "delete", "full").ok());
    } else {
      ++failed;
      EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
      EXPECT_TRUE(ContainsNoCase(r.out, "space")) << r.Describe();
      EXPECT_TRUE(ListImages().empty());
      EXPECT_TRUE(MountsBeneath().empty());
      EXPECT_FALSE(Exists(ImageDir("full")));
      EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty()) << "half-made work left behind";
    }
    fs::remove(filler);
    EXPECT_TRUE(Grootfs(store_, "clean").ok());
  }
  EXPECT_GE(failed, 3) << "the store never ran out of space";
  ExpectStoreWorks();
  EXPECT_TRUE(Grootfs(store_, "delete-store").ok());
}

}  // namespace
}  // namespace grootfs_it
