// Root acting in a store it does not own (Garden's unprivileged store, a user's store).
#pragma once

#include <string>

namespace grootfs::frontend::store {

// When the frontend runs as root and the store directory (its path resolved without following
// any symlink) belongs to another user, the process takes that user's effective ids and no
// supplementary groups for the rest of the command, with CAP_DAC_READ_SEARCH as its only
// capability (to read image sources root can read). Every path the frontend then follows inside
// the store, which that user can change, leads nowhere the user could not write to himself.
// The real and saved ids stay 0, so the helper still sees a root caller and the owner cannot
// signal the process. It fails closed: a store that is not there makes the process nobody
// (65534) for the command, a path with a symlink is refused. `keep_root` keeps the permitted
// capabilities for BackToRoot (delete-store). No-op for other callers and root's own store.
// Returns whether the ids changed.
bool ActAsStoreOwner(const std::string& store, bool keep_root = false);

// Undoes ActAsStoreOwner(store, true): root's effective ids, groups and capabilities again.
void BackToRoot();

// Whether root acts for the store's owner now (ActAsStoreOwner changed the ids): what the
// store holds is then the owner's to make, and root keeps CAP_DAC_READ_SEARCH.
bool ActingAsStoreOwner();

// No capability in effect for the calling thread while it lives (and in the threads it starts
// meanwhile, which inherit its sets): what it touches, it touches with the file rights of its
// ids alone. ok() is false when the capabilities could not be dropped.
class NoEffectiveCapabilities {
 public:
  NoEffectiveCapabilities();
  ~NoEffectiveCapabilities();
  NoEffectiveCapabilities(const NoEffectiveCapabilities&) = delete;
  NoEffectiveCapabilities& operator=(const NoEffectiveCapabilities&) = delete;
  bool ok() const { return ok_; }

 private:
  void* saved_;  // cap_t
  bool ok_ = false;
};

}  // namespace grootfs::frontend::store
