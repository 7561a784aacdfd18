// Starting grootfs-helper's process: the way posix_spawn does it, with the one step it lacks
// (root acting as a store's owner becomes root again before the exec).
#pragma once

#include <sys/types.h>

#include <string>

namespace grootfs::frontend {

// Executes the helper at `path` in a new process (no arguments beyond its name, no environment)
// with `helper_end` as its fd 3, `err_write` as its stderr, /dev/null as stdin and stdout, and
// the signal mask grootfs started with. Returns its pid once it has executed the helper (or
// failed to: then its exit status is 127 and the reason is written to `err_write`), -1 with
// errno when no process could be made.
pid_t SpawnHelper(const std::string& path, int helper_end, int err_write);

}  // namespace grootfs::frontend
