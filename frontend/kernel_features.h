// What the running kernel offers that grootfs relies on, asked of the kernel itself (each call
// made with arguments that change nothing), never read off its version number.
#pragma once

#include <string>
#include <vector>

namespace grootfs::frontend {

// The system calls the helper cannot do without and has no fallback for (openat2, the new
// mount API, close_range, quotactl_fd), each named with the Linux version that brought it,
// for those this kernel lacks. Empty on every kernel from 5.15 on.
std::vector<std::string> MissingKernelFeatures();

// Landlock's ABI version (0: none, or disabled). The helper's unpack child confines itself with
// Landlock from ABI 2 (5.19): ABI 1 refuses every link and rename across directories.
int LandlockAbi();

// Once per process, at debug level: that the unpack child runs without Landlock, and why.
void LogLandlockOnce();

}  // namespace grootfs::frontend
