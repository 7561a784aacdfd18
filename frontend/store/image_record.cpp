// Reading images' records.
#include "frontend/store/image_record.h"

#include "frontend/util/error.h"

namespace grootfs::frontend::store {

nlohmann::json ReadImageRecord(const Paths& p, const std::string& id) {
  std::string text;
  try {
    text = ReadFile(p.image(id) + "/image.json");
  } catch (const Error&) {
    throw Error("image " + id + " not found");
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception&) {
    throw Error("image " + id + " has a corrupt record (try check --repair)");
  }
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
