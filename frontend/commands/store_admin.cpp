// init-store and delete-store: root only. They set up and tear down the store itself (and its
// XFS backing file), which the helper never does; rootfs unmounts and removals of what the
// store's ids own still go through the helper.
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "frontend/commands/commands.h"
#include "frontend/kernel_features.h"
#include "frontend/lifetime.h"
#include "frontend/log.h"
#include "frontend/store/act_as_owner.h"
#include "frontend/store/mounts.h"
#include "frontend/store/moved_mounts.h"
#include "frontend/store/store.h"
#include "frontend/util/error.h"
#include "frontend/util/open_at.h"

namespace grootfs::frontend::commands {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// Runs a program (mkfs.xfs, mount helpers) and returns its exit status.
int RunProgram(const std::vector<std::string>& argv) {
  const pid_t pid = fork();
  if (pid < 0) throw Error(Errno("fork"));
  if (pid == 0) {
    const int devnull = open("/dev/null", O_RDWR);
    (void)dup2(devnull, STDOUT_FILENO);
    (void)dup2(devnull, STDERR_FILENO);
    lifetime::RestoreSignalMask();  // grootfs's stop signals are blocked for its own thread
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool IsMountPoint(const std::string& path) {
  struct stat st{}, parent{};
  if (stat(path.c_str(), &st) != 0 || stat((path + "/..").c_str(), &parent) != 0) return false;
  return st.st_dev != parent.st_dev;
}

bool IsEmptyDir(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return false;
  int n = 0;
  while (dirent* e = readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  closedir(d);
  return n == 0;
}

// The host id that namespace id 0 maps to; 0 without mappings.
std::uint32_t HostRoot(const std::vector<IdMapping>& maps) {
  for (const auto& m : maps)
    if (m.ns_id == 0) return m.host_id;
  return 0;
}

// A backing file is trusted only where no one but root could have made or swapped it: a
// regular file of root's, one link, in a directory root owns and no one else may write.
void CheckBackingFile(const std::string& backing) {
  const std::string dir = std::filesystem::path(backing).parent_path().string();
  struct stat d{}, f{};
  if (lstat(dir.c_str(), &d) != 0 || !S_ISDIR(d.st_mode) || d.st_uid != 0 || (d.st_mode & 022) != 0)
    throw Error("refusing backing store " + backing + ": its directory must be root's and "
                "writable by root only");
  if (lstat(backing.c_str(), &f) != 0) return;  // root makes it
  if (!S_ISREG(f.st_mode) || f.st_uid != 0 || f.st_nlink != 1 || (f.st_mode & 022) != 0)
    throw Error("refusing backing store " + backing + ": it is not a file root made");
}

// delete-store removes the backing file only if it is root's own regular file.
void RemoveBackingFile(const std::string& backing) {
  struct stat f{};
  if (lstat(backing.c_str(), &f) == 0 && S_ISREG(f.st_mode) && (f.st_uid == 0 || geteuid() != 0))
    (void)unlink(backing.c_str());
}

void MountBackingStore(const Invocation& inv, const std::string& backing) {
  auto& log = Logger::Get();
  CheckBackingFile(backing);
  struct stat st{};
  if (lstat(backing.c_str(), &st) != 0) {
    ipc::UniqueFd fd(open(backing.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) throw Error(Errno("cannot create " + backing));
    if (ftruncate(fd.get(), *inv.store_size_bytes) != 0) throw Error(Errno("cannot size " + backing));
    fd.Reset();
    if (RunProgram({"mkfs.xfs", "-q", "-f", backing}) != 0) {
      (void)unlink(backing.c_str());
      throw Error("mkfs.xfs failed on " + backing + " (is xfsprogs installed? is the size >= 300MB?)");
    }
  }
  if (mkdir(inv.store.c_str(), 0700) != 0 && errno != EEXIST) throw Error(Errno("mkdir " + inv.store));
  if (IsMountPoint(inv.store)) return;
  // nosuid, nodev: nothing in the store's filesystem may raise privilege or reach a device.
  if (RunProgram({"mount", "-o", "loop,noatime,nosuid,nodev,pquota", backing, inv.store}) == 0) {
    log.Info("backing-store-mounted", {{"quota", true}});
    return;
  }
  if (RunProgram({"mount", "-o", "loop,noatime,nosuid,nodev", backing, inv.store}) != 0)
    throw Error("cannot mount the backing store " + backing);
  log.Info("backing-store-mounted", {{"quota", false}});
}

constexpr const char* kAreas[] = {"images", "layers", "tmp", "locks"};

// The store directory, opened without following a link and taken over by root (0700): from
// here on no one else can add, swap or remove anything in it while root builds it.
// The store's path may hold no symlink (the helper refuses one too): so no component a user
// controls can point root's init-store at another directory.
ipc::UniqueFd TakeStoreDir(const std::string& root) {
  std::filesystem::path path = std::filesystem::path(root).lexically_normal();
  if (!path.has_filename()) path = path.parent_path();  // a trailing slash
  const ipc::UniqueFd parent =
      OpenNoSymlinks(AT_FDCWD, path.parent_path().string(), O_PATH | O_DIRECTORY);
  if (!parent) throw Error(Errno("cannot open the store's parent " + path.parent_path().string()));
  const std::string name = path.filename().string();
  if (mkdirat(parent.get(), name.c_str(), 0700) != 0 && errno != EEXIST) throw Error(Errno("mkdir " + root));
  ipc::UniqueFd fd(openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat was{};
  if (!fd || fstat(fd.get(), &was) != 0) throw Error(Errno(root + " is not a directory"));
  if (fchown(fd.get(), 0, 0) != 0 || fchmod(fd.get(), 0700) != 0) throw Error(Errno("cannot take " + root));
  // What may already be there: nothing, a new filesystem's lost+found, or what a run of
  // init-store that died half-way made (root's directories, under their own names).
  for (const std::string& name : store::ListDir("/proc/self/fd/" + std::to_string(fd.get()))) {
    struct stat st{};
    const bool ours = std::find(std::begin(kAreas), std::end(kAreas), name) != std::end(kAreas) ||
                      name == "meta";
    if (name == "lost+found" ||
        (ours && fstatat(fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISDIR(st.st_mode) && st.st_uid == 0))
      continue;
    // Refused: the directory goes back as it was (its contents were never looked into).
    (void)!fchown(fd.get(), was.st_uid, was.st_gid);
    (void)fchmod(fd.get(), was.st_mode & 07777);
    throw Error(root + " exists and is not an empty directory or a grootfs store");
  }
  return fd;
}

// Makes (or reopens, if root made it before) a directory beneath `parent` and sets its mode
// and owner on the fd: nothing is looked up by a path someone else could change.
ipc::UniqueFd MakeDirAt(int parent, const char* name, mode_t mode, const store::Owner& owner) {
  if (mkdirat(parent, name, mode) != 0 && errno != EEXIST) throw Error(Errno(std::string("mkdir ") + name));
  ipc::UniqueFd fd(openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st{};
  if (!fd || fstat(fd.get(), &st) != 0 || st.st_uid != 0)
    throw Error(std::string("cannot make the store's ") + name + " directory");
  if (fchmod(fd.get(), mode) != 0 || fchown(fd.get(), owner.uid, owner.gid) != 0)
    throw Error(Errno(std::string("cannot set up ") + name));
  return fd;
}

void WriteMarker(int meta, const std::string& text) {
  (void)unlinkat(meta, "store-marker.tmp", 0);  // a dead run's; meta is root's alone
  ipc::UniqueFd fd(openat(meta, "store-marker.tmp",
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd || write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      fsync(fd.get()) != 0 || renameat(meta, "store-marker.tmp", meta, "store-marker") != 0)
    throw Error(Errno("cannot write the store marker"));
}

// Makes the store's missing parent directories, root's and mode 0755, as GrootFS does
// (os.MkdirAll). Each component is made with mkdirat beneath an O_DIRECTORY|O_NOFOLLOW fd of
// the one before, so a symlink on the way is refused, never followed. Nothing is done when the
// parent already exists.
void MakeStoreParents(const std::string& store) {
  namespace fs = std::filesystem;
  const fs::path parent = fs::path(store).lexically_normal().parent_path();
  struct stat st{};
  if (parent.empty() || stat(parent.c_str(), &st) == 0) return;
  ipc::UniqueFd dir(open(parent.is_absolute() ? "/" : ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  if (!dir) throw Error(Errno("cannot open " + std::string(parent.is_absolute() ? "/" : ".")));
  fs::path done = parent.is_absolute() ? fs::path("/") : fs::path();
  for (const fs::path& part : parent.relative_path()) {
    if (part.empty() || part == ".") continue;
    done /= part;
    const bool made = mkdirat(dir.get(), part.c_str(), 0755) == 0;
    if (!made && errno != EEXIST) throw Error(Errno("mkdir " + done.string()));
    ipc::UniqueFd next(
        openat(dir.get(), part.c_str(), O_DIRECTORY | O_NOFOLLOW | O_RDONLY | O_CLOEXEC));
    if (!next) {
      if (errno == ELOOP || errno == ENOTDIR)
        throw Error("cannot make the store's parent " + done.string() +
                    ": it is a symlink or not a directory (give the store's real path)");
      throw Error(Errno("cannot open " + done.string()));
    }
    // mkdirat's mode is masked by the umask; GrootFS's parents are 0755 whatever it is.
    if (made && (fchown(next.get(), 0, 0) != 0 || fchmod(next.get(), 0755) != 0))
      throw Error(Errno("cannot secure " + done.string()));
    dir = std::move(next);
  }
}

}  // namespace

int InitStore(const Invocation& inv) {
  if (geteuid() != 0) throw Error("init-store must be run as root");
  // A kernel without what the helper needs is refused here, once, not at every create.
  if (const auto missing = MissingKernelFeatures(); !missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
    throw Error("this kernel lacks " + list + ", which grootfs-helper needs (Linux 5.15 has all)");
  }
  MakeStoreParents(inv.store);
  const store::Paths p{inv.store};
  if (inv.store_size_bytes && *inv.store_size_bytes > 0)
    MountBackingStore(inv, p.root + ".backing-store");
  if (store::IsStore(p)) {
    Logger::Get().Info("store-already-initialised", {{"store", p.root}});
    return 0;
  }
  const store::Owner owner{HostRoot(inv.uid_mappings), HostRoot(inv.gid_mappings)};
  ipc::UniqueFd store = TakeStoreDir(p.root);
  for (const char* area : kAreas) (void)MakeDirAt(store.get(), area, 0700, owner);
  ipc::UniqueFd meta = MakeDirAt(store.get(), "meta", 0755, store::Owner{0, 0});
  std::ostringstream marker;
  marker << "grootfs-store-v1\nowner:" << owner.uid << ":" << owner.gid << "\n";
  // The store's rootfs mounts carry this as their source: how the helper counts them and
  // finds those a user moved away, unlike a directory's inode number never used again.
  marker << "tag:" << store::RandomName() << "\n";
  for (const auto& m : inv.uid_mappings)
    marker << "uidmap:" << m.ns_id << ":" << m.host_id << ":" << m.size << "\n";
  for (const auto& m : inv.gid_mappings)
    marker << "gidmap:" << m.ns_id << ":" << m.host_id << ":" << m.size << "\n";
  WriteMarker(meta.get(), marker.str());
  // Handed to its owner last, whole: until now only root could write anywhere in it.
  if (fchown(store.get(), owner.uid, owner.gid) != 0) throw Error(Errno("cannot hand over " + p.root));
  Logger::Get().Info("store-initialised", {{"store", p.root}});
  return 0;
}

int DeleteStore(const Invocation& inv) {
  const store::Paths p{inv.store};
  struct stat st{};
  const std::string backing = p.root + ".backing-store";
  if (lstat(p.root.c_str(), &st) != 0) {
    RemoveBackingFile(backing);
    return 0;
  }
  if (!S_ISDIR(st.st_mode)) throw Error(p.root + " is not a grootfs store");
  const bool mounted = IsMountPoint(p.root);
  if (!store::IsStore(p) && !mounted && !IsEmptyDir(p.root))
    throw Error(p.root + " is not a grootfs store");
  // Everything inside the store is removed as its owner: a link planted there leads nowhere
  // the owner could not write to by himself. Rootfs mounts go through the helper.
  const bool as_owner = store::ActAsStoreOwner(p.root, /*keep_root=*/true);
  if (store::IsStore(p)) {
    auto helper = HelperClient::Start(inv.helper_bin, p.root);
    // Wherever a user carried them; one that cannot be unmounted keeps the store (and its
    // marker, so its mounts still count against its limit) until it can.
    if (const auto left = store::UnmountMovedMounts(p, *helper); !left.empty())
      throw Error("cannot delete store " + p.root + ": its rootfs mount at " + left.front() +
                  " cannot be unmounted");
    store::FileLock store_lock;
    try {
      store_lock = store::FileLock(p, "store", store::FileLock::Mode::kExclusive);
    } catch (const Error& e) {  // a broken lock file does not keep the store alive
      Logger::Get().Error("store-lock-unusable", {{"error", e.what()}});
    }
    // One entry that cannot go (a foreign mount, a link) does not stop the others.
    for (const std::string& dir : {p.images(), p.layers(), p.tmp()}) {
      struct stat area{};
      if (lstat(dir.c_str(), &area) != 0 || !S_ISDIR(area.st_mode)) continue;  // a link: removed below
      for (const std::string& name : store::ListDir(dir)) {
        try {
          (void)store::Discard(p, *helper, dir + "/" + name);
        } catch (const Error& e) {  // a mount point itself cannot move: detached below
          Logger::Get().Error("cannot-remove", {{"path", dir + "/" + name}, {"error", e.what()}});
        }
      }
    }
    // What is still mounted inside (someone else's mounts) is detached, never crossed.
    if (const auto left = store::DetachMountsBeneath(p.root); !left.empty())
      throw Error("cannot delete the store: " + left.front() +
                  " is mounted inside it; unmount it, then run delete-store again");
  }
  std::error_code ec;
  for (const std::string& name : store::ListDir(p.root))
    if (name != "meta") std::filesystem::remove_all(p.root + "/" + name, ec);
  if (as_owner) store::BackToRoot();
  // meta is root's: its marker goes last, by fd, then the store itself.
  ipc::UniqueFd store(open(p.root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  ipc::UniqueFd meta(store ? openat(store.get(), "meta", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1);
  if (meta) {
    (void)unlinkat(meta.get(), "store-marker", 0);
    (void)unlinkat(meta.get(), "store-marker.tmp", 0);
    (void)unlinkat(store.get(), "meta", AT_REMOVEDIR);
  }
  if (mounted && umount2(p.root.c_str(), UMOUNT_NOFOLLOW) != 0 &&
      umount2(p.root.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0)
    throw Error(Errno("cannot unmount the backing store at " + p.root));
  store.Reset();
  if (rmdir(p.root.c_str()) != 0 && errno != ENOENT) throw Error(Errno("cannot remove " + p.root));
  RemoveBackingFile(backing);
  Logger::Get().Info("store-deleted", {{"store", p.root}});
  return 0;
}

}  // namespace grootfs::frontend::commands
