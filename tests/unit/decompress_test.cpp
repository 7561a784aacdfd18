// Tests for frontend/image/decompress.h: ISA-L gzip and libzstd, fed in arbitrary pieces.
#include "frontend/image/decompress.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "frontend/image/image_spec.h"
#include "tests/unit/image_fixtures.h"

namespace grootfs::frontend::image {
namespace {

using fixtures::Compress;

std::string Noisy(std::size_t size, unsigned seed) {  // half random bytes, half text
  std::mt19937 gen(seed);
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    s[i] = (i / 4096) % 2 ? static_cast<char>(gen() & 0xff) : static_cast<char>('a' + i % 26);
  return s;
}

// Decompresses `data` fed in pieces of `piece` bytes; Finish() included.
std::string Inflate(Compression c, const std::string& data, std::size_t piece) {
  auto d = MakeDecompressor(c);
  std::string out;
  const Decompressor::Sink sink = [&](const unsigned char* p, std::size_t n) {
    EXPECT_LE(n, Decompressor::kOutChunk);
    out.append(reinterpret_cast<const char*>(p), n);
  };
  for (std::size_t i = 0; i < data.size(); i += piece) {
    const std::string part = data.substr(i, piece);
    d->Feed(reinterpret_cast<const unsigned char*>(part.data()), part.size(), sink);
  }
  d->Finish();
  return out;
}

TEST(DecompressTest, GzipAndZstdInAnyPieces) {
  const std::string big = Noisy(3 * 1024 * 1024 + 17, 1), small = Noisy(20000, 6);
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    const std::string packed = Compress(big, c);
    EXPECT_EQ(Inflate(c, packed, std::size_t{1} << 20), big) << static_cast<int>(c);
    EXPECT_EQ(Inflate(c, packed, 4096), big) << static_cast<int>(c);
    EXPECT_EQ(Inflate(c, Compress(small, c), 7), small) << static_cast<int>(c);
  }
}

TEST(DecompressTest, ConcatenatedStreamsContinueAndTrailingBytesAreIgnored) {
  const std::string a = Noisy(100000, 2), b = Noisy(50000, 3);
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    const std::string both = Compress(a, c) + Compress(b, c);
    for (std::size_t piece : {std::size_t{1} << 20, std::size_t{1000}, std::size_t{3}})
      EXPECT_EQ(Inflate(c, both, piece), a + b) << static_cast<int>(c) << " piece " << piece;
    EXPECT_EQ(Inflate(c, Compress(a, c) + std::string(1000, '\0'), 512), a);
  }
}

TEST(DecompressTest, CorruptOrTruncatedDataIsADecompressError) {
  const std::string plain = Noisy(200000, 4);
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    const std::string packed = Compress(plain, c);
    EXPECT_THROW(Inflate(c, packed.substr(0, packed.size() / 2), 4096), DecompressError);
    std::string bad = packed;
    for (std::size_t i = 4; i < 64; ++i) bad[i] = static_cast<char>(bad[i] ^ 0x5a);  // header too
    EXPECT_THROW(Inflate(c, bad, 4096), DecompressError);
  }
  EXPECT_THROW(Inflate(Compression::kGzip, "", 1), DecompressError) << "no stream at all";
}

TEST(DecompressTest, AGzipCrcMismatchIsRefused) {
  std::string packed = Compress(Noisy(10000, 5), Compression::kGzip);
  packed[packed.size() - 6] = static_cast<char>(packed[packed.size() - 6] ^ 1);  // the CRC32
  EXPECT_THROW(Inflate(Compression::kGzip, packed, 4096), DecompressError);
}

}  // namespace
}  // namespace grootfs::frontend::image
