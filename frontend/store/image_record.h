// STORE/images/ID/image.json: what create recorded about an image (its image reference, layer
// keys, whether it is mounted, its quota), read by stats, clean and check.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "frontend/store/store.h"

namespace grootfs::frontend::store {

// The parsed record; throws Error ("image ID not found", "... has a corrupt record").
nlohmann::json ReadImageRecord(const Paths& p, const std::string& id);

// Layer key -> the images whose records name it. An image without a readable record pins
// nothing (it is still listed and deletable).
std::map<std::string, std::vector<std::string>> LayerUsers(const Paths& p);

}  // namespace grootfs::frontend::store
