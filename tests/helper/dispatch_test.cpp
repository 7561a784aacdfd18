// The serve loop: a peer that breaks the protocol ends the session without a reply.
#include <gtest/gtest.h>

#include "helper/die.h"
#include "helper/dispatch.h"
#include "helper/session.h"
#include "ipc/channel.h"
#include "ipc/codec.h"

using namespace grootfs;

namespace {

std::pair<ipc::UniqueFd, ipc::UniqueFd> Pair() {
  auto p = ipc::SeqpacketPair();
  return std::move(*p);
}

}  // namespace

TEST(HelperDispatchDeathTest, FirstRequestMustBeHello) {
  auto [peer, helper_end] = Pair();
  auto payload = ipc::Encode(ipc::PlaceRequest{ipc::Area::kTmp, "x"});
  ASSERT_TRUE(ipc::SendRequest(peer.get(), ipc::Op::kRemoveTree, payload, {}));
  EXPECT_EXIT(helper::Serve(std::move(helper_end)), testing::ExitedWithCode(helper::kExitMalformed),
              "first request must be Hello");
}

TEST(HelperDispatchDeathTest, MalformedHelloEndsTheSession) {
  auto [peer, helper_end] = Pair();
  const std::byte junk[3] = {};
  ASSERT_TRUE(ipc::SendRequest(peer.get(), ipc::Op::kHello, junk, {}));
  EXPECT_EXIT(helper::Serve(std::move(helper_end)), testing::ExitedWithCode(helper::kExitMalformed),
              "malformed Hello");
}

TEST(HelperDispatch, HelloOnANonStoreIsRefusedWithAReply) {
  auto [peer, helper_end] = Pair();
  auto payload = ipc::Encode(ipc::HelloRequest{"/tmp"});
  ASSERT_TRUE(ipc::SendRequest(peer.get(), ipc::Op::kHello, payload, {}));
  EXPECT_EQ(helper::Serve(std::move(helper_end)), helper::kExitRefused);
  auto reply = ipc::ReceiveReply(peer.get(), ipc::Op::kHello);
  ASSERT_TRUE(reply);
  EXPECT_NE(reply->header.status, 0);
}

TEST(HelperDispatch, AClosedChannelBeforeHelloIsARefusal) {
  auto [peer, helper_end] = Pair();
  peer.Reset();
  EXPECT_EQ(helper::Serve(std::move(helper_end)), helper::kExitRefused);
}

TEST(StoreMarker, ParsesOwnerAndMappings) {
  auto m = helper::ParseStoreMarker(
      "grootfs-store-v1\nowner 1000 1000\nuidmap 0 1000 1\nuidmap 1 100000 65536\n"
      "gidmap 0 1000 1\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->owner_uid, 1000u);
  ASSERT_EQ(m->uid_map.size(), 2u);
  EXPECT_EQ(m->uid_map[1].host_id, 100000u);
  EXPECT_EQ(m->gid_map.size(), 1u);
}

TEST(StoreMarker, RefusesAnythingElse) {
  for (const char* bad :
       {"", "grootfs-store-v2\nowner 0 0\n", "grootfs-store-v1\n", "grootfs-store-v1\nowner x 0\n",
        "grootfs-store-v1\nowner 0 0\nuidmap 0 1 0\ngidmap 0 1 1\n",
        "grootfs-store-v1\nowner 0 0\nuidmap 0 4294967295 2\ngidmap 0 1 1\n",
        "grootfs-store-v1\nowner 0 0\nuidmap 0 1 1\n", "grootfs-store-v1\nowner 0 0\nbogus\n"})
    EXPECT_FALSE(helper::ParseStoreMarker(bad)) << bad;
}
