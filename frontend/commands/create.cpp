// create: read and verify the image, make sure every layer is in the cache, then make the
// image directory in tmp/, mount it through the helper and rename it into images/.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "frontend/commands/commands.h"
#include "frontend/image/blob_spool.h"
#include "frontend/image/oci_layout.h"
#include "frontend/image/reference.h"
#include "frontend/image/registry.h"
#include "frontend/image/tar_image.h"
#include "frontend/image_id.h"
#include "frontend/log.h"
#include "frontend/store/image_record.h"
#include "frontend/store/layer_cache.h"
#include "frontend/store/quota.h"
#include "frontend/store/store.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::commands {
namespace {

using store::FileLock;

constexpr std::size_t kParallelLayers = 4;  // layers fetched and unpacked at once

// What the registry client needs from the command line, the config and the store: manifests
// and configs are cached by digest in STORE/cache (made on demand, owned by the store's owner);
// a cold pull asks for a bottom layer the store does not hold while its config downloads.
image::RegistryOptions RegistryOptionsFor(const Invocation& inv) {
  image::RegistryOptions options;
  options.insecure_registries = inv.insecure_registries;
  options.registry_mirrors = inv.registry_mirrors;
  options.username = inv.username;
  options.password = inv.password;
  options.credentials_source = inv.credentials_source;
  options.certs_dir = inv.remote_layer_client_certificates_path;
  const store::Paths p{inv.store};
  options.cache_dir = p.root + "/cache";
  const store::Owner owner = store::StoreOwner(p);
  options.cache_uid = owner.uid;
  options.cache_gid = owner.gid;
  options.store_has_layer_from = [p](const std::string& digest) {
    return store::HasLayerFromBlob(p, digest);
  };
  return options;
}

// The directory `parts` names as the merged view of `lowers` (diff dirs, topmost first) shows
// it, if it is one: the topmost layer with anything at a prefix decides, a file or whiteout
// hides it, and an opaque directory hides the layers below it.
std::optional<std::string> LowerDir(const std::vector<std::string>& lowers,
                                    const std::vector<std::string>& parts) {
  for (const std::string& lower : lowers) {
    std::string path = lower;
    bool opaque = false;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      path += "/" + parts[i];
      struct stat st {};
      if (lstat(path.c_str(), &st) != 0) break;  // not in this layer: look below
      if (!S_ISDIR(st.st_mode)) return std::nullopt;
      if (i + 1 == parts.size()) return path;
      char v = 0;
      opaque = opaque || (getxattr(path.c_str(), "user.overlay.opaque", &v, 1) == 1 && v == 'y');
    }
    if (opaque) return std::nullopt;
  }
  return std::nullopt;
}

// Directories the image config declares as volumes exist in the rootfs. One the layers already
// have is left alone; a missing one is made in the upper dir, and a parent made there for it
// takes mode, mtime (and owner, as root) of the same directory in the layers, so the rootfs
// shows the layers' directory as it is.
void MakeVolumes(const std::string& upper, const std::vector<std::string>& lowers,
                 const std::vector<std::string>& volumes, const store::Owner& owner) {
  std::vector<std::pair<std::string, struct stat>> made;  // restored last, deepest first
  for (const std::string& volume : volumes) {
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i < volume.size()) {
      std::size_t j = volume.find('/', i);
      if (j == std::string::npos) j = volume.size();
      const std::string part = volume.substr(i, j - i);
      i = j + 1;
      if (part.empty() || part == ".") continue;
      if (part == "..") throw Error("bad volume path " + volume);
      parts.push_back(part);
    }
    if (parts.empty() || LowerDir(lowers, parts)) continue;
    std::string path = upper;
    for (std::size_t k = 0; k < parts.size(); ++k) {
      path += "/" + parts[k];
      struct stat st {};
      const bool fresh = lstat(path.c_str(), &st) != 0;
      store::MakeDir(path, 0755, owner);
      const auto lower = LowerDir(lowers, {parts.begin(), parts.begin() + k + 1});
      if (fresh && lower && lstat(lower->c_str(), &st) == 0) made.emplace_back(path, st);
    }
  }
  for (auto it = made.rbegin(); it != made.rend(); ++it) {
    const struct stat& st = it->second;
    if (geteuid() == 0) (void)!lchown(it->first.c_str(), st.st_uid, st.st_gid);
    (void)chmod(it->first.c_str(), st.st_mode & 07777);
    const timespec times[2] = {st.st_atim, st.st_mtim};
    (void)utimensat(AT_FDCWD, it->first.c_str(), times, AT_SYMLINK_NOFOLLOW);
  }
}

// Every layer in the cache, fetched and unpacked by parallel workers (each with its own helper
// session) when missing. Cached layers cost one file read and no helper at all. A missing
// layer's unpack waits for every layer below it: directories it only implies take their
// metadata from those (unpacker/unpack_tar.cpp); its download does not (image/blob_spool.h).
// Workers take layers lowest first, so the wait always ends.
std::vector<store::LayerRecord> EnsureLayers(const Invocation& inv, const store::Paths& p,
                                             const image::ImageSpec& spec,
                                             image::StreamBudget& budget) {
  const std::size_t n = spec.layers.size();
  std::vector<store::LayerRecord> records(n);
  {  // The warm path: every layer cached, found without a thread.
    std::vector<store::FileLock> held;
    for (const auto& layer : spec.layers) {
      store::FileLock hold(p, "layer-" + layer.cache_key, store::FileLock::Mode::kShared);
      const auto cached = store::ReadLayer(p, layer.cache_key);
      if (!cached) break;
      records[held.size()] = *cached;
      held.push_back(std::move(hold));
    }
    if (held.size() == n) return records;
  }
  std::vector<std::exception_ptr> errors(n);
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<bool> done(n, false);
  auto all_done = [&](std::size_t i) {  // with mu held
    return std::find(done.begin(), done.begin() + i, false) == done.begin() + i;
  };
  auto below_ready = [&](std::size_t i) {
    std::lock_guard lock(mu);
    return all_done(i);
  };
  auto below = [&](std::size_t i) {  // records[0, i) once they are all there
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return all_done(i); });
    for (std::size_t j = 0; j < i; ++j)
      if (errors[j]) throw Error("a layer below " + spec.layers[i].digest + " failed");
    return std::vector<store::LayerRecord>(records.begin(), records.begin() + i);
  };
  // Each layer is held (a shared lock, which clean respects) from when it is found in the
  // cache until every layer is: an upper layer's unpack reads the ones below it.
  std::vector<store::FileLock> holds(n);
  auto worker = [&] {
    std::unique_ptr<HelperClient> helper;
    for (std::size_t i; (i = next++) < n;) {
      try {
        const std::string& key = spec.layers[i].cache_key;
        for (int attempt = 0;; ++attempt) {
          store::FileLock hold(p, "layer-" + key, store::FileLock::Mode::kShared);
          if (auto cached = store::ReadLayer(p, key)) {
            records[i] = *cached;
            holds[i] = std::move(hold);
            break;
          }
          hold.Release();  // EnsureLayer takes it exclusively
          if (attempt >= 3) throw Error("layer " + key + " keeps disappearing; is clean looping?");
          // A remote blob downloads while the layers below it unpack (into an unnamed file,
          // verified), so only the unpacks wait their turn. Never the bottom layer: its blob
          // may have been asked for ahead already (registry.h), and its reader takes that.
          image::LayerSpec layer = spec.layers[i];
          if (layer.blob_path.empty() && layer.remote && !below_ready(i))
            layer.remote = image::SpoolBlob(layer, p.tmp());
          const std::vector<store::LayerRecord> lower = below(i);
          if (!helper) helper = HelperClient::Start(inv.helper_bin, p.root);
          (void)store::EnsureLayer(p, *helper, layer, lower, budget);
        }
      } catch (...) {
        errors[i] = std::current_exception();
      }
      {
        std::lock_guard lock(mu);
        done[i] = true;
      }
      cv.notify_all();
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < std::min<std::size_t>(n, kParallelLayers); ++t)
    threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  return records;
}

nlohmann::json OutputJson(const Invocation& inv, const store::Paths& p, const std::string& id,
                          const image::ImageSpec& spec, const std::vector<std::string>& keys) {
  nlohmann::json out;
  out["root"] = {{"path", p.image(id) + "/rootfs"}};
  if (spec.env) out["process"] = {{"env", *spec.env}};
  out["mounts"] = nlohmann::json::array();
  if (inv.without_mount) {
    std::string lower;
    for (const std::string& key : keys)
      lower += (lower.empty() ? "" : ":") + p.layer(key) + "/diff";
    out["mounts"].push_back({{"destination", "/"},
                             {"type", "overlay"},
                             {"source", "overlay"},
                             {"options",
                              {"lowerdir=" + lower, "upperdir=" + p.image(id) + "/diff",
                               "workdir=" + p.image(id) + "/work", "userxattr"}}});
  }
  return out;
}

// The disk limit of one create: where the store accounts for it, and the quota the image's
// directory gets (inclusive: the limit minus the image's own size).
struct DiskLimit {
  std::uint64_t limit = 0;  // 0: none asked for
  bool exclusive = false;
  store::QuotaBackend backend = store::QuotaBackend::kNone;

  // The image's directory itself (its records, empty dirs, a btrfs subvolume's own tree)
  // takes some room under the quota; a smaller quota could not even hold it.
  static constexpr std::uint64_t kMinQuota = 64ULL * 1024;

  std::uint64_t QuotaFor(std::uint64_t image_bytes) const {
    if (limit == 0) return 0;  // accounted, not limited
    if (!exclusive && image_bytes >= limit)
      throw Error("the image is " + std::to_string(image_bytes) +
                  " bytes, which does not fit the disk limit of " + std::to_string(limit) +
                  " bytes (see --exclude-image-from-quota)");
    const std::uint64_t quota = exclusive ? limit : limit - image_bytes;
    if (quota < kMinQuota)
      throw Error("the disk limit of " + std::to_string(limit) + " bytes leaves the container " +
                  std::to_string(quota) + " bytes; at least " + std::to_string(kMinQuota) +
                  " are needed");
    return quota;
  }
};

DiskLimit DiskLimitFor(const Invocation& inv, const store::Paths& p) {
  DiskLimit d;
  d.limit =
      static_cast<std::uint64_t>(std::max<std::int64_t>(inv.disk_limit_size_bytes.value_or(0), 0));
  d.exclusive = inv.exclude_image_from_quota;
  d.backend = store::DetectQuotaBackend(p.root);
  if (d.limit != 0 && d.backend == store::QuotaBackend::kNone)
    throw Error(
        "disk limits need a store with quotas (XFS mounted with pquota, or btrfs with "
        "quotas enabled); " +
        p.root + " has none");
  return d;
}

// Puts the image's (still empty) directory under its quota. Without a limit, a store that
// turns out to have no quotas on is fine: the image is then simply not accounted.
std::string ApplyQuota(HelperClient& helper, const store::WorkDir& work, const DiskLimit& d,
                       std::uint64_t quota) {
  if (d.backend == store::QuotaBackend::kNone) return "";
  try {
    helper.SetQuota(ipc::Area::kTmp, work.name(), quota);
  } catch (const HelperError& e) {
    if (d.limit != 0) throw Error("cannot set the disk limit: " + std::string(e.what()));
    Logger::Get().Info("no-quota", {{"reason", e.what()}});
    return "";
  }
  return std::string(store::QuotaBackendName(d.backend));
}

// The image's rootfs, diff (with the image's volumes) and work directories, in `dir`.
void MakeImageDirs(const store::Paths& p, const std::string& dir,
                   const std::vector<std::string>& keys, const image::ImageSpec& spec,
                   const store::Owner& owner) {
  store::MakeDir(dir + "/rootfs", 0755, owner);
  store::MakeDir(dir + "/diff", 0755, owner);
  store::MakeDir(dir + "/work", 0700, owner);
  std::vector<std::string> lower_dirs;
  for (const std::string& key : keys) lower_dirs.push_back(p.layer(key) + "/diff");
  MakeVolumes(dir + "/diff", lower_dirs, spec.volumes, owner);
}

// The image's record (image.json): what delete, stats, check and clean read back.
nlohmann::json ImageRecord(const Invocation& inv, const std::string& ref_text,
                           const std::vector<store::LayerRecord>& records,
                           const image::ImageSpec& spec, const DiskLimit& disk,
                           std::uint64_t quota, const std::string& accounted_by) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& r : records) layers.push_back(r.key);
  nlohmann::json record = {{"image", ref_text},
                           {"layers", layers},
                           {"mounted", !inv.without_mount},
                           {"skip_layer_validation", inv.skip_layer_validation}};
  // Its overlay is mounted volatile: check --repair mounts it again only in the same boot.
  if (!inv.without_mount) record["boot_id"] = store::CurrentBootId();
  if (spec.env) record["env"] = *spec.env;
  if (!accounted_by.empty()) record["quota"] = {{"backend", accounted_by}, {"bytes", quota}};
  if (disk.limit != 0)
    record["disk_limit"] = {{"bytes", disk.limit}, {"exclude_image", disk.exclusive}};
  return record;
}

}  // namespace

image::ImageSpec LoadImage(const Invocation& inv, const std::string& ref_text) {
  const image::ImageRef ref = image::ParseImageRef(ref_text);
  switch (ref.kind) {
    case image::RefKind::kOci: {
      image::LoadOptions options;
      options.skip_layer_validation = inv.skip_layer_validation;
      image::ImageSpec spec = image::LoadOciImage(ref.path, ref.ref_name, options);
      image::AttachUrlOpeners(spec, ref_text, RegistryOptionsFor(inv));  // layers with urls
      return spec;
    }
    case image::RefKind::kTar:
      return image::LoadTarImage(ref.path);
    case image::RefKind::kDocker:
      return image::LoadRegistryImage(ref, RegistryOptionsFor(inv));
  }
  throw Error("unsupported image " + ref_text);
}

int Create(const Invocation& inv) {
  if (inv.args.size() != 2) throw Error("usage: grootfs create [flags] IMAGE ID");
  const std::string& ref_text = inv.args[0];
  const std::string& id = inv.args[1];
  if (!IsValidImageId(id)) throw Error("invalid image id '" + id + "'");
  const store::Paths p{inv.store};
  store::RequireStore(p);
  const DiskLimit disk = DiskLimitFor(inv, p);
  struct stat st {};
  if (lstat(p.image(id).c_str(), &st) == 0) throw Error("image " + id + " already exists");
  // The helper starts while the image is read and its layers are found (every create needs it).
  std::unique_ptr<HelperClient> early = HelperClient::StartEarly(inv.helper_bin, p.root);

  auto& log = Logger::Get();
  log.Info("starting", {{"image", ref_text}, {"id", id}});
  const image::ImageSpec spec = LoadImage(inv, ref_text);
  if (spec.layers.empty()) throw Error("image " + ref_text + " has no layers");
  if (spec.layers.size() > 500)  // OVL_MAX_STACK, on every kernel; refused before any unpack
    throw Error("image " + ref_text + " has " + std::to_string(spec.layers.size()) +
                " layers; overlay stacks at most 500 on every kernel");
  if (inv.with_clean) {
    // Unused layers go, but not the ones this image is about to use.
    std::set<std::string> needed;
    for (const auto& layer : spec.layers) needed.insert(layer.cache_key);
    CleanStore(inv, inv.threshold_bytes, needed);
  }

  const store::Owner owner = store::StoreOwner(p);
  // Layers first (each under its own lock), then the image under the shared store lock. A
  // concurrent clean may remove a layer in between: then the check below fails and we retry.
  for (int attempt = 0;; ++attempt) {
    image::StreamBudget budget = store::BudgetFor(p, disk.exclusive ? 0 : disk.limit);
    const std::vector<store::LayerRecord> records = EnsureLayers(inv, p, spec, budget);
    std::uint64_t image_bytes = 0;
    for (const auto& r : records) image_bytes += r.size;
    const std::uint64_t quota = disk.QuotaFor(image_bytes);
    FileLock store_lock(p, "store", FileLock::Mode::kShared);
    bool all_there = true;
    for (const auto& r : records) all_there = all_there && store::ReadLayer(p, r.key).has_value();
    if (!all_there) {
      if (attempt >= 3) throw Error("layers keep disappearing from the store; is clean looping?");
      continue;
    }
    const std::vector<std::string> keys = store::MountOrder(records);
    auto helper = early ? std::move(early) : HelperClient::Start(inv.helper_bin, p.root);
    // With quotas, the helper is needed while the image's directory is still empty (XFS counts
    // only what is made after its project is set). Without, the directory is made while the
    // helper starts: the owner can remove all of it, should the helper turn out not to work.
    const bool quotas = disk.backend != store::QuotaBackend::kNone;
    if (quotas) helper->Ready();
    store::WorkDir work(p, *helper, disk.backend == store::QuotaBackend::kBtrfs);
    const std::string accounted_by = ApplyQuota(*helper, work, disk, quota);
    MakeImageDirs(p, work.path(), keys, spec, owner);
    // Not synced: after a host crash the image's mount is gone, so the image is useless (delete
    // and check cope with a record a crash cut short).
    store::WriteNewFile(work.path() + "/image.json",
                        ImageRecord(inv, ref_text, records, spec, disk, quota, accounted_by).dump(),
                        owner);
    helper->Ready();
    (void)store::SweepTmp(p, *helper);  // whatever a killed command left half-made
    if (!inv.without_mount) {
      work.MarkMounted();
      helper->MountRootfs(ipc::Area::kTmp, work.name(), keys);
    }
    try {
      work.CommitTo(p.image(id), /*decides=*/true);
    } catch (const Error&) {
      if (lstat(p.image(id).c_str(), &st) == 0) throw Error("image " + id + " already exists");
      throw;
    }
    helper->Hangup();  // it exits while the JSON is written
    std::cout << OutputJson(inv, p, id, spec, keys).dump() << std::endl;
    EmitStoreMetrics(inv);
    log.Info("ending", {{"id", id}});
    return 0;
  }
}

}  // namespace grootfs::frontend::commands
