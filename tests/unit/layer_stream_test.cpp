// Tests for frontend/image/layer_stream.h: decompressing and verifying a layer while streaming.
#include "frontend/image/layer_stream.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "frontend/image/digest.h"
#include "frontend/image/oci_layout.h"
#include "tests/unit/image_fixtures.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::image {
namespace {

using fixtures::Compress;
using fixtures::Digest;
using fixtures::MakeTar;

// Random, incompressible bytes.
std::string Noise(std::size_t size, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(size, '\0');
  for (char& c : s) c = static_cast<char>(gen() & 0xff);
  return s;
}

class LayerStreamTest : public fixtures::ScratchDirTest {
 protected:
  // A verified layer whose blob is `blob` and whose uncompressed tar is `tar`.
  LayerSpec Layer(const std::string& blob, const std::string& tar, Compression compression) {
    LayerSpec layer;
    layer.blob_path = Write("blob" + std::to_string(counter_++), blob);
    layer.digest = Digest(blob);
    layer.size = static_cast<std::int64_t>(blob.size());
    layer.diff_id = Digest(tar);
    layer.compression = compression;
    layer.verify = true;
    return layer;
  }

  // Streams into a file; returns its content (and stats through *stats).
  std::string Stream(const LayerSpec& layer, StreamStats* stats = nullptr,
                     StreamBudget* budget = nullptr) {
    const std::string out_path = scratch_ + "/out" + std::to_string(counter_++);
    const int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    try {
      const StreamStats s = StreamLayer(layer, fd, budget);
      if (stats) *stats = s;
    } catch (...) {
      close(fd);
      throw;
    }
    close(fd);
    std::ifstream in(out_path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string ErrorOf(const LayerSpec& layer) {
    try {
      Stream(layer);
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      return e.what();
    }
    return "";
  }

  int counter_ = 0;
};

TEST_F(LayerStreamTest, PlainLayer) {
  const std::string tar = MakeTar({{"etc/hostname", "box\n"}, {"bin/sh", Noise(5000, 1)}});
  StreamStats stats;
  EXPECT_EQ(Stream(Layer(tar, tar, Compression::kNone), &stats), tar);
  EXPECT_EQ(stats.blob_bytes, tar.size());
  EXPECT_EQ(stats.tar_bytes, tar.size());
}

TEST_F(LayerStreamTest, GzipLayer) {
  const std::string tar = MakeTar({{"a", std::string(100000, 'a')}, {"b", Noise(3000, 2)}});
  const std::string gz = Compress(tar, Compression::kGzip);
  ASSERT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
  StreamStats stats;
  EXPECT_EQ(Stream(Layer(gz, tar, Compression::kGzip), &stats), tar);
  EXPECT_EQ(stats.blob_bytes, gz.size());
  EXPECT_EQ(stats.tar_bytes, tar.size());
}

TEST_F(LayerStreamTest, ZstdLayer) {
  const std::string tar = MakeTar({{"z", std::string(200000, 'z')}, {"n", Noise(3000, 3)}});
  const std::string zst = Compress(tar, Compression::kZstd);
  ASSERT_EQ(zst.substr(0, 4), std::string("\x28\xb5\x2f\xfd"));
  StreamStats stats;
  EXPECT_EQ(Stream(Layer(zst, tar, Compression::kZstd), &stats), tar);
  EXPECT_EQ(stats.blob_bytes, zst.size());
  EXPECT_EQ(stats.tar_bytes, tar.size());
}

TEST_F(LayerStreamTest, ZstdFromTheCommandLineTool) {
  if (std::system("command -v zstd >/dev/null 2>&1") != 0) GTEST_SKIP() << "no zstd command";
  const std::string tar = MakeTar({{"cli", Noise(70000, 4)}});
  Write("cli.tar", tar);
  const std::string cmd = "zstd -q -f -19 '" + scratch_ + "/cli.tar' -o '" + scratch_ + "/cli.tar.zst'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(scratch_ + "/cli.tar.zst", std::ios::binary);
  const std::string zst(std::istreambuf_iterator<char>(in), {});
  EXPECT_EQ(Stream(Layer(zst, tar, Compression::kZstd)), tar);
}

TEST_F(LayerStreamTest, ManyChunksBothWays) {
  // Several MiB, so the reads, decompression and writes all take several rounds.
  std::string big = Noise(3 * 1024 * 1024 + 123, 5) + std::string(2 * 1024 * 1024, 'x');
  const std::string tar = MakeTar({{"big", big}});
  const std::string gz = Compress(tar, Compression::kGzip);
  EXPECT_EQ(Stream(Layer(tar, tar, Compression::kNone)), tar);
  EXPECT_EQ(Stream(Layer(gz, tar, Compression::kGzip)), tar);
}

TEST_F(LayerStreamTest, StreamsIntoAPipeWithASlowReader) {
  const std::string tar = MakeTar({{"big", Noise(2 * 1024 * 1024, 6)}});
  const std::string gz = Compress(tar, Compression::kGzip);
  const LayerSpec layer = Layer(gz, tar, Compression::kGzip);
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  std::string received;
  std::thread reader([&] {
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) received.append(buf, static_cast<size_t>(n));
    close(fds[0]);
  });
  StreamStats stats;
  EXPECT_NO_THROW(stats = StreamLayer(layer, fds[1]));
  close(fds[1]);
  reader.join();
  EXPECT_EQ(received, tar);
  EXPECT_EQ(stats.tar_bytes, tar.size());
}

TEST_F(LayerStreamTest, ReaderGoingAwayIsAnErrorNotASignal) {
  const std::string tar = MakeTar({{"big", Noise(4 * 1024 * 1024, 7)}});
  const LayerSpec layer = Layer(tar, tar, Compression::kNone);
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  close(fds[0]);
  // SIGPIPE is not ignored here: were it delivered, the test binary would die.
  struct sigaction dfl {};
  struct sigaction old {};
  dfl.sa_handler = SIG_DFL;
  ASSERT_EQ(sigaction(SIGPIPE, &dfl, &old), 0);
  std::string message;
  try {
    StreamLayer(layer, fds[1]);
  } catch (const Error& e) {
    message = e.what();
  }
  close(fds[1]);
  sigaction(SIGPIPE, &old, nullptr);
  EXPECT_NE(message.find("broken pipe"), std::string::npos) << message;
  sigset_t pending;
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);
}

TEST_F(LayerStreamTest, WrongDigestIsRefused) {
  const std::string tar = MakeTar({{"f", "content"}});
  const std::string gz = Compress(tar, Compression::kGzip);
  LayerSpec layer = Layer(gz, tar, Compression::kGzip);
  layer.digest = Digest("something else");
  EXPECT_NE(ErrorOf(layer).find("layer " + layer.digest +
                                " is corrupted: its content does not "
                                "match its digest"),
            std::string::npos);
  LayerSpec plain = Layer(tar, tar, Compression::kNone);
  plain.digest = Digest("something else");
  EXPECT_NE(ErrorOf(plain).find("does not match its digest"), std::string::npos);
}

TEST_F(LayerStreamTest, CorruptedBlobIsRefused) {
  const std::string tar = MakeTar({{"f", Noise(50000, 8)}});
  std::string gz = Compress(tar, Compression::kGzip);
  LayerSpec layer = Layer(gz, tar, Compression::kGzip);
  gz[gz.size() / 2] = static_cast<char>(gz[gz.size() / 2] ^ 0x55);  // same size, bad bytes
  std::ofstream(layer.blob_path, std::ios::binary | std::ios::trunc) << gz;
  EXPECT_NE(ErrorOf(layer).find("does not match its digest"), std::string::npos) << ErrorOf(layer);
}

TEST_F(LayerStreamTest, TruncatedStreamIsReported) {
  const std::string tar = MakeTar({{"f", Noise(50000, 8)}});
  const std::string gz = Compress(tar, Compression::kGzip);
  const std::string zst = Compress(tar, Compression::kZstd);
  LayerSpec layer = Layer(gz.substr(0, gz.size() / 2), tar, Compression::kGzip);
  layer.verify = false;  // even unverified
  EXPECT_NE(ErrorOf(layer).find("is not a valid gzip stream"), std::string::npos) << ErrorOf(layer);
  layer = Layer(zst.substr(0, zst.size() / 2), tar, Compression::kZstd);
  layer.verify = false;
  EXPECT_NE(ErrorOf(layer).find("is not a valid zstd stream"), std::string::npos) << ErrorOf(layer);
  // Verified, the digest says more than the decompressor.
  layer = Layer(gz, tar, Compression::kGzip);
  std::ofstream(layer.blob_path, std::ios::binary | std::ios::trunc) << gz.substr(0, 100);
  layer.size = 100;
  EXPECT_NE(ErrorOf(layer).find("does not match its digest"), std::string::npos) << ErrorOf(layer);
}

TEST_F(LayerStreamTest, WrongDiffIdIsRefused) {
  const std::string tar = MakeTar({{"f", "content"}});
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    const std::string blob = c == Compression::kNone ? tar : Compress(tar, c);
    LayerSpec layer = Layer(blob, tar, c);
    layer.diff_id = Digest("not the tar");
    EXPECT_NE(ErrorOf(layer).find("does not match its diff_id"), std::string::npos)
        << ErrorOf(layer);
  }
}

TEST_F(LayerStreamTest, WrongSizeIsRefusedBothWays) {
  const std::string tar = MakeTar({{"f", "content"}});
  const std::string gz = Compress(tar, Compression::kGzip);
  LayerSpec layer = Layer(gz, tar, Compression::kGzip);
  layer.size -= 1;
  EXPECT_NE(ErrorOf(layer).find("does not match its size"), std::string::npos);
  layer.size += 2;
  EXPECT_NE(ErrorOf(layer).find("does not match its size"), std::string::npos);
  layer.size = 10;
  EXPECT_NE(ErrorOf(layer).find("does not match its size (declared 10 bytes"), std::string::npos);
}

TEST_F(LayerStreamTest, UnverifiedLayerSkipsAllChecks) {
  const std::string tar = MakeTar({{"f", "content"}});
  const std::string gz = Compress(tar, Compression::kGzip);
  LayerSpec layer = Layer(gz, tar, Compression::kGzip);
  layer.verify = false;
  layer.digest = "sha256:" + std::string(64, '0');  // a made-up digest, as Garden writes
  layer.diff_id = "";
  layer.size = 1;
  EXPECT_EQ(Stream(layer), tar);
}

TEST_F(LayerStreamTest, VerifiedLayerNeedsDigests) {
  const std::string tar = MakeTar({{"f", "content"}});
  LayerSpec layer = Layer(tar, tar, Compression::kNone);
  layer.diff_id = "";
  EXPECT_NE(ErrorOf(layer).find("cannot be verified"), std::string::npos);
}

TEST_F(LayerStreamTest, TrailingBytesAfterTheCompressedStreamAreHashed) {
  const std::string tar = MakeTar({{"f", std::string(10000, 'q')}});
  const std::string blob = Compress(tar, Compression::kGzip) + std::string(1000, '\0');
  StreamStats stats;
  EXPECT_EQ(Stream(Layer(blob, tar, Compression::kGzip), &stats), tar);
  EXPECT_EQ(stats.blob_bytes, blob.size());
}

TEST_F(LayerStreamTest, ConcatenatedGzipMembers) {
  const std::string tar = MakeTar({{"f", std::string(10000, 'q')}});
  const std::string half1 = tar.substr(0, 4096);
  const std::string half2 = tar.substr(4096);
  const std::string blob =
      Compress(half1, Compression::kGzip) + Compress(half2, Compression::kGzip);
  EXPECT_EQ(Stream(Layer(blob, tar, Compression::kGzip)), tar);
}

TEST_F(LayerStreamTest, CompressionIsRecognisedWhateverTheMediaTypeSays) {
  const std::string tar = MakeTar({{"f", "content"}});
  const std::string gz = Compress(tar, Compression::kGzip);
  EXPECT_EQ(Stream(Layer(gz, tar, Compression::kNone)), tar);   // labelled plain, is gzip
  EXPECT_EQ(Stream(Layer(tar, tar, Compression::kGzip)), tar);  // labelled gzip, is plain
}

TEST_F(LayerStreamTest, EmptyBlobsAndEmptyStreams) {
  EXPECT_EQ(Stream(Layer("", "", Compression::kNone)), "");
  const std::string gz_of_nothing = Compress("", Compression::kGzip);
  StreamStats stats;
  EXPECT_EQ(Stream(Layer(gz_of_nothing, "", Compression::kGzip), &stats), "");
  EXPECT_EQ(stats.blob_bytes, gz_of_nothing.size());
  EXPECT_EQ(stats.tar_bytes, 0u);
}

TEST_F(LayerStreamTest, NoLocalBlob) {
  LayerSpec layer;
  layer.digest = Digest("remote");
  layer.urls = {"https://example.com/blob"};
  EXPECT_NE(ErrorOf(layer).find("layer " + layer.digest + " has no local blob"), std::string::npos);
}

TEST_F(LayerStreamTest, MissingOrIrregularBlob) {
  const std::string tar = MakeTar({{"f", "content"}});
  LayerSpec layer = Layer(tar, tar, Compression::kNone);
  layer.blob_path = scratch_ + "/missing";
  EXPECT_NE(ErrorOf(layer).find("No such file"), std::string::npos) << ErrorOf(layer);
  layer.blob_path = scratch_;
  EXPECT_NE(ErrorOf(layer).find("not a regular file"), std::string::npos) << ErrorOf(layer);
  const std::string fifo = scratch_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  layer.blob_path = fifo;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_NE(ErrorOf(layer).find("not a regular file"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(LayerStreamTest, BlobMayBeASymlink) {
  const std::string tar = MakeTar({{"f", "content"}});
  LayerSpec layer = Layer(tar, tar, Compression::kNone);
  const std::string link = scratch_ + "/link";
  ASSERT_EQ(symlink(layer.blob_path.c_str(), link.c_str()), 0);
  layer.blob_path = link;
  EXPECT_EQ(Stream(layer), tar);
}

TEST_F(LayerStreamTest, TarImageNamesItsPath) {
  LayerSpec layer;
  layer.blob_path = scratch_ + "/nothing.tar";
  layer.verify = false;
  EXPECT_NE(ErrorOf(layer).find("layer " + layer.blob_path), std::string::npos) << ErrorOf(layer);
}

// The real test images, when a copy is present (tests/fixtures/images).
class FixtureStreamTest : public ::testing::Test {
 protected:
  static std::string Image(const std::string& name) {
    const std::string path = std::string(GROOTFS_FIXTURES) + "/images/" + name;
    return std::filesystem::exists(path + "/index.json") ? path : "";
  }
  static std::uint64_t StreamToDevNull(const LayerSpec& layer) {
    const int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    const StreamStats stats = StreamLayer(layer, fd);
    close(fd);
    return stats.tar_bytes;
  }
};

TEST_F(FixtureStreamTest, RealImagesVerify) {
  int seen = 0;
  for (const char* name :
       {"alpine", "busybox-1.25", "garden-busybox", "empty", "tar-layer", "4mb-image", "hardlink",
        "opq-whiteouts-busybox", "zip-bomb", "cloudfoundry.experimental.image.base-directory"}) {
    const std::string path = Image(name);
    if (path.empty()) continue;
    ++seen;
    const ImageSpec spec = LoadOciImage(path, "", LoadOptions{});
    for (const LayerSpec& layer : spec.layers) {
      EXPECT_NO_THROW(StreamToDevNull(layer)) << name << " " << layer.digest;
    }
  }
  if (seen == 0) GTEST_SKIP() << "no fixture images";
}

TEST_F(FixtureStreamTest, CorruptedImagesFail) {
  int seen = 0;
  for (const char* name : {"corrupted", "also-corrupted"}) {
    const std::string path = Image(name);
    if (path.empty()) continue;
    ++seen;
    std::string message;
    try {
      const ImageSpec spec = LoadOciImage(path, "", LoadOptions{});
      for (const LayerSpec& layer : spec.layers) StreamToDevNull(layer);
    } catch (const Error& e) {
      message = e.what();
    }
    EXPECT_NE(message.find("does not match its"), std::string::npos) << name << ": " << message;
  }
  if (seen == 0) GTEST_SKIP() << "no fixture images";
}

}  // namespace
// The layers of one create share one budget of uncompressed tar bytes: each fits alone, the
// second passes it together with the first and is stopped, naming what set the budget.
TEST_F(LayerStreamTest, LayersShareOneBudget) {
  const std::string tar = MakeTar({{"f", std::string(6000, 'x')}});
  StreamBudget budget(tar.size() + tar.size() / 2, "the disk limit");
  EXPECT_EQ(Stream(Layer(Compress(tar, Compression::kGzip), tar, Compression::kGzip), nullptr,
                   &budget),
            tar);
  try {
    (void)Stream(Layer(tar, tar, Compression::kNone), nullptr, &budget);
    ADD_FAILURE() << "the second layer passed the shared budget";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than the disk limit allows"), std::string::npos)
        << e.what();
  }
  StreamBudget none(0, "");
  EXPECT_EQ(Stream(Layer(tar, tar, Compression::kNone), nullptr, &none), tar);  // 0: no budget
}

}  // namespace grootfs::frontend::image
