// The read-only commands: list, stats and capacity.
#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "frontend/commands/commands.h"
#include "frontend/config.h"
#include "frontend/log.h"
#include "frontend/store/image_record.h"
#include "frontend/store/layer_cache.h"
#include "frontend/store/quota.h"
#include "frontend/store/store.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::commands {
namespace {

std::vector<std::string> ImageIds(const store::Paths& p) {
  auto ids = store::ListDir(p.images());
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace

int List(const Invocation& inv) {
  const store::Paths p{inv.store};
  store::RequireStore(p);
  const auto ids = ImageIds(p);
  if (ids.empty()) std::cout << "Store empty" << std::endl;
  for (const auto& id : ids) std::cout << p.image(id) << "\n";
  std::cout.flush();
  return 0;
}

std::uint64_t ImageExclusiveBytes(const Invocation& inv, const std::string& id,
                                  const nlohmann::json& record,
                                  std::unique_ptr<HelperClient>& helper) {
  const store::Paths p{inv.store};
  std::string backend;
  if (record.contains("quota") && record["quota"].is_object())
    backend = record["quota"].value("backend", "");
  try {
    switch (store::ParseQuotaBackend(backend)) {
      case store::QuotaBackend::kXfs:
        if (!helper) helper = HelperClient::Start(inv.helper_bin, p.root);
        return helper->ReadQuota(ipc::Area::kImages, id);
      case store::QuotaBackend::kBtrfs:
        return store::BtrfsReferencedBytes(p.image(id));
      case store::QuotaBackend::kNone:
        break;
    }
  } catch (const Error& e) {
    // Quotas switched off since the image was made (or the store moved): count it by hand.
    Logger::Get().Info("quota-unreadable", {{"id", id}, {"error", e.what()}});
  }
  return store::DiskUsage(p.image(id) + "/diff");
}

int Stats(const Invocation& inv) {
  if (inv.args.size() != 1) throw Error("usage: grootfs stats ID|PATH");
  const store::Paths p{inv.store};
  store::RequireStore(p);
  const std::string id = ImageIdFromArg(inv, inv.args[0]);
  const nlohmann::json record = store::ReadImageRecord(p, id);
  std::uint64_t layers = 0;
  for (const auto& key : record.value("layers", nlohmann::json::array())) {
    auto layer = key.is_string() ? store::ReadLayer(p, key.get<std::string>()) : std::nullopt;
    if (layer) layers += layer->size;
  }
  std::unique_ptr<HelperClient> helper;
  const std::uint64_t exclusive = ImageExclusiveBytes(inv, id, record, helper);
  nlohmann::json out = {
      {"disk_usage",
       {{"total_bytes_used", layers + exclusive}, {"exclusive_bytes_used", exclusive}}}};
  std::cout << out.dump() << std::endl;
  return 0;
}

int Capacity(const Invocation& inv) {
  const store::Paths p{inv.store};
  std::uint64_t capacity = 0;
  if (inv.store_size_bytes && *inv.store_size_bytes > 0) {
    capacity = static_cast<std::uint64_t>(*inv.store_size_bytes);
  } else {
    store::RequireStore(p);
    struct statvfs vfs {};
    if (statvfs(p.root.c_str(), &vfs) != 0) throw Error("cannot read the store's filesystem size");
    capacity = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  }
  std::cout << nlohmann::json{{"capacity", capacity}}.dump() << std::endl;
  return 0;
}

}  // namespace grootfs::frontend::commands
