// `create`: the JSON it prints, the mounted rootfs and what is in it, for the real test images.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

const char* const kAlpinePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

class CreateTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    InitStore();
  }

  static bool HasNoEnv(const Json& j) {
    return !j.contains("process") || j["process"].is_null() || !j["process"].contains("env");
  }

  // The kernel log's records from now on: /dev/kmsg, read from its end.
  class KernelLog {
   public:
    KernelLog() : fd_(open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)) {
      if (fd_ >= 0) (void)lseek(fd_, 0, SEEK_END);
    }
    ~KernelLog() {
      if (fd_ >= 0) close(fd_);
    }
    bool readable() const { return fd_ >= 0; }
    std::vector<std::string> New() {
      std::vector<std::string> lines;
      char record[8192];
      for (ssize_t n; (n = read(fd_, record, sizeof record)) != 0;) {
        if (n < 0 && errno == EPIPE) continue;  // records overwritten meanwhile: go on
        if (n < 0) break;                       // EAGAIN: no more
        lines.emplace_back(record, static_cast<std::size_t>(n));
      }
      return lines;
    }

   private:
    int fd_;
  };

  static ino_t Inode(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(lstat(p.c_str(), &st), 0) << p;
    return st.st_ino;
  }
};

TEST_F(CreateTest, AlpinePrintsTheContractJsonAndMountsAnOverlay) {
  auto r = Grootfs(store_, "create", OciFixture("alpine"), "alpine-1");
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(r.err, "") << "default log level is fatal: nothing on stderr";
  Json j = ParseJson(r.out);
  ASSERT_TRUE(j.is_object()) << r.out;

  ASSERT_TRUE(j.contains("root"));
  EXPECT_EQ(j["root"]["path"], RootfsOf("alpine-1").string());
  ASSERT_TRUE(j.contains("process"));
  ASSERT_TRUE(j["process"].contains("env"));
  EXPECT_EQ(j["process"]["env"], Json::array({kAlpinePath}));
  ASSERT_TRUE(j.contains("mounts"));
  EXPECT_EQ(j["mounts"], Json::array());

  auto m = MountAt(RootfsOf("alpine-1"));
  ASSERT_TRUE(m.has_value()) << "rootfs is not a mount point";
  EXPECT_EQ(m->fstype, "overlay");

  auto sh = InRootfs(RootfsOf("alpine-1"), "echo ok");
  EXPECT_TRUE(sh.ok()) << sh.Describe();
  EXPECT_EQ(sh.out, "ok\n");

  struct stat st {};
  ASSERT_EQ(stat(RootfsOf("alpine-1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0005, 0005u) << "rootfs must be o+rx, mode " << std::oct << st.st_mode;

  EXPECT_EQ(ListImages(), std::set<std::string>{ImageDir("alpine-1").string()});
}

// A create and a delete write nothing to the kernel's log: on a host that makes hundreds of
// containers an hour, a line each would bury what the log is for (and on a serial console
// each line costs milliseconds). An earlier probe for overlay's "lowerdir+" wrote one per create.
TEST_F(CreateTest, CreateAndDeleteWriteNothingToTheKernelLog) {
  KernelLog log;
  if (!log.readable()) GTEST_SKIP() << "cannot read /dev/kmsg";
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "quiet").is_object());
  ASSERT_TRUE(Grootfs(store_, "delete", "quiet").ok());
  std::vector<std::string> ours;
  for (const std::string& line : log.New())
    if (line.find("overlay") != std::string::npos) ours.push_back(line);
  EXPECT_TRUE(ours.empty()) << ::testing::PrintToString(ours);
}

TEST_F(CreateTest, WritesInARootfsDoNotReachTheCachedLayer) {
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "writer").is_object());
  const fs::path r1 = RootfsOf("writer");
  const std::string os_release = ReadFile(r1 / "etc/os-release");
  ASSERT_FALSE(os_release.empty());
  ASSERT_TRUE(Exists(r1 / "etc/motd"));

  WriteFile(r1 / "written-by-test", "mine");
  WriteFile(r1 / "etc/os-release", "overwritten\n");
  fs::remove(r1 / "etc/motd");
  auto sh = InRootfs(r1, "echo from-inside > /etc/added-inside && rm /etc/issue");
  ASSERT_TRUE(sh.ok()) << sh.Describe();
  EXPECT_EQ(ReadFile(r1 / "etc/os-release"), "overwritten\n");

  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "reader").is_object());
  const fs::path r2 = RootfsOf("reader");
  EXPECT_FALSE(Exists(r2 / "written-by-test"));
  EXPECT_FALSE(Exists(r2 / "etc/added-inside"));
  EXPECT_EQ(ReadFile(r2 / "etc/os-release"), os_release);
  EXPECT_TRUE(Exists(r2 / "etc/motd"));
  EXPECT_TRUE(Exists(r2 / "etc/issue"));
  EXPECT_TRUE(FindByName(LayersDir(), "written-by-test").empty());
  EXPECT_TRUE(FindByName(LayersDir(), "added-inside").empty());
}

TEST_F(CreateTest, WithoutMountReturnsTheOverlayMountForTheRuntime) {
  auto r = Grootfs(store_, "create", "--without-mount", OciFixture("alpine"), "unmounted");
  ASSERT_TRUE(r.ok()) << r.Describe();
  Json j = ParseJson(r.out);
  ASSERT_TRUE(j.is_object());
  const fs::path rootfs = RootfsOf("unmounted");
  EXPECT_EQ(j["root"]["path"], rootfs.string());
  EXPECT_EQ(j["process"]["env"], Json::array({kAlpinePath}));

  EXPECT_FALSE(MountAt(rootfs).has_value()) << "--without-mount mounted the rootfs";
  EXPECT_TRUE(MountsUnder(store_).empty());
  ASSERT_TRUE(fs::is_directory(rootfs));
  EXPECT_TRUE(DirEntries(rootfs).empty()) << "rootfs must exist and be empty";

  ASSERT_TRUE(j["mounts"].is_array());
  ASSERT_EQ(j["mounts"].size(), 1u) << j["mounts"].dump();
  const Json& m = j["mounts"][0];
  EXPECT_EQ(m["destination"], "/");
  EXPECT_EQ(m["type"], "overlay");
  EXPECT_EQ(m["source"], "overlay");
  ASSERT_TRUE(m["options"].is_array());
  // lowerdir, upperdir, workdir, and userxattr: layers keep their opaque markers in
  // user.overlay.* (they are unpacked in a user namespace), so the runtime must mount with it.
  ASSERT_EQ(m["options"].size(), 4u) << m.dump();
  EXPECT_EQ(m["options"][3], "userxattr");
  const std::string lower = m["options"][0].get<std::string>();
  const std::string upper = m["options"][1].get<std::string>();
  const std::string work = m["options"][2].get<std::string>();
  ASSERT_TRUE(StartsWith(lower, "lowerdir=")) << lower;
  ASSERT_TRUE(StartsWith(upper, "upperdir=")) << upper;
  ASSERT_TRUE(StartsWith(work, "workdir=")) << work;
  auto lowers = Split(lower.substr(9), ':');
  ASSERT_EQ(lowers.size(), 1u) << lower;
  EXPECT_EQ(lowers[0].front(), '/');
  EXPECT_TRUE(Exists(fs::path(lowers[0]) / "etc/os-release"));
  EXPECT_EQ(upper.at(9), '/');
  EXPECT_TRUE(fs::is_directory(upper.substr(9)));
  EXPECT_EQ(work.at(8), '/');
  EXPECT_TRUE(fs::is_directory(work.substr(8)));

  // Listed although not mounted.
  EXPECT_EQ(ListImages(), std::set<std::string>{ImageDir("unmounted").string()});

  // Mount it the way runc would: the options joined with commas.
  std::string joined = lower + "," + upper + "," + work;
  auto mount = RunCmd({"mount", "-t", "overlay", "overlay", "-o", joined, rootfs.string()});
  ASSERT_TRUE(mount.ok()) << mount.Describe();
  auto sh = InRootfs(rootfs, "echo ok > /tmp/hi && cat /tmp/hi");
  EXPECT_TRUE(sh.ok()) << sh.Describe();
  EXPECT_EQ(sh.out, "ok\n");

  auto stats = Grootfs(store_, "stats", "unmounted");
  EXPECT_TRUE(stats.ok()) << stats.Describe();

  // The runtime's mount goes away with its container; then delete removes the image.
  auto umount = RunCmd({"umount", rootfs.string()});
  ASSERT_TRUE(umount.ok()) << umount.Describe();
  auto del = Grootfs(store_, "delete", "unmounted");
  EXPECT_TRUE(del.ok()) << del.Describe();
  EXPECT_FALSE(Exists(ImageDir("unmounted")));
  EXPECT_TRUE(MountsUnder(store_).empty());
}

TEST_F(CreateTest, WithoutMountListsLowerdirsTopmostFirst) {
  const std::string layout = MakeLayersImage(3);
  auto r = Grootfs(store_, "create", "--without-mount", OciUri(layout), "three");
  ASSERT_TRUE(r.ok()) << r.Describe();
  Json j = ParseJson(r.out);
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j["mounts"].size(), 1u);
  std::string lower;
  for (const auto& o : j["mounts"][0]["options"])
    if (StartsWith(o.get<std::string>(), "lowerdir=")) lower = o.get<std::string>().substr(9);
  auto lowers = Split(lower, ':');
  ASSERT_EQ(lowers.size(), 3u) << lower;
  for (int i = 0; i < 3; ++i) {
    const int layer = 3 - i;  // topmost first
    const fs::path dir = lowers[static_cast<size_t>(i)];
    EXPECT_TRUE(dir.is_absolute()) << dir;
    EXPECT_EQ(ReadFile(dir / "data/top"), std::to_string(layer)) << dir;
    EXPECT_TRUE(Exists(dir / ("layer" + std::to_string(layer)) / "file")) << dir;
  }
}

TEST_F(CreateTest, GardenRootfsAppliesAllItsLayers) {
  Json j = CreateOk(OciFixture("garden-rootfs"), "garden");
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["process"]["env"],
            Json::array({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/"
                         "from-dockerfile",
                         "TEST=second-test-from-dockerfile:test-from-dockerfile"}));
  const fs::path r = RootfsOf("garden");
  ASSERT_TRUE(IsOverlayMountedAt(r));

  // Files from many different layers.
  EXPECT_TRUE(fs::is_regular_file(r / "bin/usemem"));
  EXPECT_TRUE(fs::is_regular_file(r / "bin/throttled-or-not"));
  EXPECT_TRUE(Exists(r / "hello"));
  EXPECT_TRUE(Exists(r / "allo"));
  EXPECT_TRUE(Exists(r / "existing-file"));
  EXPECT_TRUE(Exists(r / "etc/seed"));
  EXPECT_EQ(ReadFile(r / "test/hello"), "walla\n");
  struct stat st {};
  ASSERT_EQ(stat((r / "bin/usemem-with-setuid").c_str(), &st), 0);
  EXPECT_TRUE(st.st_mode & S_ISUID) << "setuid bit lost";
  ASSERT_EQ(stat((r / "test").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  // Whiteouts: of a file, of a folder, of entries in a directory; an opaque directory.
  EXPECT_FALSE(Exists(r / "file-to-be-deleted"));
  EXPECT_FALSE(Exists(r / "folder"));
  EXPECT_TRUE(fs::is_directory(r / "test/foo"));
  EXPECT_TRUE(DirEntries(r / "test/foo").empty())
      << ::testing::PrintToString(DirEntries(r / "test/foo"));
  EXPECT_EQ(DirEntries(r / "var"), std::set<std::string>{"istillexist"});
  // A symlink stays a symlink; a config volume exists as a directory.
  ASSERT_TRUE(fs::is_symlink(r / "tmp/symlink"));
  EXPECT_EQ(fs::read_symlink(r / "tmp/symlink"), "/etc/link-source");
  EXPECT_TRUE(fs::is_directory(r / "etc/foo"));
  // No whiteout markers leak into the rootfs.
  EXPECT_TRUE(FindByName(r, ".wh..wh..opq").empty());
  EXPECT_FALSE(Exists(r / ".wh.folder"));

  auto sh = InRootfs(r, "cat /test/hello");
  EXPECT_TRUE(sh.ok()) << sh.Describe();
  EXPECT_EQ(sh.out, "walla\n");
}

TEST_F(CreateTest, AnImageWithoutEnvHasNoProcessEnv) {
  Json j = CreateOk(OciFixture("garden-busybox"), "no-env");
  ASSERT_TRUE(j.is_object());
  EXPECT_TRUE(HasNoEnv(j)) << j.dump();
  EXPECT_EQ(j["root"]["path"], RootfsOf("no-env").string());
  EXPECT_EQ(j["mounts"], Json::array());
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("no-env")));
  EXPECT_TRUE(fs::is_regular_file(RootfsOf("no-env") / "bin/busybox"));
}

TEST_F(CreateTest, TwoHundredLayers) {
  const std::string layout = MakeLayersImage(200);
  auto r = GrootfsV(store_, {"create", OciUri(layout), "deep"}, 300s);
  ASSERT_TRUE(r.ok()) << r.Describe();
  Json j = ParseJson(r.out);
  ASSERT_TRUE(j.is_object());
  ASSERT_TRUE(j["process"]["env"].is_array());
  EXPECT_NE(std::find(j["process"]["env"].begin(), j["process"]["env"].end(), "LAYERS=200"),
            j["process"]["env"].end());
  const fs::path rootfs = RootfsOf("deep");
  ASSERT_TRUE(IsOverlayMountedAt(rootfs));
  EXPECT_EQ(ReadFile(rootfs / "data/top"), "200");
  EXPECT_EQ(ReadFile(rootfs / "layer1/file"), "1");
  EXPECT_EQ(ReadFile(rootfs / "layer100/file"), "100");
  EXPECT_EQ(ReadFile(rootfs / "layer200/file"), "200");
  EXPECT_EQ(CountSubdirs(LayersDir()), 200u);

  auto del = Grootfs(store_, "delete", "deep");
  EXPECT_TRUE(del.ok()) << del.Describe();
  EXPECT_TRUE(MountsUnder(store_).empty());
}

TEST_F(CreateTest, HardlinksShareAnInodeAndFollowTheBaseDirectory) {
  Json j = CreateOk(OciFixture("hardlink"), "links");
  ASSERT_TRUE(j.is_object());
  const fs::path r = RootfsOf("links");
  ASSERT_TRUE(IsOverlayMountedAt(r));

  // The second layer unpacks under /home (its base-directory annotation), links included.
  EXPECT_FALSE(Exists(r / "file"));
  EXPECT_FALSE(Exists(r / "first"));
  ASSERT_TRUE(fs::is_regular_file(r / "home/file"));
  ASSERT_TRUE(fs::is_regular_file(r / "home/first/second/file-link"));
  ASSERT_TRUE(fs::is_regular_file(r / "home/file-link2"));
  ASSERT_TRUE(fs::is_regular_file(r / "home/first/second/file2"));
  EXPECT_EQ(Inode(r / "home/file"), Inode(r / "home/first/second/file-link"));
  EXPECT_EQ(Inode(r / "home/file-link2"), Inode(r / "home/first/second/file2"));
  EXPECT_NE(Inode(r / "home/file"), Inode(r / "home/file-link2"));
  EXPECT_GE(fs::hard_link_count(r / "home/file"), 2u);

  // Hardlinks within the first layer (busybox applets).
  EXPECT_EQ(Inode(r / "bin/["), Inode(r / "bin/[["));
}

TEST_F(CreateTest, OpaqueWhiteoutHidesTheLowerDirectoryContents) {
  // Layer 1 (busybox) has var/spool, var/spool/mail and var/www; layer 2 has var/istillexist
  // and var/.wh..wh..opq, which hides everything below var from the layers beneath only.
  Json j = CreateOk(OciFixture("opq-whiteouts-busybox"), "opaque");
  ASSERT_TRUE(j.is_object());
  const fs::path r = RootfsOf("opaque");
  ASSERT_TRUE(IsOverlayMountedAt(r));
  EXPECT_EQ(DirEntries(r / "var"), std::set<std::string>{"istillexist"});
  EXPECT_FALSE(Exists(r / "var/spool"));
  EXPECT_FALSE(Exists(r / "var/www"));
  EXPECT_FALSE(Exists(r / "var/.wh..wh..opq"));
  // Everything outside the opaque directory is still there.
  EXPECT_TRUE(fs::is_regular_file(r / "etc/passwd"));
  EXPECT_TRUE(fs::is_regular_file(r / "bin/getconf"));
  EXPECT_TRUE(fs::is_directory(r / "usr/sbin"));
}

TEST_F(CreateTest, APlainTarRootfs) {
  const std::string tar = MakeRootfsTar();
  auto r = Grootfs(store_, "create", tar, "from-tar");
  ASSERT_TRUE(r.ok()) << r.Describe();
  Json j = ParseJson(r.out);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["root"]["path"], RootfsOf("from-tar").string());
  EXPECT_TRUE(HasNoEnv(j)) << j.dump();
  EXPECT_EQ(j["mounts"], Json::array());
  ASSERT_TRUE(IsOverlayMountedAt(RootfsOf("from-tar")));
  auto sh = InRootfs(RootfsOf("from-tar"), "echo ok");
  EXPECT_TRUE(sh.ok()) << sh.Describe();
  EXPECT_EQ(sh.out, "ok\n");
  EXPECT_TRUE(Exists(fs::path(tar))) << "the tar itself must be left alone";
}

TEST_F(CreateTest, ImagesOfOneLayoutShareTheirLayers) {
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "first").is_object());
  const size_t after_first = CountSubdirs(LayersDir());
  EXPECT_EQ(after_first, 1u) << "alpine has one layer";

  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "second").is_object());
  EXPECT_EQ(CountSubdirs(LayersDir()), after_first) << "the second image re-extracted its layer";

  const std::string layout = MakeLayersImage(3);
  ASSERT_TRUE(CreateOk(OciUri(layout), "third").is_object());
  EXPECT_EQ(CountSubdirs(LayersDir()), after_first + 3);
  ASSERT_TRUE(CreateOk(OciUri(layout), "fourth").is_object());
  EXPECT_EQ(CountSubdirs(LayersDir()), after_first + 3);

  for (const char* id : {"first", "second", "third", "fourth"})
    EXPECT_TRUE(IsOverlayMountedAt(RootfsOf(id))) << id;
  EXPECT_EQ(ReadFile(RootfsOf("fourth") / "data/top"), "3");
}

TEST_F(CreateTest, TinyAndUncompressedLayers) {
  Json empty = CreateOk(OciFixture("empty"), "tiny");
  ASSERT_TRUE(empty.is_object());
  EXPECT_TRUE(Exists(RootfsOf("tiny") / "hello"));
  EXPECT_TRUE(Exists(RootfsOf("tiny") / "allo"));

  Json plain = CreateOk(OciFixture("4mb-image"), "plain-tar-layers");
  ASSERT_TRUE(plain.is_object());
  const fs::path r = RootfsOf("plain-tar-layers");
  EXPECT_TRUE(IsOverlayMountedAt(r));
  ASSERT_TRUE(fs::is_regular_file(r / "2mb-file-1"));
  EXPECT_EQ(fs::file_size(r / "2mb-file-1"), 2097152u);
  EXPECT_EQ(fs::file_size(r / "1.5mb-file-2"), 1536000u);
  EXPECT_EQ(fs::file_size(r / "0.5mb-file"), 512000u);
}

// A create from cached layers loads no network library (the HTTP client is linked in; libcurl,
// with TLS, LDAP, Kerberos and SSH, used to be loaded), nor libarchive. The dynamic loader says
// what it loads.
TEST_F(CreateTest, AWarmCreateLoadsNoNetworkOrArchiveLibrary) {
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "cold").is_object());
  auto r = RunCmd({"env", "LD_DEBUG=libs", GrootfsBin(), "--store", store_, "create",
                   OciFixture("alpine"), "warm"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_NE(r.err.find("libc.so.6"), std::string::npos) << "no loader output?\n" << r.err;
  EXPECT_EQ(r.err.find("libcurl"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("libarchive"), std::string::npos) << r.err;
  EXPECT_TRUE(MountAt(RootfsOf("warm")).has_value());
}

}  // namespace
}  // namespace grootfs_it
