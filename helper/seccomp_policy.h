// Runs in: grootfs-helper (privileged) and its children: the Install functions; the build:
// the Compile functions. Trusts: nothing.
#pragma once

#include <linux/filter.h>

#include <vector>

namespace grootfs::helper {

// The helper's allow list, installed before the first request is read. Anything else kills
// the process (SIGSYS).
void InstallHelperSeccomp();

// The unpack and removal children's stricter list, stacked on the helper's: file work beneath
// fds they already hold, and nothing else (no fork, no namespaces, no mounts, no id changes).
void InstallChildSeccomp();

// Both lists compiled to BPF by libseccomp (seccomp_policy.cpp). The build runs this once
// (seccomp_gen.cpp) and the helper installs the result, so the helper never runs libseccomp.
std::vector<sock_filter> CompileHelperFilter();
std::vector<sock_filter> CompileChildFilter();

}  // namespace grootfs::helper
