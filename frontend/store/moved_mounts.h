// Rootfs mounts a user carried away from their image's place (out of the store, or under
// another name): they are found by the tag the helper gives every mount of the store.
#pragma once

#include <string>
#include <vector>

#include "frontend/store/mounts.h"
#include "frontend/store/store.h"

namespace grootfs::frontend::store {

// The store's mounts that are not at STORE/images/*/rootfs nor STORE/tmp/*/rootfs. A hint read
// from /proc/self/mountinfo: the helper checks each mount by its id before it unmounts it.
std::vector<Mount> MovedMounts(const Paths& p);
// The same from a list ReadMounts() gave.
std::vector<Mount> MovedMounts(const Paths& p, const std::vector<Mount>& all);

// Asks the helper to unmount each of them, best effort (a failure is logged); returns the
// mount points of those still there afterwards.
std::vector<std::string> UnmountMovedMounts(const Paths& p, HelperClient& helper);

}  // namespace grootfs::frontend::store
