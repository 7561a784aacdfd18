// init-store --store-size-bytes: a sparse XFS backing file mounted at the store.
#include <sys/statfs.h>

#include "support.h"

namespace grootfs_it {
namespace {

constexpr long kXfsMagic = 0x58465342;

class BackingStoreTest : public GrootfsTest {};

TEST_F(BackingStoreTest, InitStoreMakesMountsAndDeleteStoreRemovesAnXfsBackingStore) {
  const std::string size = std::to_string(1024L * 1024 * 1024);
  auto r = Grootfs(store_, "init-store", "--store-size-bytes", size);
  ASSERT_TRUE(r.ok()) << r.Describe();
  const fs::path backing = store_ + ".backing-store";
  struct stat st{};
  ASSERT_EQ(stat(backing.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1024L * 1024 * 1024);
  EXPECT_LT(st.st_blocks * 512, st.st_size / 4) << "the backing file should be sparse";
  struct statfs fs{};
  ASSERT_EQ(statfs(store_.c_str(), &fs), 0);
  EXPECT_EQ(fs.f_type, kXfsMagic);

  // Running it again is a no-op; the store works; capacity is the filesystem's size.
  ASSERT_TRUE(Grootfs(store_, "init-store", "--store-size-bytes", size).ok());
  CreateOk(OciFixture("alpine"), "x");
  EXPECT_EQ(InRootfs(RootfsOf("x"), "echo ok").out, "ok\n");
  r = Grootfs(store_, "capacity");
  ASSERT_TRUE(r.ok()) << r.Describe();
  const auto capacity = ParseJson(r.out)["capacity"].get<std::int64_t>();
  EXPECT_GT(capacity, 900L * 1024 * 1024);
  EXPECT_LE(capacity, 1024L * 1024 * 1024);
  // Without quota support in this kernel a disk limit is refused, never ignored.
  r = Grootfs(store_, "create", "--disk-limit-size-bytes", "10000000", OciFixture("alpine"), "q");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(ContainsNoCase(r.out, "quota")) << r.Describe();

  ASSERT_TRUE(Grootfs(store_, "delete-store").ok());
  EXPECT_FALSE(Exists(store_));
  EXPECT_FALSE(Exists(backing));
  EXPECT_TRUE(MountsUnder(tmp_.path()).empty());
}

TEST_F(BackingStoreTest, AnUnmountedBackingFileIsMountedAgain) {
  const std::string size = std::to_string(512L * 1024 * 1024);
  ASSERT_TRUE(Grootfs(store_, "init-store", "--store-size-bytes", size).ok());
  CreateOk(OciFixture("busybox-1.25"), "kept", {"--without-mount"});
  ASSERT_EQ(umount2(store_.c_str(), 0), 0);
  EXPECT_FALSE(Exists(ImageDir("kept")));
  auto r = Grootfs(store_, "init-store", "--store-size-bytes", size);
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_TRUE(Exists(ImageDir("kept"))) << "the same filesystem is back";
  ASSERT_TRUE(Grootfs(store_, "delete-store").ok());
  EXPECT_FALSE(Exists(store_ + ".backing-store"));
}

}  // namespace
}  // namespace grootfs_it
