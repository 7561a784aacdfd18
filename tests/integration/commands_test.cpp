// list, stats, delete, clean, capacity and delete-store.
#include <sys/statvfs.h>

#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

class CommandsTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    InitStore();
  }

  struct Usage {
    long long total = -1;
    long long exclusive = -1;
  };

  Usage Stats(const std::string& id_or_path) {
    Usage u;
    auto r = Grootfs(store_, "stats", id_or_path);
    EXPECT_TRUE(r.ok()) << r.Describe();
    if (!r.ok()) return u;
    Json j = ParseJson(r.out);
    EXPECT_TRUE(j.is_object() && j.size() == 1 && j.contains("disk_usage")) << r.out;
    if (!j.is_object() || !j.contains("disk_usage")) return u;
    const Json& d = j["disk_usage"];
    EXPECT_EQ(d.size(), 2u) << r.out;
    EXPECT_TRUE(d["total_bytes_used"].is_number_integer()) << r.out;
    EXPECT_TRUE(d["exclusive_bytes_used"].is_number_integer()) << r.out;
    if (d["total_bytes_used"].is_number_integer()) u.total = d["total_bytes_used"].get<long long>();
    if (d["exclusive_bytes_used"].is_number_integer())
      u.exclusive = d["exclusive_bytes_used"].get<long long>();
    return u;
  }
};

TEST_F(CommandsTest, ListPrintsOnePathALineOrStoreEmpty) {
  auto empty = Grootfs(store_, "list");
  ASSERT_TRUE(empty.ok()) << empty.Describe();
  EXPECT_EQ(Trim(empty.out), "Store empty");

  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "one").is_object());
  ASSERT_TRUE(CreateOk(OciFixture("busybox-1.25"), "two", {"--without-mount"}).is_object());
  auto two = Grootfs(store_, "list");
  ASSERT_TRUE(two.ok()) << two.Describe();
  auto lines = Lines(two.out);
  EXPECT_EQ(lines.size(), 2u) << two.out;
  EXPECT_EQ(std::set<std::string>(lines.begin(), lines.end()),
            (std::set<std::string>{ImageDir("one").string(), ImageDir("two").string()}));

  ASSERT_TRUE(Grootfs(store_, "delete", "one").ok());
  ASSERT_TRUE(Grootfs(store_, "delete", "two").ok());
  auto again = Grootfs(store_, "list");
  ASSERT_TRUE(again.ok()) << again.Describe();
  EXPECT_EQ(Trim(again.out), "Store empty");
}

TEST_F(CommandsTest, StatsCountsLayersAndWhatTheContainerWrote) {
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "measured").is_object());
  Usage before = Stats("measured");
  ASSERT_GE(before.total, 0);
  ASSERT_GE(before.exclusive, 0);
  EXPECT_GE(before.total, before.exclusive);
  // total = the image's layers (alpine unpacks to about 7 MB) + exclusive.
  EXPECT_GE(before.total - before.exclusive, 4LL * 1024 * 1024);

  const long long kMiB = 1024 * 1024;
  ASSERT_TRUE(WriteSyncedFile(RootfsOf("measured") / "one-mebibyte", static_cast<size_t>(kMiB)));
  Usage after = Stats("measured");
  EXPECT_GE(after.exclusive - before.exclusive, kMiB)
      << "exclusive " << before.exclusive << " -> " << after.exclusive;
  EXPECT_GE(after.total - before.total, kMiB) << "total " << before.total << " -> " << after.total;
  EXPECT_LT(after.exclusive - before.exclusive, 4 * kMiB);
}

TEST_F(CommandsTest, StatsOfAMissingImageFails) {
  auto r = Grootfs(store_, "stats", "nope");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
}

TEST_F(CommandsTest, DeleteByIdUnmountsAndRemoves) {
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "doomed").is_object());
  ASSERT_TRUE(IsOverlayMountedAt(RootfsOf("doomed")));
  auto r = Grootfs(store_, "delete", "doomed");
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(MountAt(RootfsOf("doomed")).has_value());
  EXPECT_FALSE(Exists(ImageDir("doomed")));
  EXPECT_TRUE(MountsUnder(store_).empty());
  EXPECT_TRUE(ListImages().empty());
}

TEST_F(CommandsTest, DeleteByPathUnmountsAndRemoves) {
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "doomed").is_object());
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "survivor").is_object());
  auto r = Grootfs(store_, "delete", ImageDir("doomed").string());
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_FALSE(MountAt(RootfsOf("doomed")).has_value());
  EXPECT_FALSE(Exists(ImageDir("doomed")));
  EXPECT_EQ(ListImages(), std::set<std::string>{ImageDir("survivor").string()});
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("survivor")));
  auto sh = InRootfs(RootfsOf("survivor"), "echo ok");
  EXPECT_EQ(sh.out, "ok\n") << sh.Describe();
}

TEST_F(CommandsTest, DeleteOfAMissingImageSucceeds) {
  auto r = Grootfs(store_, "delete", "never-created");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "") << "the warning goes to the log, which is silent by default";

  auto by_path = Grootfs(store_, "delete", ImageDir("never-created").string());
  EXPECT_TRUE(by_path.ok()) << by_path.Describe();

  // A store path that does not exist: nothing to do.
  auto no_store = Grootfs((tmp_.path() / "no-store").string(), "delete", "x");
  EXPECT_TRUE(no_store.ok()) << no_store.Describe();
  EXPECT_FALSE(Exists(tmp_.path() / "no-store"));
}

TEST_F(CommandsTest, DeleteOfAPathOutsideTheStoreFails) {
  const fs::path outside = tmp_.path() / "outside";
  fs::create_directories(outside / "rootfs");
  WriteFile(outside / "rootfs/precious", "keep me");

  auto r = Grootfs(store_, "delete", outside.string());
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));

  auto sneaky = Grootfs(store_, "delete", (fs::path(store_) / "images/../../outside").string());
  EXPECT_NE(sneaky.status, 0) << sneaky.Describe();

  EXPECT_EQ(ReadFile(outside / "rootfs/precious"), "keep me");
}

TEST_F(CommandsTest, DeleteKeepsLayersAndCleanRemovesUnusedOnes) {
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "a").is_object());
  const std::string layout = MakeLayersImage(2);
  ASSERT_TRUE(CreateOk(OciUri(layout), "b").is_object());
  ASSERT_EQ(CountSubdirs(LayersDir()), 3u);

  ASSERT_TRUE(Grootfs(store_, "delete", "a").ok());
  EXPECT_EQ(CountSubdirs(LayersDir()), 3u) << "delete must not remove layers";

  // Under a huge threshold clean is a no-op.
  auto noop = Grootfs(store_, "clean", "--threshold-bytes", "1000000000000000");
  ASSERT_TRUE(noop.ok()) << noop.Describe();
  EXPECT_EQ(noop.out, "");
  EXPECT_EQ(CountSubdirs(LayersDir()), 3u) << "clean under the threshold removed layers";

  // clean removes alpine's layer, keeps b's.
  auto clean = Grootfs(store_, "--log-level", "info", "clean");
  ASSERT_TRUE(clean.ok()) << clean.Describe();
  EXPECT_EQ(clean.out, "");
  EXPECT_EQ(CountSubdirs(LayersDir()), 2u);
  // Its own removals are logged as such, not as leftovers of a crash.
  EXPECT_NE(clean.err.find("\"layers_removed\":1"), std::string::npos) << clean.Describe();
  EXPECT_EQ(clean.err.find("sweeping-leftover"), std::string::npos) << clean.Describe();
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("b")));
  EXPECT_EQ(ReadFile(RootfsOf("b") / "data/top"), "2");
  EXPECT_EQ(ReadFile(RootfsOf("b") / "layer1/file"), "1");

  // With every image gone, clean empties STORE/layers.
  ASSERT_TRUE(Grootfs(store_, "delete", "b").ok());
  ASSERT_TRUE(Grootfs(store_, "clean").ok());
  EXPECT_EQ(CountSubdirs(LayersDir()), 0u);

  // And layers come back when needed.
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "a2").is_object());
  EXPECT_EQ(CountSubdirs(LayersDir()), 1u);
  auto sh = InRootfs(RootfsOf("a2"), "echo ok");
  EXPECT_EQ(sh.out, "ok\n") << sh.Describe();
}

TEST_F(CommandsTest, CreateWithCleanRemovesUnusedLayers) {
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "a").is_object());
  ASSERT_TRUE(Grootfs(store_, "delete", "a").ok());
  ASSERT_EQ(CountSubdirs(LayersDir()), 1u);
  const std::string layout = MakeLayersImage(2);
  ASSERT_TRUE(CreateOk(OciUri(layout), "b", {"--with-clean"}).is_object());
  EXPECT_EQ(CountSubdirs(LayersDir()), 2u) << "--with-clean kept alpine's unused layer";
  EXPECT_EQ(ReadFile(RootfsOf("b") / "data/top"), "2");
}

TEST_F(CommandsTest, CleanOnAMissingStoreSucceeds) {
  auto r = Grootfs((tmp_.path() / "no-store").string(), "clean");
  EXPECT_TRUE(r.ok()) << r.Describe();
}

TEST_F(CommandsTest, CapacityIsTheSizeOfTheStoreFilesystem) {
  auto r = Grootfs(store_, "capacity");
  ASSERT_TRUE(r.ok()) << r.Describe();
  Json j = ParseJson(r.out);
  ASSERT_TRUE(j.is_object() && j.size() == 1 && j.contains("capacity")) << r.out;
  ASSERT_TRUE(j["capacity"].is_number_integer()) << r.out;
  const long long capacity = j["capacity"].get<long long>();
  EXPECT_GT(capacity, 0);

  struct statvfs vfs {};
  ASSERT_EQ(statvfs(store_.c_str(), &vfs), 0);
  const double fs_size = static_cast<double>(vfs.f_blocks) * static_cast<double>(vfs.f_frsize);
  EXPECT_GE(static_cast<double>(capacity), 0.9 * fs_size);
  EXPECT_LE(static_cast<double>(capacity), 1.01 * fs_size);
}

TEST_F(CommandsTest, CapacityFollowsTheConfiguredStoreSize) {
  const fs::path config = tmp_.path() / "config.yml";
  WriteFile(config, "store: " + store_ + "\ninit:\n  store_size_bytes: 123456789\n");
  auto r = RunCmd({GrootfsBin(), "--config", config.string(), "capacity"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  Json j = ParseJson(r.out);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["capacity"], 123456789);
}

TEST_F(CommandsTest, DeleteStoreRemovesEverything) {
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "mounted").is_object());
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "unmounted", {"--without-mount"}).is_object());
  auto r = Grootfs(store_, "delete-store");
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(Exists(store_));
  EXPECT_FALSE(Exists(store_ + ".backing-store"));
  EXPECT_TRUE(MountsUnder(tmp_.path()).empty())
      << ::testing::PrintToString(MountsUnder(tmp_.path()));

  auto again = Grootfs(store_, "delete-store");
  EXPECT_TRUE(again.ok()) << "a missing store is success: " << again.Describe();

  // The store can be made again from scratch.
  InitStore();
  EXPECT_TRUE(CreateOk(OciFixture("alpine"), "mounted").is_object());
}

TEST_F(CommandsTest, DeleteStoreRefusesAPathThatIsNotAStore) {
  const fs::path not_a_store = tmp_.path() / "not-a-store";
  fs::create_directories(not_a_store / "stuff");
  WriteFile(not_a_store / "stuff/data", "keep me");
  auto r = Grootfs(not_a_store.string(), "delete-store");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
  EXPECT_EQ(ReadFile(not_a_store / "stuff/data"), "keep me");
}

}  // namespace
}  // namespace grootfs_it
