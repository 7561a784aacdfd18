// create: read and verify the image, make sure every layer is in the cache, then make the
// image directory in tmp/, mount it through the helper and rename it into images/.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "frontend/commands/commands.h"
#include "frontend/image/oci_layout.h"
#include "frontend/image/reference.h"
#include "frontend/image/registry.h"
#include "frontend/image/tar_image.h"
#include "frontend/image_id.h"
#include "frontend/log.h"
#include "frontend/store/layer_cache.h"
#include "frontend/store/quota.h"
#include "frontend/store/store.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::commands {
namespace {

using store::FileLock;

constexpr std::size_t kParallelLayers = 4;  // layers fetched and unpacked at once

// What the registry client needs from the command line, the config and the store: manifests
// and configs are cached by digest in STORE/cache (made on demand, owned by the store's owner).
image::RegistryOptions RegistryOptionsFor(const Invocation& inv) {
  image::RegistryOptions options;
  options.insecure_registries = inv.insecure_registries;
  options.registry_mirrors = inv.registry_mirrors;
  options.username = inv.username;
  options.password = inv.password;
  options.certs_dir = inv.remote_layer_client_certificates_path;
  const store::Paths p{inv.store};
  options.cache_dir = p.root + "/cache";
  const store::Owner owner = store::StoreOwner(p);
  options.cache_uid = owner.uid;
  options.cache_gid = owner.gid;
  return options;
}

// Directories the image config declares as volumes exist in the rootfs (made in the upper dir).
void MakeVolumes(const std::string& upper, const std::vector<std::string>& volumes,
                 const store::Owner& owner) {
  for (const std::string& volume : volumes) {
    std::string path = upper;
    std::size_t i = 0;
    while (i < volume.size()) {
      std::size_t j = volume.find('/', i);
      if (j == std::string::npos) j = volume.size();
      const std::string part = volume.substr(i, j - i);
      i = j + 1;
      if (part.empty() || part == ".") continue;
      if (part == "..") throw Error("bad volume path " + volume);
      path += "/" + part;
      store::MakeDir(path, 0755, owner);
    }
  }
}

// Every layer in the cache, fetched and unpacked in parallel (each worker with its own helper
// session) when missing. Cached layers cost one file read and no helper at all.
std::vector<store::LayerRecord> EnsureLayers(const Invocation& inv, const store::Paths& p,
                                             const image::ImageSpec& spec,
                                             image::StreamBudget& budget) {
  const std::size_t n = spec.layers.size();
  std::vector<store::LayerRecord> records(n);
  std::vector<std::exception_ptr> errors(n);
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    std::unique_ptr<HelperClient> helper;
    for (std::size_t i; (i = next++) < n;) {
      try {
        if (auto cached = store::ReadLayer(p, spec.layers[i].cache_key)) {
          records[i] = *cached;
          continue;
        }
        if (!helper) helper = HelperClient::Start(inv.helper_bin, p.root);
        records[i] = store::EnsureLayer(p, *helper, spec.layers[i], budget);
      } catch (...) {
        errors[i] = std::current_exception();
      }
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

  auto& log = Logger::Get();
  log.Info("starting", {{"image", ref_text}, {"id", id}});
  if (inv.with_clean) CleanStore(inv, inv.threshold_bytes);
  const image::ImageSpec spec = LoadImage(inv, ref_text);
  if (spec.layers.empty()) throw Error("image " + ref_text + " has no layers");
  if (spec.layers.size() > 500)  // OVL_MAX_STACK, on every kernel; refused before any unpack
    throw Error("image " + ref_text + " has " + std::to_string(spec.layers.size()) +
                " layers; overlay stacks at most 500 on every kernel");

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
    auto helper = HelperClient::Start(inv.helper_bin, p.root);
    store::SweepTmp(p, *helper);  // whatever a killed command left half-made
    store::WorkDir work(p, *helper, disk.backend == store::QuotaBackend::kBtrfs);
    const std::string accounted_by = ApplyQuota(*helper, work, disk, quota);
    store::MakeDir(work.path() + "/rootfs", 0755, owner);
    store::MakeDir(work.path() + "/diff", 0755, owner);
    store::MakeDir(work.path() + "/work", 0700, owner);
    MakeVolumes(work.path() + "/diff", spec.volumes, owner);
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& r : records) layers.push_back(r.key);
    nlohmann::json record = {{"image", ref_text},
                             {"layers", layers},
                             {"mounted", !inv.without_mount},
                             {"skip_layer_validation", inv.skip_layer_validation}};
    if (spec.env) record["env"] = *spec.env;
    if (!accounted_by.empty()) record["quota"] = {{"backend", accounted_by}, {"bytes", quota}};
    if (disk.limit != 0)
      record["disk_limit"] = {{"bytes", disk.limit}, {"exclude_image", disk.exclusive}};
    store::WriteFileAtomically(work.path() + "/image.json", record.dump(), owner);
    if (!inv.without_mount) {
      work.MarkMounted();
      helper->MountRootfs(ipc::Area::kTmp, work.name(), keys);
    }
    try {
      work.CommitTo(p.image(id));
    } catch (const Error&) {
      if (lstat(p.image(id).c_str(), &st) == 0) throw Error("image " + id + " already exists");
      throw;
    }
    std::cout << OutputJson(inv, p, id, spec, keys).dump() << std::endl;
    log.Info("ending", {{"id", id}});
    return 0;
  }
}

}  // namespace grootfs::frontend::commands
