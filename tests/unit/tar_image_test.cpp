// Tests for frontend/image/tar_image.h: a plain rootfs tarball as the image.
#include "frontend/image/tar_image.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "frontend/util/error.h"
#include "tests/unit/image_fixtures.h"

namespace grootfs::frontend::image {
namespace {

class TarImageTest : public fixtures::ScratchDirTest {
 protected:
  static std::string ErrorOf(const std::string& path) {
    try {
      LoadTarImage(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(TarImageTest, PlainTarIsOneUnverifiedLayer) {
  const std::string path = Write("rootfs.tar", std::string(1024, '\0'));
  const ImageSpec spec = LoadTarImage(path);
  ASSERT_EQ(spec.layers.size(), 1u);
  const LayerSpec& layer = spec.layers[0];
  EXPECT_EQ(layer.blob_path, path);
  EXPECT_EQ(layer.digest, "");
  EXPECT_EQ(layer.diff_id, "");
  EXPECT_EQ(layer.size, -1);
  EXPECT_EQ(layer.compression, Compression::kNone);
  EXPECT_FALSE(layer.verify);
  EXPECT_EQ(layer.base_directory, "");
  EXPECT_TRUE(layer.urls.empty());
  EXPECT_FALSE(spec.env.has_value());
  EXPECT_TRUE(spec.volumes.empty());
  EXPECT_EQ(spec.manifest_digest, "");
  ASSERT_EQ(layer.cache_key.size(), 4u + 64u);
  EXPECT_EQ(layer.cache_key.substr(0, 4), "tar-");
  EXPECT_EQ(layer.cache_key.find_first_not_of("0123456789abcdef", 4), std::string::npos);
}

TEST_F(TarImageTest, CompressionIsSniffed) {
  EXPECT_EQ(LoadTarImage(Write("a.tgz", "\x1f\x8b\x08rest")).layers[0].compression,
            Compression::kGzip);
  EXPECT_EQ(LoadTarImage(Write("a.tzst", "\x28\xb5\x2f\xfdrest")).layers[0].compression,
            Compression::kZstd);
  EXPECT_EQ(LoadTarImage(Write("short", "\x1f")).layers[0].compression, Compression::kNone);
  EXPECT_EQ(LoadTarImage(Write("zshort", "\x28\xb5\x2f")).layers[0].compression,
            Compression::kNone);
  EXPECT_EQ(LoadTarImage(Write("empty", "")).layers[0].compression, Compression::kNone);
  EXPECT_EQ(LoadTarImage(Write("bz", "BZh9")).layers[0].compression, Compression::kNone);
}

TEST_F(TarImageTest, MissingFileSaysNoSuchFile) {
  EXPECT_NE(ErrorOf(scratch_ + "/nope.tar").find("no such file"), std::string::npos);
  EXPECT_NE(ErrorOf(scratch_ + "/nope/inside.tar").find("no such file"), std::string::npos);
  const std::string file = Write("file", "x");
  EXPECT_NE(ErrorOf(file + "/inside.tar").find("no such file"), std::string::npos);
  ASSERT_EQ(symlink((scratch_ + "/gone").c_str(), (scratch_ + "/dangling").c_str()), 0);
  EXPECT_NE(ErrorOf(scratch_ + "/dangling").find("no such file"), std::string::npos);
}

TEST_F(TarImageTest, RefusesNonRegularFiles) {
  EXPECT_NE(ErrorOf(scratch_).find("is a directory, not a regular file"), std::string::npos)
      << ErrorOf(scratch_);
  EXPECT_NE(ErrorOf("/dev/null").find("is a character device"), std::string::npos);
  // A fifo nobody writes to would block an open for reading: it must be refused from stat.
  const std::string fifo = scratch_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_NE(ErrorOf(fifo).find("is a fifo"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_EQ(symlink(fifo.c_str(), (scratch_ + "/link-to-fifo").c_str()), 0);
  EXPECT_NE(ErrorOf(scratch_ + "/link-to-fifo").find("is a fifo"), std::string::npos);
}

TEST_F(TarImageTest, RefusesRelativePaths) {
  EXPECT_NE(ErrorOf("rootfs.tar").find("absolute"), std::string::npos);
  EXPECT_NE(ErrorOf("").find("absolute"), std::string::npos);
}

TEST_F(TarImageTest, SymlinkToFileIsFollowed) {
  const std::string target = Write("real.tar", "\x1f\x8b...");
  const std::string link = scratch_ + "/link.tar";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  const ImageSpec spec = LoadTarImage(link);
  EXPECT_EQ(spec.layers[0].blob_path, link);
  EXPECT_EQ(spec.layers[0].compression, Compression::kGzip);
}

TEST_F(TarImageTest, UnreadableFileIsRefused) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads anything";
  const std::string path = Write("secret.tar", "x");
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  EXPECT_NE(ErrorOf(path).find("cannot open"), std::string::npos);
}

TEST_F(TarImageTest, CacheKeyFollowsPathAndFileIdentity) {
  const std::string a = Write("a.tar", "content");
  const std::string b = Write("b.tar", "content");
  const std::string key_a = LoadTarImage(a).layers[0].cache_key;
  EXPECT_EQ(LoadTarImage(a).layers[0].cache_key, key_a);  // stable
  EXPECT_NE(LoadTarImage(b).layers[0].cache_key, key_a);  // other file

  // Same size, other mtime: another key.
  struct timeval times[2] = {{1000, 0}, {1000, 0}};
  ASSERT_EQ(utimes(a.c_str(), times), 0);
  const std::string key_old = LoadTarImage(a).layers[0].cache_key;
  EXPECT_NE(key_old, key_a);
  // Rewritten in place with other content and size: another key again.
  std::ofstream(a, std::ios::binary | std::ios::trunc) << "other content";
  ASSERT_EQ(utimes(a.c_str(), times), 0);
  EXPECT_NE(LoadTarImage(a).layers[0].cache_key, key_old);
}

}  // namespace
}  // namespace grootfs::frontend::image
