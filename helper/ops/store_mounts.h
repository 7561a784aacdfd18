// Runs in: grootfs-helper (privileged). The store's rootfs mounts, found by the tag every one of
// them carries as its source (Session::mount_tag), wherever a user may have moved them.
#pragma once

#include "helper/session.h"

namespace grootfs::helper {

// EDQUOT once the store holds as many rootfs mounts as its marker allows (default 1,000).
Result<void> CheckMountLimit(const Session& s);

// Unmounts (lazily) the mount of this store with this id, wherever it is now: a rootfs a
// user carried away from its image's place. Nothing if no mount of the store has that id.
void UnmountMovedMount(const Session& s, std::uint64_t id);

}  // namespace grootfs::helper
