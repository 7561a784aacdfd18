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

// The kernel's boot id (/proc/sys/kernel/random/boot_id), or "" when it cannot be read. create
// records it: an image mounted volatile (its upper dir never synced) can be mounted again only
// in the same boot, when no crash can have lost its writes.
std::string CurrentBootId();

// Makes the image's rootfs mountable again after its overlay was unmounted: overlay's work dir
// keeps a mark ("volatile") that refuses every later mount of the same upper dir. In the boot
// that mounted it, the work dir is emptied (the upper dir is whole: no crash since) and ""
// returned; otherwise the reason it cannot be mounted again.
std::string ClearVolatileMark(const Paths& p, const std::string& id, const nlohmann::json& record);

// Layer key -> the images whose records name it. An image without a readable record pins
// nothing (it is still listed and deletable).
std::map<std::string, std::vector<std::string>> LayerUsers(const Paths& p);

}  // namespace grootfs::frontend::store
