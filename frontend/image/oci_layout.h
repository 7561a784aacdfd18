// Reading an OCI image layout directory (oci:///PATH[:REF]) into an ImageSpec.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "frontend/image/image_spec.h"

namespace grootfs::frontend::image {

struct LoadOptions {
  bool skip_layer_validation = false;  // layers get verify = false and "unverified-" cache keys
  std::string os = "linux";
  std::string architecture;  // empty: the host's (uname: x86_64 -> amd64, aarch64 -> arm64)
  // Blobs are identified by their digest: every config, and every manifest or index reached
  // from another one, must always match its digest, and a JSON blob over 4 MiB is refused
  // unread. By default (as grootfs, i.e. containers/image, does for oci: layouts) the manifest
  // or index that index.json itself names is not checked against index.json, and a declared
  // size that differs from a JSON blob whose digest matches is tolerated: several of grootfs's
  // own test layouts were edited by hand and need both (hardlink, 4mb-image,
  // opq-whiteouts-busybox, cloudfoundry.experimental.image.base-directory,
  // garden-busybox-remote). index.json is no better authenticated than what it names, so
  // nothing is lost. strict_metadata checks the entry too, and every declared size exactly.
  // Layer sizes are always checked exactly when layers are verified.
  bool strict_metadata = false;
};

// Loads the image named ref_name (annotation org.opencontainers.image.ref.name; "" for the
// layout's only manifest) from the layout at layout_dir (an absolute path). Image indexes and
// Docker manifest lists, nested too, resolve to options.os/architecture. Throws Error.
ImageSpec LoadOciImage(const std::string& layout_dir, const std::string& ref_name,
                       const LoadOptions& options);

// The host's architecture in OCI terms (amd64, arm64, ...).
std::string HostArchitecture();

// The compression of an accepted layer media type; std::nullopt for any other media type.
std::optional<Compression> LayerCompression(std::string_view media_type);

}  // namespace grootfs::frontend::image
