// The store's pure logic: mount order with opaque roots, file locks, image-path arguments.
#include "frontend/store/store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "frontend/commands/commands.h"
#include "frontend/store/layer_cache.h"
#include "frontend/store/mounts.h"
#include "frontend/util/error.h"

using namespace grootfs::frontend;
using store::FileLock;
using store::LayerRecord;

namespace {

class StoreDir : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/grootfs-store-test-XXXXXX";
    paths_.root = mkdtemp(tmpl);
    ASSERT_EQ(mkdir(paths_.locks().c_str(), 0700), 0);
  }
  void TearDown() override { std::filesystem::remove_all(paths_.root); }
  store::Paths paths_;
};

}  // namespace

TEST(MountOrder, IsTopmostFirst) {
  std::vector<LayerRecord> layers = {{"a", 1, false}, {"b", 1, false}, {"c", 1, false}};
  EXPECT_EQ(store::MountOrder(layers), (std::vector<std::string>{"c", "b", "a"}));
}

TEST(MountOrder, CutsBelowTheTopmostOpaqueRoot) {
  std::vector<LayerRecord> layers = {
      {"a", 1, false}, {"b", 1, true}, {"c", 1, false}, {"d", 1, true}, {"e", 1, false}};
  EXPECT_EQ(store::MountOrder(layers), (std::vector<std::string>{"e", "d"}));
}

TEST_F(StoreDir, ExclusiveLockExcludesOthersAndSharedLocksShare) {
  FileLock shared1(paths_, "store", FileLock::Mode::kShared);
  FileLock shared2 = FileLock::TryLock(paths_, "store", FileLock::Mode::kShared);
  EXPECT_TRUE(shared2.held());
  EXPECT_FALSE(FileLock::TryLock(paths_, "store", FileLock::Mode::kExclusive).held());
  shared1.Release();
  shared2.Release();
  EXPECT_TRUE(FileLock::TryLock(paths_, "store", FileLock::Mode::kExclusive).held());
}

TEST_F(StoreDir, LockWaitTimesOutWithAClearError) {
  FileLock held(paths_, "layer-x", FileLock::Mode::kExclusive);
  // flock locks belong to the open file, so a second open in this process conflicts too.
  try {
    FileLock waiter(paths_, "layer-x", FileLock::Mode::kExclusive, std::chrono::seconds(0));
    FAIL() << "the second exclusive lock was granted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos);
  }
}

TEST_F(StoreDir, ADeadHoldersLockIsFree) {
  const pid_t pid = fork();
  if (pid == 0) {
    FileLock lock(paths_, "tmp-abc", FileLock::Mode::kExclusive);
    _exit(0);  // dies holding it
  }
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(FileLock::TryLock(paths_, "tmp-abc", FileLock::Mode::kExclusive).held());
}

TEST_F(StoreDir, RequireStoreNamesInitStore) {
  try {
    store::RequireStore(paths_);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("init-store"), std::string::npos);
  }
  store::Paths missing{paths_.root + "/nope"};
  EXPECT_THROW(store::RequireStore(missing), Error);
}

TEST_F(StoreDir, WriteFileAtomicallyLeavesNoTemporary) {
  const std::string path = paths_.root + "/f.json";
  store::WriteFileAtomically(path, "{}", store::Owner{0, 0});
  EXPECT_EQ(store::ReadFile(path), "{}");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(ImageIdFromArg, AcceptsIdsAndPathsInTheStoreOnly) {
  Invocation inv;
  inv.store = "/var/lib/grootfs/store";
  EXPECT_EQ(commands::ImageIdFromArg(inv, "abc"), "abc");
  EXPECT_EQ(commands::ImageIdFromArg(inv, "/var/lib/grootfs/store/images/abc"), "abc");
  EXPECT_EQ(commands::ImageIdFromArg(inv, "/var/lib/grootfs/store/images/abc/"), "abc");
  EXPECT_THROW(commands::ImageIdFromArg(inv, "/etc/passwd"), Error);
  EXPECT_THROW(commands::ImageIdFromArg(inv, "/var/lib/grootfs/store/images/a/b"), Error);
  EXPECT_THROW(commands::ImageIdFromArg(inv, "/var/lib/grootfs/store/images/.."), Error);
  EXPECT_THROW(commands::ImageIdFromArg(inv, "../x"), Error);
}

TEST(DiskUsage, CountsHardLinksOnce) {
  char tmpl[] = "/tmp/grootfs-du-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  {
    FILE* f = fopen((dir + "/a").c_str(), "w");
    std::string mb(1 << 20, 'x');
    fwrite(mb.data(), 1, mb.size(), f);
    fclose(f);
  }
  const auto one = store::DiskUsage(dir);
  ASSERT_EQ(link((dir + "/a").c_str(), (dir + "/b").c_str()), 0);
  EXPECT_GE(one, 1u << 20);
  EXPECT_EQ(store::DiskUsage(dir), one);
  std::filesystem::remove_all(dir);
}

// Only names RandomName() makes may have a live owner; anything else in tmp/ is debris.
TEST(MayHaveOwner, OnlyRandomNames) {
  EXPECT_TRUE(store::MayHaveOwner(store::RandomName()));
  EXPECT_FALSE(store::MayHaveOwner("planted-link"));
  EXPECT_FALSE(store::MayHaveOwner(std::string(32, 'g')));
  EXPECT_FALSE(store::MayHaveOwner(std::string(33, 'a')));
  EXPECT_FALSE(store::MayHaveOwner("0123456789ABCDEF0123456789ABCDEF"));
}

// Every mount is read with its id, its point unescaped (mountinfo writes a space as \040), its
// type and its source; a mount inside the store's entry is beneath it.
TEST_F(StoreDir, MountsAreReadWithTheirPointsUnescaped) {
  const std::string dir = paths_.root + "/with space\tand tab";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(mount("grootfs-test-source", dir.c_str(), "tmpfs", 0, "size=64k"), 0)
      << std::strerror(errno);
  const std::vector<store::Mount> all = store::ReadMounts();
  EXPECT_GT(all.size(), 1u);
  const auto it =
      std::find_if(all.begin(), all.end(), [&](const store::Mount& m) { return m.point == dir; });
  ASSERT_NE(it, all.end());
  EXPECT_EQ(it->fstype, "tmpfs");
  EXPECT_EQ(it->source, "grootfs-test-source");
  EXPECT_GT(it->id, 0u);
  EXPECT_EQ(store::MountsAtOrBeneath(paths_.root), std::vector<std::string>{dir});
  EXPECT_EQ(umount2(dir.c_str(), MNT_DETACH), 0);
}

// A record, a lock's holder: regular files of bounded size only. A fifo fails at once (it would
// block a reader), a symlink is not followed, and a record past the limit is refused unread.
TEST_F(StoreDir, ReadFileTakesBoundedRegularFilesOnly) {
  const std::string dir = paths_.root;
  std::ofstream(dir + "/ok") << "1234";
  EXPECT_EQ(store::ReadFile(dir + "/ok"), "1234");
  EXPECT_EQ(store::ReadFile(dir + "/ok", 4), "1234");
  EXPECT_THROW(store::ReadFile(dir + "/ok", 3), Error);
  ASSERT_EQ(mkfifo((dir + "/fifo").c_str(), 0600), 0);
  EXPECT_THROW(store::ReadFile(dir + "/fifo"), Error);
  ASSERT_EQ(symlink((dir + "/ok").c_str(), (dir + "/link").c_str()), 0);
  EXPECT_THROW(store::ReadFile(dir + "/link"), Error);
  const int fd = open((dir + "/sparse").c_str(), O_WRONLY | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, off_t{2} << 30), 0);  // 2 GiB of nothing: refused, not read
  close(fd);
  EXPECT_THROW(store::ReadFile(dir + "/sparse"), Error);
}

// A symlink planted where a leftover is looked at is not resolved: "/" and everything mounted
// beneath it are not inside the leftover.
TEST_F(StoreDir, MountsOfASymlinkedEntryAreNotItsTargets) {
  const std::string link = paths_.root + "/link";
  ASSERT_EQ(symlink("/", link.c_str()), 0);
  EXPECT_TRUE(store::ForeignMountsIn(link).empty());
  EXPECT_TRUE(store::MountsAtOrBeneath(link).empty());
  EXPECT_FALSE(store::MountsAtOrBeneath("/").empty());
}

// A lock file that is a symlink is removed and made afresh; its target is never written.
TEST_F(StoreDir, ALockThatIsASymlinkIsNeverFollowed) {
  const std::string target = paths_.root + "/target";
  { std::ofstream(target) << "keep"; }
  ASSERT_EQ(symlink(target.c_str(), (paths_.locks() + "/store").c_str()), 0);
  {
    FileLock lock(paths_, "store", FileLock::Mode::kExclusive);
    EXPECT_TRUE(lock.held());
  }
  std::ifstream in(target);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "keep");
}
