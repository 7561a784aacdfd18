// RemoveOwnTree: the frontend's removal of a tree in the store with its own rights, before the
// helper is asked to remove what is left.
#include "frontend/store/own_removal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using grootfs::frontend::store::kMaxOwnRemovalDepth;
using grootfs::frontend::store::RemoveOwnTree;

namespace {

class OwnRemoval : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/grootfs-own-removal-XXXXXX";
    root_ = mkdtemp(tmpl);
    fs::create_directories(root_ / "tmp");
    fs::create_directories(root_ / "decoy");
    Write(root_ / "decoy/keep", "the decoy's");
    tmp_ = open((root_ / "tmp").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(tmp_, 0);
  }
  void TearDown() override {
    close(tmp_);
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  static void Write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

  fs::path root_;
  int tmp_ = -1;
};

}  // namespace

TEST_F(OwnRemoval, RemovesATreeAndNothingItsSymlinksPointAt) {
  const fs::path image = root_ / "tmp/image";
  fs::create_directories(image / "diff/etc/deep/er");
  fs::create_directories(image / "rootfs");
  fs::create_directories(image / "work/work");
  Write(image / "image.json", "{}");
  Write(image / "diff/etc/deep/er/file", "x");
  fs::create_directory_symlink(root_ / "decoy", image / "diff/escape");
  fs::create_symlink(root_ / "decoy/keep", image / "diff/etc/keep-link");
  ASSERT_EQ(mkfifo((image / "diff/fifo").c_str(), 0600), 0);
  ASSERT_EQ(chmod((image / "work/work").c_str(), 0), 0);  // its owner's, whatever its mode

  EXPECT_TRUE(RemoveOwnTree(tmp_, "image"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(image)));
  EXPECT_TRUE(fs::is_regular_file(root_ / "decoy/keep"));
  EXPECT_EQ(fs::file_size(root_ / "decoy/keep"), std::string("the decoy's").size());
}

TEST_F(OwnRemoval, AMissingEntryIsGoneAlready) { EXPECT_TRUE(RemoveOwnTree(tmp_, "absent")); }

TEST_F(OwnRemoval, AnEntryItCannotRemoveStopsItAndIsLeftForTheHelper) {
  const fs::path image = root_ / "tmp/image";
  fs::create_directories(image / "diff/stuck");
  Write(image / "diff/stuck/file", "x");
  const int fd = open((image / "diff/stuck/file").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  int flags = FS_IMMUTABLE_FL;  // what even root may not unlink
  if (ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0) {
    close(fd);
    GTEST_SKIP() << "cannot make a file immutable here";
  }
  EXPECT_FALSE(RemoveOwnTree(tmp_, "image"));
  EXPECT_TRUE(fs::is_regular_file(image / "diff/stuck/file"));
  flags = 0;
  EXPECT_EQ(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
  close(fd);
  EXPECT_TRUE(RemoveOwnTree(tmp_, "image")) << "the rest goes once it can";
}

TEST_F(OwnRemoval, AMountInsideIsNeitherEnteredNorRemoved) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  const fs::path image = root_ / "tmp/image";
  fs::create_directories(image / "diff/mnt");
  ASSERT_EQ(mount("tmpfs", (image / "diff/mnt").c_str(), "tmpfs", 0, "size=64k"), 0);
  Write(image / "diff/mnt/inside", "on the mount");
  EXPECT_FALSE(RemoveOwnTree(tmp_, "image"));
  EXPECT_TRUE(fs::is_regular_file(image / "diff/mnt/inside"));
  ASSERT_EQ(umount2((image / "diff/mnt").c_str(), 0), 0);
}

// With no capability in effect, even root removes only what its ids' file rights allow: not
// another user's file in that user's directory (the helper's confined child removes those).
TEST_F(OwnRemoval, AnotherUsersFilesAreLeftEvenToRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "giving files to another user needs root";
  const fs::path image = root_ / "tmp/image";
  fs::create_directories(image / "diff/home/someone");
  Write(image / "diff/home/someone/file", "theirs");
  for (const char* p : {"diff/home/someone", "diff/home/someone/file"})
    ASSERT_EQ(lchown((image / p).c_str(), 4242, 4242), 0) << p;
  EXPECT_FALSE(RemoveOwnTree(tmp_, "image"));
  EXPECT_TRUE(fs::is_regular_file(image / "diff/home/someone/file"));
}

TEST_F(OwnRemoval, ATreeDeeperThanItsLimitIsLeftForTheHelper) {
  fs::path deep = root_ / "tmp/image";
  for (int i = 0; i <= kMaxOwnRemovalDepth + 1; ++i) deep /= "d";
  fs::create_directories(deep);
  EXPECT_FALSE(RemoveOwnTree(tmp_, "image"));
  EXPECT_TRUE(fs::is_directory(deep));
}
