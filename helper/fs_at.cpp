// Runs in: grootfs-helper (privileged). Trusts: nothing; every name is resolved with openat2.
#include "helper/fs_at.h"

#include <dirent.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "ipc/limits.h"

namespace grootfs::helper {

Result<UniqueFd> OpenBeneath(int dir, const std::string& rel, int flags, std::uint64_t resolve,
                             mode_t mode) {
  const open_how how{static_cast<std::uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW),  // flags,
                     (flags & O_CREAT) != 0 ? mode : 0u, resolve};               // mode, resolve
  long fd;
  do fd = syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return Error::FromErrno("cannot open " + rel + " in the store");
  return UniqueFd(static_cast<int>(fd));
}

std::string PlacePath(ipc::Area area, const std::string& name) {
  // Decode accepts only the three areas, so the index is always 1, 2 or 3.
  static constexpr const char* kAreas[] = {"tmp/", "tmp/", "images/", "layers/"};
  return kAreas[static_cast<std::size_t>(area) & 3] + name;
}

std::string FdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

namespace {

std::vector<std::string> ListNames(int dir) {
  std::vector<std::string> names;
  UniqueFd copy(fcntl(dir, F_DUPFD_CLOEXEC, 0));
  std::unique_ptr<DIR, int (*)(DIR*)> d(copy ? fdopendir(copy.get()) : nullptr, &closedir);
  if (!d) return names;
  (void)copy.Release();  // the DIR owns it now
  rewinddir(d.get());
  while (dirent* e = readdir(d.get())) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  return names;
}

// Removes the contents of dir. At the depth limit, subdirectories are renamed up to `top`
// instead of being descended into; the caller loops until `top` is empty.
Result<void> RemoveLevel(int top, int dir, std::size_t depth, unsigned& moved) {
  for (const std::string& name : ListNames(dir)) {
    struct stat st {};
    if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return Error::FromErrno("stat " + name);
    }
    if (!S_ISDIR(st.st_mode)) {
      if (unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT)
        return Error::FromErrno("unlink " + name);
      continue;
    }
    if (depth >= ipc::limits::kMaxTreeDepth) {
      int r;  // a name an earlier, interrupted removal left there is skipped
      do r = renameat2(dir, name.c_str(), top, (".grootfs-deep-" + std::to_string(++moved)).c_str(),
                       RENAME_NOREPLACE);
      while (r != 0 && errno == EEXIST);
      if (r != 0) return Error::FromErrno("rename");
      continue;
    }
    auto sub = OpenBeneath(dir, name, O_RDONLY | O_DIRECTORY);
    if (!sub) {
      if (sub.error().code == EXDEV) return Error{EBUSY, "a mount is still inside " + name};
      return sub.error();
    }
    // Make sure we may list and unlink inside (a directory may be mode 0000).
    (void)fchmod(sub->get(), 0700);
    if (auto r = RemoveLevel(top, sub->get(), depth + 1, moved); !r) return r;
    if (unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
      return Error::FromErrno("rmdir " + name);
  }
  return {};
}

}  // namespace

std::string ReadAll(int fd, std::size_t max) {
  std::string text;
  char buf[65536];
  for (ssize_t n; text.size() <= max && (n = read(fd, buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  return text;
}

Result<void> RemoveContents(int dir) {
  unsigned moved = 0;
  for (;;) {
    const unsigned before = moved;
    if (auto r = RemoveLevel(dir, dir, 1, moved); !r) return r;
    if (moved == before) return {};
  }
}

}  // namespace grootfs::helper
