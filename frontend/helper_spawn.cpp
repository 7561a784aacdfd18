#include "frontend/helper_spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "frontend/lifetime.h"
#include "ipc/channel.h"

namespace grootfs::frontend {
namespace {

// What the child needs, and where it leaves why its exec failed: it shares our memory.
struct SpawnPlan {
  const char* path;
  int helper_end;  // the helper's end of the channel
  int err_write;   // the pipe its stderr goes to
  int exec_errno = 0;
};

// The child's stack: mapped, with a guard page below it, so an overflow faults instead of
// writing into the frontend's heap.
class ChildStack {
 public:
  static constexpr std::size_t kSize = 64 * 1024;
  static constexpr std::size_t kGuard = 4096;
  ChildStack()
      : base_(mmap(nullptr, kSize + kGuard, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) {
    if (base_ != MAP_FAILED && mprotect(base_, kGuard, PROT_NONE) != 0) {
      munmap(base_, kSize + kGuard);
      base_ = MAP_FAILED;
    }
  }
  ~ChildStack() {
    if (base_ != MAP_FAILED) munmap(base_, kSize + kGuard);
  }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  bool ok() const { return base_ != MAP_FAILED; }
  void* top() const { return static_cast<char*>(base_) + kGuard + kSize; }

 private:
  void* base_;
};

// The child runs on the frontend's memory until execve (CLONE_VM), so it makes system calls
// only and writes nothing but errno and plan.exec_errno; the ids are set by the kernel's calls
// directly, as glibc's wrappers would stop the frontend's other threads to change theirs too.
int ExecHelper(void* arg) {
  auto& plan = *static_cast<SpawnPlan*>(arg);
  if (dup2(plan.err_write, STDERR_FILENO) < 0) _exit(127);
  if (plan.helper_end == ipc::kHelperChannelFd) {
    if (fcntl(plan.helper_end, F_SETFD, 0) < 0) _exit(127);
  } else if (dup2(plan.helper_end, ipc::kHelperChannelFd) < 0) {
    _exit(127);
  }
  const int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    (void)dup2(devnull, STDIN_FILENO);
    (void)dup2(devnull, STDOUT_FILENO);
  }
  // Root acting as a store's owner (act_as_owner.h) starts the helper as root again: else
  // exec would make the owner the helper's saved uid, and the owner could signal it.
  if (getuid() == 0 && geteuid() != 0 &&
      (syscall(SYS_setresgid, 0, 0, 0) != 0 || syscall(SYS_setresuid, 0, 0, 0) != 0))
    _exit(127);
  lifetime::RestoreSignalMask();  // the frontend's stop signals are not the helper's
  char* const argv[] = {const_cast<char*>("grootfs-helper"), nullptr};
  char* const envp[] = {nullptr};
  execve(plan.path, argv, envp);
  plan.exec_errno = errno;  // the parent says why: formatting is not for this stack
  _exit(127);
}

}  // namespace

// We wait until the child has executed the helper (CLONE_VFORK). No page table of ours is
// copied, and the helper's start is not queued behind our work: a forked child often waited for
// this CPU until the frontend blocked. Signals stay blocked until the child sets the helper's
// mask, so no handler of ours runs on its stack.
pid_t SpawnHelper(const std::string& path, int helper_end, int err_write) {
  ChildStack stack;
  if (!stack.ok()) return -1;
  SpawnPlan plan{path.c_str(), helper_end, err_write};
  sigset_t all, before;
  sigfillset(&all);
  (void)pthread_sigmask(SIG_SETMASK, &all, &before);
  const pid_t pid = clone(ExecHelper, stack.top(), CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
  const int clone_errno = errno;
  (void)pthread_sigmask(SIG_SETMASK, &before, nullptr);
  if (pid > 0 && plan.exec_errno != 0) {
    const std::string line = "grootfs-helper: cannot execute " + path + ": " +
                             std::strerror(plan.exec_errno) + "\n";
    (void)!write(err_write, line.data(), line.size());
  }
  errno = clone_errno;
  return pid;
}

}  // namespace grootfs::frontend
