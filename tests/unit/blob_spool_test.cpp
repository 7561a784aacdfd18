// Tests for frontend/image/blob_spool.h: a blob fetched ahead of its unpack, verified, leaving
// no file behind, read back whole (and again) by the opener it returns, followed while it
// downloads, one download at a time, and bypassed when its reader comes first.
#include "frontend/image/blob_spool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "frontend/util/error.h"
#include "tests/unit/image_fixtures.h"

namespace grootfs::frontend::image {
namespace {

using fixtures::Digest;

// Serves a string in pieces of at most 1000 bytes.
class StringSource : public BlobSource {
 public:
  explicit StringSource(std::string data) : data_(std::move(data)) {}
  std::size_t Read(unsigned char* buffer, std::size_t size) override {
    const std::size_t n = std::min({size, data_.size() - pos_, std::size_t{1000}});
    std::copy_n(data_.data() + pos_, n, buffer);
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  std::size_t pos_ = 0;
};

// A gate a test opens: a source stops at its byte `at` until then.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void Open() {
    {
      std::lock_guard lock(mu);
      open = true;
    }
    cv.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return open; });
  }
};

class GatedSource : public StringSource {
 public:
  GatedSource(std::string data, std::size_t at, Gate* gate)
      : StringSource(std::move(data)), at_(at), gate_(gate) {}
  std::size_t Read(unsigned char* buffer, std::size_t size) override {
    if (gate_ != nullptr) {
      if (served_ >= at_) gate_->Wait();
      if (served_ < at_) size = std::min(size, at_ - served_);
    }
    const std::size_t n = StringSource::Read(buffer, size);
    served_ += n;
    return n;
  }

 private:
  std::size_t at_;
  Gate* gate_;
  std::size_t served_ = 0;
};

class StringOpener : public BlobOpener {
 public:
  explicit StringOpener(std::string data, std::size_t gate_at = 0, Gate* gate = nullptr)
      : data_(std::move(data)), gate_at_(gate_at), gate_(gate) {}
  std::unique_ptr<BlobSource> Open(const LayerSpec&) const override {
    ++opens;
    return std::make_unique<GatedSource>(data_, gate_at_, gate_);
  }
  mutable std::atomic<int> opens{0};

 private:
  std::string data_;
  std::size_t gate_at_;
  Gate* gate_;
};

std::string ReadAll(BlobSource& source) {
  std::string out;
  unsigned char buffer[4096];
  for (std::size_t n; (n = source.Read(buffer, sizeof buffer)) > 0;)
    out.append(reinterpret_cast<const char*>(buffer), n);
  return out;
}

class BlobSpoolTest : public fixtures::ScratchDirTest {
 protected:
  LayerSpec Layer(const std::string& served, const std::string& declared) {
    LayerSpec layer;
    layer.digest = Digest(declared);
    layer.size = static_cast<std::int64_t>(declared.size());
    layer.remote = std::make_shared<StringOpener>(served);
    return layer;
  }
};

TEST_F(BlobSpoolTest, AVerifiedBlobIsReadBackWholeAndLeavesNoFile) {
  std::string blob(300000, '\0');
  for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>(i * 7919 % 251);
  const LayerSpec layer = Layer(blob, blob);
  const auto opener = SpoolBlob(layer, scratch_);
  EXPECT_TRUE(std::filesystem::is_empty(scratch_)) << "the spool file has no name";
  EXPECT_EQ(ReadAll(*opener->Open(layer)), blob);
  EXPECT_EQ(ReadAll(*opener->Open(layer)), blob) << "every open reads from the start";
}

TEST_F(BlobSpoolTest, AWrongDigestOrSizeIsRefusedUnlessUnverified) {
  LayerSpec layer = Layer("served bytes", "declared bytes");
  EXPECT_TRUE(SpoolBlob(layer, scratch_)->Open(layer)->VerifiesDigest());
  EXPECT_THROW(ReadAll(*SpoolBlob(layer, scratch_)->Open(layer)), grootfs::frontend::Error);
  layer = Layer("short", "longer than served");
  layer.digest = Digest("short");
  EXPECT_THROW(ReadAll(*SpoolBlob(layer, scratch_)->Open(layer)), grootfs::frontend::Error);
  layer = Layer("a much longer blob than declared", "short");
  EXPECT_THROW(ReadAll(*SpoolBlob(layer, scratch_)->Open(layer)), grootfs::frontend::Error);
  layer.verify = false;
  EXPECT_FALSE(SpoolBlob(layer, scratch_)->Open(layer)->VerifiesDigest());
  EXPECT_EQ(ReadAll(*SpoolBlob(layer, scratch_)->Open(layer)), "a much longer blob than declared");
  EXPECT_TRUE(std::filesystem::is_empty(scratch_));
}

TEST_F(BlobSpoolTest, AReaderFollowsTheDownloadAndFailsAtTheEndWhenTheDigestIsWrong) {
  const std::string blob(200000, 'x');
  for (const bool corrupt : {false, true}) {
    Gate gate;
    LayerSpec layer = Layer(blob, corrupt ? blob + "!" : blob);
    if (corrupt) layer.size = static_cast<std::int64_t>(blob.size());
    layer.remote = std::make_shared<StringOpener>(blob, 100000, &gate);
    const auto opener = SpoolBlob(layer, scratch_);
    const auto source = opener->Open(layer);
    unsigned char buffer[100000];
    std::size_t got = 0;
    while (got < sizeof buffer) got += source->Read(buffer + got, sizeof buffer - got);
    EXPECT_EQ(got, 100000u) << "the first half is read before the download ends";
    gate.Open();
    std::string rest;
    if (corrupt) {
      EXPECT_THROW(rest = ReadAll(*source), grootfs::frontend::Error);
    } else {
      EXPECT_EQ(ReadAll(*source).size(), 100000u);
    }
  }
}

TEST_F(BlobSpoolTest, OneDownloadAtATimeAndAReaderThatComesFirstUsesTheNetwork) {
  const std::string a(50000, 'a'), b(50000, 'b'), c(50000, 'c');
  Gate gate;
  LayerSpec la = Layer(a, a), lb = Layer(b, b), lc = Layer(c, c);
  auto net_a = std::make_shared<StringOpener>(a, 1000, &gate);
  auto net_b = std::make_shared<StringOpener>(b);
  auto net_c = std::make_shared<StringOpener>(c);
  la.remote = net_a, lb.remote = net_b, lc.remote = net_c;
  const auto spool_a = SpoolBlob(la, scratch_, 1);
  const auto spool_b = SpoolBlob(lb, scratch_, 1);
  const auto spool_c = SpoolBlob(lc, scratch_, 1);
  for (int i = 0; i < 1000 && net_a->opens == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(net_a->opens, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(net_b->opens, 0) << "b waits for a's download";
  EXPECT_EQ(ReadAll(*spool_b->Open(lb)), b) << "b's reader came first: from the network";
  EXPECT_EQ(net_b->opens, 1);
  gate.Open();
  EXPECT_EQ(ReadAll(*spool_a->Open(la)), a);
  EXPECT_EQ(ReadAll(*spool_c->Open(lc)), c) << "c's download started when a's ended";
  EXPECT_EQ(net_b->opens, 1) << "b's download never started";
  EXPECT_EQ(net_c->opens, 1);
}

}  // namespace
}  // namespace grootfs::frontend::image
