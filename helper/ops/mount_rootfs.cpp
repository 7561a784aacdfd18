// Runs in: grootfs-helper (privileged). Trusts: nothing from the peer.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/mount.h>
#include <unistd.h>

#include <vector>

#include "helper/ops/handlers.h"
#include "helper/ops/store_mounts.h"
#include "helper/privileges.h"

namespace grootfs::helper {
namespace {

// Opens "<place>/<sub>" beneath the store: no symlink, no mount crossed.
Result<UniqueFd> OpenPlaceDir(const Session& s, ipc::Area area, const std::string& name,
                              const char* sub, std::uint64_t resolve = kStrict) {
  return OpenBeneath(s.store(), PlacePath(area, name) + "/" + sub, O_PATH | O_DIRECTORY, resolve);
}

// dirs: the image's rootfs, diff and work, then its layers, topmost first.
// From 6.8: the new mount API, one option per directory (/proc/self/fd/N); attached by fd.
Result<Payload> MountByOptions(const Session& s, std::span<const UniqueFd> dirs) {
  UniqueFd fs(fsopen("overlay", FSOPEN_CLOEXEC));
  if (!fs) return Error::FromErrno("fsopen overlay");
  // The store's tag as the mount's source: how its mounts are counted and found again.
  std::vector<std::pair<const char*, std::string>> options{{"source", s.mount_tag()},
      {"upperdir", FdPath(dirs[1].get())}, {"workdir", FdPath(dirs[2].get())}};
  for (const UniqueFd& l : dirs.subspan(3)) options.emplace_back("lowerdir+", FdPath(l.get()));
  for (const auto& [key, value] : options)
    if (fsconfig(fs.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) != 0)
      return Error::FromErrno(std::string("overlay option ") + key);
  // Layers are unpacked in a user namespace, so whiteouts and opaque dirs use user.overlay.*.
  // volatile: the upper dir is never synced, by the container's fsync or by the unmount (which
  // would otherwise sync the whole filesystem under the store); a crash loses the image anyway.
  if (fsconfig(fs.get(), FSCONFIG_SET_FLAG, "userxattr", nullptr, 0) != 0 ||
      fsconfig(fs.get(), FSCONFIG_SET_FLAG, "volatile", nullptr, 0) != 0 ||
      fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
    return Error::FromErrno("overlay mount");
  UniqueFd mnt(fsmount(fs.get(), FSMOUNT_CLOEXEC,
                       MOUNT_ATTR_NODEV | (s.rootless() ? MOUNT_ATTR_NOSUID : 0)));
  if (!mnt || move_mount(mnt.get(), "", dirs[0].get(), "",
                         MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    return Error::FromErrno("fsmount, move_mount");
  return Payload{};
}

// Before 6.8: one mount(2) option string, which must fit a page (fsconfig takes 255 bytes a
// value). Each directory is named by its fd's number in /proc/self/fd, made the working
// directory for this: at most 4 bytes a layer, so overlay's 500 layers fit in about 2 KiB.
Result<Payload> MountByOptionPage(const Session& s, std::span<const UniqueFd> dirs) {
  auto fds = OpenBeneath(AT_FDCWD, "/proc/self/fd", O_PATH | O_DIRECTORY, RESOLVE_NO_MAGICLINKS);
  if (!fds || fchdir(fds->get()) != 0) return Error{EIO, "cannot enter /proc/self/fd"};
  std::string data = "userxattr,volatile,upperdir=" + std::to_string(dirs[1].get()) +
                     ",workdir=" + std::to_string(dirs[2].get()) + ",lowerdir=";
  for (const UniqueFd& lower : dirs.subspan(3))
    data += std::to_string(lower.get()) + (&lower == &dirs.back() ? "" : ":");
  if (data.size() >= 4096) return Error{E2BIG, "overlay options longer than a page"};
  if (mount(s.mount_tag().c_str(), FdPath(dirs[0].get()).c_str(), "overlay",
            MS_NODEV | (s.rootless() ? MS_NOSUID : 0), data.c_str()) != 0)
    return Error::FromErrno("overlay mount");
  return Payload{};
}

// Does overlay take one layer per option ("lowerdir+", Linux 6.8)? Asked of a context that is
// then dropped, with values that make no kernel log line (overlay logs a lowerdir it cannot
// resolve to the kernel's log; refused options go to the context's own log): before 6.5 the
// legacy option page takes any key, so an unknown flag is taken; 6.5 to 6.7 refuse "lowerdir+";
// from 6.8 it takes "/".
bool OverlayTakesOneLayerPerOption() {
  UniqueFd fs(fsopen("overlay", FSOPEN_CLOEXEC));
  return fs && fsconfig(fs.get(), FSCONFIG_SET_FLAG, "grootfs-probe", nullptr, 0) != 0 &&
         fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", "/", 0) == 0;
}

}  // namespace

// Why this is safe: the image place and every layer key passed IsPlainName; the target, the
// upper, work and every lower directory are opened by the helper beneath the store fd with
// kStrict, and overlay is told about them only as /proc/self/fd/N of those fds (N alone, in
// /proc/self/fd, before 6.8); the mount is nodev always, and nosuid for any store that is not
// root's own; it lands on the target fd, so no path is looked up again after the checks.
Result<Payload> HandleMountRootfs(Session& s, const ipc::Request& req, std::span<UniqueFd>) {
  std::vector<UniqueFd> dirs;  // as the mount functions take them
  for (std::size_t i = 0; i < 3 + req.names.size(); ++i) {
    static constexpr const char* kImageDirs[] = {"rootfs", "diff", "work"};
    auto dir = i < 3 ? OpenPlaceDir(s, req.area, req.name, kImageDirs[i])
                     : OpenPlaceDir(s, ipc::Area::kLayers, req.names[i - 3], "diff");
    if (!dir) return dir.error();
    dirs.push_back(std::move(*dir));
  }
  if (auto room = CheckMountLimit(s); !room) return room.error();

  // The overlay keeps the credentials it is created with and copies up with them: the store
  // owner's file ids (what its work dir and copies are made as) and the file capabilities
  // copy-up needs to keep each file's owner and mode, raised for this block only.
  ScopedFsids owner_fs(s.marker().owner_uid, s.marker().owner_gid);
  ScopedCaps caps{CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_FOWNER, CAP_FSETID};
  return OverlayTakesOneLayerPerOption() ? MountByOptions(s, dirs) : MountByOptionPage(s, dirs);
}

// Why this is safe: the place passed IsPlainName and is opened beneath the store fd without
// following symlinks (crossing onto the mount is the point); only an overlay (what MountRootfs
// makes) sitting exactly there is unmounted, through /proc/self/fd/N of that fd: a mount
// someone else put there is left alone (RemoveTree then stops at it). Nothing mounted is success.
// With kMovedMount, the store's mount whose id is `bytes` is unmounted too, wherever a user
// moved it (store_mounts.cpp).
Result<Payload> HandleUnmountRootfs(Session& s, const ipc::Request& req, std::span<UniqueFd>) {
  if ((req.flags & ipc::kMovedMount) != 0) UnmountMovedMount(s, req.bytes);
  for (;;) {  // a rootfs mounted twice is unmounted twice
    auto rootfs = OpenPlaceDir(s, req.area, req.name, "rootfs", kStrictCrossMounts);
    if (!rootfs) return rootfs.error().code == ENOENT ? Result<Payload>(Payload{}) : rootfs.error();
    struct statfs on {};
    if (fstatfs(rootfs->get(), &on) != 0 || on.f_type != OVERLAYFS_SUPER_MAGIC) return Payload{};
    const std::string path = FdPath(rootfs->get());
    ScopedCaps caps{CAP_SYS_ADMIN};
    // Detached: the fd held here keeps the mount busy, so a plain unmount would always fail.
    if (umount2(path.c_str(), MNT_DETACH) == 0) continue;
    if (errno == EINVAL) return Payload{};  // the fd is a plain directory: nothing mounted there
    return Error::FromErrno("unmount rootfs");
  }
}

}  // namespace grootfs::helper
