// Runs in: grootfs (unprivileged). Probes the kernel with calls that change nothing.
#include "frontend/kernel_features.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "frontend/log.h"

namespace grootfs::frontend {
namespace {

// Whether the kernel knows the call: ENOSYS is the only answer that means it does not.
bool Known(long result) { return result >= 0 || errno != ENOSYS; }

bool HasOpenat2() {
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  const long fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
  if (fd >= 0) close(static_cast<int>(fd));
  return Known(fd);
}

}  // namespace

std::vector<std::string> MissingKernelFeatures() {
  std::vector<std::string> missing;
  // fsopen with no name: EFAULT (or EPERM without CAP_SYS_ADMIN); nothing is opened.
  if (!Known(syscall(SYS_fsopen, nullptr, 0))) missing.push_back("the new mount API (5.2)");
  if (!HasOpenat2()) missing.push_back("openat2 (5.6)");
  // An empty range (first > every fd): closes nothing.
  if (!Known(syscall(SYS_close_range, ~0U - 1, ~0U - 1, 0))) missing.push_back("close_range (5.9)");
  // No fd: EBADF.
  if (!Known(syscall(SYS_quotactl_fd, -1, 0, 0, nullptr))) missing.push_back("quotactl_fd (5.14)");
  return missing;
}

int LandlockAbi() {
  const long abi =
      syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi > 0 ? static_cast<int>(abi) : 0;
}

void LogLandlockOnce() {
  static const bool logged = [] {
    if (const int abi = LandlockAbi(); abi < 2)
      Logger::Get().Debug("unpack-without-landlock",
                          {{"landlock_abi", abi},
                           {"reason", abi == 0 ? "this kernel has no Landlock, or it is disabled"
                                               : "Landlock ABI 1 (before Linux 5.19) refuses the "
                                                 "links and renames across directories a layer "
                                                 "needs"}});
    return true;
  }();
  (void)logged;
}

}  // namespace grootfs::frontend
