// Runs in: grootfs-helper (privileged). Trusts: nothing; owns the process's privileges.
#pragma once

#include <sys/capability.h>
#include <sys/types.h>

#include <initializer_list>

namespace grootfs::helper {

// Dies unless the helper runs setuid root or with the file capabilities it needs.
void CheckInvocation();

// Keeps only the capabilities the requests need in the permitted and bounding sets, none in
// the effective, inheritable and ambient sets, and makes file access use the caller's ids
// (fsuid/fsgid = real ids). A root caller keeps its file-access override effective for the
// session: it has nothing to gain from the helper there.
void TrimCapabilities();

// Raises exactly `caps` in the effective set for the lifetime of the object (at most 8).
class ScopedCaps {
 public:
  ScopedCaps(std::initializer_list<cap_value_t> caps);
  ~ScopedCaps();
  ScopedCaps(const ScopedCaps&) = delete;
  ScopedCaps& operator=(const ScopedCaps&) = delete;

 private:
  void Apply(const cap_value_t* caps, int count, cap_flag_value_t value);
  cap_value_t raised_[8];  // the caps this object raised (not those already effective)
  int count_ = 0;
};

// Makes file access use the given ids for the lifetime of the object (needs euid 0 or
// CAP_SETUID), then returns to the caller's. Create it before raising file capabilities:
// changing fsuid away from 0 clears them.
class ScopedFsids {
 public:
  ScopedFsids(uid_t uid, gid_t gid);
  ~ScopedFsids();
  ScopedFsids(const ScopedFsids&) = delete;
  ScopedFsids& operator=(const ScopedFsids&) = delete;
};

}  // namespace grootfs::helper
