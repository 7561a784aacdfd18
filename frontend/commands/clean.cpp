// clean: remove layers no image uses, once the cache is over the threshold. Takes the store
// lock exclusively only to decide and move layers aside; removal happens after.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "frontend/commands/commands.h"
#include "frontend/lifetime.h"
#include "frontend/log.h"
#include "frontend/metrics/metrics.h"
#include "frontend/store/image_record.h"
#include "frontend/store/layer_cache.h"
#include "frontend/store/quota.h"
#include "frontend/store/store.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::commands {
namespace {

bool IsMountPoint(const std::string& path) {
  struct statx stx {};
  return statx(AT_FDCWD, path.c_str(), 0, 0, &stx) == 0 &&
         (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0 &&
         (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

// What the store really uses. On its own filesystem (a backing store, a dedicated mount):
// what that filesystem has in use. Otherwise: its layers plus what every image has written,
// by quota accounting where the images have quotas.
std::uint64_t StoreUsage(const Invocation& inv, const store::Paths& p) {
  if (IsMountPoint(p.root)) return store::FilesystemUsedBytes(p.root);
  std::uint64_t bytes = 0;
  for (const auto& key : store::ListDir(p.layers()))
    if (auto r = store::ReadLayer(p, key)) bytes += r->size;
  std::unique_ptr<HelperClient> helper;
  for (const auto& id : store::ListDir(p.images())) {
    try {
      bytes += ImageExclusiveBytes(inv, id, store::ReadImageRecord(p, id), helper);
    } catch (const std::exception&) {
      // Deleted meanwhile, or without a (readable) record: nothing to count.
    }
  }
  return bytes;
}

}  // namespace

void CleanStore(const Invocation& inv, std::optional<std::int64_t> threshold,
                const std::set<std::string>& keep) {
  const store::Paths p{inv.store};
  auto& log = Logger::Get();
  if (threshold && *threshold > 0) {
    const std::uint64_t usage = StoreUsage(inv, p);
    if (usage < static_cast<std::uint64_t>(*threshold)) {
      log.Info("under-threshold", {{"store_bytes", usage}, {"threshold", *threshold}});
      return;
    }
  }
  auto helper = HelperClient::Start(inv.helper_bin, p.root);
  // Doomed layers are renamed, under the lock, into one trash directory in tmp/ (ours while we
  // hold its lock; a sweep's if we die), which the helper then removes in one request.
  const std::string trash = store::RandomName();
  store::FileLock trash_lock;
  std::size_t removed = 0;
  {
    store::FileLock store_lock(p, "store", store::FileLock::Mode::kExclusive);
    const auto used = store::LayerUsers(p);
    for (const auto& key : store::ListDir(p.layers())) {
      if (used.count(key) != 0 || keep.count(key) != 0) continue;
      // A layer being made or checked right now is skipped; the next clean gets it.
      auto layer_lock =
          store::FileLock::TryLock(p, "layer-" + key, store::FileLock::Mode::kExclusive);
      if (!layer_lock.held()) continue;
      if (!trash_lock.held()) {
        trash_lock = store::FileLock(p, "tmp-" + trash, store::FileLock::Mode::kExclusive);
        lifetime::AddWork(trash);  // a stop signal's cleanup removes it; none moves after one
        store::MakeDir(p.tmp() + "/" + trash, 0700, store::StoreOwner(p));
      }
      if (rename(p.layer(key).c_str(), (p.tmp() + "/" + trash + "/" + key).c_str()) == 0) {
        ++removed;
        // Safe while we hold it: a waiter on the old file sees it gone and opens a new one.
        (void)unlink((p.locks() + "/layer-" + key).c_str());
      }
    }
  }
  // Outside the lock: the layers are already invisible. Anything left by a crash is swept too.
  // Best effort, as every sweep: what cannot go is logged and left to a later one.
  if (trash_lock.held()) {
    try {
      helper->RemoveTree(ipc::Area::kTmp, trash);
      (void)unlink((p.locks() + "/tmp-" + trash).c_str());
      lifetime::RemoveWork(trash);  // else still ours: a stop signal's cleanup tries again
    } catch (const std::exception& e) {
      log.Error("leftover-not-removed", {{"path", p.tmp() + "/" + trash}, {"error", e.what()}});
    }
    trash_lock.Release();
  }
  (void)store::SweepTmp(p, *helper);
  store::SweepLocks(p);
  log.Info("cleaned", {{"layers_removed", removed}});
}

void EmitStoreMetrics(const Invocation& inv) {
  if (!metrics::Enabled()) return;  // measuring the store is not free: only when asked for
  const store::Paths p{inv.store};
  try {
    metrics::Bytes("StoreUsage", StoreUsage(inv, p));
    const auto used = store::LayerUsers(p);
    std::uint64_t unused = 0;
    for (const auto& key : store::ListDir(p.layers()))
      if (used.count(key) == 0)
        if (auto r = store::ReadLayer(p, key)) unused += r->size;
    metrics::Bytes("UnusedLayersSize", unused);
  } catch (const std::exception& e) {
    Logger::Get().Info("store-metrics-skipped", {{"error", e.what()}});
  }
}

int Clean(const Invocation& inv) {
  const store::Paths p{inv.store};
  struct stat st {};
  if (stat(p.root.c_str(), &st) != 0) return 0;
  if (!store::IsStore(p)) throw Error(p.root + " is not a grootfs store");
  CleanStore(inv, inv.threshold_bytes);
  EmitStoreMetrics(inv);
  return 0;
}

}  // namespace grootfs::frontend::commands
