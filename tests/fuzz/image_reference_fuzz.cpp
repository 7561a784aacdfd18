// Fuzzes frontend::image::ParseImageRef, the parser of `create`'s IMAGE argument. Bad input
// throws frontend::Error; any other exception, a crash, or an accepted reference that breaks
// what reference.h promises is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "frontend/image/digest.h"
#include "frontend/image/reference.h"
#include "frontend/util/error.h"

namespace {

using grootfs::frontend::image::ImageRef;
using grootfs::frontend::image::RefKind;

void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "image_reference_fuzz: %s\n", what);
  std::abort();
}

// Absolute, and neither empty, "." nor ".." components ("/" alone is allowed).
bool IsCleanAbsolute(std::string_view path) {
  if (path == "/") return true;
  if (path.empty() || path.front() != '/' || path.back() == '/') return false;
  for (std::size_t start = 1; start <= path.size();) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

void Check(const std::string& input, const ImageRef& ref) {
  Require(ref.original == input, "original is not the argument");
  switch (ref.kind) {
    case RefKind::kTar:
      Require(ref.path == input && input.front() == '/', "a tar path that is not the argument");
      break;
    case RefKind::kOci:
      Require(IsCleanAbsolute(ref.path), "an oci path that is not clean and absolute");
      Require(ref.ref_name.size() <= 255, "an over-long oci ref name");
      for (char c : ref.ref_name) Require(c != '/' && c != ':', "a '/' or ':' in the ref name");
      break;
    case RefKind::kDocker:
      Require(!ref.registry.empty() && ref.registry.find('@') == std::string::npos,
              "an empty registry or one with credentials");
      Require(ref.registry.find('/') == std::string::npos, "a '/' in the registry");
      Require(!ref.repository.empty() && ref.repository.size() <= 255,
              "an empty or over-long repository");
      Require(ref.repository.front() != '/' && ref.repository.back() != '/' &&
                  ref.repository.find("//") == std::string::npos,
              "an empty repository component");
      Require(!ref.tag.empty() || !ref.digest.empty(), "neither tag nor digest");
      Require(ref.tag.size() <= 128, "an over-long tag");
      Require(ref.digest.empty() || grootfs::frontend::image::IsValidDigest(ref.digest),
              "an invalid digest");
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  try {
    Check(input, grootfs::frontend::image::ParseImageRef(input));
  } catch (const grootfs::frontend::Error& e) {
    Require(std::string_view(e.what()).find('\n') == std::string_view::npos,
            "an error message of more than one line");
  }
  return 0;
}
