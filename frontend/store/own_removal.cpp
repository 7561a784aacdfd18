#include "frontend/store/own_removal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "frontend/store/act_as_owner.h"
#include "frontend/util/open_at.h"

namespace grootfs::frontend::store {
namespace {

using Dir = std::unique_ptr<DIR, int (*)(DIR*)>;

// Opens the directory `name` of `parent` for listing. One of the caller's own that its owner
// may not list or change (overlay makes its work dir mode 0000) is given 0700 first: through
// the O_PATH fd's /proc/self/fd link, so the mode lands on the directory opened, whatever
// replaced its name since.
Dir OpenForRemoval(int parent, const char* name) {
  // RESOLVE_NO_XDEV: a directory with a mount on it (or a mount's root) is not entered.
  ipc::UniqueFd dir = OpenNoSymlinks(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW,
                                     RESOLVE_BENEATH | RESOLVE_NO_XDEV);
  struct stat st {};
  if (!dir || fstat(dir.get(), &st) != 0) return Dir(nullptr, &closedir);
  const std::string link = "/proc/self/fd/" + std::to_string(dir.get());
  if (st.st_uid == geteuid() && (st.st_mode & S_IRWXU) != S_IRWXU &&
      chmod(link.c_str(), (st.st_mode & 07777) | S_IRWXU) != 0)
    return Dir(nullptr, &closedir);
  ipc::UniqueFd listing(open(link.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  Dir d(listing ? fdopendir(listing.get()) : nullptr, &closedir);
  if (d) (void)listing.Release();  // the DIR owns it now
  return d;
}

bool RemoveEntry(int parent, const char* name, int depth) {
  if (unlinkat(parent, name, 0) == 0 || errno == ENOENT) return true;
  if (errno != EISDIR || depth >= kMaxOwnRemovalDepth) return false;
  const Dir d = OpenForRemoval(parent, name);
  if (!d) return false;
  while (const dirent* e = readdir(d.get())) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    if (!RemoveEntry(dirfd(d.get()), e->d_name, depth + 1)) return false;
  }
  return unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT;
}

}  // namespace

bool RemoveOwnTree(int parent, const std::string& name) {
  const NoEffectiveCapabilities none;
  return none.ok() && RemoveEntry(parent, name.c_str(), 0);
}

}  // namespace grootfs::frontend::store
