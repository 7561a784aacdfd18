// init-store and delete-store: root only. They set up and tear down the store itself (and its
// XFS backing file), which the helper never does; rootfs unmounts and removals of what the
// store's ids own still go through the helper.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "frontend/commands/commands.h"
#include "frontend/lifetime.h"
#include "frontend/log.h"
#include "frontend/store/mounts.h"
#include "frontend/store/store.h"
#include "frontend/util/error.h"

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

void MountBackingStore(const Invocation& inv, const std::string& backing) {
  auto& log = Logger::Get();
  struct stat st{};
  if (stat(backing.c_str(), &st) != 0) {
    ipc::UniqueFd fd(open(backing.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
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
  if (RunProgram({"mount", "-o", "loop,noatime,pquota", backing, inv.store}) == 0) {
    log.Info("backing-store-mounted", {{"quota", true}});
    return;
  }
  if (RunProgram({"mount", "-o", "loop,noatime", backing, inv.store}) != 0)
    throw Error("cannot mount the backing store " + backing);
  log.Info("backing-store-mounted", {{"quota", false}});
}

}  // namespace

int InitStore(const Invocation& inv) {
  if (geteuid() != 0) throw Error("init-store must be run as root");
  const store::Paths p{inv.store};
  if (inv.store_size_bytes && *inv.store_size_bytes > 0)
    MountBackingStore(inv, p.root + ".backing-store");
  if (store::IsStore(p)) {
    Logger::Get().Info("store-already-initialised", {{"store", p.root}});
    return 0;
  }
  struct stat st{};
  if (stat(p.root.c_str(), &st) == 0 && (!S_ISDIR(st.st_mode) || !IsEmptyDir(p.root)) &&
      !IsMountPoint(p.root))
    throw Error(p.root + " exists and is not an empty directory or a grootfs store");
  const store::Owner owner{HostRoot(inv.uid_mappings), HostRoot(inv.gid_mappings)};
  if (mkdir(p.root.c_str(), 0700) != 0 && errno != EEXIST) throw Error(Errno("mkdir " + p.root));
  store::MakeDir(p.root, 0700, owner);
  for (const auto& dir : {p.images(), p.layers(), p.tmp(), p.locks()}) store::MakeDir(dir, 0700, owner);
  if (mkdir(p.meta().c_str(), 0755) != 0 && errno != EEXIST) throw Error(Errno("mkdir " + p.meta()));
  if (chown(p.meta().c_str(), 0, 0) != 0 || chmod(p.meta().c_str(), 0755) != 0)
    throw Error(Errno("cannot secure " + p.meta()));
  std::ostringstream marker;
  marker << "grootfs-store-v1\nowner:" << owner.uid << ":" << owner.gid << "\n";
  for (const auto& m : inv.uid_mappings)
    marker << "uidmap:" << m.ns_id << ":" << m.host_id << ":" << m.size << "\n";
  for (const auto& m : inv.gid_mappings)
    marker << "gidmap:" << m.ns_id << ":" << m.host_id << ":" << m.size << "\n";
  // Root writes the marker last: a store is a store only once it is whole.
  store::WriteFileAtomically(p.marker(), marker.str(), store::Owner{0, 0});
  Logger::Get().Info("store-initialised", {{"store", p.root}});
  return 0;
}

int DeleteStore(const Invocation& inv) {
  const store::Paths p{inv.store};
  struct stat st{};
  const std::string backing = p.root + ".backing-store";
  if (stat(p.root.c_str(), &st) != 0) {
    (void)unlink(backing.c_str());
    return 0;
  }
  if (!store::IsStore(p)) {
    if (IsMountPoint(p.root) || IsEmptyDir(p.root)) {
      // A backing store that never got its marker: undo init-store's first half.
    } else {
      throw Error(p.root + " is not a grootfs store");
    }
  } else {
    auto helper = HelperClient::Start(inv.helper_bin, p.root);
    store::FileLock store_lock(p, "store", store::FileLock::Mode::kExclusive);
    for (const std::string& dir : {p.images(), p.layers(), p.tmp()}) {
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        try {
          (void)store::Discard(p, *helper, entry.path().string());
        } catch (const Error& e) {  // a mount point itself cannot move: detached below
          Logger::Get().Error("cannot-remove", {{"path", entry.path()}, {"error", e.what()}});
        }
      }
    }
    // What is still mounted inside (someone else's mounts) is detached, never crossed.
    if (const auto left = store::DetachMountsBeneath(p.root); !left.empty())
      throw Error("cannot delete the store: " + left.front() +
                  " is mounted inside it; unmount it, then run delete-store again");
  }
  std::error_code ec;
  const bool mounted = IsMountPoint(p.root);
  if (mounted) {
    for (const auto& entry : std::filesystem::directory_iterator(p.root, ec))
      std::filesystem::remove_all(entry.path(), ec);
    if (umount2(p.root.c_str(), 0) != 0 && umount2(p.root.c_str(), MNT_DETACH) != 0)
      throw Error(Errno("cannot unmount the backing store at " + p.root));
  }
  std::filesystem::remove_all(p.root, ec);
  if (ec) throw Error("cannot remove " + p.root + ": " + ec.message());
  (void)unlink(backing.c_str());
  Logger::Get().Info("store-deleted", {{"store", p.root}});
  return 0;
}

}  // namespace grootfs::frontend::commands
