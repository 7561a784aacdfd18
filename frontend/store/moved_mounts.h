// Rootfs mounts a user carried away from their image's place (out of the store, or under
// another name): they are found by the tag the helper gives every mount of the store.
#pragma once

#include <string>
#include <vector>

#include "frontend/store/store.h"

namespace grootfs::frontend::store {

// The mount points of the store's mounts that are not at STORE/images/*/rootfs nor
// STORE/tmp/*/rootfs. A hint read from /proc/self/mountinfo: the helper checks each mount
// by its id before it unmounts it.
std::vector<std::string> MovedMounts(const Paths& p);

}  // namespace grootfs::frontend::store
