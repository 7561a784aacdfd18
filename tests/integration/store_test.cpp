// init-store, IDs, and the refusals of `create` that happen before any image is read.
#include <sys/stat.h>

#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

class StoreTest : public GrootfsTest {};

TEST_F(StoreTest, InitStoreMakesAPrivateStoreAndIsIdempotent) {
  auto r = Grootfs(store_, "init-store");
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(r.out, "");

  struct stat st;
  ASSERT_EQ(stat(store_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u) << std::oct << (st.st_mode & 07777);
  EXPECT_EQ(st.st_uid, 0u);

  auto again = Grootfs(store_, "init-store");
  EXPECT_TRUE(again.ok()) << "init-store again must be a no-op: " << again.Describe();
  ASSERT_EQ(stat(store_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);

  auto list = Grootfs(store_, "list");
  ASSERT_TRUE(list.ok()) << list.Describe();
  EXPECT_EQ(Trim(list.out), "Store empty");
}

// GrootFS's default store is /var/lib/grootfs/store, whose parent a fresh machine lacks:
// init-store makes the missing parents, root's and 0755 whatever the umask, and the store works.
TEST_F(StoreTest, InitStoreMakesTheStoresMissingParents) {
  const fs::path store = tmp_.path() / "var/lib/grootfs/store";
  auto r = RunCmd({"sh", "-c", "umask 077 && exec \"$0\" --store \"$1\" init-store", GrootfsBin(),
                   store.string()});
  ASSERT_TRUE(r.ok()) << r.Describe();
  for (const fs::path& dir : {tmp_.path() / "var", tmp_.path() / "var/lib", store.parent_path()}) {
    struct stat st{};
    ASSERT_EQ(lstat(dir.c_str(), &st), 0) << dir;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << dir;
    EXPECT_EQ(st.st_mode & 07777, 0755u) << dir << " " << std::oct << (st.st_mode & 07777);
    EXPECT_EQ(st.st_uid, 0u) << dir;
  }
  auto list = Grootfs(store.string(), "list");
  ASSERT_TRUE(list.ok()) << list.Describe();
  EXPECT_EQ(Trim(list.out), "Store empty");
  EXPECT_TRUE(Grootfs(store.string(), "init-store").ok());
}

// A symlink where a missing parent is to be made is refused in one line, not followed.
TEST_F(StoreTest, InitStoreDoesNotFollowASymlinkOnTheWayToAMissingParent) {
  const fs::path elsewhere = tmp_.path() / "elsewhere";
  fs::create_directories(elsewhere);
  fs::create_symlink(elsewhere, tmp_.path() / "link");
  const fs::path store = tmp_.path() / "link/missing/store";
  auto r = Grootfs(store.string(), "init-store");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  EXPECT_TRUE(ContainsNoCase(r.out, "symlink")) << r.Describe();
  EXPECT_TRUE(DirEntries(elsewhere).empty()) << ::testing::PrintToString(DirEntries(elsewhere));
}

TEST_F(StoreTest, CreateOnAMissingStoreNamesInitStore) {
  auto r = Grootfs(store_, "create", OciFixture("alpine"), "img");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
  EXPECT_TRUE(ContainsNoCase(r.out, "init-store")) << r.out;
  EXPECT_TRUE(MountsUnder(tmp_.path()).empty());
}

TEST_F(StoreTest, CreateOnAnEmptyDirectoryNamesInitStore) {
  fs::create_directories(store_);
  auto r = Grootfs(store_, "create", OciFixture("alpine"), "img");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
  EXPECT_TRUE(ContainsNoCase(r.out, "init-store")) << r.out;
  EXPECT_TRUE(MountsUnder(tmp_.path()).empty());
  EXPECT_FALSE(Exists(ImageDir("img")));
}

TEST_F(StoreTest, ListAndStatsOnAMissingStoreFail) {
  auto list = Grootfs(store_, "list");
  EXPECT_NE(list.status, 0) << list.Describe();
  EXPECT_TRUE(IsOneLine(list.out));
  auto stats = Grootfs(store_, "stats", "img");
  EXPECT_NE(stats.status, 0) << stats.Describe();
  EXPECT_TRUE(IsOneLine(stats.out));
}

TEST_F(StoreTest, BadIdsAreRefused) {
  InitStore();
  const std::vector<std::string> bad = {
      "",
      "-starts-with-dash",
      ".hidden",
      "_underscore-first",
      "has/slash",
      "../escape",
      "..",
      ".",
      "with space",
      "new\nline",
      "colon:inside",
      "unicode-\xc3\xa9",
      std::string(256, 'a'),
  };
  for (const auto& id : bad) {
    auto r = Grootfs(store_, "create", OciFixture("alpine"), id);
    EXPECT_NE(r.status, 0) << "ID [" << id << "] was accepted: " << r.Describe();
    EXPECT_TRUE(IsOneLine(r.out)) << "ID [" << id << "]";
  }
  EXPECT_TRUE(DirEntries(fs::path(store_) / "images").empty())
      << ::testing::PrintToString(DirEntries(fs::path(store_) / "images"));
  EXPECT_FALSE(Exists(fs::path(store_) / "escape"));
  EXPECT_FALSE(Exists(tmp_.path() / "escape"));
  EXPECT_TRUE(MountsUnder(tmp_.path()).empty());
  EXPECT_TRUE(ListImages().empty());
}

TEST_F(StoreTest, A255CharacterIdWorks) {
  InitStore();
  const std::string id = "A" + std::string(250, 'b') + "_.-9";
  ASSERT_EQ(id.size(), 255u);
  Json j = CreateOk(OciFixture("alpine"), id);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["root"]["path"], RootfsOf(id).string());
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf(id)));
  EXPECT_EQ(ListImages(), std::set<std::string>{ImageDir(id).string()});

  auto stats = Grootfs(store_, "stats", id);
  EXPECT_TRUE(stats.ok()) << stats.Describe();

  auto del = Grootfs(store_, "delete", id);
  ASSERT_TRUE(del.ok()) << del.Describe();
  EXPECT_FALSE(Exists(ImageDir(id)));
  EXPECT_TRUE(MountsUnder(store_).empty());
}

TEST_F(StoreTest, AnIdInUseSaysAlreadyExistsAndKeepsTheImage) {
  InitStore();
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "taken").is_object());

  auto r = Grootfs(store_, "create", OciFixture("busybox-1.25"), "taken");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
  EXPECT_TRUE(ContainsNoCase(r.out, "already exists")) << r.out;

  // The existing image is untouched: still listed, mounted, and still alpine.
  EXPECT_EQ(ListImages(), std::set<std::string>{ImageDir("taken").string()});
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("taken")));
  EXPECT_TRUE(Exists(RootfsOf("taken") / "etc/alpine-release"));
}

TEST_F(StoreTest, AMissingTarSaysNoSuchFile) {
  InitStore();
  auto r = Grootfs(store_, "create", (tmp_.path() / "does-not-exist.tar").string(), "img");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
  EXPECT_TRUE(ContainsNoCase(r.out, "no such file")) << r.out;
  ExpectNothingLeftOf("img");
}

TEST_F(StoreTest, AMissingLayoutSaysNoSuchFile) {
  InitStore();
  auto r = Grootfs(store_, "create", OciUri((tmp_.path() / "no-layout-here").string()), "img");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
  EXPECT_TRUE(ContainsNoCase(r.out, "no such file")) << r.out;
  ExpectNothingLeftOf("img");
}

TEST_F(StoreTest, ADirectoryAsTarImageIsRefused) {
  InitStore();
  fs::path dir = tmp_.path() / "a-directory";
  fs::create_directories(dir / "bin");
  auto r = Grootfs(store_, "create", dir.string(), "img");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
  ExpectNothingLeftOf("img");
}

TEST_F(StoreTest, AFifoAsTarImageIsRefusedWithoutBlocking) {
  InitStore();
  fs::path fifo = tmp_.path() / "image.tar";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  // Nobody ever writes to the fifo: opening it for reading would hang until the timeout.
  auto r = GrootfsV(store_, {"create", fifo.string(), "img"}, 30s);
  EXPECT_FALSE(r.timed_out) << "create blocked on a fifo";
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
  ExpectNothingLeftOf("img");
}

TEST_F(StoreTest, WithCleanAndWithoutCleanTogetherIsAnError) {
  InitStore();
  auto r =
      Grootfs(store_, "create", "--with-clean", "--without-clean", OciFixture("alpine"), "img");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
  ExpectNothingLeftOf("img");
}

}  // namespace
}  // namespace grootfs_it
