// The ipc codec and channel: round trips, and every way a peer can send garbage.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>

#include "ipc/channel.h"
#include "ipc/codec.h"
#include "ipc/limits.h"

using namespace grootfs::ipc;

namespace {

std::vector<std::byte> Bytes(std::initializer_list<unsigned> v) {
  std::vector<std::byte> out;
  for (unsigned b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

}  // namespace

TEST(PlainName, AcceptsNamesAndRefusesPathsAndDots) {
  EXPECT_TRUE(IsPlainName("abc"));
  EXPECT_TRUE(IsPlainName(std::string(255, 'a')));
  EXPECT_FALSE(IsPlainName(std::string(256, 'a')));
  EXPECT_FALSE(IsPlainName(""));
  EXPECT_FALSE(IsPlainName("."));
  EXPECT_FALSE(IsPlainName(".."));
  EXPECT_FALSE(IsPlainName("a/b"));
  EXPECT_FALSE(IsPlainName(std::string("a\0b", 3)));
}

TEST(Codec, RoundTripsEveryRequest) {
  auto hello = DecodeHello(EncodeHello("/var/lib/store"));
  ASSERT_TRUE(hello);
  EXPECT_EQ(*hello, "/var/lib/store");

  auto unpack = Decode(Op::kUnpackLayer, Encode(Request{Area::kTmp, "w1", {"home", "vcap"}, 0}));
  ASSERT_TRUE(unpack);
  EXPECT_EQ(unpack->name, "w1");
  EXPECT_EQ(unpack->names, (std::vector<std::string>{"home", "vcap"}));

  auto mount = Decode(Op::kMountRootfs, Encode(Request{Area::kImages, "img", {"k2", "k1"}, 0}));
  ASSERT_TRUE(mount);
  EXPECT_EQ(mount->area, Area::kImages);
  EXPECT_EQ(mount->names, (std::vector<std::string>{"k2", "k1"}));

  auto place = Decode(Op::kRemoveTree, Encode(Request{Area::kLayers, "k", {}, 0}));
  ASSERT_TRUE(place);
  EXPECT_EQ(place->area, Area::kLayers);

  auto reply = DecodeCountReply(Encode(CountReply{123, kLayerRootOpaque}));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->bytes, 123u);
  EXPECT_EQ(reply->flags, kLayerRootOpaque);
}

TEST(Codec, RefusesTrailingBytes) {
  auto bytes = Encode(Request{Area::kTmp, "x", {}, 0});
  bytes.push_back(std::byte{0});
  EXPECT_FALSE(Decode(Op::kRemoveTree, bytes));
}

TEST(Codec, RefusesTruncatedInputAtEveryLength) {
  const auto bytes = Encode(Request{Area::kTmp, "img", {"a", "b"}, 0});
  for (std::size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(Decode(Op::kMountRootfs, {bytes.data(), n})) << n;
}

TEST(Codec, RefusesPathsDotsAndBadAreas) {
  EXPECT_FALSE(Decode(Op::kRemoveTree, Encode(Request{Area::kTmp, "..", {}, 0})));
  EXPECT_FALSE(Decode(Op::kRemoveTree, Encode(Request{Area::kTmp, "a/b", {}, 0})));
  EXPECT_FALSE(Decode(Op::kRemoveTree, Encode(Request{static_cast<Area>(9), "a", {}, 0})));
  EXPECT_FALSE(Decode(Op::kRemoveTree, Encode(Request{static_cast<Area>(0), "a", {}, 0})));
  EXPECT_FALSE(Decode(Op::kUnpackLayer, Encode(Request{Area::kTmp, "w", {".."}, 0})));
  EXPECT_FALSE(Decode(Op::kHello, Encode(Request{Area::kTmp, "w", {}, 0})));
  EXPECT_FALSE(Decode(static_cast<Op>(99), Encode(Request{Area::kTmp, "w", {}, 0})));
  EXPECT_FALSE(DecodeHello(EncodeHello("relative/path")));
  EXPECT_FALSE(DecodeHello(EncodeHello(std::string(limits::kMaxStorePath + 1, '/'))));
}

TEST(Codec, RefusesCountsAndFlagsPastTheirLimits) {
  Request m{Area::kTmp, "img", {}, 0};
  EXPECT_FALSE(Decode(Op::kMountRootfs, Encode(m)));  // no layer at all
  m.names.assign(limits::kMaxLayersPerImage, "k");
  EXPECT_TRUE(Decode(Op::kMountRootfs, Encode(m)));
  m.names.push_back("k");
  EXPECT_FALSE(Decode(Op::kMountRootfs, Encode(m)));
  Request u{Area::kTmp, "w", std::vector<std::string>(limits::kMaxBaseDirDepth, "d"), 0};
  EXPECT_TRUE(Decode(Op::kUnpackLayer, Encode(u)));
  u.names.push_back("d");
  EXPECT_FALSE(Decode(Op::kUnpackLayer, Encode(u)));
  EXPECT_FALSE(Decode(Op::kRemoveTree, Encode(Request{Area::kTmp, "x", {"extra"}, 0})));
  // A length prefix that claims more than there is.
  EXPECT_FALSE(DecodeHello(Bytes({0xff, 0xff, 0xff, 0x7f, '/'})));
  // Unknown flags.
  EXPECT_FALSE(Decode(Op::kMountRootfs, Encode(Request{Area::kTmp, "i", {"k"}, 0x80})));
  EXPECT_FALSE(Decode(Op::kRemoveTree, Encode(Request{Area::kTmp, "i", {}, 1})));
}

TEST(Codec, OnlyUnpackLayerAndSetQuotaCarryAByteCount) {
  auto budget = Decode(Op::kUnpackLayer, Encode(Request{Area::kTmp, "w", {}, 0, 1ULL << 40}));
  ASSERT_TRUE(budget);
  EXPECT_EQ(budget->bytes, 1ULL << 40);
  auto quota = Decode(Op::kSetQuota, Encode(Request{Area::kTmp, "w", {}, 0, 12345}));
  ASSERT_TRUE(quota);
  EXPECT_EQ(quota->bytes, 12345u);
  EXPECT_TRUE(Decode(Op::kReadQuota, Encode(Request{Area::kImages, "i", {}, 0, 0})));
  for (Op op : {Op::kMountRootfs, Op::kUnmountRootfs, Op::kRemoveTree, Op::kReadQuota})
    EXPECT_FALSE(Decode(op, Encode(Request{Area::kImages, "i", {"k"}, 0, 1}))) << int(op);
  EXPECT_FALSE(Decode(Op::kReadQuota, Encode(Request{Area::kImages, "i", {}, 0, 1})));
  EXPECT_FALSE(Decode(Op::kSetQuota, Encode(Request{Area::kImages, "i", {"x"}, 0, 1})));
  // The byte count and the lower-layer count end the request: stopping in them is refused.
  auto bytes = Encode(Request{Area::kTmp, "w", {}, 0, 7});
  for (std::size_t cut = 1; cut <= 12; ++cut)
    EXPECT_FALSE(Decode(Op::kSetQuota, {bytes.data(), bytes.size() - cut})) << cut;
}

TEST(Codec, OnlyUnpackLayerCarriesLowerLayerKeysEachAPlainName) {
  Request u{Area::kTmp, "w", {"home"}, 0, 5, {"k3", "k2", "k1"}};
  auto unpack = Decode(Op::kUnpackLayer, Encode(u));
  ASSERT_TRUE(unpack);
  EXPECT_EQ(unpack->names, (std::vector<std::string>{"home"}));
  EXPECT_EQ(unpack->bytes, 5u);
  EXPECT_EQ(unpack->lowers, (std::vector<std::string>{"k3", "k2", "k1"}));
  u.lowers.assign(limits::kMaxLayersPerImage, "k");
  EXPECT_TRUE(Decode(Op::kUnpackLayer, Encode(u)));
  u.lowers.push_back("k");
  EXPECT_FALSE(Decode(Op::kUnpackLayer, Encode(u)));  // past overlay's stack limit
  for (const char* bad : {"..", ".", "a/b", ""})
    EXPECT_FALSE(Decode(Op::kUnpackLayer, Encode(Request{Area::kTmp, "w", {}, 0, 0, {bad}})))
        << bad;
  EXPECT_FALSE(Decode(Op::kUnpackLayer,
                      Encode(Request{Area::kTmp, "w", {}, 0, 0, {std::string("a\0b", 3)}})));
  for (Op op :
       {Op::kMountRootfs, Op::kUnmountRootfs, Op::kRemoveTree, Op::kSetQuota, Op::kReadQuota})
    EXPECT_FALSE(Decode(op, Encode(Request{Area::kImages, "i", {"k"}, 0, 0, {"k"}}))) << int(op);
  auto bytes = Encode(Request{Area::kTmp, "w", {}, 0, 0, {"k1", "k2"}});
  for (std::size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(Decode(Op::kUnpackLayer, {bytes.data(), n})) << n;
  bytes.push_back(std::byte{0});
  EXPECT_FALSE(Decode(Op::kUnpackLayer, bytes));
}

TEST(Channel, CarriesRequestsWithFds) {
  auto pair = SeqpacketPair();
  ASSERT_TRUE(pair);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const int fds[] = {p[0]};
  auto payload = Encode(Request{Area::kTmp, "x", {}, 0});
  ASSERT_TRUE(SendRequest(pair->first.get(), Op::kRemoveTree, payload, fds));
  auto m = ReceiveRequest(pair->second.get());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->header.op, static_cast<std::uint16_t>(Op::kRemoveTree));
  ASSERT_EQ(m->fds.size(), 1u);
  EXPECT_NE(m->fds[0].get(), p[0]);
  close(p[0]);
  close(p[1]);
}

TEST(Channel, RefusesMalformedDatagrams) {
  auto pair = SeqpacketPair();
  ASSERT_TRUE(pair);
  const int a = pair->first.get(), b = pair->second.get();
  // Too short for a header.
  ASSERT_EQ(send(a, "abc", 3, 0), 3);
  EXPECT_EQ(ReceiveRequest(b).error().code, EBADMSG);
  // Bad magic.
  Header h{0x1234, kVersion, 1, 0, 0};
  ASSERT_EQ(send(a, &h, sizeof h, 0), static_cast<ssize_t>(sizeof h));
  EXPECT_EQ(ReceiveRequest(b).error().code, EBADMSG);
  // Declared length does not match.
  h = Header{kMagic, kVersion, 1, 10, 0};
  ASSERT_EQ(send(a, &h, sizeof h, 0), static_cast<ssize_t>(sizeof h));
  EXPECT_EQ(ReceiveRequest(b).error().code, EBADMSG);
  // Declares an fd that is not there.
  h = Header{kMagic, kVersion, 1, 0, 1};
  ASSERT_EQ(send(a, &h, sizeof h, 0), static_cast<ssize_t>(sizeof h));
  EXPECT_EQ(ReceiveRequest(b).error().code, EBADMSG);
  // Oversized datagram.
  std::vector<char> big(limits::kMaxMessage + 10, 0);
  std::memcpy(big.data(), &h, sizeof h);
  ASSERT_GT(send(a, big.data(), big.size(), 0), 0);
  EXPECT_EQ(ReceiveRequest(b).error().code, EBADMSG);
  // The peer went away.
  pair->first.Reset();
  EXPECT_EQ(ReceiveRequest(b).error().code, EPIPE);
}

TEST(Codec, UnmountRootfsMayAlsoAskForMovedMounts) {
  auto m = Decode(Op::kUnmountRootfs, Encode(Request{Area::kTmp, "w", {}, kMovedMount, 42}));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->flags, kMovedMount);
  EXPECT_EQ(m->bytes, 42u);
  EXPECT_FALSE(Decode(Op::kUnmountRootfs, Encode(Request{Area::kTmp, "w", {}, 2})));
}
