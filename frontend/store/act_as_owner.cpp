#include "frontend/store/act_as_owner.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "frontend/log.h"
#include "frontend/util/error.h"
#include "ipc/unique_fd.h"

namespace grootfs::frontend::store {

namespace {
std::vector<gid_t> root_groups;
}  // namespace

bool ActAsStoreOwner(const std::string& store) {
  if (geteuid() != 0) return false;
  ipc::UniqueFd fd(open(store.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!fd || fstat(fd.get(), &st) != 0 || (st.st_uid == 0 && st.st_gid == 0)) return false;
  const int n = getgroups(0, nullptr);
  root_groups.assign(static_cast<std::size_t>(n > 0 ? n : 0), 0);
  if (n < 0 || getgroups(n, root_groups.data()) != n || setgroups(0, nullptr) != 0 || setresgid(static_cast<gid_t>(-1), st.st_gid,
                                              static_cast<gid_t>(-1)) != 0 ||
      setresuid(static_cast<uid_t>(-1), st.st_uid, static_cast<uid_t>(-1)) != 0 ||
      geteuid() != st.st_uid || getegid() != st.st_gid)
    throw Error(std::string("cannot act as the store's owner: ") + std::strerror(errno));
  // The effective set was cleared by the change of euid; permitted kept (real uid is 0).
  cap_t caps = cap_get_proc();
  const cap_value_t read_search = CAP_DAC_READ_SEARCH;
  const bool raised = caps != nullptr && cap_clear_flag(caps, CAP_EFFECTIVE) == 0 &&
                      cap_set_flag(caps, CAP_EFFECTIVE, 1, &read_search, CAP_SET) == 0 &&
                      cap_set_proc(caps) == 0;
  if (caps != nullptr) cap_free(caps);
  if (!raised) throw Error(std::string("cannot keep read access: ") + std::strerror(errno));
  Logger::Get().Debug("acting-as-store-owner", {{"uid", st.st_uid}, {"gid", st.st_gid}});
  return true;
}

void BackToRoot() {
  // Back to euid 0: the kernel copies the permitted capabilities to the effective set.
  if (setresuid(static_cast<uid_t>(-1), 0, static_cast<uid_t>(-1)) != 0 ||
      setresgid(static_cast<gid_t>(-1), 0, static_cast<gid_t>(-1)) != 0 ||
      setgroups(root_groups.size(), root_groups.data()) != 0)
    throw Error(std::string("cannot act as root again: ") + std::strerror(errno));
}

}  // namespace grootfs::frontend::store
