// Manifests, indexes and image configs as a registry serves them: their kind, the platform
// choice in an index, and the ImageSpec a manifest and its config make. Pure (no I/O).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/image/image_spec.h"

namespace grootfs::frontend::image::registry {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerSchema1 =
    "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerSchema1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

// The Accept header of a manifest request: every kind we can read, and schema 1 so that it is
// recognised and refused with a clear message rather than converted by the registry.
std::string ManifestAcceptHeader();

enum class DocumentKind { kManifest, kIndex, kSchema1, kUnknown };

// The kind of a manifest document from the Content-Type it came with (may be empty or a generic
// type such as application/json) and its body (mediaType, schemaVersion, manifests/layers).
DocumentKind ClassifyDocument(std::string_view content_type, const nlohmann::json& body);

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
};

struct Descriptor {
  std::string media_type;
  std::string digest;
  std::int64_t size = -1;
  std::vector<std::string> urls;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
};

// Parses a descriptor; throws Error naming `what` when it is malformed.
Descriptor ParseDescriptor(const nlohmann::json& j, const std::string& what);

// The layer a manifest's layer descriptor stands for: digest, size, media type, compression,
// urls and the base-directory annotation. Throws Error ("layer DIGEST ...") for a missing or
// unsupported media type or a base directory that is not an absolute path without "..".
LayerSpec LayerFromDescriptor(const Descriptor& d);

// amd64, arm64, 386, arm... from uname or image spellings.
std::string NormalizeArchitecture(std::string arch);

// The entry of an index (or manifest list) for os/architecture (architecture normalised;
// variant ignored; attestation entries whose platform is unknown/unknown never match). An
// index with one entry without a platform yields that entry. Throws Error listing the
// platforms the index has when none matches.
Descriptor ChoosePlatform(const nlohmann::json& index, const std::string& os,
                          const std::string& architecture, const std::string& what);

// The config descriptor of a manifest. Throws Error.
Descriptor ConfigDescriptor(const nlohmann::json& manifest, const std::string& what);

// The image a manifest and its config describe: layers (digest, size, media type,
// compression, urls, base-directory annotation, diff_id), env, volumes, cache keys. blob_path
// stays empty: the caller says how blobs are fetched. Throws Error.
ImageSpec SpecFromManifest(const nlohmann::json& manifest, const std::string& manifest_digest,
                           const nlohmann::json& config, const std::string& config_digest);

}  // namespace grootfs::frontend::image::registry
