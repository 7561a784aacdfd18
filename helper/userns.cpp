// Runs in: grootfs-helper (privileged), parent and child. Trusts: the store marker.
#include "helper/userns.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "helper/die.h"
#include "helper/privileges.h"
#include "helper/seccomp_policy.h"
#include "ipc/wire.h"

namespace grootfs::helper {
namespace {

// What the child sends back: fixed size, so one read gets it whole.
struct ChildResult {
  std::int32_t status;  // 0 or errno
  std::uint32_t flags;
  std::uint64_t bytes;
  char text[200];
};

struct Pipe {
  UniqueFd read_end, write_end;
};

Result<Pipe> MakePipe() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Error::FromErrno("pipe");
  return Pipe{UniqueFd(p[0]), UniqueFd(p[1])};
}

std::string MapText(const std::vector<IdRange>& ranges) {
  if (ranges.empty()) return "0 0 4294967295\n";  // a root store: identity
  std::string text;
  for (const IdRange& r : ranges)
    text += std::to_string(r.ns_id) + " " + std::to_string(r.host_id) + " " +
            std::to_string(r.size) + "\n";
  return text;
}

Result<void> WriteProcFile(pid_t pid, const char* file, const std::string& text) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  auto fd = OpenBeneath(AT_FDCWD, path, O_WRONLY, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (!fd) return fd.error();
  if (write(fd->get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return Error::FromErrno(std::string("write ") + file);
  return {};
}

// In the child: wait for the maps, become root of the namespace, run, report, exit.
// Landlock: from here on the child reaches nothing but what lies beneath `dir` (and the fds
// it already holds). A kernel without Landlock leaves the other walls standing.
void ConfineTo(int dir) {
  const long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0,
                           LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 1) return;
  std::uint64_t fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;  // ABI 1
  if (abi >= 2) fs |= 1ULL << 13;                             // REFER: links, renames
  if (abi >= 3) fs |= 1ULL << 14;                             // TRUNCATE
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = fs;
  UniqueFd ruleset(static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0)));
  landlock_path_beneath_attr beneath{};
  beneath.allowed_access = fs;
  beneath.parent_fd = dir;
  if (!ruleset ||
      syscall(SYS_landlock_add_rule, ruleset.get(), LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) != 0 ||
      syscall(SYS_landlock_restrict_self, ruleset.get(), 0) != 0)
    Die("landlock failed", kExitInvariant);
}

[[noreturn]] void ChildMain(int confine, Pipe& go, Pipe& ready, Pipe& result,
                            const std::function<Result<ipc::UnpackLayerReply>()>& work) {
  go.write_end.Reset();
  ready.read_end.Reset();
  result.read_end.Reset();
  (void)close(ipc::kHelperChannelFd);  // the child never speaks to the peer
  (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (unshare(CLONE_NEWUSER) != 0) Die("unshare(CLONE_NEWUSER) failed", kExitInvariant);
  char c = 'u';
  if (write(ready.write_end.get(), &c, 1) != 1) Die("sync failed", kExitInvariant);
  if (read(go.read_end.get(), &c, 1) != 1 || c != 'g') _exit(kExitInvariant);
  if (setgroups(0, nullptr) != 0 || setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)
    Die("cannot become root of the user namespace", kExitInvariant);
  (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  ConfineTo(confine);
  InstallChildSeccomp();
  ChildResult out{};
  Result<ipc::UnpackLayerReply> r = work();
  if (r) {
    out.bytes = r->bytes;
    out.flags = r->flags;
  } else {
    out.status = r.error().code == 0 ? EIO : r.error().code;
    std::strncpy(out.text, r.error().text.c_str(), sizeof out.text - 1);
  }
  if (write(result.write_end.get(), &out, sizeof out) != sizeof out) _exit(kExitInvariant);
  _exit(0);
}

}  // namespace

Result<ipc::UnpackLayerReply> RunInStoreUserns(
    const Session& session, int confine, const std::function<Result<ipc::UnpackLayerReply>()>& work) {
  auto go = MakePipe(), ready = MakePipe(), result = MakePipe();
  if (!go || !ready || !result) return Error::FromErrno("pipe");
  const pid_t pid = fork();
  if (pid < 0) return Error::FromErrno("fork");
  if (pid == 0) ChildMain(confine, *go, *ready, *result, work);

  go->read_end.Reset();
  ready->write_end.Reset();
  result->write_end.Reset();
  char c = 0;
  Result<void> mapped = Error{EIO, "unpack child did not start"};
  if (read(ready->read_end.get(), &c, 1) == 1 && c == 'u') {
    ScopedCaps caps{CAP_SETUID, CAP_SETGID, CAP_SETFCAP, CAP_DAC_OVERRIDE};
    mapped = WriteProcFile(pid, "uid_map", MapText(session.marker().uid_map));
    if (mapped) mapped = WriteProcFile(pid, "gid_map", MapText(session.marker().gid_map));
  }
  if (mapped) {
    c = 'g';
    if (write(go->write_end.get(), &c, 1) != 1) mapped = Error::FromErrno("sync");
  }
  go->write_end.Reset();  // an unmapped child sees EOF and exits

  ChildResult out{};
  const ssize_t n = read(result->read_end.get(), &out, sizeof out);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!mapped) return mapped.error();
  if (n != sizeof out || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
    return Error{EIO, "unpack child failed"};
  if (out.status != 0) {
    out.text[sizeof out.text - 1] = '\0';
    return Error{out.status, out.text};
  }
  return ipc::UnpackLayerReply{out.bytes, out.flags};
}

}  // namespace grootfs::helper
