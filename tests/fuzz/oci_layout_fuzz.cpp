// Fuzzes frontend::image::LoadOciImage with hostile layouts. Input: one options byte, then
// index.json, NUL, the manifest, NUL, the config (the rest). They are written into a temporary
// OCI layout, the manifest and the config under their real sha256 names. As the fuzzer cannot
// compute digests, these placeholders are replaced before writing:
//   in the manifest: @CONFIG@ -> the config's digest, @CONFIG_SIZE@ -> its size,
//                    @LAYER@ -> the digest of an empty layer blob present in the layout;
//   in index.json:   @MANIFEST@ -> the manifest's digest, @MANIFEST_SIZE@ -> its size.
// Options byte: bit 0 strict_metadata, bit 1 skip_layer_validation, bits 2-3 the architecture
// (host, amd64, arm64, s390x), bit 4 ask for the ref name "latest".
// frontend::Error is the expected way to refuse; any other exception or a crash is a finding.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "frontend/image/digest.h"
#include "frontend/image/oci_layout.h"
#include "frontend/util/error.h"

namespace {

namespace image = grootfs::frontend::image;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "oci_layout_fuzz: %s\n", what.c_str());
  std::abort();
}

std::string* layout = nullptr;

void WriteFile(const std::string& path, std::string_view content) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Fail("cannot create " + path);
  for (std::size_t done = 0; done < content.size();) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n <= 0) Fail("cannot write " + path);
    done += static_cast<std::size_t>(n);
  }
  close(fd);
}

std::string Replace(std::string text, std::string_view from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// Splits off everything up to the next NUL (all of `rest` when there is none).
std::string_view Take(std::string_view& rest) {
  const std::size_t nul = rest.find('\0');
  const std::string_view part = rest.substr(0, nul);
  rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  return part;
}

void RemoveLayout() {
  std::error_code ec;
  if (layout != nullptr) std::filesystem::remove_all(*layout, ec);
}

const std::string kEmptyHex = image::Sha256Hex("");
const std::string kEmptyDigest = "sha256:" + kEmptyHex;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/grootfs-oci-fuzz-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) Fail("mkdtemp " + pattern);
  layout = new std::string(pattern);
  std::atexit(RemoveLayout);
  std::error_code ec;
  std::filesystem::create_directories(pattern + "/blobs/sha256", ec);
  if (ec) Fail("cannot make the layout: " + ec.message());
  WriteFile(pattern + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  WriteFile(pattern + "/blobs/sha256/" + kEmptyHex, "");  // the empty layer
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t options_byte = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string_view index_in = Take(rest);
  const std::string_view manifest_in = Take(rest);
  const std::string config(rest);

  const std::string config_hex = image::Sha256Hex(config);
  std::string manifest = Replace(std::string(manifest_in), "@CONFIG@", "sha256:" + config_hex);
  manifest = Replace(std::move(manifest), "@CONFIG_SIZE@", std::to_string(config.size()));
  manifest = Replace(std::move(manifest), "@LAYER@", kEmptyDigest);
  const std::string manifest_hex = image::Sha256Hex(manifest);
  std::string index = Replace(std::string(index_in), "@MANIFEST@", "sha256:" + manifest_hex);
  index = Replace(std::move(index), "@MANIFEST_SIZE@", std::to_string(manifest.size()));

  const std::string blobs = *layout + "/blobs/sha256/";
  WriteFile(*layout + "/index.json", index);
  WriteFile(blobs + manifest_hex, manifest);
  WriteFile(blobs + config_hex, config);

  image::LoadOptions options;
  options.strict_metadata = (options_byte & 1) != 0;
  options.skip_layer_validation = (options_byte & 2) != 0;
  static const char* const kArchitectures[] = {"", "amd64", "arm64", "s390x"};
  options.architecture = kArchitectures[(options_byte >> 2) & 3];
  const std::string ref_name = (options_byte & 16) != 0 ? "latest" : "";
  try {
    (void)image::LoadOciImage(*layout, ref_name, options);
  } catch (const grootfs::frontend::Error&) {
  }

  // The empty layer stays; the rest goes (either blob may be the empty one too). Unlinking
  // index.json rather than truncating it keeps ext4 from flushing it to disk on every input.
  unlink((*layout + "/index.json").c_str());
  if (manifest_hex != kEmptyHex) unlink((blobs + manifest_hex).c_str());
  if (config_hex != kEmptyHex) unlink((blobs + config_hex).c_str());
  return 0;
}
