// Fetching a remote layer's blob ahead of its unpack: while the layers below it unpack (an
// upper layer's unpack needs them: directories it only implies take their metadata from them),
// its blob downloads, in a thread of its own, into an unnamed temporary file. The unpack then
// reads that file instead of the network, following it while the download goes on: it starts
// as soon as its turn comes, not when the download ends. Memory stays bounded (the file is on
// disk); nothing is left after a crash (the file has no name).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "frontend/image/image_spec.h"
#include "frontend/image/layer_stream.h"

namespace grootfs::frontend::image {

// Blobs downloading ahead at once, in the whole process; the others wait their turn, in the
// order asked for. On a machine whose cores the unpack keeps busy, more would only take CPU
// from it (their registry, the copies, the file), and on a network slower than the unpack one
// download at a time already keeps the link busy.
constexpr std::size_t kMaxSpoolsAhead = 1;

// Queues the download of layer's blob (layer.remote must be set) into an unnamed file in `dir`,
// checking its size and digest when layer.verify, and returns at once an opener that reads the
// file from its start, waiting for bytes still on their way. A failed download is the error of
// the opener's sources' Read (at the latest at what would be the blob's end); such a source
// says VerifiesDigest(). An Open before the download started takes the blob from layer.remote
// instead, and the download never starts. max_ahead 0 returns layer.remote (no download
// ahead). Throws Error when no file can be made. A download stops when the opener and its
// sources are gone.
std::shared_ptr<const BlobOpener> SpoolBlob(const LayerSpec& layer, const std::string& dir,
                                            std::size_t max_ahead = kMaxSpoolsAhead);

}  // namespace grootfs::frontend::image
