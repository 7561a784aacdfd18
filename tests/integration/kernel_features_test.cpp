// A kernel without what grootfs-helper needs is refused at init-store, with one line naming what
// is missing; a kernel without Landlock still unpacks, and says so at debug level. The missing
// calls are made missing for real: a seccomp filter answers them ENOSYS, as an older kernel does,
// for grootfs and the helper it starts.
#include <seccomp.h>

#include "tests/integration/support.h"

namespace grootfs_it {
namespace {

// Runs argv with every call in `enosys` answered ENOSYS; stdout and stderr are captured apart.
RunResult RunWithout(const std::vector<int>& enosys, const std::vector<std::string>& argv) {
  RunResult r;
  char out_path[] = "/tmp/grootfs-enosys-out.XXXXXX", err_path[] = "/tmp/grootfs-enosys-err.XXXXXX";
  const int out = mkstemp(out_path), err = mkstemp(err_path);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  for (int nr : enosys) seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out, 1);
    dup2(err, 2);
    if (seccomp_load(ctx) != 0) _exit(126);  // root: no no_new_privs needed, setuid still works
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  seccomp_release(ctx);
  int status = 0;
  waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  close(out);
  close(err);
  unlink(out_path);
  unlink(err_path);
  return r;
}

class KernelFeaturesTest : public GrootfsTest {
 protected:
  std::vector<std::string> Cmd(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{GrootfsBin(), "--store", store_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
};

TEST_F(KernelFeaturesTest, InitStoreRefusesAKernelWithoutWhatTheHelperNeeds) {
  // The refusal is the command's one line on stdout, as every error (Garden's contract).
  auto r = RunWithout({SCMP_SYS(quotactl_fd), SCMP_SYS(fsopen)}, Cmd({"init-store"}));
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_TRUE(IsOneLine(r.out)) << r.Describe();
  EXPECT_NE(r.out.find("quotactl_fd (5.14)"), std::string::npos) << r.Describe();
  EXPECT_NE(r.out.find("the new mount API (5.2)"), std::string::npos) << r.Describe();
  EXPECT_EQ(r.out.find("openat2"), std::string::npos) << r.Describe();  // present: not named
  EXPECT_FALSE(Exists(fs::path(store_) / "meta")) << "a store was made anyway";

  r = RunWithout({SCMP_SYS(openat2)}, Cmd({"init-store"}));
  EXPECT_NE(r.status, 0) << r.Describe();
  EXPECT_NE(r.out.find("openat2 (5.6)"), std::string::npos) << r.Describe();

  r = RunWithout({}, Cmd({"init-store"}));  // the same command on this kernel as it is
  EXPECT_EQ(r.status, 0) << r.Describe();
}

TEST_F(KernelFeaturesTest, WithoutLandlockLayersStillUnpackAndTheDebugLogSaysWhy) {
  InitStore();
  auto r = RunWithout({SCMP_SYS(landlock_create_ruleset)},
                      Cmd({"--log-level", "debug", "create", OciFixture("alpine"), "no-landlock"}));
  ASSERT_EQ(r.status, 0) << r.Describe();
  EXPECT_NE(r.err.find("unpack-without-landlock"), std::string::npos) << r.Describe();
  EXPECT_NE(r.err.find("has no Landlock"), std::string::npos) << r.Describe();
  EXPECT_TRUE(IsOverlayMountedAt(RootfsOf("no-landlock")));
  EXPECT_TRUE(Grootfs(store_, "delete", "no-landlock").ok());
}

}  // namespace
}  // namespace grootfs_it
