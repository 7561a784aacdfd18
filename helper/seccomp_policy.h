// Runs in: grootfs-helper (privileged). Trusts: nothing.
#pragma once

namespace grootfs::helper {

// The helper's allow list, installed before the first request is read. Anything else kills
// the process (SIGSYS).
void InstallHelperSeccomp();

// The unpack and removal children's stricter list, stacked on the helper's: file work beneath
// fds they already hold, and nothing else (no fork, no namespaces, no mounts, no id changes).
void InstallChildSeccomp();

}  // namespace grootfs::helper
