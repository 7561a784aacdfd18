// Root in a store it does not own: Garden's unprivileged store (BOSH's init-store with
// 0:4294967294:1 and 1:1:4294967293) and a store mapped to an ordinary user. Root runs every
// command there as it does in its own store; files in the rootfs are owned per the mapping;
// the frontend's bookkeeping belongs to the store's owner; nothing is left after delete.
#include <sys/stat.h>

#include "tests/integration/registry_support.h"

namespace grootfs_it {
namespace {

struct Mapping;
void PrintTo(const Mapping& m, std::ostream* os);

struct Mapping {
  const char* name;
  std::uint32_t owner;     // host id of namespace 0
  std::uint32_t sub_base;  // host id of namespace 1
  std::uint32_t sub_size;
};

void PrintTo(const Mapping& m, std::ostream* os) { *os << m.name; }

// Namespace id `ns` on the host.
std::uint32_t HostId(const Mapping& m, std::uint32_t ns) {
  return ns == 0 ? m.owner : m.sub_base + (ns - 1);
}

const Mapping kBosh{"bosh", 4294967294u, 1, 4294967293u};
const Mapping kUser{"user", 4823, 2300000, 65536};

class RootInMappedStoreTest : public GrootfsTest, public ::testing::WithParamInterface<Mapping> {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    const Mapping& m = GetParam();
    std::vector<std::string> args{"init-store"};
    for (const char* flag : {"--uid-mapping", "--gid-mapping"}) {
      args.insert(args.end(),
                  {flag, "0:" + std::to_string(m.owner) + ":1", flag,
                   "1:" + std::to_string(m.sub_base) + ":" + std::to_string(m.sub_size)});
    }
    auto r = GrootfsV(store_, args);
    ASSERT_TRUE(r.ok()) << r.Describe();
  }

  std::uint32_t Owner() const { return GetParam().owner; }

  void ExpectOwned(const fs::path& p, std::uint32_t uid, std::uint32_t gid) {
    struct stat st {};
    ASSERT_EQ(lstat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_uid, uid) << p;
    EXPECT_EQ(st.st_gid, gid) << p;
  }

  void ExpectRuns(const std::string& id) {
    auto sh = InRootfs(RootfsOf(id), "echo ok");
    EXPECT_EQ(sh.out, "ok\n") << sh.Describe();
  }
};

TEST_P(RootInMappedStoreTest, EveryCommandWorksAndOwnershipFollowsTheMapping) {
  const Mapping& m = GetParam();
  ExpectOwned(store_, Owner(), Owner());

  // An OCI layout only root can read: the frontend keeps root's read access to images.
  const fs::path secret = tmp_ / "root-only";
  fs::create_directories(secret);
  ASSERT_EQ(chmod(secret.c_str(), 0700), 0);
  auto cp = RunCmd({"cp", "-a", FixtureImage("alpine"), (secret / "alpine").string()});
  ASSERT_TRUE(cp.ok()) << cp.Describe();
  ASSERT_TRUE(RunCmd({"chmod", "-R", "go-rwx", secret.string()}).ok());

  Json oci = CreateOk(OciUri((secret / "alpine").string()), "oci");
  ASSERT_FALSE(oci.is_null());
  EXPECT_EQ(oci["root"]["path"], RootfsOf("oci").string());
  const std::string tar = MakeRootfsTar();
  ASSERT_FALSE(CreateOk(tar, "tar").is_null());
  FakeRegistry reg(FixtureImage("alpine"));
  ASSERT_FALSE(CreateOk("docker://" + reg.host() + "/alpine:latest", "reg",
                        {"--insecure-registry", reg.host()})
                   .is_null());

  for (const std::string id : {"oci", "tar", "reg"}) {
    SCOPED_TRACE(id);
    EXPECT_TRUE(IsOverlayMountedAt(RootfsOf(id)));
    ExpectRuns(id);
    // A store root does not own: no file in it raises privilege on the host.
    const auto mount = MountAt(RootfsOf(id));
    ASSERT_TRUE(mount.has_value());
    EXPECT_NE(("," + mount->options + ",").find(",nosuid,"), std::string::npos) << mount->options;
    // alpine's files are 0:0, /etc/shadow is 0:42: namespace ids, seen on the host mapped.
    ExpectOwned(RootfsOf(id) / "bin/busybox", HostId(m, 0), HostId(m, 0));
    ExpectOwned(RootfsOf(id) / "etc/shadow", HostId(m, 0), HostId(m, 42));
    // The upper dir and the record belong to the store's owner, not to root.
    ExpectOwned(ImageDir(id) / "diff", Owner(), Owner());
    ExpectOwned(ImageDir(id) / "image.json", Owner(), Owner());
  }
  // A write in the rootfs goes to the image's upper dir, copied up with the file's owner.
  auto w = InRootfs(RootfsOf("oci"), "echo changed >> /etc/shadow && echo new > /root/new");
  ASSERT_TRUE(w.ok()) << w.Describe();
  ExpectOwned(ImageDir("oci") / "diff/etc/shadow", HostId(m, 0), HostId(m, 42));

  for (const fs::path& lock : fs::directory_iterator(fs::path(store_) / "locks"))
    ExpectOwned(lock, Owner(), Owner());
  for (const fs::path& layer : fs::directory_iterator(LayersDir()))
    ExpectOwned(layer, Owner(), Owner());

  EXPECT_EQ(ListImages().size(), 3u);
  auto stats = Grootfs(store_, "stats", "oci");
  ASSERT_TRUE(stats.ok()) << stats.Describe();
  EXPECT_TRUE(ParseJson(stats.out).contains("disk_usage")) << stats.out;
  auto capacity = Grootfs(store_, "capacity");
  EXPECT_TRUE(capacity.ok()) << capacity.Describe();
  auto check = Grootfs(store_, "check");
  EXPECT_TRUE(check.ok()) << check.Describe();
  auto repair = Grootfs(store_, "check", "--repair");
  EXPECT_TRUE(repair.ok()) << repair.Describe();

  for (const std::string id : {"oci", "tar", "reg"}) {
    auto del = Grootfs(store_, "delete", id);
    EXPECT_TRUE(del.ok()) << del.Describe();
    EXPECT_FALSE(Exists(ImageDir(id)));
    EXPECT_FALSE(MountAt(RootfsOf(id)).has_value());
  }
  ExpectNothingLeftOf("oci");
  auto clean = Grootfs(store_, "clean");
  EXPECT_TRUE(clean.ok()) << clean.Describe();
  EXPECT_TRUE(DirEntries(LayersDir()).empty());

  auto gone = Grootfs(store_, "delete-store");
  EXPECT_TRUE(gone.ok()) << gone.Describe();
  EXPECT_FALSE(Exists(store_));
  EXPECT_TRUE(MountsUnder(tmp_.path()).empty());
}

TEST_P(RootInMappedStoreTest, DeleteStoreRemovesMountedImages) {
  ASSERT_FALSE(CreateOk(OciFixture("alpine"), "a").is_null());
  ASSERT_FALSE(CreateOk(OciFixture("busybox-1.25"), "b").is_null());
  auto gone = Grootfs(store_, "delete-store");
  EXPECT_TRUE(gone.ok()) << gone.Describe();
  EXPECT_FALSE(Exists(store_));
  EXPECT_TRUE(MountsUnder(tmp_.path()).empty());
}

// delete removes what is the store owner's with the owner's rights (overlay's mode-0 work dir
// included) and leaves to the helper only what a container's other users made; either way
// nothing is left. Which one removed the image is in the debug log.
TEST_P(RootInMappedStoreTest, DeleteRemovesTheOwnersPartItselfAndTheRestThroughTheHelper) {
  const Mapping& m = GetParam();
  const fs::path log = tmp_ / "delete.log";
  auto removed_by = [&](const std::string& id) {
    fs::remove(log);
    auto del = Grootfs(store_, "--log-level", "debug", "--log-file", log.string(), "delete", id);
    EXPECT_TRUE(del.ok()) << del.Describe();
    EXPECT_FALSE(Exists(ImageDir(id)));
    for (const std::string& line : Lines(ReadFile(log))) {
      const Json j = ParseJson(line);
      if (j.is_object() && j.value("message", "").ends_with(".tmp-entry-removed"))
        return j["data"].value("by", "");
    }
    return std::string("(no tmp-entry-removed line)");
  };
  ASSERT_FALSE(CreateOk(OciFixture("alpine"), "fresh").is_null());
  EXPECT_EQ(removed_by("fresh"), "grootfs");

  ASSERT_FALSE(CreateOk(OciFixture("alpine"), "by-root").is_null());
  WriteFile(RootfsOf("by-root") / "root/notes", "container root's");  // copied up: the owner's
  ASSERT_EQ(lchown((ImageDir("by-root") / "diff/root/notes").c_str(), Owner(), Owner()), 0);
  EXPECT_EQ(removed_by("by-root"), "grootfs");

  ASSERT_FALSE(CreateOk(OciFixture("alpine"), "by-user").is_null());
  fs::create_directories(RootfsOf("by-user") / "home/user1");  // home copied up: the owner's
  WriteFile(RootfsOf("by-user") / "home/user1/file", "namespace user 1's");
  const fs::path home = ImageDir("by-user") / "diff/home/user1";
  for (const fs::path& p : {home, home / "file"})
    ASSERT_EQ(lchown(p.c_str(), HostId(m, 1), HostId(m, 1)), 0) << p;
  EXPECT_EQ(removed_by("by-user"), "grootfs-helper");
  EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty());
}

// Files the store's owner plants where root's commands read: a fifo for a record or for the
// registry scheme memory never blocks a command (a blocked clean would hold the store lock).
TEST_P(RootInMappedStoreTest, FifosTheOwnerPlantsNeverBlockRootsCommands) {
  fs::create_directories(ImageDir("evil"));
  ASSERT_EQ(mkfifo((ImageDir("evil") / "image.json").c_str(), 0600), 0);
  for (const fs::path& p : {ImageDir("evil"), ImageDir("evil") / "image.json"})
    ASSERT_EQ(lchown(p.c_str(), Owner(), Owner()), 0);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"clean"}, {"list"}, {"check"}, {"stats", "evil"}}) {
    std::vector<std::string> argv{GrootfsBin(), "--store", store_};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCmd(argv, 30s);
    EXPECT_FALSE(r.timed_out) << args[0] << " blocked on the fifo";
  }
  EXPECT_TRUE(Grootfs(store_, "delete", "evil").ok());

  FakeRegistry reg(FixtureImage("alpine"));
  const fs::path memory = fs::path(store_) / "cache/plain-http";
  fs::create_directories(memory);
  const fs::path fifo = memory / ("127.0.0.1%3A" + std::to_string(reg.port()));
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const fs::path& p : {memory.parent_path(), memory, fifo})
    ASSERT_EQ(lchown(p.c_str(), Owner(), Owner()), 0);
  auto r = RunCmd({GrootfsBin(), "--store", store_, "create", "--insecure-registry", reg.host(),
                   "docker://" + reg.host() + "/alpine:latest", "reg"},
                  30s);
  EXPECT_TRUE(r.ok()) << r.Describe();
  ExpectRuns("reg");
}

// check --repair fetches a missing layer again from the image its record names. The owner can
// write that record, so the image is read with the owner's rights: a tar only root can read
// is not unpacked into the owner's store.
TEST_P(RootInMappedStoreTest, RepairReadsTheImageARecordNamesWithTheOwnersRights) {
  const fs::path secret = tmp_ / "root-only";
  fs::create_directories(secret / "content");
  WriteFile(secret / "content/SECRET", "root's eyes only\n");
  const std::string tar = (secret / "secret.tar").string();
  ASSERT_TRUE(RunCmd({"tar", "-cf", tar, "-C", (secret / "content").string(), "."}).ok());
  ASSERT_EQ(chmod(tar.c_str(), 0600), 0);
  ASSERT_EQ(chmod(secret.c_str(), 0700), 0);
  // The tar's layer key, as root's own store computes it (it depends on the file alone).
  const std::string root_store = (tmp_ / "root-store").string();
  ASSERT_TRUE(GrootfsV(root_store, {"init-store"}).ok());
  auto made = GrootfsV(root_store, {"create", tar, "probe"});
  ASSERT_TRUE(made.ok()) << made.Describe();
  const std::string key =
      ParseJson(ReadFile(fs::path(root_store) / "images/probe/image.json"))["layers"][0];
  ASSERT_TRUE(GrootfsV(root_store, {"delete-store"}).ok());

  ASSERT_FALSE(CreateOk(MakeRootfsTar(), "x1").is_null());
  Json record = ParseJson(ReadFile(ImageDir("x1") / "image.json"));
  record["image"] = tar;
  record["layers"] = Json::array({key});
  WriteFile(ImageDir("x1") / "image.json", record.dump());
  auto r = Grootfs(store_, "check", "--repair");
  EXPECT_FALSE(r.ok()) << r.Describe();
  EXPECT_NE(r.out.find("problem: image x1 uses missing layer " + key), std::string::npos) << r.out;
  EXPECT_FALSE(Exists(LayersDir() / key)) << "root's tar unpacked into the owner's store";
  EXPECT_TRUE(Grootfs(store_, "delete", "x1").ok());
}

// The owner swaps a store area for a symlink to a directory only root can read: root's
// commands (which keep CAP_DAC_READ_SEARCH to read image sources) do not follow it.
TEST_P(RootInMappedStoreTest, AStoreAreaSwappedForASymlinkShowsRootNothing) {
  ASSERT_FALSE(CreateOk(OciFixture("alpine"), "real").is_null());
  const fs::path decoy = tmp_ / "root-only-decoy";
  fs::create_directories(decoy / "secret-entry");
  WriteFile(decoy / "secret-entry/image.json", R"({"layers":[]})");
  ASSERT_EQ(chmod(decoy.c_str(), 0700), 0);
  const fs::path images = fs::path(store_) / "images";
  fs::rename(images, fs::path(store_) / "images.moved");
  fs::create_directory_symlink(decoy, images);
  ASSERT_EQ(lchown(images.c_str(), Owner(), Owner()), 0);
  for (const char* command : {"list", "clean", "check"}) {
    auto r = Grootfs(store_, command);
    EXPECT_EQ(r.out.find("secret-entry"), std::string::npos) << command << ": " << r.Describe();
  }
  fs::remove(images);
  fs::rename(fs::path(store_) / "images.moved", images);
  EXPECT_TRUE(Grootfs(store_, "delete", "real").ok());
}

INSTANTIATE_TEST_SUITE_P(Stores, RootInMappedStoreTest, ::testing::Values(kBosh, kUser),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace grootfs_it
