// Runs in: grootfs-helper (privileged). Trusts: nothing from the peer or the tar stream.
#include <fcntl.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "helper/die.h"
#include "helper/ops/handlers.h"
#include "helper/userns.h"

namespace grootfs::helper {
namespace {

// The unpacker's arguments (unpacker/main.cpp): STREAM WORK RESULT BUDGET [LOWER...] -- [BASE...]
std::vector<std::string> UnpackerArgs(const std::vector<int>& fds, const ipc::Request& req) {
  std::vector<std::string> args = {"grootfs-unpack"};
  for (int fd : fds) args.push_back(std::to_string(fd));
  args.insert(args.begin() + 4, std::to_string(req.bytes));  // after STREAM WORK RESULT
  args.push_back("--");
  args.insert(args.end(), req.names.begin(), req.names.end());
  return args;
}

}  // namespace

// Why this is safe: the work name and every base-directory component passed IsPlainName; the
// work directory is opened beneath the store fd with kStrict (no symlink, no other mount); the
// stream fd must be a pipe or a regular file, opened for reading; the tar is read and written
// by grootfs-unpack (not linked into the helper), which a child executes once it is root only
// inside a user namespace mapped as the root-written marker says, so it can create nothing an
// unprivileged holder of those ids could not; every entry is made beneath the new layer
// directory with *at calls that never follow a link (unpacker/unpack_tar.cpp).
// The lower layers' diff directories are opened beneath the store like MountRootfs's, and the
// child may only read directories beneath them (Landlock).
Result<Payload> HandleUnpackLayer(Session& s, const ipc::Request& req, std::span<UniqueFd> fds) {
  if (req.area != ipc::Area::kTmp) Die("UnpackLayer works in tmp/ only");
  struct stat st {};
  const int flags = fcntl(fds[0].get(), F_GETFL);
  if (fstat(fds[0].get(), &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode)) ||
      flags < 0 || (flags & O_ACCMODE) == O_WRONLY || (flags & O_PATH) != 0)
    return Error{EBADF, "layer stream must be a readable pipe or file"};
  auto work = OpenBeneath(s.store(), PlacePath(ipc::Area::kTmp, req.name), O_RDONLY | O_DIRECTORY);
  if (!work) return work.error();
  std::vector<UniqueFd> lower_fds;
  std::vector<int> lowers;
  for (const std::string& key : req.lowers) {
    auto lower =
        OpenBeneath(s.store(), PlacePath(ipc::Area::kLayers, key) + "/diff", O_PATH | O_DIRECTORY);
    if (!lower) return lower.error();
    lowers.push_back(lower->get());
    lower_fds.push_back(std::move(*lower));
  }
  const int stream = fds[0].get();
  const int work_fd = work->get();
  auto reply = RunInStoreUserns(s, work_fd, lowers, [&](int result) -> Result<ipc::CountReply> {
    std::vector<int> open = {stream, work_fd, result};
    open.insert(open.end(), lowers.begin(), lowers.end());
    return ExecUnpacker(UnpackerArgs(open, req), open);
  });
  if (!reply) return reply.error();
  return ipc::Encode(*reply);
}

}  // namespace grootfs::helper
