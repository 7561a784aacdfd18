// Runs in: grootfs-helper (privileged). Trusts: the session's marker for the id mapping.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "helper/session.h"
#include "ipc/codec.h"

namespace grootfs::helper {

// Runs `work` in a child process that enters a new user namespace mapped as the store's
// marker says (identity for a root store) and becomes root in it, so every file it makes is
// owned by the store's mapped ids on the host and it can do nothing an unprivileged user with
// those ids could not. Before `work` runs, Landlock confines the child beneath `confine` (and
// to listing directories beneath `read_dirs`) and a stricter seccomp filter is stacked. The child
// ends with _exit; its result comes back over a pipe.
Result<ipc::CountReply> RunInStoreUserns(const Session& session, int confine,
                                         std::span<const int> read_dirs,
                                         const std::function<Result<ipc::CountReply>()>& work);

}  // namespace grootfs::helper
