// UnpackTar and the helper's path rules, against tar streams a hostile layer could carry.
#include "unpacker/unpack_tar.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "helper/fs_at.h"
#include "raw_tar.h"
#include "tar_builder.h"
#include "temp_dir.h"

using grootfs::unpacker::CleanEntryPath;
using grootfs::helper::OpenBeneath;
using grootfs::helper::RemoveContents;
using grootfs::unpacker::UnpackTar;

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

auto Unpack(TarBuilder& tar, const TempDir& dir, std::vector<std::string> base = {},
            std::uint64_t budget = 0) {
  const int fd = tar.Pipe();
  auto r = UnpackTar(fd, dir.fd(), base, {}, budget);
  close(fd);
  return r;
}

auto UnpackRaw(RawTar& tar, const TempDir& dir, std::vector<int> lowers = {}) {
  const int fd = TarBuilder::PipeOf(tar.Take());
  auto r = UnpackTar(fd, dir.fd(), {}, lowers, 0);
  close(fd);
  return r;
}

std::string Link(const std::string& path) {
  char buf[8192];
  const ssize_t n = readlink(path.c_str(), buf, sizeof buf);
  return n < 0 ? std::string("(none)") : std::string(buf, static_cast<std::size_t>(n));
}

struct stat Lstat(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) st.st_mode = 0;
  return st;
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
  EXPECT_FALSE(UnpackTar(p[0], dir.fd(), {}, {}, 0));
  close(p[0]);
}

// The ca-certificates failure: pax UTF-8 names the helper's C locale cannot hold. Names are
// bytes: UTF-8 (NFD too, never normalised), hdrcharset=BINARY, GNU long names and plain ustar
// names with bytes that are not UTF-8 are all written exactly as they are in the layer.
TEST(UnpackTar, WritesNamesAndLinkTargetsByteForByte) {
  const std::string cert =
      "NetLock_Arany_=Class_Gold=_F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.pem";
  const std::string target = "/usr/share/ca-certificates/mozilla/F\xc5\x91tan\xc3\xbas.crt";
  const std::string nfd = "cafe\xcc\x81";  // "café" decomposed: NFC would make it c3 a9
  const std::string binary = "raw-\xff\xfe";
  const std::string gnu = std::string(150, 'a') + "/gnu-\xfe-" + std::string(240, 'g');
  const std::string deep = std::string(200, 'd') + "/" + std::string(200, 'e') + "/" +
                           std::string(250, 'f') + "-\xc3\xa9";
  RawTar tar;
  tar.Pax(RawTar::Record("path=" + cert) + RawTar::Record("linkpath=" + target))
      .Add({"x", '2', "x", 0777})
      .Pax(RawTar::Record("path=" + nfd))
      .Add({"x"})
      .Pax(RawTar::Record("hdrcharset=BINARY") + RawTar::Record("path=" + binary))
      .Add({"x"})
      .LongName(gnu)
      .Add({gnu.substr(0, 100)})
      .Add({"ustar-\xfd"})
      .Pax(RawTar::Record("path=" + deep) + RawTar::Record("linkpath=" + std::string(4000, 'l')))
      .Add({"x", '2', "x", 0777});
  TempDir dir;
  auto r = UnpackRaw(tar, dir);
  ASSERT_TRUE(r) << r.error().text;
  EXPECT_EQ(Link(dir.path() + "/" + cert), target);
  for (const std::string& name : {nfd, binary, gnu, std::string("ustar-\xfd")})
    EXPECT_TRUE(S_ISREG(Lstat(dir.path() + "/" + name).st_mode)) << name;
  EXPECT_FALSE(S_ISREG(Lstat(dir.path() + "/caf\xc3\xa9").st_mode));
  EXPECT_EQ(Link(dir.path() + "/" + deep), std::string(4000, 'l'));
}

// libarchive puts the sign of "-34560000.25" on the seconds only (-34559999.75); tar and
// umoci make it -34560000.25. Nanoseconds and times before 1970 are kept exactly.
TEST(UnpackTar, KeepsNanosecondsAndNegativeFractionalTimes) {
  RawTar tar;
  tar.Pax(RawTar::Record("mtime=-34560000.25"))
      .Add({"neg"})
      .Pax(RawTar::Record("mtime=1234567890.123456789"))
      .Add({"nano"})
      .Pax(RawTar::Record("mtime=-86400"))
      .Add({"whole"});
  TempDir dir;
  ASSERT_TRUE(UnpackRaw(tar, dir));
  const struct stat neg = Lstat(dir.path() + "/neg"), nano = Lstat(dir.path() + "/nano");
  EXPECT_EQ(neg.st_mtim.tv_sec, -34560001);
  EXPECT_EQ(neg.st_mtim.tv_nsec, 750000000);
  EXPECT_EQ(nano.st_mtim.tv_sec, 1234567890);
  EXPECT_EQ(nano.st_mtim.tv_nsec, 123456789);
  EXPECT_EQ(Lstat(dir.path() + "/whole").st_mtim.tv_sec, -86400);
}

// POSIX ACLs travel as xattrs (SCHILY.xattr.system.posix_acl_*): kept, as tar and umoci keep them.
TEST(UnpackTar, KeepsPosixAclsAndDropsOtherSystemXattrs) {
  auto entry = [](std::uint16_t tag, std::uint16_t perm, std::uint32_t id) {
    std::string e(8, '\0');
    std::memcpy(&e[0], &tag, 2);
    std::memcpy(&e[2], &perm, 2);
    std::memcpy(&e[4], &id, 4);
    return e;
  };
  const std::uint32_t version = 2, none = 0xffffffff;
  const std::string acl = std::string(reinterpret_cast<const char*>(&version), 4) +
                          entry(0x01, 7, none) + entry(0x02, 5, 1000) + entry(0x04, 5, none) +
                          entry(0x10, 5, none) + entry(0x20, 5, none);
  TarBuilder tar;
  tar.Xattr("journal", "system.posix_acl_access", acl).Xattr("other", "system.nfs4_acl", "x");
  TempDir dir;
  ASSERT_TRUE(Unpack(tar, dir));
  char v[256];
  const ssize_t n =
      getxattr((dir.path() + "/journal").c_str(), "system.posix_acl_access", v, sizeof v);
  EXPECT_EQ(std::string(v, n > 0 ? static_cast<std::size_t>(n) : 0), acl);
  EXPECT_LT(getxattr((dir.path() + "/other").c_str(), "system.nfs4_acl", v, sizeof v), 0);
}

TEST(UnpackTar, FifosTakeOwnerModeAndMtime) {
  RawTar tar;
  tar.Add({"fifo", '6', "", 04666, 42, 43, 2000000});
  TempDir dir;
  auto r = UnpackRaw(tar, dir);
  ASSERT_TRUE(r) << r.error().text;
  const struct stat st = Lstat(dir.path() + "/fifo");
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 04666u);  // no umask, setuid kept
  EXPECT_EQ(st.st_uid, 42u);
  EXPECT_EQ(st.st_gid, 43u);
  EXPECT_EQ(st.st_mtime, 2000000);
}

// A layer with srv/x but no srv entry: srv must show as the layers below show it.
TEST(UnpackTar, ImpliedDirectoriesTakeTheLowerLayersMetadata) {
  TempDir top, bottom;
  // bottom: srv 0750 1000:1001 with an xattr; opaque/ (hidden below by top's opaque dir);
  // gone/ (hidden by top's whiteout).
  for (const char* d : {"/srv", "/opaque", "/opaque/sub", "/gone"})
    ASSERT_EQ(mkdir((bottom.path() + d).c_str(), 0700), 0);
  ASSERT_EQ(chmod((bottom.path() + "/srv").c_str(), 0750), 0);
  ASSERT_EQ(chown((bottom.path() + "/srv").c_str(), 1000, 1001), 0);
  ASSERT_EQ(setxattr((bottom.path() + "/srv").c_str(), "user.k", "v", 1, 0), 0);
  const timespec t[2] = {{123456, 789}, {123456, 789}};
  ASSERT_EQ(utimensat(AT_FDCWD, (bottom.path() + "/srv").c_str(), t, 0), 0);
  ASSERT_EQ(mkdir((top.path() + "/opaque").c_str(), 0700), 0);
  ASSERT_EQ(setxattr((top.path() + "/opaque").c_str(), "user.overlay.opaque", "y", 1, 0), 0);
  ASSERT_EQ(mknod((top.path() + "/gone").c_str(), S_IFCHR, makedev(0, 0)), 0);

  RawTar tar;
  tar.Add({"srv/x"}).Add({"opaque/sub/x"}).Add({"gone/x"});
  TempDir dir;
  auto r = UnpackRaw(tar, dir, {top.fd(), bottom.fd()});
  ASSERT_TRUE(r) << r.error().text;
  const struct stat srv = Lstat(dir.path() + "/srv");
  EXPECT_EQ(srv.st_mode & 07777, 0750u);
  EXPECT_EQ(srv.st_uid, 1000u);
  EXPECT_EQ(srv.st_gid, 1001u);
  EXPECT_EQ(srv.st_mtim.tv_sec, 123456);  // restored after srv/x was written
  EXPECT_EQ(srv.st_mtim.tv_nsec, 789);
  char v[4] = {};
  EXPECT_EQ(getxattr((dir.path() + "/srv").c_str(), "user.k", v, sizeof v), 1);
  // Hidden below: made fresh.
  for (const char* d : {"/opaque/sub", "/gone"}) {
    const struct stat st = Lstat(dir.path() + d);
    EXPECT_EQ(st.st_mode & 07777, 0755u) << d;
    EXPECT_EQ(st.st_uid, 0u) << d;
  }
  // opaque/ itself is in top: it takes top's mode, and not its opaque mark.
  EXPECT_EQ(Lstat(dir.path() + "/opaque").st_mode & 07777, 0700u);
  EXPECT_LT(getxattr((dir.path() + "/opaque").c_str(), "user.overlay.opaque", v, sizeof v), 0);
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
