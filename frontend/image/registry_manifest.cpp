#include "frontend/image/registry_manifest.h"
#include "frontend/image/paths.h"

#include <set>

#include "frontend/image/digest.h"
#include "frontend/image/oci_layout.h"
#include "frontend/util/error.h"
#include "frontend/util/printable.h"

namespace grootfs::frontend::image::registry {
namespace {

using nlohmann::json;

constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
constexpr std::string_view kBaseDirectoryAnnotation =
    "org.cloudfoundry.experimental.image.base-directory";

}  // namespace

LayerSpec LayerFromDescriptor(const Descriptor& d) {
  const std::string what = "layer " + d.digest;
  LayerSpec layer;
  layer.digest = d.digest;
  layer.size = d.size;
  layer.media_type = d.media_type;
  layer.urls = d.urls;
  if (d.media_type.empty()) throw Error(what + " has no media type");
  const std::optional<Compression> compression = LayerCompression(d.media_type);
  if (!compression) {
    throw Error(what + " has unsupported media type '" + Printable(d.media_type) + "'");
  }
  layer.compression = *compression;
  if (auto it = d.annotations.find(std::string(kBaseDirectoryAnnotation));
      it != d.annotations.end()) {
    const std::optional<std::string> clean = CleanAbsolutePath(it->second);
    if (!clean) {
      throw Error(what + " has base-directory annotation '" + Printable(it->second) +
                  "', which is not an absolute path without '..'");
    }
    layer.base_directory = *clean;
  }
  return layer;
}

namespace {

DocumentKind KindOfType(std::string_view media_type) {
  // Content-Type may carry parameters ("; charset=utf-8").
  media_type = media_type.substr(0, media_type.find(';'));
  while (!media_type.empty() && media_type.back() == ' ') media_type.remove_suffix(1);
  if (media_type == kOciManifest || media_type == kDockerManifest) return DocumentKind::kManifest;
  if (media_type == kOciIndex || media_type == kDockerList) return DocumentKind::kIndex;
  if (media_type == kDockerSchema1 || media_type == kDockerSchema1Signed) {
    return DocumentKind::kSchema1;
  }
  return DocumentKind::kUnknown;
}


}  // namespace

std::string ManifestAcceptHeader() {
  return "Accept: " + std::string(kOciManifest) + ", " + std::string(kDockerManifest) + ", " +
         std::string(kOciIndex) + ", " + std::string(kDockerList) + ", " +
         std::string(kDockerSchema1Signed) + ";q=0.5, " + std::string(kDockerSchema1) + ";q=0.5";
}

DocumentKind ClassifyDocument(std::string_view content_type, const json& body) {
  if (body.is_object()) {
    if (auto v = body.find("schemaVersion"); v != body.end() && *v == 1) {
      return DocumentKind::kSchema1;
    }
    if (auto t = body.find("mediaType"); t != body.end() && t->is_string()) {
      const DocumentKind kind = KindOfType(t->get<std::string>());
      if (kind != DocumentKind::kUnknown) return kind;
    }
  }
  const DocumentKind by_type = KindOfType(content_type);
  if (by_type != DocumentKind::kUnknown) return by_type;
  if (!body.is_object()) return DocumentKind::kUnknown;
  if (body.contains("manifests")) return DocumentKind::kIndex;
  if (body.contains("layers") || body.contains("config")) return DocumentKind::kManifest;
  return DocumentKind::kUnknown;
}

Descriptor ParseDescriptor(const json& j, const std::string& what) {
  if (!j.is_object()) throw Error(what + " is not a JSON object");
  Descriptor d;
  if (auto it = j.find("mediaType"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) throw Error(what + " has a mediaType that is not a string");
    d.media_type = it->get<std::string>();
  }
  const auto digest = j.find("digest");
  if (digest == j.end() || !digest->is_string()) throw Error(what + " has no digest");
  d.digest = digest->get<std::string>();
  if (!IsValidDigest(d.digest)) {
    throw Error(what + " has digest '" + Printable(d.digest) +
                "', which is not sha256: and 64 lowercase hex digits");
  }
  const auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer()) throw Error(what + " has no integer size");
  if (size->is_number_unsigned()) {
    const auto u = size->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) throw Error(what + " has an impossible size");
    d.size = static_cast<std::int64_t>(u);
  } else {
    d.size = size->get<std::int64_t>();
  }
  if (d.size < 0) throw Error(what + " has a negative size");
  if (auto it = j.find("urls"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) throw Error(what + " has urls that are not a list");
    for (const json& url : *it) {
      if (!url.is_string() || url.get<std::string>().empty()) {
        throw Error(what + " has a url that is not a non-empty string");
      }
      d.urls.push_back(url.get<std::string>());
    }
  }
  if (auto it = j.find("annotations"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) throw Error(what + " has annotations that are not an object");
    for (const auto& [key, value] : it->items()) {
      if (!value.is_string()) {
        throw Error(what + " has a non-string annotation '" + Printable(key) + "'");
      }
      d.annotations[key] = value.get<std::string>();
    }
  }
  if (auto it = j.find("platform"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) throw Error(what + " has a platform that is not an object");
    Platform p;
    if (auto os = it->find("os"); os != it->end() && os->is_string()) p.os = os->get<std::string>();
    if (auto arch = it->find("architecture"); arch != it->end() && arch->is_string()) {
      p.architecture = arch->get<std::string>();
    }
    if (auto variant = it->find("variant"); variant != it->end() && variant->is_string()) {
      p.variant = variant->get<std::string>();
    }
    d.platform = p;
  }
  return d;
}

std::string NormalizeArchitecture(std::string arch) {
  if (arch == "x86_64" || arch == "x86-64") return "amd64";
  if (arch == "aarch64") return "arm64";
  if (arch == "i386" || arch == "i486" || arch == "i586" || arch == "i686") return "386";
  if (arch.rfind("armv", 0) == 0) return "arm";
  return arch;
}

Descriptor ChoosePlatform(const json& index, const std::string& os, const std::string& architecture,
                          const std::string& what) {
  const auto manifests = index.find("manifests");
  if (manifests == index.end() || !manifests->is_array()) {
    throw Error(what + " has no manifests list");
  }
  std::vector<Descriptor> entries;
  for (std::size_t i = 0; i < manifests->size(); ++i) {
    entries.push_back(ParseDescriptor((*manifests)[i], what + " entry #" + std::to_string(i)));
  }
  const std::string arch = NormalizeArchitecture(architecture);
  for (const Descriptor& d : entries) {
    if (d.platform && d.platform->os == os &&
        NormalizeArchitecture(d.platform->architecture) == arch) {
      return d;
    }
  }
  if (entries.size() == 1 && !entries[0].platform) return entries[0];
  std::set<std::string> seen;
  std::string list;
  for (const Descriptor& d : entries) {
    std::string p = d.platform ? d.platform->os + "/" + d.platform->architecture : "no platform";
    if (d.platform && !d.platform->variant.empty()) p += "/" + d.platform->variant;
    if (!seen.insert(p).second) continue;
    if (seen.size() > 8) {
      list += ", ...";
      break;
    }
    list += (list.empty() ? "" : ", ") + Printable(p, 40);
  }
  throw Error("no image for this host's platform " + os + "/" + arch + " in " + what +
              " (it has: " + (list.empty() ? std::string("none") : list) + ")");
}

Descriptor ConfigDescriptor(const json& manifest, const std::string& what) {
  const auto config_it = manifest.find("config");
  if (config_it == manifest.end()) throw Error(what + " has no config");
  Descriptor d = ParseDescriptor(*config_it, what + " config");
  if (!d.media_type.empty() && d.media_type != kOciConfig && d.media_type != kDockerConfig) {
    throw Error(what + " has config media type '" + Printable(d.media_type) +
                "': not a container image");
  }
  return d;
}

ImageSpec SpecFromManifest(const json& manifest, const std::string& manifest_digest,
                           const json& config, const std::string& config_digest) {
  const std::string what = "manifest " + manifest_digest;
  const std::string config_what = "image config " + config_digest;
  const auto layers_it = manifest.find("layers");
  if (layers_it == manifest.end() || !layers_it->is_array()) {
    throw Error(what + " has no layers list");
  }
  if (layers_it->empty()) throw Error(what + " has no layers");
  if (!config.is_object()) throw Error(config_what + " is not a JSON object");

  ImageSpec spec;
  spec.manifest_digest = manifest_digest;
  for (std::size_t i = 0; i < layers_it->size(); ++i) {
    const Descriptor d = ParseDescriptor((*layers_it)[i], "layer #" + std::to_string(i));
    LayerSpec layer = LayerFromDescriptor(d);
    spec.layers.push_back(std::move(layer));
  }

  const auto rootfs = config.find("rootfs");
  if (rootfs == config.end() || !rootfs->is_object()) throw Error(config_what + " has no rootfs");
  if (auto type = rootfs->find("type"); type != rootfs->end() && *type != "layers") {
    throw Error(config_what + " has a rootfs type other than \"layers\"");
  }
  const auto diff_ids = rootfs->find("diff_ids");
  if (diff_ids == rootfs->end() || !diff_ids->is_array()) {
    throw Error(config_what + " has no rootfs.diff_ids list");
  }
  if (diff_ids->size() != spec.layers.size()) {
    throw Error(config_what + " lists " + std::to_string(diff_ids->size()) + " diff_ids for " +
                std::to_string(spec.layers.size()) + " layers");
  }
  for (std::size_t i = 0; i < diff_ids->size(); ++i) {
    const json& id = (*diff_ids)[i];
    if (!id.is_string() || !IsValidDigest(id.get<std::string>())) {
      throw Error(config_what + " has an invalid diff_id #" + std::to_string(i));
    }
    spec.layers[i].diff_id = id.get<std::string>();
  }

  if (auto inner = config.find("config"); inner != config.end() && !inner->is_null()) {
    if (!inner->is_object()) throw Error(config_what + " has a config that is not an object");
    if (auto env = inner->find("Env"); env != inner->end() && !env->is_null()) {
      if (!env->is_array()) throw Error(config_what + " has an Env that is not a list");
      std::vector<std::string> values;
      for (const json& v : *env) {
        if (!v.is_string()) throw Error(config_what + " has an Env entry that is not a string");
        values.push_back(v.get<std::string>());
      }
      spec.env = std::move(values);
    }
    if (auto volumes = inner->find("Volumes"); volumes != inner->end() && !volumes->is_null()) {
      if (!volumes->is_object()) throw Error(config_what + " has Volumes that are not an object");
      for (const auto& [volume, ignored] : volumes->items()) {
        const std::optional<std::string> clean = CleanAbsolutePath(volume);
        if (!clean || clean->empty()) {
          throw Error(config_what + " has volume '" + Printable(volume) +
                      "', which is not an absolute path without '..'");
        }
        spec.volumes.push_back(*clean);
      }
    }
  }
  AssignCacheKeys(spec.layers);
  return spec;
}

}  // namespace grootfs::frontend::image::registry
