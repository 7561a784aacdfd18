// Disk quotas of a store, as the frontend sees them. Nothing here needs privilege.
#include "frontend/store/quota.h"

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "frontend/util/error.h"
#include "ipc/unique_fd.h"

namespace grootfs::frontend::store {
namespace {

ipc::UniqueFd OpenDir(const std::string& path) {
  ipc::UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw Error("cannot open " + path + ": " + std::strerror(errno));
  return fd;
}

// /sys/fs/btrfs/<fsid>: what the kernel publishes about the filesystem holding fd.
std::string BtrfsSysfsDir(int fd) {
  btrfs_ioctl_fs_info_args info{};
  if (ioctl(fd, BTRFS_IOC_FS_INFO, &info) != 0) return "";
  char uuid[37];
  const unsigned char* u = info.fsid;
  std::snprintf(uuid, sizeof uuid,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
                u[15]);
  return std::string("/sys/fs/btrfs/") + uuid;
}

}  // namespace

std::string_view QuotaBackendName(QuotaBackend b) {
  switch (b) {
    case QuotaBackend::kXfs:
      return "xfs";
    case QuotaBackend::kBtrfs:
      return "btrfs";
    case QuotaBackend::kNone:
      break;
  }
  return "none";
}

QuotaBackend ParseQuotaBackend(std::string_view name) {
  if (name == "xfs") return QuotaBackend::kXfs;
  if (name == "btrfs") return QuotaBackend::kBtrfs;
  return QuotaBackend::kNone;
}

QuotaBackend DetectQuotaBackend(const std::string& dir) {
  struct statfs fs {};
  if (statfs(dir.c_str(), &fs) != 0) return QuotaBackend::kNone;
  if (fs.f_type == XFS_SUPER_MAGIC) return QuotaBackend::kXfs;
  if (fs.f_type != BTRFS_SUPER_MAGIC) return QuotaBackend::kNone;
  const std::string sysfs = BtrfsSysfsDir(OpenDir(dir).get());
  struct stat st {};
  return !sysfs.empty() && stat((sysfs + "/qgroups").c_str(), &st) == 0 ? QuotaBackend::kBtrfs
                                                                        : QuotaBackend::kNone;
}

void MakeSubvolume(const std::string& parent, const std::string& name, const Owner& owner) {
  const ipc::UniqueFd dir = OpenDir(parent);
  btrfs_ioctl_vol_args args{};
  if (name.size() >= sizeof args.name) throw Error("subvolume name too long: " + name);
  std::memcpy(args.name, name.c_str(), name.size() + 1);
  if (ioctl(dir.get(), BTRFS_IOC_SUBVOL_CREATE, &args) != 0)
    throw Error("cannot make btrfs subvolume " + parent + "/" + name + ": " + std::strerror(errno));
  if (geteuid() == 0 && (owner.uid != 0 || owner.gid != 0) &&
      fchownat(dir.get(), name.c_str(), owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0)
    throw Error("cannot chown " + parent + "/" + name + ": " + std::strerror(errno));
}

std::uint64_t BtrfsReferencedBytes(const std::string& path) {
  const ipc::UniqueFd fd = OpenDir(path);
  btrfs_ioctl_ino_lookup_args lookup{};  // treeid 0 and the top inode: the fd's subvolume id
  lookup.objectid = 256;
  if (ioctl(fd.get(), BTRFS_IOC_INO_LOOKUP, &lookup) != 0)
    throw Error("cannot find the btrfs subvolume of " + path + ": " + std::strerror(errno));
  (void)syncfs(fd.get());
  const std::string file =
      BtrfsSysfsDir(fd.get()) + "/qgroups/0_" + std::to_string(lookup.treeid) + "/referenced";
  std::FILE* f = std::fopen(file.c_str(), "re");
  unsigned long long bytes = 0;
  const bool read = f != nullptr && std::fscanf(f, "%llu", &bytes) == 1;
  if (f != nullptr) std::fclose(f);
  if (!read) throw Error("cannot read btrfs quota usage from " + file);
  return bytes;
}

std::uint64_t FilesystemUsedBytes(const std::string& path) {
  struct statvfs vfs {};
  if (statvfs(path.c_str(), &vfs) != 0)
    throw Error("cannot read the filesystem of " + path + ": " + std::strerror(errno));
  return static_cast<std::uint64_t>(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
}

}  // namespace grootfs::frontend::store
