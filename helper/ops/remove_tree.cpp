// Runs in: grootfs-helper (privileged). Trusts: nothing from the peer.
#include <fcntl.h>
#include <unistd.h>

#include "helper/ops/handlers.h"
#include "helper/userns.h"

namespace grootfs::helper {

// Why this is safe: the place is an Area enum and a plain name, opened beneath the store fd
// with kStrict; removal runs in the store's user namespace (it can remove only what the
// store's ids own), never follows a symlink and stops with EBUSY at any mount, so a mounted
// rootfs can never lead it into the layers below.
Result<Payload> HandleRemoveTree(Session& s, const ipc::Request& req, std::span<UniqueFd>) {
  const std::string area = PlacePath(req.area, "");
  auto parent = OpenBeneath(s.store(), area.substr(0, area.size() - 1), O_RDONLY | O_DIRECTORY);
  if (!parent) return parent.error();
  auto target = OpenBeneath(parent->get(), req.name, O_RDONLY | O_DIRECTORY);
  if (!target) {
    if (target.error().code == ENOENT) return Payload{};
    if (target.error().code == EXDEV) return Error{EBUSY, "the place is a mount point"};
    return target.error();
  }
  const int parent_fd = parent->get(), target_fd = target->get();
  const std::string name = req.name;
  auto r = RunInStoreUserns(s, parent_fd, {}, [&](int) -> Result<ipc::CountReply> {
    if (auto done = RemoveContents(target_fd); !done) return done.error();
    if (unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
      return Error::FromErrno("rmdir " + name);
    return ipc::CountReply{};
  });
  if (!r) return r.error();
  return Payload{};
}

}  // namespace grootfs::helper
