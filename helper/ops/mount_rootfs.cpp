// Runs in: grootfs-helper (privileged). Trusts: nothing from the peer.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/mount.h>
#include <unistd.h>

#include "helper/ops/handlers.h"
#include "helper/ops/store_mounts.h"
#include "helper/privileges.h"

namespace grootfs::helper {
namespace {

Result<void> SetString(int fs, const char* key, const std::string& value) {
  if (fsconfig(fs, FSCONFIG_SET_STRING, key, value.c_str(), 0) != 0)
    return Error::FromErrno(std::string("overlay option ") + key);
  return {};
}

// Opens "<place>/<sub>" beneath the store: no symlink, no mount crossed.
Result<UniqueFd> OpenPlaceDir(const Session& s, ipc::Area area, const std::string& name,
                              const char* sub, std::uint64_t resolve = kStrict) {
  return OpenBeneath(s.store(), PlacePath(area, name) + "/" + sub, O_PATH | O_DIRECTORY, resolve);
}

}  // namespace

// Why this is safe: the image place and every layer key passed IsPlainName; the target, the
// upper, work and every lower directory are opened by the helper beneath the store fd with
// kStrict, and the overlay is told about them only as /proc/self/fd/N of those fds; the mount
// is nodev always, and nosuid for any store that is not root's own; it lands on the target fd
// with move_mount, so no path is looked up again after the checks.
Result<Payload> HandleMountRootfs(Session& s, const ipc::Request& req, std::span<UniqueFd>) {
  auto target = OpenPlaceDir(s, req.area, req.name, "rootfs");
  auto upper = OpenPlaceDir(s, req.area, req.name, "diff");
  auto work = OpenPlaceDir(s, req.area, req.name, "work");
  for (const Result<UniqueFd>* dir : {&target, &upper, &work})
    if (!*dir) return dir->error();
  if (auto room = CheckMountLimit(s); !room) return room.error();

  // The overlay keeps the credentials it is created with and copies up with them: the store
  // owner's file ids (what its work dir and copies are made as) and the file capabilities
  // copy-up needs to keep each file's owner and mode, raised for this block only.
  ScopedFsids owner_fs(s.marker().owner_uid, s.marker().owner_gid);
  ScopedCaps caps{CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_FOWNER, CAP_FSETID};
  UniqueFd fs(fsopen("overlay", FSOPEN_CLOEXEC));
  if (!fs) return Error::FromErrno("fsopen overlay");
  // The store's tag as the mount's source: how its mounts are counted and found again.
  if (auto r = SetString(fs.get(), "source", s.mount_tag()); !r) return r.error();
  for (const std::string& key : req.names) {
    // One layer per call, topmost first: no option string to outgrow, up to overlay's limit.
    auto lower = OpenPlaceDir(s, ipc::Area::kLayers, key, "diff");
    if (!lower) return lower.error();
    if (auto r = SetString(fs.get(), "lowerdir+", FdPath(lower->get())); !r) return r.error();
  }
  if (auto r = SetString(fs.get(), "upperdir", FdPath(upper->get())); !r) return r.error();
  if (auto r = SetString(fs.get(), "workdir", FdPath(work->get())); !r) return r.error();
  // Layers are unpacked in a user namespace, so whiteouts and opaque dirs use user.overlay.*.
  if (fsconfig(fs.get(), FSCONFIG_SET_FLAG, "userxattr", nullptr, 0) != 0)
    return Error::FromErrno("overlay option userxattr");
  if (fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
    return Error::FromErrno("overlay mount");
  const unsigned attrs = MOUNT_ATTR_NODEV | (s.rootless() ? MOUNT_ATTR_NOSUID : 0u);
  UniqueFd mnt(fsmount(fs.get(), FSMOUNT_CLOEXEC, attrs));
  if (!mnt) return Error::FromErrno("fsmount");
  if (move_mount(mnt.get(), "", target->get(), "",
                 MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    return Error::FromErrno("move_mount");
  return Payload{};
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
    if (umount2(path.c_str(), 0) == 0) continue;
    if (errno == EINVAL) return Payload{};  // the fd is a plain directory: nothing mounted there
    if (errno != EBUSY || umount2(path.c_str(), MNT_DETACH) != 0)
      return Error::FromErrno("unmount rootfs");
  }
}

}  // namespace grootfs::helper
