// One leftover never breaks a store: mounts someone else put inside an image or in tmp/, and
// odd entries planted in tmp/ (a symlink, a fifo, a mode-000 directory) are each skipped by the
// sweeps of every command, named by check, and removed by check --repair where they can be;
// a foreign mount's contents are never touched, and a symlink planted in locks/ never followed. And create --with-clean keeps what it needs.
#include <sys/mount.h>
#include <sys/stat.h>

#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

class LeftoversTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    InitStore();
    // What the foreign mounts show: outside the store, never to be touched.
    outside_ = tmp_.path() / "outside";
    fs::create_directories(outside_ / "sub");
    WriteFile(outside_ / "precious", "keep me\n");
    WriteFile(outside_ / "sub/also", "and me\n");
  }

  void BindOutside(const fs::path& at) {
    fs::create_directories(at);
    ASSERT_EQ(mount(outside_.c_str(), at.c_str(), nullptr, MS_BIND, nullptr), 0)
        << at << ": " << strerror(errno);
  }

  void ExpectOutsideUntouched() {
    EXPECT_EQ(ReadFile(outside_ / "precious"), "keep me\n");
    EXPECT_EQ(ReadFile(outside_ / "sub/also"), "and me\n");
  }

  // 10 creates, a clean, a list and deletes of what was created: all work.
  void ExpectCommandsWork() {
    for (int i = 0; i < 10; ++i) {
      const std::string id = "c" + std::to_string(i);
      auto r = Grootfs(store_, "create", OciFixture(i % 2 ? "alpine" : "busybox-1.25"), id);
      EXPECT_TRUE(r.ok()) << id << ": " << r.Describe();
    }
    EXPECT_EQ(InRootfs(RootfsOf("c9"), "echo ok").out, "ok\n");
    auto r = Grootfs(store_, "stats", "c9");
    EXPECT_TRUE(r.ok()) << r.Describe();
    r = Grootfs(store_, "clean");
    EXPECT_TRUE(r.ok()) << r.Describe();
    EXPECT_GE(ListImages().size(), 10u);  // list works and shows them
    for (int i = 0; i < 10; ++i) {
      r = Grootfs(store_, "delete", "c" + std::to_string(i));
      EXPECT_TRUE(r.ok()) << r.Describe();
    }
  }

  fs::path Tmp() const { return fs::path(store_) / "tmp"; }

  fs::path outside_;
};

TEST_F(LeftoversTest, AForeignMountInsideAnImageNeverBreaksTheStore) {
  CreateOk(OciFixture("alpine"), "a");
  BindOutside(RootfsOf("a") / "mnt/bound");  // inside the rootfs (on the overlay)
  BindOutside(ImageDir("a") / "be side");    // beside the rootfs (mountinfo spells it be\040side)
  auto r = Grootfs(store_, "delete", "a");
  // Either the image is gone, or it is still listed, whole, and the delete said why.
  const bool listed = ListImages().count(ImageDir("a").string()) == 1;
  if (r.ok()) {
    EXPECT_FALSE(listed);
  } else {
    EXPECT_TRUE(listed);
    EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
    EXPECT_NE(r.out.find("is mounted inside it"), std::string::npos) << r.out;
    EXPECT_TRUE(r.out.find("/rootfs/mnt/bound") != std::string::npos ||
                r.out.find("/be side") != std::string::npos)
        << r.out;
    EXPECT_TRUE(Exists(ImageDir("a") / "image.json"));
    EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("a")));
  }
  ExpectCommandsWork();
  ExpectOutsideUntouched();
  // Once the mounts are gone, delete works; until then it names the one left.
  (void)umount2((RootfsOf("a") / "mnt/bound").c_str(), MNT_DETACH);
  if (listed) {
    r = Grootfs(store_, "delete", "a");
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("/images/a/be side is mounted inside it"), std::string::npos) << r.out;
  }
  (void)umount2((ImageDir("a") / "be side").c_str(), MNT_DETACH);
  r = Grootfs(store_, "delete", "a");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_TRUE(ListImages().empty());
  r = Grootfs(store_, "check");
  EXPECT_TRUE(r.ok()) << r.Describe();
  // delete-store works too with a foreign mount inside, and leaves its contents alone.
  CreateOk(OciFixture("alpine"), "d");
  BindOutside(ImageDir("d") / "beside");
  r = Grootfs(store_, "delete-store");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_FALSE(Exists(store_));
  ExpectOutsideUntouched();
}

TEST_F(LeftoversTest, OddEntriesPlantedInTmpAreSkippedNamedAndRepaired) {
  CreateOk(OciFixture("alpine"), "a");
  // A symlink (to a directory outside), a fifo, a mode-000 tree (named as a work dir is), a
  // directory with a mount inside and a mount right on an entry.
  ASSERT_EQ(symlink(outside_.c_str(), (Tmp() / "planted-link").c_str()), 0);
  ASSERT_EQ(mkfifo((Tmp() / "planted-fifo").c_str(), 0600), 0);
  const std::string locked = "0123456789abcdef0123456789abcdef";
  fs::create_directories(Tmp() / locked / "rootfs/deep");
  WriteFile(Tmp() / locked / "rootfs/deep/file", "x");
  ASSERT_EQ(chmod((Tmp() / locked / "rootfs/deep").c_str(), 0), 0);
  ASSERT_EQ(chmod((Tmp() / locked).c_str(), 0), 0);
  fs::create_directories(Tmp() / "planted-mount/rootfs");
  BindOutside(Tmp() / "planted-mount/rootfs/inner");
  BindOutside(Tmp() / "planted-at");
  // And in locks/: a symlink where the store lock lives (clean takes it exclusively and writes
  // its pid into it) and a directory where a lock of a layer that is gone would be.
  const fs::path locks = fs::path(store_) / "locks";
  fs::remove(locks / "store");
  ASSERT_EQ(symlink((outside_ / "precious").c_str(), (locks / "store").c_str()), 0);
  fs::create_directories(locks / "layer-gone/sub");

  auto r = Grootfs(store_, "check");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("leftover symlink tmp/planted-link"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("leftover fifo tmp/planted-fifo"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("leftover work directory tmp/" + locked), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tmp/planted-mount/rootfs/inner is mounted inside it"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("unmount it, then run check --repair"), std::string::npos) << r.out;

  ExpectCommandsWork();
  ExpectOutsideUntouched();
  EXPECT_TRUE(Grootfs(store_, "delete", "a").ok());
  // The sweeps removed what they could; the two mounts are still there, and named.
  EXPECT_EQ(DirEntries(Tmp()), (std::set<std::string>{"planted-at", "planted-mount"}));
  r = Grootfs(store_, "check", "--repair");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_NE(r.out.find("tmp/planted-mount cannot be removed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tmp/planted-at cannot be removed"), std::string::npos) << r.out;
  EXPECT_TRUE(MountAt(Tmp() / "planted-at").has_value()) << "a foreign mount was unmounted";
  EXPECT_TRUE(MountAt(Tmp() / "planted-mount/rootfs/inner").has_value());
  ExpectOutsideUntouched();
  // Unmounted by their owner: repair clears them.
  ASSERT_EQ(umount2((Tmp() / "planted-at").c_str(), 0), 0);
  ASSERT_EQ(umount2((Tmp() / "planted-mount/rootfs/inner").c_str(), 0), 0);
  r = Grootfs(store_, "check", "--repair");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_TRUE(DirEntries(Tmp()).empty());
  EXPECT_TRUE(Grootfs(store_, "check").ok());
  ExpectOutsideUntouched();
  EXPECT_TRUE(Grootfs(store_, "delete-store").ok());
}

TEST_F(LeftoversTest, DeleteStoreDetachesForeignMountsInTmpWithoutTouchingThem) {
  BindOutside(Tmp() / "planted-at");
  fs::create_directories(Tmp() / "planted-mount");
  BindOutside(Tmp() / "planted-mount/inner");
  ASSERT_EQ(symlink(outside_.c_str(), (Tmp() / "planted-link").c_str()), 0);
  auto r = Grootfs(store_, "delete-store");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_FALSE(Exists(store_));
  EXPECT_TRUE(MountsUnder(tmp_.path()).empty());
  ExpectOutsideUntouched();
}

// What a delete killed after its hide leaves: an image in tmp/ with the store's own overlay
// still on its rootfs. check names it (no foreign mount in it); --repair unmounts and removes it.
TEST_F(LeftoversTest, ALeftoverTheStoreMountedIsUnmountedByRepair) {
  CreateOk(OciFixture("alpine"), "o");
  const fs::path hidden = Tmp() / "fedcba9876543210fedcba9876543210";
  fs::rename(ImageDir("o"), hidden);
  ASSERT_TRUE(IsOverlayMountedAt(hidden / "rootfs"));
  auto r = Grootfs(store_, "check");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("problem: leftover work directory tmp/" + hidden.filename().string()),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("mounted inside"), std::string::npos) << r.out;
  r = Grootfs(store_, "check", "--repair");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_NE(r.out.find("repaired: leftover work directory"), std::string::npos) << r.out;
  EXPECT_TRUE(MountsUnder(store_).empty());
  EXPECT_TRUE(DirEntries(Tmp()).empty());
}

// The store's owner may swap tmp/ itself for a symlink: a sweep (root's, here) then removes
// nothing it leads to.
TEST_F(LeftoversTest, ASweepNeverFollowsASwappedTmp) {
  ASSERT_EQ(mkfifo((outside_ / "victim-fifo").c_str(), 0600), 0);
  ASSERT_EQ(symlink("precious", (outside_ / "victim-link").c_str()), 0);
  fs::rename(Tmp(), fs::path(store_) / "tmp.real");
  ASSERT_EQ(symlink(outside_.c_str(), Tmp().c_str()), 0);
  (void)Grootfs(store_, "clean");
  (void)Grootfs(store_, "create", OciFixture("alpine"), "a");
  (void)Grootfs(store_, "check", "--repair");
  EXPECT_TRUE(Exists(outside_ / "victim-fifo"));
  EXPECT_TRUE(Exists(outside_ / "victim-link"));
  ExpectOutsideUntouched();
  fs::remove(Tmp());
  fs::rename(fs::path(store_) / "tmp.real", Tmp());
}

ino_t InodeOf(const fs::path& p) {
  struct stat st {};
  return lstat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST_F(LeftoversTest, CreateWithCleanKeepsTheCachedLayersTheImageNeeds) {
  CreateOk(OciFixture("alpine"), "a");
  const auto alpine_layers = DirEntries(LayersDir());
  ASSERT_EQ(alpine_layers.size(), 1u);
  const fs::path alpine_diff = LayersDir() / *alpine_layers.begin() / "diff";
  const ino_t inode = InodeOf(alpine_diff);
  const ino_t file_inode = InodeOf(alpine_diff / "etc/alpine-release");
  CreateOk(OciFixture("busybox-1.25"), "b");
  ASSERT_TRUE(Grootfs(store_, "delete", "a").ok());
  ASSERT_TRUE(Grootfs(store_, "delete", "b").ok());
  ASSERT_EQ(CountSubdirs(LayersDir()), 2u);  // both unused now

  // Over a huge threshold nothing goes, as before.
  CreateOk(OciFixture("alpine"), "c", {"--with-clean", "--threshold-bytes", "1000000000000000"});
  EXPECT_EQ(CountSubdirs(LayersDir()), 2u);
  ASSERT_TRUE(Grootfs(store_, "delete", "c").ok());

  // Without: busybox's unused layer goes, alpine's (about to be used) stays, not unpacked again.
  auto r = Grootfs(store_, "--log-level", "info", "create", "--with-clean", OciFixture("alpine"),
                   "d");
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(DirEntries(LayersDir()), alpine_layers);
  EXPECT_EQ(InodeOf(alpine_diff), inode) << "the cached layer was removed and unpacked again";
  EXPECT_EQ(InodeOf(alpine_diff / "etc/alpine-release"), file_inode);
  EXPECT_EQ(r.err.find("unpacking-layer"), std::string::npos) << r.err;
  EXPECT_EQ(InRootfs(RootfsOf("d"), "cat /etc/alpine-release").status, 0);
}

}  // namespace
}  // namespace grootfs_it
