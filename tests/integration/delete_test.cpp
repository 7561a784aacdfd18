// delete's edges: a rootfs something holds busy, an image a crash left half deleted, and a helper
// started early (while delete checks the store) that turns out not to be needed or not to work.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

class DeleteTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    InitStore();
  }

  fs::path Tmp() const { return fs::path(store_) / "tmp"; }

  // Deletes `id` and says who removed its directory, by the debug log's tmp-entry-removed line.
  std::string DeleteAndSayWhoRemoved(const std::string& id) {
    const fs::path log = tmp_.path() / "delete.log";
    fs::remove(log);
    auto r = Grootfs(store_, "--log-level", "debug", "--log-file", log.string(), "delete", id);
    EXPECT_TRUE(r.ok()) << r.Describe();
    for (const std::string& line : Lines(ReadFile(log))) {
      const Json j = ParseJson(line);
      if (j.is_object() && j.value("message", "").ends_with(".tmp-entry-removed"))
        return j["data"].value("by", "");
    }
    return "(no tmp-entry-removed line)";
  }
};

// An image no container wrote to is all its owner's: delete removes it without the helper.
TEST_F(DeleteTest, AFreshImageIsRemovedWithTheOwnersRights) {
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "fresh").is_object());
  EXPECT_EQ(DeleteAndSayWhoRemoved("fresh"), "grootfs");
  ExpectNothingLeftOf("fresh");
  EXPECT_TRUE(DirEntries(Tmp()).empty()) << ::testing::PrintToString(DirEntries(Tmp()));
}

// An open fd inside the rootfs keeps the overlay busy: delete still takes it out of the mount
// table (a lazy unmount) and removes the image; the holder keeps a working fd.
TEST_F(DeleteTest, ARootfsHeldBusyIsDetachedAndTheImageRemoved) {
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "busy").is_object());
  const int held = open(RootfsOf("busy").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(held, 0);
  const int file = openat(held, "etc/os-release", O_RDONLY | O_CLOEXEC);
  auto r = Grootfs(store_, "delete", "busy");
  EXPECT_TRUE(r.ok()) << r.Describe();
  ExpectNothingLeftOf("busy");
  EXPECT_TRUE(DirEntries(Tmp()).empty()) << ::testing::PrintToString(DirEntries(Tmp()));
  char c = 0;
  EXPECT_EQ(file >= 0 ? read(file, &c, 1) : -1, 1) << "the holder's file still reads";
  if (file >= 0) close(file);
  close(held);
  EXPECT_TRUE(ListImages().empty());
}

// A delete killed after its rename into tmp/ (rootfs still mounted there), and an image whose
// removal stopped half way (rootfs unmounted, record and upper dir gone): the next delete
// finishes both.
TEST_F(DeleteTest, AHalfDeletedImageIsFinishedByTheNextDelete) {
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "moved").is_object());
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "half").is_object());
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "other").is_object());
  const fs::path trash = Tmp() / "0123456789abcdef0123456789abcdef";  // a name a command makes
  fs::rename(ImageDir("moved"), trash);
  ASSERT_TRUE(IsOverlayMountedAt(trash / "rootfs"));
  ASSERT_EQ(umount2(RootfsOf("half").c_str(), 0), 0);
  fs::remove(ImageDir("half") / "image.json");
  fs::remove_all(ImageDir("half") / "diff");

  auto r = Grootfs(store_, "delete", "half");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_FALSE(Exists(ImageDir("half")));
  EXPECT_FALSE(Exists(trash)) << "the killed delete's leftover is swept";
  EXPECT_EQ(MountsUnder(store_), std::vector<std::string>{RootfsOf("other").string()});
  EXPECT_EQ(ListImages(), std::set<std::string>{ImageDir("other").string()});
  ASSERT_TRUE(Grootfs(store_, "delete", "other").ok());
  ExpectNothingLeftOf("other");
  EXPECT_TRUE(DirEntries(Tmp()).empty()) << ::testing::PrintToString(DirEntries(Tmp()));
}

// The helper starts before delete knows whether there is anything to delete. Deleting an image
// that is not there needs no helper: one that cannot run changes nothing, and logs no error.
TEST_F(DeleteTest, AMissingImageNeedsNoWorkingHelper) {
  const fs::path not_elf = NotAProgram();
  const fs::path log = tmp_.path() / "delete.log";
  for (const std::string helper : {not_elf.string(), (tmp_.path() / "absent").string()}) {
    auto r = Grootfs(store_, "--helper-bin", helper, "--log-level", "error", "--log-file",
                     log.string(), "delete", "never-created");
    EXPECT_TRUE(r.ok()) << helper << ": " << r.Describe();
    EXPECT_EQ(r.out, "");
  }
  EXPECT_EQ(Exists(log) ? ReadFile(log) : "", "") << "no error logged";
}

// What a container wrote is removed with the image. The frontend removes, by fd and with no
// capability in effect (it is root in root's store), what the owner's ids may; a symlink the
// container left is removed, never followed (the decoy it points at, the test's, outside the
// store, stays whole). Another user's directory is left to the helper, which removes the rest.
TEST_F(DeleteTest, WhatTheContainerWroteGoesAndNothingItPointsAtDoes) {
  const fs::path decoy = tmp_.path() / "decoy";
  fs::create_directories(decoy / "dir");
  WriteFile(decoy / "dir/keep", "the test's");
  for (const bool others : {false, true}) {
    const std::string id = others ? "by-others" : "by-root";
    ASSERT_TRUE(CreateOk(OciFixture("alpine"), id).is_object());
    const fs::path rootfs = RootfsOf(id);
    fs::create_directory_symlink(decoy / "dir", rootfs / "escape");
    fs::create_symlink(decoy / "dir/keep", rootfs / "etc/keep-link");
    fs::create_directories(rootfs / "home/someone/deeper");
    WriteFile(rootfs / "home/someone/deeper/file", "theirs");
    WriteFile(rootfs / "home/caf\xc3\xa9 \xe2\x98\x95", "a UTF-8 name");
    WriteFile(rootfs / "home/latin1-caf\xe9", "a name that is no UTF-8");
    if (others) {
      for (const char* p : {"home/someone", "home/someone/deeper", "home/someone/deeper/file"})
        ASSERT_EQ(lchown((rootfs / p).c_str(), 1000, 1000), 0) << p;
    }
    EXPECT_EQ(DeleteAndSayWhoRemoved(id), others ? "grootfs-helper" : "grootfs") << id;
    ExpectNothingLeftOf(id);
    EXPECT_TRUE(DirEntries(Tmp()).empty()) << ::testing::PrintToString(DirEntries(Tmp()));
    EXPECT_EQ(ReadFile(decoy / "dir/keep"), "the test's");
  }
}

// When the image is there, a helper that cannot run is the error, in one line, and the image
// stays whole (listed, mounted).
TEST_F(DeleteTest, AHelperThatCannotRunFailsTheDeleteAndKeepsTheImage) {
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "kept").is_object());
  const fs::path not_elf = NotAProgram();
  auto r = Grootfs(store_, "--helper-bin", not_elf.string(), "delete", "kept");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  EXPECT_NE(r.out.find("cannot execute " + not_elf.string() + ": Exec format error"),
            std::string::npos)
      << r.Describe();
  EXPECT_EQ(ListImages(), std::set<std::string>{ImageDir("kept").string()});
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("kept")));
}

}  // namespace
}  // namespace grootfs_it
