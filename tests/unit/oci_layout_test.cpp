// Tests for frontend/image/oci_layout.h: reading OCI image layouts built here in a temp dir.
#include "frontend/image/oci_layout.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "frontend/image/digest.h"
#include "frontend/image/layer_stream.h"
#include "frontend/util/error.h"
#include "tests/unit/image_fixtures.h"

namespace grootfs::frontend::image {
namespace {

using nlohmann::json;

constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char* kOciConfig = "application/vnd.oci.image.config.v1+json";
constexpr const char* kOciTar = "application/vnd.oci.image.layer.v1.tar";
constexpr const char* kOciTarGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr const char* kOciTarZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr const char* kDockerConfig = "application/vnd.docker.container.image.v1+json";
constexpr const char* kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip";
constexpr const char* kRefName = "org.opencontainers.image.ref.name";
constexpr const char* kBaseDir = "org.cloudfoundry.experimental.image.base-directory";

using fixtures::Compress;
using fixtures::Digest;
using fixtures::MakeTar;

struct LayerInput {
  std::string tar;
  Compression compression = Compression::kGzip;
  std::string media_type;  // default from compression
  json annotations = nullptr;
};

class OciLayoutTest : public fixtures::ScratchDirTest {
 protected:
  void SetUp() override {
    ScratchDirTest::SetUp();
    dir_ = scratch_ + "/layout";
    std::filesystem::create_directories(dir_ + "/blobs/sha256");
    std::ofstream(dir_ + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
  }

  std::string BlobPath(const std::string& digest) {
    return dir_ + "/blobs/sha256/" + digest.substr(7);
  }

  // Writes a blob; returns its descriptor.
  json Blob(const std::string& media_type, const std::string& content) {
    const std::string digest = Digest(content);
    std::ofstream(BlobPath(digest), std::ios::binary | std::ios::trunc) << content;
    json d = {{"digest", digest}, {"size", content.size()}};
    if (!media_type.empty()) d["mediaType"] = media_type;
    return d;
  }

  void Index(const std::vector<json>& manifests) {
    json index = {{"schemaVersion", 2}, {"mediaType", kOciIndex}};
    index["manifests"] = json::array();
    for (const json& m : manifests) index["manifests"].push_back(m);
    std::ofstream(dir_ + "/index.json", std::ios::trunc) << index.dump();
  }

  static json DefaultInnerConfig() {
    return {{"Env", {"PATH=/usr/bin:/bin", "HOME=/root"}},
            {"Volumes", {{"/data", json::object()}, {"/var/log/", json::object()}}}};
  }

  // Writes layers and config; returns the manifest (not yet written).
  json Manifest(const std::vector<LayerInput>& layers, const json& inner = DefaultInnerConfig(),
                bool docker = false) {
    json diff_ids = json::array();
    json layer_descs = json::array();
    for (const LayerInput& layer : layers) {
      std::string type = layer.media_type;
      if (type.empty()) {
        type = docker                                    ? kDockerLayer
               : layer.compression == Compression::kGzip ? kOciTarGzip
               : layer.compression == Compression::kZstd ? kOciTarZstd
                                                         : kOciTar;
      }
      json d = Blob(type, Compress(layer.tar, layer.compression));
      if (!layer.annotations.is_null()) d["annotations"] = layer.annotations;
      layer_descs.push_back(d);
      diff_ids.push_back(Digest(layer.tar));
    }
    json config = {{"architecture", "amd64"},
                   {"os", "linux"},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
    if (!inner.is_null()) config["config"] = inner;
    return {{"schemaVersion", 2},
            {"mediaType", docker ? kDockerManifest : kOciManifest},
            {"config", Blob(docker ? kDockerConfig : kOciConfig, config.dump())},
            {"layers", layer_descs}};
  }

  static std::vector<LayerInput> TwoLayers() {
    return {{MakeTar("bin/sh", "shell"), Compression::kGzip},
            {MakeTar("etc/motd", "hello"), Compression::kNone}};
  }

  // A manifest written as a blob; returns its descriptor.
  json Publish(const json& manifest, const std::string& media_type = kOciManifest) {
    return Blob(media_type, manifest.dump());
  }

  static json WithRef(json descriptor, const std::string& ref) {
    descriptor["annotations"] = {{kRefName, ref}};
    return descriptor;
  }
  static json WithPlatform(json descriptor, const std::string& os, const std::string& arch) {
    descriptor["platform"] = {{"os", os}, {"architecture", arch}};
    return descriptor;
  }

  ImageSpec Load(const std::string& ref = "", LoadOptions options = {}) {
    if (options.architecture.empty()) options.architecture = "amd64";
    return LoadOciImage(dir_, ref, options);
  }

  std::string ErrorOf(const std::string& ref = "", LoadOptions options = {}) {
    try {
      Load(ref, options);
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      return e.what();
    }
    return "<no error>";
  }

  // The config blob of a manifest, for tests that replace it.
  json ConfigOf(const json& manifest) {
    std::ifstream in(BlobPath(manifest["config"]["digest"]));
    return json::parse(in);
  }
  // Replaces the manifest's config with `text` (correct digest and size).
  json WithConfigText(json manifest, const std::string& text) {
    manifest["config"] = Blob(kOciConfig, text);
    return manifest;
  }

  std::string dir_;
};

::testing::AssertionResult Has(const std::string& message, const std::string& words) {
  if (message.find(words) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << message << "' lacks '" << words << "'";
}

TEST_F(OciLayoutTest, LoadsAnImage) {
  const json manifest = Manifest(TwoLayers());
  const json desc = Publish(manifest);
  Index({desc});
  const ImageSpec spec = Load();
  EXPECT_EQ(spec.manifest_digest, desc["digest"]);
  ASSERT_EQ(spec.layers.size(), 2u);
  const auto tars = TwoLayers();
  for (std::size_t i = 0; i < 2; ++i) {
    const LayerSpec& layer = spec.layers[i];
    const json& d = manifest["layers"][i];
    EXPECT_EQ(layer.digest, d["digest"]);
    EXPECT_EQ(layer.size, d["size"].get<std::int64_t>());
    EXPECT_EQ(layer.media_type, d["mediaType"]);
    EXPECT_EQ(layer.blob_path, BlobPath(d["digest"]));
    EXPECT_EQ(layer.diff_id, Digest(tars[i].tar));
    EXPECT_TRUE(layer.verify);
    EXPECT_TRUE(layer.urls.empty());
    EXPECT_EQ(layer.base_directory, "");
  }
  EXPECT_EQ(spec.layers[0].compression, Compression::kGzip);
  EXPECT_EQ(spec.layers[1].compression, Compression::kNone);
  EXPECT_EQ(spec.layers[0].cache_key, spec.layers[0].diff_id.substr(7));
  EXPECT_EQ(spec.layers[1].cache_key,
            Sha256Hex(spec.layers[0].diff_id + " " + spec.layers[1].diff_id));
  ASSERT_TRUE(spec.env.has_value());
  EXPECT_EQ(*spec.env, (std::vector<std::string>{"PATH=/usr/bin:/bin", "HOME=/root"}));
  EXPECT_EQ(spec.volumes, (std::vector<std::string>{"/data", "/var/log"}));

  // And every layer streams and verifies.
  for (const LayerSpec& layer : spec.layers) {
    const int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    EXPECT_NO_THROW(StreamLayer(layer, fd));
    close(fd);
  }
}

TEST_F(OciLayoutTest, OciLayoutFileIsOptional) {
  std::filesystem::remove(dir_ + "/oci-layout");
  Index({Publish(Manifest(TwoLayers()))});
  EXPECT_EQ(Load().layers.size(), 2u);
}

TEST_F(OciLayoutTest, EnvAbsentNullOrEmpty) {
  Index({Publish(Manifest(TwoLayers(), nullptr))});
  EXPECT_FALSE(Load().env.has_value());
  EXPECT_TRUE(Load().volumes.empty());
  Index({Publish(Manifest(TwoLayers(), json::object()))});
  EXPECT_FALSE(Load().env.has_value());
  Index({Publish(Manifest(TwoLayers(), {{"Env", nullptr}, {"Volumes", nullptr}}))});
  EXPECT_FALSE(Load().env.has_value());
  Index({Publish(Manifest(TwoLayers(), {{"Env", json::array()}}))});
  ASSERT_TRUE(Load().env.has_value());
  EXPECT_TRUE(Load().env->empty());
}

TEST_F(OciLayoutTest, BadEnvAndVolumesAreRefused) {
  Index({Publish(Manifest(TwoLayers(), {{"Env", "PATH=/bin"}}))});
  EXPECT_TRUE(Has(ErrorOf(), "Env that is not a list"));
  Index({Publish(Manifest(TwoLayers(), {{"Env", {1}}}))});
  EXPECT_TRUE(Has(ErrorOf(), "Env entry that is not a string"));
  Index({Publish(Manifest(TwoLayers(), {{"Volumes", {{"relative", json::object()}}}}))});
  EXPECT_TRUE(Has(ErrorOf(), "volume 'relative'"));
  Index({Publish(Manifest(TwoLayers(), {{"Volumes", {{"/a/../../etc", json::object()}}}}))});
  EXPECT_TRUE(Has(ErrorOf(), "not an absolute path without '..'"));
  Index({Publish(Manifest(TwoLayers(), {{"Volumes", {{"/", json::object()}}}}))});
  EXPECT_TRUE(Has(ErrorOf(), "volume '/'"));
  Index({Publish(Manifest(TwoLayers(), {{"Volumes", {"/data"}}}))});
  EXPECT_TRUE(Has(ErrorOf(), "Volumes that are not an object"));
}

TEST_F(OciLayoutTest, MissingLayoutOrIndex) {
  auto error_for = [](const std::string& dir) {
    try {
      LoadOciImage(dir, "", {});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  EXPECT_TRUE(Has(error_for(scratch_ + "/nope"), "no such file"));
  EXPECT_TRUE(Has(error_for(scratch_ + "/nope"), scratch_ + "/nope"));
  EXPECT_TRUE(Has(error_for(dir_), "index.json: no such file"));
  std::ofstream(scratch_ + "/file") << "x";
  EXPECT_TRUE(Has(error_for(scratch_ + "/file"), "not an OCI image layout directory"));
  EXPECT_TRUE(Has(error_for(scratch_ + "/file/sub"), "no such file"));
  EXPECT_TRUE(Has(error_for("relative"), "must be absolute"));
}

TEST_F(OciLayoutTest, BadIndexJson) {
  std::ofstream(dir_ + "/index.json") << "{not json";
  EXPECT_TRUE(Has(ErrorOf(), "index.json is not valid JSON"));
  std::ofstream(dir_ + "/index.json", std::ios::trunc) << "[]";
  EXPECT_TRUE(Has(ErrorOf(), "index.json is not a JSON object"));
  std::ofstream(dir_ + "/index.json", std::ios::trunc) << R"({"schemaVersion":2})";
  EXPECT_TRUE(Has(ErrorOf(), "index.json has no manifests list"));
  std::ofstream(dir_ + "/index.json", std::ios::trunc) << R"({"schemaVersion":3,"manifests":[]})";
  EXPECT_TRUE(Has(ErrorOf(), "schemaVersion"));
  Index({});
  EXPECT_TRUE(Has(ErrorOf(), "index.json lists no manifests"));
}

TEST_F(OciLayoutTest, RefNameChoosesTheManifest) {
  const json v1 = Publish(Manifest({{MakeTar("v", "1")}}));
  const json v2 = Publish(Manifest({{MakeTar("v", "2")}, {MakeTar("w", "2")}}));
  Index({WithRef(v1, "v1"), WithRef(v2, "v2")});
  EXPECT_EQ(Load("v1").manifest_digest, v1["digest"]);
  EXPECT_EQ(Load("v1").layers.size(), 1u);
  EXPECT_EQ(Load("v2").manifest_digest, v2["digest"]);
  const std::string missing = ErrorOf("v3");
  EXPECT_TRUE(Has(missing, "no manifest named 'v3'"));
  EXPECT_TRUE(Has(missing, "ref names: v1, v2"));
  // Without a ref, several manifests are ambiguous.
  EXPECT_TRUE(Has(ErrorOf(), "index.json lists 2 manifests; name one with oci://"));
}

TEST_F(OciLayoutTest, RefNameOnALayoutWithoutRefs) {
  Index({Publish(Manifest(TwoLayers()))});
  EXPECT_TRUE(Has(ErrorOf("latest"), "no manifest named 'latest' in index.json (ref names: none)"));
}

TEST_F(OciLayoutTest, SameManifestListedTwiceIsNotAmbiguous) {
  const json d = Publish(Manifest(TwoLayers()));
  Index({WithRef(d, "latest"), WithRef(d, "1.0")});
  EXPECT_EQ(Load().manifest_digest, d["digest"]);
}

TEST_F(OciLayoutTest, SameRefOnSeveralPlatformsPicksTheHosts) {
  const json amd = Publish(Manifest({{MakeTar("arch", "amd64")}}));
  const json arm = Publish(Manifest({{MakeTar("arch", "arm64")}}));
  Index({WithRef(WithPlatform(arm, "linux", "arm64"), "latest"),
         WithRef(WithPlatform(amd, "linux", "amd64"), "latest")});
  EXPECT_EQ(Load("latest").manifest_digest, amd["digest"]);
  LoadOptions options;
  options.architecture = "arm64";
  EXPECT_EQ(Load("latest", options).manifest_digest, arm["digest"]);
  options.architecture = "ppc64le";
  EXPECT_TRUE(Has(ErrorOf("latest", options), "no manifest for linux/ppc64le named 'latest'"));
}

// grootfs's `hardlink` image: its only manifest says darwin, and must load on linux.
TEST_F(OciLayoutTest, PlatformOfTheOnlyManifestIsNotChecked) {
  const json d = Publish(Manifest(TwoLayers()));
  Index({WithRef(WithPlatform(d, "darwin", "arm"), "latest")});
  EXPECT_EQ(Load().manifest_digest, d["digest"]);
  EXPECT_EQ(Load("latest").manifest_digest, d["digest"]);
}

TEST_F(OciLayoutTest, NestedIndexesChooseThePlatform) {
  const json amd = Publish(Manifest({{MakeTar("arch", "amd64")}}), kDockerManifest);
  const json arm = Publish(Manifest({{MakeTar("arch", "arm64")}}));
  const json s390 = Publish(Manifest({{MakeTar("arch", "s390x")}}));
  // A Docker manifest list inside an OCI index inside index.json.
  const json list =
      Blob(kDockerList,
           json{{"schemaVersion", 2},
                {"mediaType", kDockerList},
                {"manifests",
                 {WithPlatform(s390, "linux", "s390x"), WithPlatform(amd, "linux", "amd64")}}}
               .dump());
  const json index = Blob(
      kOciIndex, json{{"schemaVersion", 2},
                      {"mediaType", kOciIndex},
                      {"manifests",
                       {WithPlatform(arm, "linux", "arm64"), WithPlatform(list, "linux", "amd64"),
                        WithPlatform(list, "linux", "s390x")}}}
                     .dump());
  Index({WithRef(index, "multi")});
  EXPECT_EQ(Load("multi").manifest_digest, amd["digest"]);
  EXPECT_EQ(Load().manifest_digest, amd["digest"]);
  LoadOptions options;
  options.architecture = "x86_64";  // uname's name for it
  EXPECT_EQ(Load("", options).manifest_digest, amd["digest"]);
  options.architecture = "aarch64";
  EXPECT_EQ(Load("", options).manifest_digest, arm["digest"]);
  options.architecture = "s390x";
  EXPECT_EQ(Load("", options).manifest_digest, s390["digest"]);
  options.architecture = "riscv64";
  const std::string message = ErrorOf("", options);
  EXPECT_TRUE(Has(message, "no manifest for linux/riscv64 in image index " +
                               index["digest"].get<std::string>()));
  EXPECT_TRUE(Has(message, "platforms: linux/arm64, linux/amd64, linux/s390x"));
  options.architecture = "amd64";
  options.os = "windows";
  EXPECT_TRUE(Has(ErrorOf("", options), "no manifest for windows/amd64"));
}

TEST_F(OciLayoutTest, HostArchitectureIsTheDefault) {
  const std::string host = HostArchitecture();
  EXPECT_NE(host, "x86_64");
  EXPECT_NE(host, "aarch64");
  const json here = Publish(Manifest({{MakeTar("arch", "here")}}));
  const json other = Publish(Manifest({{MakeTar("arch", "other")}}));
  const json index =
      Blob(kOciIndex, json{{"schemaVersion", 2},
                           {"manifests",
                            {WithPlatform(other, "linux", host == "mips" ? "sparc" : "mips"),
                             WithPlatform(here, "linux", host)}}}
                          .dump());
  Index({index});
  EXPECT_EQ(LoadOciImage(dir_, "", {}).manifest_digest, here["digest"]);
}

TEST_F(OciLayoutTest, IndexEntryWithoutPlatformWhenItIsTheOnlyOne) {
  const json d = Publish(Manifest(TwoLayers()));
  const json index = Blob(kOciIndex, json{{"schemaVersion", 2}, {"manifests", {d}}}.dump());
  Index({index});
  EXPECT_EQ(Load().manifest_digest, d["digest"]);
}

TEST_F(OciLayoutTest, IndexesNestedTooDeeply) {
  json d = Publish(Manifest(TwoLayers()));
  for (int i = 0; i < 10; ++i) {
    d = Blob(kOciIndex, json{{"schemaVersion", 2}, {"manifests", {d}}}.dump());
  }
  Index({d});
  EXPECT_TRUE(Has(ErrorOf(), "nested too deeply"));
}

TEST_F(OciLayoutTest, NestedBlobsAreCheckedAgainstTheirDigest) {
  const json d = Publish(Manifest(TwoLayers()));
  auto index_of = [&](json entry) {
    return Blob(kOciIndex, json{{"schemaVersion", 2}, {"manifests", {entry}}}.dump());
  };
  LoadOptions strict;
  strict.strict_metadata = true;
  json smaller = d;
  smaller["size"] = d["size"].get<int>() - 1;
  Index({index_of(smaller)});
  EXPECT_EQ(Load().manifest_digest, d["digest"]);  // the digest pins the content
  EXPECT_TRUE(Has(ErrorOf("", strict), "manifest " + d["digest"].get<std::string>() +
                                           " does not match its size (declared"));
  json bigger = d;
  bigger["size"] = d["size"].get<int>() + 1;
  Index({index_of(bigger)});
  EXPECT_TRUE(Has(ErrorOf("", strict), "does not match its size"));
  // Same size, other bytes.
  std::string text;
  {
    std::ifstream in(BlobPath(d["digest"]), std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  text[text.size() - 2] = ' ';
  std::filesystem::remove(BlobPath(d["digest"]));
  std::ofstream(BlobPath(d["digest"]), std::ios::binary) << text;
  Index({index_of(d)});
  EXPECT_TRUE(
      Has(ErrorOf(), "manifest " + d["digest"].get<std::string>() + " does not match its digest"));
  EXPECT_TRUE(Has(ErrorOf("", strict), "does not match its digest"));
  // A nested manifest that is missing.
  std::filesystem::remove(BlobPath(d["digest"]));
  EXPECT_TRUE(Has(ErrorOf(), "is missing"));
}

// index.json is no more trustworthy than the manifest it names, and grootfs's own test images
// (hardlink, 4mb-image, ...) have entries whose digest and size no longer match: accepted
// unless LoadOptions::strict_metadata.
TEST_F(OciLayoutTest, EntryManifestMismatchIsToleratedUnlessStrict) {
  const json manifest = Manifest(TwoLayers());
  json d = Publish(manifest);
  const std::string text = manifest.dump(2);  // edited by hand: pretty printed
  std::filesystem::remove(BlobPath(d["digest"]));
  std::ofstream(BlobPath(d["digest"]), std::ios::binary) << text;
  Index({d});
  EXPECT_EQ(Load().layers.size(), 2u);
  EXPECT_EQ(Load().manifest_digest, d["digest"]);
  LoadOptions strict;
  strict.strict_metadata = true;
  EXPECT_TRUE(Has(ErrorOf("", strict), "does not match its size"));
  d["size"] = text.size();
  Index({d});
  EXPECT_TRUE(Has(ErrorOf("", strict), "does not match its digest"));
}

TEST_F(OciLayoutTest, JsonBlobsAreBounded) {
  json manifest = Manifest(TwoLayers());
  std::string big = ConfigOf(manifest).dump();
  big.insert(1, "\"padding\":\"" + std::string(4 * 1024 * 1024, 'x') + "\",");
  Index({Publish(WithConfigText(manifest, big))});
  EXPECT_TRUE(Has(ErrorOf(), "image config"));
  EXPECT_TRUE(Has(ErrorOf(), "is larger than 4 MiB"));
  // Also index.json itself and an entry manifest whose declared size is not checked.
  json entry = Publish(manifest);
  std::filesystem::remove(BlobPath(entry["digest"]));
  std::ofstream(BlobPath(entry["digest"]), std::ios::binary)
      << manifest.dump() << std::string(4 * 1024 * 1024, ' ');
  Index({entry});
  EXPECT_TRUE(Has(ErrorOf(), "is larger than 4 MiB"));
  std::ofstream(dir_ + "/index.json", std::ios::app) << std::string(4 * 1024 * 1024, ' ');
  EXPECT_TRUE(Has(ErrorOf(), "index.json is larger than 4 MiB"));
}

TEST_F(OciLayoutTest, ConfigIsCheckedAgainstDigestAndSize) {
  json manifest = Manifest(TwoLayers());
  const std::string digest = manifest["config"]["digest"];
  const int size = manifest["config"]["size"];
  LoadOptions strict;
  strict.strict_metadata = true;
  json m = manifest;
  m["config"]["size"] = size - 1;
  Index({Publish(m)});
  // grootfs's 4mb-image and opq-whiteouts-busybox declare wrong config sizes, right digests.
  EXPECT_EQ(Load().layers.size(), 2u);
  EXPECT_TRUE(Has(ErrorOf("", strict), "image config " + digest + " does not match its size"));
  m["config"]["size"] = size + 1;
  Index({Publish(m)});
  EXPECT_TRUE(Has(ErrorOf("", strict), "image config " + digest + " does not match its size"));
  m = manifest;
  m["config"]["digest"] = Digest("other");
  std::filesystem::copy_file(BlobPath(digest), BlobPath(m["config"]["digest"]));
  Index({Publish(m)});
  EXPECT_TRUE(Has(ErrorOf(), "image config " + m["config"]["digest"].get<std::string>() +
                                 " does not match its digest"));
  EXPECT_TRUE(Has(ErrorOf("", strict), "does not match its digest"));
}

TEST_F(OciLayoutTest, InvalidConfigIsRefused) {
  const json manifest = Manifest(TwoLayers());
  Index({Publish(WithConfigText(manifest, "{\"rootfs\": not json"))});
  EXPECT_TRUE(Has(ErrorOf(), "image config"));
  EXPECT_TRUE(Has(ErrorOf(), "is not valid JSON"));
  Index({Publish(WithConfigText(manifest, "[1,2]"))});
  EXPECT_TRUE(Has(ErrorOf(), "is not a JSON object"));
  Index({Publish(WithConfigText(manifest, "{}"))});
  EXPECT_TRUE(Has(ErrorOf(), "has no rootfs"));
  Index({Publish(WithConfigText(manifest, R"({"rootfs":{"type":"layers"}})"))});
  EXPECT_TRUE(Has(ErrorOf(), "has no rootfs.diff_ids list"));
  Index({Publish(WithConfigText(manifest, R"({"rootfs":{"type":"other","diff_ids":[]}})"))});
  EXPECT_TRUE(Has(ErrorOf(), "rootfs type"));
  json config = ConfigOf(manifest);
  config["config"] = "string";
  Index({Publish(WithConfigText(manifest, config.dump()))});
  EXPECT_TRUE(Has(ErrorOf(), "config that is not an object"));
}

TEST_F(OciLayoutTest, MissingConfigIsRefused) {
  json manifest = Manifest(TwoLayers());
  std::filesystem::remove(BlobPath(manifest["config"]["digest"]));
  Index({Publish(manifest)});
  const std::string message = ErrorOf();
  EXPECT_TRUE(Has(
      message, "image config " + manifest["config"]["digest"].get<std::string>() + " is missing"));
  EXPECT_TRUE(Has(message, "no such file"));
  manifest.erase("config");
  Index({Publish(manifest)});
  EXPECT_TRUE(Has(ErrorOf(), "has no config"));
}

TEST_F(OciLayoutTest, ConfigMediaTypeMustBeAnImageConfig) {
  json manifest = Manifest(TwoLayers());
  manifest["config"]["mediaType"] = "application/vnd.cncf.helm.config.v1+json";
  Index({Publish(manifest)});
  EXPECT_TRUE(Has(ErrorOf(), "config media type 'application/vnd.cncf.helm.config.v1+json'"));
  manifest["config"].erase("mediaType");
  Index({Publish(manifest)});
  EXPECT_EQ(Load().layers.size(), 2u);
}

TEST_F(OciLayoutTest, DiffIdsMustMatchTheLayers) {
  const json manifest = Manifest(TwoLayers());
  json config = ConfigOf(manifest);
  config["rootfs"]["diff_ids"].erase(1);
  Index({Publish(WithConfigText(manifest, config.dump()))});
  EXPECT_TRUE(Has(ErrorOf(), "lists 1 diff_ids for 2 layers"));
  config = ConfigOf(manifest);
  config["rootfs"]["diff_ids"].push_back(Digest("extra"));
  Index({Publish(WithConfigText(manifest, config.dump()))});
  EXPECT_TRUE(Has(ErrorOf(), "lists 3 diff_ids for 2 layers"));
  config = ConfigOf(manifest);
  config["rootfs"]["diff_ids"][1] = "sha256:ABC";
  Index({Publish(WithConfigText(manifest, config.dump()))});
  EXPECT_TRUE(Has(ErrorOf(), "invalid diff_id #1"));
  config["rootfs"]["diff_ids"][1] = 5;
  Index({Publish(WithConfigText(manifest, config.dump()))});
  EXPECT_TRUE(Has(ErrorOf(), "invalid diff_id #1"));
}

TEST_F(OciLayoutTest, DockerSchema2IsAccepted) {
  const json manifest = Manifest(TwoLayers(), DefaultInnerConfig(), /*docker=*/true);
  Index({Publish(manifest, kDockerManifest)});
  const ImageSpec spec = Load();
  ASSERT_EQ(spec.layers.size(), 2u);
  EXPECT_EQ(spec.layers[0].media_type, kDockerLayer);
  EXPECT_EQ(spec.layers[0].compression, Compression::kGzip);
}

TEST_F(OciLayoutTest, DockerSchema1IsRefused) {
  const json schema1 = {{"schemaVersion", 1},
                        {"name", "library/alpine"},
                        {"tag", "latest"},
                        {"fsLayers", {{{"blobSum", Digest("x")}}}}};
  Index({Blob("application/vnd.docker.distribution.manifest.v1+prettyjws", schema1.dump())});
  EXPECT_TRUE(Has(ErrorOf(), "Docker schema 1 manifest, which is not supported"));
  Index({Blob("application/vnd.docker.distribution.manifest.v1+json", schema1.dump())});
  EXPECT_TRUE(Has(ErrorOf(), "Docker schema 1"));
  Index({Blob("", schema1.dump())});  // no media type anywhere
  EXPECT_TRUE(Has(ErrorOf(), "Docker schema 1"));
}

TEST_F(OciLayoutTest, ManifestWithoutMediaTypeIsAcceptedIfItIsOne) {
  json manifest = Manifest(TwoLayers());
  manifest.erase("mediaType");
  Index({Publish(manifest, "")});
  EXPECT_EQ(Load().layers.size(), 2u);
  // An index without media types too.
  const json inner = Publish(manifest, "");
  Index({Blob(
      "",
      json{{"schemaVersion", 2}, {"manifests", {WithPlatform(inner, "linux", "amd64")}}}.dump())});
  EXPECT_EQ(Load().manifest_digest, inner["digest"]);
  Index({Blob("", R"({"schemaVersion":2,"something":"else"})")});
  EXPECT_TRUE(Has(ErrorOf(), "neither a manifest nor an image index"));
}

TEST_F(OciLayoutTest, UnknownManifestMediaTypesAreRefused) {
  const json manifest = Manifest(TwoLayers());
  Index({Publish(manifest, "application/vnd.oci.artifact.manifest.v1+json")});
  EXPECT_TRUE(
      Has(ErrorOf(), "has unsupported media type 'application/vnd.oci.artifact.manifest.v1+json'"));
  // The descriptor and the content disagree.
  Index({Publish(manifest, kOciIndex)});
  EXPECT_TRUE(Has(ErrorOf(), "is listed as"));
  json m = manifest;
  m["mediaType"] = "text/plain";
  Index({Publish(m, "")});
  EXPECT_TRUE(Has(ErrorOf(), "unsupported media type 'text/plain'"));
  m = manifest;
  m["schemaVersion"] = 3;
  Index({Publish(m)});
  EXPECT_TRUE(Has(ErrorOf(), "unsupported schemaVersion"));
}

TEST_F(OciLayoutTest, ManifestNeedsLayers) {
  json manifest = Manifest(TwoLayers());
  manifest["layers"] = json::array();
  Index({Publish(manifest)});
  EXPECT_TRUE(Has(ErrorOf(), "has no layers"));
  manifest.erase("layers");
  Index({Publish(manifest)});
  EXPECT_TRUE(Has(ErrorOf(), "has no layers list"));
}

TEST_F(OciLayoutTest, LayerMediaTypes) {
  const std::vector<std::pair<std::string, Compression>> accepted = {
      {kOciTar, Compression::kNone},
      {kOciTarGzip, Compression::kGzip},
      {kOciTarZstd, Compression::kZstd},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar", Compression::kNone},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Compression::kGzip},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", Compression::kZstd},
      {kDockerLayer, Compression::kGzip},
      {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Compression::kGzip},
  };
  for (const auto& [type, compression] : accepted) {
    EXPECT_EQ(LayerCompression(type), compression) << type;
    Index({Publish(Manifest({{MakeTar("f", type), compression, type}}))});
    const ImageSpec spec = Load();
    EXPECT_EQ(spec.layers[0].compression, compression) << type;
    EXPECT_EQ(spec.layers[0].media_type, type);
    const int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    EXPECT_NO_THROW(StreamLayer(spec.layers[0], fd)) << type;
    close(fd);
  }
  for (const std::string type :
       {"application/vnd.oci.image.layer.v1.tar+bzip2",
        "application/vnd.docker.image.rootfs.diff.tar", "application/octet-stream", "text/plain"}) {
    EXPECT_FALSE(LayerCompression(type).has_value()) << type;
    Index({Publish(Manifest({{MakeTar("f", "x"), Compression::kNone, type}}))});
    EXPECT_TRUE(Has(ErrorOf(), "has unsupported media type '" + type + "'"));
  }
  json manifest = Manifest({{MakeTar("f", "x")}});
  manifest["layers"][0].erase("mediaType");
  Index({Publish(manifest)});
  EXPECT_TRUE(Has(ErrorOf(), "has no media type"));
}

TEST_F(OciLayoutTest, ZstdAndGzipAndPlainLayersTogether) {
  Index({Publish(Manifest({{MakeTar("a", "1"), Compression::kZstd},
                           {MakeTar("b", "2"), Compression::kGzip},
                           {MakeTar("c", "3"), Compression::kNone}}))});
  const ImageSpec spec = Load();
  ASSERT_EQ(spec.layers.size(), 3u);
  EXPECT_EQ(spec.layers[0].compression, Compression::kZstd);
  EXPECT_EQ(spec.layers[1].compression, Compression::kGzip);
  EXPECT_EQ(spec.layers[2].compression, Compression::kNone);
  for (const LayerSpec& layer : spec.layers) {
    const int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    EXPECT_NO_THROW(StreamLayer(layer, fd));
    close(fd);
  }
}

TEST_F(OciLayoutTest, BadDescriptorsAreRefused) {
  const json manifest = Manifest(TwoLayers());
  auto with_layer_field = [&](const std::string& key, const json& value) {
    json m = manifest;
    m["layers"][1][key] = value;
    Index({Publish(m)});
    return ErrorOf();
  };
  EXPECT_TRUE(Has(with_layer_field("digest", "sha256:" + std::string(64, 'A')),
                  "not sha256: and 64 lowercase hex digits"));
  EXPECT_TRUE(Has(with_layer_field("digest", "sha512:" + std::string(128, 'a')),
                  "not sha256: and 64 lowercase hex digits"));
  EXPECT_TRUE(Has(with_layer_field("digest", "sha256:../../../../../../etc/passwd"),
                  "layer #1 has digest 'sha256:../../../../../../etc/passwd'"));
  EXPECT_TRUE(Has(with_layer_field("digest", 5), "layer #1 has no digest"));
  EXPECT_TRUE(Has(with_layer_field("size", -1), "negative size"));
  EXPECT_TRUE(Has(with_layer_field("size", 1.5), "no integer size"));
  EXPECT_TRUE(Has(with_layer_field("size", "12"), "no integer size"));
  EXPECT_TRUE(Has(with_layer_field("urls", "https://x"), "urls that are not a list"));
  EXPECT_TRUE(Has(with_layer_field("urls", {""}), "url that is not a non-empty string"));
  EXPECT_TRUE(Has(with_layer_field("annotations", {{"a", 1}}), "non-string annotation 'a'"));
  EXPECT_TRUE(Has(with_layer_field("mediaType", 7), "mediaType that is not a string"));
  json m = manifest;
  m["layers"][0] = "not an object";
  Index({Publish(m)});
  EXPECT_TRUE(Has(ErrorOf(), "layer #0 is not a JSON object"));
  // In index.json too.
  Index({{{"mediaType", kOciManifest}, {"digest", "sha256:nothex"}, {"size", 1}}});
  EXPECT_TRUE(Has(ErrorOf(), "index.json manifest #0 has digest 'sha256:nothex'"));
}

TEST_F(OciLayoutTest, MissingLayerBlob) {
  json manifest = Manifest(TwoLayers());
  const std::string digest = manifest["layers"][1]["digest"];
  std::filesystem::remove(BlobPath(digest));
  Index({Publish(manifest)});
  EXPECT_TRUE(Has(ErrorOf(), "layer " + digest + " is missing"));
  EXPECT_TRUE(Has(ErrorOf(), "no such file"));
  // With urls it is to be fetched: no blob path, urls kept.
  manifest["layers"][1]["urls"] = {"https://example.com/blob"};
  Index({Publish(manifest)});
  const ImageSpec spec = Load();
  EXPECT_EQ(spec.layers[1].blob_path, "");
  EXPECT_EQ(spec.layers[1].urls, (std::vector<std::string>{"https://example.com/blob"}));
  EXPECT_EQ(spec.layers[1].digest, digest);
  // A local blob is still used when there is one.
  EXPECT_EQ(spec.layers[0].blob_path, BlobPath(manifest["layers"][0]["digest"]));
}

TEST_F(OciLayoutTest, LayerBlobSizeIsCheckedAtLoad) {
  json manifest = Manifest(TwoLayers());
  manifest["layers"][0]["size"] = 10;
  Index({Publish(manifest)});
  EXPECT_TRUE(Has(ErrorOf(), "does not match its size (declared 10 bytes, the blob has"));
  LoadOptions skip;
  skip.skip_layer_validation = true;
  EXPECT_EQ(Load("", skip).layers[0].size, 10);
}

TEST_F(OciLayoutTest, NonRegularBlobsAreRefusedWithoutBlocking) {
  json manifest = Manifest(TwoLayers());
  const std::string config = BlobPath(manifest["config"]["digest"]);
  std::filesystem::remove(config);
  ASSERT_EQ(mkfifo(config.c_str(), 0600), 0);
  Index({Publish(manifest)});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(Has(ErrorOf(), "is not a regular file"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  std::filesystem::remove(config);  // Manifest() below writes that same config blob again
  manifest = Manifest(TwoLayers());
  const std::string layer = BlobPath(manifest["layers"][0]["digest"]);
  std::filesystem::remove(layer);
  std::filesystem::create_directory(layer);
  Index({Publish(manifest)});
  EXPECT_TRUE(Has(ErrorOf(), "blob is not a regular file"));
}

// Garden's Cloud Foundry layout: the base layer's blob is a symlink to a rootfs tarball with a
// made-up digest, plain tar media type, loaded with skip-layer-validation.
TEST_F(OciLayoutTest, LayerBlobMayBeASymlink) {
  const std::string rootfs_tar = MakeTar("etc/os-release", "cflinuxfs");
  const std::string tarball = scratch_ + "/rootfs.tar";
  std::ofstream(tarball, std::ios::binary) << rootfs_tar;
  const std::string made_up = Digest("/var/vcap/packages/cflinuxfs/rootfs.tar");
  ASSERT_EQ(symlink(tarball.c_str(), BlobPath(made_up).c_str()), 0);
  const std::string top_tar = MakeTar("home/vcap/app/app.rb", "puts 1");
  const json top = Blob(kOciTarGzip, Compress(top_tar, Compression::kGzip));
  json top_desc = top;
  top_desc["annotations"] = {{kBaseDir, "/home/vcap/app"}};
  const json config = {{"rootfs", {{"type", "layers"}, {"diff_ids", {made_up, Digest(top_tar)}}}},
                       {"config", {{"Env", {"LANG=en_US.UTF-8"}}}}};
  const json manifest = {
      {"schemaVersion", 2},
      {"mediaType", kOciManifest},
      {"config", Blob(kOciConfig, config.dump())},
      {"layers", {{{"mediaType", kOciTar}, {"digest", made_up}, {"size", 0}}, top_desc}}};
  Index({Publish(manifest)});
  LoadOptions skip;
  skip.skip_layer_validation = true;
  const ImageSpec spec = Load("", skip);
  ASSERT_EQ(spec.layers.size(), 2u);
  EXPECT_EQ(spec.layers[0].blob_path, BlobPath(made_up));
  EXPECT_FALSE(spec.layers[0].verify);
  EXPECT_EQ(spec.layers[1].base_directory, "/home/vcap/app");
  EXPECT_EQ(spec.layers[0].cache_key.rfind("unverified-", 0), 0u);
  const int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  EXPECT_NO_THROW(StreamLayer(spec.layers[0], fd));
  close(fd);
  // Verified, the made-up digest and size are refused.
  EXPECT_TRUE(Has(ErrorOf(), "layer " + made_up + " does not match its size"));
}

TEST_F(OciLayoutTest, BaseDirectoryAnnotationAffectsCacheKeys) {
  const std::vector<LayerInput> plain = TwoLayers();
  Index({Publish(Manifest(plain))});
  const ImageSpec without = Load();
  std::vector<LayerInput> annotated = TwoLayers();
  annotated[1].annotations = {{kBaseDir, "/home//vcap/./app/"}};
  Index({Publish(Manifest(annotated))});
  const ImageSpec with = Load();
  EXPECT_EQ(with.layers[1].base_directory, "/home/vcap/app");
  EXPECT_EQ(with.layers[0].cache_key, without.layers[0].cache_key);
  EXPECT_NE(with.layers[1].cache_key, without.layers[1].cache_key);
  EXPECT_EQ(with.layers[1].cache_key,
            Sha256Hex(with.layers[0].diff_id +
                      " sha256:" + Sha256Hex(with.layers[1].diff_id + "\n/home/vcap/app")));
  annotated[1].annotations = {{kBaseDir, "/"}};
  Index({Publish(Manifest(annotated))});
  EXPECT_EQ(Load().layers[1].base_directory, "");
  EXPECT_EQ(Load().layers[1].cache_key, without.layers[1].cache_key);
}

TEST_F(OciLayoutTest, BadBaseDirectoriesAreRefused) {
  for (const std::string bad : {"relative/dir", "", "/home/../etc", "/..", "/a/b/.."}) {
    std::vector<LayerInput> layers = TwoLayers();
    layers[0].annotations = {{kBaseDir, bad}};
    Index({Publish(Manifest(layers))});
    EXPECT_TRUE(Has(ErrorOf(), "base-directory annotation '" + bad +
                                   "', which is not an absolute path without '..'"));
  }
}

TEST_F(OciLayoutTest, SkipLayerValidationGivesUnverifiedKeys) {
  Index({Publish(Manifest(TwoLayers()))});
  const ImageSpec verified = Load();
  LoadOptions skip;
  skip.skip_layer_validation = true;
  const ImageSpec unverified = Load("", skip);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(verified.layers[i].verify);
    EXPECT_FALSE(unverified.layers[i].verify);
    EXPECT_EQ(unverified.layers[i].cache_key, "unverified-" + verified.layers[i].cache_key);
    EXPECT_EQ(verified.layers[i].cache_key.size(), 64u);
  }
}

// ---- The real test images, when a copy is in tests/fixtures/images. ----

std::string Fixture(const std::string& name) {
  const std::string path = std::string(GROOTFS_FIXTURES) + "/images/" + name;
  return std::filesystem::exists(path + "/index.json") ? path : "";
}

std::string FixtureError(const std::string& path) {
  try {
    LoadOciImage(path, "", {});
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define REQUIRE_FIXTURE(var, name)       \
  const std::string var = Fixture(name); \
  if (var.empty()) GTEST_SKIP() << "fixture image " << name << " missing"

TEST(OciFixtureTest, Alpine) {
  REQUIRE_FIXTURE(path, "alpine");
  const ImageSpec spec = LoadOciImage(path, "", {});
  ASSERT_EQ(spec.layers.size(), 1u);
  EXPECT_EQ(spec.layers[0].compression, Compression::kGzip);
  ASSERT_TRUE(spec.env.has_value());
  EXPECT_EQ(spec.env->at(0).rfind("PATH=", 0), 0u);
  EXPECT_EQ(spec.manifest_digest,
            "sha256:c22145977c798fe5d4a766b425813fc153e77549ecd0f204b1acd01209e1962d");
  EXPECT_EQ(spec.layers[0].cache_key, spec.layers[0].diff_id.substr(7));
}

TEST(OciFixtureTest, GardenBusyboxHasNoEnv) {
  REQUIRE_FIXTURE(path, "garden-busybox");
  EXPECT_FALSE(LoadOciImage(path, "", {}).env.has_value());
  EXPECT_EQ(LoadOciImage(path, "latest", {}).layers.size(), 1u);
}

TEST(OciFixtureTest, HardlinkLoadsDespiteDarwinAndBadEntryDigest) {
  REQUIRE_FIXTURE(path, "hardlink");
  const ImageSpec spec = LoadOciImage(path, "", {});
  ASSERT_EQ(spec.layers.size(), 2u);
  EXPECT_EQ(spec.layers[1].base_directory, "/home");
}

TEST(OciFixtureTest, CloudFoundryBaseDirectory) {
  REQUIRE_FIXTURE(path, "cloudfoundry.experimental.image.base-directory");
  const ImageSpec spec = LoadOciImage(path, "", {});
  ASSERT_EQ(spec.layers.size(), 3u);
  EXPECT_EQ(spec.layers[2].base_directory, "/home/vcap/app");
  EXPECT_EQ(spec.layers[0].base_directory, "");
}

TEST(OciFixtureTest, TarLayerWithoutOciLayoutFile) {
  REQUIRE_FIXTURE(path, "tar-layer");
  const ImageSpec spec = LoadOciImage(path, "", {});
  ASSERT_EQ(spec.layers.size(), 1u);
  EXPECT_EQ(spec.layers[0].compression, Compression::kNone);
}

TEST(OciFixtureTest, ManyLayersAndVolumes) {
  REQUIRE_FIXTURE(path, "garden-rootfs");
  const ImageSpec spec = LoadOciImage(path, "", {});
  EXPECT_GT(spec.layers.size(), 10u);
  EXPECT_NE(std::find(spec.volumes.begin(), spec.volumes.end(), "/etc/foo"), spec.volumes.end());
}

TEST(OciFixtureTest, FourMbImage) {
  REQUIRE_FIXTURE(path, "4mb-image");
  EXPECT_EQ(LoadOciImage(path, "", {}).layers.size(), 4u);
}

TEST(OciFixtureTest, EmptyByRefNameHasOciChainIds) {
  REQUIRE_FIXTURE(path, "empty");
  const ImageSpec spec = LoadOciImage(path, "v0.1.1", {});
  ASSERT_EQ(spec.layers.size(), 2u);
  EXPECT_EQ(spec.layers[0].cache_key,
            "afe200c63655576eaa5cabe036a2c09920d6aee67653ae75a9d35e0ec27205a5");
  EXPECT_EQ(spec.layers[1].cache_key,
            "ea176463fc04efa8f82bdf640e55bd378a0c6c2074dddb64a5ccf3625bc9a1af");
  EXPECT_TRUE(Has(FixtureError(path + ":v0.1.1"), "no such file"));
}

TEST(OciFixtureTest, InvalidConfigIsRefused) {
  REQUIRE_FIXTURE(path, "invalid-config");
  EXPECT_TRUE(Has(FixtureError(path), "config"));
  EXPECT_TRUE(Has(FixtureError(path), "is missing"));
}

TEST(OciFixtureTest, ManifestSizeLessThanPhysicalSizeIsRefused) {
  REQUIRE_FIXTURE(path, "invalid-manifest-size-less-than-physical-size");
  EXPECT_TRUE(Has(FixtureError(path), "does not match its size"));
}

}  // namespace
}  // namespace grootfs::frontend::image
