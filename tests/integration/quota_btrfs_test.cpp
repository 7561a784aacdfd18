// Disk limits on btrfs with quotas (qgroups), on the host: every test makes its own btrfs on a
// sparse loop file under /tmp, mounts it, enables quotas (or not) and puts a store on it. What
// is proven: writes in a container stop at the limit (inclusive and exclusive), images and
// layers bigger than the limit or than the free space are stopped while they unpack and leave
// nothing behind, stats/capacity/clean read the filesystem's accounting, delete removes the
// subvolume, a store without quotas refuses limits, and all of it works for an unprivileged
// user too. The last four are regressions for bugs these tests found (a budget per layer
// instead of per image, file data only, stats after quotas are switched off).
// Generated layouts need python3 (hashlib/zlib: a 1 GiB gzip bomb in under a second).
#include <grp.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

#include <cstdint>
#include <functional>

#include "support.h"
#include "test_users.h"

namespace grootfs_it {
namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * 1024;
// What an image's subvolume holds besides the container's data: its own tree (16 KiB), the
// rootfs/diff/work directories, image.json, overlay's work files, and the data extents'
// metadata. A write stops this much short of the quota at most.
constexpr std::uint64_t kOverhead = 512 * kKiB;

gid_t NoGroup() { return getgrnam("nogroup") ? getgrnam("nogroup")->gr_gid : 65534; }

// Writes OCI image layouts with gzip layers made of zeros (fast even for GiBs: a 1 MiB chunk is
// compressed once after a full flush, and its bytes then stand for every further copy; the
// digests, diff_ids, CRC and sizes are those of the whole stream). Layer specs:
//   zeros:N   one file /fileK of N zero bytes
//   empty:N   N empty files with 200-character names in /dK
constexpr const char* kLayoutScript = R"PY(
import hashlib, json, os, struct, sys, tarfile, zlib
out, specs = sys.argv[1], sys.argv[2:]
os.makedirs(out + "/blobs/sha256")

def blob(data):
    d = hashlib.sha256(data).hexdigest()
    with open(out + "/blobs/sha256/" + d, "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)

class Gzip:
    def __init__(self):
        self.comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        self.sha, self.crc, self.total, self.parts = hashlib.sha256(), 0, 0, []
    def feed(self, data, copies=1):
        self.parts.append((self.comp.compress(data) + self.comp.flush(zlib.Z_FULL_FLUSH)) * copies)
        for _ in range(copies):
            self.sha.update(data)
            self.crc = zlib.crc32(data, self.crc)
        self.total += len(data) * copies
    def finish(self):
        body = b"".join(self.parts) + self.comp.flush(zlib.Z_FINISH)[:-8]
        return body + struct.pack("<II", self.crc, self.total & 0xffffffff), "sha256:" + self.sha.hexdigest()

def header(name, size):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = size, 0o644, 0
    return ti.tobuf(format=tarfile.GNU_FORMAT)

layers, diff_ids = [], []
for k, spec in enumerate(specs):
    kind, n = spec.split(":")
    n = int(n)
    g = Gzip()
    if kind == "zeros":
        g.feed(header("file%d" % k, n))
        full, rest = divmod(n, 1 << 20)
        if full:
            g.feed(bytes(1 << 20), full)
        g.feed(bytes(rest + (-n) % 512 + 1024))
    else:
        g.feed(b"".join(header("d%d/%08d-%s" % (k, i, "x" * 190), 0) for i in range(n)) + bytes(1024))
    data, diff_id = g.finish()
    digest, size = blob(data)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size})
    diff_ids.append(diff_id)
cd, cs = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                          "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode())
md, ms = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                          "layers": layers}).encode())
with open(out + "/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms}]}, f)
with open(out + "/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
)PY";

class QuotaBtrfsTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    // Loop files under /tmp (not /var/tmp, where TempDir lives: slower).
    char tmpl[] = "/tmp/grootfs-qbtrfs-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
    base_ = tmpl;
    ASSERT_EQ(chmod(base_.c_str(), 0755), 0);
  }

  // Even after a failure: everything mounted beneath base_ comes off (deepest first, lazily
  // when busy), then the loop devices this test attached are detached and the files removed.
  void TearDown() override {
    if (base_.empty()) return;
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto mounts = MountsUnder(base_);
      if (mounts.empty()) break;
      std::sort(mounts.begin(), mounts.end(),
                [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
      for (const auto& m : mounts)
        if (umount2(m.c_str(), 0) != 0) umount2(m.c_str(), MNT_DETACH);
    }
    for (const auto& loop : loops_) {
      auto r = RunCmd({"losetup", "-d", loop});
      EXPECT_TRUE(r.ok()) << "losetup -d " << loop << ": " << r.Describe();
    }
    if (!MountsUnder(base_).empty()) {
      ADD_FAILURE() << "still mounted beneath " << base_ << "; leaving it in place";
      return;
    }
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  // A btrfs of `bytes` on a sparse loop file, mounted at base_/NAME, quotas enabled if asked.
  fs::path MakeBtrfs(const std::string& name, std::uint64_t bytes, bool quotas) {
    const fs::path file = base_ / (name + ".img"), mnt = base_ / name;
    { std::ofstream touch(file); }
    EXPECT_EQ(truncate(file.c_str(), static_cast<off_t>(bytes)), 0) << std::strerror(errno);
    auto r = RunCmd({"mkfs.btrfs", "-q", "-f", file.string()});
    EXPECT_TRUE(r.ok()) << r.Describe();
    r = RunCmd({"losetup", "--find", "--show", file.string()});
    EXPECT_TRUE(r.ok()) << r.Describe();
    if (!r.ok()) return mnt;
    loops_.push_back(Trim(r.out));
    fs::create_directories(mnt);
    r = RunCmd({"mount", "-t", "btrfs", loops_.back(), mnt.string()});
    EXPECT_TRUE(r.ok()) << r.Describe();
    if (quotas) {
      r = RunCmd({"btrfs", "quota", "enable", mnt.string()});
      EXPECT_TRUE(r.ok()) << r.Describe();
    }
    return mnt;
  }

  // The store becomes MNT/store, initialised (by root, with `init_args` appended).
  void UseStoreOn(const fs::path& mnt, const std::vector<std::string>& init_args = {}) {
    store_ = (mnt / "store").string();
    std::vector<std::string> args{"init-store"};
    args.insert(args.end(), init_args.begin(), init_args.end());
    auto r = GrootfsV(store_, args);
    ASSERT_TRUE(r.ok()) << r.Describe();
  }

  // A quota-enabled btrfs of 512 MiB with the store on it: what most tests start from.
  void QuotaStore() {
    mnt_ = MakeBtrfs("btrfs", 512 * kMiB, true);
    ASSERT_NO_FATAL_FAILURE(UseStoreOn(mnt_));
  }

  // Writes an OCI layout made of generated layers (see kLayoutScript); returns its oci:// URI.
  std::string MakeLayout(const std::string& name, const std::vector<std::string>& specs) {
    const fs::path script = base_ / "make_layout.py", out = base_ / name;
    if (!Exists(script)) WriteFile(script, kLayoutScript);
    std::vector<std::string> argv{"python3", script.string(), out.string()};
    argv.insert(argv.end(), specs.begin(), specs.end());
    auto r = RunCmd(argv, 120s);
    EXPECT_TRUE(r.ok()) << "python3 is needed to generate layouts: " << r.Describe();
    RunCmd({"chmod", "-R", "a+rX", out.string()});
    return OciUri(out.string());
  }

  // `cat /dev/zero`-style stream of `mib` MiB into /big, written by dd running IN the container
  // (chroot into the rootfs; `runner` goes first, e.g. setpriv + unshare for a user). The test
  // does not sync: stats must see the bytes by itself.
  RunResult WriteInContainer(const fs::path& rootfs, int mib,
                             const std::vector<std::string>& runner = {}) {
    std::string cmd = "dd if=/dev/zero bs=1M count=" + std::to_string(mib) + " 2>/dev/null | ";
    for (const auto& word : runner) cmd += word + " ";
    cmd += "chroot '" + rootfs.string() + "' /bin/dd of=/big bs=1M";
    return RunCmd({"sh", "-c", cmd}, 60s);
  }

  // What the container managed to write to /big.
  std::uint64_t BigFileSize(const std::string& id) {
    struct stat st {};
    EXPECT_EQ(stat((ImageDir(id) / "diff/big").c_str(), &st), 0) << "no /big in " << id;
    return static_cast<std::uint64_t>(st.st_size);
  }

  static ::testing::AssertionResult StoppedByQuota(const RunResult& r) {
    if (r.ok()) return ::testing::AssertionFailure() << "the write was not stopped";
    const bool quota_error =
        ContainsNoCase(r.err, "quota exceeded") || ContainsNoCase(r.err, "no space left on device");
    if (!quota_error)
      return ::testing::AssertionFailure() << "not stopped by EDQUOT/ENOSPC: " << r.Describe();
    return ::testing::AssertionSuccess();
  }

  Json ImageRecord(const std::string& id) {
    return ParseJson(ReadFile(ImageDir(id) / "image.json"));
  }

  // The image's layers' size as the layer records give it (what an inclusive limit counts).
  std::uint64_t LayerBytesOf(const std::string& id) {
    std::uint64_t total = 0;
    const Json record = ImageRecord(id);
    for (const auto& key : record["layers"])
      total += ParseJson(ReadFile(LayersDir() / key.get<std::string>() / "layer.json"))["size"]
                   .get<std::uint64_t>();
    return total;
  }

  // Every layer in the cache, by its record.
  std::uint64_t CachedLayerBytes() {
    std::uint64_t total = 0;
    for (const auto& key : DirEntries(LayersDir())) {
      const auto text = ReadFile(LayersDir() / key / "layer.json");
      if (!text.empty()) total += ParseJson(text)["size"].get<std::uint64_t>();
    }
    return total;
  }

  struct Usage {
    std::uint64_t total = 0, exclusive = 0;
  };
  Usage Stats(const std::string& id,
              const std::function<RunResult(std::vector<std::string>)>& run = nullptr) {
    std::vector<std::string> args{"stats", id};
    auto r = run ? run(args) : GrootfsV(store_, args);
    EXPECT_TRUE(r.ok()) << "stats " << id << ": " << r.Describe();
    Usage u;
    if (!r.ok()) return u;
    const Json j = ParseJson(r.out);
    u.total = j["disk_usage"]["total_bytes_used"].get<std::uint64_t>();
    u.exclusive = j["disk_usage"]["exclusive_bytes_used"].get<std::uint64_t>();
    return u;
  }

  static bool IsSubvolume(const fs::path& dir) {
    struct statfs sfs {};
    struct stat st {};
    return statfs(dir.c_str(), &sfs) == 0 && sfs.f_type == BTRFS_SUPER_MAGIC &&
           stat(dir.c_str(), &st) == 0 && st.st_ino == 256;
  }

  // The paths (relative to the filesystem's top) of every subvolume on the btrfs at `mnt`.
  static std::set<std::string> Subvolumes(const fs::path& mnt) {
    auto r = RunCmd({"btrfs", "subvolume", "list", mnt.string()});
    EXPECT_TRUE(r.ok()) << r.Describe();
    std::set<std::string> paths;
    for (const auto& line : Lines(r.out)) {
      const auto at = line.find(" path ");
      if (at != std::string::npos) paths.insert(line.substr(at + 6));
    }
    return paths;
  }

  // The qgroup's referenced bytes of the subvolume at `dir`, as btrfs-progs reads them.
  static std::uint64_t QgroupReferenced(const fs::path& dir) {
    auto r = RunCmd({"btrfs", "qgroup", "show", "--raw", "--sync", "-f", dir.string()});
    EXPECT_TRUE(r.ok()) << r.Describe();
    for (const auto& line : Lines(r.out)) {
      auto f = Split(Trim(line), ' ');
      f.erase(std::remove(f.begin(), f.end(), ""), f.end());
      if (f.size() >= 2 && StartsWith(f[0], "0/")) return std::stoull(f[1]);
    }
    ADD_FAILURE() << "no qgroup line in: " << r.out;
    return 0;
  }

  // A refused create left nothing: not listed, no image directory, tmp/ empty, no mount in the
  // store, no subvolume but those of `images_left`, and (if asked) an empty layer cache.
  void ExpectNothingLeft(const std::string& id, bool layers_empty,
                         const std::set<std::string>& images_left = {}) {
    EXPECT_FALSE(Exists(ImageDir(id))) << ImageDir(id) << " is left";
    EXPECT_EQ(ListImages().count(ImageDir(id).string()), 0u);
    EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty())
        << "tmp/ holds " << ::testing::PrintToString(DirEntries(fs::path(store_) / "tmp"));
    std::vector<std::string> mounts_expected;
    for (const auto& keep : images_left) mounts_expected.push_back(RootfsOf(keep).string());
    auto mounts = MountsUnder(store_);
    std::sort(mounts.begin(), mounts.end());
    std::sort(mounts_expected.begin(), mounts_expected.end());
    EXPECT_EQ(mounts, mounts_expected) << "mounts beneath the store";
    if (layers_empty)
      EXPECT_TRUE(DirEntries(LayersDir()).empty())
          << "layers/ holds " << ::testing::PrintToString(DirEntries(LayersDir()));
    const fs::path top = fs::path(store_).parent_path();
    struct statfs sfs {};
    if (statfs(top.c_str(), &sfs) == 0 && sfs.f_type == BTRFS_SUPER_MAGIC) {
      std::set<std::string> expected;
      for (const auto& keep : images_left) expected.insert("store/images/" + keep);
      EXPECT_EQ(Subvolumes(top), expected) << "subvolumes left behind";
    }
  }

  void ExpectRefusedNamingTheLimit(const RunResult& r, std::uint64_t limit) {
    EXPECT_NE(r.status, 0) << r.Describe();
    EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
    EXPECT_TRUE(ContainsNoCase(r.out, "limit")) << r.Describe();
    EXPECT_NE(r.out.find(std::to_string(limit)), std::string::npos)
        << "the line should name the limit " << limit << ": " << r.Describe();
  }

  fs::path base_;                   // /tmp/grootfs-qbtrfs-XXXXXX
  fs::path mnt_;                    // the quota-enabled btrfs of QuotaStore()
  std::vector<std::string> loops_;  // loop devices this test attached
};

const std::string kLimitFlag = "--disk-limit-size-bytes";
const std::string kExclusiveFlag = "--exclude-image-from-quota";

// 1. Inclusive (the default): the image's own size counts, so the container gets the limit
// minus the image and a write past it fails with EDQUOT.
TEST_F(QuotaBtrfsTest, InclusiveLimitStopsAContainerAtTheLimitMinusTheImage) {
  ASSERT_NO_FATAL_FAILURE(QuotaStore());
  const std::uint64_t limit = 20'000'000;
  ASSERT_TRUE(
      CreateOk(OciFixture("alpine"), "inc", {kLimitFlag, std::to_string(limit)}).is_object());
  EXPECT_TRUE(IsSubvolume(ImageDir("inc"))) << "the image directory is a subvolume";
  const std::uint64_t image = LayerBytesOf("inc");
  EXPECT_GT(image, 7'000'000u);
  EXPECT_LT(image, 8'000'000u);
  const Json record = ImageRecord("inc");
  EXPECT_EQ(record["quota"], (Json{{"backend", "btrfs"}, {"bytes", limit - image}}));
  EXPECT_EQ(record["disk_limit"]["bytes"], limit);

  auto w = WriteInContainer(RootfsOf("inc"), 40);
  EXPECT_TRUE(StoppedByQuota(w));
  const std::uint64_t written = BigFileSize("inc");
  EXPECT_LE(written, limit - image);
  EXPECT_GE(written, limit - image - kOverhead) << "the container got less than its share";
  // The filesystem agrees: the subvolume references what was written, within the limit.
  const std::uint64_t referenced = QgroupReferenced(ImageDir("inc"));
  EXPECT_GE(referenced, written);
  EXPECT_LE(referenced, limit - image);
}

// 2. Exclusive: the image does not count, the container can write about the whole limit.
TEST_F(QuotaBtrfsTest, ExclusiveLimitLetsTheContainerWriteTheWholeLimit) {
  ASSERT_NO_FATAL_FAILURE(QuotaStore());
  const std::uint64_t limit = 20'000'000;
  ASSERT_TRUE(
      CreateOk(OciFixture("alpine"), "exc", {kLimitFlag, std::to_string(limit), kExclusiveFlag})
          .is_object());
  const Json record = ImageRecord("exc");
  EXPECT_EQ(record["quota"], (Json{{"backend", "btrfs"}, {"bytes", limit}}));
  EXPECT_EQ(record["disk_limit"]["exclude_image"], true);

  auto w = WriteInContainer(RootfsOf("exc"), 40);
  EXPECT_TRUE(StoppedByQuota(w));
  const std::uint64_t written = BigFileSize("exc");
  EXPECT_LE(written, limit);
  EXPECT_GE(written, limit - kOverhead);
  const Usage u = Stats("exc");
  EXPECT_GE(u.exclusive, written);
  EXPECT_LE(u.exclusive, limit);
}

// 3. An image bigger than an inclusive limit is refused, whether its layer is being unpacked
// (stopped on the way) or already cached, and when it is exactly the limit (a quota of 0 would
// mean "no limit"). Just above the limit, it fits.
// A quota too small to hold even the image's own directory (its record, empty dirs, the
// subvolume's tree) is refused up front with one line, not by a failing mkdir deep inside.
TEST_F(QuotaBtrfsTest, AQuotaUnder64KiBIsRefusedWithOneLine) {
  ASSERT_NO_FATAL_FAILURE(QuotaStore());
  auto r = Grootfs(store_, "create", kLimitFlag, "5000", kExclusiveFlag, OciFixture("alpine"),
                   "tiny");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  EXPECT_NE(r.out.find("at least 65536"), std::string::npos) << r.Describe();
  ExpectNothingLeft("tiny", /*layers_empty=*/false);

  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "base").is_object());
  const std::uint64_t image = LayerBytesOf("base");
  r = Grootfs(store_, "create", kLimitFlag, std::to_string(image + 1000), OciFixture("alpine"),
              "thin");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  EXPECT_NE(r.out.find("leaves the container 1000 bytes"), std::string::npos) << r.Describe();
  ExpectNothingLeft("thin", false, {"base"});
}

TEST_F(QuotaBtrfsTest, AnImageBiggerThanAnInclusiveLimitIsRefusedAndLeavesNothing) {
  ASSERT_NO_FATAL_FAILURE(QuotaStore());
  const std::uint64_t small = 5'000'000;
  auto r =
      Grootfs(store_, "create", kLimitFlag, std::to_string(small), OciFixture("alpine"), "big");
  ExpectRefusedNamingTheLimit(r, small);
  ExpectNothingLeft("big", /*layers_empty=*/true);

  // The layer cached by another image: refused all the same.
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "base").is_object());
  const std::uint64_t image = LayerBytesOf("base");
  r = Grootfs(store_, "create", kLimitFlag, std::to_string(small), OciFixture("alpine"), "big");
  ExpectRefusedNamingTheLimit(r, small);
  ExpectNothingLeft("big", false, {"base"});
  r = Grootfs(store_, "create", kLimitFlag, std::to_string(image), OciFixture("alpine"), "exact");
  ExpectRefusedNamingTheLimit(r, image);
  ExpectNothingLeft("exact", false, {"base"});

  // One MiB above the image: created, and the container's share is that MiB.
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "fits", {kLimitFlag, std::to_string(image + kMiB)})
                  .is_object());
  EXPECT_TRUE(StoppedByQuota(WriteInContainer(RootfsOf("fits"), 4)));
  EXPECT_LE(BigFileSize("fits"), kMiB);
  EXPECT_GE(BigFileSize("fits"), kMiB - kOverhead);
}

// 4a. The zip-bomb fixture (one layer of a 10 KiB file) under a 5000-byte limit is stopped
// while it unpacks: nothing cached, nothing half-made.
TEST_F(QuotaBtrfsTest, TheZipBombFixtureIsStoppedByTheLimit) {
  ASSERT_NO_FATAL_FAILURE(QuotaStore());
  auto r = Grootfs(store_, "create", kLimitFlag, "5000", OciFixture("zip-bomb"), "zb");
  ExpectRefusedNamingTheLimit(r, 5000);
  ExpectNothingLeft("zb", /*layers_empty=*/true);
  // Without a limit the same image is fine (it is 10 KiB): the refusal was the limit's.
  ASSERT_TRUE(CreateOk(OciFixture("zip-bomb"), "zb").is_object());
}

// 4b. A real bomb, 1 GiB of zeros in a 1 MiB gzip layer, without a disk limit, on a 160 MiB
// filesystem: stopped at the store's free space, nothing left, and the store still works.
TEST_F(QuotaBtrfsTest, AGzipBombWithoutALimitIsStoppedAtTheFreeSpace) {
  const fs::path mnt = MakeBtrfs("small", 160 * kMiB, true);
  ASSERT_NO_FATAL_FAILURE(UseStoreOn(mnt));
  const std::string bomb = MakeLayout("bomb", {"zeros:" + std::to_string(1024 * kMiB)});
  struct stat st {};
  std::uint64_t compressed = 0;
  for (const auto& name : DirEntries(base_ / "bomb/blobs/sha256"))
    if (stat((base_ / "bomb/blobs/sha256" / name).c_str(), &st) == 0)
      compressed = std::max<std::uint64_t>(compressed, st.st_size);
  EXPECT_LT(compressed, 4 * kMiB) << "the bomb should be small";

  auto r = Grootfs(store_, "create", bomb, "bomb");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  EXPECT_TRUE(ContainsNoCase(r.out, "free space")) << r.Describe();
  ExpectNothingLeft("bomb", /*layers_empty=*/true);

  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "after").is_object());
  EXPECT_EQ(InRootfs(RootfsOf("after"), "echo ok").out, "ok\n");
}

// 5. stats reads the subvolume's qgroup (after a sync it does itself): exclusive grows by what
// the container wrote, total is layers + exclusive, with a limit and without one (on a store
// with quotas every image is a subvolume, accounted even when not limited).
TEST_F(QuotaBtrfsTest, StatsFollowTheBytesWrittenWithAndWithoutALimit) {
  ASSERT_NO_FATAL_FAILURE(QuotaStore());
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "limited", {kLimitFlag, "60000000"}).is_object());
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "free").is_object());
  EXPECT_EQ(ImageRecord("free")["quota"], (Json{{"backend", "btrfs"}, {"bytes", 0}}));
  EXPECT_FALSE(ImageRecord("free").contains("disk_limit"));
  for (const std::string id : {"limited", "free"}) {
    SCOPED_TRACE(id);
    EXPECT_TRUE(IsSubvolume(ImageDir(id)));
    const std::uint64_t layers = LayerBytesOf(id);
    const Usage before = Stats(id);
    EXPECT_EQ(before.total, layers + before.exclusive);
    EXPECT_LT(before.exclusive, kMiB) << "a fresh image has written nothing";

    auto w = WriteInContainer(RootfsOf(id), 10);
    ASSERT_TRUE(w.ok()) << w.Describe();
    ASSERT_EQ(BigFileSize(id), 10 * kMiB);
    const Usage after = Stats(id);
    EXPECT_GE(after.exclusive, before.exclusive + 10 * kMiB - kMiB);
    EXPECT_LE(after.exclusive, before.exclusive + 10 * kMiB + kMiB);
    EXPECT_EQ(after.total, layers + after.exclusive);
    // The number is the filesystem's own accounting of the subvolume.
    EXPECT_EQ(after.exclusive, QgroupReferenced(ImageDir(id)));
  }
}

// 6. capacity: the filesystem's size without config; init.store_size_bytes when set.
TEST_F(QuotaBtrfsTest, CapacityIsTheFilesystemSizeOrTheConfiguredOne) {
  ASSERT_NO_FATAL_FAILURE(QuotaStore());
  struct statvfs vfs {};
  ASSERT_EQ(statvfs(store_.c_str(), &vfs), 0);
  auto r = Grootfs(store_, "capacity");
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(ParseJson(r.out)["capacity"].get<std::uint64_t>(),
            static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize);
  EXPECT_EQ(static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize, 512 * kMiB);

  const fs::path config = base_ / "config.yml";
  WriteFile(config, "init:\n  store_size_bytes: 123456789\n");
  r = RunCmd({GrootfsBin(), "--config", config.string(), "--store", store_, "capacity"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(ParseJson(r.out)["capacity"].get<std::uint64_t>(), 123456789u);
}

// 7. clean --threshold-bytes compares the store's real usage, what containers wrote included:
// above it nothing goes, below it the unused layers do.
TEST_F(QuotaBtrfsTest, CleanThresholdComparesTheRealUsage) {
  ASSERT_NO_FATAL_FAILURE(QuotaStore());
  ASSERT_TRUE(CreateOk(OciFixture("busybox-1.25"), "gone").is_object());
  ASSERT_TRUE(Grootfs(store_, "delete", "gone").ok());
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "kept", {kLimitFlag, "100000000"}).is_object());
  auto w = WriteInContainer(RootfsOf("kept"), 20);
  ASSERT_TRUE(w.ok()) << w.Describe();
  ASSERT_EQ(CountSubdirs(LayersDir()), 2u);
  const std::uint64_t layers = CachedLayerBytes();
  const std::uint64_t usage = layers + Stats("kept").exclusive;  // ≈ layers + 20 MiB

  auto r = Grootfs(store_, "clean", "--threshold-bytes", std::to_string(usage + 16 * kMiB));
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(CountSubdirs(LayersDir()), 2u) << "under the threshold, clean is a no-op";

  // Above the layers alone but under layers + written: only counting the writes cleans.
  r = Grootfs(store_, "clean", "--threshold-bytes", std::to_string(layers + 10 * kMiB));
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(DirEntries(LayersDir()),
            std::set<std::string>{ImageRecord("kept")["layers"][0].get<std::string>()})
      << "the unused busybox layer goes, alpine's (in use) stays";
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("kept")));
  EXPECT_EQ(InRootfs(RootfsOf("kept"), "echo ok").out, "ok\n");
}

// 8. delete removes the image's subvolume; delete-store removes the rest.
TEST_F(QuotaBtrfsTest, DeleteRemovesTheSubvolume) {
  ASSERT_NO_FATAL_FAILURE(QuotaStore());
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "doomed", {kLimitFlag, "20000000"}).is_object());
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "other").is_object());
  EXPECT_EQ(Subvolumes(mnt_), (std::set<std::string>{"store/images/doomed", "store/images/other"}));
  ASSERT_TRUE(WriteInContainer(RootfsOf("doomed"), 1).ok());

  auto r = Grootfs(store_, "delete", "doomed");
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_FALSE(Exists(ImageDir("doomed")));
  EXPECT_FALSE(IsOverlayMountedAt(RootfsOf("doomed")));
  EXPECT_EQ(Subvolumes(mnt_), std::set<std::string>{"store/images/other"});
  EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty());

  r = Grootfs(store_, "delete-store");
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_FALSE(Exists(store_));
  EXPECT_TRUE(Subvolumes(mnt_).empty());
  EXPECT_EQ(MountsUnder(mnt_), std::vector<std::string>{mnt_.string()});
}

// 9. Without quotas (an ordinary filesystem; a btrfs without `quota enable`) a disk limit is
// refused with a line that says `quota`, before anything is made; without a limit all works.
TEST_F(QuotaBtrfsTest, ALimitOnAStoreWithoutQuotasIsRefused) {
  const std::string plain = store_;  // TempDir's store: the ordinary filesystem
  const fs::path mnt = MakeBtrfs("noquota", 256 * kMiB, false);
  for (const std::string& where : {plain, (mnt / "store").string()}) {
    SCOPED_TRACE(where);
    store_ = where;
    ASSERT_TRUE(Grootfs(store_, "init-store").ok());
    for (const auto& flags : std::vector<std::vector<std::string>>{
             {kLimitFlag, "20000000"}, {kLimitFlag, "20000000", kExclusiveFlag}}) {
      std::vector<std::string> args{"create"};
      args.insert(args.end(), flags.begin(), flags.end());
      args.insert(args.end(), {OciFixture("alpine"), "limited"});
      auto r = GrootfsV(store_, args);
      EXPECT_NE(r.status, 0) << r.Describe();
      EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
      EXPECT_TRUE(ContainsNoCase(r.out, "quota")) << r.Describe();
      ExpectNothingLeft("limited", /*layers_empty=*/true);
    }
    ASSERT_TRUE(CreateOk(OciFixture("alpine"), "unlimited").is_object());
    EXPECT_FALSE(ImageRecord("unlimited").contains("quota"));
    const Usage before = Stats("unlimited");
    ASSERT_TRUE(WriteInContainer(RootfsOf("unlimited"), 2).ok());
    const Usage after = Stats("unlimited");
    EXPECT_GE(after.exclusive, before.exclusive + 2 * kMiB);
    EXPECT_LE(after.exclusive, before.exclusive + 3 * kMiB);
    ASSERT_TRUE(Grootfs(store_, "delete", "unlimited").ok());
  }
}

// 10. An unprivileged user's store on the quota-enabled btrfs: a limited create, a write in the
// (rootless) container stopped at the limit, stats and delete, all as that user.
TEST_F(QuotaBtrfsTest, AnUnprivilegedUserGetsTheLimitToo) {
  // A user made for this test (a free uid and subordinate ids), removed after it.
  std::optional<TestUser> made;
  try {
    made.emplace("quota");
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  ASSERT_EQ(made->subuid_start(), made->subgid_start()) << "the test maps one range for both";
  const struct {
    uid_t uid;
    std::string subid_start;
  } kUser{made->uid(), std::to_string(made->subuid_start())};
  // A setuid install every user can reach, and the image where the user can read it.
  const fs::path prefix = base_ / "prefix";
  ASSERT_TRUE(RunCmd({"cp", "-a", std::string(GROOTFS_PREFIX), prefix.string()}).ok());
  const std::string helper = (prefix / "libexec/grootfs/grootfs-helper").string();
  ASSERT_EQ(chown(helper.c_str(), 0, 0), 0);
  ASSERT_EQ(chmod(helper.c_str(), 04755), 0);
  ASSERT_TRUE(RunCmd({"cp", "-a", FixtureImage("alpine"), (base_ / "alpine").string()}).ok());
  RunCmd({"chmod", "-R", "a+rX", (base_ / "alpine").string()});
  const std::string alpine = OciUri((base_ / "alpine").string());

  mnt_ = MakeBtrfs("btrfs", 512 * kMiB, true);
  const std::string range = "1:" + kUser.subid_start + ":65536";
  ASSERT_NO_FATAL_FAILURE(UseStoreOn(
      mnt_, {"--uid-mapping", "0:" + std::to_string(kUser.uid) + ":1", "--uid-mapping", range,
             "--gid-mapping", "0:" + std::to_string(NoGroup()) + ":1", "--gid-mapping", range}));
  const std::vector<std::string> as_user{"setpriv", "--reuid=" + std::to_string(kUser.uid),
                                         "--regid=" + std::to_string(NoGroup()), "--clear-groups",
                                         "--"};
  auto user_grootfs = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = as_user;
    argv.insert(argv.end(), {(prefix / "bin/grootfs").string(), "--store", store_});
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCmd(argv, 120s);
  };

  const std::uint64_t limit = 20'000'000;
  auto r = user_grootfs({"create", kLimitFlag, std::to_string(limit), alpine, "mine"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_TRUE(IsSubvolume(ImageDir("mine")));
  struct stat st {};
  ASSERT_EQ(stat(ImageDir("mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kUser.uid) << "the subvolume belongs to the user";
  const std::uint64_t image = LayerBytesOf("mine");
  EXPECT_EQ(ImageRecord("mine")["quota"], (Json{{"backend", "btrfs"}, {"bytes", limit - image}}));

  // The container, as the user maps itself to root in a user namespace of its own.
  std::vector<std::string> runner = as_user;
  runner.insert(runner.end(), {"unshare", "--user", "--map-root-user"});
  auto w = WriteInContainer(RootfsOf("mine"), 40, runner);
  EXPECT_TRUE(StoppedByQuota(w));
  const std::uint64_t written = BigFileSize("mine");
  EXPECT_LE(written, limit - image);
  EXPECT_GE(written, limit - image - kOverhead);

  const Usage u = Stats("mine", user_grootfs);
  EXPECT_GE(u.exclusive, written);
  EXPECT_LE(u.exclusive, limit - image);
  EXPECT_EQ(u.total, image + u.exclusive);

  r = user_grootfs({"delete", "mine"});
  ASSERT_TRUE(r.ok()) << r.Describe();
  EXPECT_FALSE(Exists(ImageDir("mine")));
  EXPECT_TRUE(Subvolumes(mnt_).empty());
  EXPECT_TRUE(MountsUnder(store_).empty());
}

// ---------------------------------------------------------------------------------------------
// Beyond the single-layer cases: the limit (and the free space) must bound the whole pull, not
// each layer on its own, and what a layer takes on disk, not only its file data.

// Regression: the budget once applied to each layer alone, so an image of many layers, each
// under the limit, was unpacked and cached in full (N x limit) before the inclusive check
// refused it. The pull must stop once the layers together pass the limit, and the cache may
// hold no more than the limit.
TEST_F(QuotaBtrfsTest, LayersThatTogetherPassAnInclusiveLimitAreStoppedDuringThePull) {
  ASSERT_NO_FATAL_FAILURE(QuotaStore());
  const std::string image =
      MakeLayout("four", {"zeros:6000000", "zeros:6000000", "zeros:6000000", "zeros:6000000"});
  const std::uint64_t limit = 10'000'000;
  auto r = Grootfs(store_, "create", kLimitFlag, std::to_string(limit), image, "four");
  ExpectRefusedNamingTheLimit(r, limit);
  ExpectNothingLeft("four", /*layers_empty=*/false);
  EXPECT_LE(CachedLayerBytes(), limit)
      << "an image refused for its size had " << CachedLayerBytes()
      << " bytes of layers unpacked into the cache under a limit of " << limit;
}

// Regression, the same without a limit: two 50 MiB layers unpacking in parallel, each with the
// whole free space (about 80 MB here) as its budget, filled the filesystem (ENOSPC) instead of
// being stopped at the free space with the budget's error.
TEST_F(QuotaBtrfsTest, LayersThatTogetherPassTheFreeSpaceAreStoppedAtTheFreeSpace) {
  const fs::path mnt = MakeBtrfs("small", 160 * kMiB, true);
  ASSERT_NO_FATAL_FAILURE(UseStoreOn(mnt));
  const std::string image = MakeLayout(
      "two", {"zeros:" + std::to_string(50 * kMiB), "zeros:" + std::to_string(50 * kMiB)});
  struct statvfs vfs {};
  ASSERT_EQ(statvfs(store_.c_str(), &vfs), 0);
  const std::uint64_t free_space = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  ASSERT_LT(free_space, 100 * kMiB) << "the two layers must not fit";
  auto r = Grootfs(store_, "create", image, "two");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  EXPECT_TRUE(ContainsNoCase(r.out, "free space")) << r.Describe();
  // One layer may have been unpacked whole and kept; together they never pass the free space.
  ExpectNothingLeft("two", /*layers_empty=*/false);
  EXPECT_LE(CachedLayerBytes(), free_space);
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "after").is_object());
}

// Regression: the budget once counted file data only, so a layer of 20,000 empty files (a
// 0.2 MB download) counted as 0 bytes against a 1 MB inclusive limit yet took some 40 MB of the
// filesystem. An image that takes more disk than the limit is refused.
TEST_F(QuotaBtrfsTest, ALayerOfManyEmptyFilesCountsAgainstTheLimit) {
  ASSERT_NO_FATAL_FAILURE(QuotaStore());
  const std::string image = MakeLayout("empties", {"empty:20000"});
  struct statvfs before {};
  ASSERT_EQ(statvfs(store_.c_str(), &before), 0);
  const std::uint64_t limit = 1'000'000;
  auto r = Grootfs(store_, "create", kLimitFlag, std::to_string(limit), image, "empties");
  RunCmd({"sync", "-f", store_});
  struct statvfs after {};
  ASSERT_EQ(statvfs(store_.c_str(), &after), 0);
  const std::uint64_t taken =
      (static_cast<std::uint64_t>(before.f_bfree) - std::min(before.f_bfree, after.f_bfree)) *
      after.f_frsize;
  EXPECT_NE(r.status, 0) << "created an image that took " << taken
                         << " bytes of the filesystem under a limit of " << limit << ": "
                         << r.Describe();
  if (r.status != 0) ExpectRefusedNamingTheLimit(r, limit);
}

// Regression: once quotas are switched off (`btrfs quota disable`), stats of the images made
// while they were on failed, and clean --threshold counted them as 0. stats falls back to
// walking the upper dir, as on any store without quotas.
TEST_F(QuotaBtrfsTest, StatsStillWorkAfterQuotasAreSwitchedOff) {
  ASSERT_NO_FATAL_FAILURE(QuotaStore());
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "img").is_object());
  ASSERT_TRUE(WriteInContainer(RootfsOf("img"), 3).ok());
  auto r = RunCmd({"btrfs", "quota", "disable", mnt_.string()});
  ASSERT_TRUE(r.ok()) << r.Describe();
  const Usage u = Stats("img");
  EXPECT_GE(u.exclusive, 3 * kMiB);
  EXPECT_LE(u.exclusive, 4 * kMiB);
  r = Grootfs(store_, "delete", "img");
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_FALSE(Exists(ImageDir("img")));
}

}  // namespace
}  // namespace grootfs_it

namespace grootfs_it {
namespace {

// Garden's unprivileged store: made by BOSH's init-store with mappings, used by root. The
// limit holds there as in root's own store, and the rootfs is the mapped root's.
TEST_F(QuotaBtrfsTest, RootInBoshsUnprivilegedStoreGetsTheLimitToo) {
  mnt_ = MakeBtrfs("btrfs", 512 * kMiB, true);
  ASSERT_NO_FATAL_FAILURE(UseStoreOn(
      mnt_, {"--uid-mapping", "0:4294967294:1", "--uid-mapping", "1:1:4294967293",
             "--gid-mapping", "0:4294967294:1", "--gid-mapping", "1:1:4294967293"}));
  const std::uint64_t limit = 20'000'000;
  ASSERT_TRUE(
      CreateOk(OciFixture("alpine"), "bosh", {kLimitFlag, std::to_string(limit), kExclusiveFlag})
          .is_object());
  struct stat st{};
  ASSERT_EQ(stat((RootfsOf("bosh") / "bin/busybox").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4294967294u);
  auto w = WriteInContainer(RootfsOf("bosh"), 40);
  EXPECT_TRUE(StoppedByQuota(w));
  EXPECT_LE(BigFileSize("bosh"), limit);
  EXPECT_TRUE(Grootfs(store_, "delete", "bosh").ok());
  EXPECT_TRUE(MountsUnder(store_).empty());
}

}  // namespace
}  // namespace grootfs_it
