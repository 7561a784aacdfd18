// Fuzzes unpacker::UnpackTar, grootfs-unpack's tar reader and writer, with arbitrary tar
// streams. Each input is unpacked into SANDBOX/layer (fresh for every input) beside an empty
// SANDBOX/canary; afterwards SANDBOX must still hold exactly those two directories, the canary
// must be empty, the layer the same directory, and no file in it may have a hard link outside
// it: anything else means an entry escaped.
//
// Header checksums in the input are ignored: they are recomputed before unpacking (see
// FixChecksums), so mutations reach the unpacker instead of stopping at libarchive.
// Runs as whoever runs it (CI: root, so ownership, modes and whiteout devices are real).
// Inputs with an odd byte sum are unpacked under a base directory, as UnpackLayer may ask.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "helper/fs_at.h"
#include "unpacker/unpack_tar.h"

namespace {

namespace fs = std::filesystem;
namespace helper = grootfs::helper;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "tar_unpack_fuzz: %s\n", what.c_str());
  std::abort();
}

struct Sandbox {
  std::string root;
  int layer = -1;
  struct stat layer_st {};
};

Sandbox* sandbox = nullptr;

std::set<std::string> Names(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) names.insert(entry.path().filename());
  if (ec) Fail("cannot list " + dir + ": " + ec.message());
  return names;
}

// Header checksums are made right before unpacking: a mutated header would otherwise almost
// always be refused by libarchive before it reaches the code under test. Walks the stream as
// tar does (a header, then its data rounded up to 512 bytes) and stops at the first zero block
// or anything it cannot follow.
std::uint64_t HeaderSize(const unsigned char* h) {
  const unsigned char* f = h + 124;
  std::uint64_t size = 0;
  if ((f[0] & 0x80) != 0) {  // base-256 (GNU): big-endian in the remaining bytes
    for (int i = 1; i < 12; ++i) size = size << 8 | f[i];
    return size;
  }
  for (int i = 0; i < 12 && f[i] >= '0' && f[i] <= '7'; ++i) size = size * 8 + (f[i] - '0');
  return size;
}

void FixChecksums(std::vector<unsigned char>& tar) {
  for (std::size_t off = 0; off + 512 <= tar.size();) {
    unsigned char* h = tar.data() + off;
    unsigned sum = 0;
    for (int i = 0; i < 512; ++i) sum += h[i];
    if (sum == 0) return;  // end of archive
    std::memset(h + 148, ' ', 8);
    sum = 0;
    for (int i = 0; i < 512; ++i) sum += h[i];
    std::snprintf(reinterpret_cast<char*>(h) + 148, 8, "%06o", sum & 0777777);
    h[155] = ' ';
    // Links, devices, directories and fifos carry no data whatever their size field says.
    const bool no_data = h[156] >= '2' && h[156] <= '6';
    const std::uint64_t size = no_data ? 0 : HeaderSize(h);
    if (size > tar.size()) return;
    off += 512 + (size + 511) / 512 * 512;
  }
}

// Every non-directory in the layer has all its hard links in the layer: a link count above
// the links found there means a name outside the layer shares the inode.
void CheckLinksStayInside(const std::string& layer) {
  std::map<ino_t, std::pair<nlink_t, nlink_t>> links;  // inode: (st_nlink, names found)
  std::error_code ec;
  for (fs::recursive_directory_iterator it(layer, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (lstat(it->path().c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
    auto& [nlink, found] = links[st.st_ino];
    nlink = st.st_nlink;
    ++found;
  }
  for (const auto& [ino, counts] : links)
    if (counts.first > counts.second) Fail("a hard link to an inode outside the layer");
}

void RemoveSandbox() {
  if (sandbox == nullptr) return;
  std::error_code ec;
  fs::remove_all(sandbox->root, ec);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/grootfs-tar-fuzz-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) Fail("mkdtemp " + pattern);
  sandbox = new Sandbox{pattern};
  std::atexit(RemoveSandbox);
  if (mkdir((pattern + "/layer").c_str(), 0755) != 0 ||
      mkdir((pattern + "/canary").c_str(), 0755) != 0)
    Fail("cannot make the sandbox in " + pattern);
  sandbox->layer = open((pattern + "/layer").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (sandbox->layer < 0 || fstat(sandbox->layer, &sandbox->layer_st) != 0)
    Fail("cannot open the layer");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<unsigned char> tar(data, data + size);
  FixChecksums(tar);
  const int stream = memfd_create("layer.tar", MFD_CLOEXEC);
  if (stream < 0) Fail("memfd_create");
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = write(stream, tar.data() + done, size - done);
    if (n <= 0) Fail("write to memfd");
    done += static_cast<std::size_t>(n);
  }
  if (lseek(stream, 0, SEEK_SET) != 0) Fail("lseek");

  unsigned sum = 0;
  for (std::size_t i = 0; i < size; ++i) sum += data[i];
  const std::vector<std::string> base =
      sum % 2 == 0 ? std::vector<std::string>{} : std::vector<std::string>{"base", "dir"};
  (void)grootfs::unpacker::UnpackTar(stream, sandbox->layer, base, {}, 1 << 20);  // refusing the input is fine
  close(stream);

  const std::string& root = sandbox->root;
  if (Names(root) != std::set<std::string>{"canary", "layer"})
    Fail("something was made beside the layer in " + root);
  if (!Names(root + "/canary").empty()) Fail("something was made in the canary directory");
  struct stat st {};
  if (lstat((root + "/layer").c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      st.st_ino != sandbox->layer_st.st_ino || st.st_dev != sandbox->layer_st.st_dev)
    Fail("the layer directory was replaced");

  CheckLinksStayInside(root + "/layer");

  if (auto removed = helper::RemoveContents(sandbox->layer); !removed)
    Fail("cannot empty the layer: " + removed.error().text);
  if (!Names(root + "/layer").empty()) Fail("the layer is not empty after RemoveContents");
  (void)fremovexattr(sandbox->layer, "user.overlay.opaque");  // set by a root opaque whiteout
  return 0;
}
