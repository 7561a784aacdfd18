// Runs in: grootfs-helper (privileged), parent and child. Trusts: the store marker.
#include "helper/userns.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/landlock.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "helper/die.h"
#include "helper/privileges.h"
#include "helper/seccomp_policy.h"
#include "ipc/wire.h"

namespace grootfs::helper {
namespace {

bool unpacker_open = false;  // OpenUnpacker found it: the children may execute it

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

// Landlock: from here on the child reaches nothing but what lies beneath `dir`, may list the
// directories beneath `read_dirs` and nothing more there, and keeps the fds it already holds.
// A kernel without Landlock, or whose Landlock (ABI 1, before 5.19) would refuse the links and
// renames across directories a layer needs, leaves the other walls standing (the frontend logs
// which at debug level).
void ConfineTo(int dir, std::span<const int> read_dirs) {
  const long abi =
      syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 2) return;  // ABI 1 (before 5.19) refuses every link and rename across directories
  std::uint64_t fs = ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1) | 1ULL << 13;  // ABI 1, REFER
  if (abi >= 3) fs |= 1ULL << 14;                             // TRUNCATE
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = fs;
  UniqueFd ruleset(static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0)));
  auto rule = [&](std::uint64_t access, int fd) {
    landlock_path_beneath_attr beneath{access, fd};
    return syscall(SYS_landlock_add_rule, ruleset.get(), LANDLOCK_RULE_PATH_BENEATH, &beneath, 0);
  };
  bool ok = ruleset && rule(fs, dir) == 0;
  if (unpacker_open)
    ok = ok && rule(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE, kUnpackerFd) == 0;
  for (int read_dir : read_dirs) ok = ok && rule(LANDLOCK_ACCESS_FS_READ_DIR, read_dir) == 0;
  if (!ok || syscall(SYS_landlock_restrict_self, ruleset.get(), 0) != 0)
    Die("landlock failed", kExitInvariant);
}

// In the child: wait for the maps, become root of the namespace, confine, run, report, exit.
[[noreturn]] void ChildMain(pid_t parent, int confine, std::span<const int> read_dirs,
                            UniqueFd sync, const ChildWork& work) {
  (void)close(ipc::kHelperChannelFd);  // the child never speaks to the peer
  (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
  // No supplementary group of the caller's goes into the namespace.
  if (ScopedCaps caps{CAP_SETGID}; setgroups(0, nullptr) != 0) Die("setgroups", kExitInvariant);
  char c = 'u';
  if (unshare(CLONE_NEWUSER) != 0 || write(sync.get(), &c, 1) != 1 ||
      read(sync.get(), &c, 1) != 1 || c != 'g')
    _exit(kExitInvariant);
  if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)
    Die("cannot become root of the user namespace", kExitInvariant);
  // The id change cleared the death signal: arm it again, then make sure the helper did not
  // die in between (the child would have been handed to another parent).
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(kExitInvariant);
  ConfineTo(confine, read_dirs);
  InstallChildSeccomp();
  const ChildResult out = ToChildResult(work(sync.get()));
  _exit(write(sync.get(), &out, sizeof out) == sizeof out ? 0 : kExitInvariant);
}

}  // namespace

void OpenUnpacker() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self);
  const std::string exe(self, n > 0 && n < ssize_t{sizeof self} ? static_cast<std::size_t>(n) : 0);
  const std::size_t slash = exe.rfind('/');
  UniqueFd found;
  if (slash != std::string::npos && slash != 0) {
    constexpr std::uint64_t kNoLinks = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    auto dir = OpenBeneath(AT_FDCWD, exe.substr(0, slash), O_PATH | O_DIRECTORY, kNoLinks);
    auto file = dir ? OpenBeneath(dir->get(), "grootfs-unpack", O_PATH, kStrict) : dir.error();
    struct stat d {};
    struct stat f {};
    if (file && fstat(dir->get(), &d) == 0 && fstat(file->get(), &f) == 0 && S_ISREG(f.st_mode) &&
        d.st_uid == 0 && f.st_uid == 0 && ((d.st_mode | f.st_mode) & 022) == 0)
      found = std::move(*file);
  }
  unpacker_open = static_cast<bool>(found);
  // Without it, "/" holds the number, so that no fd opened later can take it.
  UniqueFd held = found ? std::move(found) : UniqueFd(open("/", O_PATH | O_CLOEXEC));
  if (held.get() != kUnpackerFd && dup3(held.get(), kUnpackerFd, O_CLOEXEC) != kUnpackerFd)
    Die("cannot hold fd 4", kExitSetup);
  if (held.get() == kUnpackerFd) (void)held.Release();
}

Error ExecUnpacker(std::vector<std::string> args, std::span<const int> fds) {
  if (!unpacker_open) return Error{ENOENT, "grootfs-unpack is not beside grootfs-helper"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (int fd : fds) (void)fcntl(fd, F_SETFD, 0);
  char* const envp[] = {nullptr};
  (void)syscall(SYS_execveat, kUnpackerFd, "", argv.data(), envp, AT_EMPTY_PATH);
  return Error::FromErrno("cannot execute grootfs-unpack");
}

Result<ipc::CountReply> RunInStoreUserns(const Session& session, int confine,
                                         std::span<const int> read_dirs, const ChildWork& work) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return Error::FromErrno("socketpair");
  UniqueFd parent_end(sv[0]), child_end(sv[1]);
  const pid_t self = getpid();
  const pid_t pid = fork();
  if (pid < 0) return Error::FromErrno("fork");
  if (pid == 0) {
    parent_end.Reset();  // else a parent that fails before its first write hangs us both
    ChildMain(self, confine, read_dirs, std::move(child_end), work);
  }
  child_end.Reset();

  char c = 0;
  Result<void> mapped = Error{EIO, "unpack child did not start"};
  if (read(parent_end.get(), &c, 1) == 1 && c == 'u') {
    ScopedCaps caps{CAP_SETUID, CAP_SETGID, CAP_SETFCAP, CAP_DAC_OVERRIDE};
    mapped = WriteProcFile(pid, "uid_map", MapText(session.marker().uid_map));
    // A mapped store's namespace may not drop groups (which could lift a negative group
    // permission); a root store's identity map needs nothing denied.
    if (mapped && !session.marker().gid_map.empty())
      mapped = WriteProcFile(pid, "setgroups", "deny\n");
    if (mapped) mapped = WriteProcFile(pid, "gid_map", MapText(session.marker().gid_map));
  }
  c = 'g';
  if (!mapped || write(parent_end.get(), &c, 1) != 1) parent_end.Reset();  // child sees EOF
  // While the child works, a peer that hangs up (grootfs killed) ends the helper at once; the
  // child dies with it (its death signal).
  pollfd watch[2] = {{parent_end.get(), POLLIN, 0}, {ipc::kHelperChannelFd, POLLRDHUP, 0}};
  while (parent_end && (poll(watch, 2, -1) < 0 ? errno == EINTR : watch[0].revents == 0))
    if (watch[1].revents != 0) _exit(kExitRefused);
  ChildResult out{};
  const ssize_t n = parent_end ? read(parent_end.get(), &out, sizeof out) : 0;
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
  return ipc::CountReply{out.bytes, out.flags};
}

}  // namespace grootfs::helper
