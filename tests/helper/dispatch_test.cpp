// The serve loop: a peer that breaks the protocol ends the session without a reply.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <fstream>

#include "helper/die.h"
#include "helper/dispatch.h"
#include "helper/ops/handlers.h"
#include "helper/userns.h"
#include "helper/session.h"
#include "ipc/channel.h"
#include "ipc/codec.h"
#include "tests/helper/temp_dir.h"

using namespace grootfs;

namespace {

std::pair<ipc::UniqueFd, ipc::UniqueFd> Pair() {
  auto p = ipc::SeqpacketPair();
  return std::move(*p);
}

}  // namespace

TEST(HelperDispatchDeathTest, FirstRequestMustBeHello) {
  auto [peer, helper_end] = Pair();
  auto payload = ipc::Encode(ipc::Request{ipc::Area::kTmp, "x", {}, 0});
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
  auto payload = ipc::EncodeHello("/tmp");
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
      "grootfs-store-v1\nowner:1000:1000\nuidmap:0:1000:1\nuidmap:1:100000:65536\n"
      "gidmap:0:1000:1\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->owner_uid, 1000u);
  ASSERT_EQ(m->uid_map.size(), 2u);
  EXPECT_EQ(m->uid_map[1].host_id, 100000u);
  EXPECT_EQ(m->gid_map.size(), 1u);
}

TEST(StoreMarker, AMountLimitLineSetsTheLimit) {
  auto plain = helper::ParseStoreMarker("grootfs-store-v1\nowner:0:0\n");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->mount_limit, 1000u);
  auto m = helper::ParseStoreMarker("grootfs-store-v1\nowner:0:0\nmountlimit:7\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_limit, 7u);
  EXPECT_FALSE(helper::ParseStoreMarker("grootfs-store-v1\nowner:0:0\nmountlimit:x\n"));
  EXPECT_FALSE(helper::ParseStoreMarker("grootfs-store-v1\nmountlimit:7\n"));
}

TEST(StoreMarker, ATagIs32HexDigits) {
  const std::string tag(32, 'a');
  auto m = helper::ParseStoreMarker("grootfs-store-v1\nowner:0:0\ntag:" + tag + "\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->tag, tag);
  for (const std::string bad : {std::string(31, 'a'), std::string(32, 'g'), tag + " x", tag + "0"})
    EXPECT_FALSE(helper::ParseStoreMarker("grootfs-store-v1\nowner:0:0\ntag:" + bad + "\n")) << bad;
}

TEST(HelperDispatch, AQuotaOnALayerIsRefusedEinvalBeforeAnyFilesystemCall) {
  if (geteuid() != 0) GTEST_SKIP() << "a store marker must be root's";
  TempDir store;
  ASSERT_EQ(mkdir((store.path() + "/meta").c_str(), 0755), 0);
  std::ofstream(store.path() + "/meta/store-marker") << "grootfs-store-v1\nowner:0:0\n";
  auto [peer, helper_end] = Pair();
  ASSERT_TRUE(ipc::SendRequest(peer.get(), ipc::Op::kHello, ipc::EncodeHello(store.path()), {}));
  // No layers/ at all: a lookup would answer ENOENT; EINVAL says none was made.
  for (ipc::Op op : {ipc::Op::kSetQuota, ipc::Op::kReadQuota}) {
    auto req = ipc::Encode(ipc::Request{ipc::Area::kLayers, "k", {}, 0, op == ipc::Op::kSetQuota ? 4096u : 0u});
    ASSERT_TRUE(ipc::SendRequest(peer.get(), op, req, {}));
  }
  ::shutdown(peer.get(), SHUT_WR);
  EXPECT_EQ(helper::Serve(std::move(helper_end)), helper::kExitRefused);
  ASSERT_TRUE(ipc::ReceiveReply(peer.get(), ipc::Op::kHello));
  for (ipc::Op op : {ipc::Op::kSetQuota, ipc::Op::kReadQuota}) {
    auto reply = ipc::ReceiveReply(peer.get(), op);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->header.status, EINVAL);
  }
}

TEST(StoreMarker, RefusesAnythingElse) {
  for (const char* bad :
       {"", "grootfs-store-v2\nowner:0:0\n", "grootfs-store-v1\n", "grootfs-store-v1\nowner:x:0\n",
        "grootfs-store-v1\nowner:0:0\nuidmap:0:1:0\ngidmap:0:1:1\n",
        "grootfs-store-v1\nowner:0:0\nuidmap:0:4294967295:2\ngidmap:0:1:1\n",
        "grootfs-store-v1\nowner:0:0\nuidmap:0:1:1\n", "grootfs-store-v1\nowner:0:0\nbogus\n",
        "owner:0:0\ngrootfs-store-v1\n"})
    EXPECT_FALSE(helper::ParseStoreMarker(bad)) << bad;
}

TEST(SubordinateIds, ReadsRangesByNameOrId) {
  const char* text = "alice:100000:65536\n1001:300000:10\nbob:200000:65536\nalice:bad:1\n";
  auto r = helper::SubordinateRanges(text, "alice", 1001);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].host_id, 100000u);
  EXPECT_EQ(r[1].host_id, 300000u);
  EXPECT_TRUE(helper::SubordinateRanges(text, "carol", 7).empty());
}

TEST(SubordinateIds, MappingMustStayInsideTheCallersRanges) {
  const std::vector<helper::IdRange> subs = {{0, 100000, 65536}};
  EXPECT_TRUE(helper::MappingAllowed({{0, 1000, 1}, {1, 100000, 65536}}, 1000, subs));
  EXPECT_FALSE(helper::MappingAllowed({{0, 1000, 2}}, 1000, subs));           // one past its own id
  EXPECT_FALSE(helper::MappingAllowed({{1, 100000, 65537}}, 1000, subs));     // one past the range
  EXPECT_FALSE(helper::MappingAllowed({{1, 99999, 10}}, 1000, subs));         // starts below it
  EXPECT_FALSE(helper::MappingAllowed({{0, 0, 1}}, 1000, subs));              // host root
  EXPECT_FALSE(helper::MappingAllowed({}, 1000, subs));                       // identity: root's
}

TEST(Quota, ALimitNear2To64StaysALimit) {
  EXPECT_EQ(helper::BasicBlocks(1), 1u);
  EXPECT_EQ(helper::BasicBlocks(512), 1u);
  EXPECT_EQ(helper::BasicBlocks(513), 2u);
  EXPECT_EQ(helper::BasicBlocks(~0ULL), (~0ULL >> 9) + 1);
  EXPECT_NE(helper::BasicBlocks(~0ULL - 100), 0u);
}

// What /proc/PID/setgroups says inside the unpack child's namespace.
std::string SetgroupsInChild(const helper::StoreMarker& marker) {
  auto [channel, peer] = Pair();  // the helper watches fd 3, its channel, while a child works
  EXPECT_EQ(dup2(channel.get(), ipc::kHelperChannelFd), ipc::kHelperChannelFd);
  helper::Session session(ipc::UniqueFd(open("/", O_PATH | O_CLOEXEC)), marker, "tag");
  ipc::UniqueFd proc(open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto r = helper::RunInStoreUserns(session, proc.get(), {}, [](int) -> ipc::Result<ipc::CountReply> {
    auto fd = helper::OpenBeneath(AT_FDCWD, "/proc/" + std::to_string(getpid()) + "/setgroups",
                                  O_RDONLY, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    char buf[16] = {};
    if (!fd || read(fd->get(), buf, sizeof buf - 1) <= 0) return ipc::Error{EIO, "unreadable"};
    return ipc::Error{EIO, buf};  // the text is the answer
  });
  return r ? "" : r.error().text;
}

TEST(UnpackChild, AMappedStoresNamespaceMayNotDropGroups) {
  if (geteuid() != 0) GTEST_SKIP() << "maps need root";
  helper::StoreMarker mapped;
  mapped.owner_uid = mapped.owner_gid = 100000;
  mapped.uid_map = mapped.gid_map = {{0, 100000, 65536}};
  EXPECT_EQ(SetgroupsInChild(mapped), "deny\n");
  EXPECT_EQ(SetgroupsInChild(helper::StoreMarker{}), "allow\n");  // a root store's identity map
}

TEST(UnpackChildDeathTest, AMapTheKernelRefusesEndsBothSidesPromptly) {
  if (geteuid() != 0) GTEST_SKIP() << "maps need root";
  helper::StoreMarker bad;  // overlapping extents: the kernel refuses the uid_map write
  bad.owner_uid = bad.owner_gid = 100000;
  bad.uid_map = {{0, 100000, 10}, {5, 200000, 10}};
  bad.gid_map = {{0, 100000, 10}};
  EXPECT_EXIT(
      {
        alarm(10);  // a hang is a failure, not a wait for ctest's timeout
        auto channel = Pair();
        (void)dup2(channel.first.get(), ipc::kHelperChannelFd);
        helper::Session session(ipc::UniqueFd(open("/", O_PATH | O_CLOEXEC)), bad, "tag");
        ipc::UniqueFd proc(open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        auto r = helper::RunInStoreUserns(session, proc.get(), {},
                                          [](int) -> ipc::Result<ipc::CountReply> { return ipc::CountReply{}; });
        _exit(r ? 1 : 0);
      },
      testing::ExitedWithCode(0), "");
}
