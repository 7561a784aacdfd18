#include "frontend/image/oci_layout.h"
#include "frontend/image/paths.h"
#include "frontend/image/registry_manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "frontend/image/digest.h"
#include "frontend/util/error.h"
#include "frontend/util/printable.h"

namespace grootfs::frontend::image {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxJsonBlob = 4 * 1024 * 1024;
constexpr int kMaxIndexDepth = 8;

constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr std::string_view kDockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
constexpr std::string_view kDockerSchema1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";

constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";

// The descriptor model and architecture names are shared with the registry client.
using registry::Descriptor;
using registry::LayerFromDescriptor;
using registry::NormalizeArchitecture;
using registry::Platform;

// Everything one load needs: the layout, the options, and the messages' common context.
class Loader {
 public:
  Loader(std::string layout_dir, const LoadOptions& options)
      : dir_(std::move(layout_dir)), options_(options) {
    arch_ = NormalizeArchitecture(options.architecture.empty() ? HostArchitecture()
                                                               : options.architecture);
  }

  ImageSpec Load(const std::string& ref_name);

 private:
  [[noreturn]] void Fail(const std::string& what) const {
    throw Error("oci image " + Printable(dir_, 200) + ": " + what);
  }

  std::string BlobPath(const std::string& digest) const {
    return dir_ + "/blobs/sha256/" + DigestHex(digest);  // DigestHex refuses anything else
  }

  // Reads a JSON blob (at most 4 MiB). With `expected`, its digest must match, and its size
  // too when `exact_size`.
  std::string ReadBounded(const std::string& path, const std::string& what,
                          const std::optional<Descriptor>& expected, bool exact_size);
  json ParseJson(const std::string& text, const std::string& what) const;
  Descriptor ParseDescriptor(const json& j, const std::string& what) const;
  Descriptor PickFromLayoutIndex(const json& index, const std::string& ref_name) const;
  bool Matches(const Descriptor& d) const;
  std::string PlatformList(const std::vector<Descriptor>& ds) const;
  // Follows indexes down to a manifest; returns the manifest's descriptor and JSON.
  std::pair<Descriptor, json> Resolve(const Descriptor& d, bool verify, int depth);
  LayerSpec ParseLayer(const json& j, std::size_t index) const;

  std::string dir_;
  const LoadOptions& options_;
  std::string arch_;
};

std::string Loader::ReadBounded(const std::string& path, const std::string& what,
                                const std::optional<Descriptor>& expected, bool exact_size) {
  // O_NONBLOCK: a fifo planted in the layout must not hang us; fstat refuses it below.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      Fail(what + " is missing (" + Printable(path, 200) + ": no such file or directory)");
    }
    Fail("cannot open " + what + " " + Printable(path, 200) + ": " + std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) Fail("cannot stat " + what + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) Fail(what + " is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxJsonBlob) {
    Fail(what + " is larger than 4 MiB (" + std::to_string(st.st_size) + " bytes); refusing it");
  }
  if (expected && exact_size && st.st_size != expected->size) {
    Fail(what + " does not match its size (declared " + std::to_string(expected->size) +
         " bytes, the blob has " + std::to_string(st.st_size) + ")");
  }
  // Sized by fstat (the file may still grow: the buffer doubles, up to one past the limit).
  std::string content;
  content.resize(std::min<std::size_t>(static_cast<std::size_t>(st.st_size) + 1, kMaxJsonBlob + 1));
  std::size_t used = 0;
  for (;;) {
    if (used == content.size()) {
      if (content.size() > kMaxJsonBlob) break;
      content.resize(std::min<std::size_t>(content.size() * 2, kMaxJsonBlob + 1));
    }
    const ssize_t n = read(fd, content.data() + used, content.size() - used);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      Fail("cannot read " + what + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > kMaxJsonBlob) Fail(what + " is larger than 4 MiB; refusing it");
  content.resize(used);
  if (expected) {
    if (exact_size && static_cast<std::int64_t>(used) != expected->size) {
      Fail(what + " does not match its size (declared " + std::to_string(expected->size) +
           " bytes, read " + std::to_string(used) + ")");
    }
    if ("sha256:" + Sha256Hex(content) != expected->digest) {
      Fail(what + " does not match its digest (the blob is corrupted)");
    }
  }
  return content;
}

json Loader::ParseJson(const std::string& text, const std::string& what) const {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) Fail(what + " is not valid JSON");
  if (!j.is_object()) Fail(what + " is not a JSON object");
  return j;
}

Descriptor Loader::ParseDescriptor(const json& j, const std::string& what) const {
  if (!j.is_object()) Fail(what + " is not a JSON object");
  Descriptor d;
  if (auto it = j.find("mediaType"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) Fail(what + " has a mediaType that is not a string");
    d.media_type = it->get<std::string>();
  }
  const auto digest = j.find("digest");
  if (digest == j.end() || !digest->is_string()) Fail(what + " has no digest");
  d.digest = digest->get<std::string>();
  if (!IsValidDigest(d.digest)) {
    Fail(what + " has digest '" + Printable(d.digest) +
         "', which is not sha256: and 64 lowercase hex digits");
  }
  const auto size = j.find("size");
  if (size == j.end() || !size->is_number_integer()) Fail(what + " has no integer size");
  if (size->is_number_unsigned()) {
    const auto u = size->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) Fail(what + " has an impossible size");
    d.size = static_cast<std::int64_t>(u);
  } else {
    d.size = size->get<std::int64_t>();
  }
  if (d.size < 0) Fail(what + " has a negative size");
  if (auto it = j.find("urls"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) Fail(what + " has urls that are not a list");
    for (const json& url : *it) {
      if (!url.is_string() || url.get<std::string>().empty()) {
        Fail(what + " has a url that is not a non-empty string");
      }
      d.urls.push_back(url.get<std::string>());
    }
  }
  if (auto it = j.find("annotations"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) Fail(what + " has annotations that are not an object");
    for (const auto& [key, value] : it->items()) {
      if (!value.is_string()) Fail(what + " has a non-string annotation '" + Printable(key) + "'");
      d.annotations[key] = value.get<std::string>();
    }
  }
  if (auto it = j.find("platform"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) Fail(what + " has a platform that is not an object");
    Platform p;
    if (auto os = it->find("os"); os != it->end() && os->is_string()) p.os = os->get<std::string>();
    if (auto arch = it->find("architecture"); arch != it->end() && arch->is_string()) {
      p.architecture = arch->get<std::string>();
    }
    d.platform = p;
  }
  return d;
}

bool Loader::Matches(const Descriptor& d) const {
  return d.platform && d.platform->os == options_.os &&
         NormalizeArchitecture(d.platform->architecture) == arch_;
}

std::string Loader::PlatformList(const std::vector<Descriptor>& ds) const {
  std::set<std::string> seen;
  std::string list;
  for (const Descriptor& d : ds) {
    const std::string p =
        d.platform ? d.platform->os + "/" + d.platform->architecture : "no platform";
    if (!seen.insert(p).second) continue;
    if (seen.size() > 8) return list + ", ...";
    list += (list.empty() ? "" : ", ") + Printable(p, 40);
  }
  return list.empty() ? "none" : list;
}

Descriptor Loader::PickFromLayoutIndex(const json& index, const std::string& ref_name) const {
  const auto manifests = index.find("manifests");
  if (manifests == index.end() || !manifests->is_array()) {
    Fail("index.json has no manifests list");
  }
  std::vector<Descriptor> all;
  for (std::size_t i = 0; i < manifests->size(); ++i) {
    all.push_back(ParseDescriptor((*manifests)[i], "index.json manifest #" + std::to_string(i)));
  }
  auto ref_names = [&] {
    std::string names;
    std::size_t count = 0;
    for (const Descriptor& d : all) {
      auto it = d.annotations.find(std::string(kRefNameAnnotation));
      if (it == d.annotations.end()) continue;
      if (++count > 8) return names + ", ...";
      names += (names.empty() ? "" : ", ") + Printable(it->second, 60);
    }
    return names.empty() ? std::string("none") : names;
  };
  std::vector<Descriptor> candidates;
  if (ref_name.empty()) {
    candidates = all;
  } else {
    for (const Descriptor& d : all) {
      auto it = d.annotations.find(std::string(kRefNameAnnotation));
      if (it != d.annotations.end() && it->second == ref_name) candidates.push_back(d);
    }
    if (candidates.empty()) {
      Fail("no manifest named '" + Printable(ref_name) +
           "' in index.json (ref names: " + ref_names() + ")");
    }
  }
  if (candidates.empty()) Fail("index.json lists no manifests");
  bool one_digest = true;
  for (const Descriptor& d : candidates)
    one_digest = one_digest && d.digest == candidates[0].digest;
  if (one_digest) return candidates[0];  // its platform is not checked (grootfs's hardlink image)
  if (ref_name.empty()) {
    Fail("index.json lists " + std::to_string(candidates.size()) +
         " manifests; name one with oci://" + Printable(dir_, 200) +
         ":REF (ref names: " + ref_names() + ")");
  }
  for (const Descriptor& d : candidates) {
    if (Matches(d)) return d;
  }
  Fail("no manifest for " + options_.os + "/" + arch_ + " named '" + Printable(ref_name) +
       "' (platforms: " + PlatformList(candidates) + ")");
}

enum class DocKind { kManifest, kIndex, kSchema1, kUnknown };

DocKind KindOf(std::string_view media_type) {
  if (media_type == kOciManifest || media_type == kDockerManifest) return DocKind::kManifest;
  if (media_type == kOciIndex || media_type == kDockerList) return DocKind::kIndex;
  if (media_type == kDockerSchema1 || media_type == kDockerSchema1Signed) return DocKind::kSchema1;
  return DocKind::kUnknown;
}

std::pair<Descriptor, json> Loader::Resolve(const Descriptor& d, bool verify, int depth) {
  const std::string what =
      (KindOf(d.media_type) == DocKind::kIndex ? "image index " : "manifest ") + d.digest;
  const std::string text =
      ReadBounded(BlobPath(d.digest), what, verify ? std::optional<Descriptor>(d) : std::nullopt,
                  options_.strict_metadata);
  json j = ParseJson(text, what);
  std::string inner_type;
  if (auto it = j.find("mediaType"); it != j.end() && it->is_string()) {
    inner_type = it->get<std::string>();
  }
  const auto schema = j.find("schemaVersion");
  DocKind kind = DocKind::kUnknown;
  std::string type = d.media_type.empty() ? inner_type : d.media_type;
  if (!type.empty()) {
    kind = KindOf(type);
  } else if (schema != j.end() && *schema == 1) {
    kind = DocKind::kSchema1;
  } else if (j.contains("manifests")) {
    kind = DocKind::kIndex;
  } else if (j.contains("layers") || j.contains("config")) {
    kind = DocKind::kManifest;
  } else {
    Fail(what + " has no media type and is neither a manifest nor an image index");
  }
  if (kind == DocKind::kSchema1 || (schema != j.end() && *schema == 1)) {
    Fail(what +
         " is a Docker schema 1 manifest, which is not supported (convert the image, "
         "e.g. with skopeo copy, to OCI or Docker schema 2)");
  }
  if (kind == DocKind::kUnknown) {
    Fail(what + " has unsupported media type '" + Printable(type) + "'");
  }
  if (!d.media_type.empty() && !inner_type.empty() && KindOf(inner_type) != kind) {
    Fail(what + " has media type '" + Printable(inner_type) + "' but is listed as '" +
         Printable(d.media_type) + "'");
  }
  if (schema != j.end() && *schema != 2) Fail(what + " has an unsupported schemaVersion");
  if (kind == DocKind::kManifest) return {d, std::move(j)};

  if (depth >= kMaxIndexDepth) Fail("image indexes are nested too deeply");
  const auto manifests = j.find("manifests");
  if (manifests == j.end() || !manifests->is_array()) Fail(what + " has no manifests list");
  std::vector<Descriptor> entries;
  for (std::size_t i = 0; i < manifests->size(); ++i) {
    entries.push_back(ParseDescriptor((*manifests)[i], what + " entry #" + std::to_string(i)));
  }
  for (const Descriptor& entry : entries) {
    if (Matches(entry)) return Resolve(entry, /*verify=*/true, depth + 1);
  }
  if (entries.size() == 1 && !entries[0].platform) {
    return Resolve(entries[0], /*verify=*/true, depth + 1);
  }
  Fail("no manifest for " + options_.os + "/" + arch_ + " in " + what +
       " (platforms: " + PlatformList(entries) + ")");
}


LayerSpec Loader::ParseLayer(const json& j, std::size_t index) const {
  const Descriptor d = ParseDescriptor(j, "layer #" + std::to_string(index));
  const std::string what = "layer " + d.digest;
  LayerSpec layer;
  try {
    layer = LayerFromDescriptor(d);
  } catch (const Error& e) {
    Fail(e.what());
  }
  layer.verify = !options_.skip_layer_validation;
  const std::string path = BlobPath(d.digest);
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if ((err == ENOENT || err == ENOTDIR) && !d.urls.empty()) return layer;  // fetched by URL
    if (err == ENOENT || err == ENOTDIR) {
      Fail(what + " is missing (" + Printable(path, 200) + ": no such file or directory)");
    }
    Fail("cannot stat " + what + " " + Printable(path, 200) + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) Fail(what + " blob is not a regular file");
  if (layer.verify && st.st_size != d.size) {
    Fail(what + " does not match its size (declared " + std::to_string(d.size) +
         " bytes, the blob has " + std::to_string(st.st_size) + ")");
  }
  layer.blob_path = path;
  return layer;
}

ImageSpec Loader::Load(const std::string& ref_name) {
  if (dir_.empty() || dir_.front() != '/') Fail("the layout path must be absolute");
  struct stat st {};
  if (stat(dir_.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) Fail("no such file or directory");
    Fail(std::string("cannot access the layout: ") + std::strerror(err));
  }
  if (!S_ISDIR(st.st_mode)) Fail("not an OCI image layout directory");
  const std::string index_path = dir_ + "/index.json";
  if (stat(index_path.c_str(), &st) != 0 && errno == ENOENT) {
    Fail("not an OCI image layout: index.json: no such file or directory");
  }
  const json index =
      ParseJson(ReadBounded(index_path, "index.json", std::nullopt, false), "index.json");
  if (auto it = index.find("schemaVersion"); it != index.end() && *it != 2) {
    Fail("index.json has an unsupported schemaVersion");
  }
  const Descriptor entry = PickFromLayoutIndex(index, ref_name);
  auto [manifest_desc, manifest] = Resolve(entry, options_.strict_metadata, 0);
  const std::string what = "manifest " + manifest_desc.digest;

  const auto config_it = manifest.find("config");
  if (config_it == manifest.end()) Fail(what + " has no config");
  const Descriptor config_desc = ParseDescriptor(*config_it, what + " config");
  if (!config_desc.media_type.empty() && config_desc.media_type != kOciConfig &&
      config_desc.media_type != kDockerConfig) {
    Fail(what + " has config media type '" + Printable(config_desc.media_type) +
         "': not a container image");
  }
  const auto layers_it = manifest.find("layers");
  if (layers_it == manifest.end() || !layers_it->is_array()) Fail(what + " has no layers list");
  if (layers_it->empty()) Fail(what + " has no layers");

  const std::string config_what = "image config " + config_desc.digest;
  const json config = ParseJson(
      ReadBounded(BlobPath(config_desc.digest), config_what, config_desc, options_.strict_metadata),
      config_what);

  ImageSpec spec;
  spec.manifest_digest = manifest_desc.digest;
  for (std::size_t i = 0; i < layers_it->size(); ++i) {
    spec.layers.push_back(ParseLayer((*layers_it)[i], i));
  }

  const auto rootfs = config.find("rootfs");
  if (rootfs == config.end() || !rootfs->is_object()) Fail(config_what + " has no rootfs");
  if (auto type = rootfs->find("type"); type != rootfs->end() && *type != "layers") {
    Fail(config_what + " has a rootfs type other than \"layers\"");
  }
  const auto diff_ids = rootfs->find("diff_ids");
  if (diff_ids == rootfs->end() || !diff_ids->is_array()) {
    Fail(config_what + " has no rootfs.diff_ids list");
  }
  if (diff_ids->size() != spec.layers.size()) {
    Fail(config_what + " lists " + std::to_string(diff_ids->size()) + " diff_ids for " +
         std::to_string(spec.layers.size()) + " layers");
  }
  for (std::size_t i = 0; i < diff_ids->size(); ++i) {
    const json& id = (*diff_ids)[i];
    if (!id.is_string() || !IsValidDigest(id.get<std::string>())) {
      Fail(config_what + " has an invalid diff_id #" + std::to_string(i));
    }
    spec.layers[i].diff_id = id.get<std::string>();
  }

  if (auto inner = config.find("config"); inner != config.end() && !inner->is_null()) {
    if (!inner->is_object()) Fail(config_what + " has a config that is not an object");
    if (auto env = inner->find("Env"); env != inner->end() && !env->is_null()) {
      if (!env->is_array()) Fail(config_what + " has an Env that is not a list");
      std::vector<std::string> values;
      for (const json& v : *env) {
        if (!v.is_string()) Fail(config_what + " has an Env entry that is not a string");
        values.push_back(v.get<std::string>());
      }
      spec.env = std::move(values);
    }
    if (auto volumes = inner->find("Volumes"); volumes != inner->end() && !volumes->is_null()) {
      if (!volumes->is_object()) Fail(config_what + " has Volumes that are not an object");
      for (const auto& [volume, ignored] : volumes->items()) {
        const std::optional<std::string> clean = CleanAbsolutePath(volume);
        if (!clean || clean->empty()) {
          Fail(config_what + " has volume '" + Printable(volume) +
               "', which is not an absolute path without '..'");
        }
        spec.volumes.push_back(*clean);
      }
    }
  }
  AssignCacheKeys(spec.layers);
  return spec;
}

}  // namespace

std::string HostArchitecture() {
  struct utsname u {};
  if (uname(&u) != 0) return "amd64";
  return NormalizeArchitecture(u.machine);
}

std::optional<Compression> LayerCompression(std::string_view media_type) {
  static const std::map<std::string_view, Compression> kTypes = {
      {"application/vnd.oci.image.layer.v1.tar", Compression::kNone},
      {"application/vnd.oci.image.layer.v1.tar+gzip", Compression::kGzip},
      {"application/vnd.oci.image.layer.v1.tar+zstd", Compression::kZstd},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar", Compression::kNone},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Compression::kGzip},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", Compression::kZstd},
      {"application/vnd.docker.image.rootfs.diff.tar.gzip", Compression::kGzip},
      {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Compression::kGzip},
  };
  const auto it = kTypes.find(media_type);
  if (it == kTypes.end()) return std::nullopt;
  return it->second;
}

ImageSpec LoadOciImage(const std::string& layout_dir, const std::string& ref_name,
                       const LoadOptions& options) {
  return Loader(layout_dir, options).Load(ref_name);
}

}  // namespace grootfs::frontend::image
