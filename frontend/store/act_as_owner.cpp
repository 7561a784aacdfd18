#include "frontend/store/act_as_owner.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif
#include <vector>

#include "frontend/log.h"
#include "frontend/util/error.h"
#include "frontend/util/open_at.h"
#include "ipc/unique_fd.h"

namespace grootfs::frontend::store {
namespace {

std::vector<gid_t> root_groups;
constexpr uid_t kNobody = 65534;
bool acting = false;  // ActAsStoreOwner changed the ids, and BackToRoot has not undone it

// Only CAP_DAC_READ_SEARCH effective; and permitted, unless root must come back.
void KeepReadSearch(bool keep_root) {
  cap_t caps = cap_get_proc();
  const cap_value_t read_search = CAP_DAC_READ_SEARCH;
  const bool done = caps != nullptr && cap_clear_flag(caps, CAP_EFFECTIVE) == 0 &&
                    (keep_root || cap_clear_flag(caps, CAP_PERMITTED) == 0) &&
                    cap_set_flag(caps, CAP_PERMITTED, 1, &read_search, CAP_SET) == 0 &&
                    cap_set_flag(caps, CAP_EFFECTIVE, 1, &read_search, CAP_SET) == 0 &&
                    cap_set_proc(caps) == 0;
  if (caps != nullptr) cap_free(caps);
  if (!done) throw Error(std::string("cannot limit capabilities: ") + std::strerror(errno));
}

}  // namespace

bool ActAsStoreOwner(const std::string& store, bool keep_root) {
  if (geteuid() != 0) return false;
  const ipc::UniqueFd fd = OpenNoSymlinks(AT_FDCWD, store, O_PATH | O_DIRECTORY);
  struct stat st {};
  if (!fd && errno != ENOENT)
    throw Error("cannot open the store " + store + ": " + std::strerror(errno) +
                (errno == ELOOP ? " (its path may hold no symlink)" : ""));
  if (!fd)
    st.st_uid = st.st_gid = kNobody;  // not there now: whatever appears is not root's
  else if (fstat(fd.get(), &st) != 0)
    throw Error(std::string("cannot stat the store: ") + std::strerror(errno));
  if (st.st_uid == 0 && st.st_gid == 0) return false;
#if defined(__SANITIZE_ADDRESS__)
  // Test builds only: LeakSanitizer cannot stop a process whose ids differ, so its leak check
  // runs now, once, instead of at exit.
  __lsan_do_leak_check();
#endif
  const int n = getgroups(0, nullptr);
  root_groups.assign(static_cast<std::size_t>(n > 0 ? n : 0), 0);
  if (n < 0 || getgroups(n, root_groups.data()) != n || setgroups(0, nullptr) != 0 ||
      setresgid(static_cast<gid_t>(-1), st.st_gid, static_cast<gid_t>(-1)) != 0 ||
      setresuid(static_cast<uid_t>(-1), st.st_uid, static_cast<uid_t>(-1)) != 0 ||
      geteuid() != st.st_uid || getegid() != st.st_gid)
    throw Error(std::string("cannot act as the store's owner: ") + std::strerror(errno));
  KeepReadSearch(keep_root);  // the change of euid cleared the effective set

  Logger::Get().Debug("acting-as-store-owner", {{"uid", st.st_uid}, {"gid", st.st_gid}});
  acting = true;
  return true;
}

void BackToRoot() {
  // Back to euid 0: the kernel copies the permitted capabilities to the effective set.
  if (setresuid(static_cast<uid_t>(-1), 0, static_cast<uid_t>(-1)) != 0 ||
      setresgid(static_cast<gid_t>(-1), 0, static_cast<gid_t>(-1)) != 0 ||
      setgroups(root_groups.size(), root_groups.data()) != 0)
    throw Error(std::string("cannot act as root again: ") + std::strerror(errno));
  acting = false;
}

bool ActingAsStoreOwner() { return acting; }

NoEffectiveCapabilities::NoEffectiveCapabilities() : saved_(cap_get_proc()) {
  cap_t none = saved_ != nullptr ? cap_dup(static_cast<cap_t>(saved_)) : nullptr;
  ok_ = none != nullptr && cap_clear_flag(none, CAP_EFFECTIVE) == 0 && cap_set_proc(none) == 0;
  if (none != nullptr) cap_free(none);
}

NoEffectiveCapabilities::~NoEffectiveCapabilities() {
  if (saved_ == nullptr) return;
  (void)cap_set_proc(static_cast<cap_t>(saved_));
  cap_free(saved_);
}

}  // namespace grootfs::frontend::store
