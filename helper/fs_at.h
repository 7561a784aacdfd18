// Runs in: grootfs-helper (privileged). Trusts: nothing; resolves names beneath fds it opened.
#pragma once

#include <linux/openat2.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "ipc/result.h"
#include "ipc/unique_fd.h"
#include "ipc/wire.h"

namespace grootfs::helper {

using ipc::Error;
using ipc::Result;
using ipc::UniqueFd;

// Beneath the directory, no symlink anywhere, no magic link, never onto another mount.
inline constexpr std::uint64_t kStrict =
    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
// The same, but may step onto a mount (to reach a mounted rootfs and unmount it).
inline constexpr std::uint64_t kStrictCrossMounts =
    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

// openat2() relative to dir. `rel` is built by the helper from checked plain names.
// O_CLOEXEC and O_NOFOLLOW are always added. There is no fallback: ENOSYS is an error.
Result<UniqueFd> OpenBeneath(int dir, const std::string& rel, int flags,
                             std::uint64_t resolve = kStrict, mode_t mode = 0);

// "tmp/NAME", "images/NAME" or "layers/NAME" for a name already checked with IsPlainName.
std::string PlacePath(ipc::Area area, const std::string& name);

// "/proc/self/fd/N": the only path string privileged kernel calls ever see.
std::string FdPath(int fd);

// What is left to read from fd, up to a little past `max` bytes.
std::string ReadAll(int fd, std::size_t max);

// Removes everything beneath dir (not dir itself), never following a symlink and never
// crossing onto another mount (EBUSY if one is there). Trees deeper than the fd budget are
// flattened by moving deep directories up to dir, so any depth can be removed.
Result<void> RemoveContents(int dir);

}  // namespace grootfs::helper
