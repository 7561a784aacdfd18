// Fetching a remote layer's blob ahead of its unpack: while the layers below it unpack (an
// upper layer's unpack needs them: directories it only implies take their metadata from them),
// its blob downloads into an unnamed temporary file. The unpack then reads that file instead of
// the network. Memory stays bounded (the file is on disk); nothing is left after a crash (the
// file has no name).
#pragma once

#include <memory>
#include <string>

#include "frontend/image/image_spec.h"
#include "frontend/image/layer_stream.h"

namespace grootfs::frontend::image {

// Downloads layer's blob (layer.remote must be set) into an unnamed file in `dir`, checking its
// size and digest when layer.verify (StreamLayer checks them again, with the diff_id, when the
// layer is unpacked from it). Returns an opener for layer.remote that reads the file. Throws
// Error on any failure.
std::shared_ptr<const BlobOpener> SpoolBlob(const LayerSpec& layer, const std::string& dir);

}  // namespace grootfs::frontend::image
