// Runs in: grootfs-helper (privileged). Trusts: nothing from the channel.
#pragma once

#include "ipc/unique_fd.h"

namespace grootfs::helper {

// Serves one session on the channel: Hello first, then any number of requests, each answered
// by exactly one reply, until the peer closes its end. Returns the process exit status:
// kExitOk if every request succeeded, kExitRefused otherwise. A malformed request ends the
// process at once (Die), without a reply.
int Serve(ipc::UniqueFd channel);

}  // namespace grootfs::helper
