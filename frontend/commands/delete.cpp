// delete: hide the image from list by moving it into tmp/ (one rename), then unmount and
// remove it through the helper. A missing image is success with a warning. An image with a
// mount inside that grootfs did not make is left as it is (listed, whole) and the delete fails
// naming the mount: once it is unmounted, delete works.
#include <sys/stat.h>

#include "frontend/commands/commands.h"
#include "frontend/image_id.h"
#include "frontend/log.h"
#include "frontend/store/moved_mounts.h"
#include "frontend/store/mounts.h"
#include "frontend/store/store.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::commands {

std::string ImageIdFromArg(const Invocation& inv, const std::string& arg) {
  if (arg.find('/') == std::string::npos) {
    if (!IsValidImageId(arg)) throw Error("invalid image id '" + arg + "'");
    return arg;
  }
  const store::Paths p{inv.store};
  std::string path = arg;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const std::string prefix = p.images() + "/";
  const std::string id = path.starts_with(prefix) ? path.substr(prefix.size()) : "";
  if (id.empty() || id.find('/') != std::string::npos || !IsValidImageId(id))
    throw Error("path " + arg + " is not an image in store " + p.root);
  return id;
}

int Delete(const Invocation& inv) {
  if (inv.args.size() != 1) throw Error("usage: grootfs delete ID|PATH");
  const store::Paths p{inv.store};
  const std::string id = ImageIdFromArg(inv, inv.args[0]);
  struct stat st{};
  if (stat(p.root.c_str(), &st) != 0) {
    Logger::Get().Info("store-missing", {{"store", p.root}});
    return 0;
  }
  if (!store::IsStore(p)) throw Error(p.root + " is not a grootfs store");
  // The helper starts while the checks below run (its start-up is most of a delete's time).
  auto helper = HelperClient::StartEarly(inv.helper_bin, p.root);
  auto need_helper = [&]() -> HelperClient& {
    if (!helper) helper = HelperClient::Start(inv.helper_bin, p.root);
    helper->Ready();  // a helper that cannot work fails the delete before anything moves
    return *helper;
  };
  const std::vector<store::Mount> mounts = store::ReadMounts();
  // A rootfs a user moved away (with its image, perhaps) is still the store's to unmount.
  const bool moved = !store::MovedMounts(p, mounts).empty();
  if (lstat(p.image(id).c_str(), &st) != 0) {
    if (moved) (void)store::UnmountMovedMounts(p, need_helper());
    Logger::Get().Info("image-not-found", {{"id", id}, {"warning", "nothing to delete"}});
    return 0;
  }
  if (const auto foreign = store::ForeignMountsIn(p.image(id), mounts); !foreign.empty())
    throw Error("cannot delete image " + id + ": " + foreign.front() +
                " is mounted inside it (not by grootfs); unmount it, then delete again");
  if (moved) (void)store::UnmountMovedMounts(p, need_helper());
  store::FileLock store_lock(p, "store", store::FileLock::Mode::kShared);
  if (!store::Discard(p, need_helper(), p.image(id)))
    Logger::Get().Info("image-not-found", {{"id", id}, {"warning", "deleted concurrently"}});
  (void)store::SweepTmp(p, *helper);
  Logger::Get().Info("ending", {{"id", id}});
  return 0;
}

}  // namespace grootfs::frontend::commands
