// Root acting in a store it does not own (Garden's unprivileged store, a user's store).
#pragma once

#include <string>

namespace grootfs::frontend::store {

// When the frontend runs as root and the store directory (opened without following a link)
// belongs to another user, the process takes that user's effective ids and no supplementary
// groups for the rest of the command, keeping only CAP_DAC_READ_SEARCH effective (to read
// image sources root can read). Every path the frontend then follows inside the store, which
// that user can change, leads nowhere the user could not write to by himself. The real and
// saved ids stay 0, so the helper still sees a root caller. No-op for other callers, for a
// store owned by root, and for a store that does not exist (the command reports that).
// Returns whether the ids changed.
bool ActAsStoreOwner(const std::string& store);

// Undoes ActAsStoreOwner: root's effective ids, groups and capabilities again.
void BackToRoot();

}  // namespace grootfs::frontend::store
