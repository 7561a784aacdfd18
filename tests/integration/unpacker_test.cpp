// grootfs-unpack, the tar reader the helper's confined children execute: the setuid helper maps
// no archive library, the unpacker maps none at all, and the helper executes only an unpacker
// that root owns and no one else can write, beside its own file, never one a user put there.
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

std::string UnpackerBin() { return GROOTFS_PREFIX "/libexec/grootfs/grootfs-unpack"; }

TEST(UnpackerBinaries, TheHelperLinksNoArchiveLibraryAndTheUnpackerNoLibraryAtAll) {
  auto helper = RunCmd({"readelf", "-d", HelperBin()});
  ASSERT_TRUE(helper.ok()) << helper.Describe();
  // Static (GROOTFS_STATIC_HELPER, the default): no library needed at all; else libc, libcap.
  EXPECT_TRUE(helper.out.find("(NEEDED)") == std::string::npos ||
              helper.out.find("libcap") != std::string::npos)
      << "readelf output changed? " << helper.out;
  for (const char* lib : {"libarchive", "libxml2", "libicu", "liblzma", "libbz2", "libnettle",
                          "libseccomp"})
    EXPECT_EQ(helper.out.find(lib), std::string::npos) << "the setuid helper loads " << lib;
  auto unpacker = RunCmd({"readelf", "-d", "-l", UnpackerBin()});
  ASSERT_TRUE(unpacker.ok()) << unpacker.Describe();
  EXPECT_EQ(unpacker.out.find("(NEEDED)"), std::string::npos) << unpacker.out;
  EXPECT_EQ(unpacker.out.find("INTERP"), std::string::npos) << unpacker.out;
}

// A copy of the installed binaries in a root-owned directory, whose grootfs-unpack each test
// gives an owner, mode or place the helper must not trust. It stays a working unpacker, so a
// create that succeeds is one that executed it.
class UnpackerTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    prefix_ = tmp_ / "prefix";
    auto r = RunCmd({"cp", "-a", std::string(GROOTFS_PREFIX), prefix_.string()});
    ASSERT_TRUE(r.ok()) << r.Describe();
    unpacker_ = prefix_ / "libexec/grootfs/grootfs-unpack";
  }

  void SetUnpacker(mode_t mode, uid_t owner) {
    ASSERT_EQ(chown(unpacker_.c_str(), owner, 0), 0);
    ASSERT_EQ(chmod(unpacker_.c_str(), mode), 0);
  }

  // A create through the copy fails with one line naming the unpacker, leaves nothing in tmp/,
  // and the untouched install still works in the same store.
  void ExpectRefused() {
    ASSERT_TRUE(RunCmd({(prefix_ / "bin/grootfs").string(), "--store", store_, "init-store"}).ok());
    auto r = RunCmd({(prefix_ / "bin/grootfs").string(), "--store", store_, "create",
                     OciFixture("alpine"), "refused"});
    EXPECT_EQ(r.status, 1) << r.Describe();
    EXPECT_TRUE(IsOneLine(r.out)) << r.out;
    EXPECT_NE(r.out.find("grootfs-unpack"), std::string::npos) << r.out;
    EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty());
    CreateOk(OciFixture("alpine"), "works");
  }

  fs::path prefix_, unpacker_;
};

TEST_F(UnpackerTest, OneOthersCanWriteIsNeverExecuted) {
  SetUnpacker(0757, 0);
  ExpectRefused();
}

TEST_F(UnpackerTest, OneAUserOwnsIsNeverExecuted) {
  SetUnpacker(0755, 65534);
  ExpectRefused();
}

TEST_F(UnpackerTest, ASymlinkInItsPlaceIsNeverFollowed) {
  const fs::path elsewhere = tmp_ / "elsewhere";
  fs::rename(unpacker_, elsewhere);
  fs::create_symlink(elsewhere, unpacker_);
  ExpectRefused();
}

TEST_F(UnpackerTest, OneInADirectoryOthersCanWriteIsNeverExecuted) {
  ASSERT_EQ(chmod(unpacker_.parent_path().c_str(), 0777), 0);
  ExpectRefused();
}

TEST_F(UnpackerTest, AMissingOneFailsOnlyTheUnpack) {
  fs::remove(unpacker_);
  ExpectRefused();
  // Commands that unpack nothing do not need it.
  auto r = RunCmd({(prefix_ / "bin/grootfs").string(), "--store", store_, "delete", "works"});
  EXPECT_TRUE(r.ok()) << r.Describe();
}

}  // namespace
}  // namespace grootfs_it
