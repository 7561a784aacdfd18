// The installed helper as a process: how it ends when its stderr is gone, and the file
// capabilities the README tells operators to give it instead of setuid.
#include <sys/socket.h>

#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

class HelperProcessTest : public GrootfsTest {};

// Starts the helper with a SOCK_SEQPACKET end as fd 3 and stderr a pipe nobody reads, sends it
// junk, and returns how it ended.
int RunWithClosedStderr() {
  int sv[2], err[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0 || pipe2(err, O_CLOEXEC) != 0)
    return -1;
  close(err[0]);  // nobody will ever read the helper's stderr
  const std::string helper = HelperBin();
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(sv[1], 3);
    dup2(err[1], 2);
    execl(helper.c_str(), helper.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(sv[1]);
  close(err[1]);
  const char junk[] = "not a request";
  (void)!send(sv[0], junk, sizeof junk, 0);
  int status = 0;
  waitpid(pid, &status, 0);
  close(sv[0]);
  return status;
}

TEST_F(HelperProcessTest, AClosedStderrIsNoDeathBySigpipe) {
  const int status = RunWithClosedStderr();
  ASSERT_FALSE(WIFSIGNALED(status)) << "killed by signal " << WTERMSIG(status);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3) << "the exit code of a malformed request";
}

// The README's line, applied to a copy of the helper that is not setuid, gives a helper that
// starts and serves an unprivileged caller.
TEST_F(HelperProcessTest, TheReadmesFileCapabilitiesMakeAWorkingHelper) {
  if (detail::ResolveExecutable("setcap") == "setcap") GTEST_SKIP() << "setcap is not installed";
  std::string caps;
  for (const auto& line : Lines(ReadFile(fs::path(GROOTFS_SOURCE_DIR) / "README.md"))) {
    const auto at = line.find("`setcap ");
    if (at == std::string::npos) continue;
    const auto start = at + 8, end = line.find(' ', start);
    caps = line.substr(start, end - start);
  }
  ASSERT_FALSE(caps.empty()) << "the README has no setcap line";
  const fs::path prefix = tmp_ / "prefix";
  ASSERT_TRUE(RunCmd({"cp", "-a", std::string(GROOTFS_PREFIX), prefix.string()}).ok());
  const std::string helper = (prefix / "libexec/grootfs/grootfs-helper").string();
  ASSERT_EQ(chmod(helper.c_str(), 0755), 0);
  auto set = RunCmd({"setcap", caps, helper});
  ASSERT_TRUE(set.ok()) << set.Describe();

  // A user with no subordinate ids: a store mapped to their own ids only.
  const uid_t uid = 47900 + static_cast<uid_t>(getpid() % 100);
  const std::string own = "0:" + std::to_string(uid) + ":1";
  auto init = Grootfs(store_, "init-store", "--uid-mapping", own, "--gid-mapping", own);
  ASSERT_TRUE(init.ok()) << init.Describe();
  const fs::path images = tmp_ / "images";
  ASSERT_TRUE(RunCmd({"cp", "-a", FixtureImage("busybox-1.25"), images.string()}).ok());
  ASSERT_TRUE(RunCmd({"chmod", "-R", "a+rX", images.string()}).ok());
  auto as_user = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{"setpriv",         "--reuid=" + std::to_string(uid),
                                  "--regid=" + std::to_string(uid), "--clear-groups",
                                  (prefix / "bin/grootfs").string(), "--store", store_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCmd(argv);
  };
  auto create = as_user({"create", OciUri(images.string()), "capped"});
  ASSERT_TRUE(create.ok()) << create.Describe();
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("capped")));
  auto del = as_user({"delete", "capped"});
  EXPECT_TRUE(del.ok()) << del.Describe();
  EXPECT_TRUE(MountsUnder(store_).empty());
  EXPECT_TRUE(Grootfs(store_, "delete-store").ok());
}

}  // namespace
}  // namespace grootfs_it
