// What the frontend knows about an image once its metadata is read and checked.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace grootfs::frontend::image {

// How a layer's blob is compressed, from its media type (or sniffed for plain tar images).
enum class Compression { kNone, kGzip, kZstd };

class BlobOpener;  // layer_stream.h: how a blob that is not a local file is fetched

struct LayerSpec {
  std::string blob_path;   // absolute path of the blob file (a local layout or tar image)
  std::string digest;      // "sha256:<64 hex>" as declared (blob digest); "" for tar images
  std::int64_t size = -1;  // declared blob size; -1 when unknown (tar images)
  std::string media_type;  // as declared
  Compression compression = Compression::kNone;
  std::string diff_id;            // "sha256:<64 hex>" from the config; "" for tar images
  std::vector<std::string> urls;  // foreign/remote layer URLs (tried before the registry)
  std::string base_directory;     // org.cloudfoundry.experimental.image.base-directory, or ""
  // The identity under which the unpacked layer is cached in the store: a plain name
  // ([a-z0-9-], at most 80 chars). Verified layers: the OCI chain id's hex.
  // Unverified layers (skip-layer-validation, tar images) get a distinct prefix so they can
  // never be served to an image that expects verified content.
  std::string cache_key;
  bool verify = true;  // check digest, size and diff_id while streaming
  // Where the blob comes from when blob_path is empty: a registry and/or the urls (set by the
  // image loader); null for local blobs.
  std::shared_ptr<const BlobOpener> remote;
};

struct ImageSpec {
  std::vector<LayerSpec> layers;                // lowest (base) first
  std::optional<std::vector<std::string>> env;  // config.Env, absent when the config has none
  std::vector<std::string> volumes;             // config.Volumes keys (absolute paths)
  std::string manifest_digest;                  // "sha256:..." or "" for tar images
};

}  // namespace grootfs::frontend::image
