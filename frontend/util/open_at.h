// openat2 for the frontend's own lookups in directories a store's owner can change.
#pragma once

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "ipc/unique_fd.h"

namespace grootfs::frontend {

// Opens `path` relative to `dir` (AT_FDCWD for an absolute path) with O_CLOEXEC added,
// following no symlink and no magic link anywhere, plus any extra RESOLVE_* flags (for
// example RESOLVE_BENEATH). An invalid fd, with errno set, on failure.
inline ipc::UniqueFd OpenNoSymlinks(int dir, const std::string& path, int flags,
                                    std::uint64_t extra_resolve = 0) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | extra_resolve;
  return ipc::UniqueFd(static_cast<int>(syscall(SYS_openat2, dir, path.c_str(), &how, sizeof how)));
}

}  // namespace grootfs::frontend
