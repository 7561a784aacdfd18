// Tests for frontend/image/registry_manifest.h: document kinds, platform choice in manifest
// lists and OCI indexes, and the ImageSpec a registry manifest and config make; and for
// StreamLayer over a non-file BlobSource (the network's path through the same verification).
#include "frontend/image/registry_manifest.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>

#include "frontend/image/digest.h"
#include "frontend/image/layer_stream.h"
#include "frontend/util/error.h"

namespace grootfs::frontend::image::registry {
namespace {

using nlohmann::json;

std::string D(const std::string& seed) { return "sha256:" + Sha256Hex(seed); }

json Entry(const std::string& seed, const std::string& os, const std::string& arch,
           const std::string& variant = "") {
  json e = {{"mediaType", std::string(kOciManifest)}, {"digest", D(seed)}, {"size", 10}};
  if (!os.empty()) {
    e["platform"] = {{"os", os}, {"architecture", arch}};
    if (!variant.empty()) e["platform"]["variant"] = variant;
  }
  return e;
}

TEST(RegistryManifestTest, ClassifiesDocuments) {
  EXPECT_EQ(ClassifyDocument(kDockerManifest, json::object()), DocumentKind::kManifest);
  EXPECT_EQ(ClassifyDocument(std::string(kOciIndex) + "; charset=utf-8", json::object()),
            DocumentKind::kIndex);
  EXPECT_EQ(ClassifyDocument(kDockerList, json::object()), DocumentKind::kIndex);
  EXPECT_EQ(ClassifyDocument(kDockerSchema1Signed, json::object()), DocumentKind::kSchema1);
  EXPECT_EQ(ClassifyDocument("application/json", json{{"schemaVersion", 1}}),
            DocumentKind::kSchema1);
  EXPECT_EQ(ClassifyDocument("", json{{"schemaVersion", 2}, {"manifests", json::array()}}),
            DocumentKind::kIndex);
  EXPECT_EQ(ClassifyDocument("", json{{"schemaVersion", 2}, {"layers", json::array()}}),
            DocumentKind::kManifest);
  EXPECT_EQ(ClassifyDocument("", json{{"mediaType", std::string(kOciIndex)}}),
            DocumentKind::kIndex);
  EXPECT_EQ(ClassifyDocument("text/html", json{{"hello", 1}}), DocumentKind::kUnknown);
  // The body's own media type wins over a generic Content-Type.
  EXPECT_EQ(ClassifyDocument("application/octet-stream",
                             json{{"mediaType", std::string(kDockerManifest)}}),
            DocumentKind::kManifest);
}

TEST(RegistryManifestTest, ChoosesTheHostPlatform) {
  json index = {{"schemaVersion", 2},
                {"manifests",
                 {Entry("arm", "linux", "arm", "v7"), Entry("arm64", "linux", "arm64", "v8"),
                  Entry("amd64", "linux", "amd64"), Entry("win", "windows", "amd64")}}};
  EXPECT_EQ(ChoosePlatform(index, "linux", "amd64", "list").digest, D("amd64"));
  EXPECT_EQ(ChoosePlatform(index, "linux", "x86_64", "list").digest, D("amd64"));
  EXPECT_EQ(ChoosePlatform(index, "linux", "aarch64", "list").digest, D("arm64"));
  EXPECT_EQ(ChoosePlatform(index, "windows", "amd64", "list").digest, D("win"));
}

TEST(RegistryManifestTest, AListWithoutTheHostPlatformIsAClearError) {
  json index = {
      {"manifests", {Entry("s390x", "linux", "s390x"), Entry("ppc", "linux", "ppc64le")}}};
  try {
    ChoosePlatform(index, "linux", "amd64", "the manifest list sha256:abc");
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("linux/amd64"), std::string::npos) << m;
    EXPECT_NE(m.find("linux/s390x, linux/ppc64le"), std::string::npos) << m;
    EXPECT_NE(m.find("the manifest list sha256:abc"), std::string::npos) << m;
  }
  // Attestation manifests (unknown/unknown) never match.
  json with_attestation = {{"manifests", {Entry("att", "unknown", "unknown")}}};
  EXPECT_THROW(ChoosePlatform(with_attestation, "linux", "amd64", "x"), Error);
  // One entry without a platform is that image.
  json single = {{"manifests", {Entry("only", "", "")}}};
  EXPECT_EQ(ChoosePlatform(single, "linux", "amd64", "x").digest, D("only"));
  EXPECT_THROW(ChoosePlatform(json::object(), "linux", "amd64", "x"), Error);
  json bad = {{"manifests", {{{"digest", "md5:1"}, {"size", 1}}}}};
  EXPECT_THROW(ChoosePlatform(bad, "linux", "amd64", "x"), Error);
}

json Manifest(const std::vector<json>& layers) {
  return {{"schemaVersion", 2},
          {"mediaType", std::string(kDockerManifest)},
          {"config",
           {{"mediaType", "application/vnd.docker.container.image.v1+json"},
            {"digest", D("config")},
            {"size", 10}}},
          {"layers", layers}};
}

json Layer(const std::string& seed,
           const std::string& type = "application/vnd.docker.image.rootfs.diff.tar.gzip") {
  return {{"mediaType", type}, {"digest", D(seed)}, {"size", 123}};
}

TEST(RegistryManifestTest, SpecFromManifestAndConfig) {
  json l2 = Layer("l2", "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip");
  l2["urls"] = {"https://example.com/l2"};
  l2["annotations"] = {{"org.cloudfoundry.experimental.image.base-directory", "/home//vcap/./app"}};
  const json manifest = Manifest({Layer("l1"), l2});
  const json config = {{"rootfs", {{"type", "layers"}, {"diff_ids", {D("d1"), D("d2")}}}},
                       {"config", {{"Env", {"A=1"}}, {"Volumes", {{"/data", json::object()}}}}}};
  EXPECT_EQ(ConfigDescriptor(manifest, "m").digest, D("config"));
  const ImageSpec spec = SpecFromManifest(manifest, D("manifest"), config, D("config"));
  ASSERT_EQ(spec.layers.size(), 2u);
  EXPECT_EQ(spec.manifest_digest, D("manifest"));
  EXPECT_EQ(spec.layers[0].digest, D("l1"));
  EXPECT_EQ(spec.layers[0].size, 123);
  EXPECT_EQ(spec.layers[0].compression, Compression::kGzip);
  EXPECT_EQ(spec.layers[0].diff_id, D("d1"));
  EXPECT_TRUE(spec.layers[0].blob_path.empty());
  EXPECT_TRUE(spec.layers[0].verify);
  EXPECT_EQ(spec.layers[1].urls, std::vector<std::string>{"https://example.com/l2"});
  EXPECT_EQ(spec.layers[1].base_directory, "/home/vcap/app");
  EXPECT_EQ(spec.layers[0].cache_key, DigestHex(D("d1")));
  EXPECT_NE(spec.layers[1].cache_key, spec.layers[0].cache_key);
  ASSERT_TRUE(spec.env.has_value());
  EXPECT_EQ(*spec.env, std::vector<std::string>{"A=1"});
  EXPECT_EQ(spec.volumes, std::vector<std::string>{"/data"});
}

TEST(RegistryManifestTest, BadManifestsAndConfigsAreRefused) {
  const json config = {{"rootfs", {{"type", "layers"}, {"diff_ids", {D("d1")}}}}};
  EXPECT_THROW(SpecFromManifest(Manifest({}), D("m"), config, D("c")), Error);
  EXPECT_THROW(SpecFromManifest(Manifest({Layer("l", "text/plain")}), D("m"), config, D("c")),
               Error);
  EXPECT_THROW(SpecFromManifest(Manifest({Layer("a"), Layer("b")}), D("m"), config, D("c")), Error);
  const json no_rootfs = {{"config", json::object()}};
  EXPECT_THROW(SpecFromManifest(Manifest({Layer("a")}), D("m"), no_rootfs, D("c")), Error);
  json helm = Manifest({Layer("a")});
  helm["config"]["mediaType"] = "application/vnd.cncf.helm.config.v1+json";
  EXPECT_THROW(ConfigDescriptor(helm, "m"), Error);
  json escaping = Layer("a");
  escaping["annotations"] = {{"org.cloudfoundry.experimental.image.base-directory", "/../etc"}};
  EXPECT_THROW(SpecFromManifest(Manifest({escaping}), D("m"), config, D("c")), Error);
}

TEST(RegistryManifestTest, AcceptHeaderNamesEveryKind) {
  const std::string accept = ManifestAcceptHeader();
  for (std::string_view t :
       {kOciManifest, kOciIndex, kDockerManifest, kDockerList, kDockerSchema1}) {
    EXPECT_NE(accept.find(t), std::string::npos) << t;
  }
}

// A source that hands out its bytes in small, uneven pieces, like a network.
class Trickle : public BlobSource {
 public:
  explicit Trickle(std::string data) : data_(std::move(data)) {}
  std::size_t Read(unsigned char* buffer, std::size_t size) override {
    const std::size_t n = std::min({size, data_.size() - pos_, 1 + (calls_++ % 7) * 1000});
    std::copy_n(data_.data() + pos_, n, buffer);
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  std::size_t pos_ = 0;
  std::size_t calls_ = 0;
};

// Drains a pipe while StreamLayer writes into it; returns what arrived.
std::string StreamThrough(const LayerSpec& layer, BlobSource& source, std::string* error) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  std::string out;
  std::thread reader([&] {
    char buf[65536];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  });
  try {
    StreamLayer(layer, source, fds[1]);
  } catch (const Error& e) {
    *error = e.what();
  }
  close(fds[1]);
  reader.join();
  close(fds[0]);
  return out;
}

TEST(RegistryStreamTest, ANetworkLikeSourceIsVerifiedLikeAFile) {
  std::string tar(50000, 'x');
  for (std::size_t i = 0; i < tar.size(); ++i) tar[i] = static_cast<char>('a' + i % 26);
  LayerSpec layer;
  layer.digest = "sha256:" + Sha256Hex(tar);
  layer.diff_id = layer.digest;
  layer.size = static_cast<std::int64_t>(tar.size());
  std::string error;
  Trickle good(tar);
  EXPECT_EQ(StreamThrough(layer, good, &error), tar);
  EXPECT_EQ(error, "");

  std::string corrupted = tar;
  corrupted[1234] ^= 1;
  Trickle bad(corrupted);
  StreamThrough(layer, bad, &error);
  EXPECT_NE(error.find("does not match its digest"), std::string::npos) << error;

  error.clear();
  Trickle longer(tar + "more");
  StreamThrough(layer, longer, &error);
  EXPECT_NE(error.find("does not match its size"), std::string::npos) << error;

  error.clear();
  Trickle shorter(tar.substr(0, 1000));
  StreamThrough(layer, shorter, &error);
  EXPECT_NE(error.find("does not match its size"), std::string::npos) << error;
}

}  // namespace
}  // namespace grootfs::frontend::image::registry
