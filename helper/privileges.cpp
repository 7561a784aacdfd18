// Runs in: grootfs-helper (privileged). Trusts: nothing.
#include "helper/privileges.h"

#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>

#include "helper/die.h"

namespace grootfs::helper {
namespace {

// What the requests need, and why:
//   CAP_SYS_ADMIN     MountRootfs, UnmountRootfs: fsopen/fsmount/move_mount/umount2, mount;
//                     SetQuota, ReadQuota: quotactl_fd, the btrfs qgroup limit ioctl
//   CAP_SETUID/SETGID UnpackLayer, RemoveTree: write the child's uid_map/gid_map
//   CAP_SETFCAP       the same, for a root store, whose identity map includes host root
//   CAP_DAC_OVERRIDE  open the child's /proc/PID/{uid,gid}_map, which root owns; and, with
//   CAP_CHOWN, CAP_FOWNER, CAP_FSETID: the overlay mounter's credentials, which overlay keeps
//   and uses for every copy-up into the upper dir (MountRootfs only); CAP_FOWNER also for
//   SetQuota's FS_IOC_FSSETXATTR (an image directory's XFS project id)
constexpr cap_value_t kKeep[] = {CAP_SYS_ADMIN,    CAP_SETUID, CAP_SETGID, CAP_SETFCAP,
                                 CAP_DAC_OVERRIDE, CAP_CHOWN,  CAP_FOWNER, CAP_FSETID};
// A root caller's file access: what it could do without the helper anyway.
constexpr cap_value_t kRootCallerEffective[] = {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH};

}  // namespace

void SetFsids(uid_t uid, gid_t gid);  // below ScopedCaps, which it uses

void CheckInvocation() {
  cap_t caps = cap_get_proc();
  cap_flag_value_t admin = CAP_CLEAR;
  if (caps == nullptr || cap_get_flag(caps, CAP_SYS_ADMIN, CAP_PERMITTED, &admin) != 0)
    Die("cannot read capabilities", kExitSetup);
  cap_free(caps);
  if (admin != CAP_SET)
    Die("grootfs-helper must be installed setuid root or with file capabilities", kExitSetup);
}

void TrimCapabilities() {
  const bool root_caller = getuid() == 0;
  // The bounding set first. It needs CAP_SETPCAP, which only the setuid-root mode has: there a
  // failure (an AppArmor profile without setpcap, say) is fatal, never silently skipped.
  for (cap_value_t c = 0; c <= CAP_LAST_CAP; ++c)
    if (std::ranges::count(kKeep, c) == 0 && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 &&
        geteuid() == 0)
      Die("cannot drop the bounding set", kExitSetup);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    Die("cannot clear ambient capabilities", kExitSetup);
  cap_t caps = cap_init();  // everything clear
  if (caps == nullptr || cap_set_flag(caps, CAP_PERMITTED, std::size(kKeep), kKeep, CAP_SET) != 0 ||
      (root_caller && cap_set_flag(caps, CAP_PERMITTED, std::size(kRootCallerEffective),
                                   kRootCallerEffective, CAP_SET) != 0) ||
      (root_caller && cap_set_flag(caps, CAP_EFFECTIVE, std::size(kRootCallerEffective),
                                   kRootCallerEffective, CAP_SET) != 0) ||
      cap_set_proc(caps) != 0)
    Die("cannot trim capabilities", kExitSetup);
  cap_free(caps);
  // File access as the caller: the helper opens nothing the caller could not open.
  SetFsids(getuid(), getgid());
}

ScopedCaps::ScopedCaps(std::initializer_list<cap_value_t> caps) {
  cap_t state = cap_get_proc();
  if (state == nullptr) Die("cannot read capabilities", kExitInvariant);
  for (cap_value_t c : caps) {
    cap_flag_value_t on = CAP_CLEAR;
    if (cap_get_flag(state, c, CAP_EFFECTIVE, &on) != 0 || count_ >= 8)
      Die("bad capability request", kExitInvariant);
    if (on == CAP_CLEAR) raised_[count_++] = c;
  }
  cap_free(state);
  Apply(raised_, count_, CAP_SET);
}

ScopedCaps::~ScopedCaps() { Apply(raised_, count_, CAP_CLEAR); }

void ScopedCaps::Apply(const cap_value_t* caps, int count, cap_flag_value_t value) {
  if (count == 0) return;
  cap_t state = cap_get_proc();
  if (state == nullptr || cap_set_flag(state, CAP_EFFECTIVE, count, caps, value) != 0 ||
      cap_set_proc(state) != 0)
    Die("capability change failed", kExitInvariant);  // never go on in an unknown state
  cap_free(state);
}

// Changing fsuid needs CAP_SETUID (CAP_SETGID for fsgid) unless the id is one of the process's
// own, and the kernel itself raises or clears the file capabilities in the effective set when
// fsuid moves to or from 0. So both are raised for the change alone, both results are checked,
// and the effective set is put back exactly as it was: no capability is left raised after it.
void SetFsids(uid_t uid, gid_t gid) {
  cap_t before = cap_get_proc();
  {
    ScopedCaps ids{CAP_SETUID, CAP_SETGID};
    (void)setfsgid(gid);
    (void)setfsuid(uid);
  }
  if (before == nullptr || static_cast<uid_t>(setfsuid(static_cast<uid_t>(-1))) != uid ||
      static_cast<gid_t>(setfsgid(static_cast<gid_t>(-1))) != gid || cap_set_proc(before) != 0)
    Die("cannot change fsuid", kExitInvariant);
  cap_free(before);
}

ScopedFsids::ScopedFsids(uid_t uid, gid_t gid) { SetFsids(uid, gid); }

ScopedFsids::~ScopedFsids() { SetFsids(getuid(), getgid()); }

}  // namespace grootfs::helper
