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
  auto hello = DecodeHello(Encode(HelloRequest{"/var/lib/store"}));
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->store_path, "/var/lib/store");

  auto unpack = DecodeUnpackLayer(Encode(UnpackLayerRequest{"w1", {"home", "vcap"}}));
  ASSERT_TRUE(unpack);
  EXPECT_EQ(unpack->work, "w1");
  EXPECT_EQ(unpack->base_dir, (std::vector<std::string>{"home", "vcap"}));

  auto mount = DecodeMountRootfs(Encode(MountRootfsRequest{Area::kImages, "img", {"k2", "k1"}, 0}));
  ASSERT_TRUE(mount);
  EXPECT_EQ(mount->area, Area::kImages);
  EXPECT_EQ(mount->layer_keys, (std::vector<std::string>{"k2", "k1"}));

  auto place = DecodePlace(Encode(PlaceRequest{Area::kLayers, "k"}));
  ASSERT_TRUE(place);
  EXPECT_EQ(place->area, Area::kLayers);

  auto reply = DecodeUnpackLayerReply(Encode(UnpackLayerReply{123, kLayerRootOpaque}));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->bytes, 123u);
  EXPECT_EQ(reply->flags, kLayerRootOpaque);
}

TEST(Codec, RefusesTrailingBytes) {
  auto bytes = Encode(PlaceRequest{Area::kTmp, "x"});
  bytes.push_back(std::byte{0});
  EXPECT_FALSE(DecodePlace(bytes));
}

TEST(Codec, RefusesTruncatedInputAtEveryLength) {
  const auto bytes = Encode(MountRootfsRequest{Area::kTmp, "img", {"a", "b"}, 0});
  for (std::size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(DecodeMountRootfs({bytes.data(), n})) << n;
}

TEST(Codec, RefusesPathsDotsAndBadAreas) {
  EXPECT_FALSE(DecodePlace(Encode(PlaceRequest{Area::kTmp, ".."})));
  EXPECT_FALSE(DecodePlace(Encode(PlaceRequest{Area::kTmp, "a/b"})));
  EXPECT_FALSE(DecodePlace(Encode(PlaceRequest{static_cast<Area>(9), "a"})));
  EXPECT_FALSE(DecodePlace(Encode(PlaceRequest{static_cast<Area>(0), "a"})));
  EXPECT_FALSE(DecodeUnpackLayer(Encode(UnpackLayerRequest{"w", {".."}})));
  EXPECT_FALSE(DecodeHello(Encode(HelloRequest{"relative/path"})));
  EXPECT_FALSE(DecodeHello(Encode(HelloRequest{std::string(limits::kMaxStorePath + 1, '/')})));
}

TEST(Codec, RefusesCountsPastTheirLimits) {
  MountRootfsRequest m{Area::kTmp, "img", {}, 0};
  EXPECT_FALSE(DecodeMountRootfs(Encode(m)));  // no layer at all
  m.layer_keys.assign(limits::kMaxLayersPerImage, "k");
  EXPECT_TRUE(DecodeMountRootfs(Encode(m)));
  m.layer_keys.push_back("k");
  EXPECT_FALSE(DecodeMountRootfs(Encode(m)));
  UnpackLayerRequest u{"w", std::vector<std::string>(limits::kMaxBaseDirDepth + 1, "d")};
  EXPECT_FALSE(DecodeUnpackLayer(Encode(u)));
  // A length prefix that claims more than there is.
  EXPECT_FALSE(DecodeHello(Bytes({0xff, 0xff, 0xff, 0x7f, '/'})));
  // Unknown mount flags.
  EXPECT_FALSE(DecodeMountRootfs(Encode(MountRootfsRequest{Area::kTmp, "i", {"k"}, 0x80})));
}

TEST(Channel, CarriesRequestsWithFds) {
  auto pair = SeqpacketPair();
  ASSERT_TRUE(pair);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const int fds[] = {p[0]};
  auto payload = Encode(PlaceRequest{Area::kTmp, "x"});
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
