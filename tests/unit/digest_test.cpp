// Tests for frontend/image/digest.h: SHA-256, digest syntax and layer cache keys.
#include "frontend/image/digest.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "frontend/util/error.h"

namespace grootfs::frontend::image {
namespace {

const std::string kEmptySha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const std::string kAbcSha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::string D(char c) { return "sha256:" + std::string(64, c); }

LayerSpec Layer(const std::string& diff_id, const std::string& base = "", bool verify = true) {
  LayerSpec layer;
  layer.diff_id = diff_id;
  layer.base_directory = base;
  layer.verify = verify;
  return layer;
}

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), kEmptySha);
  EXPECT_EQ(Sha256Hex("abc"), kAbcSha);
  EXPECT_EQ(Sha256Hex(std::string("a\0b", 3)), Sha256Hex(std::string("a\0b", 3)));
  EXPECT_NE(Sha256Hex(std::string("a\0b", 3)), Sha256Hex("ab"));
}

TEST(Sha256Test, IncrementalEqualsOneShot) {
  Sha256 hash;
  hash.Update("a", 1);
  hash.Update(std::string_view("b"));
  hash.Update(nullptr, 0);
  hash.Update("c", 1);
  EXPECT_EQ(hash.HexDigest(), kAbcSha);
}

TEST(Sha256Test, ReusableAfterReset) {
  Sha256 hash;
  hash.Update("abc");
  EXPECT_EQ(hash.HexDigest(), kAbcSha);
  EXPECT_THROW(hash.HexDigest(), Error);
  EXPECT_THROW(hash.Update("x"), Error);
  hash.Reset();
  EXPECT_EQ(hash.HexDigest(), kEmptySha);
  hash.Reset();
  hash.Update("abc");
  EXPECT_EQ(hash.HexDigest(), kAbcSha);
}

TEST(Sha256Test, LargeInput) {
  const std::string million(1000000, 'a');
  EXPECT_EQ(Sha256Hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(IsValidDigestTest, AcceptsSha256WithLowercaseHex) {
  EXPECT_TRUE(IsValidDigest("sha256:" + kEmptySha));
  EXPECT_TRUE(IsValidDigest(D('0')));
  EXPECT_TRUE(IsValidDigest(D('f')));
}

TEST(IsValidDigestTest, RefusesEverythingElse) {
  EXPECT_FALSE(IsValidDigest(""));
  EXPECT_FALSE(IsValidDigest("sha256:"));
  EXPECT_FALSE(IsValidDigest(kEmptySha));                         // no algorithm
  EXPECT_FALSE(IsValidDigest(D('F')));                            // uppercase
  EXPECT_FALSE(IsValidDigest(D('g')));                            // not hex
  EXPECT_FALSE(IsValidDigest("sha256:" + std::string(63, 'a')));  // short
  EXPECT_FALSE(IsValidDigest("sha256:" + std::string(65, 'a')));  // long
  EXPECT_FALSE(IsValidDigest("sha512:" + std::string(128, 'a')));
  EXPECT_FALSE(IsValidDigest("SHA256:" + kEmptySha));
  EXPECT_FALSE(IsValidDigest("sha256:../../../../etc/passwd" + std::string(38, 'a')));
  EXPECT_FALSE(IsValidDigest(" sha256:" + kEmptySha));
  EXPECT_FALSE(IsValidDigest("sha256:" + kEmptySha + "\n"));
  EXPECT_FALSE(IsValidDigest(std::string("sha256:") + std::string(63, 'a') + '\0'));
}

TEST(DigestHexTest, ReturnsHexOrThrows) {
  EXPECT_EQ(DigestHex("sha256:" + kAbcSha), kAbcSha);
  try {
    DigestHex("md5:abc", "config digest");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config digest 'md5:abc' is not a valid digest"),
              std::string::npos)
        << e.what();
  }
}

TEST(CacheKeysTest, SingleLayerIsItsDiffIdHex) {
  const auto keys = ComputeCacheKeys({Layer(D('a'))});
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0], std::string(64, 'a'));
}

TEST(CacheKeysTest, ChainIdOverLayers) {
  const auto keys = ComputeCacheKeys({Layer(D('a')), Layer(D('b')), Layer(D('c'))});
  ASSERT_EQ(keys.size(), 3u);
  const std::string chain1 = Sha256Hex(D('a') + " " + D('b'));
  const std::string chain2 = Sha256Hex("sha256:" + chain1 + " " + D('c'));
  EXPECT_EQ(keys[0], std::string(64, 'a'));
  EXPECT_EQ(keys[1], chain1);
  EXPECT_EQ(keys[2], chain2);
}

TEST(CacheKeysTest, EmptyImageHasNoKeys) { EXPECT_TRUE(ComputeCacheKeys({}).empty()); }

// The OCI chain id of the `empty` test image's two layers (diff_ids from its config), as
// computed independently: sha256("sha256:afe2... sha256:d7c6..."). (grootfs itself names its
// volumes sha256("afe2... d7c6..."), without the "sha256:" prefixes: 9242945d...)
TEST(CacheKeysTest, MatchesOciChainIdOfARealImage) {
  const auto keys = ComputeCacheKeys(
      {Layer("sha256:afe200c63655576eaa5cabe036a2c09920d6aee67653ae75a9d35e0ec27205a5"),
       Layer("sha256:d7c6a5f0d9a15779521094fa5eaf026b719984fb4bfe8e0012bd1da1b62615b0")});
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0], "afe200c63655576eaa5cabe036a2c09920d6aee67653ae75a9d35e0ec27205a5");
  EXPECT_EQ(keys[1], "ea176463fc04efa8f82bdf640e55bd378a0c6c2074dddb64a5ccf3625bc9a1af");
}

TEST(CacheKeysTest, BaseDirectoryChangesTheKeyOfItsLayerAndAbove) {
  const auto plain = ComputeCacheKeys({Layer(D('a')), Layer(D('b')), Layer(D('c'))});
  const auto based =
      ComputeCacheKeys({Layer(D('a')), Layer(D('b'), "/home/vcap/app"), Layer(D('c'))});
  const auto other = ComputeCacheKeys({Layer(D('a')), Layer(D('b'), "/home"), Layer(D('c'))});
  EXPECT_EQ(plain[0], based[0]);
  EXPECT_NE(plain[1], based[1]);
  EXPECT_NE(plain[2], based[2]);
  EXPECT_NE(based[1], other[1]);
  const std::string element = "sha256:" + Sha256Hex(D('b') + "\n/home/vcap/app");
  EXPECT_EQ(based[1], Sha256Hex(D('a') + " " + element));
  // On the lowest layer the element itself is the chain.
  EXPECT_EQ(ComputeCacheKeys({Layer(D('a'), "/x")})[0], Sha256Hex(D('a') + "\n/x"));
}

TEST(CacheKeysTest, UnverifiedKeysAreNeverVerifiedKeys) {
  const auto verified = ComputeCacheKeys({Layer(D('a')), Layer(D('b'))});
  const auto unverified = ComputeCacheKeys({Layer(D('a'), "", false), Layer(D('b'), "", false)});
  EXPECT_EQ(unverified[0], "unverified-" + verified[0]);
  EXPECT_EQ(unverified[1], "unverified-" + verified[1]);
  // A verified layer on an unverified one is not vouched for either.
  const auto mixed = ComputeCacheKeys({Layer(D('a'), "", false), Layer(D('b'))});
  EXPECT_EQ(mixed[1], "unverified-" + verified[1]);
  for (const auto& key : unverified) EXPECT_LE(key.size(), 80u);
}

TEST(CacheKeysTest, InvalidDiffIdThrows) {
  EXPECT_THROW(ComputeCacheKeys({Layer("")}), Error);
  EXPECT_THROW(ComputeCacheKeys({Layer(D('a')), Layer("sha512:abc")}), Error);
}

TEST(CacheKeysTest, AssignSetsEveryLayer) {
  std::vector<LayerSpec> layers = {Layer(D('a')), Layer(D('b'), "/srv")};
  AssignCacheKeys(layers);
  const auto keys = ComputeCacheKeys(layers);
  EXPECT_EQ(layers[0].cache_key, keys[0]);
  EXPECT_EQ(layers[1].cache_key, keys[1]);
}

}  // namespace
}  // namespace grootfs::frontend::image
