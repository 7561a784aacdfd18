// Runs in: grootfs-helper (privileged). Trusts: the kernel's mount table; nothing from the peer
// nor from the paths a user may have moved a mount to.
#include "helper/ops/store_mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "helper/privileges.h"

namespace grootfs::helper {
namespace {

using Mounts = std::vector<std::pair<std::uint64_t, std::string>>;  // mount id, mount point

// The mount point (5th field) of a mountinfo line, its escapes (\040 for a space) decoded: the
// kernel writes every escape as a backslash and three octal digits.
std::string MountPoint(std::string_view line) {
  for (int n = 0; n < 4; ++n) line.remove_prefix(std::min(line.size(), line.find(' ') + 1));
  std::string out;
  for (std::size_t i = 0; i < line.size() && line[i] != ' '; ++i) {
    const bool escape = line[i] == '\\' && i + 3 < line.size();
    const std::string octal(escape ? line.substr(i + 1, 3) : "");
    out += escape ? static_cast<char>(std::strtol(octal.c_str(), nullptr, 8)) : line[i];
    i += escape ? 3 : 0;
  }
  return out;
}

// The overlay mounts carrying this store's tag, wherever they are now (this mount namespace).
Result<Mounts> StoreMounts(const Session& s) {
  auto fd = OpenBeneath(AT_FDCWD, "/proc/" + std::to_string(getpid()) + "/mountinfo", O_RDONLY,
                        RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (!fd) return fd.error();
  const std::string text = ReadAll(fd->get(), 64 << 20), want = " - overlay " + s.mount_tag() + " ";
  Mounts mounts;
  for (std::size_t start = 0, nl; start < text.size(); start = nl + 1) {
    nl = std::min(text.find('\n', start), text.size());
    const std::string_view line(text.data() + start, nl - start);
    if (line.find(want) != std::string_view::npos)
      mounts.emplace_back(std::strtoull(line.data(), nullptr, 10), MountPoint(line));
  }
  return mounts;
}

// Opens a path of any length (a mount point a user moved deep) one component at a time,
// following no symlink.
Result<UniqueFd> OpenLongPath(const std::string& path) {
  auto fd = OpenBeneath(AT_FDCWD, "/", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
  for (std::size_t at = 1, end; fd && at < path.size(); at = end + 1) {
    end = std::min(path.find('/', at), path.size());
    fd = OpenBeneath(fd->get(), path.substr(at, end - at), O_PATH | O_DIRECTORY,
                     RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  }
  return fd;
}

// Where the store's mount with this id is now, if the store has one with it.
std::optional<std::string> MountPointOf(const Session& s, std::uint64_t id) {
  auto mounts = StoreMounts(s);
  for (const auto& [mount_id, point] : mounts ? *mounts : Mounts{})
    if (mount_id == id) return point;
  return std::nullopt;
}

}  // namespace

Result<void> CheckMountLimit(const Session& s) {
  const std::uint32_t limit = s.marker().mount_limit;
  auto mounts = StoreMounts(s);
  if (!mounts) return mounts.error();  // no count, no mount
  if (mounts->size() < limit) return {};
  return Error{EDQUOT, "the store already holds its limit of " + std::to_string(limit) +
                           " rootfs mounts (mountlimit in the store marker)"};
}

void UnmountMovedMount(const Session& s, std::uint64_t id) {
  // The path is only a hint: what is unmounted is the mount with this id, checked on the fd,
  // which must be that mount's root and, pinned by the fd (so its id cannot pass to another
  // mount), still carry the store's tag.
  const auto point = MountPointOf(s, id);
  auto fd = point ? OpenLongPath(*point) : Error{ENOENT, "not a mount of the store"};
  struct statx sx {};
  if (!fd || statx(fd->get(), "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) != 0 || sx.stx_mnt_id != id ||
      (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) == 0 || !MountPointOf(s, id))
    return;
  ScopedCaps caps{CAP_SYS_ADMIN};
  (void)umount2(FdPath(fd->get()).c_str(), MNT_DETACH);
}

}  // namespace grootfs::helper
