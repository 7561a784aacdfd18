// The seccomp allow lists kill a process that makes a call outside them.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper/seccomp_policy.h"

using grootfs::helper::InstallChildSeccomp;
using grootfs::helper::InstallHelperSeccomp;

namespace {
void ExecTrue() {
  char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
  execve("/bin/true", argv, nullptr);
}
}  // namespace

TEST(SeccompDeathTest, HelperListKillsAnUnlistedCall) {
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
  EXPECT_EXIT(
      {
        InstallHelperSeccomp();
        (void)!write(2, "armed\n", 6);
        ExecTrue();
        _exit(0);
      },
      testing::KilledBySignal(SIGSYS), "armed");
}

TEST(SeccompDeathTest, ChildListKillsNamespacesAndMounts) {
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
