// Runs in: grootfs-helper (privileged). Trusts: the kernel's mount table; nothing from the peer
// nor from the paths a user may have moved a mount to.
#include "helper/ops/store_mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "helper/privileges.h"

namespace grootfs::helper {
namespace {

struct TaggedMount {
  std::uint64_t id;
  std::string point;
};

// The mount point (5th field) of a mountinfo line, its escapes (\040 for a space) decoded: the
// kernel writes every escape as a backslash and three octal digits.
std::string MountPoint(std::string_view line) {
  for (int n = 0; n < 4; ++n) line.remove_prefix(std::min(line.size(), line.find(' ') + 1));
  std::string out;
  for (std::size_t i = 0; i < line.size() && line[i] != ' '; ++i) {
    const bool escape = line[i] == '\\' && i + 3 < line.size();
    out += escape ? static_cast<char>(std::strtol(std::string(line.substr(i + 1, 3)).c_str(), nullptr, 8)) : line[i];
    i += escape ? 3 : 0;
  }
  return out;
}

// The overlay mounts carrying this store's tag, wherever they are now (this mount namespace).
Result<std::vector<TaggedMount>> StoreMounts(const Session& s) {
  std::vector<TaggedMount> mounts;
  auto fd = OpenBeneath(AT_FDCWD, "/proc/" + std::to_string(getpid()) + "/mountinfo", O_RDONLY,
                        RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (!fd) return fd.error();
  std::string text;
  char buf[65536];
  for (ssize_t n; text.size() < (64u << 20) && (n = read(fd->get(), buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  const std::string want = " - overlay " + s.mount_tag() + " ";
  for (std::size_t start = 0, nl; start < text.size(); start = nl + 1) {
    nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    const std::string_view line(text.data() + start, nl - start);
    if (line.find(want) == std::string_view::npos) continue;
    mounts.push_back({std::strtoull(line.data(), nullptr, 10), MountPoint(line)});
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

bool Tagged(const Session& s, std::uint64_t id) {
  auto now = StoreMounts(s);
  return now && std::any_of(now->begin(), now->end(), [&](const TaggedMount& m) { return m.id == id; });
}

// Whether the mount is the rootfs of an image's place in this store: its mount point's
// grandparent is the store's images/ or tmp/ directory (compared by identity, not by name).
bool AtAPlace(const Session& s, int mnt) {
  auto up = OpenBeneath(mnt, "../..", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  struct stat st {}, area {};
  if (!up || fstat(up->get(), &st) != 0) return false;
  for (const char* name : {"images", "tmp"}) {
    auto dir = OpenBeneath(s.store(), name, O_PATH | O_DIRECTORY);
    if (dir && fstat(dir->get(), &area) == 0 && area.st_dev == st.st_dev && area.st_ino == st.st_ino)
      return true;
  }
  return false;
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

void UnmountMovedMounts(const Session& s) {
  auto mounts = StoreMounts(s);
  for (const TaggedMount& m : mounts ? *mounts : std::vector<TaggedMount>{}) {
    // The path is only a hint: what is unmounted is the mount whose id the kernel listed,
    // checked on the fd, which must be that mount's root and, pinned by the fd (so its id
    // cannot pass to another mount), still carry the store's tag.
    auto fd = OpenLongPath(m.point);
    struct statx sx {};
    if (!fd || statx(fd->get(), "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) != 0 || sx.stx_mnt_id != m.id ||
        (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) == 0 || !Tagged(s, m.id) || AtAPlace(s, fd->get()))
      continue;
    ScopedCaps caps{CAP_SYS_ADMIN};
    (void)umount2(FdPath(fd->get()).c_str(), MNT_DETACH);
  }
}

}  // namespace grootfs::helper
