// Reading images' records.
#include "frontend/store/image_record.h"

#include <fcntl.h>

#include <cstring>

#include "frontend/store/own_removal.h"
#include "frontend/util/error.h"
#include "frontend/util/open_at.h"

namespace grootfs::frontend::store {

namespace {

// The fields readers take without checking are of the types create writes (whoever owns the
// store can write anything there, and a type error is not a message for a user).
bool WellFormed(const nlohmann::json& record) {
  if (!record.is_object()) return false;
  const auto is = [&](const char* key, bool (nlohmann::json::*type)() const noexcept) {
    return !record.contains(key) || (record[key].*type)();
  };
  if (!is("layers", &nlohmann::json::is_array) || !is("image", &nlohmann::json::is_string) ||
      !is("mounted", &nlohmann::json::is_boolean) || !is("boot_id", &nlohmann::json::is_string) ||
      !is("skip_layer_validation", &nlohmann::json::is_boolean) ||
      !is("quota", &nlohmann::json::is_object))
    return false;
  for (const auto& key : record.value("layers", nlohmann::json::array()))
    if (!key.is_string()) return false;
  if (record.contains("quota")) {
    const auto& q = record["quota"];
    if ((q.contains("backend") && !q["backend"].is_string()) ||
        (q.contains("bytes") && !q["bytes"].is_number_unsigned()))
      return false;
  }
  return true;
}

}  // namespace

nlohmann::json ReadImageRecord(const Paths& p, const std::string& id) {
  std::string text;
  try {
    text = ReadFile(p.image(id) + "/image.json");
  } catch (const Error&) {
    throw Error("image " + id + " not found");
  }
  nlohmann::json record;
  try {
    record = nlohmann::json::parse(text);
  } catch (const std::exception&) {
  }
  if (!WellFormed(record))
    throw Error("image " + id + " has a corrupt record (try check --repair)");
  return record;
}

std::string CurrentBootId() {
  try {
    std::string id = ReadFile("/proc/sys/kernel/random/boot_id");
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    return id;
  } catch (const std::exception&) {
    return "";
  }
}

std::string ClearVolatileMark(const Paths& p, const std::string& id, const nlohmann::json& record) {
  const std::string mounted_in = record.value("boot_id", "");
  if (mounted_in.empty()) return "";  // made before overlays were mounted volatile: no mark
  if (mounted_in != CurrentBootId())
    return "its overlay was mounted volatile (its writes never synced) before the machine "
           "restarted, so they may be lost: delete the image and create it again";
  const ipc::UniqueFd work = OpenNoSymlinks(AT_FDCWD, p.image(id) + "/work", O_PATH | O_DIRECTORY);
  if (!work) return std::string("cannot open its work dir: ") + std::strerror(errno);
  if (!RemoveOwnTree(work.get(), "work")) return "cannot empty its work dir";
  return "";
}

std::map<std::string, std::vector<std::string>> LayerUsers(const Paths& p) {
  std::map<std::string, std::vector<std::string>> users;
  for (const auto& id : ListDir(p.images())) {
    try {
      const nlohmann::json record = ReadImageRecord(p, id);
      for (const auto& key : record.value("layers", nlohmann::json::array()))
        users[key.get<std::string>()].push_back(id);
    } catch (const std::exception&) {
      // No readable record: nothing pinned.
    }
  }
  return users;
}

}  // namespace grootfs::frontend::store
