// A local user against root's commands in a store mapped to that user: symlinks planted in the
// store or swapped in while root works there must never turn root's init-store, delete-store,
// clean or check against files outside the store. Every attack aims at decoys this test owns
// (root's files and directories) and asserts they are untouched.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <map>

#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

// A uid no account uses (the attacker needs no passwd entry: root is the one calling grootfs).
uid_t FreeUid() {
  for (uid_t uid = 47000 + static_cast<uid_t>(getpid() % 1000);; ++uid)
    if (getpwuid(uid) == nullptr) return uid;
}

// Python, because a shell loop forks too slowly to race anything.
const char* const kRacer = R"(
import os, sys, time
store, decoy, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
names = ["images", "layers", "tmp", "locks", "meta"]
end = time.time() + seconds
while time.time() < end:
    for n in names:
        p = os.path.join(store, n)
        try:
            os.rmdir(p)
        except OSError:
            pass
        try:
            os.symlink(decoy, p)
        except OSError:
            pass
)";

// What a decoy looks like: every entry beneath it with its owner, mode and content.
std::map<std::string, std::string> Snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  struct stat st{};
  if (lstat(dir.c_str(), &st) == 0)
    out["."] = std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid) + ":" +
               std::to_string(st.st_mode);
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (lstat(e.path().c_str(), &st) != 0) continue;
    std::string v = std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid) + ":" +
                    std::to_string(st.st_mode);
    if (S_ISREG(st.st_mode)) v += ":" + ReadFile(e.path());
    out[fs::relative(e.path(), dir).string()] = v;
  }
  return out;
}

class HostileAdminTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    attacker_ = FreeUid();
    decoy_ = tmp_ / "decoy";  // root's directory, which the attacker would like to own
    fs::create_directories(decoy_);
    WriteFile(decoy_ / "f", "precious");
    WriteFile(decoy_ / "store", "precious lock");
    WriteFile(decoy_ / "tmp-leftover", "precious too");
    secret_ = tmp_ / "secret";  // root's private directory
    fs::create_directories(secret_);
    ASSERT_EQ(chmod(secret_.c_str(), 0700), 0);
    WriteFile(secret_ / "key", "s3cr3t");
    ASSERT_EQ(chmod((secret_ / "key").c_str(), 0600), 0);
    racer_ = tmp_ / "racer.py";
    WriteFile(racer_, kRacer);
    before_decoy_ = Snapshot(decoy_);
    before_secret_ = Snapshot(secret_);
  }

  void TearDown() override {
    if (IsSkipped()) return;
    EXPECT_EQ(Snapshot(decoy_), before_decoy_) << "the decoy changed";
    EXPECT_EQ(Snapshot(secret_), before_secret_) << "root's private directory changed";
  }

  std::vector<std::string> MappedTo(uid_t uid) const {
    const std::string owner = "0:" + std::to_string(uid) + ":1";
    return {"--uid-mapping", owner, "--uid-mapping", "1:3100000:65536",
            "--gid-mapping", owner, "--gid-mapping", "1:3100000:65536"};
  }

  RunResult InitMappedStore(const std::string& store, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"init-store"};
    for (const auto& a : MappedTo(attacker_)) args.push_back(a);
    args.insert(args.end(), extra.begin(), extra.end());
    return GrootfsV(store, args);
  }

  // Starts kRacer as the attacker on `store` for `seconds`, and waits until it spins.
  pid_t StartRacer(const std::string& store, const char* seconds) {
    const pid_t racer = fork();
    if (racer == 0) {
      (void)!setgroups(0, nullptr);
      if (setresgid(attacker_, attacker_, attacker_) != 0 ||
          setresuid(attacker_, attacker_, attacker_) != 0)
        _exit(2);
      execlp("python3", "python3", racer_.c_str(), store.c_str(), decoy_.c_str(), seconds,
             static_cast<char*>(nullptr));
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
    return racer;
  }

  // A directory tmp_/NAME the attacker owns (a home, a place to carry things to).
  fs::path AttackersDir(const std::string& name) {
    const fs::path dir = tmp_ / name;
    fs::create_directories(dir);
    EXPECT_EQ(chown(dir.c_str(), attacker_, attacker_), 0);
    return dir;
  }

  // Runs a shell script as the attacker.
  RunResult AsAttacker(const std::string& script) {
    return RunCmd({"setpriv", "--reuid=" + std::to_string(attacker_),
                   "--regid=" + std::to_string(attacker_), "--clear-groups", "--", "sh", "-c",
                   script});
  }

  uid_t attacker_ = 0;
  fs::path decoy_, secret_, racer_;
  std::map<std::string, std::string> before_decoy_, before_secret_;
};

TEST_F(HostileAdminTest, SymlinksSwappedInDuringInitStoreReachNothingOutside) {
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string store = (tmp_ / ("store-" + std::to_string(round))).string();
    const pid_t racer = StartRacer(store, "0.4");
    auto r = InitMappedStore(store);
    int status = 0;
    waitpid(racer, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "racer failed";
    ASSERT_TRUE(r.ok()) << r.Describe();
    // The attacker's links, swapped in after the hand-over, are theirs to keep; delete-store
    // removes them without following them.
    auto gone = Grootfs(store, "delete-store");
    EXPECT_FALSE(Exists(store)) << gone.Describe();
  }
}

TEST_F(HostileAdminTest, AStoreDirectoryTheUserMadeIsTakenOverBeforeUse) {
  const fs::path home = AttackersDir("home");
  const std::string store = (home / "store").string();
  // A non-empty directory of theirs is refused, and nothing of it followed.
  auto planted = AsAttacker("mkdir " + store + " && ln -s " + decoy_.string() + " " + store +
                            "/images");
  ASSERT_TRUE(planted.ok()) << planted.Describe();
  auto r = InitMappedStore(store);
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
  // An empty one becomes the store, root's until it is whole.
  ASSERT_TRUE(AsAttacker("rm " + store + "/images").ok());
  r = InitMappedStore(store);
  ASSERT_TRUE(r.ok()) << r.Describe();
  struct stat st{};
  ASSERT_EQ(stat((store + "/meta").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  ASSERT_EQ(stat(store.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, attacker_);
  EXPECT_TRUE(Grootfs(store, "delete-store").ok());
}

TEST_F(HostileAdminTest, ABackingFileTheUserMadeIsRefused) {
  const fs::path home = AttackersDir("home");
  const std::string store = (home / "store").string();
  // A valid XFS filesystem of the attacker's making, which could hold a setuid root shell.
  auto made = AsAttacker("truncate -s 320M " + store + ".backing-store && mkfs.xfs -q " + store +
                         ".backing-store");
  ASSERT_TRUE(made.ok()) << made.Describe();
  auto r = InitMappedStore(store, {"--store-size-bytes", std::to_string(320L << 20)});
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
  EXPECT_TRUE(ContainsNoCase(r.out, "backing store")) << r.out;
  EXPECT_TRUE(MountsUnder(tmp_.path()).empty());
  struct stat st{};
  ASSERT_EQ(stat((store + ".backing-store").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, attacker_);
}

TEST_F(HostileAdminTest, RootsBackingStoreIsMountedNosuidNodev) {
  auto r = InitMappedStore(store_, {"--store-size-bytes", std::to_string(320L << 20)});
  ASSERT_TRUE(r.ok()) << r.Describe();
  auto m = MountAt(store_);
  ASSERT_TRUE(m.has_value());
  EXPECT_NE(("," + m->options + ",").find(",nosuid,"), std::string::npos) << m->options;
  EXPECT_NE(("," + m->options + ",").find(",nodev,"), std::string::npos) << m->options;
  EXPECT_TRUE(Grootfs(store_, "delete-store").ok());
  EXPECT_FALSE(Exists(store_ + ".backing-store"));
}

TEST_F(HostileAdminTest, DeleteStoreFollowsNoLinkTheUserPlanted) {
  ASSERT_TRUE(InitMappedStore(store_).ok());
  const std::string s = store_;
  auto planted = AsAttacker(
      "mkdir " + s + "/images/evil && echo x > " + s + "/images/evil/file && rm -rf " + s +
      "/tmp " + s + "/layers && ln -s " + decoy_.string() + " " + s + "/tmp && ln -s " +
      secret_.string() + " " + s + "/layers && ln -s " + (decoy_ / "store").string() + " " + s +
      "/locks/store");
  ASSERT_TRUE(planted.ok()) << planted.Describe();
  // Nothing outside is touched (TearDown), and the store still goes, links and all.
  auto r = Grootfs(store_, "delete-store");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_FALSE(Exists(store_));
}

TEST_F(HostileAdminTest, CleanAndCheckFollowNoLinkTheUserPlanted) {
  ASSERT_TRUE(InitMappedStore(store_).ok());
  CreateOk(OciFixture("busybox-1.25"), "img");
  ASSERT_TRUE(Grootfs(store_, "delete", "img").ok());
  const std::string s = store_;
  // A leftover in tmp/ whose lock file, like every lock, now lives in root's decoy.
  auto planted = AsAttacker("mkdir " + s + "/tmp/leftover && rm -rf " + s + "/locks && ln -s " +
                            decoy_.string() + " " + s + "/locks");
  ASSERT_TRUE(planted.ok()) << planted.Describe();
  for (const char* cmd : {"clean", "check"}) {
    auto r = Grootfs(store_, cmd);
    EXPECT_TRUE(IsOneLine(r.out) || r.ok()) << r.Describe();
  }
  auto r = Grootfs(store_, "check", "--repair");
  EXPECT_TRUE(IsOneLine(r.out) || r.ok()) << r.Describe();
  // Once the user puts the store right, it works again.
  ASSERT_TRUE(AsAttacker("rm " + s + "/locks && mkdir -m 700 " + s + "/locks").ok());
  r = Grootfs(store_, "clean");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_TRUE(Grootfs(store_, "delete-store").ok());
}

TEST_F(HostileAdminTest, AMountCarriedOutOfTheStoreIsStillFoundAndUnmounted) {
  ASSERT_TRUE(InitMappedStore(store_).ok());
  CreateOk(OciFixture("busybox-1.25"), "carried");
  CreateOk(OciFixture("busybox-1.25"), "kept");
  const fs::path away = AttackersDir("far away");  // a name the mount table escapes
  auto moved = AsAttacker("mv " + ImageDir("carried").string() + " '" + (away / "x").string() + "'");
  ASSERT_TRUE(moved.ok()) << moved.Describe();
  ASSERT_TRUE(IsOverlayMountedAt(away / "x/rootfs"));
  auto check = Grootfs(store_, "check");
  EXPECT_NE(check.status, 0);
  EXPECT_NE(check.out.find((away / "x/rootfs").string()), std::string::npos) << check.out;
  // Deleting the image it belonged to unmounts it wherever it went.
  auto r = Grootfs(store_, "delete", "carried");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_FALSE(MountAt(away / "x/rootfs").has_value());
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("kept"))) << "an image in its place is left alone";
  EXPECT_TRUE(Grootfs(store_, "delete-store").ok());
  EXPECT_TRUE(MountsUnder(tmp_.path()).empty());
}

TEST_F(HostileAdminTest, DeleteStoreUnmountsMountsCarriedAway) {
  ASSERT_TRUE(InitMappedStore(store_).ok());
  CreateOk(OciFixture("busybox-1.25"), "carried");
  const fs::path away = AttackersDir("away");
  ASSERT_TRUE(AsAttacker("mv " + ImageDir("carried").string() + " " + (away / "x").string()).ok());
  auto r = Grootfs(store_, "delete-store");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_TRUE(MountsUnder(tmp_.path()).empty());
}

TEST_F(HostileAdminTest, TheHelperBoundsTheMountsOfAStore) {
  ASSERT_TRUE(InitMappedStore(store_).ok());
  // Root's marker sets the limit; the caller's config cannot.
  WriteFile(fs::path(store_) / "meta/store-marker",
            ReadFile(fs::path(store_) / "meta/store-marker") + "mountlimit:2\n");
  CreateOk(OciFixture("busybox-1.25"), "one");
  CreateOk(OciFixture("busybox-1.25"), "two");
  auto r = Grootfs(store_, "create", OciFixture("busybox-1.25"), "three");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  EXPECT_NE(r.out.find("limit of 2 rootfs mounts"), std::string::npos) << r.out;
  EXPECT_FALSE(Exists(ImageDir("three")));
  ASSERT_TRUE(Grootfs(store_, "delete", "one").ok());
  CreateOk(OciFixture("busybox-1.25"), "three");
  EXPECT_TRUE(Grootfs(store_, "delete-store").ok());
}

TEST_F(HostileAdminTest, LinksSwappedInDuringCleanCheckAndDeleteReachNothingOutside) {
  ASSERT_TRUE(InitMappedStore(store_).ok());
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    CreateOk(OciFixture("busybox-1.25"), "img");
    ASSERT_TRUE(Grootfs(store_, "delete", "img").ok());  // an unused layer for clean
    const pid_t racer = StartRacer(store_, "0.6");
    (void)Grootfs(store_, "clean");
    (void)Grootfs(store_, "check", "--repair");
    (void)Grootfs(store_, "delete", "img");
    int status = 0;
    waitpid(racer, &status, 0);
    // The user puts their store right again (every area a real directory) for the next round.
    ASSERT_TRUE(AsAttacker("cd " + store_ + " && for d in images layers tmp locks; do "
                           "[ -L $d ] && rm $d && mkdir -m 700 $d; done; true")
                    .ok());
  }
  EXPECT_TRUE(Grootfs(store_, "delete-store").ok());
}

TEST_F(HostileAdminTest, AStorePathThroughAUsersLinkIsRefused) {
  // The user's link would point root's init-store at root's own directory.
  const fs::path home = AttackersDir("home");
  fs::create_directories(tmp_ / "roots");
  ASSERT_TRUE(AsAttacker("ln -s " + (tmp_ / "roots").string() + " " + (home / "link").string()).ok());
  auto r = InitMappedStore((home / "link/store").string());
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  EXPECT_FALSE(Exists(tmp_ / "roots/store"));
}

// A store reached through the user's own link: root does nothing there as root (before, it
// made its lock and work files through the link, then the helper refused the path).
TEST_F(HostileAdminTest, RootMakesNothingThroughAStorePathWithALink) {
  ASSERT_TRUE(InitMappedStore(store_).ok());
  const fs::path home = AttackersDir("home");
  ASSERT_TRUE(AsAttacker("ln -s " + store_ + " " + (home / "link").string()).ok());
  for (const char* cmd : {"create", "clean", "delete"}) {
    std::vector<std::string> args{cmd};
    if (std::string(cmd) == "create") args.push_back(OciFixture("busybox-1.25"));
    if (std::string(cmd) != "clean") args.push_back("x");
    auto r = GrootfsV((home / "link").string(), args);
    EXPECT_NE(r.status, 0) << cmd;
    EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  }
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(store_, ec)) {
    struct stat st{};
    if (lstat(e.path().c_str(), &st) != 0 || e.path().parent_path() == fs::path(store_) / "meta" ||
        e.path() == fs::path(store_) / "meta")
      continue;
    EXPECT_NE(st.st_uid, 0u) << e.path() << " was made by root";
  }
}

// A mount moved so deep its path is longer than PATH_MAX is still found and unmounted.
TEST_F(HostileAdminTest, AMountMovedPastPathMaxIsStillUnmounted) {
  ASSERT_TRUE(InitMappedStore(store_).ok());
  CreateOk(OciFixture("busybox-1.25"), "deep");
  const fs::path away = AttackersDir("away");
  const std::string script =
      "import os, sys\n"
      "src, base = sys.argv[1], sys.argv[2]\n"
      "os.chdir(base)\n"
      "for i in range(20):\n"
      "    os.mkdir('d' * 250)\n"
      "    os.chdir('d' * 250)\n"
      "os.rename(src, 'x')\n";
  WriteFile(tmp_ / "deep.py", script);
  auto moved = AsAttacker("python3 " + (tmp_ / "deep.py").string() + " " + ImageDir("deep").string() +
                          " " + away.string());
  ASSERT_TRUE(moved.ok()) << moved.Describe();
  ASSERT_EQ(MountsUnder(away).size(), 1u);
  auto r = Grootfs(store_, "delete-store");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_TRUE(MountsUnder(tmp_.path()).empty());
}

}  // namespace
}  // namespace grootfs_it
