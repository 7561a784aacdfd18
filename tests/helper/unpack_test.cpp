// UnpackTar and the helper's path rules, against tar streams a hostile layer could carry.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <filesystem>
#include <fstream>

#include "helper/fs_at.h"
#include "helper/ops/unpack.h"
#include "tar_builder.h"
#include "temp_dir.h"

using grootfs::helper::CleanEntryPath;
using grootfs::helper::OpenBeneath;
using grootfs::helper::RemoveContents;
using grootfs::helper::UnpackTar;

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

auto Unpack(TarBuilder& tar, const TempDir& dir, std::vector<std::string> base = {},
            std::uint64_t budget = 0) {
  const int fd = tar.Pipe();
  auto r = UnpackTar(fd, dir.fd(), base, budget);
  close(fd);
  return r;
}

}  // namespace

TEST(CleanEntryPath, DropsDotsAndRefusesEscapes) {
  EXPECT_EQ(*CleanEntryPath("./a//b/./c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(CleanEntryPath("./")->empty());
  EXPECT_FALSE(CleanEntryPath("/etc/passwd"));
  EXPECT_FALSE(CleanEntryPath("a/../../etc"));
  EXPECT_FALSE(CleanEntryPath(".."));
  EXPECT_FALSE(CleanEntryPath(""));
  EXPECT_FALSE(CleanEntryPath(std::string(4096, 'a')));
}

TEST(UnpackTar, WritesFilesDirsLinksAndMetadata) {
  TempDir dir;
  TarBuilder tar;
  tar.Dir("etc", 0750).File("etc/hosts", "127.0.0.1 localhost\n", 0640, 42)
      .Symlink("etc/link", "/etc/hosts").HardLink("etc/hard", "etc/hosts");
  auto r = Unpack(tar, dir);
  ASSERT_TRUE(r) << r.error().text;
  EXPECT_EQ(r->bytes, 20u);
  EXPECT_EQ(Slurp(dir.path() + "/etc/hosts"), "127.0.0.1 localhost\n");
  struct stat st{}, hard{};
  ASSERT_EQ(lstat((dir.path() + "/etc/hosts").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_uid, 42u);
  EXPECT_EQ(st.st_mtime, 1000000);
  ASSERT_EQ(lstat((dir.path() + "/etc/hard").c_str(), &hard), 0);
  EXPECT_EQ(hard.st_ino, st.st_ino);
  char target[64] = {};
  ASSERT_GT(readlink((dir.path() + "/etc/link").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "/etc/hosts");
  ASSERT_EQ(lstat((dir.path() + "/etc").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_mtime, 1000000);  // set after its children were written
}

TEST(UnpackTar, StopsAtItsByteBudgetBeforeWritingPastIt) {
  TempDir dir;
  TarBuilder tar;
  tar.File("small", std::string(1000, 'a')).File("big", std::string(300000, 'b'));
  auto r = Unpack(tar, dir, {}, 100000);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EDQUOT);
  EXPECT_NE(r.error().text.find("budget of 100000 bytes"), std::string::npos);
  struct stat st{};
  ASSERT_EQ(lstat((dir.path() + "/big").c_str(), &st), 0);
  EXPECT_LE(st.st_size, 100000);  // never past the budget

  TempDir ok;
  TarBuilder same;
  same.File("small", std::string(1000, 'a')).File("big", std::string(300000, 'b'));
  auto fits = Unpack(same, ok, {}, 301000);  // exactly the file data: allowed
  ASSERT_TRUE(fits) << fits.error().text;
  EXPECT_EQ(fits->bytes, 301000u);
}

TEST(UnpackTar, RefusesDotDotAndAbsoluteNames) {
  TempDir outer;
  ASSERT_EQ(mkdir((outer.path() + "/layer").c_str(), 0755), 0);
  TempDir& dir = outer;
  for (const char* bad : {"../escape", "a/../../escape", "/abs"}) {
    TarBuilder tar;
    tar.File(bad, "x");
    auto r = Unpack(tar, dir);
    EXPECT_FALSE(r) << bad;
  }
  EXPECT_NE(access("/escape", F_OK), 0);
  EXPECT_NE(access("/abs", F_OK), 0);
}

TEST(UnpackTar, DoesNotWriteThroughASymlinkFromAnEarlierEntry) {
  TempDir dir, outside;
  TarBuilder tar;
  tar.Symlink("evil", outside.path()).File("evil/pwned", "x");
  EXPECT_FALSE(Unpack(tar, dir));
  EXPECT_NE(access((outside.path() + "/pwned").c_str(), F_OK), 0);
}

TEST(UnpackTar, DoesNotWriteThroughASymlinkAlreadyInTheLayer) {
  TempDir dir, outside;
  ASSERT_EQ(symlink(outside.path().c_str(), (dir.path() + "/evil").c_str()), 0);
  TarBuilder tar;
  tar.File("evil/pwned", "x");
  EXPECT_FALSE(Unpack(tar, dir));
  EXPECT_NE(access((outside.path() + "/pwned").c_str(), F_OK), 0);
}

TEST(UnpackTar, AFileReplacingASymlinkReplacesTheLinkNotItsTarget) {
  TempDir dir, outside;
  std::ofstream(outside.path() + "/victim") << "safe";
  TarBuilder tar;
  tar.Symlink("f", outside.path() + "/victim").File("f", "new");
  ASSERT_TRUE(Unpack(tar, dir));
  EXPECT_EQ(Slurp(outside.path() + "/victim"), "safe");
  EXPECT_EQ(Slurp(dir.path() + "/f"), "new");
}

TEST(UnpackTar, HardLinksMayNotLeaveTheLayer) {
  TempDir dir, outside;
  std::ofstream(outside.path() + "/secret") << "s";
  for (const std::string& target : {std::string("../secret"), outside.path() + "/secret",
                                    std::string("missing")}) {
    TarBuilder tar;
    tar.HardLink("h", target);
    EXPECT_FALSE(Unpack(tar, dir)) << target;
  }
  // Through a symlink in the layer pointing out: refused too.
  TarBuilder tar;
  tar.Symlink("out", outside.path()).HardLink("h", "out/secret");
  EXPECT_FALSE(Unpack(tar, dir));
  struct stat st{};
  ASSERT_EQ(stat((outside.path() + "/secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 1u);
}

TEST(UnpackTar, TurnsWhiteoutsIntoOverlayWhiteouts) {
  TempDir dir;
  TarBuilder tar;
  tar.Dir("d").File("d/.wh.gone", "").File("d2/.wh..wh..opq", "").File(".wh..wh..opq", "");
  auto r = Unpack(tar, dir);
  ASSERT_TRUE(r) << r.error().text;
  struct stat st{};
  ASSERT_EQ(lstat((dir.path() + "/d/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  char v[4] = {};
  EXPECT_EQ(getxattr((dir.path() + "/d2").c_str(), "user.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');
  EXPECT_NE(r->flags & grootfs::ipc::kLayerRootOpaque, 0u);
}

TEST(UnpackTar, SkipsDevicesAndOverlayXattrs) {
  TempDir dir;
  TarBuilder tar;
  tar.CharDevice("dev/null").Xattr("x", "user.overlay.redirect", "/etc").Xattr("y", "user.ok", "1");
  ASSERT_TRUE(Unpack(tar, dir));
  EXPECT_NE(access((dir.path() + "/dev/null").c_str(), F_OK), 0);
  char v[16];
  EXPECT_LT(getxattr((dir.path() + "/x").c_str(), "user.overlay.redirect", v, sizeof v), 0);
  EXPECT_EQ(getxattr((dir.path() + "/y").c_str(), "user.ok", v, sizeof v), 1);
}

TEST(UnpackTar, UnpacksUnderABaseDirectoryAndRebasesHardLinks) {
  TempDir dir;
  TarBuilder tar;
  tar.File("file", "x").HardLink("first/link", "file");
  ASSERT_TRUE(Unpack(tar, dir, {"home", "vcap"}));
  struct stat a{}, b{};
  ASSERT_EQ(stat((dir.path() + "/home/vcap/file").c_str(), &a), 0);
  ASSERT_EQ(stat((dir.path() + "/home/vcap/first/link").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST(UnpackTar, RefusesGarbage) {
  TempDir dir;
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], "this is not a tar archive at all, not even close..........", 59), 59);
  close(p[1]);
  EXPECT_FALSE(UnpackTar(p[0], dir.fd(), {}, 0));
  close(p[0]);
}

TEST(OpenBeneath, RefusesSymlinksAndEscapes) {
  TempDir dir;
  ASSERT_EQ(symlink("/etc", (dir.path() + "/link").c_str()), 0);
  EXPECT_EQ(OpenBeneath(dir.fd(), "link/passwd", O_RDONLY).error().code, ELOOP);
  EXPECT_EQ(OpenBeneath(dir.fd(), "link", O_RDONLY).error().code, ELOOP);
  EXPECT_EQ(OpenBeneath(dir.fd(), "../etc/passwd", O_RDONLY).error().code, EXDEV);
  EXPECT_EQ(OpenBeneath(dir.fd(), "/etc/passwd", O_RDONLY).error().code, EXDEV);
  EXPECT_EQ(OpenBeneath(dir.fd(), "/proc/self/root/etc/passwd", O_RDONLY).error().code, EXDEV);
}

TEST(RemoveContents, RemovesDeepTreesWithoutFollowingLinks) {
  TempDir dir, outside;
  std::ofstream(outside.path() + "/keep") << "k";
  std::string path = dir.path();
  for (int i = 0; i < 400; ++i) {  // deeper than the fd budget
    path += "/d";
    ASSERT_EQ(mkdir(path.c_str(), i % 50 == 0 ? 0000 : 0755), 0);
  }
  ASSERT_EQ(symlink(outside.path().c_str(), (dir.path() + "/out").c_str()), 0);
  ASSERT_TRUE(RemoveContents(dir.fd()));
  EXPECT_EQ(access((outside.path() + "/keep").c_str(), F_OK), 0);
  EXPECT_NE(access((dir.path() + "/d").c_str(), F_OK), 0);
  EXPECT_NE(access((dir.path() + "/out").c_str(), F_OK), 0);
}

// A removal interrupted while flattening a deep tree leaves .grootfs-deep-N directories at the
// top; the next removal must not trip over those names (it used to fail with ENOTEMPTY for ever).
TEST(RemoveContents, FinishesWhatAnInterruptedRemovalOfADeepTreeLeft) {
  TempDir dir;
  for (const std::string top : {".grootfs-deep-1", ".grootfs-deep-2", "d"}) {
    std::string path = dir.path() + "/" + top;  // each one deeper than the fd budget
    ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
    for (int i = 0; i < 300; ++i) {
      path += "/d";
      ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
    }
    std::ofstream(path + "/file") << "x";
  }
  auto r = RemoveContents(dir.fd());
  ASSERT_TRUE(r) << r.error().text;
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}
