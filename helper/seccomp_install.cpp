// Runs in: grootfs-helper (privileged), and its unpack and removal children. Trusts: nothing.
// Installs the filters the build compiled from seccomp_policy.cpp's allow lists.
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <span>

#include "helper/die.h"
#include "helper/seccomp_filters.h"  // generated at build time: kHelperFilter, kChildFilter
#include "helper/seccomp_policy.h"

namespace grootfs::helper {
namespace {

void Install(std::span<const sock_filter> bpf) {
  const sock_fprog prog{static_cast<unsigned short>(bpf.size()),
                        const_cast<sock_filter*>(bpf.data())};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
    Die("seccomp failed", kExitSetup);
}

}  // namespace

void InstallHelperSeccomp() { Install(kHelperFilter); }

void InstallChildSeccomp() { Install(kChildFilter); }

}  // namespace grootfs::helper
