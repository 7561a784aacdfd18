// Images that must be refused, and what a refused `create` must leave behind: nothing.
#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

class BadImageTest : public GrootfsTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(BadImageTest, IsRefusedAndLeavesNothingBehind) {
  InitStore();
  auto r = Grootfs(store_, "create", OciFixture(GetParam()), "victim");
  EXPECT_NE(r.status, 0) << GetParam() << " was accepted: " << r.Describe();
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  EXPECT_EQ(r.err, "") << "default log level is fatal: nothing on stderr";

  auto list = Grootfs(store_, "list");
  ASSERT_TRUE(list.ok()) << list.Describe();
  EXPECT_EQ(Trim(list.out), "Store empty");
  EXPECT_TRUE(MountsUnder(tmp_.path()).empty())
      << ::testing::PrintToString(MountsUnder(tmp_.path()));
  EXPECT_TRUE(DirEntries(fs::path(store_) / "images").empty())
      << ::testing::PrintToString(DirEntries(fs::path(store_) / "images"));

  // The same ID with a good image works.
  Json j = CreateOk(OciFixture("alpine"), "victim");
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["root"]["path"], RootfsOf("victim").string());
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("victim")));
  auto sh = InRootfs(RootfsOf("victim"), "echo ok");
  EXPECT_EQ(sh.out, "ok\n") << sh.Describe();
  EXPECT_EQ(ListImages(), std::set<std::string>{ImageDir("victim").string()});
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BadImageTest,
                         ::testing::Values("corrupted", "also-corrupted", "invalid-config",
                                           "invalid-manifest-size-less-than-physical-size"),
                         [](const ::testing::TestParamInfo<const char*>& param_info) {
                           std::string name = param_info.param;
                           for (auto& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

class RefusalTest : public GrootfsTest {};

// A helper that dies gives the user its reason in the one line on stdout, without a log file
// (it used to say "ended the session (see the log)" with no log to see). Here root runs grootfs
// with CAP_SYS_ADMIN out of its bounding set, so the real helper refuses to start.
TEST_F(RefusalTest, AHelperThatDiesTellsTheUserWhyWithoutALog) {
  InitStore();
  auto r = RunCmd({"setpriv", "--bounding-set", "-sys_admin", "--", GrootfsBin(), "--store", store_,
                   "create", OciFixture("alpine"), "x"});
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  EXPECT_NE(r.out.find("must be installed setuid root or with file capabilities"),
            std::string::npos)
      << r.Describe();
  EXPECT_EQ(r.out.find("see the log"), std::string::npos) << r.Describe();
  EXPECT_EQ(r.err, "") << "default log level is fatal: nothing on stderr";
  EXPECT_FALSE(Exists(ImageDir("x")));
  // With a log file, the helper's line is in it too.
  const fs::path log = tmp_.path() / "grootfs.log";
  r = RunCmd({"setpriv", "--bounding-set", "-sys_admin", "--", GrootfsBin(), "--store", store_,
              "--log-file", log.string(), "create", OciFixture("alpine"), "x"});
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_NE(ReadFile(log).find("helper-stderr"), std::string::npos) << ReadFile(log);
}

// A helper that cannot even be executed says why too (the exec failure is written on the
// helper's stderr pipe by the child that tried).
TEST_F(RefusalTest, AHelperThatCannotBeExecutedSaysWhy) {
  InitStore();
  const fs::path not_elf = NotAProgram();
  auto r = Grootfs(store_, "--helper-bin", not_elf.string(), "create", OciFixture("alpine"), "x");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  EXPECT_NE(r.out.find("cannot execute " + not_elf.string() + ": Exec format error"),
            std::string::npos)
      << r.Describe();
  EXPECT_FALSE(Exists(ImageDir("x")));
}

// With its layers cached, a create makes the image's directory while the helper starts. A helper
// that then cannot run fails the create, and that directory and its lock go with it.
TEST_F(RefusalTest, AHelperThatCannotRunLeavesNothingOfAWarmCreate) {
  InitStore();
  ASSERT_TRUE(CreateOk(OciFixture("alpine"), "cached").is_object());
  const fs::path not_elf = NotAProgram();
  auto r = Grootfs(store_, "--helper-bin", not_elf.string(), "create", OciFixture("alpine"), "x");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  EXPECT_NE(r.out.find("Exec format error"), std::string::npos) << r.Describe();
  EXPECT_FALSE(Exists(ImageDir("x")));
  EXPECT_TRUE(DirEntries(fs::path(store_) / "tmp").empty())
      << ::testing::PrintToString(DirEntries(fs::path(store_) / "tmp"));
  for (const std::string& lock : DirEntries(fs::path(store_) / "locks"))
    EXPECT_EQ(lock.find("tmp-"), std::string::npos) << lock;
  EXPECT_EQ(ListImages(), std::set<std::string>{ImageDir("cached").string()});
}

TEST_F(RefusalTest, ARefusedImageDoesNotDisturbOtherImages) {
  InitStore();
  ASSERT_TRUE(CreateOk(OciFixture("busybox-1.25"), "good").is_object());
  auto r = Grootfs(store_, "create", OciFixture("corrupted"), "bad");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_EQ(ListImages(), std::set<std::string>{ImageDir("good").string()});
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("good")));
  EXPECT_EQ(MountsUnder(store_), std::vector<std::string>{RootfsOf("good").string()});
  EXPECT_FALSE(Exists(ImageDir("bad")));
  // corrupted's first layer claims busybox-1.25's digest: the good cached layer is still good.
  ASSERT_TRUE(CreateOk(OciFixture("busybox-1.25"), "good-again").is_object());
  EXPECT_TRUE(fs::is_regular_file(RootfsOf("good-again") / "bin/busybox"));
}

TEST_F(RefusalTest, ADiskLimitOnAStoreWithoutQuotasIsRefused) {
  InitStore();
  auto r = Grootfs(store_, "create", "--disk-limit-size-bytes", "104857600", OciFixture("alpine"),
                   "limited");
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
  EXPECT_TRUE(ContainsNoCase(r.out, "quota")) << r.out;
  ExpectNothingLeftOf("limited");
  EXPECT_TRUE(DirEntries(fs::path(store_) / "images").empty());

  // Without the limit the same ID works.
  EXPECT_TRUE(CreateOk(OciFixture("alpine"), "limited").is_object());
}

TEST_F(RefusalTest, ADiskLimitFromTheConfigIsRefusedToo) {
  InitStore();
  const fs::path config = tmp_.path() / "config.yml";
  WriteFile(config, "create:\n  disk_limit_size_bytes: 104857600\n");
  auto r = RunCmd({GrootfsBin(), "--store", store_, "--config", config.string(), "create",
                   OciFixture("alpine"), "limited"});
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out));
  EXPECT_TRUE(ContainsNoCase(r.out, "quota")) << r.out;
  ExpectNothingLeftOf("limited");
}

TEST_F(RefusalTest, NegativeSizesAreRefused) {
  InitStore();
  auto r = Grootfs(store_, "create", "--disk-limit-size-bytes", "-1", OciFixture("alpine"), "neg");
  EXPECT_NE(r.status, 0) << r.Describe();
  ExpectNothingLeftOf("neg");
}

}  // namespace
}  // namespace grootfs_it
