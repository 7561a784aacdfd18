// Runs in: grootfs-helper (privileged: setuid root or file capabilities).
// Trusts: nothing from the channel on fd 3, the environment, or the caller's other fds.
//
// The start-up sequence, in this order, before a byte is read from the peer:
//   1. refuse to run unless fd 3 is a SOCK_SEQPACKET socket (the frontend's socketpair);
//   2. make sure fds 0-2 are open (on /dev/null), close every other fd, and open grootfs-unpack
//      beside the helper's file (fd 4), which only its confined children execute;
//   3. clear the environment and ignore SIGPIPE;
//   4. check it holds what it needs (setuid root or file capabilities);
//   5. keep only the capabilities the requests need, none effective; file access as the caller;
//   6. set no_new_privs: nothing executed gains privileges;
//   7. install the seccomp allow list;
//   8. serve the session.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "helper/die.h"
#include "helper/dispatch.h"
#include "helper/privileges.h"
#include "helper/seccomp_policy.h"
#include "helper/userns.h"
#include "ipc/wire.h"

namespace grootfs::helper {
namespace {

void CheckChannel() {
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(ipc::kHelperChannelFd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      type != SOCK_SEQPACKET)
    Die("must be started by grootfs with its channel on fd 3", kExitSetup);
}

void SanitizeFds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) >= 0) continue;
    const int null = open("/dev/null", O_RDWR);
    if (null != fd) _exit(kExitSetup);  // cannot even report: stderr is what is missing
  }
  if (close_range(ipc::kHelperChannelFd + 1, ~0U, 0) != 0) Die("close_range failed", kExitSetup);
}

}  // namespace
}  // namespace grootfs::helper

int main() {
  using namespace grootfs::helper;
  SanitizeFds();
  CheckChannel();
  OpenUnpacker();
  if (clearenv() != 0) Die("clearenv failed", kExitSetup);
  // A closed stderr or peer is an error to report or an exit, never a death by SIGPIPE.
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) Die("cannot ignore SIGPIPE", kExitSetup);
  CheckInvocation();
  TrimCapabilities();
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Die("no_new_privs failed", kExitSetup);
  InstallHelperSeccomp();
  return Serve(grootfs::ipc::UniqueFd(grootfs::ipc::kHelperChannelFd));
}
