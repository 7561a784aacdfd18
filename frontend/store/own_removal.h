// Removing a tree in the store with the frontend's own rights (the store owner's), before the
// helper is asked to: an image no container wrote to is all its owner's, and goes without the
// helper's confined child.
#pragma once

#include <string>

namespace grootfs::frontend::store {

// Removes the entry `name` of the directory `parent` and everything beneath it, as far as the
// file rights of the caller's ids reach (with no capability in effect, even for root): by fd,
// following no symlink, crossing no mount, at most kMaxOwnRemovalDepth directories deep. Stops
// at the first entry it cannot remove and returns false: what is left is the helper's to
// remove. True when nothing of it is left.
bool RemoveOwnTree(int parent, const std::string& name);

inline constexpr int kMaxOwnRemovalDepth = 16;

}  // namespace grootfs::frontend::store
