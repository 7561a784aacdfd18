// The seccomp allow lists kill a process that makes a call outside them.
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <seccomp.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper/seccomp_policy.h"

using grootfs::helper::InstallChildSeccomp;
using grootfs::helper::InstallHelperSeccomp;

namespace {
// Sanitizer builds only log unlisted calls (GROOTFS_SECCOMP_DEFAULT, set in the top-level
// CMakeLists.txt): there is nothing to kill there.
#ifdef GROOTFS_SECCOMP_DEFAULT
constexpr bool kOnlyLogs = GROOTFS_SECCOMP_DEFAULT != SCMP_ACT_KILL_PROCESS;
#else
constexpr bool kOnlyLogs = false;
#endif

void ExecTrue() {
  char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
  execve("/bin/true", argv, nullptr);
}
}  // namespace

TEST(SeccompDeathTest, HelperListKillsAnUnlistedCall) {
  if (kOnlyLogs) GTEST_SKIP() << "sanitizer build: unlisted calls are only logged";
  EXPECT_EXIT(
      {
        InstallHelperSeccomp();
        (void)!write(2, "armed\n", 6);  // the kill below is the ptrace call, not an earlier one
        syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
        _exit(0);
      },
      testing::KilledBySignal(SIGSYS), "armed");
}

TEST(SeccompDeathTest, HelperListKillsExecve) {
  if (kOnlyLogs) GTEST_SKIP() << "sanitizer build: unlisted calls are only logged";
  EXPECT_EXIT(
      {
        InstallHelperSeccomp();
        (void)!write(2, "armed\n", 6);
        ExecTrue();
        _exit(0);
      },
      testing::KilledBySignal(SIGSYS), "armed");
}

TEST(SeccompDeathTest, HelperListAllowsOnlyTheQuotaIoctls) {
  if (kOnlyLogs) GTEST_SKIP() << "sanitizer build: unlisted calls are only logged";
  EXPECT_EXIT(
      {
        InstallHelperSeccomp();
        fsxattr attr{};
        (void)ioctl(2, FS_IOC_FSGETXATTR, &attr);  // listed: fails on a tty or pipe, not killed
        (void)!write(2, "armed\n", 6);
        winsize size{};
        (void)ioctl(2, TIOCGWINSZ, &size);
        _exit(0);
      },
      testing::KilledBySignal(SIGSYS), "armed");
}

TEST(SeccompDeathTest, ChildListKillsNamespacesAndMounts) {
  if (kOnlyLogs) GTEST_SKIP() << "sanitizer build: unlisted calls are only logged";
  EXPECT_EXIT(
      {
        InstallHelperSeccomp();
        InstallChildSeccomp();
        (void)!write(2, "armed\n", 6);
        unshare(CLONE_NEWUSER);  // allowed to the helper, not to its children
        _exit(0);
      },
      testing::KilledBySignal(SIGSYS), "armed");
}

TEST(SeccompDeathTest, ListedCallsStillWork) {
  EXPECT_EXIT(
      {
        InstallHelperSeccomp();
        InstallChildSeccomp();
        (void)!write(2, "alive\n", 6);
        _exit(7);
      },
      testing::ExitedWithCode(7), "alive");
}
