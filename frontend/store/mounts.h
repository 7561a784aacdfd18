// What is mounted where, as /proc/self/mountinfo says: the frontend looks before it acts, so a
// mount someone else put inside the store is named to the user, never crossed or removed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace grootfs::frontend::store {

struct Mount {
  std::uint64_t id;   // the kernel's mount id
  std::string point;  // its mount point, unescaped
  std::string fstype;
  std::string source;  // grootfs-store:TAG for a rootfs the helper made
};

// Every mount /proc/self/mountinfo lists; empty when it cannot be read.
std::vector<Mount> ReadMounts();

// Mount points at or beneath `dir` (an absolute path without a trailing slash), as the kernel
// spells them; empty when mountinfo cannot be read.
std::vector<std::string> MountsAtOrBeneath(const std::string& dir);

// Mount points inside an image or work directory that grootfs did not make: everything at or
// beneath `dir` except one overlay exactly on `dir`/rootfs.
std::vector<std::string> ForeignMountsIn(const std::string& dir);
// The same from a list ReadMounts() gave (one read of mountinfo for several questions).
std::vector<std::string> ForeignMountsIn(const std::string& dir, const std::vector<Mount>& all);

// For delete-store: detaches every mount beneath `root` (not root itself), deepest first, each
// reached by openat2 beneath the store without following a symlink and unmounted through
// /proc/self/fd/N, so a path the store's owner swaps cannot lead elsewhere. Unmounting never
// touches what a mount holds. Needs root; returns the mounts still there.
std::vector<std::string> DetachMountsBeneath(const std::string& root);

}  // namespace grootfs::frontend::store
