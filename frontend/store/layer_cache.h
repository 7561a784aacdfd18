// The shared, content-addressed cache of unpacked layers: STORE/layers/KEY.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/helper_client.h"
#include "frontend/image/image_spec.h"
#include "frontend/store/store.h"

namespace grootfs::frontend::store {

struct LayerRecord {
  std::string key;
  std::uint64_t size = 0;   // bytes of file data in the layer
  bool root_opaque = false;  // its root hides every layer below it
};

// Reads STORE/layers/KEY/layer.json; nullopt when the layer is not (wholly) there.
std::optional<LayerRecord> ReadLayer(const Paths& p, const std::string& key);

// Makes sure the layer is in the cache: under the layer's lock, either it is there already or
// it is streamed (verified while it streams) into the helper, unpacked into tmp/ and renamed
// into place only when both the unpack and the verification succeeded.
struct UnpackBudget {
  std::uint64_t bytes = 0;  // the most file data one layer may unpack to (0: no budget)
  std::string what;         // what sets it, for the error: "the disk limit", ...
};
LayerRecord EnsureLayer(const Paths& p, HelperClient& helper, const image::LayerSpec& layer,
                        const UnpackBudget& budget);

// The budget for a layer unpacked into the store: the store's free space, and the disk limit
// when one is given that counts the image (0: none).
UnpackBudget BudgetFor(const Paths& p, std::uint64_t disk_limit);

// The keys to mount, topmost first, cut below the topmost layer whose root is opaque.
std::vector<std::string> MountOrder(const std::vector<LayerRecord>& layers_lowest_first);

}  // namespace grootfs::frontend::store
