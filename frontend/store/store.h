// The store on disk, as the frontend sees it: paths, locks and work directories.
//
//   STORE/images/ID/{rootfs,diff,work,image.json}  finished images (only these live here)
//   STORE/layers/KEY/{diff,layer.json}              the shared layer cache, one dir per key
//   STORE/tmp/NAME                                  work in progress and trash
//   STORE/locks/                                    flock files (store, layer-KEY, tmp-NAME)
//   STORE/meta/store-marker                         root-written: owner and id mappings
//
// Everything appears by one rename from tmp/, so a half-made thing is never visible.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "frontend/helper_client.h"
#include "ipc/unique_fd.h"

namespace grootfs::frontend::store {

struct Paths {
  std::string root;
  std::string images() const { return root + "/images"; }
  std::string layers() const { return root + "/layers"; }
  std::string tmp() const { return root + "/tmp"; }
  std::string locks() const { return root + "/locks"; }
  std::string meta() const { return root + "/meta"; }
  std::string marker() const { return root + "/meta/store-marker"; }
  std::string image(const std::string& id) const { return images() + "/" + id; }
  std::string layer(const std::string& key) const { return layers() + "/" + key; }
};

// Whether root holds an initialised store (its marker is there).
bool IsStore(const Paths& p);
// Throws a one-line error naming init-store when the store is missing or uninitialised.
void RequireStore(const Paths& p);

// The names in a directory, without "." and ".."; empty when it cannot be read.
std::vector<std::string> ListDir(const std::string& path);

// 32 random hex characters.
std::string RandomName();

// Owner of the store directory: what every directory the frontend makes must belong to.
struct Owner {
  uid_t uid;
  gid_t gid;
};
Owner StoreOwner(const Paths& p);
// mkdir with mode, then chown to the store's owner when we are root and it differs.
void MakeDir(const std::string& path, mode_t mode, const Owner& owner);
// Writes a file durably: write to PATH.tmp, fsync, rename.
void WriteFileAtomically(const std::string& path, const std::string& content, const Owner& owner);
// Writes a file in a directory nobody else sees yet (a work dir before its rename), without
// fsync: for what a host crash makes useless anyway (an image's record: its mount is gone too).
void WriteNewFile(const std::string& path, const std::string& content, const Owner& owner);
// A regular file's content (no symlink followed, a fifo refused without blocking), at most
// `max` bytes (more is an error); throws Error.
std::string ReadFile(const std::string& path, std::size_t max = 4 << 20);

// flock on a file under STORE/locks. Released when destroyed (or when the process dies).
class FileLock {
 public:
  enum class Mode { kShared, kExclusive };
  // Waits up to timeout; throws naming the lock when it cannot be had in time.
  FileLock(const Paths& p, const std::string& name, Mode mode,
           std::chrono::seconds timeout = std::chrono::seconds(600));
  // Tries once; check held().
  static FileLock TryLock(const Paths& p, const std::string& name, Mode mode);
  FileLock() = default;
  FileLock(FileLock&&) = default;
  FileLock& operator=(FileLock&&) = default;
  bool held() const { return static_cast<bool>(fd_); }
  void Release() { fd_.Reset(); }

 private:
  ipc::UniqueFd fd_;
};

// A directory STORE/tmp/NAME owned by this process (a held lock tmp-NAME says so). Unless
// Commit()ed it is unmounted and removed through the helper when destroyed; if the process
// dies first, the next sweep removes it. With `subvolume` it is made as a btrfs subvolume
// (an image directory on a btrfs store with quotas: its qgroup is the image's quota).
class WorkDir {
 public:
  WorkDir(const Paths& p, HelperClient& helper, bool subvolume = false);
  ~WorkDir();
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;

  const std::string& name() const { return name_; }
  std::string path() const { return paths_.tmp() + "/" + name_; }
  void MarkMounted() { mounted_ = true; }
  // Renames the work dir to `dest` (which must not exist); throws on failure. EEXIST is
  // reported as std::filesystem-free errno in the thrown Error's message. Refused once grootfs
  // is being stopped by a signal; `decides`: this rename is the command's result, which a
  // signal can no longer undo.
  void CommitTo(const std::string& dest, bool decides = false);

 private:
  const Paths& paths_;
  HelperClient& helper_;
  std::string name_;
  FileLock lock_;
  bool mounted_ = false;
  bool committed_ = false;
};

// Moves an existing directory (an image or a layer) into tmp/ and removes it through the
// helper, unmounting its rootfs first. Returns false if it was not there. Once it is hidden the
// move stands: a removal that fails (a mount someone put inside) is logged at error and the
// rest is left in tmp/ for a later sweep.
bool Discard(const Paths& p, HelperClient& helper, const std::string& path);

// Removes the entry tmp/NAME, whose owner is gone: a non-directory is unlinked here (unlink never
// follows it); a directory has the overlay the store mounted on its rootfs unmounted and is
// removed through the helper, which never crosses a mount. Throws why it cannot.
void RemoveLeftover(const Paths& p, HelperClient& helper, const std::string& name);

// A tmp/ entry a sweep could not remove, and why.
struct Leftover {
  std::string name;
  std::string reason;
};

// Removes tmp/ entries whose owner died (their lock is free). Best effort: an entry it cannot
// remove is logged at error (path and reason) and skipped, so one bad entry never stops the
// command that sweeps; returns those entries.
std::vector<Leftover> SweepTmp(const Paths& p, HelperClient& helper);

// Whether a tmp/ entry may belong to a live command: only names RandomName() makes can (a
// command holds the lock tmp-NAME while it works). Anything else is debris, whoever made it.
bool MayHaveOwner(const std::string& name);
// Removes lock files nobody holds whose layer or tmp entry is gone.
void SweepLocks(const Paths& p);

// Bytes allocated beneath a directory (du), without following symlinks; hard links once.
std::uint64_t DiskUsage(const std::string& path);

}  // namespace grootfs::frontend::store
