// Tests for frontend/image/blob_spool.h: a blob fetched ahead of its unpack, verified, leaving
// no file behind, and read back whole (and again) by the opener it returns.
#include "frontend/image/blob_spool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

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

class StringOpener : public BlobOpener {
 public:
  explicit StringOpener(std::string data) : data_(std::move(data)) {}
  std::unique_ptr<BlobSource> Open(const LayerSpec&) const override {
    return std::make_unique<StringSource>(data_);
  }

 private:
  std::string data_;
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
  EXPECT_THROW(SpoolBlob(layer, scratch_), grootfs::frontend::Error);
  layer = Layer("short", "longer than served");
  layer.digest = Digest("short");
  EXPECT_THROW(SpoolBlob(layer, scratch_), grootfs::frontend::Error);
  layer = Layer("a much longer blob than declared", "short");
  EXPECT_THROW(SpoolBlob(layer, scratch_), grootfs::frontend::Error);
  layer.verify = false;
  EXPECT_EQ(ReadAll(*SpoolBlob(layer, scratch_)->Open(layer)), "a much longer blob than declared");
  EXPECT_TRUE(std::filesystem::is_empty(scratch_));
}

}  // namespace
}  // namespace grootfs::frontend::image
