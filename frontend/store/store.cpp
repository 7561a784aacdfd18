#include "frontend/store/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <thread>

#include "frontend/lifetime.h"
#include "frontend/log.h"
#include "frontend/metrics/metrics.h"
#include "frontend/store/act_as_owner.h"
#include "frontend/store/own_removal.h"
#include "frontend/store/quota.h"
#include "frontend/util/error.h"
#include "frontend/util/open_at.h"

namespace grootfs::frontend::store {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// Opens `path` for reading what the store holds. When root acts for the store's owner, no
// component may be a symlink: the owner can plant one anywhere in the store (the store's own
// path was checked to have none).
ipc::UniqueFd OpenInStore(const std::string& path, int flags) {
  if (ActingAsStoreOwner()) return OpenNoSymlinks(AT_FDCWD, path, flags);
  return ipc::UniqueFd(open(path.c_str(), flags | O_CLOEXEC));
}

}  // namespace

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  ipc::UniqueFd fd = OpenInStore(path, O_RDONLY | O_DIRECTORY);
  if (!fd) return names;
  DIR* d = fdopendir(fd.get());
  if (d == nullptr) return names;
  (void)fd.Release();
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  closedir(d);
  return names;
}

bool IsStore(const Paths& p) {
  struct stat st {};
  return stat(p.marker().c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void RequireStore(const Paths& p) {
  struct stat st {};
  if (stat(p.root.c_str(), &st) != 0)
    throw Error("store " + p.root + " does not exist: run init-store first");
  if (!IsStore(p)) throw Error("store " + p.root + " is not initialised: run init-store first");
}

std::string RandomName() {
  // getrandom(2) directly: std::random_device probes the CPU (cpuid, which traps in a VM) first.
  unsigned char bytes[16];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno != EINTR) throw Error(Errno("getrandom"));
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned char b : bytes) {
    s += hex[b >> 4];
    s += hex[b & 15];
  }
  return s;
}

Owner StoreOwner(const Paths& p) {
  struct stat st {};
  if (stat(p.root.c_str(), &st) != 0) throw Error(Errno("cannot stat store " + p.root));
  return Owner{st.st_uid, st.st_gid};
}

void MakeDir(const std::string& path, mode_t mode, const Owner& owner) {
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) throw Error(Errno("mkdir " + path));
  if (chmod(path.c_str(), mode) != 0) throw Error(Errno("chmod " + path));
  if (geteuid() == 0 && (owner.uid != 0 || owner.gid != 0) &&
      chown(path.c_str(), owner.uid, owner.gid) != 0)
    throw Error(Errno("chown " + path));
}

namespace {

void WriteWhole(const std::string& path, const std::string& content, const Owner& owner,
                bool durable) {
  ipc::UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) throw Error(Errno("cannot write " + path));
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(Errno("cannot write " + path));
    done += static_cast<std::size_t>(n);
  }
  if (geteuid() == 0 && (owner.uid != 0 || owner.gid != 0))
    (void)!fchown(fd.get(), owner.uid, owner.gid);
  if (durable && fsync(fd.get()) != 0) throw Error(Errno("cannot sync " + path));
}

}  // namespace

void WriteFileAtomically(const std::string& path, const std::string& content, const Owner& owner) {
  const std::string tmp = path + ".tmp";
  WriteWhole(tmp, content, owner, /*durable=*/true);
  if (rename(tmp.c_str(), path.c_str()) != 0) throw Error(Errno("cannot rename " + tmp));
}

void WriteNewFile(const std::string& path, const std::string& content, const Owner& owner) {
  WriteWhole(path, content, owner, /*durable=*/false);
}

std::string ReadFile(const std::string& path, std::size_t max) {
  // A record is never a symlink, a fifo (which would block the open or the read) or larger
  // than `max`: whoever owns the store may have made it one.
  const ipc::UniqueFd fd = OpenInStore(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  if (!fd) throw Error(Errno("cannot read " + path));
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) throw Error(Errno("cannot read " + path));
  if (!S_ISREG(st.st_mode)) throw Error("cannot read " + path + ": not a regular file");
  std::string text;
  char buf[16384];
  for (ssize_t n; (n = read(fd.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(Errno("cannot read " + path));
    if (text.size() + n > max)
      throw Error("cannot read " + path + ": larger than " + std::to_string(max) + " bytes");
    text.append(buf, n);
  }
  return text;
}

namespace {

// Opens the lock file and takes the flock; true when held. The file may have been unlinked
// (by clean, under the store lock) between open and flock: then the lock is on a dead inode,
// so it is dropped and the caller tries again with a fresh open.
bool TryTake(ipc::UniqueFd& fd, const std::string& path, int op) {
  const int flags = O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW;
  fd.Reset(open(path.c_str(), flags, 0600));
  // A symlink planted in locks/ is never followed (an exclusive holder writes its pid into the
  // file): it is removed, and the lock made afresh.
  if (!fd && errno == ELOOP && unlink(path.c_str()) == 0) fd.Reset(open(path.c_str(), flags, 0600));
  if (!fd) throw Error(Errno("cannot open lock " + path));
  if (flock(fd.get(), op | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) throw Error(Errno("cannot lock " + path));
    fd.Reset();
    return false;
  }
  struct stat held {};
  struct stat now {};
  if (fstat(fd.get(), &held) != 0 || stat(path.c_str(), &now) != 0 || held.st_ino != now.st_ino) {
    fd.Reset();
    return false;
  }
  return true;
}

// Who holds a lock: each exclusive holder writes "pid N" into the file.
std::string Holder(const std::string& path) {
  std::string line;
  try {
    line = ReadFile(path, 64);
  } catch (const Error&) {
    return "unknown";
  }
  line = line.substr(0, line.find('\n'));
  return line.empty() ? "unknown" : line;
}

}  // namespace

FileLock::FileLock(const Paths& p, const std::string& name, Mode mode,
                   std::chrono::seconds timeout) {
  const std::string path = p.locks() + "/" + name;
  const int op = mode == Mode::kShared ? LOCK_SH : LOCK_EX;
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + timeout;
  bool logged = false;
  while (!TryTake(fd_, path, op)) {
    if (!logged) {
      Logger::Get().Info("waiting-for-lock", {{"lock", name}, {"holder", Holder(path)}});
      logged = true;
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw Error("timed out waiting for lock " + name + " in the store (held by " + Holder(path) +
                  ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (name == "store")  // GrootFS's locking times: how long the store lock took to get
    metrics::Duration(mode == Mode::kShared ? "SharedLockingTime" : "ExclusiveLockingTime",
                      std::chrono::steady_clock::now() - started);
  if (mode == Mode::kExclusive) {
    const std::string me = "pid " + std::to_string(getpid()) + "\n";
    if (ftruncate(fd_.get(), 0) == 0) (void)!pwrite(fd_.get(), me.data(), me.size(), 0);
  }
}

FileLock FileLock::TryLock(const Paths& p, const std::string& name, Mode mode) {
  FileLock lock;
  try {
    (void)TryTake(lock.fd_, p.locks() + "/" + name, mode == Mode::kShared ? LOCK_SH : LOCK_EX);
  } catch (const Error&) {
    lock.fd_.Reset();
  }
  return lock;
}

namespace {

// The store's tmp/, by fd: it belongs to the store's owner, who may have swapped it for a
// symlink.
ipc::UniqueFd OpenTmp(const Paths& p) {
  ipc::UniqueFd root(open(p.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return root;
  return OpenNoSymlinks(root.get(), "tmp", O_PATH | O_DIRECTORY | O_NOFOLLOW,
                        RESOLVE_BENEATH | RESOLVE_NO_XDEV);
}

bool RemoveOwnTmpEntry(const Paths& p, const std::string& name) {
  ipc::UniqueFd tmp = OpenTmp(p);
  return tmp && RemoveOwnTree(tmp.get(), name);
}

}  // namespace

WorkDir::WorkDir(const Paths& p, HelperClient& helper, bool subvolume)
    : paths_(p), helper_(helper), name_(RandomName()) {
  lock_ = FileLock(p, "tmp-" + name_, FileLock::Mode::kExclusive, std::chrono::seconds(1));
  lifetime::AddWork(name_);  // removed by the stop signal's cleanup if it comes to that
  if (subvolume)
    MakeSubvolume(p.tmp(), name_, StoreOwner(p));
  else
    MakeDir(path(), 0755, StoreOwner(p));
}

WorkDir::~WorkDir() {
  if (committed_) {
    lifetime::RemoveWork(name_);
    (void)unlink((paths_.locks() + "/tmp-" + name_).c_str());
    return;
  }
  try {
    if (mounted_) helper_.UnmountRootfs(ipc::Area::kTmp, name_);
    // Never mounted: what it holds may all be the owner's (an image's dirs made while the
    // helper started, which may have failed to); the helper removes what the owner may not.
    if (mounted_ || !RemoveOwnTmpEntry(paths_, name_)) helper_.RemoveTree(ipc::Area::kTmp, name_);
    (void)unlink((paths_.locks() + "/tmp-" + name_).c_str());
    lifetime::RemoveWork(name_);  // else still ours: a stop signal's cleanup tries again
  } catch (const std::exception& e) {
    Logger::Get().Error("cleanup-failed", {{"path", path()}, {"error", e.what()}});
  }
}

void WorkDir::CommitTo(const std::string& dest, bool decides) {
  lifetime::CommitGuard guard;  // throws once grootfs is being stopped
  if (renameat2(AT_FDCWD, path().c_str(), AT_FDCWD, dest.c_str(), RENAME_NOREPLACE) != 0) {
    const int err = errno;
    throw Error(err == EEXIST ? dest + " already exists" : Errno("cannot rename into " + dest));
  }
  committed_ = true;
  if (decides) guard.Decide();
}

bool Discard(const Paths& p, HelperClient& helper, const std::string& path) {
  const std::string name = RandomName();
  FileLock lock(p, "tmp-" + name, FileLock::Mode::kExclusive, std::chrono::seconds(1));
  lifetime::AddWork(name);  // throws once grootfs is being stopped: nothing moved yet
  if (rename(path.c_str(), (p.tmp() + "/" + name).c_str()) != 0) {
    const int err = errno;
    lifetime::RemoveWork(name);
    errno = err;
    if (errno == ENOENT) {
      (void)unlink((p.locks() + "/tmp-" + name).c_str());
      return false;
    }
    throw Error(Errno("cannot move " + path + " aside"));
  }
  try {
    RemoveLeftover(p, helper, name);
    lifetime::RemoveWork(name);  // else still ours: a stop signal's cleanup tries again
  } catch (const std::exception& e) {
    Logger::Get().Error("cannot-remove",
                        {{"path", p.tmp() + "/" + name}, {"was", path}, {"error", e.what()}});
  }
  (void)unlink((p.locks() + "/tmp-" + name).c_str());
  return true;
}

void RemoveLeftover(const Paths& p, HelperClient& helper, const std::string& name) {
  const std::string path = p.tmp() + "/" + name;
  ipc::UniqueFd tmp = OpenTmp(p);
  struct stat st {};
  if (!tmp || fstatat(tmp.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return;
    throw Error(Errno("cannot stat " + path));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(tmp.get(), name.c_str(), 0) != 0 && errno != ENOENT)
      throw Error(Errno("cannot remove " + path));
    return;
  }
  helper.UnmountRootfs(ipc::Area::kTmp, name);
  // What is the owner's goes here; the helper's confined child (about a millisecond to set up)
  // removes only what the owner may not: files a container's users wrote, for instance.
  const bool by_owner = RemoveOwnTree(tmp.get(), name);
  if (!by_owner) helper.RemoveTree(ipc::Area::kTmp, name);
  Logger::Get().Debug("tmp-entry-removed",
                      {{"name", name}, {"by", by_owner ? "grootfs" : "grootfs-helper"}});
}

bool MayHaveOwner(const std::string& name) {
  return name.size() == 32 && name.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::vector<Leftover> SweepTmp(const Paths& p, HelperClient& helper) {
  std::vector<Leftover> left;
  for (const std::string& name : ListDir(p.tmp())) {
    FileLock lock;
    if (MayHaveOwner(name)) {
      lock = FileLock::TryLock(p, "tmp-" + name, FileLock::Mode::kExclusive);
      if (!lock.held()) continue;  // its owner is alive
    }
    Logger::Get().Info("sweeping-leftover", {{"name", name}});
    try {
      RemoveLeftover(p, helper, name);
      if (lock.held()) (void)unlink((p.locks() + "/tmp-" + name).c_str());
    } catch (const std::exception& e) {
      Logger::Get().Error("leftover-not-removed",
                          {{"path", p.tmp() + "/" + name}, {"error", e.what()}});
      left.push_back({name, e.what()});
    }
  }
  return left;
}

void SweepLocks(const Paths& p) {
  for (const std::string& name : ListDir(p.locks())) {
    std::string owner;
    if (name.starts_with("layer-"))
      owner = p.layer(name.substr(6));
    else if (name.starts_with("tmp-"))
      owner = p.tmp() + "/" + name.substr(4);
    else
      continue;
    if (access(owner.c_str(), F_OK) == 0) continue;
    FileLock lock = FileLock::TryLock(p, name, FileLock::Mode::kExclusive);
    if (lock.held() && access(owner.c_str(), F_OK) != 0)
      (void)unlink((p.locks() + "/" + name).c_str());
  }
}

std::uint64_t DiskUsage(const std::string& path) {
  std::uint64_t total = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<std::string> stack{path};
  while (!stack.empty()) {
    const std::string dir = stack.back();
    stack.pop_back();
    for (const std::string& name : ListDir(dir)) {
      const std::string child = dir + "/" + name;
      struct stat st {};
      if (lstat(child.c_str(), &st) != 0) continue;
      if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !seen.insert({st.st_dev, st.st_ino}).second)
        continue;
      total += static_cast<std::uint64_t>(st.st_blocks) * 512;
      if (S_ISDIR(st.st_mode)) stack.push_back(child);
    }
  }
  return total;
}

}  // namespace grootfs::frontend::store
