#include "frontend/image_id.h"

#include <gtest/gtest.h>

#include <string>

namespace grootfs::frontend {
namespace {

TEST(ImageIdTest, AcceptsTheContractsPattern) {
  EXPECT_TRUE(IsValidImageId("a"));
  EXPECT_TRUE(IsValidImageId("Z"));
  EXPECT_TRUE(IsValidImageId("0"));
  EXPECT_TRUE(IsValidImageId("my-image_1.2"));
  EXPECT_TRUE(IsValidImageId("a."));
  EXPECT_TRUE(IsValidImageId("a.."));
  EXPECT_TRUE(IsValidImageId("a-"));
  EXPECT_TRUE(IsValidImageId("9_"));
  EXPECT_TRUE(IsValidImageId("ABCxyz019_.-"));
}

TEST(ImageIdTest, LengthLimitIs255) {
  EXPECT_EQ(kMaxImageIdLength, 255u);
  EXPECT_TRUE(IsValidImageId(std::string(254, 'a')));
  EXPECT_TRUE(IsValidImageId(std::string(255, 'a')));
  EXPECT_TRUE(IsValidImageId("a" + std::string(254, '-')));
  EXPECT_FALSE(IsValidImageId(std::string(256, 'a')));
  EXPECT_FALSE(IsValidImageId(std::string(4096, 'a')));
}

TEST(ImageIdTest, RefusesEmptyDotsAndLeadingPunctuation) {
  EXPECT_FALSE(IsValidImageId(""));
  EXPECT_FALSE(IsValidImageId("."));
  EXPECT_FALSE(IsValidImageId(".."));
  EXPECT_FALSE(IsValidImageId(".hidden"));
  EXPECT_FALSE(IsValidImageId("-rf"));
  EXPECT_FALSE(IsValidImageId("--help"));
  EXPECT_FALSE(IsValidImageId("_a"));
}

TEST(ImageIdTest, RefusesSlashesAndOtherCharacters) {
  EXPECT_FALSE(IsValidImageId("/"));
  EXPECT_FALSE(IsValidImageId("a/b"));
  EXPECT_FALSE(IsValidImageId("/abs"));
  EXPECT_FALSE(IsValidImageId("a/../b"));
  EXPECT_FALSE(IsValidImageId("a\\b"));
  EXPECT_FALSE(IsValidImageId("a b"));
  EXPECT_FALSE(IsValidImageId("a:b"));
  EXPECT_FALSE(IsValidImageId("a\nb"));
  EXPECT_FALSE(IsValidImageId("a\tb"));
  EXPECT_FALSE(IsValidImageId(std::string("a\0b", 3)));
  EXPECT_FALSE(IsValidImageId("caf\xc3\xa9"));
  EXPECT_FALSE(IsValidImageId("\xc3\xa9"));
  EXPECT_FALSE(IsValidImageId("a*"));
}

}  // namespace
}  // namespace grootfs::frontend
