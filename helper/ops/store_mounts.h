// Runs in: grootfs-helper (privileged). The store's rootfs mounts, found by the tag every one of
// them carries as its source (Session::mount_tag), wherever a user may have moved them.
#pragma once

#include "helper/session.h"

namespace grootfs::helper {

// EDQUOT once the store holds as many rootfs mounts as its marker allows (default 1,000).
Result<void> CheckMountLimit(const Session& s);

// Unmounts (lazily) every mount of this store that is no longer the rootfs of an image's
// place in it: a mount a user carried out of the store, or under another name.
void UnmountMovedMounts(const Session& s);

}  // namespace grootfs::helper
