// Progress: on a terminal (script(1) gives grootfs a pty) create draws one line per layer that
// goes from bytes to unpacking to done; with stderr a pipe (Garden) it writes nothing there.
#include "tests/integration/registry_support.h"

namespace grootfs_it {
namespace {

class ProgressTest : public GrootfsTest {
 protected:
  void SetUp() override {
    GrootfsTest::SetUp();
    if (IsSkipped()) return;
    if (!HaveProgram("script")) GTEST_SKIP() << "script (bsdutils) is not installed";
    InitStore();
  }
};

TEST_F(ProgressTest, ALinePerLayerOnATerminalAndNothingOnAPipe) {
  const std::string layer = "56bec22e3559";  // the one layer of busybox-1.25, by its digest
  const std::string create =
      GrootfsBin() + " --store " + store_ + " create " + OciFixture("busybox-1.25") + " ";
  auto tty = RunCmd({"script", "-qec", create + "on-tty", "/dev/null"}, 120s);
  ASSERT_TRUE(tty.ok()) << tty.Describe();
  EXPECT_NE(tty.out.find("\x1b["), std::string::npos) << tty.out;  // redrawn in place
  for (const std::string& state : {"  reading ", "  unpacking (", "  done "})
    EXPECT_NE(tty.out.find(layer + state), std::string::npos) << state << " in " << tty.out;
  EXPECT_NE(tty.out.find("\"root\""), std::string::npos) << tty.out;  // the contract's JSON

  // Cached layers draw nothing; a fresh store on a pipe: stdout is the JSON alone, stderr empty.
  auto cached = RunCmd({"script", "-qec", create + "cached", "/dev/null"}, 120s);
  ASSERT_TRUE(cached.ok()) << cached.Describe();
  EXPECT_EQ(cached.out.find(" unpacking "), std::string::npos) << cached.out;
  ASSERT_TRUE(Grootfs(store_, "delete", "on-tty").ok());
  ASSERT_TRUE(Grootfs(store_, "delete", "cached").ok());
  ASSERT_TRUE(Grootfs(store_, "clean").ok());
  auto piped = Grootfs(store_, "create", OciFixture("busybox-1.25"), "piped");
  ASSERT_TRUE(piped.ok()) << piped.Describe();
  EXPECT_EQ(piped.err, "");
  EXPECT_EQ(Lines(piped.out).size(), 1u) << piped.out;
}

}  // namespace
}  // namespace grootfs_it
