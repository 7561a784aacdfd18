// How grootfs ends when it is told to stop (SIGINT, SIGTERM, SIGHUP): at once, leaving no
// helper running and nothing half-made that it can remove. SIGKILL cannot be caught: then each
// helper notices its channel hang up and stops, and the next command sweeps what is left.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <string>

namespace grootfs::frontend::lifetime {

// In main, before any other thread exists: blocks the three signals (every thread inherits the
// mask) and starts the thread that waits for them. On the first one, unless the command's
// result is already decided: no commit happens any more, every helper session is hung up (a
// helper then exits at once and its unpack child with it), the helpers are waited for (SIGKILL
// after 2 s), this process's own work directories in tmp/ are removed through a fresh helper
// (given 5 s), one line goes to stdout and the process exits with status 1. Signals that come
// while it stops change nothing (the stop is bounded: about 7 s at most).
void Install();
// Where the cleanup works, once the command line is known.
void SetStore(const std::string& helper_bin, const std::string& store);

// In a child between fork and exec: the signal mask the process started with. Async-signal-safe.
void RestoreSignalMask();

// Whether a stop signal has been acted on.
bool Interrupted();
// For main, once the command has its result (returned or thrown): true when a stop signal got
// there first (its thread then ends the process); otherwise signals are ignored from now on.
bool Finish();

// Helper sessions, from start to end: hung up on a signal. Unregister before closing `channel`.
void AddHelper(pid_t pid, int channel);
void RemoveHelper(pid_t pid);

// Work directories this process owns in tmp/ (not yet committed nor removed).
void AddWork(const std::string& name);
void RemoveWork(const std::string& name);

// Held around every commit (a rename out of tmp/): after a signal, none starts, and none is
// half-way when the cleanup begins. Throws Error when the command is being stopped.
std::mutex& CommitMutex();
class CommitGuard {
 public:
  CommitGuard();
  CommitGuard(const CommitGuard&) = delete;
  CommitGuard& operator=(const CommitGuard&) = delete;
  // This commit decides the command's result (create's image is in place): a signal from now
  // on is ignored and the command finishes as it would have.
  void Decide();

 private:
  std::lock_guard<std::mutex> lock_;
};

}  // namespace grootfs::frontend::lifetime
