#include "frontend/image/registry.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "frontend/image/digest.h"
#include "frontend/image/oci_layout.h"
#include "frontend/image/registry_cache.h"
#include "frontend/image/registry_manifest.h"
#include "frontend/image/registry_puller.h"
#include "frontend/image/remote_blob.h"
#include "frontend/log.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::image {
namespace {

namespace reg = registry;
using nlohmann::json;

constexpr int kMaxIndexDepth = 4;

// The manifest (through indexes, to this platform's) and the config of a registry image, from
// the store's cache when they are there (verified again), else from the registry.
class ImageLoader {
 public:
  explicit ImageLoader(Puller& puller)
      : puller_(puller),
        options_(puller.options()),
        ref_(puller.ref()),
        cache_(CacheDir(options_.cache_dir, options_.cache_uid, options_.cache_gid)) {}

  ImageSpec Load() {
    try {
      return LoadUnwrapped();
    } catch (const Error& e) {
      throw Error("cannot pull " + puller_.image() + ": " + e.what());
    }
  }

 private:
  struct Document {
    std::string digest;
    json body;
    reg::DocumentKind kind = reg::DocumentKind::kUnknown;
  };

  ImageSpec LoadUnwrapped();
  Document GetManifest(const std::string& reference, const std::string& expected_digest);
  std::optional<Document> CachedManifest(const std::string& digest) const;
  std::string GetConfig(const reg::Descriptor& config_desc, const json& manifest);
  void PrefetchBottomLayer(const json& manifest);

  Puller& puller_;
  const RegistryOptions& options_;
  const ImageRef& ref_;
  const DigestCache cache_;
};

std::optional<ImageLoader::Document> ImageLoader::CachedManifest(const std::string& digest) const {
  std::optional<std::string> cached = cache_.Get(digest);
  if (!cached) return std::nullopt;
  Document doc;
  doc.digest = digest;
  doc.body = json::parse(*cached, nullptr, false);
  doc.kind = reg::ClassifyDocument("", doc.body);
  if (!doc.body.is_object() || doc.kind == reg::DocumentKind::kUnknown) return std::nullopt;
  Logger::Get().Debug("manifest-from-cache", {{"digest", digest}});
  return doc;
}

ImageLoader::Document ImageLoader::GetManifest(const std::string& reference,
                                               const std::string& expected_digest) {
  if (!expected_digest.empty()) {
    if (std::optional<Document> cached = CachedManifest(expected_digest)) return *cached;
  }
  Document doc;
  const bool top = expected_digest.empty() || reference == ref_.digest;
  const std::string what =
      top ? "the manifest of " + puller_.image() : "manifest " + expected_digest;
  Logger::Get().Info(
      "fetching-manifest",
      {{"registry", ref_.registry}, {"repository", ref_.repository}, {"reference", reference}});
  const Puller::Small small =
      puller_.Fetch("/v2/" + ref_.repository + "/manifests/" + reference,
                    {reg::ManifestAcceptHeader()}, what, top ? "image" : what);
  doc.digest = "sha256:" + Sha256Hex(small.body);
  if (!expected_digest.empty() && doc.digest != expected_digest) {
    throw Error(what + " from " + small.from + " does not match its digest (the registry sent " +
                doc.digest + ")");
  }
  doc.body = json::parse(small.body, nullptr, false);
  if (doc.body.is_discarded() || !doc.body.is_object()) {
    throw Error(what + " from " + small.from + " is not a JSON object");
  }
  doc.kind = reg::ClassifyDocument(small.content_type, doc.body);
  if (doc.kind == reg::DocumentKind::kSchema1) return doc;
  if (expected_digest.empty() && small.docker_digest && IsValidDigest(*small.docker_digest) &&
      *small.docker_digest != doc.digest) {
    throw Error(what + " from " + small.from +
                " does not match the digest the registry gives it (Docker-Content-Digest)");
  }
  if (doc.kind != reg::DocumentKind::kUnknown) cache_.Put(doc.digest, small.body);
  return doc;
}

ImageSpec ImageLoader::LoadUnwrapped() {
  const std::string& reference = ref_.digest.empty() ? ref_.tag : ref_.digest;
  Document doc = GetManifest(reference, ref_.digest);
  std::string arch = options_.architecture.empty() ? HostArchitecture() : options_.architecture;
  for (int depth = 0;; ++depth) {
    if (doc.kind == reg::DocumentKind::kSchema1) {
      throw Error(
          "the registry serves a Docker schema 1 manifest, which is not supported (convert the "
          "image to Docker schema 2 or OCI, e.g. with skopeo copy)");
    }
    if (doc.kind == reg::DocumentKind::kManifest) break;
    if (doc.kind != reg::DocumentKind::kIndex) {
      throw Error("manifest " + doc.digest + " has an unsupported media type");
    }
    if (depth >= kMaxIndexDepth) throw Error("image indexes are nested too deeply");
    const reg::Descriptor chosen =
        reg::ChoosePlatform(doc.body, options_.os, arch, "the manifest list " + doc.digest);
    doc = GetManifest(chosen.digest, chosen.digest);
  }
  const reg::Descriptor config_desc = reg::ConfigDescriptor(doc.body, "manifest " + doc.digest);
  const json config = json::parse(GetConfig(config_desc, doc.body), nullptr, false);
  if (config.is_discarded()) throw Error("image config " + config_desc.digest + " is not JSON");
  return reg::SpecFromManifest(doc.body, doc.digest, config, config_desc.digest);
}

// The config's text from the cache, else from the registry (a cold pull: the bottom layer's
// blob is asked for meanwhile).
std::string ImageLoader::GetConfig(const reg::Descriptor& config_desc, const json& manifest) {
  if (std::optional<std::string> cached = cache_.Get(config_desc.digest)) return *cached;
  PrefetchBottomLayer(manifest);
  const std::string what = "image config " + config_desc.digest;
  Logger::Get().Info("fetching-config",
                     {{"registry", ref_.registry}, {"digest", config_desc.digest}});
  std::string config_text =
      puller_.Fetch("/v2/" + ref_.repository + "/blobs/" + config_desc.digest, {}, what, what).body;
  if ("sha256:" + Sha256Hex(config_text) != config_desc.digest) {
    throw Error("image config " + config_desc.digest + " does not match its digest");
  }
  cache_.Put(config_desc.digest, config_text);
  return config_text;
}

// A cold pull: the bottom layer's blob asked for while the config downloads
// (Puller::PrefetchBlob). Not when the caller does not fetch layers. A manifest this cannot
// read is left to SpecFromManifest.
void ImageLoader::PrefetchBottomLayer(const json& manifest) {
  if (!options_.store_has_layer_from) return;
  LayerSpec layer;
  try {
    const auto layers = manifest.find("layers");
    if (layers == manifest.end() || !layers->is_array() || layers->empty()) return;
    layer = reg::LayerFromDescriptor(reg::ParseDescriptor(layers->front(), "layer 0"));
  } catch (const std::exception&) {
    return;
  }
  puller_.PrefetchBlob(layer);
}

}  // namespace

ImageSpec LoadRegistryImage(const ImageRef& ref, const RegistryOptions& options) {
  std::shared_ptr<Puller> puller;
  try {
    puller = std::make_shared<Puller>(ref.original, options, ref);
  } catch (const Error& e) {
    throw Error("cannot pull " + ref.original + ": " + e.what());
  }
  ImageSpec spec = ImageLoader(*puller).Load();
  const auto opener = std::make_shared<RemoteBlobOpener>(puller);
  for (LayerSpec& layer : spec.layers) layer.remote = opener;
  return spec;
}

void AttachUrlOpeners(ImageSpec& spec, const std::string& image_name,
                      const RegistryOptions& options) {
  std::shared_ptr<RemoteBlobOpener> opener;
  for (LayerSpec& layer : spec.layers) {
    if (!layer.blob_path.empty() || layer.urls.empty() || layer.remote) continue;
    if (!opener) {
      opener = std::make_shared<RemoteBlobOpener>(
          std::make_shared<Puller>(image_name, options, std::nullopt));
    }
    layer.remote = opener;
  }
}

}  // namespace grootfs::frontend::image
