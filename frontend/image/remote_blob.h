// Layers' blobs from the network, for StreamLayer (layer_stream.h): the locations of a blob
// are tried in order (its urls, the mirrors, the registry), each with retries that resume
// from the byte reached (registry.h's rules for blobs). The reader that opens a blob first at
// byte 0 takes the response a cold pull asked for ahead (Puller::PrefetchBlob).
#pragma once

#include <memory>
#include <utility>

#include "frontend/image/image_spec.h"
#include "frontend/image/layer_stream.h"
#include "frontend/image/registry_puller.h"

namespace grootfs::frontend::image {

// Opens the blobs of one pull's layers; every layer of the pull may share one.
class RemoteBlobOpener : public BlobOpener {
 public:
  explicit RemoteBlobOpener(std::shared_ptr<Puller> puller) : puller_(std::move(puller)) {}
  // Throws Error ("cannot pull IMAGE: layer DIGEST: ...") when the layer has nowhere to come
  // from; the source's Read throws the same once every location failed.
  std::unique_ptr<BlobSource> Open(const LayerSpec& layer) const override;

 private:
  std::shared_ptr<Puller> puller_;
};

}  // namespace grootfs::frontend::image
