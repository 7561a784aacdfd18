// Runs in: grootfs-helper (privileged). Trusts: the session's marker for the id mapping.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "helper/session.h"
#include "ipc/codec.h"

namespace grootfs::helper {

// grootfs-unpack (unpacker/), beside the helper's own file, held from start-up on this fd.
inline constexpr int kUnpackerFd = 4;

// Opens grootfs-unpack beside the helper's file as kUnpackerFd, if it is there, a regular file,
// and it and its directory are root's and writable by no one else; else UnpackLayer fails.
void OpenUnpacker();

// In a child: becomes grootfs-unpack with `args` (argv[0] first), no environment, and `fds`
// open (every other fd is close-on-exec). Returns only if that fails.
Error ExecUnpacker(std::vector<std::string> args, std::span<const int> fds);

// What a child (or the unpacker it became) sends back: fixed size, so one read gets it whole.
struct ChildResult {
  std::int32_t status;  // 0 or errno
  std::uint32_t flags;
  std::uint64_t bytes;
  char text[200];
};

inline ChildResult ToChildResult(Result<ipc::CountReply> r) {
  ChildResult out{};
  if (r) {
    out.bytes = r->bytes;
    out.flags = r->flags;
  } else {
    out.status = r.error().code == 0 ? EIO : r.error().code;
    std::strncpy(out.text, r.error().text.c_str(), sizeof out.text - 1);
  }
  return out;
}

// Runs `work` in a child process that enters a new user namespace mapped as the store's
// marker says (identity for a root store) and becomes root in it, so every file it makes is
// owned by the store's mapped ids on the host and it can do nothing an unprivileged user with
// those ids could not. Before `work` runs, Landlock confines the child beneath `confine` (and
// to listing directories beneath `read_dirs`, and executing only grootfs-unpack) and a stricter
// seccomp filter is stacked. The child ends with _exit; its result comes back over a socket,
// whose fd `work` is given (an unpacker it executes writes its ChildResult there).
using ChildWork = std::function<Result<ipc::CountReply>(int result_fd)>;
Result<ipc::CountReply> RunInStoreUserns(const Session& session, int confine,
                                         std::span<const int> read_dirs, const ChildWork& work);

}  // namespace grootfs::helper
