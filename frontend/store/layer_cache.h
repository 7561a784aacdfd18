// The shared, content-addressed cache of unpacked layers: STORE/layers/KEY.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/helper_client.h"
#include "frontend/image/image_spec.h"
#include "frontend/image/layer_stream.h"
#include "frontend/store/store.h"

namespace grootfs::frontend::store {

struct LayerRecord {
  std::string key;
  std::uint64_t size = 0;    // bytes of file data in the layer
  bool root_opaque = false;  // its root hides every layer below it
};

// Reads STORE/layers/KEY/layer.json; nullopt when the layer is not (wholly) there.
std::optional<LayerRecord> ReadLayer(const Paths& p, const std::string& key);

// True when the cache holds a verified layer unpacked from the blob `digest` (its record's
// "digest"): that blob need not be fetched ahead of time. Reads every layer's record.
bool HasLayerFromBlob(const Paths& p, const std::string& digest);

// Makes sure the layer is in the cache: under the layer's lock, either it is there already or
// it is streamed (verified while it streams) into the helper, unpacked into tmp/ and renamed
// into place only when both the unpack and the verification succeeded. The layer takes its tar
// from `budget`, shared with the other layers of the same create, and the helper's unpack is
// capped at the whole budget too. `below` are the image's layers under this one, lowest first,
// already in the cache: a directory the layer only implies takes its metadata from them.
LayerRecord EnsureLayer(const Paths& p, HelperClient& helper, const image::LayerSpec& layer,
                        const std::vector<LayerRecord>& below, image::StreamBudget& budget);

// The budget of one create's layers: the store's free space, and the disk limit when one is
// given that counts the image (0: none).
image::StreamBudget BudgetFor(const Paths& p, std::uint64_t disk_limit);

// The keys to mount, topmost first, cut below the topmost layer whose root is opaque.
std::vector<std::string> MountOrder(const std::vector<LayerRecord>& layers_lowest_first);

}  // namespace grootfs::frontend::store
