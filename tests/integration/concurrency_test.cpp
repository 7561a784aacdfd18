// Concurrency: Garden runs many grootfs processes on one store at once.
#include <atomic>
#include <mutex>
#include <thread>

#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

class ConcurrencyTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    InitStore();
  }
};

TEST_F(ConcurrencyTest, TwentyCreatesOfOneNewImageShareEachLayerOnce) {
  constexpr int kLayers = 5;
  constexpr int kCreates = 20;
  const std::string image = OciUri(MakeLayersImage(kLayers));

  std::vector<RunResult> results(kCreates);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCreates; ++i) {
    threads.emplace_back([&, i] {
      results[static_cast<size_t>(i)] =
          Grootfs(store_, "create", image, "racer-" + std::to_string(i));
    });
  }
  for (auto& t : threads) t.join();

  std::set<std::string> expected;
  for (int i = 0; i < kCreates; ++i) {
    const std::string id = "racer-" + std::to_string(i);
    const auto& r = results[static_cast<size_t>(i)];
    EXPECT_TRUE(r.ok()) << id << ": " << r.Describe();
    if (!r.ok()) continue;
    Json j = ParseJson(r.out);
    EXPECT_EQ(j["root"]["path"], RootfsOf(id).string());
    EXPECT_TRUE(IsOverlayMountedAt(RootfsOf(id))) << id;
    EXPECT_EQ(ReadFile(RootfsOf(id) / "data/top"), std::to_string(kLayers)) << id;
    EXPECT_EQ(ReadFile(RootfsOf(id) / "layer1/file"), "1") << id;
    expected.insert(ImageDir(id).string());
  }
  EXPECT_EQ(CountSubdirs(LayersDir()), static_cast<size_t>(kLayers))
      << "every layer must be extracted once and shared";
  EXPECT_EQ(ListImages(), expected);
}

TEST_F(ConcurrencyTest, CreatesDeletesAndCleansTogetherStayConsistent) {
  const std::string generated = OciUri(MakeLayersImage(3));
  const std::vector<std::string> images = {OciFixture("alpine"), generated,
                                           OciFixture("busybox-1.25")};

  std::mutex mu;
  std::vector<std::string> failures;   // descriptions of failed commands or broken invariants
  std::vector<std::string> kept;       // created, never deleted
  std::vector<std::string> deleted;    // created, then deleted
  std::vector<std::string> to_delete;  // created, waiting for the deleter
  std::atomic<bool> stop{false};
  std::atomic<int> creates{0}, deletes{0}, cleans{0}, lists{0};

  auto fail = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    failures.push_back(what);
  };
  auto is_kept_id = [](const std::string& id) { return id.rfind("keep-", 0) == 0; };

  std::vector<std::thread> threads;
  for (int c = 0; c < 3; ++c) {
    threads.emplace_back([&, c] {
      for (int n = 0; !stop; ++n) {
        const bool keep = n % 2 == 0;
        const std::string id =
            std::string(keep ? "keep-" : "drop-") + std::to_string(c) + "-" + std::to_string(n);
        auto r = Grootfs(store_, "create", images[static_cast<size_t>(n + c) % images.size()], id);
        ++creates;
        if (!r.ok()) {
          fail("create " + id + ": " + r.Describe());
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        (keep ? kept : to_delete).push_back(id);
      }
    });
  }
  threads.emplace_back([&] {  // deleter
    while (!stop) {
      std::string id;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!to_delete.empty()) {
          id = to_delete.front();
          to_delete.erase(to_delete.begin());
        }
      }
      if (id.empty()) {
        std::this_thread::sleep_for(20ms);
        continue;
      }
      auto r = Grootfs(store_, "delete", id);
      ++deletes;
      if (!r.ok()) fail("delete " + id + ": " + r.Describe());
      std::lock_guard<std::mutex> lock(mu);
      deleted.push_back(id);
    }
  });
  threads.emplace_back([&] {  // cleaner
    while (!stop) {
      auto r = Grootfs(store_, "clean");
      ++cleans;
      if (!r.ok()) fail("clean: " + r.Describe());
      std::this_thread::sleep_for(50ms);
    }
  });
  threads.emplace_back([&] {  // lister: every listed image is whole and mounted
    while (!stop) {
      auto r = Grootfs(store_, "list");
      ++lists;
      if (!r.ok()) {
        fail("list: " + r.Describe());
        continue;
      }
      for (const auto& line : Lines(r.out)) {
        if (Trim(line) == "Store empty") continue;
        const fs::path p = Trim(line);
        if (p.parent_path() != fs::path(store_) / "images") {
          fail("list printed [" + line + "]");
          continue;
        }
        // Kept images are never deleted, so once listed they must be mounted for good.
        const std::string id = p.filename().string();
        if (is_kept_id(id) && !IsOverlayMountedAt(p / "rootfs"))
          fail("listed but not mounted: " + p.string());
      }
    }
  });

  std::this_thread::sleep_for(6s);
  stop = true;
  for (auto& t : threads) t.join();

  for (const auto& f : failures) ADD_FAILURE() << f;
  EXPECT_GE(creates.load(), 3);
  EXPECT_GE(cleans.load(), 1);
  EXPECT_GE(lists.load(), 1);
  ASSERT_FALSE(kept.empty());

  // Whatever was still queued for deletion is alive too.
  std::set<std::string> alive(kept.begin(), kept.end());
  alive.insert(to_delete.begin(), to_delete.end());

  std::set<std::string> expected_paths;
  for (const auto& id : alive) {
    expected_paths.insert(ImageDir(id).string());
    EXPECT_TRUE(IsOverlayMountedAt(RootfsOf(id))) << id;
    EXPECT_TRUE(Exists(RootfsOf(id) / "bin") || Exists(RootfsOf(id) / "data/top"))
        << id << " has an empty rootfs";
  }
  for (const auto& id : deleted) {
    EXPECT_FALSE(Exists(ImageDir(id))) << id;
    EXPECT_FALSE(MountAt(RootfsOf(id)).has_value()) << id;
  }
  EXPECT_EQ(ListImages(), expected_paths);

  std::set<std::string> mounted;
  for (const auto& m : MountsUnder(store_)) mounted.insert(m);
  std::set<std::string> expected_mounts;
  for (const auto& id : alive) expected_mounts.insert(RootfsOf(id).string());
  EXPECT_EQ(mounted, expected_mounts);

  // A kept alpine image still runs a shell; a final clean keeps every image intact.
  ASSERT_TRUE(Grootfs(store_, "clean").ok());
  for (const auto& id : alive) {
    EXPECT_TRUE(IsOverlayMountedAt(RootfsOf(id))) << id;
    EXPECT_TRUE(Exists(RootfsOf(id) / "bin") || Exists(RootfsOf(id) / "data/top")) << id;
  }
  for (const auto& id : alive) {
    if (!Exists(RootfsOf(id) / "etc/alpine-release")) continue;
    auto sh = InRootfs(RootfsOf(id), "echo ok");
    EXPECT_EQ(sh.out, "ok\n") << id << ": " << sh.Describe();
    break;
  }
}

}  // namespace
}  // namespace grootfs_it
