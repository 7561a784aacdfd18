// Runs in: grootfs-helper (privileged). Trusts: nothing from the peer.
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/quota.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "helper/ops/handlers.h"
#include "helper/privileges.h"

namespace grootfs::helper {
namespace {

constexpr ino_t kBtrfsSubvolumeTop = 256;  // BTRFS_FIRST_FREE_OBJECTID

struct Place {
  UniqueFd fd;
  long fs_type;
  std::uint32_t project;  // XFS: the directory's inode number is its project id
};

// The image's top directory, opened beneath the store with kStrict; its filesystem and the
// project id that belongs to it. Nothing of the request but the checked place is used.
Result<Place> OpenPlace(const Session& s, const ipc::Request& req) {
  if (req.area == ipc::Area::kLayers) return Error{EINVAL, "a quota is for an image's place only"};
  auto fd = OpenBeneath(s.store(), PlacePath(req.area, req.name), O_RDONLY | O_DIRECTORY);
  if (!fd) return fd.error();
  struct statfs fs {};
  struct stat st {};
  if (fstatfs(fd->get(), &fs) != 0 || fstat(fd->get(), &st) != 0) return Error::FromErrno("stat");
  if (fs.f_type == XFS_SUPER_MAGIC && (st.st_ino == 0 || st.st_ino > UINT32_MAX))
    return Error{EOVERFLOW, "inode number too big for an XFS project id (mount with inode32)"};
  if (fs.f_type == BTRFS_SUPER_MAGIC && st.st_ino != kBtrfsSubvolumeTop)
    return Error{EINVAL, "the image directory is not a btrfs subvolume"};
  if (fs.f_type != XFS_SUPER_MAGIC && fs.f_type != BTRFS_SUPER_MAGIC)
    return Error{ENOTSUP, "the store's filesystem has no quotas (use XFS or btrfs)"};
  return Place{std::move(*fd), static_cast<long>(fs.f_type), static_cast<std::uint32_t>(st.st_ino)};
}

Result<fs_disk_quota> XfsQuota(const Place& p, int cmd, fs_disk_quota q = {}) {
  ScopedCaps caps{CAP_SYS_ADMIN};
  if (syscall(SYS_quotactl_fd, p.fd.get(), QCMD(cmd, PRJQUOTA), p.project, &q) == 0) return q;
  if (errno == ENOSYS || errno == ESRCH || errno == ENOTSUP)
    return Error{errno, "the store's XFS has no project quotas (mount it with pquota)"};
  return Error::FromErrno("XFS project quota");
}

// The directory joins project p.project, its new entries inherit it, and the project gets
// the limit. A project id already holding files elsewhere is refused, never shared.
Result<Payload> SetXfsQuota(const Place& p, std::uint64_t bytes) {
  auto used = XfsQuota(p, Q_XGETQUOTA);
  if (!used && used.error().code != ENOENT) return used.error();
  if (used && used->d_icount > 0) return Error{EEXIST, "the XFS project id is in use elsewhere"};
  fsxattr attr{};
  if (ioctl(p.fd.get(), FS_IOC_FSGETXATTR, &attr) != 0) return Error::FromErrno("get project");
  attr.fsx_projid = p.project;
  attr.fsx_xflags |= FS_XFLAG_PROJINHERIT;
  if (ScopedCaps caps{CAP_FOWNER}; ioctl(p.fd.get(), FS_IOC_FSSETXATTR, &attr) != 0)
    return Error::FromErrno("set project");  // CAP_FOWNER was raised for this call only
  fs_disk_quota q{};
  q.d_version = FS_DQUOT_VERSION;
  q.d_flags = FS_PROJ_QUOTA;
  q.d_fieldmask = FS_DQ_BHARD;
  q.d_id = p.project;
  q.d_blk_hardlimit = BasicBlocks(bytes);
  if (auto r = XfsQuota(p, Q_XSETQLIM, q); !r) return r.error();
  return Payload{};
}

}  // namespace

// Why this is safe: the place is opened beneath the store with kStrict; the quota is set on
// what the helper derives from that fd (its inode number as XFS project id, its own btrfs
// qgroup), never on an id from the request; CAP_SYS_ADMIN and CAP_FOWNER are raised for the
// quota calls alone, and seccomp lets ioctl through for these three commands only.
Result<Payload> HandleSetQuota(Session& s, const ipc::Request& req, std::span<UniqueFd>) {
  auto place = OpenPlace(s, req);
  if (!place) return place.error();
  if (place->fs_type == XFS_SUPER_MAGIC) return SetXfsQuota(*place, req.bytes);
  if (req.bytes == 0) return Payload{};  // a subvolume's qgroup accounts by itself
  btrfs_ioctl_qgroup_limit_args args{};  // qgroupid 0: the fd's own subvolume
  args.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER;
  args.lim.max_rfer = req.bytes;
  ScopedCaps caps{CAP_SYS_ADMIN};
  if (ioctl(place->fd.get(), BTRFS_IOC_QGROUP_LIMIT, &args) != 0)
    return Error::FromErrno("btrfs qgroup limit (are quotas enabled?)");
  return Payload{};
}

// Why this is safe: as SetQuota; it reads the usage of the project the place's own inode
// number names, and only if the place belongs to it.
Result<Payload> HandleReadQuota(Session& s, const ipc::Request& req, std::span<UniqueFd>) {
  auto place = OpenPlace(s, req);
  if (!place) return place.error();
  fsxattr attr{};
  if (place->fs_type != XFS_SUPER_MAGIC || ioctl(place->fd.get(), FS_IOC_FSGETXATTR, &attr) != 0 ||
      attr.fsx_projid != place->project)
    return Error{ENOTSUP, "the image has no XFS project quota"};
  auto q = XfsQuota(*place, Q_XGETQUOTA);
  if (!q) return q.error();
  return ipc::Encode(ipc::CountReply{q->d_bcount * 512, 0});
}

}  // namespace grootfs::helper
