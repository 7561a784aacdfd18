// Tests for frontend/image/reference.h: parsing the IMAGE argument.
#include "frontend/image/reference.h"

#include <gtest/gtest.h>

#include <string>

#include "frontend/util/error.h"

namespace grootfs::frontend::image {
namespace {

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// The message ParseImageRef throws for s ("" when it does not throw).
std::string ErrorFor(const std::string& s) {
  try {
    ParseImageRef(s);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

::testing::AssertionResult Refused(const std::string& s, const std::string& words = "") {
  const std::string message = ErrorFor(s);
  if (message.empty()) return ::testing::AssertionFailure() << "'" << s << "' was accepted";
  if (message.find('\n') != std::string::npos) {
    return ::testing::AssertionFailure() << "multi-line message: " << message;
  }
  if (message.find(words) == std::string::npos) {
    return ::testing::AssertionFailure() << "message lacks '" << words << "': " << message;
  }
  return ::testing::AssertionSuccess();
}

TEST(ParseImageRefTest, DockerHubSingleName) {
  const ImageRef ref = ParseImageRef("docker:///alpine");
  EXPECT_EQ(ref.kind, RefKind::kDocker);
  EXPECT_EQ(ref.original, "docker:///alpine");
  EXPECT_EQ(ref.registry, "registry-1.docker.io");
  EXPECT_EQ(ref.repository, "library/alpine");
  EXPECT_EQ(ref.tag, "latest");
  EXPECT_EQ(ref.digest, "");
  EXPECT_EQ(ref.path, "");
}

TEST(ParseImageRefTest, DockerHubWithTagAndOrganisation) {
  const ImageRef ref = ParseImageRef("docker:///cfgarden/empty:v0.1.1");
  EXPECT_EQ(ref.registry, "registry-1.docker.io");
  EXPECT_EQ(ref.repository, "cfgarden/empty");
  EXPECT_EQ(ref.tag, "v0.1.1");
}

TEST(ParseImageRefTest, DockerDigest) {
  const ImageRef ref = ParseImageRef("docker:///busybox@sha256:" + kHex);
  EXPECT_EQ(ref.repository, "library/busybox");
  EXPECT_EQ(ref.digest, "sha256:" + kHex);
  EXPECT_EQ(ref.tag, "");
  const ImageRef both = ParseImageRef("docker:///busybox:1.25@sha256:" + kHex);
  EXPECT_EQ(both.tag, "1.25");
  EXPECT_EQ(both.digest, "sha256:" + kHex);
}

TEST(ParseImageRefTest, DockerPrivateRegistry) {
  ImageRef ref = ParseImageRef("docker://registry.example.com:5000/team/app:1.0");
  EXPECT_EQ(ref.kind, RefKind::kDocker);
  EXPECT_EQ(ref.registry, "registry.example.com:5000");
  EXPECT_EQ(ref.repository, "team/app");
  EXPECT_EQ(ref.tag, "1.0");

  ref = ParseImageRef("docker://localhost:5000/app");
  EXPECT_EQ(ref.registry, "localhost:5000");
  EXPECT_EQ(ref.repository, "app");  // no library/ outside Docker Hub
  EXPECT_EQ(ref.tag, "latest");

  ref = ParseImageRef("docker://127.0.0.1:8443/a/b/c@sha256:" + kHex);
  EXPECT_EQ(ref.registry, "127.0.0.1:8443");
  EXPECT_EQ(ref.repository, "a/b/c");
  EXPECT_EQ(ref.digest, "sha256:" + kHex);

  ref = ParseImageRef("docker://[::1]:5000/app");
  EXPECT_EQ(ref.registry, "[::1]:5000");
}

TEST(ParseImageRefTest, DockerHubAliasesNormalised) {
  ImageRef ref = ParseImageRef("docker://docker.io/ubuntu");
  EXPECT_EQ(ref.registry, "registry-1.docker.io");
  EXPECT_EQ(ref.repository, "library/ubuntu");
  ref = ParseImageRef("docker://index.docker.io/cloudfoundry/cflinuxfs3");
  EXPECT_EQ(ref.registry, "registry-1.docker.io");
  EXPECT_EQ(ref.repository, "cloudfoundry/cflinuxfs3");
}

// As in docker and grootfs: a first component with '.' or ':' (or "localhost") is a registry.
TEST(ParseImageRefTest, DockerTripleSlashWithRegistryComponent) {
  ImageRef ref = ParseImageRef("docker:///localhost:5000/app:2");
  EXPECT_EQ(ref.registry, "localhost:5000");
  EXPECT_EQ(ref.repository, "app");
  EXPECT_EQ(ref.tag, "2");
  ref = ParseImageRef("docker:///gcr.io/project/image");
  EXPECT_EQ(ref.registry, "gcr.io");
  EXPECT_EQ(ref.repository, "project/image");
}

TEST(ParseImageRefTest, DockerNameSeparators) {
  EXPECT_EQ(ParseImageRef("docker:///ab_c__d---e/f.g-h").repository, "ab_c__d---e/f.g-h");
  EXPECT_EQ(ParseImageRef("docker://r.io/a.b_c__d---e").repository, "a.b_c__d---e");
  EXPECT_EQ(ParseImageRef("docker:///x:A_b.c-1").tag, "A_b.c-1");
  EXPECT_EQ(ParseImageRef("DOCKER:///alpine").kind, RefKind::kDocker);
}

TEST(ParseImageRefTest, DockerRefusals) {
  EXPECT_TRUE(Refused("docker:///", "empty"));
  EXPECT_TRUE(Refused("docker:///:latest", "empty"));
  EXPECT_TRUE(Refused("docker://registry.example.com", "docker://HOST"));
  EXPECT_TRUE(Refused("docker://registry.example.com/", "empty"));
  EXPECT_TRUE(Refused("docker:///Alpine", "lowercase"));
  EXPECT_TRUE(Refused("docker:///library/BusyBox:1", "lowercase"));
  EXPECT_TRUE(Refused("docker:///alpine:", "tag"));
  EXPECT_TRUE(Refused("docker:///alpine:-x", "tag"));
  EXPECT_TRUE(Refused("docker:///alpine:" + std::string(129, 'a'), "tag"));
  EXPECT_TRUE(Refused("docker:///alpine@sha256:abc", "digest"));
  EXPECT_TRUE(Refused("docker:///alpine@sha512:" + kHex + kHex, "digest"));
  EXPECT_TRUE(Refused("docker:///alpine@sha256:" + std::string(64, 'A'), "digest"));
  EXPECT_TRUE(Refused("docker:///alpine@", "digest"));
  EXPECT_TRUE(Refused("docker:///a//b", "empty path component"));
  EXPECT_TRUE(Refused("docker:///a/", "empty path component"));
  EXPECT_TRUE(Refused("docker:///-a", "not a valid repository name"));
  EXPECT_TRUE(Refused("docker:///a..b", "not a valid repository name"));
  EXPECT_TRUE(Refused("docker:///a___b", "not a valid repository name"));
  EXPECT_TRUE(Refused("docker:///a b", "not a valid repository name"));
  EXPECT_TRUE(Refused("docker:///a?x=1", "not a valid repository name"));
  EXPECT_TRUE(Refused("docker:///" + std::string(256, 'a'), "longer than 255"));
  EXPECT_TRUE(Refused("docker://bad_host/app", "registry"));
  EXPECT_TRUE(Refused("docker://-host/app", "registry"));
  EXPECT_TRUE(Refused("docker://host:0/app", "registry"));
  EXPECT_TRUE(Refused("docker://host:65536/app", "registry"));
  EXPECT_TRUE(Refused("docker://host:/app", "registry"));
  EXPECT_TRUE(Refused("docker://host:port/app", "registry"));
  EXPECT_TRUE(Refused("docker://user:pw@host/app", "--username"));
  EXPECT_TRUE(Refused("docker:alpine", "docker:///NAME"));
  EXPECT_TRUE(Refused("docker:/alpine", "docker:///NAME"));
}

TEST(ParseImageRefTest, OciLayout) {
  ImageRef ref = ParseImageRef("oci:///var/images/alpine");
  EXPECT_EQ(ref.kind, RefKind::kOci);
  EXPECT_EQ(ref.path, "/var/images/alpine");
  EXPECT_EQ(ref.ref_name, "");

  ref = ParseImageRef("oci:///var/images/alpine:latest");
  EXPECT_EQ(ref.path, "/var/images/alpine");
  EXPECT_EQ(ref.ref_name, "latest");
  EXPECT_EQ(ref.original, "oci:///var/images/alpine:latest");
}

TEST(ParseImageRefTest, OciRefIsAfterTheLastColonOfTheFinalComponent) {
  ImageRef ref = ParseImageRef("oci:///dir:with:colons/layout");
  EXPECT_EQ(ref.path, "/dir:with:colons/layout");
  EXPECT_EQ(ref.ref_name, "");
  ref = ParseImageRef("oci:///dir:x/lay:out:v1.0");
  EXPECT_EQ(ref.path, "/dir:x/lay:out");
  EXPECT_EQ(ref.ref_name, "v1.0");
}

TEST(ParseImageRefTest, OciPathIsCleaned) {
  EXPECT_EQ(ParseImageRef("oci:////a//b/./c/").path, "/a/b/c");
  EXPECT_EQ(ParseImageRef("oci:///").path, "/");
  EXPECT_EQ(ParseImageRef("oci:///a/b/:ref").path, "/a/b");
  EXPECT_EQ(ParseImageRef("oci:///a/b/:ref").ref_name, "ref");
  // The Cloud Foundry layout names from the fixtures.
  EXPECT_EQ(ParseImageRef("oci:///x/cloudfoundry.experimental.image.base-directory").path,
            "/x/cloudfoundry.experimental.image.base-directory");
}

TEST(ParseImageRefTest, OciRefusals) {
  EXPECT_TRUE(Refused("oci://relative/path", "oci:///ABSOLUTE/PATH"));
  EXPECT_TRUE(Refused("oci://", "oci:///ABSOLUTE/PATH"));
  EXPECT_TRUE(Refused("oci:/abs", "oci:///ABSOLUTE/PATH"));
  EXPECT_TRUE(Refused("oci:relative", "oci:///ABSOLUTE/PATH"));
  EXPECT_TRUE(Refused("oci:///a/../etc", ".."));
  EXPECT_TRUE(Refused("oci:///..", ".."));
  EXPECT_TRUE(Refused("oci:///a/..:latest", ".."));
  EXPECT_TRUE(Refused("oci:///a/b:", "empty"));
  EXPECT_TRUE(Refused("oci:///a/b:bad ref", "ref name"));
  EXPECT_TRUE(Refused("oci:///a/b:" + std::string(256, 'r'), "too long"));
}

TEST(ParseImageRefTest, TarPath) {
  ImageRef ref = ParseImageRef("/var/vcap/rootfs.tar");
  EXPECT_EQ(ref.kind, RefKind::kTar);
  EXPECT_EQ(ref.path, "/var/vcap/rootfs.tar");
  // Any absolute path, colons and all, is a tar file.
  ref = ParseImageRef("/tmp/docker:/x.tar");
  EXPECT_EQ(ref.kind, RefKind::kTar);
  EXPECT_EQ(ref.path, "/tmp/docker:/x.tar");
}

TEST(ParseImageRefTest, OtherRefusals) {
  EXPECT_TRUE(Refused("", "no image given"));
  EXPECT_TRUE(Refused("rootfs.tar", "absolute path"));
  EXPECT_TRUE(Refused("./rootfs.tar", "absolute path"));
  EXPECT_TRUE(Refused("alpine", "absolute path"));
  EXPECT_TRUE(Refused("alpine:latest", "unsupported scheme 'alpine'"));
  EXPECT_TRUE(Refused("http://example.com/x.tar", "unsupported scheme 'http'"));
  EXPECT_TRUE(Refused("file:///x.tar", "unsupported scheme 'file'"));
  EXPECT_TRUE(Refused("docker-archive:/x.tar", "unsupported scheme"));
  EXPECT_TRUE(Refused(":foo", "absolute path"));
  EXPECT_TRUE(Refused("1docker:///x", "absolute path"));
}

TEST(ParseImageRefTest, MessagesAreOneLine) {
  EXPECT_TRUE(Refused("docker:///a\nb", "invalid image 'docker:///a?b'"));
  EXPECT_TRUE(Refused("oci:///a:b\nc", "invalid image"));
}

}  // namespace
}  // namespace grootfs::frontend::image
