// Runs in: the build (grootfs-seccomp-gen), never in the helper: the helper installs the BPF
// compiled here (seccomp_install.cpp), so it neither links nor runs libseccomp. Trusts: nothing.
//
// The allow lists as data, grouped by what needs each call. Default: kill the process.
#include "helper/seccomp_policy.h"

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "helper/userns.h"

// Sanitizer builds define it as SCMP_ACT_LOG (top-level CMakeLists.txt): their runtimes make
// calls no list allows. Every other build kills.
#ifndef GROOTFS_SECCOMP_DEFAULT
#define GROOTFS_SECCOMP_DEFAULT SCMP_ACT_KILL_PROCESS
#endif

namespace grootfs::helper {
namespace {

// Both: memory, fds, reading and writing what is already open, ending.
constexpr int kCommon[] = {
    SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(mprotect),
    SCMP_SYS(madvise), SCMP_SYS(futex), SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(close),
    SCMP_SYS(fcntl), SCMP_SYS(lseek), SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(getpid),
    SCMP_SYS(gettid), SCMP_SYS(rt_sigprocmask), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
    // grootfs-unpack's start (static: no library to open); execveat itself in Install.
    SCMP_SYS(arch_prctl), SCMP_SYS(set_tid_address), SCMP_SYS(getrandom),
    // Names beneath fds (fs_at.cpp): openat2 only; stat and directory listing.
    SCMP_SYS(openat2), SCMP_SYS(newfstatat), SCMP_SYS(fstat), SCMP_SYS(statx), SCMP_SYS(getdents64),
    // UnpackLayer and RemoveTree work (unpack.cpp, fs_at.cpp), done in the children.
    SCMP_SYS(mkdirat), SCMP_SYS(unlinkat), SCMP_SYS(renameat), SCMP_SYS(renameat2),
    SCMP_SYS(symlinkat), SCMP_SYS(linkat), SCMP_SYS(mknodat), SCMP_SYS(fchown), SCMP_SYS(fchownat),
    SCMP_SYS(fchmod), SCMP_SYS(fchmodat), SCMP_SYS(fsetxattr), SCMP_SYS(utimensat),
    SCMP_SYS(pwrite64), SCMP_SYS(pread64), SCMP_SYS(ftruncate),
    // Reading a lower layer's directory for one the layer implies (unpack.cpp, Implied).
    SCMP_SYS(flistxattr), SCMP_SYS(fgetxattr)};

// The helper only.
constexpr int kHelperOnly[] = {
    // The channel.
    SCMP_SYS(recvmsg), SCMP_SYS(sendmsg),
    // Capabilities raised per call and file ids (privileges.cpp).
    SCMP_SYS(capget), SCMP_SYS(capset), SCMP_SYS(prctl), SCMP_SYS(setfsuid), SCMP_SYS(setfsgid),
    SCMP_SYS(getuid), SCMP_SYS(getgid), SCMP_SYS(geteuid),
    // The user-namespace children (userns.cpp): fork, sync socket, maps, becoming ns root,
    // confining themselves; the peer watched while they work, their parent checked.
    SCMP_SYS(clone), SCMP_SYS(wait4), SCMP_SYS(poll), SCMP_SYS(getppid), SCMP_SYS(socketpair),
    SCMP_SYS(unshare), SCMP_SYS(setresuid), SCMP_SYS(setresgid), SCMP_SYS(setgroups),
    SCMP_SYS(seccomp), SCMP_SYS(landlock_create_ruleset), SCMP_SYS(landlock_add_rule),
    SCMP_SYS(landlock_restrict_self),
    // MountRootfs and UnmountRootfs (mount_rootfs.cpp); mount and fchdir before Linux 6.8.
    SCMP_SYS(fsopen), SCMP_SYS(fsconfig), SCMP_SYS(fsmount), SCMP_SYS(move_mount),
    SCMP_SYS(umount2), SCMP_SYS(mount), SCMP_SYS(fchdir),
    // SetQuota and ReadQuota (quota.cpp); ioctl for kQuotaIoctls only.
    SCMP_SYS(fstatfs), SCMP_SYS(quotactl_fd)};
constexpr unsigned long kQuotaIoctls[] = {FS_IOC_FSGETXATTR, FS_IOC_FSSETXATTR,
                                          BTRFS_IOC_QGROUP_LIMIT};

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "grootfs-seccomp-gen: %s failed\n", what);
  std::exit(1);
}

std::vector<sock_filter> Compile(std::span<const int> a, std::span<const int> b,
                                 std::span<const unsigned long> ioctls) {
  scmp_filter_ctx ctx = seccomp_init(GROOTFS_SECCOMP_DEFAULT);
  if (ctx == nullptr) Fail("seccomp_init");
  for (std::span<const int> list : {a, b})
    for (int nr : list)
      if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0) Fail("seccomp_rule_add");
  for (unsigned long cmd : ioctls) {
    const scmp_arg_cmp is_cmd{1, SCMP_CMP_EQ, cmd, 0};  // arg 1 of ioctl, all 64 bits
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, is_cmd) != 0)
      Fail("seccomp_rule_add");
  }
  // Only grootfs-unpack, by the fd the helper opened at start (helper/userns.h), is executed.
  const scmp_arg_cmp exec[] = {{0, SCMP_CMP_EQ, kUnpackerFd, 0},
                               {4, SCMP_CMP_EQ, AT_EMPTY_PATH, 0}};
  if (seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(execveat), 2, exec) != 0)
    Fail("seccomp_rule_add");
  // libc may probe with these; a quiet refusal keeps it on its fallback path.
  for (int nr : {SCMP_SYS(openat), SCMP_SYS(open), SCMP_SYS(clone3), SCMP_SYS(readlink),
                 SCMP_SYS(prlimit64)})
    if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0) != 0) Fail("seccomp_rule_add");
  // libseccomp 2.5 exports only to an fd.
  const int fd = memfd_create("seccomp", MFD_CLOEXEC);
  std::vector<sock_filter> bpf(4096);
  const ssize_t n =
      fd < 0 || seccomp_export_bpf(ctx, fd) != 0 ? -1 : pread(fd, bpf.data(), bpf.size() * 8, 0);
  if (n <= 0 || n % 8 != 0 || static_cast<std::size_t>(n) == bpf.size() * 8) Fail("export");
  bpf.resize(static_cast<std::size_t>(n) / 8);
  seccomp_release(ctx);
  close(fd);
  return bpf;
}

}  // namespace

std::vector<sock_filter> CompileHelperFilter() {
  return Compile(kCommon, kHelperOnly, kQuotaIoctls);
}

std::vector<sock_filter> CompileChildFilter() { return Compile(kCommon, {}, {}); }

}  // namespace grootfs::helper
